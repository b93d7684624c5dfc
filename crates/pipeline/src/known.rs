//! What this process has seen of the core network's VPC attachments: a warm Lambda that scanned
//! the attachments once finds any VPC's attachment again with one GetVpcAttachment, which
//! checks the hint before anything is decided on it, instead of a journal read before that
//! round trip. Lost with the process, and never trusted unchecked. Each hint knows whether the
//! journal has it too, so that one learned from a scan is cached there once it is used. Once
//! a scan has listed every attachment in a Region, a VPC it did not see is looked up by listing
//! again, without the journal's cache read first (`steps::enrich`).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

type Key = (String, String, String);

/// Attachment ids by (core network, Region, VPC), each with whether the journal caches it.
#[derive(Debug, Default)]
pub struct KnownAttachments {
    known: Mutex<Known>,
}

#[derive(Debug, Default)]
struct Known {
    ids: HashMap<Key, Hint>,
    /// (core network, Region) pairs a scan has listed whole.
    listed_whole: HashSet<(String, String)>,
}

/// A VPC's attachment as this process knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub attachment_id: String,
    /// The journal caches the same (read from it, or written to it by this process).
    pub journaled: bool,
}

/// Far more VPC attachments than a core network holds: a bound, not a tuning.
const MOST_REMEMBERED: usize = 100_000;

impl KnownAttachments {
    pub fn get(&self, core_network_id: &str, region: &str, vpc_id: &str) -> Option<Hint> {
        self.lock()
            .ids
            .get(&key(core_network_id, region, vpc_id))
            .cloned()
    }

    /// A scan of this process has listed every VPC attachment in the Region.
    pub fn listed_whole(&self, core_network_id: &str, region: &str) -> bool {
        let pair = (core_network_id.to_string(), region.to_string());
        self.lock().listed_whole.contains(&pair)
    }

    pub fn remember_listed_whole(&self, core_network_id: &str, region: &str) {
        let pair = (core_network_id.to_string(), region.to_string());
        self.lock().listed_whole.insert(pair);
    }

    /// Remembers `attachment_id` for the VPC; the same hint, once journaled, stays journaled.
    pub fn remember(
        &self,
        core_network_id: &str,
        region: &str,
        vpc_id: &str,
        attachment_id: &str,
        journaled: bool,
    ) {
        let mut known = self.lock();
        if known.ids.len() >= MOST_REMEMBERED {
            // What was listed whole is no longer all remembered.
            *known = Known::default();
        }
        let fresh = || Hint {
            attachment_id: attachment_id.to_string(),
            journaled: false,
        };
        let hint = known
            .ids
            .entry(key(core_network_id, region, vpc_id))
            .or_insert_with(fresh);
        if hint.attachment_id != attachment_id {
            *hint = fresh();
        }
        hint.journaled |= journaled;
    }

    pub fn forget(&self, core_network_id: &str, region: &str, vpc_id: &str) {
        self.lock().ids.remove(&key(core_network_id, region, vpc_id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        // A panic while holding it leaves hints, still valid.
        self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn key(core_network_id: &str, region: &str, vpc_id: &str) -> Key {
    (
        core_network_id.to_string(),
        region.to_string(),
        vpc_id.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_is_journaled_once_the_journal_has_it_and_a_new_attachment_starts_again() {
        let known = KnownAttachments::default();
        let at = |id: &str, journaled| Hint {
            attachment_id: id.into(),
            journaled,
        };
        known.remember("core", "us-east-1", "vpc-1", "attachment-01", false);
        assert_eq!(
            known.get("core", "us-east-1", "vpc-1"),
            Some(at("attachment-01", false))
        );
        known.remember("core", "us-east-1", "vpc-1", "attachment-01", true);
        known.remember("core", "us-east-1", "vpc-1", "attachment-01", false);
        assert_eq!(
            known.get("core", "us-east-1", "vpc-1"),
            Some(at("attachment-01", true)),
            "a scan seeing it again does not unjournal it"
        );
        known.remember("core", "us-east-1", "vpc-1", "attachment-02", false);
        assert_eq!(
            known.get("core", "us-east-1", "vpc-1"),
            Some(at("attachment-02", false))
        );
        assert_eq!(known.get("core", "eu-west-1", "vpc-1"), None, "per Region");
        known.forget("core", "us-east-1", "vpc-1");
        assert_eq!(known.get("core", "us-east-1", "vpc-1"), None);
    }

    #[test]
    fn a_region_listed_whole_is_remembered_per_core_network_and_region() {
        let known = KnownAttachments::default();
        assert!(!known.listed_whole("core", "us-east-1"));
        known.remember_listed_whole("core", "us-east-1");
        assert!(known.listed_whole("core", "us-east-1"));
        assert!(!known.listed_whole("core", "eu-west-1"));
        assert!(!known.listed_whole("other-core", "us-east-1"));
    }
}
