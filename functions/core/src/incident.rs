//! The incident document: the JSON passed between the quarantine state machine's states.
//! One versioned struct; each handler takes it and returns it, adding its part.

use crate::decision::Expiry;
use crate::finding::Finding;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const INCIDENT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub version: u32,
    /// Deterministic: the finding id and its updatedAt, so a re-sent finding is recognised.
    pub incident_id: String,
    pub finding: Finding,
    /// When the finding was first seen by GuardDuty's event, for time-to-contain.
    pub finding_time: Option<String>,
    /// The quarantine execution handling it (for operators: `cwq status`, `cwq restart`).
    #[serde(default)]
    pub execution_arn: Option<String>,
    /// One per VPC of the instance.
    pub targets: Vec<Target>,
    /// `quarantine` when decide chose to move or hold at least one target, else `none`.
    #[serde(default)]
    pub action: Action,
    #[serde(default)]
    pub verify: VerifyProgress,
    #[serde(default)]
    pub snapshots: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    Undecided,
    Quarantine,
    None,
}

/// A VPC's Cloud WAN attachment, as enrich found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub vpc_id: String,
    pub attachment_id: String,
    pub core_network_id: String,
    /// The attachment's owner (the VPC's account): attachment ARNs use it (aws-facts §1.5).
    pub owner_account: String,
    pub edge_location: String,
    pub segment_before: Option<String>,
    pub tags_before: BTreeMap<String, String>,
    #[serde(default)]
    pub decision: Option<TargetDecision>,
}

impl Target {
    pub fn attachment_arn(&self) -> String {
        format!(
            "arn:aws:networkmanager::{}:attachment/{}",
            self.owner_account, self.attachment_id
        )
    }

    pub fn plan(&self) -> Option<&TargetDecision> {
        self.decision.as_ref().filter(|d| d.quarantine)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetDecision {
    pub quarantine: bool,
    /// `Quarantine`, or the NoAction name (`AlreadyContained`, `Protected`, …).
    pub reason_code: String,
    pub reason: String,
    pub target_segment: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub expiry: Option<Expiry>,
    #[serde(default)]
    pub extends_existing: bool,
    #[serde(default)]
    pub acceptance_required: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyProgress {
    pub attempts: u32,
    /// `pending` or `done`.
    pub status: String,
    /// How long the state machine waits before the next check.
    #[serde(default)]
    pub wait_seconds: u32,
}

/// What the release state machine takes: which attachment, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseRequest {
    pub attachment_id: String,
    /// `expired`, `manual` or `compensation`.
    pub reason: String,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub verify: VerifyProgress,
    /// Filled by release: where the attachment should land once the tags are restored.
    #[serde(default)]
    pub expected_segment: Option<String>,
}
