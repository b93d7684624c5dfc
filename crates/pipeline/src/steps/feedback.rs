//! Feedback to the finding: when the stack says so (`SecurityHubFeedback`), the GuardDuty
//! findings behind an outcome get cwq's note in Security Hub — on containment with the workflow
//! status NOTIFIED, on release a note alone. The note is made from the journaled outcome only,
//! so a retry writes the very same note. A note that cannot be written is logged and never
//! fails the outcome: containment does not wait on a ticketing courtesy.

use crate::contract::{Incident, ReleaseState};
use crate::events::{EventKind, OutcomeEvent};
use crate::ports::Ports;
use cwq_domain::decision::Expiry;
use std::collections::BTreeMap;

/// Security Hub's limit on a note's text.
const MAX_NOTE: usize = 512;

/// What to write on which findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Note {
    pub(super) finding_arns: Vec<String>,
    pub(super) text: String,
    pub(super) workflow: Option<&'static str>,
}

/// The note on a finding whose VPCs were contained (verified).
pub(super) fn on_containment(incident: &Incident, event: &OutcomeEvent) -> Option<Note> {
    let arn = incident.finding.arn.clone()?;
    (event.kind == EventKind::QuarantineApplied).then(|| Note {
        finding_arns: vec![arn],
        text: text("contained", event),
        workflow: Some("NOTIFIED"),
    })
}

/// The note on the findings whose demands a release removed.
pub(super) fn on_release(state: &ReleaseState, event: &OutcomeEvent) -> Option<Note> {
    let released = matches!(
        event.kind,
        EventKind::QuarantineReleased | EventKind::QuarantineSteppedDown
    );
    let mut arns: Vec<String> = state
        .removed
        .iter()
        .filter_map(|d| d.finding_arn.clone())
        .collect();
    arns.sort();
    arns.dedup();
    (released && !arns.is_empty()).then(|| Note {
        finding_arns: arns,
        text: text("released", event),
        workflow: None,
    })
}

/// `cwq contained vpc-… (attachment-…) in blocked until … — incident …: <reason>`, at most
/// 512 characters.
fn text(what: &str, event: &OutcomeEvent) -> String {
    let legs: Vec<String> = event
        .legs
        .iter()
        .map(|l| {
            let attachment = l.attachment_id.as_deref().unwrap_or("not attached");
            let segment = l
                .segment
                .as_deref()
                .map(|s| format!(" in {s}"))
                .unwrap_or_default();
            let until = match l.until {
                Some(at @ Expiry::At(_)) => format!(" until {at}"),
                Some(Expiry::Manual) => " until released by an operator".to_string(),
                None => String::new(),
            };
            format!("{} ({attachment}) {}{segment}{until}", l.vpc_id, l.result)
        })
        .collect();
    let incident = event.incident_id.as_deref().unwrap_or("-");
    let full = format!(
        "cwq {what}: {} — incident {incident} (cwq show {incident})",
        legs.join("; ")
    );
    full.chars().take(MAX_NOTE).collect()
}

/// Writes `note` on its findings, one BatchUpdateFindings per Region (a finding lives in its
/// Region's Security Hub); what fails is logged.
pub(super) async fn write(p: &Ports, note: Option<Note>) {
    let Some(note) = note.filter(|_| p.settings.security_hub_feedback) else {
        return;
    };
    let mut by_region: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for arn in &note.finding_arns {
        let region = arn.split(':').nth(3).unwrap_or_default();
        by_region.entry(region).or_default().push(arn.clone());
    }
    for (region, arns) in by_region {
        match p
            .security_hub
            .note_findings(region, &arns, &note.text, note.workflow)
            .await
        {
            Ok(unprocessed) if unprocessed.is_empty() => {
                tracing::info!(region, findings = arns.len(), "security hub: noted")
            }
            Ok(unprocessed) => {
                tracing::warn!(region, unprocessed = %unprocessed.join("; "), "security hub: not noted")
            }
            Err(e) => tracing::warn!(region, error = %e, "security hub: not noted"),
        }
    }
}
