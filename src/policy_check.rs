//! `cwq policy check`: proves, with the same evaluator the pipeline uses, that a response
//! policy works with a core network policy — every segment it names exists, and the tag cwq
//! would set lands an attachment in that segment — and, against a live core network, that it
//! does so for every attachment there and that every protected resource exists.

use crate::error::{read_input, CliError};
use crate::operator::{sdk_failed, Connection, Deployed, Output};
use aws_sdk_networkmanager::types::{AttachmentType, CoreNetworkPolicyAlias};
use cwq_aws::cloud_wan::tag_map;
use cwq_domain::cloudwan::{Attachment, CoreNetworkPolicy, EvaluationOptions, Placement};
use cwq_domain::response_policy::ResponsePolicy;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Prove a response policy against a core network policy (exit 1 with the reasons if not).
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("core").required(true).args(["core_network_id", "core_network_policy"])))]
struct CheckArgs {
    /// The response policy (TOML).
    #[arg(long)]
    policy: PathBuf,
    /// A live core network: its LIVE policy, its attachments and the protected resources are
    /// checked.
    #[arg(long)]
    core_network_id: Option<String>,
    /// A core network policy document (or `get-core-network-policy` output), checked offline.
    #[arg(long)]
    core_network_policy: Option<PathBuf>,
    #[command(flatten)]
    connection: Connection,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// One attachment of the live core network, as the evaluator sees it.
struct Live {
    attachment_id: String,
    facts: Attachment,
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let Command::Check(args) = args.command;
    let policy = ResponsePolicy::from_toml(&read_input(&args.policy, "response policy")?)
        .map_err(|e| CliError::invalid(format!("{}: {e}", args.policy.display())))?;
    let (core, live) = match (&args.core_network_policy, &args.core_network_id) {
        (Some(path), _) => {
            let core = CoreNetworkPolicy::from_json(&read_input(path, "core network policy")?)
                .map_err(|e| CliError::invalid(format!("{}: {e}", path.display())))?;
            (core, None)
        }
        (None, Some(id)) => {
            let (core, attachments) = fetch(&args.connection, id).await?;
            (core, Some(attachments))
        }
        (None, None) => unreachable!("clap requires one of them"),
    };

    let mut proofs = Vec::new();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let options = EvaluationOptions {
        unknown_segment: policy.unknown_segment,
    };
    let mut targets: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (source, segment) in policy.target_segments() {
        targets.entry(segment).or_default().push(source);
    }
    for segment in &policy.ladder {
        targets.entry(segment.as_str()).or_default();
    }
    let key = &policy.tags.key;
    for (segment, sources) in &targets {
        let used_by = if sources.is_empty() {
            "the ladder".to_string()
        } else {
            sources.join(", ")
        };
        if core.segment(segment).is_none() {
            problems.push(format!(
                "segment {segment} (named by {used_by}) does not exist in the core network policy"
            ));
            continue;
        }
        if sources.is_empty() {
            continue; // on the ladder only: cwq never tags toward it
        }
        let alone = Attachment::vpc(
            "000000000000",
            "us-east-1",
            "vpc-0cwqcheck",
            [(key.clone(), segment.to_string())].into(),
        );
        match core.evaluate(&alone, options).placement {
            Placement::Segment {
                segment: landed,
                rule_number,
                acceptance_required,
            } if landed == *segment => {
                proofs.push(format!(
                    "{key}={segment} places an attachment in {segment} (rule {rule_number})"
                ));
                if acceptance_required {
                    notes.push(format!(
                        "{segment} requires acceptance: moves wait in PENDING_TAG_ACCEPTANCE unless \
                         AcceptPendingTags is true"
                    ));
                }
            }
            other => problems.push(format!(
                "{key}={segment} (for {used_by}) places an attachment in {other}"
            )),
        }
        for attachment in live.iter().flatten().filter(|a| !is_protected(&policy, a)) {
            let mut tags = attachment.facts.tags.clone();
            tags.insert(key.clone(), segment.to_string());
            let moved = Attachment {
                tags,
                ..attachment.facts.clone()
            };
            let placement = core.evaluate(&moved, options).placement;
            if placement.segment() != Some(*segment) {
                problems.push(format!(
                    "{} ({}): with {key}={segment} it would land in {placement}, not {segment}",
                    attachment.attachment_id, attachment.facts.resource_id
                ));
            }
        }
    }
    if let Some(attachments) = &live {
        let count = attachments.len();
        if problems.is_empty() {
            proofs.push(format!(
                "every one of the {count} VPC attachments lands where cwq means it to"
            ));
        }
        let vpcs: BTreeSet<&str> = attachments.iter().map(|a| a.facts.resource_id.as_str()).collect();
        let ids: BTreeSet<&str> = attachments.iter().map(|a| a.attachment_id.as_str()).collect();
        for vpc in &policy.protected.vpcs {
            if !vpcs.contains(vpc.as_str()) {
                problems.push(format!(
                    "protected VPC {vpc} is not attached to the core network (a typo?)"
                ));
            }
        }
        for id in &policy.protected.attachments {
            if !ids.contains(id.as_str()) {
                problems.push(format!(
                    "protected attachment {id} does not exist on the core network"
                ));
            }
        }
    } else if !policy.protected.vpcs.is_empty() || !policy.protected.attachments.is_empty() {
        notes.push("protected VPCs and attachments are not checked offline: give --core-network-id".into());
    }

