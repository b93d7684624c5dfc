//! A GuardDuty finding event about a spoke's instance, from one of the example findings
//! (examples/findings/*.json, real events' shape), as EventBridge delivers it.

use crate::{EstateError, Spoke};
use serde_json::{json, Value};
use std::path::Path;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Builds a finding event: `FindingEvent::example(path)?.on(&spoke).id("x").build()`.
#[derive(Debug, Clone)]
pub struct FindingEvent(Value);

impl FindingEvent {
    /// The example event in `path`, unchanged until a builder method says otherwise.
    pub fn example(path: &Path) -> Result<Self, EstateError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| EstateError::new(&name, e))?;
        let event = serde_json::from_str(&text).map_err(|e| EstateError::new(&name, e))?;
        Ok(Self(event))
    }

    /// About `spoke`'s instance in its VPC, account and Region.
    pub fn on(mut self, spoke: &Spoke) -> Self {
        self.0["region"] = json!(spoke.region);
        let detail = &mut self.0["detail"];
        detail["accountId"] = json!(spoke.account);
        detail["region"] = json!(spoke.region);
        let instance = &mut detail["resource"]["instanceDetails"];
        instance["instanceId"] = json!(spoke.instance_id);
        instance["networkInterfaces"][0]["vpcId"] = json!(spoke.vpc_id);
        self
    }

    /// The event's id `event-{id}` and the finding's id, `id` padded to GuardDuty's 32 characters.
    pub fn id(mut self, id: &str) -> Self {
        self.0["id"] = json!(format!("event-{id}"));
        self.0["detail"]["id"] = json!(format!("{id:0>32}"));
        self
    }

    pub fn severity(mut self, severity: f64) -> Self {
        self.0["detail"]["severity"] = json!(severity);
        self
    }

    pub fn finding_type(mut self, finding_type: &str) -> Self {
        self.0["detail"]["type"] = json!(finding_type);
        self
    }

    /// Delivered and last updated at `at`.
    pub fn at(mut self, at: OffsetDateTime) -> Self {
        let whole = at.replace_nanosecond(0).unwrap_or(at);
        let text = whole.format(&Rfc3339).unwrap_or_default();
        self.0["time"] = json!(text);
        self.0["detail"]["updatedAt"] = json!(text);
        self
    }

    pub fn build(self) -> Value {
        self.0
    }
}
