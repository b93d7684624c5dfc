//! The Cloud WAN state model: global networks, core networks with their policy versions, and
//! the resources' tags — Network Manager's behaviour without its wire format, so that the
//! model serves in-process as a fake of the service. Its errors are AWS's (not found,
//! conflict, access denied, validation); the wire layer renders them. This file holds the
//! records, their lookups and the networks; `attachments.rs` what moves an attachment, and
//! `tags.rs` the resources' tags.
//!
//! Transitions are lazy: a change records where an attachment is going and when it gets
//! there, and [`CloudWan::advance`] completes the transitions that are due.

use super::Settings;
use crate::api::ApiError;
use cwq_domain::cloudwan::{CoreNetworkPolicy, EvaluationOptions, Placement};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Default)]
pub struct CloudWan {
    pub settings: Settings,
    pub(super) global_networks: BTreeMap<String, GlobalNetwork>,
    pub(super) core_networks: BTreeMap<String, CoreNetwork>,
    pub(super) attachments: BTreeMap<String, AttachmentRecord>,
    /// Attachments under way, by id: kept apart so that a request looks only at these.
    pub(super) transitions: BTreeMap<String, Transition>,
    next_id: u64,
}

#[derive(Debug)]
pub struct GlobalNetwork {
    pub id: String,
    pub arn: String,
    pub description: Option<String>,
    pub created_at: f64,
    pub tags: Vec<Tag>,
}

#[derive(Debug)]
pub struct CoreNetwork {
    pub id: String,
    pub arn: String,
    pub global_network_id: String,
    pub owner: String,
    pub description: Option<String>,
    pub created_at: f64,
    pub tags: Vec<Tag>,
    /// Version n is at index n - 1.
    pub versions: Vec<PolicyVersion>,
    pub live: Option<u32>,
}

impl CoreNetwork {
    pub fn version(&self, id: u32) -> Option<&PolicyVersion> {
        self.versions.get(id.wrapping_sub(1) as usize)
    }

    pub fn live_version(&self) -> Option<&PolicyVersion> {
        self.live.and_then(|n| self.version(n))
    }

    pub fn latest_version(&self) -> Option<&PolicyVersion> {
        self.versions.last()
    }
}

#[derive(Debug)]
pub struct PolicyVersion {
    pub id: u32,
    pub document: String,
    pub policy: CoreNetworkPolicy,
    pub description: Option<String>,
    pub created_at: f64,
    pub executed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug)]
pub struct AttachmentRecord {
    pub id: String,
    pub core_network_id: String,
    pub owner: String,
    pub edge_location: String,
    pub resource_arn: String,
    pub subnet_arns: Vec<String>,
    /// The attachment's options as given.
    pub options: Value,
    pub state: &'static str,
    pub placement: Option<Placement>,
    pub tags: Vec<Tag>,
    /// A change waiting for the core network owner's acceptance.
    pub proposed: Option<Proposed>,
    pub created_at: f64,
    pub updated_at: f64,
}

#[derive(Debug, Clone)]
pub struct Proposed {
    pub tags: Vec<Tag>,
    pub placement: Placement,
}

#[derive(Debug, Clone)]
pub(super) struct Transition {
    /// Due at `started` + the configured delay, read when checked, so that a changed delay
    /// (or a lifted fault) applies to transitions already under way.
    pub(super) started: Instant,
    /// None: the attachment is deleted at the end.
    pub(super) to_state: Option<&'static str>,
    pub(super) placement: Option<Placement>,
}

/// What a Network Manager ARN names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    GlobalNetwork(String),
    CoreNetwork(String),
    Attachment(String),
}

/// A core network to create.
#[derive(Debug, Clone)]
pub struct NewCoreNetwork {
    pub global_network_id: String,
    pub description: Option<String>,
    pub tags: Vec<Tag>,
    /// Becomes version 1, LIVE at once.
    pub policy_document: Option<String>,
}

pub(super) fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0)
}

/// 17 hex digits that look like AWS's and never repeat: splitmix64 (a bijection) of a
/// counter, with the counter's low nibble on top.
fn mixed_hex(counter: u64) -> String {
    let mut z = counter.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    format!("{:017x}", u128::from(counter & 0xf) << 64 | u128::from(z))
}

