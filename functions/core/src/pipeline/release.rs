//! Release: restores exactly what the journal recorded — in overlay mode removes cwq's key; in
//! rewrite mode puts back the previous value, or removes a key that was absent — and says
//! where the attachment should land, for Verify. Used for expiry, manual release, and as the
//! quarantine state machine's compensation (then it records FAILED with the reason).

use super::decide::live_policy;
use super::notify::publish;
use super::verify::current_tags;
use super::{input, output, Context};
use crate::cloudwan::{Attachment, EvaluationOptions};
use crate::error::HandlerError;
use crate::incident::{Incident, ReleaseRequest, Target};
use crate::journal::tag_map;
use crate::journal::{AttachmentRecord, Status};
use aws_sdk_networkmanager::types::{AttachmentState, Tag};
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn release(ctx: Arc<Context>, event: Value) -> Result<Value, HandlerError> {
    if event.get("incident_id").is_some() {
        return compensate(ctx, event).await;
    }
    let mut request: ReleaseRequest = input(event, "release takes {attachment_id, reason}")?;
    let mut record = ctx.journal.state(&request.attachment_id).await?.ok_or_else(|| {
        HandlerError::InvalidInput(format!("{} was never quarantined by cwq", request.attachment_id))
    })?;
    match record.status {
        // Quarantining: a quarantine whose execution failed closed half-way.
        Status::Quarantined | Status::Quarantining | Status::Releasing => {}
        Status::Released => {
            request.expected_segment = record.segment_before.clone();
            return output(&request);
        }
        other => {
            return Err(HandlerError::InvalidInput(format!(
                "{} is {other:?}, not quarantined",
                request.attachment_id
            )))
        }
    }
    if record.status != Status::Releasing {
        record.status = Status::Releasing;
        record = ctx.journal.put_state(&record, Some(record.version)).await?;
        let detail =
            json!({"attachment": request.attachment_id, "reason": request.reason, "note": request.note});
        ctx.journal
            .audit(&record.incident_id, "ReleaseStarted", detail)
            .await?;
    }
    request.expected_segment = if record.previous_recorded {
        restore(&ctx, &record).await?
    } else {
        // The tags were never changed: there is nothing to put back.
        record.segment_before.clone()
    };
    output(&request)
}

pub(super) fn target_of(record: &AttachmentRecord) -> Target {
    Target {
        vpc_id: record.vpc_id.clone(),
        attachment_id: record.attachment_id.clone(),
        core_network_id: record.core_network_id.clone(),
        owner_account: record.owner_account.clone(),
        edge_location: record.edge_location.clone(),
        segment_before: record.segment_before.clone(),
        tags_before: Default::default(),
        decision: None,
    }
}

/// Puts the recorded tag back; returns the segment the LIVE policy gives the restored tags.
async fn restore(ctx: &Context, record: &AttachmentRecord) -> Result<Option<String>, HandlerError> {
    if withdraw_proposal(ctx, record).await? {
        return Ok(record.segment_before.clone());
    }
    let target = target_of(record);
    let mut tags = current_tags(ctx, &target).await?;
    let key = &record.tag_key;
    let current = tags.get(key).cloned();
    // Someone set the key to a third value meanwhile: report it, never overwrite their choice.
    if current
        .as_ref()
        .is_some_and(|v| *v != record.segment && Some(v) != record.previous_value.as_ref())
    {
        let detail = json!({"attachment": record.attachment_id, "vpc": record.vpc_id, "account": record.owner_account,
                            "incident": record.incident_id, "key": key, "found": current,
                            "cwq_set": record.segment, "previous": record.previous_value});
        ctx.journal
            .audit(&record.incident_id, "DriftReported", detail.clone())
            .await?;
        publish(ctx, "Quarantine Drift", &detail).await?;
        return placement(ctx, record, tags).await;
    }
    match (&record.previous_value, tags.get(key)) {
        (Some(previous), current) if current != Some(previous) => {
            ctx.network_manager
                .tag_resource()
                .resource_arn(target.attachment_arn())
                .tags(Tag::builder().key(key).value(previous).build())
                .send()
                .await
                .map_err(|e| HandlerError::from_sdk("networkmanager TagResource", e))?;
            tags.insert(key.clone(), previous.clone());
        }
        (None, Some(_)) => {
            ctx.network_manager
                .untag_resource()
                .resource_arn(target.attachment_arn())
                .tag_keys(key)
                .send()
                .await
                .map_err(|e| HandlerError::from_sdk("networkmanager UntagResource", e))?;
            tags.remove(key);
        }
        _ => {}
    }
    ctx.journal
        .audit(
            &record.incident_id,
            "TagsRestored",
            json!({"attachment": record.attachment_id, "key": key,
               "value": record.previous_value}),
        )
        .await?;
    placement(ctx, record, tags).await
}

