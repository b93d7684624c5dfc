//! The emulator's switches: what AWS leaves undocumented (each reading selectable, the
//! pessimistic one by default; docs/aws-behaviour.md), and the delays and faults tests steer.
//! Set at start and through the admin API (`/_cwq/cloudwan/settings`).

use cwq_domain::cloudwan::UnknownSegment;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Behaviour that AWS leaves undocumented or that tests need to steer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// How long UPDATING / CREATING / DELETING last.
    pub transition_delay_ms: u64,
    /// The same for one attachment (by id), in place of `transition_delay_ms`: a benchmark's
    /// moves of different lengths at once.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub transition_delay_ms_by_attachment: BTreeMap<String, u64>,
    /// TagResource, UntagResource, Accept, Reject and Delete answer ConflictException while the
    /// attachment is in a transition.
    pub conflict_during_transition: bool,
    /// Also accept attachment ARNs built with the core network owner's account (docs/aws-behaviour.md).
    pub accept_core_owner_arn: bool,
    /// Whether the core network owner's own tag changes wait for acceptance when the segment
    /// requires it [unverified]; other accounts' always do.
    pub owner_changes_need_acceptance: bool,
    pub unknown_segment: UnknownSegment,
    /// RejectAttachment on a tag change waiting for acceptance: the attachment becomes
    /// REJECTED and leaves its segment (the pessimistic reading), or, when false, returns to
    /// AVAILABLE in its segment [unverified either way; docs/aws-behaviour.md].
    pub rejected_tag_change_detaches: bool,
    /// ListAttachments includes each attachment's Tags (undocumented; GetVpcAttachment and
    /// ListTagsForResource do). Default false: the reading that fails protection open.
    pub list_attachments_include_tags: bool,
    /// Transitions never complete (fault injection).
    pub stuck_transitions: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            transition_delay_ms: 1000,
            transition_delay_ms_by_attachment: BTreeMap::new(),
            conflict_during_transition: true,
            accept_core_owner_arn: false,
            owner_changes_need_acceptance: true,
            unknown_segment: UnknownSegment::FallThrough,
            rejected_tag_change_detaches: true,
            list_attachments_include_tags: false,
            stuck_transitions: false,
        }
    }
}
