//! Record the outcome: every execution of either state machine ends here, whatever happened,
//! and publishes exactly one outcome. It is journaled first (one item per execution, written
//! once) and published after, again on every retry with the same id, so a retry after the
//! journal write loses nothing and consumers de-duplicate.

use super::feedback;
use crate::audit::{AuditEntry, AuditEvent};
use crate::contract::{
    CaughtError, Incident, LegProgress, LegState, OutcomeSummary, ReconcileProgress, ReleaseReason,
    ReleaseRequest, ReleaseState, Verdict,
};
use crate::deferred::{self, Deferred};
use crate::error::StepError;
use crate::events::{EventKind, FindingSummary, LegReport, LegResult, OutcomeEvent};
use crate::ports::Ports;
use cwq_domain::lifecycle::AttachmentItem;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// What the state machine passes: the execution and all its data so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeInput {
    pub execution_arn: String,
    pub data: Value,
}

pub async fn outcome(p: &Ports, input: OutcomeInput) -> Result<OutcomeSummary, StepError> {
    let now = p.now();
    let data = &input.data;
    let error: Option<CaughtError> = field(data, "error")?;
    let cause = error.as_ref().map(|e| e.error.clone());
    let mut release = None;
    let mut incident = None;
    // What Enrich and Decide left to journal, when no Reconcile wrote it (crate::deferred).
    let mut deferred = Deferred::default();
    let (event, failure) = if data.get("request").is_some() {
        let state: ReleaseState = parse(data, "the release's data")?;
        let ended = release_outcome(p, &state, error, now).await?;
        release = Some(state);
        ended
    } else if data.get("incident_id").is_some() {
        let quarantine: Incident = parse(data, "the incident")?;
        // The Parallel's results: the containment branch's data, then the forensics branch's.
        let contained: Option<ReconcileProgress> = match data.get("results") {
            Some(results) => field(&results[0], "reconcile")?,
            None => None,
        };
        deferred.append(quarantine.journal.clone());
        if let Some(progress) = contained.as_ref().or(quarantine.reconcile.as_ref()) {
            deferred.append(progress.journal.clone());
        }
        let ended = quarantine_outcome(&quarantine, contained, error, now);
        incident = Some(quarantine);
        ended
    } else if data.get("attachment_id").is_some() {
        // The release failed before it changed anything.
        let request: ReleaseRequest = parse(data, "the release request")?;
        (refused(&input.execution_arn, Some(&request), error, now), cause)
    } else {
        (refused(&input.execution_arn, None, error, now), cause)
    };
    let stored = p.journal.record_outcome(&event).await?;
    p.events.publish(&stored).await?;
    let note = match (&incident, &release) {
        (Some(incident), _) => feedback::on_containment(incident, &stored),
        (_, Some(release)) => feedback::on_release(release, &stored),
        _ => None,
    };
    feedback::write(p, note).await;
    let mut own = Vec::new();
    if let Some(incident_id) = &stored.incident_id {
        own.push(AuditEntry {
            incident_id: incident_id.clone(),
            at: stored.at,
            execution_arn: stored.execution_arn.clone(),
            event: AuditEvent::Outcome {
                detail_type: stored.kind.detail_type().to_string(),
                reason: stored.reason.clone(),
            },
        });
    }
    deferred::write(p, &mut deferred, &own).await?;
    // One line per outcome, read by the stack's metric filters (outcomes, time to contain:
    // absent when the finding carried no time, never a made-up value).
    tracing::info!(outcome = ?stored.kind, time_to_contain_seconds = stored.time_to_contain_seconds,
        reason = %stored.reason, "outcome");
    Ok(summary(&stored, failure))
}

fn parse<T: serde::de::DeserializeOwned>(data: &Value, what: &str) -> Result<T, StepError> {
    serde_json::from_value(data.clone()).map_err(|e| StepError::InvalidInput(format!("{what}: {e}")))
}

fn field<T: serde::de::DeserializeOwned>(data: &Value, key: &str) -> Result<Option<T>, StepError> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|e| StepError::InvalidInput(format!("`{key}`: {e}"))),
    }
}

