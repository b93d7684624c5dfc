//! What cwq publishes on EventBridge (source `cwq`), for notification and SIEM rules:
//! docs/events.md gives each detail-type's schema and an example. Every execution publishes
//! exactly one outcome, after journaling it, and publishes it again when it is retried: the
//! `id` is the same each time, so consumers de-duplicate on it.

use cwq_domain::decision::{Expiry, NoAction};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub const SOURCE: &str = "cwq";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// The finding's demand holds the attachment, verified in the required segment.
    QuarantineApplied,
    /// The last demand went and the original tags are back, verified.
    QuarantineReleased,
    /// Demands went and others remain: verified in the laxer segment they require.
    QuarantineSteppedDown,
    /// Containment was refused or failed (or was interrupted: then the VPC stays held and the
    /// sweep finishes it).
    QuarantineFailed,
    /// What this execution was for had been done or undone by another first.
    QuarantineSuperseded,
    /// The finding calls for no change (below threshold, protected, sample, dry run…).
    QuarantineNoAction,
    /// The sweep found an attachment that nobody is converging and is repairing it.
    QuarantineStuck,
    /// cwq's tag on a held attachment was changed by someone else.
    QuarantineDrift,
    /// Evidence could not be preserved; containment went on.
    ForensicsFailed,
    /// A move waits for a person: `commands` answer it.
    QuarantineApprovalRequested,
}

impl EventKind {
    pub const ALL: [Self; 10] = [
        Self::QuarantineApplied,
        Self::QuarantineReleased,
        Self::QuarantineSteppedDown,
        Self::QuarantineFailed,
        Self::QuarantineSuperseded,
        Self::QuarantineNoAction,
        Self::QuarantineStuck,
        Self::QuarantineDrift,
        Self::ForensicsFailed,
        Self::QuarantineApprovalRequested,
    ];

    pub fn detail_type(self) -> &'static str {
        match self {
            Self::QuarantineApplied => "Quarantine Applied",
            Self::QuarantineReleased => "Quarantine Released",
            Self::QuarantineSteppedDown => "Quarantine Stepped Down",
            Self::QuarantineFailed => "Quarantine Failed",
            Self::QuarantineSuperseded => "Quarantine Superseded",
            Self::QuarantineNoAction => "Quarantine No Action",
            Self::QuarantineStuck => "Quarantine Stuck",
            Self::QuarantineDrift => "Quarantine Drift",
            Self::ForensicsFailed => "Forensics Failed",
            Self::QuarantineApprovalRequested => "Quarantine Approval Requested",
        }
    }

    pub fn from_detail_type(detail_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.detail_type() == detail_type)
    }

    /// An execution's outcome (one per execution), as opposed to a notice from the sweep or
    /// the forensics branch.
    pub fn is_outcome(self) -> bool {
        !matches!(
            self,
            Self::QuarantineStuck
                | Self::QuarantineDrift
                | Self::ForensicsFailed
                | Self::QuarantineApprovalRequested
        )
    }
}

/// One published event's `detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeEvent {
    /// Stable across retries of the step that publishes it: consumers de-duplicate on it.
    pub id: String,
    pub kind: EventKind,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(default)]
    pub execution_arn: Option<String>,
    #[serde(default)]
    pub incident_id: Option<String>,
    #[serde(default)]
    pub finding: Option<FindingSummary>,
    pub legs: Vec<LegReport>,
    /// One sentence a person understands.
    pub reason: String,
    #[serde(default)]
    pub time_to_contain_seconds: Option<f64>,
    /// The commands that answer an approval request (`cwq approve …`, `cwq deny …`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingSummary {
    pub id: String,
    #[serde(rename = "type")]
    pub finding_type: String,
    pub severity: f64,
}

impl From<&cwq_domain::finding::Finding> for FindingSummary {
    fn from(finding: &cwq_domain::finding::Finding) -> Self {
        Self {
            id: finding.id.clone(),
            finding_type: finding.finding_type.clone(),
            severity: finding.severity.value(),
        }
    }
}

/// What became of one leg. The names are stable: notification rules match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LegResult {
    /// Verified in the segment its demands require.
    Applied,
    /// The last demand went; verified back where it was before the quarantine.
    Released,
    /// Demands went and others remain; verified in the laxer segment they require.
    SteppedDown,
    /// The move failed or was refused; `detail` says why.
    Failed,
    /// Another execution released the demand first.
    Superseded,
    /// Not verified before the deadline, or left unconverged by a crash; the sweep repairs it.
    Stuck,
    /// cwq's tag on a held attachment was removed or set laxer by someone else; the sweep
    /// puts it back.
    Drifted,
    /// The execution ended before the leg converged; its demand stands and the sweep finishes it.
    Interrupted,
    /// The VPC has no attachment on this core network.
    NotAttached,
    /// Nothing to change, and why (`BudgetExceeded`, `Protected`, `DryRun`, …).
    #[serde(untagged)]
    NoAction(NoAction),
}

impl LegResult {
    /// A leg that ended where cwq meant it to.
    pub fn is_success(self) -> bool {
        matches!(self, Self::Applied | Self::Superseded)
    }
}

impl std::fmt::Display for LegResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoAction(reason) => reason.fmt(f),
            other => std::fmt::Debug::fmt(other, f),
        }
    }
}

/// One attachment (or unattached VPC) in an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegReport {
    pub vpc_id: String,
    pub account: String,
    pub region: String,
    #[serde(default)]
    pub attachment_id: Option<String>,
    pub result: LegResult,
    #[serde(default)]
    pub segment_before: Option<String>,
    /// Where the attachment was verified (or is required to be).
    #[serde(default)]
    pub segment: Option<String>,
    #[serde(default)]
    pub until: Option<Expiry>,
    #[serde(default)]
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/events.schema.json lists every leg result a consumer can see, and only those.
    #[test]
    fn the_schema_lists_exactly_the_leg_results() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/events.schema.json"))
                .expect("the schema is JSON");
        let listed = schema["$defs"]["leg"]["properties"]["result"]["enum"]
            .as_array()
            .expect("the schema lists the leg results");
        let results: Vec<LegResult> = listed
            .iter()
            .map(|name| serde_json::from_value(name.clone()).expect("each listed result is a LegResult"))
            .collect();
        for (result, name) in results.iter().zip(listed) {
            assert_eq!(serde_json::to_value(result).ok().as_ref(), Some(name));
            assert_eq!(result.to_string(), name.as_str().unwrap_or_default());
        }
        let variants = [
            LegResult::Applied,
            LegResult::Released,
            LegResult::SteppedDown,
            LegResult::Failed,
            LegResult::Superseded,
            LegResult::Stuck,
            LegResult::Drifted,
            LegResult::Interrupted,
            LegResult::NotAttached,
            LegResult::NoAction(NoAction::BudgetExceeded),
        ];
        assert!(variants.iter().all(|v| results.contains(v)));
        assert!(serde_json::from_value::<LegResult>(serde_json::json!("Contained")).is_err());
    }
}
