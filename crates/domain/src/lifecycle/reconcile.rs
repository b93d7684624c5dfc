//! What reconcile must do next for one attachment, from what the demands require and what
//! Cloud WAN reports (docs/lifecycle.md, "What reconcile does"). Pure: the caller performs the
//! action and asks again.

use super::{AttachmentItem, Ladder, Required};
use serde::{Deserialize, Serialize};
use std::fmt;

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
    /// The value of [`MARKER_KEY`](super::MARKER_KEY): what cwq last wrote to its key.
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
