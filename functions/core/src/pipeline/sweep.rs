//! Sweep: on the schedule, first puts back a quarantine tag someone removed or changed (and
//! records and publishes the drift), then finds expired quarantines through the journal's
//! expiry index and starts one release execution each, named after the attachment and its
//! expiry so that a second sweep starts nothing new.

use super::notify::publish;
use super::verify::current_tags;
use super::{output, Context};
use crate::decision::Expiry;
use crate::error::HandlerError;
use crate::incident::{ReleaseRequest, VerifyProgress};
use crate::journal::Status;
use aws_sdk_networkmanager::types::Tag;
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn sweep(ctx: Arc<Context>, _event: Value) -> Result<Value, HandlerError> {
    let machine = ctx.settings.release_state_machine_arn.clone().ok_or_else(|| {
        HandlerError::Configuration(
            "the environment variable CWQ_RELEASE_STATE_MACHINE_ARN is not set".into(),
        )
    })?;
    let corrected = correct_drift(&ctx).await?;
    let expired = ctx.journal.expired(time::OffsetDateTime::now_utc()).await?;
    let mut started = Vec::new();
    for record in expired {
        let Expiry::At(at) = record.expiry else { continue };
        let name = format!("release-{}-{}", record.attachment_id, at.unix_timestamp());
        let request = ReleaseRequest {
            attachment_id: record.attachment_id.clone(),
            reason: "expired".into(),
            note: None,
            verify: VerifyProgress::default(),
            expected_segment: None,
        };
        let result = ctx
            .step_functions
            .start_execution()
            .state_machine_arn(&machine)
            .name(&name)
            .input(serde_json::to_string(&request).map_err(|e| HandlerError::Failed(e.to_string()))?)
            .send()
            .await;
        match result.map_err(|e| HandlerError::from_sdk("states StartExecution", e)) {
            Ok(_) => started.push(name),
            // Started by an earlier sweep: nothing to do.
            Err(HandlerError::Failed(message)) if message.contains("ExecutionAlreadyExists") => {}
            Err(e) => return Err(e),
        }
    }
    output(&json!({"started": started, "drift_corrected": corrected}))
}

/// Every QUARANTINED attachment whose cwq tag is not the quarantine segment any more gets it
/// back: a compromised workload (or a hurried person) must not undo containment silently.
async fn correct_drift(ctx: &Context) -> Result<Vec<String>, HandlerError> {
    let mut corrected = Vec::new();
    for record in ctx.journal.states().await? {
        if record.status != Status::Quarantined {
            continue;
        }
        let target = super::release::target_of(&record);
        let tags = match current_tags(ctx, &target).await {
            Ok(tags) => tags,
            // Deleted since: nothing to guard; an operator sees it in `cwq status`.
            Err(HandlerError::AttachmentNotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        let found = tags.get(&record.tag_key);
        if found == Some(&record.segment) {
            continue;
        }
        ctx.network_manager
            .tag_resource()
            .resource_arn(target.attachment_arn())
            .tags(Tag::builder().key(&record.tag_key).value(&record.segment).build())
            .send()
            .await
            .map_err(|e| HandlerError::from_sdk("networkmanager TagResource", e))?;
        let detail = json!({"attachment": record.attachment_id, "vpc": record.vpc_id, "account": record.owner_account,
                            "incident": record.incident_id, "key": record.tag_key, "found": found,
                            "restored": record.segment});
        ctx.journal
            .audit(&record.incident_id, "DriftCorrected", detail.clone())
            .await?;
        publish(ctx, "Quarantine Drift", &detail).await?;
        corrected.push(record.attachment_id);
    }
    Ok(corrected)
}
