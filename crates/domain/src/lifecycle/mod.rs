//! The lifecycle of a quarantine (docs/lifecycle.md): the demands on an attachment, the segment
//! they require, and what reconciling the attachment toward it must do next. Pure: no I/O.
//!
//! A finding that cwq acts on adds a *demand*; demands are removed only by name (their expiry,
//! an operator's release, the failure of the containment that added them). The *required*
//! state is the strictest live demand, or, with none left, the tags the attachment had before
//! the first demand of the episode. Every change to the network is a reconcile toward it.
//!
//! The records are here; `item` is the journal's item per attachment and what changes it,
//! `reconcile` decides the next step toward the required state.

mod item;
mod reconcile;

pub use item::AttachmentItem;
pub use reconcile::{next_action, Action, Drift, FailReason, LiveState, Observed, WaitReason};

use crate::decision::Expiry;
use serde::{Deserialize, Serialize};
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
    /// The finding's ARN: its id in Security Hub, where a release is noted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_arn: Option<String>,
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
