//! The journal's one item per attachment: its demands, its episode and what was last applied,
//! with the operations that change them. Every change to the demands bumps the generation,
//! which is what a reconcile converges for (docs/lifecycle.md, "The model").

use super::{
    Applied, AttachmentRef, Change, Demand, DemandRef, Episode, Ladder, Removal, Repair, RepairReason,
    Required, Status, LINGER, MARKER_KEY,
};
use crate::decision::Expiry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The journal's one item per attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentItem {
    pub attachment: AttachmentRef,
    /// The tag key cwq sets (overlay) or rewrites.
    pub tag_key: String,
    /// Bumped by every write: the optimistic lock.
    pub version: u64,
    /// Bumped when the demands or the episode change: what a reconcile converges for.
    pub generation: u64,
    pub demands: Vec<Demand>,
    /// What the demands require now, as the last writer's ladder ranked them: for people
    /// (`cwq status`); the steps compute it afresh.
    #[serde(default)]
    pub required_segment: Option<String>,
    pub episode: Option<Episode>,
    pub applied: Option<Applied>,
    /// The execution that last changed the demands: the sweep asks whether it still runs.
    pub changed_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
    #[serde(default)]
    pub repair: Option<Repair>,
    /// What the last removal of demands removed, and which execution did it: a retry of that
    /// step reports the same removal instead of finding nothing left to remove.
    #[serde(default)]
    pub last_removal: Option<Removal>,
}

impl AttachmentItem {
    /// A new item, before its first demand.
    pub fn new(attachment: AttachmentRef, tag_key: &str, now: OffsetDateTime) -> Self {
        Self {
            attachment,
            tag_key: tag_key.to_string(),
            version: 0,
            generation: 0,
            demands: Vec::new(),
            required_segment: None,
            episode: None,
            applied: None,
            changed_by: None,
            changed_at: now,
            repair: None,
            last_removal: None,
        }
    }

    pub fn open_episode(&self) -> Option<&Episode> {
        self.episode.as_ref().filter(|e| e.is_open())
    }

