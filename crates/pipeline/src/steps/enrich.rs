//! Enrich: from the GuardDuty event to an incident plan: the VPCs of every workload the finding
//! names (from the finding, else looked up in the workload's account and Region through the
//! workload role), once per account and Region, and each VPC's Cloud WAN attachment. A VPC
//! with no attachment on this core network is a leg of its own, reported, never a reason to
//! leave the others open; a workload that cannot be placed is reported too.
//!
//! The attachment is found by paging ListAttachments, a cost that grows with the core network;
//! the answer is cached in the journal (after the first containing call: `Incident::journal`),
//! and a later finding for the same VPC checks the cached attachment with one GetVpcAttachment
//! and scans again when it is not that VPC's any more. A warm process remembers what its scans
//! saw (`crate::known`) and checks that hint the same way, without the journal read before it;
//! once its scans have listed a Region whole, a VPC they did not see is listed for at once.
//! Enrich runs in Decide's invocation (`steps::contain`); what it saw is handed on in process
//! ([`Lookup`]), so the decision reads nothing twice.

use crate::contract::{Action, AttachmentHint, Deferred, Incident, Leg, Unresolved};
use crate::error::{PortError, StepError};
use crate::known::Hint;
use crate::ports::{LiveAttachment, Ports};
use cwq_domain::finding::{parse_event, Finding};
use cwq_domain::lifecycle::{AttachmentItem, AttachmentRef, LiveState};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What the state machine passes: the event and the execution handling it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrichInput {
    pub event: serde_json::Value,
    pub execution_arn: String,
}

/// What Enrich saw of one leg's attachment, for the decision in the same invocation.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// The attachment as Cloud WAN reported it; None: the VPC is not attached.
    pub live: Option<LiveAttachment>,
    /// Its journal item, read beside the GetVpcAttachment that checked a hint. None: not
    /// read; Some(None): cwq holds nothing on it yet.
    pub item: Option<Option<AttachmentItem>>,
}

/// The incident plan, and per leg (in order) what the lookups saw.
pub async fn enrich(p: &Ports, input: EnrichInput) -> Result<(Incident, Vec<Lookup>), StepError> {
    let finding = parse_event(&input.event.to_string()).map_err(|error| match error.is_not_applicable() {
        true => StepError::NotApplicable(error.to_string()),
        false => StepError::InvalidInput(format!("{error} ({})", error.name())),
    })?;
    // A sample the policy ignores is recorded by Decide; its placeholder ids name nothing.
    let look_up = !finding.sample || p.settings.policy.findings.act_on_samples;
    let mut legs = Vec::new();
    let mut lookups = Vec::new();
    let mut unresolved = Vec::new();
    let mut journal = Deferred::default();
    if look_up {
        for placed in placements(p, &finding, &mut unresolved).await? {
            let (leg, lookup) = leg(p, placed, &mut journal.hints).await?;
            legs.push(leg);
            lookups.push(lookup);
        }
    }
    let incident = Incident {
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
    };
    Ok((incident, lookups))
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

async fn leg(p: &Ports, placed: Placed, hints: &mut Vec<AttachmentHint>) -> Result<(Leg, Lookup), StepError> {
    let Placed {
        account,
        region,
        vpc_id,
    } = placed;
    let lookup = find_attachment(p, &vpc_id, &region, hints).await?;
    let found = lookup.live.clone();
    let leg = Leg {
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
    };
    Ok((leg, lookup))
}

/// The VPC's attachment: the one this process or the journal knows, if it still is (its item
/// read in the same round trip), else a scan (whose answer is a hint to cache).
async fn find_attachment(
    p: &Ports,
    vpc_id: &str,
    region: &str,
    hints: &mut Vec<AttachmentHint>,
) -> Result<Lookup, StepError> {
    let core = &p.settings.core_network_id;
    let hinted = match p.known.get(core, region, vpc_id) {
        Some(hint) => Some(hint),
        // This process listed every attachment here: one it did not see was attached since,
        // or is not attached, and the cache could only name an attachment a listing finds.
        None if p.known.listed_whole(core, region) => None,
        None => p
            .journal
            .cached_attachment(core, region, vpc_id)
            .await?
            .map(|attachment_id| Hint {
                attachment_id,
                journaled: true,
            }),
    };
    if let Some(hint) = hinted {
        let id = &hint.attachment_id;
        let (live, item) = futures::join!(p.cloud_wan.attachment(id), p.journal.item(id));
        match live {
            Ok(live) if is_vpcs(&live, core, vpc_id, region) => {
                p.known.remember(core, region, vpc_id, id, hint.journaled);
                if !hint.journaled {
                    hints.push(hint_for(core, region, vpc_id, id));
                }
                // An item that could not be read is read again by Decide.
                return Ok(Lookup {
                    live: Some(live),
                    item: item.ok(),
                });
            }
            Ok(_) | Err(PortError::NotFound(_)) => p.known.forget(core, region, vpc_id),
            Err(other) => return Err(other.into()),
        }
    }
    let scan = p.cloud_wan.scan_vpc_attachments(core, region, vpc_id).await?;
    for a in scan.attachments.iter().filter(|a| &a.core_network_id == core) {
        if let Some(vpc) = vpc_of_arn(&a.resource_arn, region) {
            p.known.remember(core, region, vpc, &a.attachment_id, false);
        }
    }
    if scan.complete {
        p.known.remember_listed_whole(core, region);
    }
    let found = scan
        .attachments
        .into_iter()
        .find(|a| is_vpcs(a, core, vpc_id, region));
    if let Some(live) = &found {
        hints.push(hint_for(core, region, vpc_id, &live.attachment_id));
    }
    Ok(Lookup {
        live: found,
        item: None,
    })
}

fn hint_for(core: &str, region: &str, vpc_id: &str, attachment_id: &str) -> AttachmentHint {
    AttachmentHint {
        core_network_id: core.to_string(),
        region: region.to_string(),
        vpc_id: vpc_id.to_string(),
        attachment_id: attachment_id.to_string(),
    }
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
    vpc_of_arn(arn, region) == Some(vpc_id)
}

/// The VPC a VPC ARN in `region` names.
fn vpc_of_arn<'a>(arn: &'a str, region: &str) -> Option<&'a str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "ec2", in_region, _, resource] if *in_region == region => resource.strip_prefix("vpc/"),
        _ => None,
    }
}

fn partition_of(arn: &str) -> String {
    arn.split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
        .to_string()
}
