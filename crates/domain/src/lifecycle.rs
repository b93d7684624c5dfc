//! The lifecycle of a quarantine (docs/lifecycle.md): the demands on an attachment, the segment
//! they require, and what reconciling the attachment toward it must do next. Pure: no I/O.
//!
//! A finding that cwq acts on adds a *demand*; demands are removed only by name (their expiry,
//! an operator's release, the failure of the containment that added them). The *required*
//! state is the strictest live demand, or, with none left, the tags the attachment had before
//! the first demand of the episode. Every change to the network is a reconcile toward it.

use crate::decision::Expiry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use time::OffsetDateTime;

/// The tag cwq writes beside its own key, with the same value, in the same TagResource call:
/// a value of the key that equals it was written by cwq (perhaps late, by an execution that
/// was overtaken), and one that does not was set by someone else. cwq removes it with its key.
pub const MARKER_KEY: &str = "cwq:applied";

/// How long a closed episode stays live for the sweep.
pub const LINGER: time::Duration = time::Duration::HOUR;

/// An attachment cwq may change, with what its ARN is built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    pub attachment_id: String,
    pub vpc_id: String,
    /// The attachment's owner (the VPC's account): attachment ARNs use it.
    pub owner_account: String,
    pub core_network_id: String,
    /// The attachment's Region.
    pub edge_location: String,
    /// `aws`, `aws-us-gov`, `aws-cn`: from the ARNs cwq was given.
    #[serde(default = "default_partition")]
    pub partition: String,
}

fn default_partition() -> String {
    "aws".into()
}

impl AttachmentRef {
    /// `arn:<partition>:networkmanager::<owner>:attachment/<id>` (global: no Region).
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:networkmanager::{}:attachment/{}",
            self.partition, self.owner_account, self.attachment_id
        )
    }
}

/// One finding's claim on an attachment: keep it at least as strict as `segment` until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demand {
    /// The incident that added it: its name.
    pub incident_id: String,
    pub segment: String,
    pub until: Expiry,
    pub finding_id: String,
    pub finding_type: String,
    pub severity: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    #[serde(default)]
    pub execution_arn: Option<String>,
}

/// A demand named precisely: a release removes only what it names, so that a late or
/// redriven release never removes a demand added after it was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemandRef {
    pub incident_id: String,
    pub until: Expiry,
}

impl Demand {
    pub fn name(&self) -> DemandRef {
        DemandRef {
            incident_id: self.incident_id.clone(),
            until: self.until,
        }
    }

    pub fn expired(&self, now: OffsetDateTime) -> bool {
        matches!(self.until, Expiry::At(at) if at <= now)
    }
}

/// From the first demand until the original tags are back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub started_by: String,
    /// The value of cwq's tag key before the episode (None: absent), recorded once.
    pub original_value: Option<String>,
    /// Where the attachment was before the episode, for people.
    pub original_segment: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
}

impl Episode {
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }
}

/// The last state a reconcile verified, and for which generation of the demands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub generation: u64,
    pub segment: Option<String>,
    pub tag_value: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub by: String,
}

/// The sweep started a repair: the item was unreconciled with nobody converging it, or cwq's
/// tag on a held attachment had been changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repair {
    pub generation: u64,
    pub reason: RepairReason,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    pub attempts: u32,
    /// The repair's execution: while it runs, the sweep starts no other.
    pub execution_arn: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RepairReason {
    /// Not converged, and the execution that changed the demands has stopped.
    Unconverged,
    /// Held and converged, and cwq's tag was removed or set laxer since.
    Drift,
}

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub execution_arn: String,
    pub removed: Vec<Demand>,
}

/// Who changes the demands, when, and the ladder that ranks them.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a, L> {
    pub execution: &'a str,
    pub now: OffsetDateTime,
    pub ladder: &'a L,
}

/// What the attachment must look like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Required {
    /// Quarantined: cwq's tag names `segment`.
    Segment { segment: String, until: Expiry },
    /// No demand is left: the original value of the key comes back (or stays).
    Original { value: Option<String> },
    /// cwq never held the attachment.
    Nothing,
}

