//! The ports: the few things the steps need from the world, as small traits. The AWS adapters
//! (crate cwq-aws) implement them with the SDK; the fakes (feature `fake`) in memory.

use crate::approval::ApprovalRequest;
use crate::audit::AuditEntry;
use crate::contract::ReleaseRequest;
use crate::error::PortError;
use crate::events::OutcomeEvent;
use crate::policy::StoredPolicy;
use crate::settings::Settings;
use async_trait::async_trait;
use cwq_domain::budget::BudgetLedger;
use cwq_domain::cloudwan::CoreNetworkPolicy;
use cwq_domain::finding::Workload;
use cwq_domain::lifecycle::{AttachmentItem, AttachmentRef, LiveState};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use time::OffsetDateTime;

pub type Tags = BTreeMap<String, String>;

/// A Cloud WAN attachment as GetVpcAttachment (or ListAttachments) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAttachment {
    pub attachment_id: String,
    pub core_network_id: String,
    pub owner_account: String,
    pub edge_location: String,
    /// The attached resource: `arn:<partition>:ec2:<region>:<account>:vpc/<vpc>`.
    pub resource_arn: String,
    pub state: LiveState,
    /// The state as Cloud WAN names it (`UPDATING`, …), for people.
    pub state_name: String,
    pub segment: Option<String>,
    /// With PENDING_TAG_ACCEPTANCE: the tags proposed.
    pub proposed_tags: Option<Tags>,
    /// The attachment's tags when the answer carried them (GetVpcAttachment does; whether
    /// ListAttachments does is not documented: docs/aws-behaviour.md). None: not carried, to
    /// be read with ListTagsForResource, never taken for "no tags".
    pub tags: Option<Tags>,
}

/// What a scan of the VPC attachments saw.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub attachments: Vec<LiveAttachment>,
    /// Its last page was the listing's last: it saw every VPC attachment there.
    pub complete: bool,
}

/// Network Manager, as the core network owner.
#[async_trait]
pub trait CloudWan: Send + Sync {
    /// The LIVE core network policy.
    async fn live_policy(&self, core_network_id: &str) -> Result<CoreNetworkPolicy, PortError>;
    /// GetVpcAttachment; `NotFound` when there is no such attachment.
    async fn attachment(&self, attachment_id: &str) -> Result<LiveAttachment, PortError>;
    /// The live VPC attachments in `region` on the core network (ListAttachments), page by
    /// page until the page that holds `vpc_id`'s (every page when none does): what the scan
    /// saw on the way is worth remembering.
    async fn scan_vpc_attachments(
        &self,
        core_network_id: &str,
        region: &str,
        vpc_id: &str,
    ) -> Result<Scan, PortError>;
    /// ListTagsForResource: the attachment's tags (where protection is read).
    async fn tags(&self, attachment: &AttachmentRef) -> Result<Tags, PortError>;
    /// TagResource: every tag given, in one call.
    async fn tag(&self, attachment: &AttachmentRef, tags: &Tags) -> Result<(), PortError>;
    /// UntagResource: every key given, in one call.
    async fn untag(&self, attachment: &AttachmentRef, keys: &[String]) -> Result<(), PortError>;
    /// AcceptAttachment: a tag change waiting for the core network owner.
    async fn accept(&self, attachment_id: &str) -> Result<(), PortError>;
}

/// The journal (one DynamoDB table).
#[async_trait]
pub trait Journal: Send + Sync {
    /// An attachment's item, read consistently.
    async fn item(&self, attachment_id: &str) -> Result<Option<AttachmentItem>, PortError>;
    /// Writes `item` if the stored version is still `item.version` (0: none stored yet) and
    /// returns it with the version bumped; `Conflict` when another write came first.
    async fn put_item(&self, item: &AttachmentItem) -> Result<AttachmentItem, PortError>;
    /// `put_item` of each of a plan's new quarantines and the budget ledger (also versioned)
    /// in one transaction: all are written, or none. Returns the items as stored.
    async fn put_items_admitted(
        &self,
        items: &[AttachmentItem],
        ledger: &BudgetLedger,
    ) -> Result<Vec<AttachmentItem>, PortError>;
    async fn budget(&self) -> Result<BudgetLedger, PortError>;
    /// The response policy `cwq policy apply` made active; None: none was applied.
    async fn active_policy(&self) -> Result<Option<StoredPolicy>, PortError>;
    /// Makes `policy` the active one, and keeps it under its version for the audit.
    async fn apply_policy(&self, policy: &StoredPolicy) -> Result<(), PortError>;
    /// Items with an open episode (a sparse index: cost grows with live quarantines only).
    async fn live_items(&self) -> Result<Vec<AttachmentItem>, PortError>;
    /// Every attachment item, for `cwq status --all`.
    async fn all_items(&self) -> Result<Vec<AttachmentItem>, PortError>;
    /// Appends to incidents' audit trails, in one batch.
    async fn record(&self, entries: &[AuditEntry]) -> Result<(), PortError>;
    /// An incident's audit trail, oldest first.
    async fn trail(&self, incident_id: &str) -> Result<Vec<AuditEntry>, PortError>;
    /// Records that this finding (id + updatedAt) was seen by this execution; false if another
    /// execution saw it before (the same execution again, retried: true).
    async fn first_sighting(
        &self,
        finding_id: &str,
        updated_at: &str,
        incident_id: &str,
        execution_arn: &str,
    ) -> Result<bool, PortError>;
    /// Stores an execution's outcome unless one is stored; returns the stored one.
    async fn record_outcome(&self, event: &OutcomeEvent) -> Result<OutcomeEvent, PortError>;
    /// The snapshot ids an incident took (empty: none yet).
    async fn snapshots(&self, incident_id: &str) -> Result<Vec<String>, PortError>;
    async fn record_snapshots(&self, incident_id: &str, ids: &[String]) -> Result<(), PortError>;
    /// An approval request by its id.
    async fn approval(&self, request_id: &str) -> Result<Option<ApprovalRequest>, PortError>;
    /// Writes `request` if the stored version is still `request.version` (0: none stored) and
    /// returns it with the version bumped; `Conflict` when another write came first.
    async fn put_approval(&self, request: &ApprovalRequest) -> Result<ApprovalRequest, PortError>;
    /// The request last opened for an attachment's move (answered or not), if any.
    async fn awaiting(&self, attachment_id: &str) -> Result<Option<String>, PortError>;
    async fn set_awaiting(&self, attachment_id: &str, request_id: &str) -> Result<(), PortError>;
    /// Every approval request (a scan, for `cwq status` and `cwq approve`).
    async fn approvals(&self) -> Result<Vec<ApprovalRequest>, PortError>;
    /// The attachment enrich last found for a VPC (a hint, checked before use).
    async fn cached_attachment(
        &self,
        core_network_id: &str,
        region: &str,
        vpc_id: &str,
    ) -> Result<Option<String>, PortError>;
    async fn cache_attachment(
        &self,
        core_network_id: &str,
        region: &str,
        vpc_id: &str,
        attachment_id: &str,
    ) -> Result<(), PortError>;
}

