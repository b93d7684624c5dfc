//! The events port: EventBridge PutEvents, source `cwq`, the detail-type of the event's kind.

use crate::errors::{classify, first_match, Class};
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use cwq_pipeline::events::{OutcomeEvent, SOURCE};
use cwq_pipeline::ports::Events;
use cwq_pipeline::PortError;

#[derive(Debug, Clone)]
pub struct EventBridge {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridge {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl Events for EventBridge {
    async fn publish(&self, event: &OutcomeEvent) -> Result<(), PortError> {
        let detail = serde_json::to_string(event).map_err(|e| PortError::Failed(e.to_string()))?;
        let entry = PutEventsRequestEntry::builder()
            .source(SOURCE)
            .detail_type(event.kind.detail_type())
            .detail(detail)
            .event_bus_name(&self.bus)
            .build();
        let sent = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| {
                classify("events PutEvents", e, |e| {
                    first_match([(e.is_internal_exception(), Class::Transient)])
                })
            })?;
        if sent.failed_entry_count() > 0 {
            let why = sent
                .entries()
                .iter()
                .find_map(|e| e.error_code())
                .unwrap_or("unknown");
            return Err(PortError::Transient(format!(
                "EventBridge refused the {} event: {why}",
                event.kind.detail_type()
            )));
        }
        Ok(())
    }
}
