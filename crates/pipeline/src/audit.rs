//! The audit trail: one typed event per thing that happened, appended under its incident.
//! `cwq show` matches these exhaustively.

use crate::approval::RequestStatus;
use crate::contract::{LegFailure, ReleaseReason, Verdict};
use cwq_domain::decision::Expiry;
use cwq_domain::lifecycle::{DemandRef, Drift};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub incident_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(default)]
    pub execution_arn: Option<String>,
    pub event: AuditEvent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step")]
pub enum AuditEvent {
    FindingReceived {
        finding_id: String,
        finding_type: String,
        severity: f64,
        /// What the finding is about (`instance i-…`, `attack sequence of 9 resources`).
        #[serde(alias = "instance_id")]
        resource: String,
        account: String,
        vpcs: Vec<String>,
        first_sighting: bool,
        /// Workloads the finding names that could not be placed in a VPC, and why.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unresolved: Vec<String>,
    },
    Decided {
        vpc_id: String,
        attachment_id: Option<String>,
        verdict: Verdict,
        reason: String,
        segment: Option<String>,
        until: Option<Expiry>,
        /// The version of the response policy that decided (`cwq policy show --version`).
        #[serde(default)]
        policy_version: String,
    },
    DemandAdded {
        attachment_id: String,
        segment: String,
        until: Expiry,
        new_episode: bool,
        original_value: Option<String>,
    },
    DemandsRemoved {
        attachment_id: String,
        reason: ReleaseReason,
        removed: Vec<DemandRef>,
        requested_by: Option<String>,
        note: Option<String>,
    },
    Tagged {
        attachment_id: String,
        key: String,
        value: String,
    },
    Untagged {
        attachment_id: String,
        keys: Vec<String>,
    },
    Accepted {
        attachment_id: String,
    },
    Converged {
        attachment_id: String,
        segment: Option<String>,
        generation: u64,
    },
    DriftFound {
        attachment_id: String,
        drift: Drift,
    },
    ContainmentFailed {
        attachment_id: String,
        failure: LegFailure,
    },
    Superseded {
        attachment_id: String,
    },
    Stuck {
        attachment_id: String,
        reason: String,
    },
    Snapshotted {
        instance_id: String,
        snapshots: Vec<String>,
        found_after_restart: bool,
    },
    ForensicsFailed {
        instance_id: String,
        error: String,
    },
    Extended {
        attachment_id: String,
        until: Expiry,
        by: String,
    },
    Outcome {
        detail_type: String,
        reason: String,
    },
    /// The incident's moves wait for a person: a request opened, or joined.
    ApprovalRequested {
        request_id: String,
        attachments: Vec<String>,
        joined: bool,
        reason: String,
    },
    /// A request answered: approved or denied (the principal's ARN), or timed out.
    ApprovalAnswered {
        request_id: String,
        status: RequestStatus,
        by: String,
        note: Option<String>,
    },
}

impl AuditEvent {
    /// The step's name as stored and shown.
    pub fn name(&self) -> &'static str {
        match self {
            Self::FindingReceived { .. } => "FindingReceived",
            Self::Decided { .. } => "Decided",
            Self::DemandAdded { .. } => "DemandAdded",
            Self::DemandsRemoved { .. } => "DemandsRemoved",
            Self::Tagged { .. } => "Tagged",
            Self::Untagged { .. } => "Untagged",
            Self::Accepted { .. } => "Accepted",
            Self::Converged { .. } => "Converged",
            Self::DriftFound { .. } => "DriftFound",
            Self::ContainmentFailed { .. } => "ContainmentFailed",
            Self::Superseded { .. } => "Superseded",
            Self::Stuck { .. } => "Stuck",
            Self::Snapshotted { .. } => "Snapshotted",
            Self::ForensicsFailed { .. } => "ForensicsFailed",
            Self::Extended { .. } => "Extended",
            Self::Outcome { .. } => "Outcome",
            Self::ApprovalRequested { .. } => "ApprovalRequested",
            Self::ApprovalAnswered { .. } => "ApprovalAnswered",
        }
    }
}
