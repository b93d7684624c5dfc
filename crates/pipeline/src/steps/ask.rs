//! Ask: the quarantine execution's wait for a person (`lambda:invoke.waitForTaskToken`). The
//! Decide Lambda journals the request with the execution's task token and publishes
//! `Quarantine Approval Requested`; the execution then waits until `cwq approve` or `cwq deny`
//! answers every token of the request, or until the policy's timeout.
//!
//! A finding whose moves a pending request already covers joins it (its token is added; nothing
//! is published again), so one answer settles every finding for those VPCs. A retry or a
//! redrive of the same execution replaces its own token.

use super::decide::entry;
use crate::approval::{request_awaiting, Approval, ApprovalRequest, RequestKind, RequestStatus, Waiter};
use crate::audit::{AuditEntry, AuditEvent};
use crate::contract::Incident;
use crate::deferred;
use crate::error::StepError;
use crate::events::{EventKind, FindingSummary, LegReport, LegResult, OutcomeEvent};
use crate::ports::Ports;
use cwq_domain::decision::NoAction;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What the waiting Task passes: the incident Decide left, and the token to answer.
#[derive(Debug, Clone, Deserialize)]
pub struct AskInput {
    pub ask: Incident,
    pub token: String,
}

/// What Ask returns (Step Functions discards it: the Task's result is the answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Asked {
    pub request_id: String,
    pub joined: bool,
}

pub async fn ask(p: &Ports, input: AskInput) -> Result<Asked, StepError> {
    let AskInput {
        ask: mut incident,
        token,
    } = input;
    let Some(ask) = incident.ask.as_ref() else {
        return Err(StepError::InvalidInput("Ask: the incident asks nothing".into()));
    };
    let now = p.now();
    let waiter = Waiter {
        incident_id: incident.incident_id.clone(),
        execution_arn: incident.execution_arn.clone(),
        token,
        since: now,
    };
    let attachments: Vec<&str> = ask.legs.iter().map(|l| l.attachment_id.as_str()).collect();
    let (request, joined) = match pending_covering(p, &attachments).await? {
        Some(request) if request.request_id != incident.incident_id => (request, true),
        Some(request) => (request, false),
        None => (opened(p, &incident, now).await?, false),
    };
    let mut request = request;
    // This execution's earlier token (a retry, a redrive) is dead: the new one replaces it.
    request
        .waiters
        .retain(|w| w.execution_arn != waiter.execution_arn);
    request.waiters.push(waiter);
    let request = p.journal.put_approval(&request).await?;
    for attachment in &attachments {
        p.journal.set_awaiting(attachment, &request.request_id).await?;
    }
    let event = AuditEvent::ApprovalRequested {
        request_id: request.request_id.clone(),
        attachments: attachments.iter().map(|a| a.to_string()).collect(),
        joined,
        reason: ask.reason.clone(),
    };
    let asked = entry(&incident.incident_id, &incident.execution_arn, now, event);
    // With what Decide left to journal: nothing is moved until the answer, and what was
    // decided must show while it waits (crate::deferred).
    let mut deferred = std::mem::take(&mut incident.journal);
    if let Some(progress) = incident.reconcile.as_mut() {
        deferred.append(std::mem::take(&mut progress.journal));
    }
    deferred::write(p, &mut deferred, &[asked]).await?;
    if !joined {
        p.events.publish(&requested(&incident, &request, now)).await?;
    }
    tracing::info!(request = %request.request_id, joined, "approval requested");
    Ok(Asked {
        request_id: request.request_id,
        joined,
    })
}

/// The pending request every one of these attachments' moves waits on, if there is one.
async fn pending_covering(p: &Ports, attachments: &[&str]) -> Result<Option<ApprovalRequest>, StepError> {
    let Some(first) = attachments.first() else {
        return Ok(None);
    };
    let request = request_awaiting(p.journal.as_ref(), first).await?;
    Ok(request.filter(|r| r.is_pending() && r.covers(attachments)))
}

/// A new request for the incident's asked moves (or its own earlier one, asked again).
async fn opened(p: &Ports, incident: &Incident, now: OffsetDateTime) -> Result<ApprovalRequest, StepError> {
    let ask = incident.ask.as_ref();
    let timeout = time::Duration::seconds(ask.map_or(0, |a| a.timeout_seconds) as i64);
    let fresh = ApprovalRequest {
        request_id: incident.incident_id.clone(),
        kind: RequestKind::Quarantine,
        status: RequestStatus::Pending,
        legs: ask.map(|a| a.legs.clone()).unwrap_or_default(),
        reason: ask.map(|a| a.reason.clone()).unwrap_or_default(),
        requested_at: now,
        requested_by: None,
        waiters: Vec::new(),
        timeout_at: Some(now + timeout),
        answered_by: None,
        answered_at: None,
        answer_note: None,
        version: 0,
    };
    // Asked before and answered (a redrive asks again): the stored version is overwritten.
    let version = p
        .journal
        .approval(&incident.incident_id)
        .await?
        .map_or(0, |r| r.version);
    Ok(ApprovalRequest { version, ..fresh })
}

