//! `cwq release` and `cwq extend`: an operator's changes to a quarantine. Release runs the
//! deployed release state machine (the same path as expiry) with exactly the demands that hold
//! the attachment now, so the journal, the tags and the published event are those of an
//! automatic release, and a finding that arrives meanwhile keeps its hold. Where the policy
//! asks for two people (`approvals.two_person_release`, a manual-release quarantine), release
//! opens a request that a different principal carries out with `cwq approve`.

use crate::error::CliError;
use crate::operator::{
    confirm, find_attachment, journal_failed, sdk_failed, time_text, wait_for_execution, Connection,
    Deployed, Ended, Output, Progress,
};
use cwq_domain::decision::Expiry;
use cwq_domain::lifecycle::{AttachmentItem, Demand};
use cwq_domain::response_policy::ResponsePolicy;
use cwq_pipeline::approval::{request_awaiting, ApprovalRequest, AskedLeg, RequestKind, RequestStatus};
use cwq_pipeline::audit::{AuditEntry, AuditEvent};
use cwq_pipeline::contract::{ReleaseReason, ReleaseRequest};
use cwq_pipeline::policy::DEFAULT_POLICY;
use cwq_pipeline::ports::Journal;
use cwq_pipeline::PortError;
use serde_json::{json, Value};
use std::time::Duration;

/// Release a quarantined VPC now: restore its tags and verify it is back where it was.
#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    /// vpc-… or attachment-….
    what: String,
    /// Why, for the journal (e.g. a ticket number).
    #[arg(long)]
    reason: String,
    /// Do it without asking (required when standard input is not a terminal).
    #[arg(long)]
    yes: bool,
    /// Start the release and return without waiting for it.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait for the release to be verified.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    connection: Connection,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Keep a quarantine longer: its automatic expiry moves later by DURATION.
#[derive(Debug, clap::Args)]
pub struct ExtendArgs {
    /// vpc-… or attachment-….
    what: String,
    /// How much longer, e.g. 12h or 2d.
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    by: Duration,
    /// Do it without asking (required when standard input is not a terminal).
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    connection: Connection,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub async fn release(args: ReleaseArgs) -> Result<(), CliError> {
    if args.reason.trim().is_empty() {
        return Err(CliError::invalid(
            "--reason must say why (it goes into the journal)",
        ));
    }
    let deployed = Deployed::connect(&args.connection).await?;
    let item = find_attachment(&deployed, &args.what).await?;
    let a = &item.attachment;
    if item.demands.is_empty() {
        return Err(CliError::refused(format!(
            "{} ({}) is {}: no finding holds it, nothing to release",
            a.vpc_id,
            a.attachment_id,
            item.status()
        )));
    }
    let before = item
        .episode
        .as_ref()
        .and_then(|e| e.original_segment.clone())
        .unwrap_or_else(|| "no segment".into());
    let two_people = two_person_release(&deployed, &item).await?;
    let question = format!(
        "{} {} ({}) from {} ({} finding(s) hold it) back to {before}{}?",
        if two_people { "Ask to release" } else { "Release" },
        a.vpc_id,
        a.attachment_id,
        item.required_segment.as_deref().unwrap_or("its quarantine"),
        item.demands.len(),
        if two_people {
            " (a second principal must approve)"
        } else {
            ""
        },
    );
    confirm(args.yes, &question)?;
    if two_people {
        return request_release(&deployed, &item, args.reason.trim(), args.output).await;
    }
    let release = Release {
        note: args.reason.trim(),
        no_wait: args.no_wait,
        timeout: args.timeout,
        output: args.output,
    };
    release_now(&deployed, &item, release).await
}

/// How a release runs once it may.
pub struct Release<'a> {
    pub note: &'a str,
    pub no_wait: bool,
    pub timeout: Duration,
    pub output: Output,
}

/// Runs the release state machine for `item` and reports what it did.
pub async fn release_now(
    deployed: &Deployed,
    item: &AttachmentItem,
    release: Release<'_>,
) -> Result<(), CliError> {
    let execution = start_release(deployed, item, release.note).await?;
    if release.no_wait {
        match release.output {
            Output::Json => println!("{}", json!({"execution_arn": execution, "status": "RUNNING"})),
            Output::Text => println!("Release started: {execution}"),
        }
        return Ok(());
    }
    let mut progress = Progress::new();
    let what = format!("releasing {}", item.attachment.vpc_id);
    let ended = wait_for_execution(deployed, &execution, release.timeout, &mut progress, &what).await?;
    report_release(
        item,
        &execution,
        ended,
        progress.elapsed().as_secs_f64(),
        release.output,
    )
}

