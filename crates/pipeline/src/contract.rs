//! The typed data the state machines pass between states. Each step takes and returns one of
//! these; nothing is read by string from another step's output.

pub use crate::approval::Answer;
use crate::approval::AskedLeg;
pub use crate::deferred::{AttachmentHint, Deferred, Sighting};
use cwq_domain::decision::{Expiry, NoAction};
use cwq_domain::finding::Finding;
use cwq_domain::lifecycle::{AttachmentRef, Demand, DemandRef, Drift, FailReason};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A finding being handled: what the quarantine state machine carries from Enrich on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Deterministic: the finding id and its updatedAt, so that a re-sent finding is the same.
    pub incident_id: String,
    pub execution_arn: String,
    pub finding: Finding,
    /// The event's time, for time-to-contain (absent or unreadable: not measured).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub finding_time: Option<OffsetDateTime>,
    /// One per VPC the finding's workloads are in (per account and Region), in the finding's
    /// order.
    pub legs: Vec<Leg>,
    /// Workloads of the finding that could not be placed in a VPC, reported in the outcome.
    #[serde(default)]
    pub unresolved: Vec<Unresolved>,
    /// Set by Decide: `contain` when at least one leg holds a demand of this incident.
    #[serde(default)]
    pub action: Action,
    /// Set by Decide for the Reconcile loop.
    #[serde(default)]
    pub reconcile: Option<ReconcileProgress>,
    /// Set by Decide: some move waits for a person's approval (the state machine asks next).
    #[serde(default)]
    pub asking: bool,
    /// What is asked, when `asking`.
    #[serde(default)]
    pub ask: Option<Ask>,
    /// Placed by the state machine when the wait ends: `cwq approve`'s answer, or the error
    /// (`cwq.Denied`, `States.Timeout`) its Catch placed. Decide reads it with [`Answer::read`].
    #[serde(default)]
    pub approval: Option<serde_json::Value>,
    /// What Enrich and Decide journal after the first containing call; Decide hands it to
    /// the Reconcile loop (`reconcile.journal`), which writes it.
    #[serde(default, skip_serializing_if = "Deferred::is_empty")]
    pub journal: Deferred,
}

/// The moves an incident asks a person to approve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ask {
    pub legs: Vec<AskedLeg>,
    /// Why each move is asked: the finding, the plan and the tier's source in the policy.
    pub reason: String,
    /// The wait's length (`approvals.timeout`), read by the state machine's TimeoutSecondsPath.
    pub timeout_seconds: u64,
}

/// A workload Enrich could not place: gone (not found), or its account would not say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unresolved {
    /// `instance i-… in 222222222222 us-east-1`.
    pub workload: String,
    pub reason: String,
    /// Not merely gone: the lookup was refused or failed, so a VPC may be left open.
    pub failed: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    Undecided,
    Contain,
    None,
}

/// One VPC of the finding's workloads and its Cloud WAN attachment, if it has one on this core network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leg {
    pub vpc_id: String,
    pub account: String,
    pub region: String,
    /// None: the VPC is not attached to this core network (reported, not contained).
    pub attachment: Option<AttachmentRef>,
    pub segment_before: Option<String>,
    #[serde(default)]
    pub decision: Option<LegDecision>,
}

/// What Decide made of one leg.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegDecision {
    pub verdict: Verdict,
    /// One sentence a person understands.
    pub reason: String,
    pub segment: Option<String>,
    pub until: Option<Expiry>,
    /// The demand opened a new quarantine episode (and spent the budget).
    #[serde(default)]
    pub new_episode: bool,
}

/// A leg's verdict: a demand added, or why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// A demand of this incident is on the attachment.
    Contain,
    /// The VPC has no attachment on this core network.
    NotAttached,
    #[serde(untagged)]
    NoAction(NoAction),
}

impl Verdict {
    pub fn name(self) -> String {
        match self {
            Self::Contain => "Contain".into(),
            Self::NotAttached => "NotAttached".into(),
            Self::NoAction(reason) => reason.to_string(),
        }
    }

    /// A refusal someone must hear about: cwq was asked to contain and may not.
    pub fn is_refusal(self) -> bool {
        matches!(
            self,
            Self::NotAttached | Self::NoAction(NoAction::BudgetExceeded | NoAction::PolicyViolation)
        )
    }
}

