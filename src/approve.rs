//! `cwq approve` and `cwq deny`: a person answers an approval request. A finding's request
//! is answered in the journal first (who, when, why), then every execution waiting on it is
//! told with its task token (SendTaskSuccess, or SendTaskFailure `cwq.Denied`), so a second
//! answer finds the request answered and changes nothing. A release request (two-person
//! release) is carried out by a principal other than the one who asked for it.

use crate::error::CliError;
use crate::operator::{find_attachment, journal_failed, time_text, Connection, Deployed, Output};
use crate::release::{release_now, Release};
use cwq_pipeline::approval::{Approval, ApprovalRequest, Denial, RequestKind, RequestStatus, DENIED};
use cwq_pipeline::audit::{AuditEntry, AuditEvent};
use cwq_pipeline::ports::Journal;
use cwq_pipeline::PortError;
use serde_json::json;
use std::time::Duration;
use time::OffsetDateTime;

/// Approve a waiting quarantine (or a release another principal asked for).
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The request: its id (the incident that opened it), an incident waiting on it, or for a
    /// release request the vpc-… or attachment-….
    id: String,
    /// How long to wait for an approved release to be verified.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    connection: Connection,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Deny a waiting quarantine (or a release request): nothing is changed.
#[derive(Debug, clap::Args)]
pub struct DenyArgs {
    /// As for `cwq approve`.
    id: String,
    /// Why, for the journal and the waiting executions.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    connection: Connection,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub async fn approve(args: ApproveArgs) -> Result<(), CliError> {
    let deployed = Deployed::connect(&args.connection).await?;
    let (_, caller) = deployed.caller().await?;
    let mut request = pending_request(&deployed, &args.id).await?;
    if request.kind == RequestKind::Release && request.requested_by.as_deref() == Some(caller.as_str()) {
        return Err(CliError::refused(format!(
            "two-person release: {caller} asked for this release ({}); a different principal must approve it",
            request.request_id
        )));
    }
    let now = OffsetDateTime::now_utc();
    request.answer(RequestStatus::Approved, &caller, now, None);
    let request = answered(&deployed, &request).await?;
    if request.kind == RequestKind::Release {
        return approve_release(&deployed, &request, &caller, args.timeout, args.output).await;
    }
    let approval = Approval {
        request_id: request.request_id.clone(),
        by: caller.clone(),
        at: now,
    };
    let output = serde_json::to_string(&approval).map_err(CliError::failed)?;
    let sfn = deployed.step_functions();
    let mut told = Vec::new();
    for waiter in &request.waiters {
        let sent = sfn
            .send_task_success()
            .task_token(&waiter.token)
            .output(&output)
            .send()
            .await;
        told.push((waiter, sent.map_err(|e| stopped_waiting(e.into_service_error()))));
    }
    report(&request, &told, args.output)
}

pub async fn deny(args: DenyArgs) -> Result<(), CliError> {
    let reason = args.reason.trim();
    if reason.is_empty() {
        return Err(CliError::invalid(
            "--reason must say why (it goes into the journal)",
        ));
    }
    let deployed = Deployed::connect(&args.connection).await?;
    let (_, caller) = deployed.caller().await?;
    let mut request = pending_request(&deployed, &args.id).await?;
    request.answer(
        RequestStatus::Denied,
        &caller,
        OffsetDateTime::now_utc(),
        Some(reason.to_string()),
    );
    let request = answered(&deployed, &request).await?;
    let denial = Denial {
        by: caller,
        reason: reason.to_string(),
    };
    let cause = serde_json::to_string(&denial).map_err(CliError::failed)?;
    let sfn = deployed.step_functions();
    let mut told = Vec::new();
    for waiter in &request.waiters {
        let sent = sfn
            .send_task_failure()
            .task_token(&waiter.token)
            .error(DENIED)
            .cause(&cause)
            .send()
            .await;
        told.push((
            waiter,
            sent.map(|_| ())
                .map_err(|e| stopped_waiting(e.into_service_error())),
        ));
    }
    report(&request, &told, args.output)
}