/// Whether releasing `item` takes two principals: the policy in effect says so
/// (`approvals.two_person_release`) and a finding holds it until released manually.
async fn two_person_release(deployed: &Deployed, item: &AttachmentItem) -> Result<bool, CliError> {
    if !item.demands.iter().any(|d| d.until == Expiry::Manual) {
        return Ok(false);
    }
    let stored = deployed
        .journal()
        .active_policy()
        .await
        .map_err(|e| journal_failed(deployed, e))?;
    let text = stored.map_or(DEFAULT_POLICY.to_string(), |p| p.text);
    let policy = ResponsePolicy::from_toml(&text)
        .map_err(|e| CliError::failed(format!("the response policy in effect: {e}")))?;
    Ok(policy.approvals.two_person_release)
}

/// The first principal's half of a two-person release: a journaled request another principal
/// approves with `cwq approve`. Asking twice is refused with the request that waits.
async fn request_release(
    deployed: &Deployed,
    item: &AttachmentItem,
    reason: &str,
    output: Output,
) -> Result<(), CliError> {
    let a = &item.attachment;
    let journal = deployed.journal();
    let failed = |e| journal_failed(deployed, e);
    let waiting = request_awaiting(&journal, &a.attachment_id)
        .await
        .map_err(failed)?;
    if let Some(waiting) = waiting.filter(|r| r.is_pending() && r.kind == RequestKind::Release) {
        return Err(CliError::refused(format!(
            "{} asked to release {} at {}: a different principal approves it with `cwq approve {}`",
            waiting.requested_by.as_deref().unwrap_or("someone"),
            a.vpc_id,
            time_text(waiting.requested_at),
            waiting.request_id
        )));
    }
    let (_, caller) = deployed.caller().await?;
    let now = time::OffsetDateTime::now_utc();
    let id = format!("release-{}-{}", a.attachment_id, now.unix_timestamp());
    let request = ApprovalRequest {
        request_id: id.clone(),
        kind: RequestKind::Release,
        status: RequestStatus::Pending,
        legs: vec![AskedLeg {
            vpc_id: a.vpc_id.clone(),
            attachment_id: a.attachment_id.clone(),
            account: a.owner_account.clone(),
            region: a.edge_location.clone(),
            segment: item.episode.as_ref().and_then(|e| e.original_segment.clone()),
            until: None,
        }],
        reason: reason.to_string(),
        requested_at: now,
        requested_by: Some(caller.clone()),
        waiters: Vec::new(),
        timeout_at: None,
        answered_by: None,
        answered_at: None,
        answer_note: None,
        version: 0,
    };
    journal.put_approval(&request).await.map_err(failed)?;
    journal
        .set_awaiting(&a.attachment_id, &id)
        .await
        .map_err(failed)?;
    let entries: Vec<AuditEntry> = item
        .demands
        .iter()
        .map(|d| AuditEntry {
            incident_id: d.incident_id.clone(),
            at: now,
            execution_arn: None,
            event: AuditEvent::ApprovalRequested {
                request_id: id.clone(),
                attachments: vec![a.attachment_id.clone()],
                joined: false,
                reason: format!("release asked by {caller}: {reason}"),
            },
        })
        .collect();
    journal.record(&entries).await.map_err(failed)?;
    match output {
        Output::Json => println!("{:#}", json!({"request": id, "status": "pending", "requested_by": caller})),
        Output::Text => println!(
            "Release of {} ({}) asked by {caller}.\nA different principal carries it out with: cwq approve {id}",
            a.vpc_id, a.attachment_id
        ),
    }
    Ok(())
}

/// Starts the release state machine for exactly the demands there now: a finding that arrives
/// meanwhile keeps its own. Returns the execution's ARN.
async fn start_release(deployed: &Deployed, item: &AttachmentItem, note: &str) -> Result<String, CliError> {
    let a = &item.attachment;
    let (account, operator) = deployed.caller().await?;
    let request = ReleaseRequest {
        attachment_id: a.attachment_id.clone(),
        reason: ReleaseReason::Manual,
        demands: item.demands.iter().map(Demand::name).collect(),
        requested_by: Some(operator.clone()),
        note: Some(note.to_string()),
    };
    let machine = deployed.state_machine_arn(&operator, &account, "release");
    let name = format!(
        "manual-{}-{}",
        a.attachment_id,
        time::OffsetDateTime::now_utc().unix_timestamp()
    );
    let started = deployed
        .step_functions()
        .start_execution()
        .state_machine_arn(&machine)
        .name(&name)
        .input(serde_json::to_string(&request).map_err(CliError::failed)?)
        .send()
        .await
        .map_err(|e| sdk_failed(&format!("states StartExecution {machine}"), e))?;
    Ok(started.execution_arn().to_string())
}