/// The Reconcile loop's state, carried through its Wait: one entry per attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconcileProgress {
    pub execution_arn: String,
    /// The quarantine's incident (whose demand this execution added), if any.
    #[serde(default)]
    pub incident_id: Option<String>,
    pub legs: Vec<LegProgress>,
    #[serde(default)]
    pub attempt: u32,
    #[serde(default)]
    pub wait_seconds: u32,
    #[serde(default)]
    pub status: LoopStatus,
    /// Journal writes that waited for the first containing call; Reconcile's first pass
    /// writes them after its own calls to Cloud WAN.
    #[serde(default, skip_serializing_if = "Deferred::is_empty")]
    pub journal: Deferred,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopStatus {
    #[default]
    Pending,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegProgress {
    pub attachment_id: String,
    pub state: LegState,
    /// Past this, the change this leg waits for is given up.
    #[serde(with = "time::serde::rfc3339")]
    pub deadline: OffsetDateTime,
    /// Where the attachment was verified.
    #[serde(default)]
    pub segment: Option<String>,
    #[serde(default)]
    pub drift: Option<Drift>,
    /// Why the leg failed, for the outcome.
    #[serde(default)]
    pub failure: Option<LegFailure>,
}

impl LegProgress {
    pub fn new(attachment_id: &str, deadline: OffsetDateTime) -> Self {
        Self {
            attachment_id: attachment_id.to_string(),
            state: LegState::Pending,
            deadline,
            segment: None,
            drift: None,
            failure: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegState {
    /// Converging toward the required state.
    Pending,
    /// Verified in the required state.
    Converged,
    /// This incident's containment failed: its demand is withdrawn, and the attachment
    /// converges toward what the other demands (or the original tags) require.
    Compensating,
    /// Settled after a failure: compensated, or the attachment is gone.
    Failed,
    /// This incident's demand was removed by someone else (an operator's release) first: the
    /// attachment converges toward what is left before the leg ends, so that a change this
    /// execution made meanwhile is undone by itself.
    Yielding,
    /// Settled after its demand was removed by someone else.
    Superseded,
    /// Still not converged at the deadline: left to the sweep, which repairs and reports it.
    Stuck,
}

impl LegState {
    pub fn is_settled(self) -> bool {
        !matches!(self, Self::Pending | Self::Compensating | Self::Yielding)
    }
}

/// Why a leg's containment failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LegFailure {
    /// Cloud WAN did not apply the change within the reconcile timeout.
    VerificationTimeout,
    #[serde(untagged)]
    Reason(FailReason),
}

impl std::fmt::Display for LegFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::VerificationTimeout => f.write_str("VerificationTimeout"),
            Self::Reason(reason) => reason.fmt(f),
        }
    }
}

/// What the release state machine takes: which demands to remove from which attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRequest {
    pub attachment_id: String,
    pub reason: ReleaseReason,
    /// Exactly the demands to remove, as they were when the release was asked for: a demand
    /// added later (or extended since) is never removed by this request.
    #[serde(default)]
    pub demands: Vec<DemandRef>,
    /// Who asked (an operator's ARN) and why, for the journal.
    #[serde(default)]
    pub requested_by: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    /// The named demands' holds passed (the sweep).
    Expired,
    /// An operator's release.
    Manual,
    /// Nothing to remove: converge an item nobody is reconciling (the sweep's repair).
    Repair,
}

/// What the release state machine carries after Change the demands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseState {
    pub request: ReleaseRequest,
    pub execution_arn: String,
    /// The demands this execution removed (empty: none of those named were left).
    pub removed: Vec<Demand>,
    pub reconcile: ReconcileProgress,
}

/// What the forensics branch reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forensics {
    pub snapshots: Vec<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// A failed state's error as Step Functions passes it to a Catch (`{"Error", "Cause"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

impl CaughtError {
    /// The cause for people: a Lambda function error's Cause is its error document
    /// (`{"errorType", "errorMessage"}`), of which the message is what matters.
    pub fn message(&self) -> String {
        let cause = self.cause.as_deref().unwrap_or_default();
        serde_json::from_str::<serde_json::Value>(cause)
            .ok()
            .and_then(|doc| doc["errorMessage"].as_str().map(str::to_string))
            .unwrap_or_else(|| cause.to_string())
    }
}

/// What Record the outcome returns: the state machine fails the execution when `failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeSummary {
    pub detail_type: String,
    pub failed: bool,
    pub error: String,
    pub cause: String,
}