/// The pending request `id` names: by its own id, an incident waiting on it, or (a release
/// request) its VPC or attachment. An answered one is refused with who answered it and when.
async fn pending_request(deployed: &Deployed, id: &str) -> Result<ApprovalRequest, CliError> {
    let journal = deployed.journal();
    let failed = |e| journal_failed(deployed, e);
    let named = match journal.approval(id).await.map_err(failed)? {
        Some(request) => Some(request),
        None => {
            let all = journal.approvals().await.map_err(failed)?;
            let names = |r: &ApprovalRequest| {
                r.concerns(id)
                    || (r.kind == RequestKind::Release
                        && r.legs.iter().any(|l| l.attachment_id == id || l.vpc_id == id))
            };
            let pending = all.iter().find(|r| r.is_pending() && names(r)).cloned();
            pending.or_else(|| all.into_iter().filter(names).max_by_key(|r| r.requested_at))
        }
    };
    let request = named.ok_or_else(|| {
        CliError::refused(format!(
            "no approval request names {id}: `cwq status` lists what waits for an answer"
        ))
    })?;
    if request.is_pending() {
        return Ok(request);
    }
    Err(CliError::refused(format!(
        "{} was {} already by {} at {}; nothing changed",
        request.request_id,
        request.status,
        request.answered_by.as_deref().unwrap_or("unknown"),
        request.answered_at.map_or("an unknown time".into(), time_text),
    )))
}

/// Journals the answer (only if nobody answered first) and who gave it, on every incident
/// the request concerns.
async fn answered(deployed: &Deployed, request: &ApprovalRequest) -> Result<ApprovalRequest, CliError> {
    let journal = deployed.journal();
    let stored = journal.put_approval(request).await.map_err(|e| match e {
        PortError::Conflict(_) => CliError::refused(format!(
            "{} was answered (or joined) while you answered it; look again with `cwq status`",
            request.request_id
        )),
        other => journal_failed(deployed, other),
    })?;
    let mut incidents: Vec<&str> = request.waiters.iter().map(|w| w.incident_id.as_str()).collect();
    if request.kind == RequestKind::Quarantine {
        incidents.push(&request.request_id);
    }
    incidents.sort_unstable();
    incidents.dedup();
    let at = request.answered_at.unwrap_or_else(OffsetDateTime::now_utc);
    let entries: Vec<AuditEntry> = incidents
        .iter()
        .map(|incident| AuditEntry {
            incident_id: incident.to_string(),
            at,
            execution_arn: None,
            event: AuditEvent::ApprovalAnswered {
                request_id: request.request_id.clone(),
                status: request.status,
                by: request.answered_by.clone().unwrap_or_default(),
                note: request.answer_note.clone(),
            },
        })
        .collect();
    journal
        .record(&entries)
        .await
        .map_err(|e| journal_failed(deployed, e))?;
    Ok(stored)
}

/// SendTask*'s error for a waiter that no longer waits: its wait timed out or it was stopped.
fn stopped_waiting<E: std::error::Error + 'static>(error: E) -> String {
    aws_sdk_sfn::error::DisplayErrorContext(error).to_string()
}

/// What the answer reached: each waiting execution, told or not (and why not).
fn report(
    request: &ApprovalRequest,
    told: &[(&cwq_pipeline::approval::Waiter, Result<impl Sized, String>)],
    format: Output,
) -> Result<(), CliError> {
    let id = &request.request_id;
    let by = request.answered_by.as_deref().unwrap_or_default();
    if format == Output::Json {
        let waiters: Vec<_> = told
            .iter()
            .map(|(w, sent)| {
                json!({"incident": w.incident_id, "execution_arn": w.execution_arn,
                                    "told": sent.is_ok(), "error": sent.as_ref().err()})
            })
            .collect();
        println!(
            "{:#}",
            json!({"request": id, "status": request.status, "by": by, "note": request.answer_note, "waiters": waiters})
        );
        return Ok(());
    }
    let vpcs: Vec<&str> = request.legs.iter().map(|l| l.vpc_id.as_str()).collect();
    println!("{id} {} by {by}: {}.", request.status, vpcs.join(", "));
    for (waiter, sent) in told {
        match sent {
            Ok(_) => println!(
                "  execution {} goes on (`cwq show {}`)",
                waiter.execution_arn, waiter.incident_id
            ),
            Err(why) => println!("  execution {} no longer waits: {why}", waiter.execution_arn),
        }
    }
    Ok(())
}

/// The second principal's approval of a release request: the release runs now.
async fn approve_release(
    deployed: &Deployed,
    request: &ApprovalRequest,
    caller: &str,
    timeout: Duration,
    output: Output,
) -> Result<(), CliError> {
    let leg = request
        .legs
        .first()
        .ok_or_else(|| CliError::failed(format!("{} names no attachment", request.request_id)))?;
    let item = find_attachment(deployed, &leg.attachment_id).await?;
    let note = format!(
        "{} (asked by {}, approved by {caller})",
        request.reason,
        request.requested_by.as_deref().unwrap_or("unknown")
    );
    release_now(
        deployed,
        &item,
        Release {
            note: &note,
            no_wait: false,
            timeout,
            output,
        },
    )
    .await
    .map_err(|e| {
        CliError::failed(format!(
            "{e} (the release request {} is approved: `cwq restart` the release execution to finish it)",
            request.request_id
        ))
    })
}
