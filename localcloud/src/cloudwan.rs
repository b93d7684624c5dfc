//! The Cloud WAN emulator: Network Manager's restJson1 API for global networks, core networks,
//! their policies and VPC attachments, wire-exact per the service model (docs/aws-behaviour.md).
//!
//! Placement uses cwq-core's evaluator. Transitions are lazy: a tag change records where the
//! attachment is going and when it gets there, and every request first completes the
//! transitions that are due. A zero delay therefore shows UPDATING until the next request.

use crate::api::{ApiError, ApiRequest, ApiResponse};
use cwq_domain::cloudwan::{
    Attachment as Facts, CoreNetworkPolicy, EvaluationOptions, Placement, UnknownSegment,
};
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Behaviour that AWS leaves undocumented or that tests need to steer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// How long UPDATING / CREATING / DELETING last.
    pub transition_delay_ms: u64,
    /// TagResource, UntagResource, Accept, Reject and Delete answer ConflictException while the
    /// attachment is in a transition.
    pub conflict_during_transition: bool,
    /// Also accept attachment ARNs built with the core network owner's account (docs/aws-behaviour.md).
    pub accept_core_owner_arn: bool,
    /// Whether the core network owner's own tag changes wait for acceptance when the segment
    /// requires it [unverified]; other accounts' always do.
    pub owner_changes_need_acceptance: bool,
    pub unknown_segment: UnknownSegment,
    /// RejectAttachment on a tag change waiting for acceptance: the attachment becomes
    /// REJECTED (the pessimistic reading: Terraform waits for REJECTED, "to be detached"), or,
    /// when false, returns to AVAILABLE in its segment [unverified either way].
    pub rejected_tag_change_detaches: bool,
    /// ListAttachments includes each attachment's Tags (undocumented; GetVpcAttachment and
    /// ListTagsForResource do). Default false: the reading that fails protection open.
    pub list_attachments_include_tags: bool,
    /// Transitions never complete (fault injection).
    pub stuck_transitions: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            transition_delay_ms: 1000,
            conflict_during_transition: true,
            accept_core_owner_arn: false,
            owner_changes_need_acceptance: true,
            unknown_segment: UnknownSegment::FallThrough,
            rejected_tag_change_detaches: true,
            list_attachments_include_tags: false,
            stuck_transitions: false,
        }
    }
}

#[derive(Debug, Default)]
pub struct CloudWan {
    pub settings: Settings,
    global_networks: BTreeMap<String, GlobalNetwork>,
    core_networks: BTreeMap<String, CoreNetwork>,
    attachments: BTreeMap<String, AttachmentRecord>,
    /// Attachments under way, by id: kept apart so that a request looks only at these.
    transitions: BTreeMap<String, Transition>,
    next_id: u64,
}

#[derive(Debug)]
struct GlobalNetwork {
    id: String,
    arn: String,
    description: Option<String>,
    created_at: f64,
    tags: Vec<Tag>,
}

#[derive(Debug)]
struct CoreNetwork {
    id: String,
    arn: String,
    global_network_id: String,
    owner: String,
    description: Option<String>,
    created_at: f64,
    tags: Vec<Tag>,
    versions: Vec<PolicyVersion>,
    live: Option<u32>,
}

#[derive(Debug)]
struct PolicyVersion {
    id: u32,
    document: String,
    policy: CoreNetworkPolicy,
    description: Option<String>,
    created_at: f64,
    executed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug)]
struct AttachmentRecord {
    id: String,
    core_network_id: String,
    owner: String,
    edge_location: String,
    resource_arn: String,
    subnet_arns: Vec<String>,
    options: Value,
    state: &'static str,
    placement: Option<Placement>,
    tags: Vec<Tag>,
    proposed: Option<Proposed>,
    created_at: f64,
    updated_at: f64,
}

#[derive(Debug, Clone)]
struct Proposed {
    tags: Vec<Tag>,
    placement: Placement,
}

#[derive(Debug, Clone)]
struct Transition {
    /// Due at `started` + the configured delay, read when checked, so that a changed delay
    /// (or a lifted fault) applies to transitions already under way.
    started: Instant,
    /// None: the attachment is deleted at the end.
    to_state: Option<&'static str>,
    placement: Option<Placement>,
}

const TRANSITIONAL: &[&str] = &["CREATING", "UPDATING", "DELETING", "PENDING_NETWORK_UPDATE"];

