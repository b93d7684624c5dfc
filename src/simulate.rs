//! `cwq simulate`: what would cwq do with this finding, under this response policy and this
//! core network policy? Offline and read-only: the same decision engine the `decide` Lambda
//! runs, on an attachment described by the command line.

use crate::error::{read_input, CliError};
use cwq_domain::cloudwan::{Attachment, CoreNetworkPolicy, EvaluationOptions, Placement};
use cwq_domain::decision::{decide, ActiveQuarantine, BudgetUsage, Decision, Expiry, Outcome, Situation};
use cwq_domain::finding::{parse_event_or_detail, Finding, FindingError};
use cwq_domain::response_policy::ResponsePolicy;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use time::OffsetDateTime;

/// Show the decision cwq would make for a GuardDuty finding, and why.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The finding: an EventBridge event or a bare `detail` object (`-` reads standard input).
    finding: PathBuf,
    /// The response policy (TOML), e.g. policy/default.toml.
    #[arg(long)]
    policy: PathBuf,
    /// The core network policy document, or the output of
    /// `aws networkmanager get-core-network-policy --alias LIVE`.
    #[arg(long)]
    core_network_policy: PathBuf,
    /// The attachment's current tags, e.g. `domain=hub,Name=app`.
    #[arg(long, value_name = "K=V,...", value_parser = parse_tags, default_value = "")]
    attachment_tags: BTreeMap<String, String>,
    /// Which of the finding's VPCs to simulate (default: the first).
    #[arg(long)]
    vpc: Option<String>,
    /// The attachment id, for protected-attachment rules.
    #[arg(long, default_value = "attachment-simulated")]
    attachment_id: String,
    /// Simulate an existing cwq quarantine of the attachment in this segment (manual release).
    #[arg(long, value_name = "SEGMENT")]
    quarantined_in: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

fn parse_tags(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                Ok((key.trim().to_string(), value.trim().to_string()))
            }
            _ => Err(format!("{pair:?} is not KEY=VALUE")),
        })
        .collect()
}

pub fn run(args: Args) -> Result<(), CliError> {
    let policy = ResponsePolicy::from_toml(&read_input(&args.policy, "response policy")?)
        .map_err(|e| CliError::invalid(format!("{}: {e}", args.policy.display())))?;
    let core = CoreNetworkPolicy::from_json(&read_input(&args.core_network_policy, "core network policy")?)
        .map_err(|e| CliError::invalid(format!("{}: {e}", args.core_network_policy.display())))?;
    let finding = match parse_event_or_detail(&read_input(&args.finding, "finding")?) {
        Ok(finding) => finding,
        Err(error @ FindingError::NotAnInstance { .. }) => {
            print(&args, None, &Decision::not_applicable(&error), None, None);
            return Ok(());
        }
        Err(error) => {
            return Err(CliError::invalid(format!(
                "{}: {} ({})",
                args.finding.display(),
                error,
                error.name()
            )))
        }
    };

    let vpc_id = match &args.vpc {
        Some(vpc) if !finding.vpc_ids.is_empty() && !finding.vpc_ids.contains(vpc) => {
            return Err(CliError::invalid(format!(
                "--vpc {vpc} is not one of the finding's VPCs: {}",
                finding.vpc_ids.join(", ")
            )))
        }
        Some(vpc) => vpc.clone(),
        // No interface in the finding: the pipeline looks the VPC up from the instance.
        None => finding
            .vpc_ids
            .first()
            .cloned()
            .unwrap_or_else(|| "vpc-unknown".into()),
    };
    let attachment = Attachment::vpc(
        finding.account_id.as_deref().unwrap_or("000000000000"),
        finding.region.as_deref().unwrap_or("us-east-1"),
        &vpc_id,
        args.attachment_tags.clone(),
    );
    let options = EvaluationOptions {
        unknown_segment: policy.unknown_segment,
    };
    let before = core.evaluate(&attachment, options).placement;
    let quarantine = args.quarantined_in.clone().map(|segment| ActiveQuarantine {
        segment,
        expiry: Expiry::Manual,
    });
    let situation = Situation {
        finding: &finding,
        vpc_id: &vpc_id,
        attachment_id: &args.attachment_id,
        attachment: &attachment,
        current_segment: before.segment(),
        quarantine: quarantine.as_ref(),
        episode_open: quarantine.is_some(),
        budget_used: BudgetUsage::default(),
        now: OffsetDateTime::now_utc(),
    };
    let decision = decide(&situation, &policy, &core);
    print(
        &args,
        Some((&finding, &vpc_id)),
        &decision,
        Some(&before),
        Some(&attachment.tags),
    );
    Ok(())
}

