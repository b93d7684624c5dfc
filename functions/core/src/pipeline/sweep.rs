//! Sweep: on the schedule, finds expired quarantines through the journal's expiry index and
//! starts one release execution each, named after the attachment and its expiry so that a
//! second sweep starts nothing new.

use super::{output, Context};
use crate::decision::Expiry;
use crate::error::HandlerError;
use crate::incident::{ReleaseRequest, VerifyProgress};
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn sweep(ctx: Arc<Context>, _event: Value) -> Result<Value, HandlerError> {
    let machine = ctx.settings.release_state_machine_arn.clone().ok_or_else(|| {
        HandlerError::Configuration(
            "the environment variable CWQ_RELEASE_STATE_MACHINE_ARN is not set".into(),
        )
    })?;
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
    output(&json!({"started": started}))
}