/// The segment the LIVE policy gives the attachment with these tags.
async fn placement(
    ctx: &Context,
    record: &AttachmentRecord,
    tags: std::collections::BTreeMap<String, String>,
) -> Result<Option<String>, HandlerError> {
    let core = live_policy(ctx).await?;
    let facts = Attachment::vpc(&record.owner_account, &record.edge_location, &record.vpc_id, tags);
    let options = EvaluationOptions {
        unknown_segment: ctx.settings.policy.unknown_segment,
    };
    Ok(core
        .evaluate(&facts, options)
        .placement
        .segment()
        .map(str::to_string))
}

/// A tag change of ours still waiting for the core network owner's acceptance is withdrawn
/// by rejecting it (as owner): the attachment keeps its tags and segment. True if it did.
async fn withdraw_proposal(ctx: &Context, record: &AttachmentRecord) -> Result<bool, HandlerError> {
    let got = ctx
        .network_manager
        .get_vpc_attachment()
        .attachment_id(&record.attachment_id)
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk("networkmanager GetVpcAttachment", e))?;
    let Some(attachment) = got.vpc_attachment().and_then(|v| v.attachment()) else {
        return Ok(false);
    };
    let ours = attachment
        .proposed_segment_change()
        .is_some_and(|p| tag_map(p.tags()).get(&record.tag_key) == Some(&record.segment));
    if attachment.state() != Some(&AttachmentState::PendingTagAcceptance) || !ours {
        return Ok(false);
    }
    ctx.network_manager
        .reject_attachment()
        .attachment_id(&record.attachment_id)
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk("networkmanager RejectAttachment", e))?;
    ctx.journal
        .audit(
            &record.incident_id,
            "ProposalWithdrawn",
            json!({"attachment": record.attachment_id, "key": record.tag_key, "value": record.segment}),
        )
        .await?;
    Ok(true)
}

/// After a failure inside containment: undo this incident's tag changes, record FAILED with
/// the reason, publish it. The state machine fails afterwards with the original error.
async fn compensate(ctx: Arc<Context>, event: Value) -> Result<Value, HandlerError> {
    let error = event.get("error").cloned().unwrap_or(Value::Null);
    let incident: Incident = input(event, "compensation takes the incident")?;
    let reason = format!(
        "{}: {}",
        error["Error"].as_str().unwrap_or("Failed"),
        error["Cause"].as_str().unwrap_or("containment failed")
    );
    for target in incident.targets.iter().filter(|t| t.plan().is_some()) {
        let Some(mut record) = ctx.journal.state(&target.attachment_id).await? else {
            continue;
        };
        if record.incident_id != incident.incident_id || !record.is_active() {
            continue;
        }
        let restored_to = match record.previous_recorded {
            true => match restore(&ctx, &record).await {
                Ok(segment) => segment,
                // Deleted or detached meanwhile: there is nothing left to restore.
                Err(HandlerError::AttachmentNotFound(why)) => {
                    ctx.journal
                        .audit(
                            &incident.incident_id,
                            "AttachmentGone",
                            json!({"attachment": target.attachment_id, "why": why}),
                        )
                        .await?;
                    None
                }
                Err(other) => return Err(other),
            },
            false => None,
        };
        record.status = Status::Failed;
        record.reason = reason.clone();
        ctx.journal.put_state(&record, Some(record.version)).await?;
        let detail = json!({"attachment": target.attachment_id, "vpc": target.vpc_id, "account": target.owner_account,
                            "incident": incident.incident_id, "reason": reason, "restored_segment": restored_to});
        ctx.journal
            .audit(&incident.incident_id, "Failed", detail.clone())
            .await?;
        publish(&ctx, "Quarantine Failed", &detail).await?;
        tracing::warn!(outcome = "QuarantineFailed", attachment = %target.attachment_id, %reason, "quarantine failed");
    }
    output(&json!({"compensated": incident.incident_id, "reason": reason}))
}