fn print(
    args: &Args,
    finding: Option<(&Finding, &str)>,
    decision: &Decision,
    before: Option<&Placement>,
    tags_before: Option<&BTreeMap<String, String>>,
) {
    let plan = decision.plan();
    let after = plan.map(|p| &p.placement).or(before);
    match args.output {
        Output::Json => {
            let (action, reason_code) = match &decision.outcome {
                Outcome::Quarantine(_) => ("quarantine", "Quarantine".to_string()),
                Outcome::None { reason } => ("none", reason.to_string()),
            };
            let document = json!({
                "action": action,
                "reason_code": reason_code,
                "reason": decision.reason,
                "target_segment": plan.map(|p| &p.target_segment),
                "tags_to_set": plan.map(|p| &p.tags),
                "expires_at": plan.and_then(|p| match p.expiry { Expiry::At(_) => Some(p.expiry.to_string()), Expiry::Manual => None }),
                "release": plan.map(|p| if p.expiry == Expiry::Manual { "manual" } else { "automatic" }),
                "new_episode": plan.map(|p| p.new_episode),
                "moves": plan.map(|p| p.moves),
                "fired": decision.fired,
                "before_segment": before.and_then(Placement::segment),
                "after_segment": after.and_then(Placement::segment),
                "before": before,
                "after": after,
                "vpc_id": finding.map(|(_, vpc)| vpc),
                "finding": finding.map(|(f, _)| json!({
                    "id": f.id,
                    "type": f.finding_type,
                    "severity": f.severity,
                    "band": f.severity.band(),
                    "account_id": f.account_id,
                    "region": f.region,
                    "instance_id": f.instance_id,
                    "vpc_ids": f.vpc_ids,
                    "resource_role": f.resource_role,
                    "sample": f.sample,
                    "archived": f.archived,
                })),
            });
            println!("{document:#}");
        }
        Output::Text => print_text(finding, decision, before, after, tags_before),
    }
}

fn print_text(
    finding: Option<(&Finding, &str)>,
    decision: &Decision,
    before: Option<&Placement>,
    after: Option<&Placement>,
    tags_before: Option<&BTreeMap<String, String>>,
) {
    if let Some((f, vpc)) = finding {
        println!(
            "Finding    {} — severity {} ({}), role {}",
            f.finding_type,
            f.severity,
            f.severity.band(),
            f.resource_role
        );
        println!(
            "           instance {} in account {}, {}; VPC {vpc}{}",
            f.instance_id,
            f.account_id.as_deref().unwrap_or("unknown"),
            f.region.as_deref().unwrap_or("unknown region"),
            if f.vpc_ids.len() > 1 {
                format!(" (the finding names {})", f.vpc_ids.join(", "))
            } else {
                String::new()
            },
        );
        if f.sample || f.archived {
            println!(
                "           {}",
                [(f.sample, "GuardDuty sample"), (f.archived, "archived")]
                    .iter()
                    .filter(|(on, _)| *on)
                    .map(|(_, t)| *t)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    match &decision.outcome {
        Outcome::Quarantine(plan) => {
            let verb = match (plan.new_episode, plan.moves) {
                (true, _) => "QUARANTINE IN",
                (false, true) => "ESCALATE TO",
                (false, false) => "HOLD AT LEAST IN",
            };
            println!(
                "Decision   {verb} {} — {}",
                plan.target_segment,
                match plan.expiry {
                    Expiry::At(_) => format!("until {}", plan.expiry),
                    Expiry::Manual => "until an operator releases it".into(),
                }
            );
        }
        Outcome::None { reason } => println!("Decision   NO ACTION ({reason})"),
    }
    println!("Why        {}", decision.reason);
    for line in &decision.fired {
        println!("           {line}");
    }
    if let (Some(plan), Some(tags)) = (decision.plan(), tags_before) {
        for (key, value) in &plan.tags {
            let was = tags
                .get(key)
                .map_or("absent".to_string(), |v| format!("{key}={v}"));
            println!("Tags       set {key}={value} (before: {was})");
        }
    }
    if let Some(before) = before {
        println!("Placement  before: {before}");
    }
    if let Some(after) = after {
        println!("           after:  {after}");
    }
}