/// What the state machine fails the execution with, when the outcome is a failure: the name
/// of what went wrong (VerificationTimeout, BudgetExceeded, NotAttached, InvalidInput, …).
fn summary(event: &OutcomeEvent, failure: Option<String>) -> OutcomeSummary {
    let failed = event.kind == EventKind::QuarantineFailed;
    OutcomeSummary {
        detail_type: event.kind.detail_type().to_string(),
        failed,
        error: if failed {
            failure.unwrap_or_else(|| "QuarantineFailed".into())
        } else {
            String::new()
        },
        cause: event.reason.clone(),
    }
}

fn execution_name(arn: &str) -> String {
    arn.rsplit(':').next().unwrap_or(arn).to_string()
}

fn quarantine_outcome(
    incident: &Incident,
    progress: Option<ReconcileProgress>,
    error: Option<CaughtError>,
    now: OffsetDateTime,
) -> (OutcomeEvent, Option<String>) {
    let progress = progress.or_else(|| incident.reconcile.clone());
    let (legs, reasons) = leg_reports(incident, progress.as_ref(), error.is_some());
    let kind = quarantine_kind(incident, &legs, error.is_some());
    let reason = match &error {
        Some(e) => format!(
            "interrupted by {}: {}; every demand it wrote stands, and the sweep finishes the containment",
            e.error,
            Some(e.message())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "no cause given".into())
        ),
        None if legs.is_empty() => format!(
            "no VPC to act on: {}",
            if incident.finding.sample {
                "the finding is a GuardDuty sample".to_string()
            } else if incident.unresolved.is_empty() {
                format!(
                    "{} has no network interface in a VPC (terminated?)",
                    incident.finding.subject()
                )
            } else {
                unresolved_text(incident)
            }
        ),
        None if incident.unresolved.is_empty() => reasons.join("; "),
        None => format!("{}; {}", reasons.join("; "), unresolved_text(incident)),
    };
    let time_to_contain = (kind == EventKind::QuarantineApplied)
        .then(|| incident.finding_time.map(|start| (now - start).as_seconds_f64()))
        .flatten();
    let failure = error
        .as_ref()
        .map(|e| e.error.clone())
        .or_else(|| quarantine_failure(progress.as_ref(), &legs));
    let event = OutcomeEvent {
        id: execution_name(&incident.execution_arn),
        kind,
        at: now,
        execution_arn: Some(incident.execution_arn.clone()),
        incident_id: Some(incident.incident_id.clone()),
        finding: Some(FindingSummary::from(&incident.finding)),
        legs,
        reason,
        time_to_contain_seconds: time_to_contain,
        commands: Vec::new(),
    };
    (event, failure)
}

/// The workloads Enrich could not place, in one sentence.
fn unresolved_text(incident: &Incident) -> String {
    let each: Vec<String> = incident
        .unresolved
        .iter()
        .map(|u| format!("{}: {}", u.workload, u.reason))
        .collect();
    format!("not placed in a VPC: {}", each.join("; "))
}

/// Each leg's report, and its sentence: what went wrong if something did, else what was decided.
fn leg_reports(
    incident: &Incident,
    progress: Option<&ReconcileProgress>,
    interrupted: bool,
) -> (Vec<LegReport>, Vec<String>) {
    let leg_progress = |attachment_id: &str| -> Option<LegProgress> {
        progress?
            .legs
            .iter()
            .find(|l| l.attachment_id == attachment_id)
            .cloned()
    };
    let mut reasons = Vec::new();
    let legs = incident
        .legs
        .iter()
        .map(|leg| {
            let decision = leg.decision.as_ref();
            let attachment_id = leg.attachment.as_ref().map(|a| a.attachment_id.clone());
            let progress = attachment_id.as_deref().and_then(&leg_progress);
            let (result, detail) = match (decision.map(|d| d.verdict), &progress) {
                (Some(Verdict::Contain), Some(p)) => leg_result(p, interrupted),
                (Some(Verdict::NotAttached), _) => (LegResult::NotAttached, None),
                (Some(Verdict::NoAction(reason)), _) => (LegResult::NoAction(reason), None),
                (Some(Verdict::Contain), None) | (None, _) => (LegResult::Interrupted, None),
            };
            if let Some(sentence) = detail.clone().or_else(|| decision.map(|d| d.reason.clone())) {
                reasons.push(sentence);
            }
            LegReport {
                vpc_id: leg.vpc_id.clone(),
                account: leg.account.clone(),
                region: leg.region.clone(),
                attachment_id,
                segment_before: leg.segment_before.clone(),
                segment: progress
                    .as_ref()
                    .and_then(|p| p.segment.clone())
                    .or_else(|| decision.and_then(|d| d.segment.clone())),
                until: decision.and_then(|d| d.until),
                result,
                detail,
            }
        })
        .collect();
    (legs, reasons)
}

