//! One in-memory world behind every port: a Cloud WAN whose moves take time and which answers
//! ConflictException while an attachment is UPDATING (the pessimistic, AWS-like default), a
//! journal with DynamoDB's conditional writes, EC2 for the workloads, the events published
//! and the executions started. Every call passes through a [`Chaos`] first, which is where a
//! scheduler yields and where faults and crashes are injected.

use crate::audit::AuditEntry;
use crate::contract::ReleaseRequest;
use crate::error::PortError;
use crate::events::OutcomeEvent;
use crate::policy::StoredPolicy;
use crate::ports::{
    Clock, CloudWan, Events, Executions, Journal, LiveAttachment, SnapshotRequest, Started, Tags, Workloads,
};
use async_trait::async_trait;
use cwq_domain::budget::BudgetLedger;
use cwq_domain::cloudwan::{Attachment, CoreNetworkPolicy, EvaluationOptions, Placement};
use cwq_domain::lifecycle::{AttachmentItem, AttachmentRef, LiveState};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use time::OffsetDateTime;

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
    pub sightings: BTreeSet<(String, String)>,
    pub outcomes: BTreeMap<String, OutcomeEvent>,
    pub snapshot_sets: BTreeMap<String, Vec<String>>,
    pub cache: BTreeMap<String, String>,
    /// instance → (account, region, VPCs).
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

impl WorldState {
    fn options(&self) -> EvaluationOptions {
        EvaluationOptions::default()
    }

    fn place(&self, a: &AttachmentRef, tags: &Tags) -> Option<String> {
        let policy = self.policy.as_ref()?;
        let facts = Attachment::vpc(&a.owner_account, &a.edge_location, &a.vpc_id, tags.clone());
        policy
            .evaluate(&facts, self.options())
            .placement
            .segment()
            .map(str::to_string)
    }

    fn needs_acceptance(&self, a: &AttachmentRef, tags: &Tags) -> bool {
        let Some(policy) = self.policy.as_ref() else {
            return false;
        };
        let facts = Attachment::vpc(&a.owner_account, &a.edge_location, &a.vpc_id, tags.clone());
        matches!(
            policy.evaluate(&facts, self.options()).placement,
            Placement::Segment {
                acceptance_required: true,
                ..
            }
        )
    }

    /// Completes a transition that is due.
    fn refresh(&mut self, id: &str, now: OffsetDateTime) {
        let stuck = self.behaviour.stuck;
        if let Some(a) = self.attachments.get_mut(id) {
            if a.state == FakeState::Updating && !stuck && a.busy_until.is_some_and(|t| t <= now) {
                a.state = FakeState::Available;
                a.segment = a.next_segment.take();
                a.busy_until = None;
            }
        }
    }

    /// After a tag change: UPDATING toward where the policy places the new tags, or waiting for
    /// the owner's acceptance when that segment requires it.
    fn start_move(&mut self, id: &str, now: OffsetDateTime) {
        let seconds = self.behaviour.transition_seconds;
        let Some(a) = self.attachments.get(id).cloned() else {
            return;
        };
        let target = self.place(&a.attachment, &a.tags);
        let accept = self.needs_acceptance(&a.attachment, &a.tags) && target != a.segment;
        if let Some(a) = self.attachments.get_mut(id) {
            if accept {
                a.proposed = Some(a.tags.clone());
                a.state = FakeState::PendingTagAcceptance;
            } else {
                a.state = FakeState::Updating;
                a.busy_until = Some(now + time::Duration::seconds_f64(seconds));
                a.next_segment = target;
            }
        }
    }

    fn live(&self, id: &str) -> Result<LiveAttachment, PortError> {
        let a = self
            .attachments
            .get(id)
            .filter(|a| a.state != FakeState::Deleted)
            .ok_or_else(|| PortError::NotFound(format!("attachment {id}")))?;
        let r = &a.attachment;
        let (state, name) = match a.state {
            FakeState::Available => (LiveState::Available, "AVAILABLE"),
            FakeState::Updating => (LiveState::Busy, "UPDATING"),
            FakeState::PendingTagAcceptance => (LiveState::PendingTagAcceptance, "PENDING_TAG_ACCEPTANCE"),
            FakeState::Deleted => (LiveState::Gone, "DELETING"),
        };
        Ok(LiveAttachment {
            attachment_id: r.attachment_id.clone(),
            core_network_id: r.core_network_id.clone(),
            owner_account: r.owner_account.clone(),
            edge_location: r.edge_location.clone(),
            resource_arn: format!(
                "arn:{}:ec2:{}:{}:vpc/{}",
                r.partition, r.edge_location, r.owner_account, r.vpc_id
            ),
            state,
            state_name: name.into(),
            segment: a.segment.clone(),
            proposed_tags: a.proposed.clone(),
        })
    }