impl Required {
    /// The value of cwq's tag key this requires (None: absent). `Nothing` requires nothing.
    pub fn tag_value(&self) -> Option<Option<&str>> {
        match self {
            Self::Segment { segment, .. } => Some(Some(segment)),
            Self::Original { value } => Some(value.as_deref()),
            Self::Nothing => None,
        }
    }
}

/// How a person reads the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Demands are live and the attachment is not verified in the required segment yet.
    Quarantining,
    Quarantined,
    /// No demand is left and the original tags are being put back.
    Releasing,
    Released,
    /// Unreconciled with nobody working on it: the sweep repairs it and reports it.
    Stuck,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_value(self).ok();
        f.write_str(text.as_ref().and_then(|v| v.as_str()).unwrap_or("?"))
    }
}

/// Ranks segments by strictness: the response policy's ladder.
pub trait Ladder {
    /// The segment's place on the ladder, least strict first; None: not on it.
    fn rank(&self, segment: &str) -> Option<usize>;

    /// For demands: a segment dropped from the ladder ranks strictest, so that it is never
    /// treated as laxer than when it was demanded.
    fn strictness(&self, segment: &str) -> usize {
        self.rank(segment).unwrap_or(usize::MAX)
    }
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
        self.applied = Some(Applied {
            generation: self.generation,
            segment,
            tag_value,
            at: now,
            by: by.to_string(),
        });
        // The original is back: the episode ends (kept, closed, for the record).
        if self.demands.is_empty() {
            if let Some(episode) = self.episode.as_mut().filter(|e| e.is_open()) {
                episode.closed_at = Some(now);
            }
        }
    }

    /// The attachment is gone (deleted): nothing is left to hold or restore.
    pub fn close_gone(&mut self, at: Change<'_, impl Ladder>) -> Vec<Demand> {
        let removed = std::mem::take(&mut self.demands);
        if let Some(episode) = self.episode.as_mut().filter(|e| e.is_open()) {
            episode.closed_at = Some(at.now);
        }
        let (execution, now) = (at.execution.to_string(), at.now);
        self.changed(at);
        self.applied = Some(Applied {
            generation: self.generation,
            segment: None,
            tag_value: None,
            at: now,
            by: execution,
        });
        removed
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

/// An attachment's state as Cloud WAN reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LiveState {
    Available,
    /// UPDATING, CREATING, PENDING_NETWORK_UPDATE: Cloud WAN is working; tag changes conflict.
    Busy,
    PendingTagAcceptance,
    PendingAttachmentAcceptance,
    /// DELETING, DELETED, FAILED, REJECTED, or not found.
    Gone,
}

/// What reconcile sees of the attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub state: LiveState,
    pub segment: Option<String>,
    /// The value of cwq's tag key (None: absent).
    pub tag_value: Option<String>,
    /// The value of [`MARKER_KEY`]: what cwq last wrote to its key.
    pub marker: Option<String>,
}

impl Observed {
    /// The key's value was written by cwq.
    fn written_by_cwq(&self) -> bool {
        self.tag_value.is_some() && self.marker == self.tag_value
    }
}

