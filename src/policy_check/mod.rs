//! `cwq policy check`: proves, with the same evaluator the pipeline uses, that a response
//! policy works with a core network policy — every segment it names exists, the tag cwq would
//! set lands an attachment in that segment, and no move would wait for an acceptance cwq may
//! not give — and, against a live core network, that it does so for every attachment there
//! and that every protected resource exists.
//!
//! `cwq policy apply`: that check against the deployment's core network, then the policy
//! stored in the journal, where the Lambdas read it (cwq_pipeline::policy). `cwq policy show`:
//! the policy in use, or one a decision's version names.

mod report;

use report::Report;

use crate::error::{read_input, CliError};
use crate::operator::{
    confirm, journal_failed, printable, sdk_failed, time_text, Connection, Deployed, Output,
};
use aws_sdk_networkmanager::types::{AttachmentType, CoreNetworkPolicyAlias};
use cwq_aws::cloud_wan::tag_map;
use cwq_domain::cloudwan::{Attachment, CoreNetworkPolicy};
use cwq_domain::response_policy::ResponsePolicy;
use cwq_pipeline::policy::{StoredPolicy, DEFAULT_POLICY};
use cwq_pipeline::ports::Journal;
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
    /// Check a response policy against the deployment's core network, then make it the one
    /// the Lambdas run (within CWQ_POLICY_REFRESH_SECONDS, 60 s by default; no deploy).
    Apply(ApplyArgs),
    /// The response policy in use (or the one a decision's `policy` version names).
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
struct ApplyArgs {
    /// The response policy (TOML).
    #[arg(long)]
    policy: PathBuf,
    /// The core network the stack was deployed for (its CoreNetworkId parameter).
    #[arg(long)]
    core_network_id: String,
    /// The stack's QuarantineTagKey parameter: the only key its IAM policy lets cwq change.
    #[arg(long, default_value = "quarantine")]
    quarantine_tag_key: String,
    /// The stack's AcceptPendingTags parameter.
    #[arg(long)]
    accept_pending_tags: bool,
    /// Apply without asking (required when standard input is not a terminal).
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    connection: Connection,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// A version from `cwq show` (default: the policy in use).
    #[arg(long)]
    version: Option<String>,
    #[command(flatten)]
    connection: Connection,
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
    /// The stack accepts tag changes waiting for acceptance (AcceptPendingTags=true): a target
    /// segment that requires acceptance is then not a problem.
    #[arg(long)]
    accept_pending_tags: bool,
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
    match args.command {
        Command::Check(args) => check(args).await,
        Command::Apply(args) => apply(args).await,
        Command::Show(args) => show(args).await,
    }
}

async fn check(args: CheckArgs) -> Result<(), CliError> {
    let policy = read_policy(&args.policy)?;
    let (core, live) = match (&args.core_network_policy, &args.core_network_id) {
        (Some(path), _) => {
            let core = CoreNetworkPolicy::from_json(&read_input(path, "core network policy")?)
                .map_err(|e| CliError::invalid(format!("{}: {e}", path.display())))?;
            (core, None)
        }
        (None, Some(id)) => {
            let deployed = Deployed::connect(&args.connection).await?;
            let (core, attachments) = fetch(&deployed, id).await?;
            (core, Some(attachments))
        }
        (None, None) => unreachable!("clap requires one of them"),
    };
    let report = Report::new(&policy, &core, live.as_deref(), args.accept_pending_tags);
    report.print(args.output, &[]);
    report.verdict()
}

fn read_policy(path: &std::path::Path) -> Result<ResponsePolicy, CliError> {
    ResponsePolicy::from_toml(&read_input(path, "response policy")?)
        .map_err(|e| CliError::invalid(format!("{}: {e}", path.display())))
}

async fn apply(args: ApplyArgs) -> Result<(), CliError> {
    let text = read_input(&args.policy, "response policy")?;
    let deployed = Deployed::connect(&args.connection).await?;
    let request = Apply {
        text: &text,
        source: &args.policy.display().to_string(),
        core_network_id: &args.core_network_id,
        quarantine_tag_key: &args.quarantine_tag_key,
        accept_pending_tags: args.accept_pending_tags,
        yes: args.yes,
        output: args.output,
    };
    apply_policy(&deployed, &request).await.map(|_| ())
}

/// What `cwq policy apply` is asked to do.
#[derive(Debug)]
pub struct Apply<'a> {
    pub text: &'a str,
    /// Where the text came from, for messages.
    pub source: &'a str,
    pub core_network_id: &'a str,
    pub quarantine_tag_key: &'a str,
    pub accept_pending_tags: bool,
    pub yes: bool,
    pub output: Output,
}

