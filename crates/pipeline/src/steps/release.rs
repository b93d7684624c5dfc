//! Change the demands: the release state machine's first step, for expiry, an operator's
//! release and the sweep's repair. It removes exactly the demands the request names, as they
//! were named (an expiry re-checked against the stored hold with a consistent read), so a
//! late, retried or redriven release never removes a demand added or extended after it was
//! asked for. Reconcile then converges the attachment to what is left.

use crate::audit::{AuditEntry, AuditEvent};
use crate::contract::{LegProgress, ReconcileProgress, ReleaseReason, ReleaseRequest, ReleaseState};
use crate::error::StepError;
use crate::ports::Ports;
use crate::steps::reconcile::concerned;
use cwq_domain::lifecycle::{Change, Demand, DemandRef};
use serde::{Deserialize, Serialize};

/// What the state machine passes: the request and the execution handling it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseInput {
    pub request: ReleaseRequest,
    pub execution_arn: String,
}

pub async fn release(p: &Ports, input: ReleaseInput) -> Result<ReleaseState, StepError> {
    let ReleaseInput {
        request,
        execution_arn,
    } = input;
    let now = p.now();
    let mut item = p.journal.item(&request.attachment_id).await?.ok_or_else(|| {
        StepError::InvalidInput(format!("{} was never quarantined by cwq", request.attachment_id))
    })?;
    let removed = match item.last_removal_by(&execution_arn) {
        // A retry of this step after its write: report what it removed then.
        Some(removed) => removed.to_vec(),
        None => {
            let names: Vec<DemandRef> = match request.reason {
                ReleaseReason::Expired => request
                    .demands
                    .iter()
                    .filter(|name| item.demands.iter().any(|d| d.name() == **name && d.expired(now)))
                    .cloned()
                    .collect(),
                ReleaseReason::Manual => request.demands.clone(),
                ReleaseReason::Repair => Vec::new(),
            };
            let at = Change {
                execution: &execution_arn,
                now,
                ladder: &p.settings.policy,
            };
            let removed = item.remove_demands(&names, at);
            if !removed.is_empty() {
                p.journal.put_item(&item).await?;
                record(p, &item, &request, &execution_arn, &removed, now).await?;
            }
            removed
        }
    };
    let deadline = now + time::Duration::seconds(p.settings.reconcile_timeout_seconds.into());
    Ok(ReleaseState {
        reconcile: ReconcileProgress {
            execution_arn: execution_arn.clone(),
            incident_id: None,
            legs: vec![LegProgress::new(&request.attachment_id, deadline)],
            attempt: 0,
            wait_seconds: 0,
            status: Default::default(),
            journal: Default::default(),
        },
        request,
        execution_arn,
        removed,
    })
}

/// Journals the removal under every incident it concerns.
async fn record(
    p: &Ports,
    item: &cwq_domain::lifecycle::AttachmentItem,
    request: &ReleaseRequest,
    execution_arn: &str,
    removed: &[Demand],
    now: time::OffsetDateTime,
) -> Result<(), StepError> {
    let mut incidents: Vec<String> = removed.iter().map(|d| d.incident_id.clone()).collect();
    incidents.extend(concerned(item));
    incidents.sort();
    incidents.dedup();
    let event = AuditEvent::DemandsRemoved {
        attachment_id: request.attachment_id.clone(),
        reason: request.reason,
        removed: removed.iter().map(Demand::name).collect(),
        requested_by: request.requested_by.clone(),
        note: request.note.clone(),
    };
    let entries: Vec<AuditEntry> = incidents
        .into_iter()
        .map(|incident_id| AuditEntry {
            incident_id,
            at: now,
            execution_arn: Some(execution_arn.to_string()),
            event: event.clone(),
        })
        .collect();
    p.journal.record(&entries).await?;
    Ok(())
}