/// The next thing reconcile must do for one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// TagResource of cwq's key and the marker, both set to the value.
    SetTag(String),
    /// UntagResource of cwq's key and the marker.
    RemoveTag,
    /// UntagResource of the marker alone (the original value is back on the key).
    RemoveMarker,
    /// Accept a tag change waiting for the core network owner.
    Accept,
    Wait(WaitReason),
    /// The attachment is where it must be (or where a person put it, reported as drift).
    Converged {
        segment: Option<String>,
        drift: Option<Drift>,
    },
    Fail(FailReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaitReason {
    /// Cloud WAN is applying a change (UPDATING, PENDING_NETWORK_UPDATE, ConflictException).
    Busy,
    /// The tags are right and the attachment is not in the segment yet.
    Moving,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Drift {
    /// Someone set the key to a stricter segment than required: left as it is.
    StricterByHand { value: String },
    /// On release, someone had set the key to a value cwq never set: left as it is.
    ThirdValue { value: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailReason {
    /// Deleted, failed or rejected: nothing left to contain.
    AttachmentGone,
    /// The change waits for the core network owner's acceptance and cwq may not accept.
    AcceptanceRefused,
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Decides reconcile's next action. `restore_segment` is where the attachment belongs with
/// the original value back (the caller evaluates the LIVE core network policy for it).
pub fn next_action(
    item: &AttachmentItem,
    required: &Required,
    observed: &Observed,
    ladder: &impl Ladder,
    may_accept: bool,
    restore_segment: Option<&str>,
) -> Action {
    if observed.state == LiveState::Gone {
        return Action::Fail(FailReason::AttachmentGone);
    }
    let Some(desired) = required.tag_value() else {
        return Action::Converged {
            segment: observed.segment.clone(),
            drift: None,
        };
    };
    let current = observed.tag_value.as_deref();
    let original = item.episode.as_ref().and_then(|e| e.original_value.as_deref());
    if current != desired && current.is_some() && current != original && !observed.written_by_cwq() {
        if let Some(action) = hand_set(required, observed, ladder, current.unwrap_or_default()) {
            return action;
        }
    }
    match observed.state {
        LiveState::PendingTagAcceptance | LiveState::PendingAttachmentAcceptance if may_accept => {
            Action::Accept
        }
        LiveState::PendingTagAcceptance | LiveState::PendingAttachmentAcceptance => {
            Action::Fail(FailReason::AcceptanceRefused)
        }
        LiveState::Busy => Action::Wait(WaitReason::Busy),
        LiveState::Gone => Action::Fail(FailReason::AttachmentGone),
        LiveState::Available if current != desired => match desired {
            Some(value) => Action::SetTag(value.to_string()),
            None => Action::RemoveTag,
        },
        // The original value is back: cwq's marker goes too, so the tags are exactly as before.
        LiveState::Available
            if matches!(required, Required::Original { .. }) && observed.marker.is_some() =>
        {
            Action::RemoveMarker
        }
        LiveState::Available => {
            let expected = match required {
                Required::Segment { segment, .. } => Some(segment.as_str()),
                _ => restore_segment,
            };
            if observed.segment.as_deref() == expected {
                Action::Converged {
                    segment: observed.segment.clone(),
                    drift: None,
                }
            } else {
                Action::Wait(WaitReason::Moving)
            }
        }
    }
}

/// A value of the key that neither cwq wrote nor the original explains: a person's. It never
/// undoes containment (a laxer one is overwritten), a stricter one is left, and on release it
/// is left and reported.
fn hand_set(required: &Required, observed: &Observed, ladder: &impl Ladder, value: &str) -> Option<Action> {
    // Only a segment on the ladder counts as stricter: an unknown value may place the
    // attachment anywhere (a compromised workload would pick one that frees it).
    let stricter = |segment: &str| ladder.rank(value).is_some_and(|r| r > ladder.strictness(segment));
    let (drift, placed) = match required {
        Required::Segment { segment, .. } if stricter(segment) => (
            Drift::StricterByHand { value: value.into() },
            observed.segment.as_deref() == Some(value),
        ),
        Required::Segment { .. } => return None,
        _ => (Drift::ThirdValue { value: value.into() }, true),
    };
    Some(match observed.state {
        // cwq's marker goes even so: it is cwq's, and the value is not.
        LiveState::Available if matches!(drift, Drift::ThirdValue { .. }) && observed.marker.is_some() => {
            Action::RemoveMarker
        }
        LiveState::Available if placed => Action::Converged {
            segment: observed.segment.clone(),
            drift: Some(drift),
        },
        LiveState::Available => Action::Wait(WaitReason::Moving),
        _ => Action::Wait(WaitReason::Busy),
    })
}