/// Checks the policy as the Lambdas will and against the live core network, then stores it;
/// returns its version. Nothing is stored when any check fails.
pub async fn apply_policy(deployed: &Deployed, request: &Apply<'_>) -> Result<String, CliError> {
    let text = request.text;
    // The check each Lambda runs again: valid, and tagging with the key IAM allows.
    let policy = cwq_pipeline::policy::check(text, request.quarantine_tag_key)
        .map_err(|e| CliError::invalid(format!("{}: {e}", request.source)))?;
    let (core, live) = fetch(deployed, request.core_network_id).await?;
    let report = Report::new(&policy, &core, Some(&live), request.accept_pending_tags);
    let journal = deployed.journal();
    // Quarantines under another tag key would be stranded: release them first.
    let items = journal
        .live_items()
        .await
        .map_err(|e| journal_failed(deployed, e))?;
    let stranded: Vec<String> = items
        .iter()
        .filter(|i| i.open_episode().is_some() && i.tag_key != policy.tags.key)
        .map(|i| format!("{} ({})", i.attachment.attachment_id, i.tag_key))
        .collect();
    if !stranded.is_empty() {
        return Err(CliError::refused(format!(
            "open quarantines use another tag key: {}; release them before changing tags.key",
            stranded.join(", ")
        )));
    }
    let active = journal
        .active_policy()
        .await
        .map_err(|e| journal_failed(deployed, e))?;
    let version = ResponsePolicy::version_of(text);
    let was = active.as_ref().map_or_else(
        || {
            format!(
                "the built-in default ({})",
                ResponsePolicy::version_of(DEFAULT_POLICY)
            )
        },
        |a| {
            format!(
                "{} (applied {} by {})",
                a.version,
                time_text(a.applied_at),
                printable(&a.applied_by)
            )
        },
    );
    let note = format!("in use: {was}; this policy: {version}");
    report.print(request.output, &[note]);
    report.verdict()?;
    if active.as_ref().is_some_and(|a| a.version == version) {
        println!("Version {version} is already the policy in use; nothing was changed.");
        return Ok(version);
    }
    confirm(request.yes, &format!("Apply response policy {version}?"))?;
    let (_, caller) = deployed.caller().await?;
    let stored = StoredPolicy::new(text, time::OffsetDateTime::now_utc(), &caller);
    journal
        .apply_policy(&stored)
        .await
        .map_err(|e| journal_failed(deployed, e))?;
    if request.output == Output::Text {
        println!(
            "Applied response policy {version}: new executions decide with it; warm Lambdas pick it up within CWQ_POLICY_REFRESH_SECONDS (60 s by default)."
        );
    }
    Ok(version)
}

async fn show(args: ShowArgs) -> Result<(), CliError> {
    let deployed = Deployed::connect(&args.connection).await?;
    let journal = deployed.journal();
    let stored = match &args.version {
        Some(version) => journal.policy_version(version).await,
        None => journal.active_policy().await,
    }
    .map_err(|e| journal_failed(&deployed, e))?;
    match (stored, &args.version) {
        (Some(stored), _) => {
            println!(
                "# response policy {} (applied {} by {})",
                stored.version,
                time_text(stored.applied_at),
                printable(&stored.applied_by)
            );
            print!("{}", printable_multiline(&stored.text));
        }
        (None, Some(version)) if *version == ResponsePolicy::version_of(DEFAULT_POLICY) => {
            println!("# response policy {version}: the built-in default");
            print!("{DEFAULT_POLICY}");
        }
        (None, Some(version)) => {
            return Err(CliError::refused(format!(
                "no response policy {version} was applied"
            )))
        }
        (None, None) => {
            println!(
                "# response policy {}: the built-in default (none applied)",
                ResponsePolicy::version_of(DEFAULT_POLICY)
            );
            print!("{DEFAULT_POLICY}");
        }
    }
    Ok(())
}

/// Escapes control characters line by line: a stored policy is text someone else wrote.
fn printable_multiline(text: &str) -> String {
    text.lines().map(|line| printable(line) + "\n").collect()
}

/// The LIVE policy and every VPC attachment of a core network.
async fn fetch(deployed: &Deployed, id: &str) -> Result<(CoreNetworkPolicy, Vec<Live>), CliError> {
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
    let mut live = Vec::new();
    for a in &attachments {
        // Tags from ListTagsForResource: AWS does not say list results carry them, and
        // protection must not fail open (docs/aws-behaviour.md).
        let arn = format!(
            "arn:{}:networkmanager::{}:attachment/{}",
            a.core_network_arn()
                .and_then(|c| c.split(':').nth(1))
                .unwrap_or("aws"),
            a.owner_account_id().unwrap_or_default(),
            a.attachment_id().unwrap_or_default()
        );
        let tags = nm
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| sdk_failed(&format!("networkmanager ListTagsForResource {arn}"), e))?;
        live.push(Live {
            attachment_id: a.attachment_id().unwrap_or_default().to_string(),
            facts: Attachment::vpc(
                a.owner_account_id().unwrap_or_default(),
                a.edge_location().unwrap_or_default(),
                a.resource_arn()
                    .and_then(|arn| arn.rsplit('/').next())
                    .unwrap_or_default(),
                tag_map(tags.tag_list()),
            ),
        });
    }
    Ok((core, live))
}