    /// A tag change by cwq: refused while Cloud WAN is UPDATING (when so configured).
    fn change_tags(
        &mut self,
        id: &str,
        now: OffsetDateTime,
        change: impl FnOnce(&mut Tags),
    ) -> Result<(), PortError> {
        self.refresh(id, now);
        let conflict = self.behaviour.conflict_while_updating;
        let a = self
            .attachments
            .get_mut(id)
            .filter(|a| a.state != FakeState::Deleted)
            .ok_or_else(|| PortError::NotFound(format!("attachment {id}")))?;
        if conflict && matches!(a.state, FakeState::Updating | FakeState::PendingTagAcceptance) {
            return Err(PortError::Busy(format!("{id} is {:?}", a.state)));
        }
        change(&mut a.tags);
        self.start_move(id, now);
        Ok(())
    }
}

#[async_trait]
impl CloudWan for World {
    async fn live_policy(&self, _core_network_id: &str) -> Result<CoreNetworkPolicy, PortError> {
        let call = self.enter("cloudwan", "GetCoreNetworkPolicy", false).await?;
        let policy = self
            .state()
            .policy
            .clone()
            .ok_or_else(|| PortError::Failed("no LIVE policy".into()));
        self.leave(call);
        policy
    }

    async fn attachment(&self, attachment_id: &str) -> Result<LiveAttachment, PortError> {
        let call = self.enter("cloudwan", "GetVpcAttachment", false).await?;
        let now = self.clock.now();
        let live = {
            let mut s = self.state();
            s.refresh(attachment_id, now);
            s.live(attachment_id)
        };
        self.leave(call);
        live
    }

    async fn find_vpc_attachment(
        &self,
        core_network_id: &str,
        vpc_id: &str,
        region: &str,
    ) -> Result<Option<LiveAttachment>, PortError> {
        let call = self.enter("cloudwan", "ListAttachments", false).await?;
        let found = {
            let s = self.state();
            let id = s
                .attachments
                .values()
                .find(|a| {
                    a.state != FakeState::Deleted
                        && a.attachment.vpc_id == vpc_id
                        && a.attachment.edge_location == region
                        && a.attachment.core_network_id == core_network_id
                })
                .map(|a| a.attachment.attachment_id.clone());
            id.map(|id| s.live(&id)).transpose()
        };
        self.leave(call);
        found
    }

    async fn tags(&self, attachment: &AttachmentRef) -> Result<Tags, PortError> {
        let call = self.enter("cloudwan", "ListTagsForResource", false).await?;
        let tags = {
            let s = self.state();
            s.attachments
                .get(&attachment.attachment_id)
                .filter(|a| a.state != FakeState::Deleted)
                .map(|a| a.tags.clone())
                .ok_or_else(|| PortError::NotFound(format!("attachment {}", attachment.attachment_id)))
        };
        self.leave(call);
        tags
    }

    async fn tag(&self, attachment: &AttachmentRef, tags: &Tags) -> Result<(), PortError> {
        let call = self.enter("cloudwan", "TagResource", true).await?;
        let now = self.clock.now();
        let id = &attachment.attachment_id;
        let result = {
            let mut s = self.state();
            let result = s.change_tags(id, now, |current| current.extend(tags.clone()));
            if result.is_ok() {
                s.network_calls
                    .push((id.clone(), format!("TagResource {tags:?}")));
            }
            result
        };
        if result.is_ok() {
            self.leave(call);
        }
        result
    }

    async fn untag(&self, attachment: &AttachmentRef, keys: &[String]) -> Result<(), PortError> {
        let call = self.enter("cloudwan", "UntagResource", true).await?;
        let now = self.clock.now();
        let id = &attachment.attachment_id;
        let result = {
            let mut s = self.state();
            let result = s.change_tags(id, now, |tags| tags.retain(|k, _| !keys.contains(k)));
            if result.is_ok() {
                s.network_calls
                    .push((id.clone(), format!("UntagResource {keys:?}")));
            }
            result
        };
        if result.is_ok() {
            self.leave(call);
        }
        result
    }