    match args.output {
        Output::Json => println!(
            "{:#}",
            json!({"ok": problems.is_empty(), "proofs": proofs, "problems": problems, "notes": notes})
        ),
        Output::Text => {
            for line in &proofs {
                println!("ok    {line}");
            }
            for line in &notes {
                println!("note  {line}");
            }
            for line in &problems {
                println!("FAIL  {line}");
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CliError::failed(format!(
            "the response policy does not hold with this core network: {} problem{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        )))
    }
}

/// Protected attachments are never moved, so where cwq's tag would take them does not matter.
fn is_protected(policy: &ResponsePolicy, live: &Live) -> bool {
    let p = &policy.protected;
    p.vpcs.contains(&live.facts.resource_id)
        || p.attachments.contains(&live.attachment_id)
        || p.tag
            .as_ref()
            .is_some_and(|tag| live.facts.tags.contains_key(tag))
}

/// The LIVE policy and every VPC attachment of a core network.
async fn fetch(connection: &Connection, id: &str) -> Result<(CoreNetworkPolicy, Vec<Live>), CliError> {
    let deployed = Deployed::connect(connection).await?;
    let nm = aws_sdk_networkmanager::Client::new(&deployed.sdk);
    let got = nm
        .get_core_network_policy()
        .core_network_id(id)
        .alias(CoreNetworkPolicyAlias::Live)
        .send()
        .await
        .map_err(|e| sdk_failed(&format!("networkmanager GetCoreNetworkPolicy {id}"), e))?;
    let document = got
        .core_network_policy()
        .and_then(|p| p.policy_document())
        .ok_or_else(|| CliError::failed(format!("core network {id} has no LIVE policy")))?;
    let core = CoreNetworkPolicy::from_json(document)
        .map_err(|e| CliError::failed(format!("the LIVE policy of {id}: {e}")))?;
    let attachments = nm
        .list_attachments()
        .core_network_id(id)
        .attachment_type(AttachmentType::Vpc)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk_failed("networkmanager ListAttachments", e))?;
    let live = attachments
        .iter()
        .map(|a| Live {
            attachment_id: a.attachment_id().unwrap_or_default().to_string(),
            facts: Attachment::vpc(
                a.owner_account_id().unwrap_or_default(),
                a.edge_location().unwrap_or_default(),
                a.resource_arn()
                    .and_then(|arn| arn.rsplit('/').next())
                    .unwrap_or_default(),
                tag_map(a.tags()),
            ),
        })
        .collect();
    Ok((core, live))
}
