//! Enrich: from the GuardDuty event to an incident: the instance's VPCs (from the finding, else
//! DescribeInstances in the instance's account) and each VPC's Cloud WAN attachment. A VPC
//! with no attachment on this core network is a leg of its own, reported, never a reason to
//! leave the others open.
//!
//! The attachment is found by paging ListAttachments, a cost that grows with the core network;
//! the answer is cached in the journal, and a later finding for the same VPC checks the cached
//! attachment with one GetVpcAttachment and scans again when it is not that VPC's any more.

use crate::contract::{Action, Incident, Leg};
use crate::error::{PortError, StepError};
use crate::ports::{LiveAttachment, Ports};
use cwq_domain::finding::{parse_event, Finding, FindingError};
use cwq_domain::lifecycle::{AttachmentRef, LiveState};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What the state machine passes: the event and the execution handling it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrichInput {
    pub event: serde_json::Value,
    pub execution_arn: String,
}

pub async fn enrich(p: &Ports, input: EnrichInput) -> Result<Incident, StepError> {
    let finding = parse_event(&input.event.to_string()).map_err(|error| match error {
        FindingError::NotAnInstance { .. } => StepError::NotApplicable(error.to_string()),
        other => StepError::InvalidInput(format!("{other} ({})", other.name())),
    })?;
    let account = finding
        .account_id
        .clone()
        .ok_or_else(|| StepError::InvalidInput("the finding names no account (MissingField)".into()))?;
    let region = finding
        .region
        .clone()
        .ok_or_else(|| StepError::InvalidInput("the finding names no region (MissingField)".into()))?;
    // A sample the policy ignores is recorded by Decide; its placeholder ids name nothing.
    let look_up = !finding.sample || p.settings.policy.findings.act_on_samples;
    let mut legs = Vec::new();
    if look_up {
        for vpc_id in vpcs(p, &finding, &account, &region).await? {
            legs.push(leg(p, vpc_id, &account, &region).await?);
        }
    }
    Ok(Incident {
        incident_id: incident_id(&finding),
        execution_arn: input.execution_arn,
        finding_time: input.event["time"]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()),
        finding,
        legs,
        action: Action::Undecided,
        reconcile: None,
    })
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

/// The VPCs the finding names, else every network interface's VPC from EC2. None (the
/// instance is gone) leaves an incident without legs, which Decide records as such.
async fn vpcs(p: &Ports, finding: &Finding, account: &str, region: &str) -> Result<Vec<String>, StepError> {
    if !finding.vpc_ids.is_empty() {
        return Ok(finding.vpc_ids.clone());
    }
    match p
        .workloads
        .vpcs_of_instance(account, region, &finding.instance_id)
        .await
    {
        Ok(vpcs) => Ok(vpcs),
        Err(PortError::NotFound(_)) => Ok(Vec::new()),
        Err(other) => Err(other.into()),
    }
}

async fn leg(p: &Ports, vpc_id: String, account: &str, region: &str) -> Result<Leg, StepError> {
    let found = find_attachment(p, &vpc_id, region).await?;
    Ok(Leg {
        account: found.as_ref().map_or(account, |a| &a.owner_account).to_string(),
        region: region.to_string(),
        segment_before: found.as_ref().and_then(|a| a.segment.clone()),
        attachment: found.map(|a| AttachmentRef {
            partition: partition_of(&a.resource_arn),
            attachment_id: a.attachment_id,
            vpc_id: vpc_id.clone(),
            owner_account: a.owner_account,
            core_network_id: a.core_network_id,
            edge_location: a.edge_location,
        }),
        vpc_id,
        decision: None,
    })
}

async fn find_attachment(p: &Ports, vpc_id: &str, region: &str) -> Result<Option<LiveAttachment>, StepError> {
    let core = &p.settings.core_network_id;
    if let Some(cached) = p.journal.cached_attachment(core, region, vpc_id).await? {
        match p.cloud_wan.attachment(&cached).await {
            Ok(live) if is_vpcs(&live, core, vpc_id, region) => return Ok(Some(live)),
            Ok(_) | Err(PortError::NotFound(_)) => {}
            Err(other) => return Err(other.into()),
        }
    }
    let found = p.cloud_wan.find_vpc_attachment(core, vpc_id, region).await?;
    if let Some(live) = &found {
        p.journal
            .cache_attachment(core, region, vpc_id, &live.attachment_id)
            .await?;
    }
    Ok(found)
}

/// Still this VPC's live attachment on this core network in this region.
fn is_vpcs(live: &LiveAttachment, core: &str, vpc_id: &str, region: &str) -> bool {
    live.core_network_id == core
        && live.state != LiveState::Gone
        && is_vpc_arn(&live.resource_arn, vpc_id, region)
}

/// `arn:<partition>:ec2:<region>:<account>:vpc/<vpc>`, matched exactly (vpc-1 must not find
/// vpc-12).
pub fn is_vpc_arn(arn: &str, vpc_id: &str, region: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "ec2"
        && parts[3] == region
        && parts[5].strip_prefix("vpc/") == Some(vpc_id)
}

fn partition_of(arn: &str) -> String {
    arn.split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
        .to_string()
}