fn now_epoch() -> f64 {
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

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", mixed_hex(self.next_id))
    }

    fn options(&self) -> EvaluationOptions {
        EvaluationOptions {
            unknown_segment: self.settings.unknown_segment,
        }
    }

    /// Completes every transition that is due.
    pub fn advance(&mut self, now: Instant) {
        if self.settings.stuck_transitions {
            return;
        }
        let delay = Duration::from_millis(self.settings.transition_delay_ms);
        let due: Vec<String> = self
            .transitions
            .iter()
            .filter(|(_, t)| t.started + delay <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let Some(transition) = self.transitions.remove(&id) else {
                continue;
            };
            match transition.to_state {
                None => {
                    self.attachments.remove(&id);
                }
                Some(state) => {
                    let Some(record) = self.attachments.get_mut(&id) else {
                        continue;
                    };
                    record.state = state;
                    if transition.placement.is_some() {
                        record.placement = transition.placement;
                    }
                    record.updated_at = now_epoch();
                }
            }
        }
    }

    /// The operation's name for counters and faults, or None when no route matches.
    pub fn operation_name(method: &str, raw_path: &str) -> Option<&'static str> {
        route(method, raw_path).map(|(op, _)| op.name())
    }

    pub fn handle(&mut self, request: &ApiRequest) -> ApiResponse {
        self.advance(Instant::now());
        let Some((operation, labels)) = route(&request.method, &request.raw_path) else {
            return ApiError::validation(
                "UnknownOperation",
                format!(
                    "no Network Manager operation at {} {}",
                    request.method, request.raw_path
                ),
            )
            .into_response();
        };
        let result = match operation {
            Op::CreateGlobalNetwork => self.create_global_network(request),
            Op::DescribeGlobalNetworks => self.describe_global_networks(request),
            Op::CreateCoreNetwork => self.create_core_network(request),
            Op::ListCoreNetworks => self.list_core_networks(request),
            Op::GetCoreNetwork => self.get_core_network(&labels[0]),
            Op::PutCoreNetworkPolicy => self.put_core_network_policy(request, &labels[0]),
            Op::GetCoreNetworkPolicy => self.get_core_network_policy(request, &labels[0]),
            Op::ExecuteCoreNetworkChangeSet => self.execute_change_set(request, &labels[0], &labels[1]),
            Op::CreateVpcAttachment => self.create_vpc_attachment(request),
            Op::GetVpcAttachment => self.get_vpc_attachment(&labels[0]),
            Op::ListAttachments => self.list_attachments(request),
            Op::DeleteAttachment => self.delete_attachment(request, &labels[0]),
            Op::AcceptAttachment => self.accept_attachment(request, &labels[0]),
            Op::RejectAttachment => self.reject_attachment(request, &labels[0]),
            Op::TagResource => self.tag_resource(request, &labels[0]),
            Op::UntagResource => self.untag_resource(request, &labels[0]),
            Op::ListTagsForResource => self.list_tags(&labels[0]),
        };
        result.map_or_else(ApiError::into_response, |value| ApiResponse::ok(&value))
    }

    // ---- global and core networks ------------------------------------------------------

    fn create_global_network(&mut self, request: &ApiRequest) -> Result<Value, ApiError> {
        let body = request.json()?;
        let id = self.new_id("global-network");
        let network = GlobalNetwork {
            arn: format!("arn:aws:networkmanager::{}:global-network/{id}", request.account),
            id: id.clone(),
            description: str_field(&body, "Description"),
            created_at: now_epoch(),
            tags: tags_field(&body, "Tags")?,
        };
        let view = global_network_json(&network);
        self.global_networks.insert(id, network);
        Ok(json!({"GlobalNetwork": view}))
    }

    fn describe_global_networks(&self, request: &ApiRequest) -> Result<Value, ApiError> {
        let wanted = request.query_values("globalNetworkIds");
        let items: Vec<&GlobalNetwork> = self
            .global_networks
            .values()
            .filter(|g| wanted.is_empty() || wanted.contains(&g.id.as_str()))
            .collect();
        page(request, &items, |g| global_network_json(g), "GlobalNetworks")
    }

    fn create_core_network(&mut self, request: &ApiRequest) -> Result<Value, ApiError> {
        let body = request.json()?;
        let global_network_id = str_field(&body, "GlobalNetworkId")
            .ok_or_else(|| ApiError::validation("FieldValidationFailed", "GlobalNetworkId is required"))?;
        if !self.global_networks.contains_key(&global_network_id) {
            return Err(ApiError::not_found("global-network", &global_network_id));
        }
        let id = self.new_id("core-network");
        let created_at = now_epoch();
        let mut core = CoreNetwork {
            arn: format!("arn:aws:networkmanager::{}:core-network/{id}", request.account),
            id: id.clone(),
            global_network_id,
            owner: request.account.clone(),
            description: str_field(&body, "Description"),
            created_at,
            tags: tags_field(&body, "Tags")?,
            versions: Vec::new(),
            live: None,
        };
        if let Some(document) = str_field(&body, "PolicyDocument") {
            let version = new_version(1, document, None)?;
            core.versions.push(PolicyVersion {
                executed: true,
                ..version
            });
            core.live = Some(1);
        }
        let view = core_network_json(&core);
        self.core_networks.insert(id, core);
        Ok(json!({"CoreNetwork": view}))
    }

    fn list_core_networks(&self, request: &ApiRequest) -> Result<Value, ApiError> {
        let items: Vec<&CoreNetwork> = self.core_networks.values().collect();
        let render = |c: &&CoreNetwork| {
            json!({"CoreNetworkId": c.id, "CoreNetworkArn": c.arn, "GlobalNetworkId": c.global_network_id,
                   "OwnerAccountId": c.owner, "State": "AVAILABLE", "Description": c.description, "Tags": c.tags})
        };
        page(request, &items, render, "CoreNetworks")
    }

    fn core(&self, id: &str) -> Result<&CoreNetwork, ApiError> {
        self.core_networks
            .get(id)
            .ok_or_else(|| ApiError::not_found("core-network", id))
    }

    fn get_core_network(&self, id: &str) -> Result<Value, ApiError> {
        Ok(json!({"CoreNetwork": core_network_json(self.core(id)?)}))
    }

    fn put_core_network_policy(&mut self, request: &ApiRequest, id: &str) -> Result<Value, ApiError> {
        let body = request.json()?;
        let document = str_field(&body, "PolicyDocument")
            .ok_or_else(|| ApiError::validation("FieldValidationFailed", "PolicyDocument is required"))?;
        let core = self
            .core_networks
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found("core-network", id))?;
        require_owner(core, &request.account)?;
        let number = core.versions.len() as u32 + 1;
        let version = new_version(number, document, str_field(&body, "Description"))?;
        core.versions.push(version);
        let core = self.core(id)?;
        Ok(json!({"CoreNetworkPolicy": policy_json(core, core.versions.last().expect("just pushed"))}))
    }

    fn get_core_network_policy(&self, request: &ApiRequest, id: &str) -> Result<Value, ApiError> {
        let core = self.core(id)?;
        let version = match (
            request.query_value("policyVersionId"),
            request.query_value("alias"),
        ) {
            (Some(number), _) => number
                .parse::<u32>()
                .ok()
                .and_then(|n| core.versions.get(n.wrapping_sub(1) as usize)),
            (None, Some("LATEST")) => core.versions.last(),
            // LIVE, and the undocumented default [unverified]: the live version.
            (None, Some("LIVE") | None) => core.live.and_then(|n| core.versions.get(n as usize - 1)),
            (None, Some(other)) => {
                return Err(ApiError::validation(
                    "FieldValidationFailed",
                    format!("alias {other:?} is not LIVE or LATEST"),
                ))
            }
        };
        let version = version.ok_or_else(|| ApiError::not_found("core-network-policy", id))?;
        Ok(json!({"CoreNetworkPolicy": policy_json(core, version)}))
    }

    fn execute_change_set(
        &mut self,
        request: &ApiRequest,
        id: &str,
        number: &str,
    ) -> Result<Value, ApiError> {
        let core = self
            .core_networks
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found("core-network", id))?;
        require_owner(core, &request.account)?;
        let n: u32 = number
            .parse()
            .ok()
            .filter(|n| (1..=core.versions.len() as u32).contains(n))
            .ok_or_else(|| ApiError::not_found("core-network-policy-version", number))?;
        core.versions[n as usize - 1].executed = true;
        core.live = Some(n);
        // The new policy applies to every attachment of the core network.
        let ids: Vec<String> = self
            .attachments
            .values()
            .filter(|a| a.core_network_id == id && a.state == "AVAILABLE")
            .map(|a| a.id.clone())
            .collect();
        for attachment_id in ids {
            let placement = self.place(&attachment_id, None)?;
            self.start_transition(&attachment_id, "UPDATING", Some(placement));
        }
        Ok(json!({}))
    }

    fn live_policy(&self, core_network_id: &str) -> Result<&CoreNetworkPolicy, ApiError> {
        let core = self.core(core_network_id)?;
        core.live
            .and_then(|n| core.versions.get(n as usize - 1))
            .map(|v| &v.policy)
            .ok_or_else(|| {
                ApiError::validation(
                    "Other",
                    format!("Core network state is invalid. core network id: {core_network_id}"),
                )
            })
    }

    // ---- attachments ---------------------------------------------------------------------

    fn create_vpc_attachment(&mut self, request: &ApiRequest) -> Result<Value, ApiError> {
        let body = request.json()?;
        let required = |key: &str| {
            str_field(&body, key)
                .ok_or_else(|| ApiError::validation("FieldValidationFailed", format!("{key} is required")))
        };
        let core_network_id = required("CoreNetworkId")?;
        let vpc_arn = required("VpcArn")?;
        let subnet_arns: Vec<String> = body["SubnetArns"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if subnet_arns.is_empty() {
            return Err(ApiError::validation(
                "FieldValidationFailed",
                "SubnetArns is required",
            ));
        }
        // arn:aws:ec2:<region>:<account>:vpc/vpc-…
        let parts: Vec<&str> = vpc_arn.split(':').collect();
        let (Some(region), Some(owner), Some(resource)) = (parts.get(3), parts.get(4), parts.get(5)) else {
            return Err(ApiError::validation(
                "FieldValidationFailed",
                format!("{vpc_arn} is not a VPC ARN"),
            ));
        };
        if parts.len() != 6 || !resource.starts_with("vpc/vpc-") || region.is_empty() || owner.len() != 12 {
            return Err(ApiError::validation(
                "FieldValidationFailed",
                format!("{vpc_arn} is not a VPC ARN"),
            ));
        }
        let core_owner = self.core(&core_network_id)?.owner.clone();
        let id = self.new_id("attachment");
        let now = now_epoch();
        let record = AttachmentRecord {
            id: id.clone(),
            core_network_id,
            owner: (*owner).to_string(),
            edge_location: (*region).to_string(),
            resource_arn: vpc_arn.clone(),
            subnet_arns,
            options: body.get("Options").cloned().unwrap_or_else(|| json!({})),
            state: "CREATING",
            placement: None,
            tags: tags_field(&body, "Tags")?,
            proposed: None,
            created_at: now,
            updated_at: now,
        };
        self.attachments.insert(id.clone(), record);
        let placement = self.place(&id, None)?;
        let needs_acceptance = matches!(
            placement,
            Placement::Segment {
                acceptance_required: true,
                ..
            }
        );
        if needs_acceptance && request.account != core_owner {
            let record = self.attachment_mut(&id)?;
            record.state = "PENDING_ATTACHMENT_ACCEPTANCE";
            record.proposed = Some(Proposed {
                tags: record.tags.clone(),
                placement,
            });
        } else {
            self.start_transition(&id, "CREATING", Some(placement));
        }
        Ok(json!({"VpcAttachment": self.vpc_attachment_json(self.attachment(&id)?)}))
    }

    fn attachment(&self, id: &str) -> Result<&AttachmentRecord, ApiError> {
        self.attachments
            .get(id)
            .ok_or_else(|| ApiError::not_found("attachment", id))
    }

    fn attachment_mut(&mut self, id: &str) -> Result<&mut AttachmentRecord, ApiError> {
        self.attachments
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found("attachment", id))
    }

    /// Where the LIVE policy puts the attachment, with `tags` instead of its own if given.
    fn place(&self, id: &str, tags: Option<&[Tag]>) -> Result<Placement, ApiError> {
        let record = self.attachment(id)?;
        let policy = self.live_policy(&record.core_network_id)?;
        let tags = tags.unwrap_or(&record.tags);
        let facts = Facts {
            attachment_type: "vpc".into(),
            owner_account: record.owner.clone(),
            edge_location: record.edge_location.clone(),
            resource_id: record
                .resource_arn
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            tags: tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
        };
        Ok(policy.evaluate(&facts, self.options()).placement)
    }

    /// `during` (CREATING, UPDATING) now; AVAILABLE in `placement` after the delay.
    fn start_transition(&mut self, id: &str, during: &'static str, placement: Option<Placement>) {
        if let Some(record) = self.attachments.get_mut(id) {
            record.state = during;
            record.updated_at = now_epoch();
            let transition = Transition {
                started: Instant::now(),
                to_state: Some("AVAILABLE"),
                placement,
            };
            self.transitions.insert(id.to_string(), transition);
        }
    }

    fn get_vpc_attachment(&self, id: &str) -> Result<Value, ApiError> {
        Ok(json!({"VpcAttachment": self.vpc_attachment_json(self.attachment(id)?)}))
    }

    fn list_attachments(&self, request: &ApiRequest) -> Result<Value, ApiError> {
        let filter = |key: &str| request.query_value(key);
        let items: Vec<&AttachmentRecord> = self
            .attachments
            .values()
            .filter(|a| filter("coreNetworkId").is_none_or(|v| v == a.core_network_id))
            .filter(|_| filter("attachmentType").is_none_or(|v| v == "VPC"))
            .filter(|a| filter("edgeLocation").is_none_or(|v| v == a.edge_location))
            .filter(|a| filter("state").is_none_or(|v| v == a.state))
            .collect();
        // Whether list results carry tags is undocumented: by default they do not, so that
        // nothing may read protection from them (docs/aws-behaviour.md).
        let with_tags = self.settings.list_attachments_include_tags;
        page(
            request,
            &items,
            |a| {
                let mut item = self.attachment_json(a);
                if !with_tags {
                    if let Some(map) = item.as_object_mut() {
                        map.remove("Tags");
                    }
                }
                item
            },
            "Attachments",
        )
    }

    /// Mutations of an attachment: the caller must own it or its core network, and it must
    /// not be in a transition.
    fn check_mutation(&self, request: &ApiRequest, id: &str) -> Result<bool, ApiError> {
        let record = self.attachment(id)?;
        let core_owner = &self.core(&record.core_network_id)?.owner;
        let is_core_owner = &request.account == core_owner;
        if !is_core_owner && request.account != record.owner {
            return Err(ApiError::access_denied(format!(
                "account {} owns neither attachment {id} nor its core network",
                request.account
            )));
        }
        if self.settings.conflict_during_transition && TRANSITIONAL.contains(&record.state) {
            return Err(ApiError::conflict(
                "attachment",
                id,
                format!(
                    "Attachment {id} is {}; updating it now can cause an inconsistent state",
                    record.state
                ),
            ));
        }
        Ok(is_core_owner)
    }

    /// Applies a new tag list: at once, or as a proposal waiting for acceptance.
    fn retag(&mut self, request: &ApiRequest, id: &str, tags: Vec<Tag>) -> Result<(), ApiError> {
        let is_core_owner = self.check_mutation(request, id)?;
        if self.attachment(id)?.state == "PENDING_TAG_ACCEPTANCE" {
            return Err(ApiError::conflict(
                "attachment",
                id,
                format!("Attachment {id} has a tag change waiting for acceptance"),
            ));
        }
        let placement = self.place(id, Some(&tags))?;
        let record = self.attachment(id)?;
        // A change during a move re-targets the move, even back to where it started.
        let moving = self.transitions.contains_key(id);
        if Some(&placement) == record.placement.as_ref() && !moving {
            self.attachment_mut(id)?.tags = tags;
            return Ok(());
        }
        let acceptance = matches!(
            placement,
            Placement::Segment {
                acceptance_required: true,
                ..
            }
        );
        if acceptance && (!is_core_owner || self.settings.owner_changes_need_acceptance) {
            let record = self.attachment_mut(id)?;
            record.state = "PENDING_TAG_ACCEPTANCE";
            record.proposed = Some(Proposed { tags, placement });
            record.updated_at = now_epoch();
            return Ok(());
        }
        self.attachment_mut(id)?.tags = tags;
        self.start_transition(id, "UPDATING", Some(placement));
        Ok(())
    }

    /// Accepting and rejecting are the core network owner's.
    fn require_core_owner(&self, request: &ApiRequest, id: &str, verb: &str) -> Result<(), ApiError> {
        let core_owner = &self.core(&self.attachment(id)?.core_network_id)?.owner;
        if &request.account != core_owner {
            return Err(ApiError::access_denied(format!(
                "only the core network owner {core_owner} may {verb} {id}"
            )));
        }
        Ok(())
    }

    fn accept_attachment(&mut self, request: &ApiRequest, id: &str) -> Result<Value, ApiError> {
        self.require_core_owner(request, id, "accept")?;
        let record = self.attachment(id)?;
        let state = record.state;
        let proposed = record.proposed.clone();
        match (state, proposed) {
            ("PENDING_ATTACHMENT_ACCEPTANCE", Some(p)) => {
                self.attachment_mut(id)?.proposed = None;
                self.start_transition(id, "CREATING", Some(p.placement));
            }
            ("PENDING_TAG_ACCEPTANCE", Some(p)) => {
                let record = self.attachment_mut(id)?;
                record.tags = p.tags;
                record.proposed = None;
                self.start_transition(id, "UPDATING", Some(p.placement));
            }
            _ => {
                return Err(ApiError::validation(
                    "Other",
                    format!("Attachment {id} is {state}, not pending acceptance"),
                ))
            }
        }
        Ok(json!({"Attachment": self.attachment_json(self.attachment(id)?)}))
    }

    fn reject_attachment(&mut self, request: &ApiRequest, id: &str) -> Result<Value, ApiError> {
        self.require_core_owner(request, id, "reject")?;
        let detaches = self.settings.rejected_tag_change_detaches;
        let record = self.attachment_mut(id)?;
        match record.state {
            "PENDING_ATTACHMENT_ACCEPTANCE" => record.state = "REJECTED",
            // What AWS does here is undocumented (docs/aws-behaviour.md): by default the
            // pessimistic reading, the attachment is rejected and leaves its segment.
            "PENDING_TAG_ACCEPTANCE" if detaches => {
                record.state = "REJECTED";
                record.placement = None;
            }
            "PENDING_TAG_ACCEPTANCE" => record.state = "AVAILABLE",
            state => {
                return Err(ApiError::validation(
                    "Other",
                    format!("Attachment {id} is {state}, not pending acceptance"),
                ))
            }
        }
        record.proposed = None;
        record.updated_at = now_epoch();
        Ok(json!({"Attachment": self.attachment_json(self.attachment(id)?)}))
    }

    fn delete_attachment(&mut self, request: &ApiRequest, id: &str) -> Result<Value, ApiError> {
        self.check_mutation(request, id)?;
        let record = self.attachment_mut(id)?;
        record.state = "DELETING";
        record.updated_at = now_epoch();
        let transition = Transition {
            started: Instant::now(),
            to_state: None,
            placement: None,
        };
        self.transitions.insert(id.to_string(), transition);
        Ok(json!({"Attachment": self.attachment_json(self.attachment(id)?)}))
    }

    // ---- tags ----------------------------------------------------------------------------

    /// Finds what an ARN names: `(kind, id)`. Attachment ARNs carry the owner's account, or,
    /// behind the switch, the core network owner's.
    fn resolve_arn(&self, encoded: &str) -> Result<(&'static str, String), ApiError> {
        let arn = percent_decode_str(encoded).decode_utf8_lossy().to_string();
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
                    return Err(ApiError::not_found("attachment", &arn));
                }
                Ok(("attachment", id.to_string()))
            }
            "core-network" if self.core_networks.get(id).is_some_and(|c| c.arn == arn) => {
                Ok(("core-network", id.into()))
            }
            "global-network" if self.global_networks.get(id).is_some_and(|g| g.arn == arn) => {
                Ok(("global-network", id.into()))
            }
            "core-network" | "global-network" => Err(ApiError::not_found(kind, &arn)),
            _ => Err(invalid()),
        }
    }

    fn tags_of(&mut self, kind: &str, id: &str) -> &mut Vec<Tag> {
        match kind {
            "core-network" => &mut self.core_networks.get_mut(id).expect("resolved").tags,
            "global-network" => &mut self.global_networks.get_mut(id).expect("resolved").tags,
            _ => &mut self.attachments.get_mut(id).expect("resolved").tags,
        }
    }

    fn tag_resource(&mut self, request: &ApiRequest, arn: &str) -> Result<Value, ApiError> {
        let (kind, id) = self.resolve_arn(arn)?;
        let body = request.json()?;
        if !body["Tags"].is_array() {
            return Err(ApiError::validation("FieldValidationFailed", "Tags is required"));
        }
        let new = tags_field(&body, "Tags")?;
        let mut tags = if kind == "attachment" {
            self.attachment(&id)?.tags.clone()
        } else {
            self.tags_of(kind, &id).clone()
        };
        for tag in new {
            match tags.iter_mut().find(|t| t.key == tag.key) {
                Some(existing) => existing.value = tag.value,
                None => tags.push(tag),
            }
        }
        if kind == "attachment" {
            self.retag(request, &id, tags)?;
        } else {
            *self.tags_of(kind, &id) = tags;
        }
        Ok(json!({}))
    }

    fn untag_resource(&mut self, request: &ApiRequest, arn: &str) -> Result<Value, ApiError> {
        let (kind, id) = self.resolve_arn(arn)?;
        let keys = request.query_values("tagKeys");
        if keys.is_empty() {
            return Err(ApiError::validation(
                "FieldValidationFailed",
                "TagKeys is required",
            ));
        }
        let keys: Vec<String> = keys.into_iter().map(str::to_string).collect();
        if kind == "attachment" {
            let mut tags = self.attachment(&id)?.tags.clone();
            tags.retain(|t| !keys.contains(&t.key));
            self.retag(request, &id, tags)?;
        } else {
            self.tags_of(kind, &id).retain(|t| !keys.contains(&t.key));
        }
        Ok(json!({}))
    }

    fn list_tags(&mut self, arn: &str) -> Result<Value, ApiError> {
        let (kind, id) = self.resolve_arn(arn)?;
        Ok(json!({"TagList": self.tags_of(kind, &id).clone()}))
    }

    // ---- views ---------------------------------------------------------------------------

    fn attachment_json(&self, a: &AttachmentRecord) -> Value {
        let core_arn = self.core_networks.get(&a.core_network_id).map(|c| c.arn.clone());
        let mut view = json!({
            "CoreNetworkId": a.core_network_id,
            "CoreNetworkArn": core_arn,
            "AttachmentId": a.id,
            "OwnerAccountId": a.owner,
            "AttachmentType": "VPC",
            "State": a.state,
            "EdgeLocation": a.edge_location,
            "ResourceArn": a.resource_arn,
            "Tags": a.tags,
            "CreatedAt": a.created_at,
            "UpdatedAt": a.updated_at,
        });
        match &a.placement {
            Some(Placement::Segment {
                segment, rule_number, ..
            }) => {
                view["SegmentName"] = json!(segment);
                view["AttachmentPolicyRuleNumber"] = json!(rule_number);
            }
            Some(Placement::NetworkFunctionGroup { name, rule_number }) => {
                view["NetworkFunctionGroupName"] = json!(name);
                view["AttachmentPolicyRuleNumber"] = json!(rule_number);
            }
            Some(Placement::Unassociated { .. }) | None => {}
        }
        if let Some(proposed) = &a.proposed {
            let mut change = json!({"Tags": proposed.tags});
            if let Some(segment) = proposed.placement.segment() {
                change["SegmentName"] = json!(segment);
            }
            if let Some(rule) = proposed.placement.rule_number() {
                change["AttachmentPolicyRuleNumber"] = json!(rule);
            }
            view["ProposedSegmentChange"] = change;
        }
        view
    }

    fn vpc_attachment_json(&self, a: &AttachmentRecord) -> Value {
        json!({"Attachment": self.attachment_json(a), "SubnetArns": a.subnet_arns, "Options": a.options})
    }
}