/// What the finished release did, in the operator's chosen output; an error unless it succeeded.
fn report_release(
    item: &AttachmentItem,
    execution: &str,
    ended: Ended,
    seconds: f64,
    format: Output,
) -> Result<(), CliError> {
    let a = &item.attachment;
    let output: Value = ended
        .output
        .as_deref()
        .and_then(|o| serde_json::from_str(o).ok())
        .unwrap_or(Value::Null);
    let outcome = output["outcome"]["detail_type"]
        .as_str()
        .unwrap_or("no outcome")
        .to_string();
    let segment = output["reconcile"]["legs"][0]["segment"]
        .as_str()
        .map(str::to_string);
    if format == Output::Json {
        println!(
            "{:#}",
            json!({"execution_arn": execution, "status": ended.status, "outcome": outcome, "attachment": a.attachment_id,
                   "vpc": a.vpc_id, "segment": segment, "seconds": seconds, "error": ended.error, "cause": ended.cause})
        );
    }
    if ended.status != "SUCCEEDED" {
        return Err(CliError::failed(format!(
            "the release {} ended {}: {}: {}",
            execution,
            ended.status,
            ended.error.unwrap_or_default(),
            ended.cause.unwrap_or_default()
        )));
    }
    if format == Output::Text {
        let now = segment.as_deref().unwrap_or("no segment");
        println!(
            "{outcome}: {} ({}) verified in {now} after {seconds:.1} s.\nExecution: {execution}",
            a.vpc_id, a.attachment_id
        );
        if outcome == "Quarantine Stepped Down" {
            println!(
                "A finding that arrived meanwhile still holds it: see `cwq show {}`.",
                a.attachment_id
            );
        }
    }
    Ok(())
}

pub async fn extend(args: ExtendArgs) -> Result<(), CliError> {
    let deployed = Deployed::connect(&args.connection).await?;
    let mut item = find_attachment(&deployed, &args.what).await?;
    let (vpc, attachment_id) = (
        item.attachment.vpc_id.clone(),
        item.attachment.attachment_id.clone(),
    );
    let segment = item
        .required_segment
        .clone()
        .filter(|_| !item.demands.is_empty())
        .ok_or_else(|| {
            CliError::refused(format!(
                "{vpc} ({attachment_id}) is {}: nothing to extend",
                item.status()
            ))
        })?;
    let holding = item
        .demands
        .iter()
        .filter(|d| d.segment == segment)
        .map(|d| d.until)
        .max();
    let Some(Expiry::At(from)) = holding else {
        return Err(CliError::refused(format!(
            "{vpc} is held in {segment} until released manually: nothing to extend"
        )));
    };
    let by = time::Duration::try_from(args.by).map_err(|_| {
        CliError::invalid(format!(
            "--for {} is too long",
            humantime::format_duration(args.by)
        ))
    })?;
    let to = from
        .checked_add(by)
        .ok_or_else(|| CliError::invalid("--for is too long"))?;
    confirm(
        args.yes,
        &format!(
            "Keep {vpc} ({attachment_id}) in {segment} until {} instead of {}?",
            time_text(to),
            time_text(from)
        ),
    )?;
    record_extension(&deployed, &mut item, &segment, to).await?;
    match args.output {
        Output::Json => println!(
            "{:#}",
            json!({"attachment": attachment_id, "vpc": vpc, "segment": segment,
                   "from": Expiry::At(from).to_string(), "to": Expiry::At(to).to_string()})
        ),
        Output::Text => println!(
            "{vpc} ({attachment_id}) stays in {segment} until {} (was {}).",
            time_text(to),
            time_text(from)
        ),
    }
    Ok(())
}

/// Holds `item`'s demands in `segment` until `to`, with the version check, and journals who did.
async fn record_extension(
    deployed: &Deployed,
    item: &mut AttachmentItem,
    segment: &str,
    to: time::OffsetDateTime,
) -> Result<(), CliError> {
    let (_, operator) = deployed.caller().await?;
    let journal = deployed.journal();
    let attachment_id = item.attachment.attachment_id.clone();
    let extended = item.extend(segment, Expiry::At(to));
    // The version check makes a concurrent release or escalation win; the operator retries.
    journal.put_item(item).await.map_err(|e| match e {
        PortError::Conflict(_) => CliError::failed(format!(
            "{attachment_id} changed while extending (a finding, a release or an expiry); look again with `cwq show`"
        )),
        other => journal_failed(deployed, other),
    })?;
    let entries: Vec<AuditEntry> = extended
        .iter()
        .map(|d| AuditEntry {
            incident_id: d.incident_id.clone(),
            at: time::OffsetDateTime::now_utc(),
            execution_arn: None,
            event: AuditEvent::Extended {
                attachment_id: attachment_id.clone(),
                until: Expiry::At(to),
                by: operator.clone(),
            },
        })
        .collect();
    journal
        .record(&entries)
        .await
        .map_err(|e| journal_failed(deployed, e))
}
