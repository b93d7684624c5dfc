//! The policy file as written: TOML deserialized field by field, unknown settings refused
//! (`deny_unknown_fields`), nothing checked yet beyond types; `check` judges the values.

use super::scope::RawScope;
use super::{OnTimeout, TagMode, Tier};
use crate::cloudwan::UnknownSegment;
use crate::finding::ResourceRole;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) ladder: Vec<String>,
    #[serde(default)]
    pub(super) dry_run: bool,
    pub(super) tags: RawTags,
    #[serde(default)]
    pub(super) findings: RawFindings,
    pub(super) bands: Vec<RawBand>,
    #[serde(default)]
    pub(super) overrides: Vec<RawOverride>,
    #[serde(default)]
    pub(super) scopes: Vec<RawScope>,
    #[serde(default)]
    pub(super) protected: RawProtected,
    pub(super) budget: Option<RawBudget>,
    #[serde(default)]
    pub(super) core_network: RawCoreNetwork,
    #[serde(default)]
    pub(super) approvals: RawApprovals,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApprovals {
    pub(super) default_tier: Option<Tier>,
    pub(super) timeout: Option<String>,
    pub(super) on_timeout: Option<OnTimeout>,
    #[serde(default)]
    pub(super) two_person_release: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFindings {
    #[serde(default)]
    pub(super) act_on_samples: bool,
    #[serde(default)]
    pub(super) act_on_archived: bool,
    pub(super) act_on_target_role: Option<bool>,
    /// None: [`super::FindingFilter::ATTACKER_BUTTONS`].
    pub(super) ignore_as_target: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTags {
    pub(super) mode: TagMode,
    pub(super) key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBand {
    pub(super) name: String,
    pub(super) from: f64,
    pub(super) to: f64,
    pub(super) segment: Option<String>,
    pub(super) duration: Option<String>,
    pub(super) release: Option<String>,
    pub(super) tier: Option<Tier>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverride {
    pub(super) types: Vec<String>,
    pub(super) role: Option<ResourceRole>,
    #[serde(default)]
    pub(super) suppress: bool,
    pub(super) segment: Option<String>,
    pub(super) duration: Option<String>,
    pub(super) release: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProtected {
    #[serde(default)]
    pub(super) vpcs: Vec<String>,
    #[serde(default)]
    pub(super) attachments: Vec<String>,
    pub(super) tag: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBudget {
    pub(super) window: String,
    pub(super) max_moves: u32,
    pub(super) max_moves_per_account: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCoreNetwork {
    #[serde(default)]
    pub(super) unknown_segment: UnknownSegment,
}
