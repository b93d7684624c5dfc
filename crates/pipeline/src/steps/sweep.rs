//! Sweep: on a schedule, over the live items only (a sparse index), each in isolation:
//! - demands whose hold has passed get a release execution that removes exactly those;
//! - an item not converged whose changing execution has stopped (a crash, retries exhausted)
//!   gets a repair execution, and is reported once as Quarantine Stuck; it stays contained;
//! - a held attachment whose cwq tag was removed or set laxer gets a repair execution, and
//!   the drift is reported (a stricter value an operator set by hand is left as it is).
//!
//! Executions are named after the attachment and the generation of its demands, so a second
//! sweep starts nothing new while the first one's execution runs. Items are checked
//! `CWQ_SWEEP_CONCURRENCY` at a time within `CWQ_SWEEP_BUDGET_SECONDS`; what is left waits for
//! the next sweep (docs/benchmarks.md, "The sweep at scale").

use crate::audit::{AuditEntry, AuditEvent};
use crate::contract::{ReleaseReason, ReleaseRequest};
use crate::error::{PortError, StepError};
use crate::events::{EventKind, LegReport, LegResult, OutcomeEvent};
use crate::ports::{Ports, Started};
use crate::steps::reconcile::concerned;
use cwq_domain::lifecycle::{AttachmentItem, Demand, Ladder, Repair, RepairReason, Required, MARKER_KEY};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    pub examined: usize,
    /// Release executions started for expired demands.
    pub expiries: Vec<String>,
    /// Repair executions started (unconverged or drifted items).
    pub repairs: Vec<String>,
    /// Items whose sweep failed (each counted, none stopping the others).
    pub failures: Vec<String>,
    /// Items left for the next sweep because this one's time was spent.
    #[serde(default)]
    pub deferred: usize,
}

impl SweepReport {
    fn merge(&mut self, other: SweepReport) {
        self.expiries.extend(other.expiries);
        self.repairs.extend(other.repairs);
        self.failures.extend(other.failures);
    }
}

pub async fn sweep(p: &Ports) -> Result<SweepReport, StepError> {
    let started = p.now();
    let budget = time::Duration::seconds(p.settings.sweep_budget_seconds.into());
    let items = in_sweep_order(p.journal.live_items().await?, started);
    let mut report = SweepReport {
        examined: items.len(),
        ..SweepReport::default()
    };
    // Each item in isolation, several at once, none started once the time is spent (the
    // function's timeout must not cut a check in half): those wait for the next sweep.
    let outcomes: Vec<Option<SweepReport>> = futures::stream::iter(items)
        .map(|listed| async move {
            if p.now() - started >= budget {
                return None;
            }
            Some(sweep_one(p, listed, started).await)
        })
        // Most of a check is waiting for Network Manager.
        .buffer_unordered(p.settings.sweep_concurrency)
        .collect()
        .await;
    for outcome in outcomes {
        match outcome {
            Some(one) => report.merge(one),
            None => report.deferred += 1,
        }
    }
    if report.deferred > 0 {
        tracing::warn!(
            outcome = "SweepDeferred",
            deferred = report.deferred,
            examined = report.examined,
            "the sweep's time was spent; the rest waits for the next sweep"
        );
    }
    Ok(report)
}

/// What needs an execution first (expired, unconverged, closed), then the held items'
/// drift checks, starting at a point that moves every minute, so that when a sweep's time runs
/// out before the end, the next sweeps check the others.
fn in_sweep_order(mut items: Vec<AttachmentItem>, now: OffsetDateTime) -> Vec<AttachmentItem> {
    items.sort_by(|a, b| a.attachment.attachment_id.cmp(&b.attachment.attachment_id));
    let (mut urgent, held): (Vec<_>, Vec<_>) = items.into_iter().partition(|i| needs_a_look(i, now));
    if !held.is_empty() {
        let start = (now.unix_timestamp() / 60).unsigned_abs() as usize * 7919 % held.len();
        urgent.extend(held[start..].iter().chain(&held[..start]).cloned());
    }
    urgent
}

/// One listed item: read again when it looks like it needs something, then swept.
async fn sweep_one(p: &Ports, listed: AttachmentItem, now: OffsetDateTime) -> SweepReport {
    let mut report = SweepReport::default();
    let attachment = listed.attachment.attachment_id.clone();
    // The index is eventually consistent: an item that looks like it needs something is read
    // again, consistently, before anything is started or reported for it.
    let fresh = match needs_a_look(&listed, now) {
        true => p.journal.item(&attachment).await.map(|i| i.unwrap_or(listed)),
        false => Ok(listed),
    };
    let result = match fresh {
        Ok(item) => sweep_item(p, &item, now, &mut report).await,
        Err(error) => Err(error.into()),
    };
    if let Err(error) = result {
        // Read by the stack's SweepItemFailed metric and alarm.
        tracing::warn!(outcome = "SweepItemFailed", %attachment, %error, "sweep of one item failed");
        report.failures.push(format!("{attachment}: {error}"));
    }
    report
}

