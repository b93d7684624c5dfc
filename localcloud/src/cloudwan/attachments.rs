//! VPC attachments in the state model: creation, placement by the LIVE policy (again for
//! every attachment when a policy change is executed), tag-driven segment moves, acceptance
//! by the core network owner, deletion — each change a transition
//! (CREATING, UPDATING, DELETING) that completes after the configured delay, and each
//! mutation refused while one is under way when the settings say AWS would.

use super::model::{now_epoch, AttachmentRecord, CloudWan, Proposed, Tag, Transition};
use crate::api::ApiError;
use cwq_domain::cloudwan::{Attachment as Facts, Placement};
use serde_json::Value;
use std::time::Instant;

const TRANSITIONAL: &[&str] = &["CREATING", "UPDATING", "DELETING", "PENDING_NETWORK_UPDATE"];

/// `arn:aws:ec2:<region>:<account>:vpc/vpc-…`, checked: where an attachment of it lives and
/// who owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcArn {
    pub arn: String,
    pub region: String,
    pub owner: String,
}

impl VpcArn {
    pub fn parse(arn: &str) -> Result<Self, ApiError> {
        let parts: Vec<&str> = arn.split(':').collect();
        let (Some(region), Some(owner), Some(resource)) = (parts.get(3), parts.get(4), parts.get(5)) else {
            return Err(not_a_vpc_arn(arn));
        };
        if parts.len() != 6 || !resource.starts_with("vpc/vpc-") || region.is_empty() || owner.len() != 12 {
            return Err(not_a_vpc_arn(arn));
        }
        Ok(Self {
            arn: arn.to_string(),
            region: (*region).to_string(),
            owner: (*owner).to_string(),
        })
    }
}

fn not_a_vpc_arn(arn: &str) -> ApiError {
    ApiError::validation("FieldValidationFailed", format!("{arn} is not a VPC ARN"))
}

/// A VPC attachment to create.
#[derive(Debug, Clone)]
pub struct NewVpcAttachment {
    pub core_network_id: String,
    pub vpc: VpcArn,
    pub subnet_arns: Vec<String>,
    pub options: Value,
    pub tags: Vec<Tag>,
}

/// Whether the segment `placement` names makes changes wait for the core network owner.
fn requires_acceptance(placement: &Placement) -> bool {
    matches!(
        placement,
        Placement::Segment {
            acceptance_required: true,
            ..
        }
    )
}

impl CloudWan {
    /// Creates the attachment, CREATING; into a segment that requires acceptance, another
    /// account's attachment waits for the core network owner. The answer is its id.
    pub fn create_vpc_attachment(
        &mut self,
        account: &str,
        new: NewVpcAttachment,
    ) -> Result<String, ApiError> {
        let core_owner = self.core(&new.core_network_id)?.owner.clone();
        let id = self.new_id("attachment");
        let now = now_epoch();
        let record = AttachmentRecord {
            id: id.clone(),
            core_network_id: new.core_network_id,
            owner: new.vpc.owner,
            edge_location: new.vpc.region,
            resource_arn: new.vpc.arn,
            subnet_arns: new.subnet_arns,
            options: new.options,
            state: "CREATING",
            placement: None,
            tags: new.tags,
            proposed: None,
            created_at: now,
            updated_at: now,
        };
        self.attachments.insert(id.clone(), record);
        let placement = self.place(&id, None)?;
        if requires_acceptance(&placement) && account != core_owner {
            let record = self.attachment_mut(&id)?;
            record.state = "PENDING_ATTACHMENT_ACCEPTANCE";
            record.proposed = Some(Proposed {
                tags: record.tags.clone(),
                placement,
            });
        } else {
            self.start_transition(&id, "CREATING", Some(placement));
        }
        Ok(id)
    }

