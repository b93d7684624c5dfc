//! `cwq simulate`: what would cwq do with this finding, under this response policy and this
//! core network policy? Offline and read-only: the same decision engine the `decide` Lambda
//! runs, on an attachment described by the command line.

use crate::error::{read_input, CliError};
use cwq_domain::cloudwan::{Attachment, CoreNetworkPolicy, EvaluationOptions, Placement};
use cwq_domain::decision::{decide, ActiveQuarantine, BudgetUsage, Decision, Expiry, Outcome, Situation};
use cwq_domain::finding::{parse_event_or_detail, Finding};
use cwq_domain::response_policy::{ResponsePolicy, Tier};
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
    /// The account's parents in AWS Organizations, its OU first, e.g. `ou-ab12-34cd56ef,r-ab12`
    /// (for scope rules by organizational unit).
    #[arg(long, value_name = "OU,...", value_delimiter = ',')]
    account_ous: Vec<String>,
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
        Err(error) if error.is_not_applicable() => {
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
    let leg = leg_of(&finding, args.vpc.as_deref())?;
    let attachment = Attachment::vpc(
        &leg.account,
        &leg.region,
        &leg.vpc_id,
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
        vpc_id: &leg.vpc_id,
        attachment_id: &args.attachment_id,
        attachment: &attachment,
        current_segment: before.segment(),
        quarantine: quarantine.as_ref(),
        episode_open: quarantine.is_some(),
        budget_used: BudgetUsage::default(),
        account_ous: &args.account_ous,
        now: OffsetDateTime::now_utc(),
    };
    let decision = decide(&situation, &policy, &core);
    print(
        &args,
        Some((&finding, &leg)),
        &decision,
        Some(&before),
        Some(&attachment.tags),
    );
    Ok(())
}

/// The leg simulated: a VPC of the finding's workloads, where that workload runs.
struct SimulatedLeg {
    account: String,
    region: String,
    vpc_id: String,
}

/// `--vpc` (which must be one the finding names, when it names any), else the first VPC the
/// finding names; a workload whose VPC is looked up at run time is simulated as `vpc-unknown`.
fn leg_of(finding: &Finding, vpc: Option<&str>) -> Result<SimulatedLeg, CliError> {
    let known = finding.vpc_ids();
    if let Some(vpc) = vpc.filter(|v| !known.is_empty() && !known.contains(v)) {
        return Err(CliError::invalid(format!(
            "--vpc {vpc} is not one of the finding's VPCs: {}",
            known.join(", ")
        )));
    }
    let networked = finding.workloads.iter().filter(|w| w.target.is_networked());
    let chosen = vpc.or(known.first().copied());
    let workload = networked
        .clone()
        .find(|w| chosen.is_some_and(|v| w.target.known_vpcs().contains(&v)))
        .or_else(|| networked.clone().next())
        .ok_or_else(|| CliError::invalid("the finding names no workload in a VPC"))?;
    Ok(SimulatedLeg {
        account: workload.account.clone(),
        region: workload.region.clone(),
        vpc_id: chosen.unwrap_or("vpc-unknown").to_string(),
    })
}

fn print(
    args: &Args,
    finding: Option<(&Finding, &SimulatedLeg)>,
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
                "tier": plan.map(|p| p.tier),
                "fired": decision.fired,
                "before_segment": before.and_then(Placement::segment),
                "after_segment": after.and_then(Placement::segment),
                "before": before,
                "after": after,
                "vpc_id": finding.map(|(_, leg)| &leg.vpc_id),
                "leg": finding.map(|(_, leg)| json!({"account": leg.account, "region": leg.region, "vpc_id": leg.vpc_id})),
                "scope_rule": scope_rule(decision),
                "finding": finding.map(|(f, _)| json!({
                    "id": f.id,
                    "type": f.finding_type,
                    "severity": f.severity,
                    "band": f.severity.band(),
                    "account_id": f.account_id,
                    "region": f.region,
                    "kind": f.kind,
                    "subject": f.subject(),
                    "workloads": f.workloads,
                    "vpc_ids": f.vpc_ids(),
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

/// The finding, the leg simulated and, for a plan of several workloads, each of them.
fn print_finding(f: &Finding, leg: &SimulatedLeg) {
    println!(
        "Finding    {} — severity {} ({}), role {}",
        f.finding_type,
        f.severity,
        f.severity.band(),
        f.resource_role
    );
    println!(
        "           {} in account {}, {}; VPC {}",
        f.subject(),
        leg.account,
        leg.region,
        leg.vpc_id
    );
    if f.workloads.len() > 1 {
        println!(
            "Plan       {} workloads (each VPC is a leg, decided on its own):",
            f.workloads.len()
        );
        for w in &f.workloads {
            let vpcs = w.target.known_vpcs();
            let placed = match (w.target.is_networked(), vpcs.is_empty()) {
                (false, _) => "not in a VPC of its own".to_string(),
                (true, true) => "VPC looked up at run time".to_string(),
                (true, false) => vpcs.join(", "),
            };
            println!("           {w}: {placed}");
        }
    }
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

/// The scope rule that decided, as the engine recorded it (`scope "NAME" (why): action`).
fn scope_rule(decision: &Decision) -> Option<&str> {
    decision
        .fired
        .iter()
        .find(|f| f.starts_with("scope "))
        .map(String::as_str)
}

fn print_text(
    finding: Option<(&Finding, &SimulatedLeg)>,
    decision: &Decision,
    before: Option<&Placement>,
    after: Option<&Placement>,
    tags_before: Option<&BTreeMap<String, String>>,
) {
    if let Some((f, leg)) = finding {
        print_finding(f, leg);
    }
    match &decision.outcome {
        Outcome::Quarantine(plan) => {
            let verb = match (plan.new_episode, plan.moves) {
                (true, _) => "QUARANTINE IN",
                (false, true) => "ESCALATE TO",
                (false, false) => "HOLD AT LEAST IN",
            };
            let asks = match plan.tier {
                Tier::Approve => format!(", once a person approves (tier approve from {})", plan.tier_from),
                _ => String::new(),
            };
            println!(
                "Decision   {verb} {} — {}{asks}",
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