/// Failed if anything stopped a leg (or a refusal was decided), else the best that happened.
fn quarantine_kind(incident: &Incident, legs: &[LegReport], interrupted: bool) -> EventKind {
    let results = |r: LegResult| legs.iter().any(|l| l.result == r);
    let refused = incident
        .legs
        .iter()
        .any(|l| l.decision.as_ref().is_some_and(|d| d.verdict.is_refusal()))
        || incident.unresolved.iter().any(|u| u.failed);
    let stopped = [LegResult::Failed, LegResult::Stuck, LegResult::Interrupted];
    if interrupted || refused || stopped.into_iter().any(results) {
        EventKind::QuarantineFailed
    } else if results(LegResult::Applied) {
        EventKind::QuarantineApplied
    } else if results(LegResult::Superseded) {
        EventKind::QuarantineSuperseded
    } else {
        EventKind::QuarantineNoAction
    }
}

/// The failure a leg's reconcile recorded, else the first result that is not a success.
fn quarantine_failure(progress: Option<&ReconcileProgress>, legs: &[LegReport]) -> Option<String> {
    let failed_leg = progress?
        .legs
        .iter()
        .find_map(|l| l.failure.map(|f| f.to_string()));
    failed_leg.or_else(|| {
        legs.iter()
            .map(|l| l.result)
            .find(|r| !r.is_success())
            .map(|r| r.to_string())
    })
}

/// A contained leg's result, and why when it is not Applied.
fn leg_result(progress: &LegProgress, interrupted: bool) -> (LegResult, Option<String>) {
    let failure = progress.failure.map(|f| f.to_string());
    match progress.state {
        LegState::Converged => (LegResult::Applied, None),
        LegState::Failed => (
            LegResult::Failed,
            Some(format!(
                "{} (the attachment is back {})",
                failure.unwrap_or_else(|| "failed".into()),
                progress
                    .segment
                    .as_deref()
                    .map_or("out of any segment".into(), |s| format!("in {s}"))
            )),
        ),
        LegState::Superseded => (
            LegResult::Superseded,
            Some("its demand was released by someone else before the move was verified".into()),
        ),
        LegState::Stuck => (LegResult::Stuck, failure),
        LegState::Pending | LegState::Compensating | LegState::Yielding if interrupted => {
            (LegResult::Interrupted, None)
        }
        LegState::Pending | LegState::Compensating | LegState::Yielding => (LegResult::Interrupted, failure),
    }
}

async fn release_outcome(
    p: &Ports,
    state: &ReleaseState,
    error: Option<CaughtError>,
    now: OffsetDateTime,
) -> Result<(OutcomeEvent, Option<String>), StepError> {
    let item = p.journal.item(&state.request.attachment_id).await?;
    let leg = state.reconcile.legs.first();
    let held = item.as_ref().is_some_and(|i| !i.demands.is_empty());
    let kind = release_kind(state, leg, held, error.is_some());
    let segment = leg.and_then(|l| l.segment.clone());
    let reason = match (&error, kind) {
        (Some(e), _) => format!(
            "interrupted by {}: {}; the sweep finishes it",
            e.error,
            e.message()
        ),
        (None, EventKind::QuarantineSuperseded) => {
            "none of the demands it was asked to remove was left".into()
        }
        (None, EventKind::QuarantineFailed) => format!(
            "{} not verified before the deadline; the sweep repairs and reports it",
            state.request.attachment_id
        ),
        (None, _) => format!(
            "{:?} release: {} demand(s) removed, verified {}",
            state.request.reason,
            state.removed.len(),
            segment
                .as_deref()
                .map_or("out of any segment".into(), |s| format!("in {s}"))
        ),
    };
    let incident_id = state.removed.first().map(|d| d.incident_id.clone()).or_else(|| {
        item.as_ref()
            .and_then(|i| i.episode.as_ref())
            .map(|e| e.started_by.clone())
    });
    let failure = error
        .as_ref()
        .map(|e| e.error.clone())
        .or_else(|| leg.and_then(|l| l.failure).map(|f| f.to_string()));
    let event = OutcomeEvent {
        id: execution_name(&state.execution_arn),
        kind,
        at: now,
        execution_arn: Some(state.execution_arn.clone()),
        incident_id,
        finding: None,
        legs: vec![released_leg(state, item.as_ref(), kind, segment)],
        reason,
        time_to_contain_seconds: None,
        commands: Vec::new(),
    };
    Ok((event, failure))
}