    pub(super) fn attachment_mut(&mut self, id: &str) -> Result<&mut AttachmentRecord, ApiError> {
        self.attachments
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found("attachment", id))
    }

    /// Makes `version` (its id as given) LIVE; every available attachment is placed anew.
    pub fn execute_change_set(&mut self, account: &str, id: &str, version: &str) -> Result<(), ApiError> {
        let core = self.owned_core(account, id)?;
        let n: u32 = version
            .parse()
            .ok()
            .filter(|n| (1..=core.versions.len() as u32).contains(n))
            .ok_or_else(|| ApiError::not_found("core-network-policy-version", version))?;
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
        Ok(())
    }

    /// Where the LIVE policy puts the attachment, with `tags` instead of its own if given.
    pub(super) fn place(&self, id: &str, tags: Option<&[Tag]>) -> Result<Placement, ApiError> {
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
    pub(super) fn start_transition(&mut self, id: &str, during: &'static str, placement: Option<Placement>) {
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

    /// Mutations of an attachment: the caller must own it or its core network, and it must
    /// not be in a transition. The answer: whether the caller owns the core network.
    fn check_mutation(&self, account: &str, id: &str) -> Result<bool, ApiError> {
        let record = self.attachment(id)?;
        let core_owner = &self.core(&record.core_network_id)?.owner;
        let is_core_owner = account == core_owner;
        if !is_core_owner && account != record.owner {
            return Err(ApiError::access_denied(format!(
                "account {account} owns neither attachment {id} nor its core network"
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
    pub(super) fn retag(&mut self, account: &str, id: &str, tags: Vec<Tag>) -> Result<(), ApiError> {
        let is_core_owner = self.check_mutation(account, id)?;
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
        if requires_acceptance(&placement) && (!is_core_owner || self.settings.owner_changes_need_acceptance)
        {
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
    fn require_core_owner(&self, account: &str, id: &str, verb: &str) -> Result<(), ApiError> {
        let core_owner = &self.core(&self.attachment(id)?.core_network_id)?.owner;
        if account != core_owner {
            return Err(ApiError::access_denied(format!(
                "only the core network owner {core_owner} may {verb} {id}"
            )));
        }
        Ok(())
    }

    /// The owner accepts a new attachment or a tag change into a segment that requires it.
    pub fn accept_attachment(&mut self, account: &str, id: &str) -> Result<(), ApiError> {
        self.require_core_owner(account, id, "accept")?;
        let record = self.attachment(id)?;
        let state = record.state;
        match (state, record.proposed.clone()) {
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
            _ => return Err(not_pending(id, state)),
        }
        Ok(())
    }

    pub fn reject_attachment(&mut self, account: &str, id: &str) -> Result<(), ApiError> {
        self.require_core_owner(account, id, "reject")?;
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
            state => return Err(not_pending(id, state)),
        }
        record.proposed = None;
        record.updated_at = now_epoch();
        Ok(())
    }

    /// DELETING now; gone after the delay.
    pub fn delete_attachment(&mut self, account: &str, id: &str) -> Result<(), ApiError> {
        self.check_mutation(account, id)?;
        let record = self.attachment_mut(id)?;
        record.state = "DELETING";
        record.updated_at = now_epoch();
        let transition = Transition {
            started: Instant::now(),
            to_state: None,
            placement: None,
        };
        self.transitions.insert(id.to_string(), transition);
        Ok(())
    }
}

fn not_pending(id: &str, state: &str) -> ApiError {
    ApiError::validation(
        "Other",
        format!("Attachment {id} is {state}, not pending acceptance"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudwan::{NewCoreNetwork, Settings};

    const OWNER: &str = "123456789012";

    fn segment_and_state(cloudwan: &CloudWan, id: &str) -> (Option<String>, &'static str) {
        let record = cloudwan.attachment(id).expect("attachment");
        let segment = record.placement.as_ref().and_then(Placement::segment);
        (segment.map(str::to_string), record.state)
    }

    /// The model alone, as an in-process fake: no request, no JSON.
    #[test]
    fn a_tag_moves_an_attachment_between_segments() {
        let settings = Settings {
            transition_delay_ms: 0,
            ..Settings::default()
        };
        let mut cloudwan = CloudWan::new(settings);
        let global = cloudwan.create_global_network(OWNER, None, Vec::new()).id.clone();
        let policy = include_str!("../../../examples/core-network-policy.json");
        let new_core = NewCoreNetwork {
            global_network_id: global,
            description: None,
            tags: Vec::new(),
            policy_document: Some(policy.into()),
        };
        let core = cloudwan
            .create_core_network(OWNER, new_core)
            .expect("core")
            .id
            .clone();
        let vpc = VpcArn::parse("arn:aws:ec2:us-east-1:222222222222:vpc/vpc-00000000000000001").expect("vpc");
        let new_attachment = NewVpcAttachment {
            core_network_id: core,
            vpc,
            subnet_arns: vec!["arn:aws:ec2:us-east-1:222222222222:subnet/subnet-1".into()],
            options: Value::Null,
            tags: Vec::new(),
        };
        let id = cloudwan
            .create_vpc_attachment(OWNER, new_attachment)
            .expect("attachment");
        assert_eq!(segment_and_state(&cloudwan, &id), (None, "CREATING"));
        cloudwan.advance(Instant::now());
        assert_eq!(
            segment_and_state(&cloudwan, &id),
            (Some("hub".into()), "AVAILABLE")
        );

        let arn = format!("arn:aws:networkmanager::222222222222:attachment/{id}");
        let resource = cloudwan.resolve_arn(&arn).expect("resolved");
        let quarantine = Tag {
            key: "quarantine".into(),
            value: "blocked".into(),
        };
        cloudwan
            .tag_resource(OWNER, &resource, vec![quarantine])
            .expect("tagged");
        assert_eq!(
            segment_and_state(&cloudwan, &id),
            (Some("hub".into()), "UPDATING")
        );
        cloudwan.advance(Instant::now());
        assert_eq!(
            segment_and_state(&cloudwan, &id),
            (Some("blocked".into()), "AVAILABLE")
        );
    }
}
