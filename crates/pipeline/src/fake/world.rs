//! One in-memory world behind every port: a Cloud WAN whose moves take time and which answers
//! ConflictException while an attachment is UPDATING (the pessimistic, AWS-like default), a
//! journal with DynamoDB's conditional writes, EC2 for the workloads, the events published
//! and the executions started. Every call passes through a [`Chaos`] first, which is where a
//! scheduler yields and where faults and crashes are injected.

use crate::approval::ApprovalRequest;
use crate::audit::AuditEntry;
use crate::contract::ReleaseRequest;
use crate::error::PortError;
use crate::events::OutcomeEvent;
use crate::policy::StoredPolicy;
use crate::ports::{
    Clock, CloudWan, Events, Executions, Journal, LiveAttachment, Organizations, Scan, SecurityHub,
    SnapshotRequest, Started, Tags, Workloads,
};
use async_trait::async_trait;
use cwq_domain::budget::BudgetLedger;
use cwq_domain::cloudwan::{Attachment, CoreNetworkPolicy, EvaluationOptions, Placement};
use cwq_domain::finding::{Target, Workload};
use cwq_domain::lifecycle::{AttachmentItem, AttachmentRef, LiveState};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use time::OffsetDateTime;

mod cloud_wan;
mod journal;
mod others;

/// One port call, as the chaos sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub port: &'static str,
    pub operation: &'static str,
    /// Whether it changes the world (a crash after it leaves the change behind).
    pub mutates: bool,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What happens around each call: scheduling points, injected failures, crashes.
pub trait Chaos: Send + Sync {
    /// Before the call: may yield, and may fail the call without it taking effect.
    fn before(&self, call: Call) -> BoxFuture<'_, Option<PortError>>;
    /// After the call took effect: may end the calling step the way a crash would (panic).
    fn after(&self, call: Call);
}

/// No chaos: every call goes through.
#[derive(Debug, Default)]
pub struct Calm;

impl Chaos for Calm {
    fn before(&self, _call: Call) -> BoxFuture<'_, Option<PortError>> {
        Box::pin(async { None })
    }
    fn after(&self, _call: Call) {}
}

/// Cloud WAN's behaviour where AWS is slow, strict or undocumented.
#[derive(Debug, Clone)]
pub struct CloudWanBehaviour {
    /// How long UPDATING lasts after a tag change.
    pub transition_seconds: f64,
    /// TagResource/UntagResource/AcceptAttachment answer ConflictException while UPDATING.
    pub conflict_while_updating: bool,
    /// Transitions never complete.
    pub stuck: bool,
}

