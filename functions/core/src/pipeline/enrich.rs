//! Enrich: from the GuardDuty event to an incident: the instance, its VPCs (from the finding,
//! else DescribeInstances in the instance's account) and each VPC's Cloud WAN attachment.
//!
//! The attachment is found by paging ListAttachments and matching the VPC exactly, a cost that
//! grows with the core network; the answer is cached in the journal, and a later finding for
//! the same VPC reads the cached attachment with one GetVpcAttachment, checks that it still is
//! that VPC's live attachment, and scans again when it is not (deleted, replaced, moved).

use super::{output, Context};
use crate::error::HandlerError;
use crate::finding::{parse_event, Finding, FindingError};
use crate::incident::{Action, Incident, Target, VerifyProgress, INCIDENT_VERSION};
use crate::journal::tag_map;
use aws_sdk_networkmanager::types::{Attachment, AttachmentState, AttachmentType};
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn enrich(ctx: Arc<Context>, input: Value) -> Result<Value, HandlerError> {
    // The state machine passes `{event, execution_arn}`; a bare event is accepted too.
    let (event, execution_arn) = match input {
        Value::Object(mut map) if map.contains_key("event") && map.contains_key("execution_arn") => (
            map.remove("event").unwrap_or_default(),
            map.remove("execution_arn")
                .and_then(|v| v.as_str().map(str::to_string)),
        ),
        other => (other, None),
    };
    let finding = match parse_event(&event.to_string()) {
        Ok(finding) => finding,
        Err(error @ FindingError::NotAnInstance { .. }) => {
            let id = event["detail"]["id"].as_str().unwrap_or("unknown");
            let detail = json!({"decision": "NotApplicable", "reason": error.to_string()});
            ctx.journal
                .audit(&format!("na-{id}"), "NotApplicable", detail)
                .await?;
            return Err(HandlerError::NotApplicable(error.to_string()));
        }
        Err(error) => {
            return Err(HandlerError::InvalidInput(format!(
                "{} ({})",
                error,
                error.name()
            )))
        }
    };
    let incident_id = incident_id(&finding);
    // A sample that the policy ignores is recorded by decide; its placeholder ids name nothing.
    let look_up = !finding.sample || ctx.settings.policy.findings.act_on_samples;
    let mut targets = Vec::new();
    if look_up {
        let vpcs = if finding.vpc_ids.is_empty() {
            vpcs_of_instance(&ctx, &finding).await?
        } else {
            finding.vpc_ids.clone()
        };
        let region = finding.region.clone().unwrap_or_default();
        for vpc in vpcs {
            let attachment = find_attachment(&ctx, &vpc, &region).await?.ok_or_else(|| {
                HandlerError::AttachmentNotFound(format!(
                    "no Cloud WAN VPC attachment of {vpc} in {region} on core network {}",
                    ctx.settings.core_network_id
                ))
            })?;
            targets.push(target(&vpc, &attachment));
        }
    }
    let incident = Incident {
        version: INCIDENT_VERSION,
        incident_id,
        finding_time: event["time"].as_str().map(str::to_string),
        execution_arn,
        finding,
        targets,
        action: Action::Undecided,
        verify: VerifyProgress::default(),
        snapshots: Vec::new(),
    };
    output(&incident)
}

/// The finding id and its updatedAt: a re-sent finding is the same incident, an update with
/// a later updatedAt a new one.
pub fn incident_id(finding: &Finding) -> String {
    let stamp: String = finding
        .updated_at
        .as_deref()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!("{}-{stamp}", finding.id)
}

fn target(vpc: &str, a: &Attachment) -> Target {
    Target {
        vpc_id: vpc.to_string(),
        attachment_id: a.attachment_id().unwrap_or_default().to_string(),
        core_network_id: a.core_network_id().unwrap_or_default().to_string(),
        owner_account: a.owner_account_id().unwrap_or_default().to_string(),
        edge_location: a.edge_location().unwrap_or_default().to_string(),
        segment_before: a.segment_name().map(str::to_string),
        tags_before: tag_map(a.tags()),
        decision: None,
    }
}