    async fn accept(&self, attachment_id: &str) -> Result<(), PortError> {
        let call = self.enter("cloudwan", "AcceptAttachment", true).await?;
        let now = self.clock.now();
        let result = {
            let mut s = self.state();
            let seconds = s.behaviour.transition_seconds;
            let placed = s
                .attachments
                .get(attachment_id)
                .filter(|a| a.state == FakeState::PendingTagAcceptance)
                .map(|a| s.place(&a.attachment, a.proposed.as_ref().unwrap_or(&a.tags)));
            match (placed, s.attachments.get_mut(attachment_id)) {
                (Some(target), Some(a)) => {
                    a.tags = a.proposed.take().unwrap_or_default();
                    a.state = FakeState::Updating;
                    a.busy_until = Some(now + time::Duration::seconds_f64(seconds));
                    a.next_segment = target;
                    s.network_calls
                        .push((attachment_id.to_string(), "AcceptAttachment".into()));
                    Ok(())
                }
                _ => Err(PortError::Failed(format!(
                    "{attachment_id} has nothing to accept"
                ))),
            }
        };
        if result.is_ok() {
            self.leave(call);
        }
        result
    }
}

#[async_trait]
impl Journal for World {
    async fn item(&self, attachment_id: &str) -> Result<Option<AttachmentItem>, PortError> {
        let call = self.enter("journal", "GetItem", false).await?;
        let item = self.state().items.get(attachment_id).cloned();
        self.leave(call);
        Ok(item)
    }

    async fn put_item(&self, item: &AttachmentItem) -> Result<AttachmentItem, PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        let stored = {
            let mut s = self.state();
            let current = s
                .items
                .get(&item.attachment.attachment_id)
                .map_or(0, |i| i.version);
            if current != item.version {
                return Err(PortError::Conflict(format!(
                    "{} is at version {current}, not {}",
                    item.attachment.attachment_id, item.version
                )));
            }
            let mut next = item.clone();
            next.version += 1;
            s.items
                .insert(next.attachment.attachment_id.clone(), next.clone());
            next
        };
        self.leave(call);
        Ok(stored)
    }

    async fn put_item_admitted(
        &self,
        item: &AttachmentItem,
        ledger: &BudgetLedger,
    ) -> Result<AttachmentItem, PortError> {
        let call = self.enter("journal", "TransactWriteItems", true).await?;
        let stored = {
            let mut s = self.state();
            let current = s
                .items
                .get(&item.attachment.attachment_id)
                .map_or(0, |i| i.version);
            if current != item.version || s.ledger.version != ledger.version {
                return Err(PortError::Conflict(
                    "transaction cancelled: a condition failed".into(),
                ));
            }
            let mut next = item.clone();
            next.version += 1;
            let mut spent = ledger.clone();
            spent.version += 1;
            s.ledger = spent;
            s.items
                .insert(next.attachment.attachment_id.clone(), next.clone());
            next
        };
        self.leave(call);
        Ok(stored)
    }

    async fn budget(&self) -> Result<BudgetLedger, PortError> {
        let call = self.enter("journal", "GetItem", false).await?;
        let ledger = self.state().ledger.clone();
        self.leave(call);
        Ok(ledger)
    }

    async fn active_policy(&self) -> Result<Option<StoredPolicy>, PortError> {
        let call = self.enter("journal", "GetItem", false).await?;
        let policy = self.state().response_policy.clone();
        self.leave(call);
        Ok(policy)
    }

    async fn apply_policy(&self, policy: &StoredPolicy) -> Result<(), PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        {
            let mut s = self.state();
            s.response_policies.push(policy.clone());
            s.response_policy = Some(policy.clone());
        }
        self.leave(call);
        Ok(())
    }

    async fn live_items(&self) -> Result<Vec<AttachmentItem>, PortError> {
        let call = self.enter("journal", "Query", false).await?;
        let now = self.clock.now();
        let items = self
            .state()
            .items
            .values()
            .filter(|i| i.is_live(now))
            .cloned()
            .collect();
        self.leave(call);
        Ok(items)
    }

    async fn all_items(&self) -> Result<Vec<AttachmentItem>, PortError> {
        let call = self.enter("journal", "Scan", false).await?;
        let items = self.state().items.values().cloned().collect();
        self.leave(call);
        Ok(items)
    }

    async fn record(&self, entries: &[AuditEntry]) -> Result<(), PortError> {
        if entries.is_empty() {
            return Ok(());
        }
        let call = self.enter("journal", "BatchWriteItem", true).await?;
        self.state().audit.extend_from_slice(entries);
        self.leave(call);
        Ok(())
    }

    async fn trail(&self, incident_id: &str) -> Result<Vec<AuditEntry>, PortError> {
        let call = self.enter("journal", "Query", false).await?;
        let mut trail: Vec<AuditEntry> = self
            .state()
            .audit
            .iter()
            .filter(|e| e.incident_id == incident_id)
            .cloned()
            .collect();
        trail.sort_by_key(|e| e.at);
        self.leave(call);
        Ok(trail)
    }

    async fn first_sighting(
        &self,
        finding_id: &str,
        updated_at: &str,
        _incident_id: &str,
    ) -> Result<bool, PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        let first = self
            .state()
            .sightings
            .insert((finding_id.to_string(), updated_at.to_string()));
        self.leave(call);
        Ok(first)
    }

    async fn record_outcome(&self, event: &OutcomeEvent) -> Result<OutcomeEvent, PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        let stored = self
            .state()
            .outcomes
            .entry(event.id.clone())
            .or_insert_with(|| event.clone())
            .clone();
        self.leave(call);
        Ok(stored)
    }

    async fn snapshots(&self, incident_id: &str) -> Result<Vec<String>, PortError> {
        let call = self.enter("journal", "GetItem", false).await?;
        let ids = self
            .state()
            .snapshot_sets
            .get(incident_id)
            .cloned()
            .unwrap_or_default();
        self.leave(call);
        Ok(ids)
    }

    async fn record_snapshots(&self, incident_id: &str, ids: &[String]) -> Result<(), PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        self.state()
            .snapshot_sets
            .insert(incident_id.to_string(), ids.to_vec());
        self.leave(call);
        Ok(())
    }

    async fn cached_attachment(
        &self,
        core: &str,
        region: &str,
        vpc_id: &str,
    ) -> Result<Option<String>, PortError> {
        let call = self.enter("journal", "GetItem", false).await?;
        let found = self
            .state()
            .cache
            .get(&format!("{core}#{region}#{vpc_id}"))
            .cloned();
        self.leave(call);
        Ok(found)
    }

    async fn cache_attachment(
        &self,
        core: &str,
        region: &str,
        vpc_id: &str,
        attachment_id: &str,
    ) -> Result<(), PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        self.state()
            .cache
            .insert(format!("{core}#{region}#{vpc_id}"), attachment_id.to_string());
        self.leave(call);
        Ok(())
    }
}

