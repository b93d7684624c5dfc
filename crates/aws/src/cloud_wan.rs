//! The Cloud WAN port over Network Manager, called as the core network owner.

use crate::errors::{classify, Class};
use async_trait::async_trait;
use aws_sdk_networkmanager::types::{
    Attachment, AttachmentState, AttachmentType, CoreNetworkPolicyAlias, Tag,
};
use aws_sdk_networkmanager::Client;
use cwq_domain::cloudwan::CoreNetworkPolicy;
use cwq_domain::lifecycle::{AttachmentRef, LiveState};
use cwq_pipeline::ports::{CloudWan, LiveAttachment, Scan, Tags};
use cwq_pipeline::steps::is_vpc_arn;
use cwq_pipeline::PortError;

#[derive(Debug, Clone)]
pub struct NetworkManager {
    client: Client,
}

impl NetworkManager {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// Network Manager's operations share their error names; `conflict` for the operations that
/// model ConflictException (Cloud WAN is applying another change: wait), `listing` for
/// ListAttachments, which models no ResourceNotFoundException.
macro_rules! class {
    ($e:expr, listing) => {{
        let e = $e;
        if e.is_throttling_exception() || e.is_internal_server_exception() {
            Class::Transient
        } else if e.is_access_denied_exception() {
            Class::Denied
        } else {
            Class::Failed
        }
    }};
    ($e:expr) => {{
        let e = $e;
        if e.is_resource_not_found_exception() {
            Class::NotFound
        } else {
            class!(e, listing)
        }
    }};
    ($e:expr, conflict) => {{
        let e = $e;
        if e.is_conflict_exception() {
            Class::Busy
        } else {
            class!(e)
        }
    }};
}

/// Tags as Network Manager returns them, as a map.
pub fn tag_map(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

fn live(a: &Attachment) -> LiveAttachment {
    let state = match a.state() {
        Some(AttachmentState::Available) => LiveState::Available,
        Some(AttachmentState::PendingTagAcceptance) => LiveState::PendingTagAcceptance,
        Some(AttachmentState::PendingAttachmentAcceptance) => LiveState::PendingAttachmentAcceptance,
        Some(AttachmentState::Deleting | AttachmentState::Failed | AttachmentState::Rejected) | None => {
            LiveState::Gone
        }
        // UPDATING, CREATING, PENDING_NETWORK_UPDATE and states this SDK does not know yet.
        Some(_) => LiveState::Busy,
    };
    LiveAttachment {
        attachment_id: a.attachment_id().unwrap_or_default().to_string(),
        core_network_id: a.core_network_id().unwrap_or_default().to_string(),
        owner_account: a.owner_account_id().unwrap_or_default().to_string(),
        edge_location: a.edge_location().unwrap_or_default().to_string(),
        resource_arn: a.resource_arn().unwrap_or_default().to_string(),
        state,
        state_name: a.state().map_or("UNKNOWN", |s| s.as_str()).to_string(),
        segment: a.segment_name().map(str::to_string),
        proposed_tags: a.proposed_segment_change().map(|p| tag_map(p.tags())),
        // Absent is unknown, not "no tags" (docs/aws-behaviour.md).
        tags: a.tags.as_deref().map(tag_map),
    }
}

#[async_trait]
impl CloudWan for NetworkManager {
    async fn live_policy(&self, core_network_id: &str) -> Result<CoreNetworkPolicy, PortError> {
        let got = self
            .client
            .get_core_network_policy()
            .core_network_id(core_network_id)
            .alias(CoreNetworkPolicyAlias::Live)
            .send()
            .await
            .map_err(|e| classify("networkmanager GetCoreNetworkPolicy", e, |e| class!(e)))?;
        let document = got
            .core_network_policy()
            .and_then(|p| p.policy_document())
            .ok_or_else(|| PortError::Failed(format!("core network {core_network_id} has no LIVE policy")))?;
        CoreNetworkPolicy::from_json(document)
            .map_err(|e| PortError::Failed(format!("the LIVE policy of {core_network_id}: {e}")))
    }

    async fn attachment(&self, attachment_id: &str) -> Result<LiveAttachment, PortError> {
        let got = self
            .client
            .get_vpc_attachment()
            .attachment_id(attachment_id)
            .send()
            .await
            .map_err(|e| classify("networkmanager GetVpcAttachment", e, |e| class!(e)))?;
        got.vpc_attachment()
            .and_then(|v| v.attachment())
            .map(live)
            .ok_or_else(|| PortError::NotFound(format!("{attachment_id}: no attachment in the response")))
    }

    async fn scan_vpc_attachments(
        &self,
        core_network_id: &str,
        region: &str,
        vpc_id: &str,
    ) -> Result<Scan, PortError> {
        let mut pages = self
            .client
            .list_attachments()
            .core_network_id(core_network_id)
            .attachment_type(AttachmentType::Vpc)
            .edge_location(region)
            .max_results(500) // the most a page holds: the fewest round trips
            .into_paginator()
            .send();
        let mut scan = Scan::default();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| classify("networkmanager ListAttachments", e, |e| class!(e, listing)))?;
            scan.attachments.extend(
                page.attachments()
                    .iter()
                    .map(live)
                    .filter(|a| a.state != LiveState::Gone),
            );
            scan.complete = page.next_token().is_none_or(str::is_empty);
            if scan
                .attachments
                .iter()
                .any(|a| is_vpc_arn(&a.resource_arn, vpc_id, region))
            {
                break;
            }
        }
        Ok(scan)
    }

    async fn tags(&self, attachment: &AttachmentRef) -> Result<Tags, PortError> {
        let listed = self
            .client
            .list_tags_for_resource()
            .resource_arn(attachment.arn())
            .send()
            .await
            .map_err(|e| classify("networkmanager ListTagsForResource", e, |e| class!(e)))?;
        Ok(tag_map(listed.tag_list()))
    }

    async fn tag(&self, attachment: &AttachmentRef, tags: &Tags) -> Result<(), PortError> {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        self.client
            .tag_resource()
            .resource_arn(attachment.arn())
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| classify("networkmanager TagResource", e, |e| class!(e, conflict)))?;
        Ok(())
    }

    async fn untag(&self, attachment: &AttachmentRef, keys: &[String]) -> Result<(), PortError> {
        self.client
            .untag_resource()
            .resource_arn(attachment.arn())
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| classify("networkmanager UntagResource", e, |e| class!(e, conflict)))?;
        Ok(())
    }

    async fn accept(&self, attachment_id: &str) -> Result<(), PortError> {
        self.client
            .accept_attachment()
            .attachment_id(attachment_id)
            .send()
            .await
            .map_err(|e| classify("networkmanager AcceptAttachment", e, |e| class!(e, conflict)))?;
        Ok(())
    }
}