impl Default for CloudWanBehaviour {
    fn default() -> Self {
        Self {
            transition_seconds: 60.0,
            conflict_while_updating: true,
            stuck: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeState {
    Available,
    Updating,
    PendingTagAcceptance,
    Deleted,
}

#[derive(Debug, Clone)]
pub struct FakeAttachment {
    pub attachment: AttachmentRef,
    pub state: FakeState,
    pub segment: Option<String>,
    pub tags: Tags,
    pub proposed: Option<Tags>,
    busy_until: Option<OffsetDateTime>,
    next_segment: Option<String>,
}

/// Everything the fakes hold.
#[derive(Debug, Default)]
pub struct WorldState {
    pub behaviour: CloudWanBehaviour,
    pub policy: Option<CoreNetworkPolicy>,
    pub attachments: BTreeMap<String, FakeAttachment>,
    /// Every successful TagResource/UntagResource/AcceptAttachment: (attachment, what).
    pub network_calls: Vec<(String, String)>,
    pub items: BTreeMap<String, AttachmentItem>,
    pub ledger: BudgetLedger,
    /// The applied response policy, and every one applied before.
    pub response_policy: Option<StoredPolicy>,
    pub response_policies: Vec<StoredPolicy>,
    pub audit: Vec<AuditEntry>,
    /// (finding id, updatedAt) → the execution that saw it first.
    pub sightings: BTreeMap<(String, String), String>,
    pub outcomes: BTreeMap<String, OutcomeEvent>,
    pub snapshot_sets: BTreeMap<String, Vec<String>>,
    pub cache: BTreeMap<String, String>,
    pub approvals: BTreeMap<String, ApprovalRequest>,
    /// BatchUpdateFindings, per finding: (region, finding ARN, note, workflow status).
    pub security_hub_notes: Vec<(String, String, String, Option<String>)>,
    /// SendTaskSuccess calls: (token, output).
    pub answered_tasks: Vec<(String, String)>,
    /// An attachment → the approval request its move last waited on.
    pub awaiting: BTreeMap<String, String>,
    /// An account → its parents in AWS Organizations, its OU first.
    pub ous: BTreeMap<String, Vec<String>>,
    /// A workload (instance, interface, ECS task ARN, EKS cluster name) → (account, region, VPCs).
    pub instances: BTreeMap<String, (String, String, Vec<String>)>,
    /// CreateSnapshots fails with this (a missing role, an SCP, a terminated instance).
    pub snapshot_failure: Option<PortError>,
    pub snapshots_taken: Vec<(String, SnapshotRequest)>,
    pub published: Vec<OutcomeEvent>,
    /// Execution ARN → running?
    pub executions: BTreeMap<String, bool>,
    pub release_requests: Vec<(String, ReleaseRequest)>,
}

type Launcher = Arc<dyn Fn(String, ReleaseRequest) + Send + Sync>;

/// The world; clone the `Arc` into each port of [`crate::Ports`].
pub struct World {
    state: Mutex<WorldState>,
    clock: Arc<dyn Clock>,
    chaos: Arc<dyn Chaos>,
    launcher: Mutex<Option<Launcher>>,
    release_machine: String,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World").finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub const OWNER: &str = "123456789012";
const REGION: &str = "us-east-1";

impl World {
    pub fn new(clock: Arc<dyn Clock>, chaos: Arc<dyn Chaos>) -> Self {
        Self {
            state: Mutex::default(),
            clock,
            chaos,
            launcher: Mutex::new(None),
            release_machine: format!("arn:aws:states:{REGION}:{OWNER}:stateMachine:cwq-release"),
        }
    }

    /// The world's state, for setting up a scenario and checking it.
    pub fn state(&self) -> MutexGuard<'_, WorldState> {
        lock(&self.state)
    }

    /// What starts a release execution (the model runs it; without one, requests are recorded).
    pub fn on_release(&self, launcher: Launcher) {
        *lock(&self.launcher) = Some(launcher);
    }

    /// Drops the launcher, which holds the world (a cycle), when a run is over.
    pub fn forget_launcher(&self) {
        *lock(&self.launcher) = None;
    }

    /// The ARN a release execution of this name has.
    pub fn release_arn(&self, name: &str) -> String {
        format!(
            "{}:{name}",
            self.release_machine.replace(":stateMachine:", ":execution:")
        )
    }

    pub fn set_policy(&self, policy: CoreNetworkPolicy) {
        self.state().policy = Some(policy);
    }

    /// Attaches a VPC with `tags`; it is AVAILABLE where the policy places it.
    pub fn attach(&self, attachment: AttachmentRef, tags: Tags) {
        let mut s = self.state();
        let segment = s.place(&attachment, &tags);
        s.attachments.insert(
            attachment.attachment_id.clone(),
            FakeAttachment {
                attachment,
                state: FakeState::Available,
                segment,
                tags,
                proposed: None,
                busy_until: None,
                next_segment: None,
            },
        );
    }

    /// A change made by the attachment's owner (not cwq): the tags are set and Cloud WAN moves.
    pub fn owner_sets_tag(&self, attachment_id: &str, key: &str, value: Option<&str>) {
        let now = self.clock.now();
        let mut s = self.state();
        s.refresh(attachment_id, now);
        if let Some(a) = s.attachments.get_mut(attachment_id) {
            match value {
                Some(v) => a.tags.insert(key.into(), v.into()),
                None => a.tags.remove(key),
            };
        }
        s.start_move(attachment_id, now);
    }

    pub fn set_running(&self, execution_arn: &str, running: bool) {
        self.state().executions.insert(execution_arn.to_string(), running);
    }

    /// Where the attachment is now, after any transition that is due.
    pub fn attachment_now(&self, attachment_id: &str) -> Option<FakeAttachment> {
        let now = self.clock.now();
        let mut s = self.state();
        s.refresh(attachment_id, now);
        s.attachments.get(attachment_id).cloned()
    }

    async fn enter(
        &self,
        port: &'static str,
        operation: &'static str,
        mutates: bool,
    ) -> Result<Call, PortError> {
        let call = Call {
            port,
            operation,
            mutates,
        };
        match self.chaos.before(call).await {
            Some(error) => Err(error),
            None => Ok(call),
        }
    }

    fn leave(&self, call: Call) {
        self.chaos.after(call);
    }
}

/// A clock that only moves when told (or follows a [`super::sim::Sim`]).
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Mutex::new(start))
    }

    pub fn advance(&self, seconds: f64) {
        let mut now = lock(&self.0);
        *now += time::Duration::seconds_f64(seconds);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *lock(&self.0)
    }
}

impl Clock for super::sim::Sim {
    fn now(&self) -> OffsetDateTime {
        super::sim::Sim::now(self)
    }
}
