//! Reconcile: the one way cwq changes the network. For each attachment of the execution it
//! reads the item, computes what the live demands require, compares it with what Cloud WAN
//! reports, and does the next thing: tag, untag, accept, or nothing and wait. Cloud WAN being
//! busy (UPDATING, PENDING_NETWORK_UPDATE, ConflictException) is a result to wait on, never
//! an error. When the attachment is verified, it records that with a conditional write: if
//! the item changed while this pass worked, the write loses and the pass starts again, so
//! whoever verifies last verifies against the latest demands, and a late tag change from an
//! overtaken execution is put right.
//!
//! A leg of a quarantine whose containment fails (the deadline passes, the change needs an
//! acceptance cwq may not give) withdraws only its own demand and converges to what the
//! others require; a deleted attachment ends its episode.

use crate::audit::{AuditEntry, AuditEvent};
use crate::contract::{LegFailure, LegProgress, LegState, LoopStatus, ReconcileProgress};
use crate::deferred;
use crate::error::{PortError, StepError};
use crate::ports::{LiveAttachment, Ports, Tags};
use crate::steps::decide::Seen;
use cwq_domain::cloudwan::{Attachment, EvaluationOptions};
use cwq_domain::lifecycle::{
    next_action, Action, AttachmentItem, Change, FailReason, LiveState, Observed, Required, MARKER_KEY,
};
use cwq_domain::response_policy::ResponsePolicy;
use time::OffsetDateTime;

/// Passes over one attachment within one invocation: a pass that loses its verification write
/// to a concurrent change starts again at once, a few times, then waits like any other.
const PASSES: usize = 3;

pub async fn reconcile(p: &Ports, mut progress: ReconcileProgress) -> Result<ReconcileProgress, StepError> {
    let mut audit = Vec::new();
    let mut legs = std::mem::take(&mut progress.legs);
    for leg in legs.iter_mut().filter(|l| !l.state.is_settled()) {
        let mut run = Run {
            p,
            execution: &progress.execution_arn,
            incident: progress.incident_id.as_deref(),
            audit: &mut audit,
        };
        let result = run.leg(leg).await;
        // What was done is journaled even when a later call fails; after the first leg's calls
        // to Cloud WAN, with what Enrich and Decide left to write (crate::deferred).
        deferred::write(p, &mut progress.journal, &audit).await?;
        audit.clear();
        result?;
    }
    // Nothing left to move (every leg settled before): what waited is written all the same.
    deferred::write(p, &mut progress.journal, &[]).await?;
    progress.legs = legs;
    if progress.legs.iter().all(|l| l.state.is_settled()) {
        progress.status = LoopStatus::Done;
        progress.wait_seconds = 0;
    } else {
        progress.status = LoopStatus::Pending;
        progress.wait_seconds = p.settings.wait_seconds(progress.attempt);
        progress.attempt += 1;
    }
    Ok(progress)
}

/// Reconcile's first pass, in Decide's invocation, on what Decide just read and wrote (`seen`):
/// where the next action is the tag, it is made now, before anything else is journaled;
/// anything else (waiting, accepting, verifying) is left to the loop, which starts at once.
/// Then what Enrich and Decide left to journal is written. It never fails the invocation:
/// what it could not do or write, the loop does (the deferred writes stay in `progress`).
pub(crate) async fn first_pass(p: &Ports, progress: &mut ReconcileProgress, seen: Vec<Seen>) {
    let policy = &p.settings.policy;
    let mut audit = Vec::new();
    // Every attachment Decide wrote a demand on is one of `progress`'s legs (plan_reconcile).
    for Seen { item, live, tags } in seen {
        let required = item.required(policy);
        let observed = observed(&item, &live, &tags);
        let action = next_action(
            &item,
            &required,
            &observed,
            policy,
            p.settings.accept_pending_tags,
            None,
        );
        let Action::SetTag(value) = action else {
            continue;
        };
        match set_tag(p, &item, &value).await {
            (Ok(()), event) => audit.push(AuditEntry {
                incident_id: progress.incident_id.clone().unwrap_or_default(),
                at: p.now(),
                execution_arn: Some(progress.execution_arn.clone()),
                event,
            }),
            (Err(error), _) => {
                tracing::info!(attachment = %item.attachment.attachment_id, %error, "the first tag waits for the loop")
            }
        }
    }
    if !audit.is_empty() {
        // Verify after Cloud WAN's first interval, as the loop would after its own tag.
        progress.wait_seconds = p.settings.wait_seconds(0);
        progress.attempt = 1;
    }
    if let Err(error) = deferred::write(p, &mut progress.journal, &audit).await {
        tracing::warn!(%error, "the trail waits for the loop");
        progress.journal.audit.extend(audit);
    }
}