async fn find_attachment(ctx: &Context, vpc: &str, region: &str) -> Result<Option<Attachment>, HandlerError> {
    let core = &ctx.settings.core_network_id;
    if let Some(cached) = ctx.journal.cached_attachment(core, region, vpc).await? {
        if let Some(live) = cached_still_valid(ctx, &cached, vpc, region).await? {
            return Ok(Some(live));
        }
    }
    let found = scan_attachments(ctx, vpc, region).await?;
    if let Some(attachment_id) = found.as_ref().and_then(|a| a.attachment_id()) {
        ctx.journal
            .cache_attachment(core, region, vpc, attachment_id)
            .await?;
    }
    Ok(found)
}

/// The cached attachment as Network Manager has it now, if it still is this VPC's attachment
/// in this region on this core network and not going away; None sends enrich to a scan.
async fn cached_still_valid(
    ctx: &Context,
    attachment_id: &str,
    vpc: &str,
    region: &str,
) -> Result<Option<Attachment>, HandlerError> {
    let got = match ctx
        .network_manager
        .get_vpc_attachment()
        .attachment_id(attachment_id)
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk("networkmanager GetVpcAttachment", e))
    {
        Ok(got) => got,
        Err(HandlerError::AttachmentNotFound(_)) => return Ok(None),
        Err(other) => return Err(other),
    };
    let Some(attachment) = got.vpc_attachment().and_then(|v| v.attachment()) else {
        return Ok(None);
    };
    let same = attachment.core_network_id() == Some(ctx.settings.core_network_id.as_str())
        && attachment.attachment_type() == Some(&AttachmentType::Vpc)
        && attachment
            .resource_arn()
            .is_some_and(|arn| is_vpc_arn(arn, vpc, region));
    Ok((is_live(attachment) && same).then(|| attachment.clone()))
}

/// Pages through every VPC attachment in the region for the one whose resource is the VPC.
async fn scan_attachments(
    ctx: &Context,
    vpc: &str,
    region: &str,
) -> Result<Option<Attachment>, HandlerError> {
    let mut pages = ctx
        .network_manager
        .list_attachments()
        .core_network_id(&ctx.settings.core_network_id)
        .attachment_type(AttachmentType::Vpc)
        .edge_location(region)
        .max_results(500) // the most a page holds: the fewest round trips
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| HandlerError::from_sdk("networkmanager ListAttachments", e))?;
        let found = page
            .attachments()
            .iter()
            .find(|a| is_live(a) && a.resource_arn().is_some_and(|arn| is_vpc_arn(arn, vpc, region)));
        if let Some(found) = found {
            return Ok(Some(found.clone()));
        }
    }
    Ok(None)
}

/// Not on its way out: a VPC re-attached while its old attachment is deleted has two.
fn is_live(attachment: &Attachment) -> bool {
    !matches!(
        attachment.state(),
        Some(AttachmentState::Deleting | AttachmentState::Rejected | AttachmentState::Failed) | None
    )
}

/// `arn:aws:ec2:<region>:<account>:vpc/<vpc>`, matched exactly (vpc-1 must not find vpc-12).
fn is_vpc_arn(arn: &str, vpc: &str, region: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 6 && parts[2] == "ec2" && parts[3] == region && parts[5].strip_prefix("vpc/") == Some(vpc)
}

/// Every network interface's VPC, from DescribeInstances in the instance's account.
async fn vpcs_of_instance(ctx: &Context, finding: &Finding) -> Result<Vec<String>, HandlerError> {
    let ec2 = ctx
        .ec2_for(finding.account_id.as_deref(), finding.region.as_deref())
        .await?;
    let described = ec2
        .describe_instances()
        .instance_ids(&finding.instance_id)
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk("ec2 DescribeInstances", e))?;
    let mut vpcs: Vec<String> = Vec::new();
    for instance in described.reservations().iter().flat_map(|r| r.instances()) {
        let from_interfaces = instance.network_interfaces().iter().filter_map(|n| n.vpc_id());
        for vpc in instance.vpc_id().into_iter().chain(from_interfaces) {
            if !vpcs.iter().any(|v| v == vpc) {
                vpcs.push(vpc.to_string());
            }
        }
    }
    if vpcs.is_empty() {
        return Err(HandlerError::AttachmentNotFound(format!(
            "instance {} has no VPC (terminated, or not in {})",
            finding.instance_id,
            finding.region.as_deref().unwrap_or("its region")
        )));
    }
    Ok(vpcs)
}
