//! Outcomes published on EventBridge (source `cwq`) for notification and SIEM.

use super::Context;
use crate::error::HandlerError;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde_json::Value;

pub async fn publish(ctx: &Context, detail_type: &str, detail: &Value) -> Result<(), HandlerError> {
    let entry = PutEventsRequestEntry::builder()
        .source("cwq")
        .detail_type(detail_type)
        .detail(detail.to_string())
        .event_bus_name(&ctx.settings.event_bus)
        .build();
    let sent = ctx
        .events
        .put_events()
        .entries(entry)
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk("events PutEvents", e))?;
    if sent.failed_entry_count() > 0 {
        return Err(HandlerError::Transient(format!(
            "EventBridge refused the {detail_type} event"
        )));
    }
    Ok(())
}