/// TagResource with cwq's key and, beside it in the same call, the marker: what cwq wrote is
/// recognisable.
async fn set_tag(p: &Ports, item: &AttachmentItem, value: &str) -> (Result<(), PortError>, AuditEvent) {
    let (attachment, key) = (&item.attachment, &item.tag_key);
    let tags = Tags::from([
        (key.clone(), value.to_string()),
        (MARKER_KEY.to_string(), value.to_string()),
    ]);
    (
        p.cloud_wan.tag(attachment, &tags).await,
        AuditEvent::Tagged {
            attachment_id: attachment.attachment_id.clone(),
            key: key.clone(),
            value: value.to_string(),
        },
    )
}

struct Run<'a> {
    p: &'a Ports,
    execution: &'a str,
    /// The quarantine's incident: its demand is this execution's own.
    incident: Option<&'a str>,
    audit: &'a mut Vec<AuditEntry>,
}

impl Run<'_> {
    async fn leg(&mut self, leg: &mut LegProgress) -> Result<(), StepError> {
        for _ in 0..PASSES {
            let now = self.p.now();
            let Some(mut item) = self.p.journal.item(&leg.attachment_id).await? else {
                // Nothing of cwq's was ever on it.
                leg.state = LegState::Converged;
                return Ok(());
            };
            if self.lost_own_demand(&item, leg) {
                leg.state = LegState::Yielding;
                self.note(
                    &item,
                    now,
                    AuditEvent::Superseded {
                        attachment_id: leg.attachment_id.clone(),
                    },
                );
            }
            if now > leg.deadline {
                match self
                    .give_up(&mut item, leg, LegFailure::VerificationTimeout, now)
                    .await?
                {
                    Pass::Again => continue,
                    Pass::Done => return Ok(()),
                }
            }
            match self.pass(&mut item, leg, now).await? {
                Pass::Again => continue,
                Pass::Done => return Ok(()),
            }
        }
        Ok(())
    }

    fn change(&self, now: OffsetDateTime) -> Change<'_, ResponsePolicy> {
        Change {
            execution: self.execution,
            now,
            ladder: &self.p.settings.policy,
        }
    }

    /// This execution's demand is gone, and not because this execution withdrew it.
    fn lost_own_demand(&self, item: &AttachmentItem, leg: &LegProgress) -> bool {
        self.incident
            .is_some_and(|incident| leg.state == LegState::Pending && item.demand_of(incident).is_none())
    }

    /// One look at the attachment and the next action toward what the item requires.
    async fn pass(
        &mut self,
        item: &mut AttachmentItem,
        leg: &mut LegProgress,
        now: OffsetDateTime,
    ) -> Result<Pass, StepError> {
        let policy = &self.p.settings.policy;
        let required = item.required(policy);
        let (observed, tags) = self.observe(item).await?;
        let restore_segment = match (&required, &tags) {
            (Required::Original { value }, Some(tags)) => {
                self.restore_segment(item, tags, value.as_deref()).await?
            }
            _ => None,
        };
        let action = next_action(
            item,
            &required,
            &observed,
            policy,
            self.p.settings.accept_pending_tags,
            restore_segment.as_deref(),
        );
        let attachment = &item.attachment;
        let key = &item.tag_key;
        let (call, event) = match &action {
            Action::SetTag(value) => set_tag(self.p, item, value).await,
            Action::RemoveTag | Action::RemoveMarker => {
                let mut keys = vec![MARKER_KEY.to_string()];
                if action == Action::RemoveTag {
                    keys.insert(0, key.clone());
                }
                (
                    self.p.cloud_wan.untag(attachment, &keys).await,
                    AuditEvent::Untagged {
                        attachment_id: attachment.attachment_id.clone(),
                        keys,
                    },
                )
            }
            Action::Accept => (
                self.p.cloud_wan.accept(&attachment.attachment_id).await,
                AuditEvent::Accepted {
                    attachment_id: attachment.attachment_id.clone(),
                },
            ),
            Action::Wait(_) => return Ok(Pass::Done),
            Action::Converged { segment, drift } => {
                return self
                    .converged(item, leg, segment.clone(), drift.clone(), now)
                    .await
            }
            Action::Fail(FailReason::AttachmentGone) => return self.gone(item, leg, now).await,
            Action::Fail(reason) => return self.give_up(item, leg, LegFailure::Reason(*reason), now).await,
        };
        match call {
            Ok(()) => self.note(item, now, event),
            // Cloud WAN is applying another change: wait, then look again.
            Err(PortError::Busy(_)) => {}
            // Deleted meanwhile: the next look ends the episode.
            Err(PortError::NotFound(_)) => return Ok(Pass::Again),
            Err(other) => return Err(other.into()),
        }
        Ok(Pass::Done)
    }

    /// The attachment's state, segment and tags as Cloud WAN reports them now (both asked at
    /// once: one round trip on the way to the tag, not two).
    async fn observe(&self, item: &AttachmentItem) -> Result<(Observed, Option<Tags>), StepError> {
        let cloud_wan = &self.p.cloud_wan;
        let (live, tags) = futures::join!(
            cloud_wan.attachment(&item.attachment.attachment_id),
            cloud_wan.tags(&item.attachment)
        );
        let live = match live {
            Ok(live) if live.state != LiveState::Gone => live,
            Ok(_) | Err(PortError::NotFound(_)) => return Ok((gone(), None)),
            Err(other) => return Err(other.into()),
        };
        let tags = match tags {
            Ok(tags) => tags,
            Err(PortError::NotFound(_)) => return Ok((gone(), None)),
            Err(other) => return Err(other.into()),
        };
        Ok((observed(item, &live, &tags), Some(tags)))
    }

    /// Where the LIVE policy places the attachment with the original value back.
    async fn restore_segment(
        &self,
        item: &AttachmentItem,
        tags: &Tags,
        original: Option<&str>,
    ) -> Result<Option<String>, StepError> {
        let mut restored = tags.clone();
        match original {
            Some(value) => restored.insert(item.tag_key.clone(), value.to_string()),
            None => restored.remove(&item.tag_key),
        };
        let core = self
            .p
            .cloud_wan
            .live_policy(&item.attachment.core_network_id)
            .await?;
        let a = &item.attachment;
        let facts = Attachment::vpc(&a.owner_account, &a.edge_location, &a.vpc_id, restored);
        let options = EvaluationOptions {
            unknown_segment: self.p.settings.policy.unknown_segment,
        };
        Ok(core
            .evaluate(&facts, options)
            .placement
            .segment()
            .map(str::to_string))
    }

    /// Verified: record it for this generation, unless the item moved meanwhile.
    async fn converged(
        &mut self,
        item: &mut AttachmentItem,
        leg: &mut LegProgress,
        segment: Option<String>,
        drift: Option<cwq_domain::lifecycle::Drift>,
        now: OffsetDateTime,
    ) -> Result<Pass, StepError> {
        let recorded = item.is_reconciled() && item.applied.as_ref().map(|a| &a.segment) == Some(&segment);
        if !recorded {
            item.mark_applied(segment.clone(), self.execution, now);
            match self.p.journal.put_item(item).await {
                Ok(_) => {}
                Err(PortError::Conflict(_)) => return Ok(Pass::Again),
                Err(other) => return Err(other.into()),
            }
            self.note(
                item,
                now,
                AuditEvent::Converged {
                    attachment_id: leg.attachment_id.clone(),
                    segment: segment.clone(),
                    generation: item.generation,
                },
            );
        }
        if let Some(drift) = drift.clone().filter(|d| leg.drift.as_ref() != Some(d)) {
            self.note(
                item,
                now,
                AuditEvent::DriftFound {
                    attachment_id: leg.attachment_id.clone(),
                    drift,
                },
            );
        }
        leg.state = match leg.state {
            LegState::Compensating => LegState::Failed,
            LegState::Yielding => LegState::Superseded,
            _ => LegState::Converged,
        };
        leg.segment = segment;
        leg.drift = drift;
        Ok(Pass::Done)
    }

    /// Deleted, failed or rejected: there is nothing left to hold or to restore.
    async fn gone(
        &mut self,
        item: &mut AttachmentItem,
        leg: &mut LegProgress,
        now: OffsetDateTime,
    ) -> Result<Pass, StepError> {
        if item.open_episode().is_some() || !item.demands.is_empty() {
            item.close_gone(self.change(now));
            match self.p.journal.put_item(item).await {
                Ok(_) => {}
                Err(PortError::Conflict(_)) => return Ok(Pass::Again),
                Err(other) => return Err(other.into()),
            }
        }
        self.failed(item, leg, LegFailure::Reason(FailReason::AttachmentGone), now);
        leg.state = LegState::Failed;
        Ok(Pass::Done)
    }

    /// The change cannot be made (in time, or without an acceptance cwq may not give). A
    /// quarantine's own leg withdraws its demand and converges to what the others require;
    /// anything else is left to the sweep.
    async fn give_up(
        &mut self,
        item: &mut AttachmentItem,
        leg: &mut LegProgress,
        failure: LegFailure,
        now: OffsetDateTime,
    ) -> Result<Pass, StepError> {
        let own = self.incident.filter(|_| leg.state == LegState::Pending);
        if let Some(incident) = own {
            if item.withdraw(incident, self.change(now)).is_some() {
                match self.p.journal.put_item(item).await {
                    Ok(_) => {}
                    Err(PortError::Conflict(_)) => return Ok(Pass::Again),
                    Err(other) => return Err(other.into()),
                }
            }
            self.failed(item, leg, failure, now);
            leg.state = LegState::Compensating;
            leg.deadline = now + time::Duration::seconds(self.p.settings.reconcile_timeout_seconds.into());
            return Ok(Pass::Again);
        }
        leg.failure = leg.failure.or(Some(failure));
        leg.state = LegState::Stuck;
        self.note(
            item,
            now,
            AuditEvent::Stuck {
                attachment_id: leg.attachment_id.clone(),
                reason: failure.to_string(),
            },
        );
        Ok(Pass::Done)
    }

    fn failed(
        &mut self,
        item: &AttachmentItem,
        leg: &mut LegProgress,
        failure: LegFailure,
        now: OffsetDateTime,
    ) {
        leg.failure = Some(failure);
        self.note(
            item,
            now,
            AuditEvent::ContainmentFailed {
                attachment_id: leg.attachment_id.clone(),
                failure,
            },
        );
    }

    /// Journals `event` under the incident this execution works for, or else under the
    /// incidents whose demands are on the attachment (or that opened its episode).
    fn note(&mut self, item: &AttachmentItem, at: OffsetDateTime, event: AuditEvent) {
        let incidents: Vec<String> = match self.incident {
            Some(incident) => vec![incident.to_string()],
            None => concerned(item),
        };
        for incident_id in incidents {
            self.audit.push(AuditEntry {
                incident_id,
                at,
                execution_arn: Some(self.execution.to_string()),
                event: event.clone(),
            });
        }
    }
}

enum Pass {
    /// Look again now (the item changed, or a demand was just withdrawn).
    Again,
    Done,
}

/// The incidents an attachment-level event concerns.
pub(crate) fn concerned(item: &AttachmentItem) -> Vec<String> {
    let mut incidents: Vec<String> = item.demands.iter().map(|d| d.incident_id.clone()).collect();
    if let Some(episode) = &item.episode {
        if !incidents.contains(&episode.started_by) {
            incidents.push(episode.started_by.clone());
        }
    }
    incidents
}

fn gone() -> Observed {
    Observed {
        state: LiveState::Gone,
        segment: None,
        tag_value: None,
        marker: None,
    }
}

fn observed(item: &AttachmentItem, live: &LiveAttachment, tags: &Tags) -> Observed {
    let _ = &live.proposed_tags;
    Observed {
        state: live.state,
        segment: live.segment.clone(),
        tag_value: tags.get(&item.tag_key).cloned(),
        marker: tags.get(MARKER_KEY).cloned(),
    }
}
