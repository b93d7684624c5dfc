//! Enrich: from the GuardDuty event to an incident plan: the VPCs of every workload the finding
//! names (from the finding, else looked up in the workload's account and Region through the
//! workload role), once per account and Region, and each VPC's Cloud WAN attachment. A VPC
//! with no attachment on this core network is a leg of its own, reported, never a reason to
//! leave the others open; a workload that cannot be placed is reported too.
//!
//! The attachment is found by paging ListAttachments, a cost that grows with the core network;
//! the answer is cached in the journal (after the first containing call: `Incident::journal`),
//! and a later finding for the same VPC checks the cached attachment with one GetVpcAttachment
//! and scans again when it is not that VPC's any more.

use crate::contract::{Action, AttachmentHint, Deferred, Incident, Leg, Unresolved};
use crate::error::{PortError, StepError};
use crate::ports::{LiveAttachment, Ports};
use cwq_domain::finding::{parse_event, Finding};
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
    let finding = parse_event(&input.event.to_string()).map_err(|error| match error.is_not_applicable() {
        true => StepError::NotApplicable(error.to_string()),
        false => StepError::InvalidInput(format!("{error} ({})", error.name())),
    })?;
    // A sample the policy ignores is recorded by Decide; its placeholder ids name nothing.
    let look_up = !finding.sample || p.settings.policy.findings.act_on_samples;
    let mut legs = Vec::new();
    let mut unresolved = Vec::new();
    let mut journal = Deferred::default();
    if look_up {
        for placed in placements(p, &finding, &mut unresolved).await? {
            legs.push(leg(p, placed, &mut journal.hints).await?);
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
        unresolved,
        action: Action::Undecided,
        reconcile: None,
        asking: false,
        ask: None,
        approval: None,
        journal,
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

/// A VPC some workload of the finding is in, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Placed {
    account: String,
    region: String,
    vpc_id: String,
}

/// Every VPC of every workload, once per account and Region, in the finding's order: what
/// the finding says, else a lookup in the workload's account. A workload that is gone, or
/// whose account refuses the lookup, is reported and never stops the others.
async fn placements(
    p: &Ports,
    finding: &Finding,
    unresolved: &mut Vec<Unresolved>,
) -> Result<Vec<Placed>, StepError> {
    let mut placed: Vec<Placed> = Vec::new();
    for workload in finding.workloads.iter().filter(|w| w.target.is_networked()) {
        let known: Vec<String> = workload
            .target
            .known_vpcs()
            .into_iter()
            .map(str::to_string)
            .collect();
        let vpcs = match known.is_empty() {
            false => known,
            true => match p.workloads.vpcs_of(workload).await {
                Ok(vpcs) => vpcs,
                Err(PortError::Transient(e)) => return Err(StepError::Transient(e)),
                Err(error) => {
                    unresolved.push(Unresolved {
                        workload: workload.to_string(),
                        failed: !matches!(error, PortError::NotFound(_)),
                        reason: error.to_string(),
                    });
                    continue;
                }
            },
        };
        for vpc_id in vpcs {
            let here = Placed {
                account: workload.account.clone(),
                region: workload.region.clone(),
                vpc_id,
            };
            if !placed.contains(&here) {
                placed.push(here);
            }
        }
    }
    Ok(placed)
}

async fn leg(p: &Ports, placed: Placed, hints: &mut Vec<AttachmentHint>) -> Result<Leg, StepError> {
    let Placed {
        account,
        region,
        vpc_id,
    } = placed;
    let found = find_attachment(p, &vpc_id, &region, hints).await?;
    Ok(Leg {
        account: found.as_ref().map_or(account, |a| a.owner_account.clone()),
        segment_before: found.as_ref().and_then(|a| a.segment.clone()),
        attachment: found.map(|a| AttachmentRef {
            partition: partition_of(&a.resource_arn),
            attachment_id: a.attachment_id,
            vpc_id: vpc_id.clone(),
            owner_account: a.owner_account,
            core_network_id: a.core_network_id,
            edge_location: a.edge_location,
        }),
        region,
        vpc_id,
        decision: None,
    })
}

/// The VPC's attachment: the cached one if it still is, else a scan (whose answer is a hint to
/// cache).
async fn find_attachment(
    p: &Ports,
    vpc_id: &str,
    region: &str,
    hints: &mut Vec<AttachmentHint>,
) -> Result<Option<LiveAttachment>, StepError> {
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
        hints.push(AttachmentHint {
            core_network_id: core.clone(),
            region: region.to_string(),
            vpc_id: vpc_id.to_string(),
            attachment_id: live.attachment_id.clone(),
        });
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
