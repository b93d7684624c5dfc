//! Journal writes that may wait until after the first containing call. Before the tag the
//! journal gets one write, the demand (with the budget, in one transaction); the finding's
//! sighting, the attachment hint and the audit entries of Enrich and Decide wait for it, and are
//! written in one batch right after the first tag, in the same invocation (Reconcile's first
//! pass, which writes them whether or not anything needed a tag). When that write fails, or
//! Decide ran again with a person's answer, they ride in the execution's state, which Step
//! Functions keeps across crashes, retries and redrives, and the next step writes them: the
//! Reconcile loop, or Outcome when nothing was moved, or the approval request before it waits.
//! Every write is idempotent (an audit entry's key is its content), so a step that crashes
//! after writing and is run again writes the same items again, never a second copy.

use crate::audit::{AuditEntry, AuditEvent};
use crate::error::StepError;
use crate::ports::Ports;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Deferred {
    /// The finding to mark as seen; its FindingReceived entry says whether it was the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sighting: Option<Sighting>,
    /// VPC → attachment lookups a later finding reads instead of listing attachments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<AttachmentHint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit: Vec<AuditEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    pub finding_id: String,
    pub updated_at: String,
    pub incident_id: String,
    pub execution_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentHint {
    pub core_network_id: String,
    pub region: String,
    pub vpc_id: String,
    pub attachment_id: String,
}

impl Deferred {
    pub fn is_empty(&self) -> bool {
        self.sighting.is_none() && self.hints.is_empty() && self.audit.is_empty()
    }

    /// Everything of `other` after what this holds.
    pub fn append(&mut self, other: Deferred) {
        self.sighting = self.sighting.take().or(other.sighting);
        self.hints.extend(other.hints);
        self.audit.extend(other.audit);
    }
}

/// Writes what waited and then `now` (the calling step's own entries) in one batch, and
/// empties `deferred`. On an error nothing is emptied: the step's retry writes it all again.
pub async fn write(p: &Ports, deferred: &mut Deferred, now: &[AuditEntry]) -> Result<(), StepError> {
    if let Some(s) = &deferred.sighting {
        let first = p
            .journal
            .first_sighting(&s.finding_id, &s.updated_at, &s.incident_id, &s.execution_arn)
            .await?;
        for entry in &mut deferred.audit {
            if let AuditEvent::FindingReceived { first_sighting, .. } = &mut entry.event {
                *first_sighting = first;
            }
        }
    }
    for h in &deferred.hints {
        p.journal
            .cache_attachment(&h.core_network_id, &h.region, &h.vpc_id, &h.attachment_id)
            .await?;
        p.known
            .remember(&h.core_network_id, &h.region, &h.vpc_id, &h.attachment_id, true);
    }
    let entries: Vec<AuditEntry> = deferred.audit.iter().chain(now).cloned().collect();
    if !entries.is_empty() {
        p.journal.record(&entries).await?;
    }
    *deferred = Deferred::default();
    Ok(())
}