impl CloudWan {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    pub(super) fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", mixed_hex(self.next_id))
    }

    pub(super) fn options(&self) -> EvaluationOptions {
        EvaluationOptions {
            unknown_segment: self.settings.unknown_segment,
        }
    }

    /// Completes every transition that is due.
    pub fn advance(&mut self, now: Instant) {
        if self.settings.stuck_transitions {
            return;
        }
        let settings = &self.settings;
        let delay = |id: &str| {
            let ms = settings.transition_delay_ms_by_attachment.get(id);
            Duration::from_millis(ms.copied().unwrap_or(settings.transition_delay_ms))
        };
        let due: Vec<String> = self
            .transitions
            .iter()
            .filter(|(id, t)| t.started + delay(id) <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let Some(transition) = self.transitions.remove(&id) else {
                continue;
            };
            self.complete(&id, transition);
        }
    }

    fn complete(&mut self, id: &str, transition: Transition) {
        let Some(state) = transition.to_state else {
            self.attachments.remove(id);
            return;
        };
        let Some(record) = self.attachments.get_mut(id) else {
            return;
        };
        record.state = state;
        if transition.placement.is_some() {
            record.placement = transition.placement;
        }
        record.updated_at = now_epoch();
    }

    // ---- global and core networks ------------------------------------------------------

    pub fn create_global_network(
        &mut self,
        account: &str,
        description: Option<String>,
        tags: Vec<Tag>,
    ) -> &GlobalNetwork {
        let id = self.new_id("global-network");
        let network = GlobalNetwork {
            arn: format!("arn:aws:networkmanager::{account}:global-network/{id}"),
            id: id.clone(),
            description,
            created_at: now_epoch(),
            tags,
        };
        self.global_networks.entry(id).or_insert(network)
    }

    pub fn global_networks(&self) -> impl Iterator<Item = &GlobalNetwork> {
        self.global_networks.values()
    }

    pub fn global_network(&self, id: &str) -> Result<&GlobalNetwork, ApiError> {
        found(&self.global_networks, "global-network", id)
    }

    /// A core network owned by `account`; with a policy document, that is its LIVE version 1.
    pub fn create_core_network(
        &mut self,
        account: &str,
        new: NewCoreNetwork,
    ) -> Result<&CoreNetwork, ApiError> {
        self.global_network(&new.global_network_id)?;
        let id = self.new_id("core-network");
        let mut core = CoreNetwork {
            arn: format!("arn:aws:networkmanager::{account}:core-network/{id}"),
            id: id.clone(),
            global_network_id: new.global_network_id,
            owner: account.to_string(),
            description: new.description,
            created_at: now_epoch(),
            tags: new.tags,
            versions: Vec::new(),
            live: None,
        };
        if let Some(document) = new.policy_document {
            let version = new_version(1, document, None)?;
            core.versions.push(PolicyVersion {
                executed: true,
                ..version
            });
            core.live = Some(1);
        }
        Ok(self.core_networks.entry(id).or_insert(core))
    }

    pub fn core_networks(&self) -> impl Iterator<Item = &CoreNetwork> {
        self.core_networks.values()
    }

    pub fn core(&self, id: &str) -> Result<&CoreNetwork, ApiError> {
        found(&self.core_networks, "core-network", id)
    }

    pub fn attachment(&self, id: &str) -> Result<&AttachmentRecord, ApiError> {
        found(&self.attachments, "attachment", id)
    }

    pub fn attachments(&self) -> impl Iterator<Item = &AttachmentRecord> {
        self.attachments.values()
    }

    /// The core network, for a change only its owner may make.
    pub(super) fn owned_core(&mut self, account: &str, id: &str) -> Result<&mut CoreNetwork, ApiError> {
        let core = self
            .core_networks
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found("core-network", id))?;
        if core.owner != account {
            return Err(ApiError::access_denied(format!(
                "account {account} does not own core network {}",
                core.id
            )));
        }
        Ok(core)
    }

    /// A new policy version, LATEST until its change set is executed. The answer is the core
    /// network, the new version its latest.
    pub fn put_core_network_policy(
        &mut self,
        account: &str,
        id: &str,
        document: String,
        description: Option<String>,
    ) -> Result<&CoreNetwork, ApiError> {
        let core = self.owned_core(account, id)?;
        let number = core.versions.len() as u32 + 1;
        core.versions.push(new_version(number, document, description)?);
        self.core(id)
    }

    pub(super) fn live_policy(&self, core_network_id: &str) -> Result<&CoreNetworkPolicy, ApiError> {
        let core = self.core(core_network_id)?;
        core.live_version().map(|v| &v.policy).ok_or_else(|| {
            ApiError::validation(
                "Other",
                format!("Core network state is invalid. core network id: {core_network_id}"),
            )
        })
    }

    // ---- ARNs ----------------------------------------------------------------------------

    /// Finds what an ARN names. Attachment ARNs carry the owner's account, or, behind the
    /// switch, the core network owner's.
    pub fn resolve_arn(&self, arn: &str) -> Result<Resource, ApiError> {
        let invalid = || {
            ApiError::validation(
                "FieldValidationFailed",
                format!("{arn} is not a Network Manager ARN"),
            )
        };
        let rest = arn.strip_prefix("arn:aws:networkmanager::").ok_or_else(invalid)?;
        let (account, resource) = rest.split_once(':').ok_or_else(invalid)?;
        let (kind, id) = resource.split_once('/').ok_or_else(invalid)?;
        match kind {
            "attachment" => {
                let record = self.attachment(id)?;
                let core_owner = &self.core(&record.core_network_id)?.owner;
                let accepted =
                    account == record.owner || (self.settings.accept_core_owner_arn && account == core_owner);
                if !accepted {
                    return Err(ApiError::not_found("attachment", arn));
                }
                Ok(Resource::Attachment(id.to_string()))
            }
            "core-network" if self.core_networks.get(id).is_some_and(|c| c.arn == arn) => {
                Ok(Resource::CoreNetwork(id.into()))
            }
            "global-network" if self.global_networks.get(id).is_some_and(|g| g.arn == arn) => {
                Ok(Resource::GlobalNetwork(id.into()))
            }
            "core-network" | "global-network" => Err(ApiError::not_found(kind, arn)),
            _ => Err(invalid()),
        }
    }
}

/// The record `id` of `records`, or AWS's not-found error for a `kind` of that id.
fn found<'a, T>(records: &'a BTreeMap<String, T>, kind: &str, id: &str) -> Result<&'a T, ApiError> {
    records.get(id).ok_or_else(|| ApiError::not_found(kind, id))
}

fn new_version(id: u32, document: String, description: Option<String>) -> Result<PolicyVersion, ApiError> {
    let policy = CoreNetworkPolicy::from_json(&document).map_err(|e| {
        ApiError::policy(vec![
            json!({"ErrorCode": "INVALID_POLICY", "Message": e.to_string(), "Path": ""}),
        ])
    })?;
    Ok(PolicyVersion {
        id,
        document,
        policy,
        description,
        created_at: now_epoch(),
        executed: false,
    })
}