/// Whether the listed item may need an execution: unconverged, or a demand expired, or an
/// episode closed (its marker may be left). Held, converged items are checked for drift on
/// Cloud WAN itself.
fn needs_a_look(item: &AttachmentItem, now: OffsetDateTime) -> bool {
    !item.is_reconciled() || item.open_episode().is_none() || item.demands.iter().any(|d| d.expired(now))
}

async fn sweep_item(
    p: &Ports,
    item: &AttachmentItem,
    now: OffsetDateTime,
    report: &mut SweepReport,
) -> Result<(), StepError> {
    let attachment_id = &item.attachment.attachment_id;
    if item.open_episode().is_none() {
        return closed(p, item, now, report).await;
    }
    // Nobody converging it: report it once, then repair it (an expiry's release repairs too).
    let stuck = !item.is_reconciled() && !running(p, item.changed_by.as_deref()).await?;
    let expired: Vec<_> = item
        .demands
        .iter()
        .filter(|d| d.expired(now))
        .map(Demand::name)
        .collect();
    if !expired.is_empty() {
        if stuck {
            report_stuck(p, item, now).await?;
        }
        let request = request(item, ReleaseReason::Expired, expired);
        let base = format!("expire-{attachment_id}-{}", item.generation);
        if let Some(arn) = start_once(p, &base, &request, now).await? {
            report.expiries.push(arn);
        }
        return Ok(());
    }
    if stuck {
        return repair(p, item, RepairReason::Unconverged, now, report).await;
    }
    if !item.is_reconciled() {
        return Ok(());
    }
    if let Required::Segment { segment, .. } = item.required(&p.settings.policy) {
        let tags = match p.cloud_wan.tags(&item.attachment).await {
            Ok(tags) => tags,
            // Deleted: the next reconcile of it ends the episode.
            Err(PortError::NotFound(_)) => return Ok(()),
            Err(other) => return Err(other.into()),
        };
        let found = tags.get(&item.tag_key);
        let ladder = &p.settings.policy;
        let stricter_by_hand = found
            .and_then(|v| ladder.rank(v))
            .is_some_and(|r| r > ladder.strictness(&segment));
        if found != Some(&segment) && !stricter_by_hand {
            let reason = format!(
                "cwq's tag {} on {attachment_id} is {} instead of {segment}: put back",
                item.tag_key,
                found.map_or("absent".to_string(), |v| format!("{v:?}"))
            );
            if repair(p, item, RepairReason::Drift, now, report).await.is_ok() {
                publish(p, item, EventKind::QuarantineDrift, reason, now).await?;
            }
        }
    }
    Ok(())
}

/// A recently closed episode: a late change from an overtaken execution (cwq's marker on the
/// attachment) is put right; once past `LINGER` (an hour), the item leaves the live index.
async fn closed(
    p: &Ports,
    item: &AttachmentItem,
    now: OffsetDateTime,
    report: &mut SweepReport,
) -> Result<(), StepError> {
    if !item.is_live(now) {
        return match p.journal.put_item(item).await {
            Ok(_) | Err(PortError::Conflict(_)) => Ok(()),
            Err(other) => Err(other.into()),
        };
    }
    match p.cloud_wan.tags(&item.attachment).await {
        Ok(tags) if tags.contains_key(MARKER_KEY) => repair(p, item, RepairReason::Drift, now, report).await,
        Ok(_) | Err(PortError::NotFound(_)) => Ok(()),
        Err(other) => Err(other.into()),
    }
}

fn request(
    item: &AttachmentItem,
    reason: ReleaseReason,
    demands: Vec<cwq_domain::lifecycle::DemandRef>,
) -> ReleaseRequest {
    ReleaseRequest {
        attachment_id: item.attachment.attachment_id.clone(),
        reason,
        demands,
        requested_by: Some("cwq sweep".into()),
        note: None,
    }
}