    /// Open, or closed within [`LINGER`]: the sweep still looks at it, so that a late change
    /// from an overtaken execution cannot outlive the episode unseen.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.episode
            .as_ref()
            .is_some_and(|e| e.closed_at.is_none_or(|closed| closed > now - LINGER))
    }

    /// The strictest live demand; ties go to the longest hold.
    pub fn governing(&self, ladder: &impl Ladder) -> Option<&Demand> {
        self.demands
            .iter()
            .max_by_key(|d| (ladder.strictness(&d.segment), d.until))
    }

    pub fn required(&self, ladder: &impl Ladder) -> Required {
        match (self.governing(ladder), &self.episode) {
            (Some(d), _) => Required::Segment {
                segment: d.segment.clone(),
                until: self.hold_of(&d.segment, ladder),
            },
            // Ending, or ended: the original value stays what the key must hold, so that a
            // late change from an overtaken execution is undone by whoever looks next.
            (None, Some(episode)) => Required::Original {
                value: episode.original_value.clone(),
            },
            (None, None) => Required::Nothing,
        }
    }

    /// How long the attachment stays at least as strict as `segment`: the latest until among
    /// demands at least that strict.
    fn hold_of(&self, segment: &str, ladder: &impl Ladder) -> Expiry {
        let rank = ladder.strictness(segment);
        self.demands
            .iter()
            .filter(|d| ladder.strictness(&d.segment) >= rank)
            .map(|d| d.until)
            .max()
            .unwrap_or(Expiry::Manual)
    }

    /// Whether the last verified state is for the current demands.
    pub fn is_reconciled(&self) -> bool {
        self.applied
            .as_ref()
            .is_some_and(|a| a.generation == self.generation)
            || (self.episode.is_none() && self.demands.is_empty())
    }

    pub fn status(&self) -> Status {
        let reconciled = self.is_reconciled();
        let repairing = self
            .repair
            .as_ref()
            .is_some_and(|r| r.generation == self.generation && r.reason == RepairReason::Unconverged);
        if repairing && !reconciled {
            return Status::Stuck;
        }
        match (self.demands.is_empty(), self.open_episode().is_some(), reconciled) {
            (false, _, true) => Status::Quarantined,
            (false, _, false) => Status::Quarantining,
            (true, true, _) => Status::Releasing,
            (true, false, _) => Status::Released,
        }
    }

    /// The earliest automatic expiry among the demands (what the sweep waits for).
    pub fn next_expiry(&self) -> Option<OffsetDateTime> {
        self.demands
            .iter()
            .filter_map(|d| match d.until {
                Expiry::At(at) => Some(at),
                Expiry::Manual => None,
            })
            .min()
    }

    pub fn demand_of(&self, incident_id: &str) -> Option<&Demand> {
        self.demands.iter().find(|d| d.incident_id == incident_id)
    }

    /// Adds (or, for the same incident, replaces) a demand. The first demand of an episode
    /// records the original value of the key, read from the attachment now; later ones never
    /// overwrite it. Returns true when this opens a new episode (what the budget counts).
    pub fn add_demand(
        &mut self,
        demand: Demand,
        original_value: Option<String>,
        original_segment: Option<String>,
        at: Change<'_, impl Ladder>,
    ) -> bool {
        let opens = self.open_episode().is_none();
        if opens {
            self.episode = Some(Episode {
                started_at: at.now,
                started_by: demand.incident_id.clone(),
                original_value,
                original_segment,
                closed_at: None,
            });
        }
        self.demands.retain(|d| d.incident_id != demand.incident_id);
        self.demands.push(demand);
        self.changed(at);
        opens
    }

    /// Removes the named demands that are still there, exactly as named. Returns what it removed.
    pub fn remove_demands(&mut self, names: &[DemandRef], at: Change<'_, impl Ladder>) -> Vec<Demand> {
        let (removed, kept): (Vec<Demand>, Vec<Demand>) =
            self.demands.drain(..).partition(|d| names.contains(&d.name()));
        self.demands = kept;
        if !removed.is_empty() {
            self.last_removal = Some(Removal {
                execution_arn: at.execution.to_string(),
                removed: removed.clone(),
            });
            self.changed(at);
        }
        removed
    }

    /// What `execution` removed, if the last removal was its.
    pub fn last_removal_by(&self, execution: &str) -> Option<&[Demand]> {
        self.last_removal
            .as_ref()
            .filter(|r| r.execution_arn == execution)
            .map(|r| r.removed.as_slice())
    }

    /// Removes every demand an incident added (compensation of its failed containment).
    pub fn withdraw(&mut self, incident_id: &str, at: Change<'_, impl Ladder>) -> Option<Demand> {
        let name = self.demand_of(incident_id)?.name();
        self.remove_demands(&[name], at).pop()
    }

    /// An operator keeps the attachment longer: every demand for `segment` (the one required)
    /// holds at least until `until`. The segment does not change, so the generation does not.
    pub fn extend(&mut self, segment: &str, until: Expiry) -> Vec<DemandRef> {
        let mut extended = Vec::new();
        for demand in self
            .demands
            .iter_mut()
            .filter(|d| d.segment == segment && d.until < until)
        {
            extended.push(demand.name());
            demand.until = until;
        }
        extended
    }

    /// The attachment was verified in the required state for the current generation.
    pub fn mark_applied(&mut self, segment: Option<String>, by: &str, now: OffsetDateTime) {
        let tag_value = match (self.demands.is_empty(), self.open_episode()) {
            (false, _) => segment.clone(),
            (true, Some(episode)) => episode.original_value.clone(),
            (true, None) => None,
        };
        self.verified(segment, tag_value, by.to_string(), now);
        // The original is back: the episode ends (kept, closed, for the record).
        if self.demands.is_empty() {
            self.close_episode(now);
        }
    }

    /// The attachment is gone (deleted): nothing is left to hold or restore.
    pub fn close_gone(&mut self, at: Change<'_, impl Ladder>) -> Vec<Demand> {
        let removed = std::mem::take(&mut self.demands);
        self.close_episode(at.now);
        let (execution, now) = (at.execution.to_string(), at.now);
        self.changed(at);
        self.verified(None, None, execution, now);
        removed
    }

    /// Records the state verified for the current generation.
    fn verified(
        &mut self,
        segment: Option<String>,
        tag_value: Option<String>,
        by: String,
        now: OffsetDateTime,
    ) {
        self.applied = Some(Applied {
            generation: self.generation,
            segment,
            tag_value,
            at: now,
            by,
        });
    }

    /// Ends the open episode, if any; a closed one keeps its first closing time.
    fn close_episode(&mut self, now: OffsetDateTime) {
        if let Some(episode) = self.episode.as_mut().filter(|e| e.is_open()) {
            episode.closed_at = Some(now);
        }
    }

    fn changed(&mut self, at: Change<'_, impl Ladder>) {
        self.generation += 1;
        self.changed_by = Some(at.execution.to_string());
        self.changed_at = at.now;
        self.required_segment = match self.required(at.ladder) {
            Required::Segment { segment, .. } => Some(segment),
            Required::Original { .. } | Required::Nothing => None,
        };
    }

    /// The original value of the key for a new episode, from the attachment's tags now: a
    /// value cwq itself wrote (a late change from an earlier episode) is not the owner's, and
    /// the last known original stands instead.
    pub fn original_for_new_episode(&self, tags: &BTreeMap<String, String>) -> Option<String> {
        let current = tags.get(&self.tag_key);
        if current.is_some() && current == tags.get(MARKER_KEY) {
            return self.episode.as_ref().and_then(|e| e.original_value.clone());
        }
        current.cloned()
    }
}
