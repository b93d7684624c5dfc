//! What this process has seen of the core network's VPC attachments: a warm Lambda that scanned
//! the attachments once finds any VPC's attachment again with one GetVpcAttachment, which
//! checks the hint before anything is decided on it, instead of a journal read before that
//! round trip. Lost with the process, and never trusted unchecked. Each hint knows whether the
//! journal has it too, so that one learned from a scan is cached there once it is used.

use std::collections::HashMap;
use std::sync::Mutex;

type Key = (String, String, String);

/// Attachment ids by (core network, Region, VPC), each with whether the journal caches it.
#[derive(Debug, Default)]
pub struct KnownAttachments {
    ids: Mutex<HashMap<Key, Hint>>,
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
        self.lock().get(&key(core_network_id, region, vpc_id)).cloned()
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
        let mut ids = self.lock();
        if ids.len() >= MOST_REMEMBERED {
            ids.clear();
        }
        let fresh = || Hint {
            attachment_id: attachment_id.to_string(),
            journaled: false,
        };
        let hint = ids
            .entry(key(core_network_id, region, vpc_id))
            .or_insert_with(fresh);
        if hint.attachment_id != attachment_id {
            *hint = fresh();
        }
        hint.journaled |= journaled;
    }

    pub fn forget(&self, core_network_id: &str, region: &str, vpc_id: &str) {
        self.lock().remove(&key(core_network_id, region, vpc_id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Hint>> {
        // A panic while holding it leaves a map of hints, still valid.
        self.ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
}
