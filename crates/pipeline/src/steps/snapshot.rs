//! Snapshot: CreateSnapshots for all the volumes of each instance the finding names
//! (crash-consistent), in its own account and Region, tagged for the chain of custody, ids
//! journaled. It runs beside containment and never in its way: any
//! failure (the workload role missing, an SCP, a terminated instance) is journaled and
//! published as Forensics Failed, and the branch ends without failing the execution. One
//! snapshot set per instance and incident, however often it runs.

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
        return failed(p, incident, &incident.finding.subject(), why).await;
    }
    let taken = p.journal.snapshots(&incident.incident_id).await?;
    if !taken.is_empty() {
        return Ok(Forensics {
            snapshots: taken,
            error: None,
        });
    }
    // Every instance the finding names, each in its own account and Region; a function or a
    // Fargate task has no volume of its own to keep.
    let mut ids = Vec::new();
    let mut errors = Vec::new();
    for (workload, instance_id) in incident.finding.instances().take(MAX_INSTANCES) {
        let at = Where {
            account: &workload.account,
            region: &workload.region,
            instance_id,
        };
        match snapshot_instance(p, incident, &at).await? {
            Ok(mut taken) => ids.append(&mut taken),
            Err(why) => errors.push(failed(p, incident, instance_id, why).await?),
        }
    }
    if !ids.is_empty() {
        p.journal.record_snapshots(&incident.incident_id, &ids).await?;
    }
    Ok(Forensics {
        snapshots: ids,
        error: errors.into_iter().find_map(|f| f.error),
    })
}

/// At most this many instances are snapshotted per incident: CreateSnapshots is one call per
/// instance, and the branch must finish within its Lambda's timeout.
const MAX_INSTANCES: usize = 20;

struct Where<'a> {
    account: &'a str,
    region: &'a str,
    instance_id: &'a str,
}

/// One instance's snapshot set, found (a run that died after CreateSnapshots left it) or
/// made. Err inside: why evidence could not be kept (transient failures are retried instead).
async fn snapshot_instance(
    p: &Ports,
    incident: &Incident,
    at: &Where<'_>,
) -> Result<Result<Vec<String>, String>, StepError> {
    let description = description(&incident.incident_id, at.instance_id);
    let found = p
        .workloads
        .find_snapshots(at.account, at.region, &description, &incident.incident_id)
        .await;
    let (ids, found_after_restart) = match found {
        Ok(earlier) if !earlier.is_empty() => (earlier, true),
        Ok(_) => match create(p, incident, at, description).await {
            Ok(ids) => (ids, false),
            Err(PortError::Transient(e)) => return Err(StepError::Transient(e)),
            Err(other) => return Ok(Err(other.to_string())),
        },
        Err(PortError::Transient(e)) => return Err(StepError::Transient(e)),
        Err(other) => return Ok(Err(other.to_string())),
    };
    let entry = AuditEntry {
        incident_id: incident.incident_id.clone(),
        at: p.now(),
        execution_arn: Some(incident.execution_arn.clone()),
        event: AuditEvent::Snapshotted {
            instance_id: at.instance_id.to_string(),
            snapshots: ids.clone(),
            found_after_restart,
        },
    };
    p.journal.record(&[entry]).await?;
    Ok(Ok(ids))
}

pub fn description(incident_id: &str, instance_id: &str) -> String {
    format!("cwq forensic snapshot, incident {incident_id}, instance {instance_id}")
}

async fn create(
    p: &Ports,
    incident: &Incident,
    at: &Where<'_>,
    description: String,
) -> Result<Vec<String>, PortError> {
    let finding = &incident.finding;
    let tags: Tags = [
        ("cwq:incident", incident.incident_id.as_str()),
        ("cwq:finding-id", &finding.id),
        ("cwq:finding-type", &finding.finding_type),
        ("cwq:instance", at.instance_id),
        ("cwq:account", at.account),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([("cwq:acquired-at".to_string(), rfc3339(p.now()))])
    .collect();
    let request = SnapshotRequest {
        instance_id: at.instance_id.to_string(),
        description,
        tags,
    };
    p.workloads
        .create_snapshots(at.account, at.region, &request)
        .await
}

/// Journals and publishes that evidence of `what` could not be preserved; containment goes on.
async fn failed(p: &Ports, incident: &Incident, what: &str, why: String) -> Result<Forensics, StepError> {
    let now = p.now();
    let entry = AuditEntry {
        incident_id: incident.incident_id.clone(),
        at: now,
        execution_arn: Some(incident.execution_arn.clone()),
        event: AuditEvent::ForensicsFailed {
            instance_id: what.to_string(),
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
        reason: format!("no snapshot of {what}: {why}"),
        time_to_contain_seconds: None,
        commands: Vec::new(),
    };
    p.events.publish(&event).await?;
    tracing::warn!(outcome = "ForensicsFailed", instance = %what, reason = %why, "forensics failed");
    Ok(Forensics {
        snapshots: Vec::new(),
        error: Some(why),
    })
}

pub(crate) fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