/// Starts `base` once; when an earlier execution of that name has stopped without finishing
/// (the item still needs it), a retry named after the time.
async fn start_once(
    p: &Ports,
    base: &str,
    request: &ReleaseRequest,
    now: OffsetDateTime,
) -> Result<Option<String>, StepError> {
    match p.executions.start_release(base, request).await? {
        Started::New(arn) => Ok(Some(arn)),
        Started::Exists(arn) if p.executions.is_running(&arn).await? => Ok(None),
        Started::Exists(_) => {
            let retry = format!("{base}-{}", now.unix_timestamp());
            match p.executions.start_release(&retry, request).await? {
                Started::New(arn) => Ok(Some(arn)),
                Started::Exists(_) => Ok(None),
            }
        }
    }
}

/// Starts a repair unless one for this generation still runs; reports a stuck item once.
async fn repair(
    p: &Ports,
    item: &AttachmentItem,
    reason: RepairReason,
    now: OffsetDateTime,
    report: &mut SweepReport,
) -> Result<(), StepError> {
    let current = item
        .repair
        .as_ref()
        .filter(|r| r.generation == item.generation && r.reason == reason);
    if let Some(arn) = current.and_then(|r| r.execution_arn.as_ref()) {
        if p.executions.is_running(arn).await? {
            return Ok(());
        }
    }
    let attachment_id = &item.attachment.attachment_id;
    let base = format!(
        "repair-{attachment_id}-{}-{}",
        item.generation,
        current.map_or(0, |r| r.attempts)
    );
    let Some(arn) = start_once(p, &base, &request(item, ReleaseReason::Repair, Vec::new()), now).await?
    else {
        return Ok(());
    };
    report.repairs.push(arn.clone());
    let mut updated = item.clone();
    updated.repair = Some(Repair {
        generation: item.generation,
        reason,
        since: current.map_or(now, |r| r.since),
        attempts: current.map_or(1, |r| r.attempts + 1),
        execution_arn: Some(arn),
    });
    match p.journal.put_item(&updated).await {
        // Changed meanwhile: whoever changed it converges it.
        Ok(_) | Err(PortError::Conflict(_)) => {}
        Err(other) => return Err(other.into()),
    }
    if reason == RepairReason::Unconverged && current.is_none() {
        report_stuck(p, item, now).await?;
    }
    Ok(())
}

async fn running(p: &Ports, execution: Option<&str>) -> Result<bool, StepError> {
    match execution {
        Some(arn) => Ok(p.executions.is_running(arn).await?),
        None => Ok(false),
    }
}

/// Quarantine Stuck, once per generation of the demands (the repair record says it was).
async fn report_stuck(p: &Ports, item: &AttachmentItem, now: OffsetDateTime) -> Result<(), StepError> {
    let reported = item
        .repair
        .as_ref()
        .is_some_and(|r| r.generation == item.generation && r.reason == RepairReason::Unconverged);
    if reported {
        return Ok(());
    }
    let why = format!(
        "{} is not converged (generation {}) and the execution that changed it has stopped; it stays held while it is repaired",
        item.attachment.attachment_id, item.generation
    );
    publish(p, item, EventKind::QuarantineStuck, why, now).await
}

async fn publish(
    p: &Ports,
    item: &AttachmentItem,
    kind: EventKind,
    reason: String,
    now: OffsetDateTime,
) -> Result<(), StepError> {
    let a = &item.attachment;
    let entries: Vec<AuditEntry> = concerned(item)
        .into_iter()
        .map(|incident_id| AuditEntry {
            incident_id,
            at: now,
            execution_arn: None,
            event: AuditEvent::Stuck {
                attachment_id: a.attachment_id.clone(),
                reason: reason.clone(),
            },
        })
        .collect();
    p.journal.record(&entries).await?;
    let event = OutcomeEvent {
        id: format!("{:?}-{}-{}", kind, a.attachment_id, item.generation),
        kind,
        at: now,
        execution_arn: None,
        incident_id: item.demands.first().map(|d| d.incident_id.clone()),
        finding: None,
        legs: vec![LegReport {
            vpc_id: a.vpc_id.clone(),
            account: a.owner_account.clone(),
            region: a.edge_location.clone(),
            attachment_id: Some(a.attachment_id.clone()),
            result: match kind {
                EventKind::QuarantineDrift => LegResult::Drifted,
                _ => LegResult::Stuck,
            },
            segment_before: None,
            segment: item.applied.as_ref().and_then(|x| x.segment.clone()),
            until: None,
            detail: None,
        }],
        reason,
        time_to_contain_seconds: None,
        commands: Vec::new(),
    };
    p.events.publish(&event).await?;
    // Read by the stack's metric filters and the stuck alarm.
    tracing::warn!(outcome = ?kind, attachment = %a.attachment_id, reason = %event.reason, "sweep");
    Ok(())
}