/// `Quarantine Approval Requested`: the moves, why, and the commands that answer it.
fn requested(incident: &Incident, request: &ApprovalRequest, now: OffsetDateTime) -> OutcomeEvent {
    let id = &request.request_id;
    let legs = request
        .legs
        .iter()
        .map(|l| LegReport {
            vpc_id: l.vpc_id.clone(),
            account: l.account.clone(),
            region: l.region.clone(),
            attachment_id: Some(l.attachment_id.clone()),
            result: LegResult::NoAction(NoAction::AwaitingApproval),
            segment_before: None,
            segment: l.segment.clone(),
            until: l.until,
            detail: None,
        })
        .collect();
    OutcomeEvent {
        id: format!("{id}-approval"),
        kind: EventKind::QuarantineApprovalRequested,
        at: now,
        execution_arn: Some(incident.execution_arn.clone()),
        incident_id: Some(incident.incident_id.clone()),
        finding: Some(FindingSummary::from(&incident.finding)),
        legs,
        reason: request.reason.clone(),
        time_to_contain_seconds: None,
        commands: vec![
            format!("cwq approve {id}"),
            format!("cwq deny {id} --reason TEXT"),
        ],
    }
}

/// The wait timed out: this execution no longer waits on the request; the last one to time
/// out closes it as timed out (unless someone answered it meanwhile). A finding that joined
/// later still waits, and can still be answered.
pub(super) async fn timed_out(
    p: &Ports,
    incident: &Incident,
    now: OffsetDateTime,
) -> Result<Vec<AuditEntry>, StepError> {
    let asked = incident.ask.iter().flat_map(|a| &a.legs);
    let Some(first) = asked.map(|l| l.attachment_id.as_str()).next() else {
        return Ok(Vec::new());
    };
    let Some(mut request) = request_awaiting(p.journal.as_ref(), first).await? else {
        return Ok(Vec::new());
    };
    let id = request.request_id.clone();
    if !request.is_pending() || !request.concerns(&incident.incident_id) {
        return Ok(Vec::new());
    }
    request
        .waiters
        .retain(|w| w.execution_arn != incident.execution_arn);
    if !request.waiters.is_empty() {
        p.journal.put_approval(&request).await?;
        return Ok(Vec::new());
    }
    let note = format!(
        "approvals.on_timeout = {:?}",
        p.settings.policy.approvals.on_timeout
    )
    .to_lowercase();
    request.answer(RequestStatus::TimedOut, "cwq (timeout)", now, Some(note.clone()));
    p.journal.put_approval(&request).await?;
    let event = AuditEvent::ApprovalAnswered {
        request_id: id,
        status: RequestStatus::TimedOut,
        by: "cwq (timeout)".into(),
        note: Some(note),
    };
    Ok(vec![entry(
        &incident.incident_id,
        &incident.execution_arn,
        now,
        event,
    )])
}

/// A finding the policy contains at once (tier `auto`, e.g. a Critical attack sequence) while a
/// request waits for the same attachment: the request is approved by that finding, and every
/// execution waiting on it goes on (its own demand then joins the quarantine in effect).
pub(super) async fn settle_waiting(
    p: &Ports,
    attachment_id: &str,
    incident: &Incident,
    now: OffsetDateTime,
) -> Result<Vec<AuditEntry>, StepError> {
    let Some(mut request) = request_awaiting(p.journal.as_ref(), attachment_id).await? else {
        return Ok(Vec::new());
    };
    let id = request.request_id.clone();
    let waiting = request.is_pending() && request.kind == RequestKind::Quarantine;
    if !waiting || request.concerns(&incident.incident_id) {
        return Ok(Vec::new());
    }
    let by = format!(
        "cwq: incident {} contains {attachment_id} at once (tier auto)",
        incident.incident_id
    );
    request.answer(RequestStatus::Approved, &by, now, None);
    p.journal.put_approval(&request).await?;
    let approval = Approval {
        request_id: id.clone(),
        by: by.clone(),
        at: now,
    };
    let output = serde_json::to_string(&approval).map_err(|e| StepError::Failed(e.to_string()))?;
    for waiter in &request.waiters {
        let told = p.executions.answer_task(&waiter.token, &output).await?;
        tracing::info!(request = %id, execution = %waiter.execution_arn, told, "approval settled by a stricter finding");
    }
    let event = AuditEvent::ApprovalAnswered {
        request_id: id,
        status: RequestStatus::Approved,
        by,
        note: None,
    };
    Ok(vec![entry(
        &incident.incident_id,
        &incident.execution_arn,
        now,
        event,
    )])
}
