//! Snapshot: CreateSnapshots for all the instance's volumes (crash-consistent), tagged for the
//! chain of custody, ids journaled. It runs beside containment and never in its way: any
//! failure (the workload role missing, an SCP, a terminated instance) is journaled and
//! published as Forensics Failed, and the branch ends without failing the execution. One
//! snapshot set per incident, however often it runs.

use crate::audit::{AuditEntry, AuditEvent};
use crate::contract::{CaughtError, Forensics, Incident};
use crate::error::{PortError, StepError};
use crate::events::{EventKind, FindingSummary, OutcomeEvent};
use crate::ports::{Ports, SnapshotRequest, Tags};
use serde::{Deserialize, Serialize};

/// The incident; with `error` when the branch caught a failure of this step (a crash, its
/// retries exhausted), which is then only recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotInput {
    #[serde(flatten)]
    pub incident: Incident,
    #[serde(default)]
    pub error: Option<CaughtError>,
}

pub async fn snapshot(p: &Ports, input: SnapshotInput) -> Result<Forensics, StepError> {
    let incident = &input.incident;
    if let Some(error) = &input.error {
        let why = format!("{}: {}", error.error, error.cause.as_deref().unwrap_or(""));
        return failed(p, incident, why).await;
    }
    let taken = p.journal.snapshots(&incident.incident_id).await?;
    if !taken.is_empty() {
        return Ok(Forensics {
            snapshots: taken,
            error: None,
        });
    }
    let finding = &incident.finding;
    let account = finding.account_id.clone().unwrap_or_default();
    let region = finding.region.clone().unwrap_or_default();
    let description = description(&incident.incident_id);
    // A run that died after CreateSnapshots left a tagged set the journal does not know.
    let (ids, found_after_restart) = match p
        .workloads
        .find_snapshots(&account, &region, &description, &incident.incident_id)
        .await
    {
        Ok(earlier) if !earlier.is_empty() => (earlier, true),
        Ok(_) => match create(p, incident, &account, &region, description).await {
            Ok(ids) => (ids, false),
            Err(PortError::Transient(e)) => return Err(StepError::Transient(e)),
            Err(other) => return failed(p, incident, other.to_string()).await,
        },
        Err(PortError::Transient(e)) => return Err(StepError::Transient(e)),
        Err(other) => return failed(p, incident, other.to_string()).await,
    };
    p.journal.record_snapshots(&incident.incident_id, &ids).await?;
    let entry = AuditEntry {
        incident_id: incident.incident_id.clone(),
        at: p.now(),
        execution_arn: Some(incident.execution_arn.clone()),
        event: AuditEvent::Snapshotted {
            instance_id: finding.instance_id.clone(),
            snapshots: ids.clone(),
            found_after_restart,
        },
    };
    p.journal.record(&[entry]).await?;
    Ok(Forensics {
        snapshots: ids,
        error: None,
    })
}

pub fn description(incident_id: &str) -> String {
    format!("cwq forensic snapshot, incident {incident_id}")
}

async fn create(
    p: &Ports,
    incident: &Incident,
    account: &str,
    region: &str,
    description: String,
) -> Result<Vec<String>, PortError> {
    let finding = &incident.finding;
    let tags: Tags = [
        ("cwq:incident", incident.incident_id.as_str()),
        ("cwq:finding-id", &finding.id),
        ("cwq:finding-type", &finding.finding_type),
        ("cwq:instance", &finding.instance_id),
        ("cwq:account", account),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([("cwq:acquired-at".to_string(), rfc3339(p.now()))])
    .collect();
    let request = SnapshotRequest {
        instance_id: finding.instance_id.clone(),
        description,
        tags,
    };
    p.workloads.create_snapshots(account, region, &request).await
}

/// Journals and publishes that evidence could not be preserved; containment goes on.
async fn failed(p: &Ports, incident: &Incident, why: String) -> Result<Forensics, StepError> {
    let now = p.now();
    let entry = AuditEntry {
        incident_id: incident.incident_id.clone(),
        at: now,
        execution_arn: Some(incident.execution_arn.clone()),
        event: AuditEvent::ForensicsFailed {
            instance_id: incident.finding.instance_id.clone(),
            error: why.clone(),
        },
    };
    p.journal.record(&[entry]).await?;
    let event = OutcomeEvent {
        id: format!("{}-forensics", incident.incident_id),
        kind: EventKind::ForensicsFailed,
        at: now,
        execution_arn: Some(incident.execution_arn.clone()),
        incident_id: Some(incident.incident_id.clone()),
        finding: Some(FindingSummary::from(&incident.finding)),
        legs: Vec::new(),
        reason: format!("no snapshot of {}: {why}", incident.finding.instance_id),
        time_to_contain_seconds: None,
    };
    p.events.publish(&event).await?;
    tracing::warn!(outcome = "ForensicsFailed", instance = %incident.finding.instance_id, reason = %why, "forensics failed");
    Ok(Forensics {
        snapshots: Vec::new(),
        error: Some(why),
    })
}

pub(crate) fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