fn require_owner(core: &CoreNetwork, account: &str) -> Result<(), ApiError> {
    if core.owner == account {
        Ok(())
    } else {
        Err(ApiError::access_denied(format!(
            "account {account} does not own core network {}",
            core.id
        )))
    }
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

fn global_network_json(g: &GlobalNetwork) -> Value {
    json!({"GlobalNetworkId": g.id, "GlobalNetworkArn": g.arn, "Description": g.description,
           "CreatedAt": g.created_at, "State": "AVAILABLE", "Tags": g.tags})
}

fn core_network_json(c: &CoreNetwork) -> Value {
    let live = c.live.and_then(|n| c.versions.get(n as usize - 1));
    let segments: Vec<Value> = live
        .map(|v| {
            v.policy
                .segments
                .iter()
                .map(|s| json!({"Name": s.name, "EdgeLocations": [], "SharedSegments": []}))
                .collect()
        })
        .unwrap_or_default();
    json!({"GlobalNetworkId": c.global_network_id, "CoreNetworkId": c.id, "CoreNetworkArn": c.arn,
           "Description": c.description, "CreatedAt": c.created_at, "State": "AVAILABLE",
           "Segments": segments, "Tags": c.tags})
}

fn policy_json(core: &CoreNetwork, v: &PolicyVersion) -> Value {
    let alias = if core.live == Some(v.id) {
        Some("LIVE")
    } else if core.versions.last().is_some_and(|last| last.id == v.id) {
        Some("LATEST")
    } else {
        None
    };
    let state = if v.executed {
        "EXECUTION_SUCCEEDED"
    } else {
        "READY_TO_EXECUTE"
    };
    json!({"CoreNetworkId": core.id, "PolicyVersionId": v.id, "Alias": alias, "Description": v.description,
           "CreatedAt": v.created_at, "ChangeSetState": state, "PolicyErrors": [], "PolicyDocument": v.document})
}

fn str_field(body: &Value, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Tags as the model limits them: key 1–128 characters, value at most 256.
fn tags_field(body: &Value, key: &str) -> Result<Vec<Tag>, ApiError> {
    let Some(list) = body.get(key) else {
        return Ok(Vec::new());
    };
    let tags: Vec<Tag> = serde_json::from_value(list.clone())
        .map_err(|e| ApiError::validation("FieldValidationFailed", format!("{key}: {e}")))?;
    for tag in &tags {
        let key_len = tag.key.chars().count();
        if !(1..=128).contains(&key_len) || tag.value.chars().count() > 256 {
            return Err(ApiError::validation(
                "FieldValidationFailed",
                format!(
                    "tag {:?}: keys have 1 to 128 characters and values at most 256",
                    tag.key
                ),
            ));
        }
    }
    Ok(tags)
}

/// `maxResults` (1–500) and an opaque `nextToken` (the index of the next item); only the
/// page's items are rendered.
fn page<T>(
    request: &ApiRequest,
    items: &[T],
    render: impl Fn(&T) -> Value,
    key: &str,
) -> Result<Value, ApiError> {
    let max = match request.query_value("maxResults") {
        None => 500,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| {
                ApiError::validation("FieldValidationFailed", "maxResults must be between 1 and 500")
            })?,
    };
    let start = match request.query_value("nextToken") {
        None => 0,
        Some(token) => token
            .strip_prefix("cwq-page-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| ApiError::validation("FieldValidationFailed", "nextToken is not valid"))?,
    };
    let end = (start + max).min(items.len());
    let rendered: Vec<Value> = items[start..end].iter().map(render).collect();
    let mut response = json!({ key: rendered });
    if end < items.len() {
        response["NextToken"] = json!(format!("cwq-page-{end}"));
    }
    Ok(response)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    CreateGlobalNetwork,
    DescribeGlobalNetworks,
    CreateCoreNetwork,
    ListCoreNetworks,
    GetCoreNetwork,
    PutCoreNetworkPolicy,
    GetCoreNetworkPolicy,
    ExecuteCoreNetworkChangeSet,
    CreateVpcAttachment,
    GetVpcAttachment,
    ListAttachments,
    DeleteAttachment,
    AcceptAttachment,
    RejectAttachment,
    TagResource,
    UntagResource,
    ListTagsForResource,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::CreateGlobalNetwork => "CreateGlobalNetwork",
            Self::DescribeGlobalNetworks => "DescribeGlobalNetworks",
            Self::CreateCoreNetwork => "CreateCoreNetwork",
            Self::ListCoreNetworks => "ListCoreNetworks",
            Self::GetCoreNetwork => "GetCoreNetwork",
            Self::PutCoreNetworkPolicy => "PutCoreNetworkPolicy",
            Self::GetCoreNetworkPolicy => "GetCoreNetworkPolicy",
            Self::ExecuteCoreNetworkChangeSet => "ExecuteCoreNetworkChangeSet",
            Self::CreateVpcAttachment => "CreateVpcAttachment",
            Self::GetVpcAttachment => "GetVpcAttachment",
            Self::ListAttachments => "ListAttachments",
            Self::DeleteAttachment => "DeleteAttachment",
            Self::AcceptAttachment => "AcceptAttachment",
            Self::RejectAttachment => "RejectAttachment",
            Self::TagResource => "TagResource",
            Self::UntagResource => "UntagResource",
            Self::ListTagsForResource => "ListTagsForResource",
        }
    }
}