#[async_trait]
impl Workloads for World {
    async fn vpcs_of_instance(
        &self,
        _account: &str,
        _region: &str,
        instance_id: &str,
    ) -> Result<Vec<String>, PortError> {
        let call = self.enter("ec2", "DescribeInstances", false).await?;
        let vpcs = self
            .state()
            .instances
            .get(instance_id)
            .map(|(_, _, vpcs)| vpcs.clone())
            .ok_or_else(|| PortError::NotFound(format!("instance {instance_id}")));
        self.leave(call);
        vpcs
    }

    async fn find_snapshots(
        &self,
        _account: &str,
        _region: &str,
        description: &str,
        incident_id: &str,
    ) -> Result<Vec<String>, PortError> {
        let call = self.enter("ec2", "DescribeSnapshots", false).await?;
        let ids = self
            .state()
            .snapshots_taken
            .iter()
            .filter(|(_, r)| {
                r.description == description
                    && r.tags.get("cwq:incident").map(String::as_str) == Some(incident_id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        self.leave(call);
        Ok(ids)
    }

    async fn create_snapshots(
        &self,
        _account: &str,
        _region: &str,
        request: &SnapshotRequest,
    ) -> Result<Vec<String>, PortError> {
        let call = self.enter("ec2", "CreateSnapshots", true).await?;
        let ids = {
            let mut s = self.state();
            if let Some(error) = s.snapshot_failure.clone() {
                return Err(error);
            }
            let id = format!("snap-{:08x}", s.snapshots_taken.len() + 1);
            s.snapshots_taken.push((id.clone(), request.clone()));
            vec![id]
        };
        self.leave(call);
        Ok(ids)
    }
}

#[async_trait]
impl Events for World {
    async fn publish(&self, event: &OutcomeEvent) -> Result<(), PortError> {
        let call = self.enter("events", "PutEvents", true).await?;
        self.state().published.push(event.clone());
        self.leave(call);
        Ok(())
    }
}

#[async_trait]
impl Executions for World {
    async fn start_release(&self, name: &str, request: &ReleaseRequest) -> Result<Started, PortError> {
        let call = self.enter("states", "StartExecution", true).await?;
        let arn = self.release_arn(name);
        let new = {
            let mut s = self.state();
            let new = !s.executions.contains_key(&arn);
            if new {
                s.executions.insert(arn.clone(), true);
                s.release_requests.push((arn.clone(), request.clone()));
            }
            new
        };
        if new {
            let launcher = lock(&self.launcher).clone();
            if let Some(launch) = launcher {
                launch(arn.clone(), request.clone());
            }
        }
        self.leave(call);
        Ok(if new {
            Started::New(arn)
        } else {
            Started::Exists(arn)
        })
    }

    async fn is_running(&self, execution_arn: &str) -> Result<bool, PortError> {
        let call = self.enter("states", "DescribeExecution", false).await?;
        let running = self
            .state()
            .executions
            .get(execution_arn)
            .copied()
            .unwrap_or(false);
        self.leave(call);
        Ok(running)
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