/// What a snapshot set is tagged and described with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRequest {
    pub instance_id: String,
    pub description: String,
    pub tags: Tags,
}

/// EC2, ECS and EKS in the workload's account and Region (through the workload role when it is
/// another account).
#[async_trait]
pub trait Workloads: Send + Sync {
    /// The VPCs a workload's network interfaces are in, looked up: an instance's or an
    /// interface's (DescribeNetworkInterfaces), an ECS task's
    /// (ecs:DescribeTasks, then its subnet's), an EKS cluster's (eks:DescribeCluster).
    /// `NotFound` for a workload that does not exist (any more).
    async fn vpcs_of(&self, workload: &Workload) -> Result<Vec<String>, PortError>;
    /// Snapshots already taken with this description and incident tag.
    async fn find_snapshots(
        &self,
        account: &str,
        region: &str,
        description: &str,
        incident_id: &str,
    ) -> Result<Vec<String>, PortError>;
    async fn create_snapshots(
        &self,
        account: &str,
        region: &str,
        request: &SnapshotRequest,
    ) -> Result<Vec<String>, PortError>;
}

/// AWS Organizations, read-only: where an account sits, for scope rules by OU.
#[async_trait]
pub trait Organizations: Send + Sync {
    /// The account's parents, its OU first and the root last (ListParents, repeated); empty
    /// for an account that is not in the organization.
    async fn ancestry(&self, account: &str) -> Result<Vec<String>, PortError>;
}

/// Where outcomes are published (EventBridge).
#[async_trait]
pub trait Events: Send + Sync {
    async fn publish(&self, event: &OutcomeEvent) -> Result<(), PortError>;
}

/// Security Hub, where GuardDuty's findings are aggregated: cwq's note on them.
#[async_trait]
pub trait SecurityHub: Send + Sync {
    /// BatchUpdateFindings in `region` on GuardDuty findings (a finding's ARN is its id in
    /// Security Hub): `note`, and the workflow status when given (`NOTIFIED`). Returns the
    /// findings Security Hub did not update, each with why.
    async fn note_findings(
        &self,
        region: &str,
        finding_arns: &[String],
        note: &str,
        workflow: Option<&str>,
    ) -> Result<Vec<String>, PortError>;
}

/// A release execution: started now, or started before under the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    New(String),
    Exists(String),
}

/// The release state machine's executions, and whether an execution still runs.
#[async_trait]
pub trait Executions: Send + Sync {
    /// Starts a release execution named `name` (idempotent: names are unique).
    async fn start_release(&self, name: &str, request: &ReleaseRequest) -> Result<Started, PortError>;
    async fn is_running(&self, execution_arn: &str) -> Result<bool, PortError>;
    /// SendTaskSuccess: an execution waiting on `token` goes on with `output`. False: it no
    /// longer waits (its task timed out or was stopped, or the token is not one).
    async fn answer_task(&self, token: &str, output: &str) -> Result<bool, PortError>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Everything a step runs against.
#[derive(Clone)]
pub struct Ports {
    pub cloud_wan: Arc<dyn CloudWan>,
    pub journal: Arc<dyn Journal>,
    pub workloads: Arc<dyn Workloads>,
    pub organizations: Arc<dyn Organizations>,
    pub events: Arc<dyn Events>,
    pub executions: Arc<dyn Executions>,
    pub security_hub: Arc<dyn SecurityHub>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    /// VPC → attachment, as this process last saw it (hints, checked before use).
    pub known: Arc<crate::known::KnownAttachments>,
}

impl fmt::Debug for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ports")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Ports {
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}