/// Routes on the raw path: each label is one segment between slashes, still percent-encoded
/// (an ARN's `/` arrives as `%2F`), decoded here except for ARNs, which resolve_arn decodes.
fn route(method: &str, raw_path: &str) -> Option<(Op, Vec<String>)> {
    let path = raw_path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().to_string();
    let op = match (method, segments.as_slice()) {
        ("POST", ["global-networks"]) => (Op::CreateGlobalNetwork, vec![]),
        ("GET", ["global-networks"]) => (Op::DescribeGlobalNetworks, vec![]),
        ("POST", ["core-networks"]) => (Op::CreateCoreNetwork, vec![]),
        ("GET", ["core-networks"]) => (Op::ListCoreNetworks, vec![]),
        ("GET", ["core-networks", id]) => (Op::GetCoreNetwork, vec![decode(id)]),
        ("POST", ["core-networks", id, "core-network-policy"]) => {
            (Op::PutCoreNetworkPolicy, vec![decode(id)])
        }
        ("GET", ["core-networks", id, "core-network-policy"]) => (Op::GetCoreNetworkPolicy, vec![decode(id)]),
        ("POST", ["core-networks", id, "core-network-change-sets", version, "execute"]) => {
            (Op::ExecuteCoreNetworkChangeSet, vec![decode(id), decode(version)])
        }
        ("POST", ["vpc-attachments"]) => (Op::CreateVpcAttachment, vec![]),
        ("GET", ["vpc-attachments", id]) => (Op::GetVpcAttachment, vec![decode(id)]),
        ("GET", ["attachments"]) => (Op::ListAttachments, vec![]),
        ("DELETE", ["attachments", id]) => (Op::DeleteAttachment, vec![decode(id)]),
        ("POST", ["attachments", id, "accept"]) => (Op::AcceptAttachment, vec![decode(id)]),
        ("POST", ["attachments", id, "reject"]) => (Op::RejectAttachment, vec![decode(id)]),
        ("POST", ["tags", arn]) => (Op::TagResource, vec![(*arn).to_string()]),
        ("DELETE", ["tags", arn]) => (Op::UntagResource, vec![(*arn).to_string()]),
        ("GET", ["tags", arn]) => (Op::ListTagsForResource, vec![(*arn).to_string()]),
        _ => return None,
    };
    Some(op)
}

/// Mutating operations, for the log that proves a dry run changed nothing.
pub fn is_mutating(operation: &str) -> bool {
    !(operation.starts_with("Get") || operation.starts_with("List") || operation.starts_with("Describe"))
}