/// What a release ended as: a repair that left a demand re-applies it; a release that left one
/// steps down; one that found nothing of what it named was superseded.
fn release_kind(state: &ReleaseState, leg: Option<&LegProgress>, held: bool, interrupted: bool) -> EventKind {
    let repair = state.request.reason == ReleaseReason::Repair;
    match leg.map(|l| l.state) {
        _ if interrupted => EventKind::QuarantineFailed,
        None | Some(LegState::Stuck | LegState::Failed) => EventKind::QuarantineFailed,
        Some(LegState::Converged) if state.removed.is_empty() && !repair => EventKind::QuarantineSuperseded,
        Some(LegState::Converged) if held && repair => EventKind::QuarantineApplied,
        Some(LegState::Converged) if held => EventKind::QuarantineSteppedDown,
        Some(LegState::Converged) => EventKind::QuarantineReleased,
        Some(_) => EventKind::QuarantineFailed,
    }
}

/// The released attachment's one leg in the outcome.
fn released_leg(
    state: &ReleaseState,
    item: Option<&AttachmentItem>,
    kind: EventKind,
    segment: Option<String>,
) -> LegReport {
    let a = item.map(|i| &i.attachment);
    LegReport {
        vpc_id: a.map(|a| a.vpc_id.clone()).unwrap_or_default(),
        account: a.map(|a| a.owner_account.clone()).unwrap_or_default(),
        region: a.map(|a| a.edge_location.clone()).unwrap_or_default(),
        attachment_id: Some(state.request.attachment_id.clone()),
        result: match kind {
            EventKind::QuarantineReleased => LegResult::Released,
            EventKind::QuarantineSteppedDown => LegResult::SteppedDown,
            EventKind::QuarantineApplied => LegResult::Applied,
            EventKind::QuarantineSuperseded => LegResult::Superseded,
            _ => LegResult::Failed,
        },
        segment_before: item
            .and_then(|i| i.episode.as_ref())
            .and_then(|e| e.original_segment.clone()),
        segment,
        until: None,
        detail: None,
    }
}

/// An execution that ended before it knew its incident (the finding could not be read or is
/// not about an instance), or a release that failed before changing anything.
fn refused(
    execution_arn: &str,
    request: Option<&ReleaseRequest>,
    error: Option<CaughtError>,
    now: OffsetDateTime,
) -> OutcomeEvent {
    let not_applicable = error.as_ref().is_some_and(|e| e.error == "NotApplicable");
    let reason = error.as_ref().map_or_else(
        || "the execution ended before it knew what to act on".to_string(),
        |e| format!("{}: {}", e.error, e.message()),
    );
    OutcomeEvent {
        id: execution_name(execution_arn),
        kind: if not_applicable {
            EventKind::QuarantineNoAction
        } else {
            EventKind::QuarantineFailed
        },
        at: now,
        execution_arn: Some(execution_arn.to_string()),
        incident_id: None,
        finding: None,
        legs: request
            .map(|r| LegReport {
                vpc_id: String::new(),
                account: String::new(),
                region: String::new(),
                attachment_id: Some(r.attachment_id.clone()),
                result: LegResult::Failed,
                segment_before: None,
                segment: None,
                until: None,
                detail: error.as_ref().map(|e| e.error.clone()),
            })
            .into_iter()
            .collect(),
        reason,
        time_to_contain_seconds: None,
        commands: Vec::new(),
    }
}
