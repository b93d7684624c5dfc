//! The response policy: what cwq does for which finding. A TOML file, documented in
//! docs/policy.md. [`ResponsePolicy::from_toml`] checks everything and reports every problem
//! at once, each with its location.
//!
//! The public model is here; `raw` is the file as written, `check` turns it into the model
//! while collecting every [`Problem`].

mod check;
mod problems;
mod raw;
mod scope;

pub use problems::{PolicyError, Problem};
pub use scope::{ScopeAction, ScopeFacts, ScopeRule};

use crate::cloudwan::UnknownSegment;
use crate::finding::{ResourceRole, Severity};
use crate::glob::TypeGlob;
use problems::Problems;
use raw::RawPolicy;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct ResponsePolicy {
    /// Segments cwq may move attachments into, least to most strict. A segment not listed
    /// counts as less strict than all of them.
    pub ladder: Vec<String>,
    pub dry_run: bool,
    pub tags: Tagging,
    pub findings: FindingFilter,
    /// Sorted by severity, covering 1.0–10.0 without gap or overlap.
    pub bands: Vec<Band>,
    pub overrides: Vec<Override>,
    /// First match applies; see [`ScopeRule`].
    pub scopes: Vec<ScopeRule>,
    pub protected: Protected,
    pub budget: Option<Budget>,
    pub unknown_segment: UnknownSegment,
    pub approvals: Approvals,
}

/// Who says yes to a move: cwq at once, a person first, or nobody (record and publish only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Contain now.
    Auto,
    /// Ask, and contain once a person approves (or as `approvals.on_timeout` says).
    #[default]
    Approve,
    /// Record and publish what would be done; change nothing.
    Notify,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Approve => "approve",
            Self::Notify => "notify",
        })
    }
}

/// `[approvals]`: the tier of a move nobody classified, and how a wait for a person ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approvals {
    /// The tier where neither the matching scope rule nor the band names one: unclassified
    /// means production, so `approve` unless the policy says otherwise.
    pub default_tier: Tier,
    /// How long a request waits for an answer.
    pub timeout: Duration,
    pub on_timeout: OnTimeout,
    /// A manual-release quarantine is released only when a second principal approves the
    /// release the first one asked for.
    pub two_person_release: bool,
}

impl Default for Approvals {
    fn default() -> Self {
        Self {
            default_tier: Tier::Approve,
            timeout: Duration::from_secs(3600),
            on_timeout: OnTimeout::Leave,
            two_person_release: false,
        }
    }
}

/// What an unanswered request comes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    Contain,
    /// Change nothing (the request is journaled as timed out).
    #[default]
    Leave,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tagging {
    pub mode: TagMode,
    /// overlay: cwq's own key; rewrite: the segment-selecting key (e.g. `domain`).
    pub key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagMode {
    /// Set cwq's own tag, mapped to a segment by a low-numbered attachment policy; the owner's
    /// tags are never touched and release removes that one key.
    Overlay,
    /// Rewrite the segment-selecting tag, keeping its previous value (or absence) for release.
    Rewrite,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingFilter {
    pub act_on_samples: bool,
    pub act_on_archived: bool,
    pub act_on_target_role: bool,
    /// A finding of these types in which the workload is only the TARGET never moves it:
    /// whoever can scan or knock on a VPC must not be able to cut it off (docs/policy.md).
    pub ignore_as_target: Vec<TypeGlob>,
}

impl FindingFilter {
    /// The types that, aimed at a workload, never move it unless the policy says otherwise.
    pub const ATTACKER_BUTTONS: [&'static str; 3] = ["Recon:*", "*BruteForce*", "*PortProbe*"];

    /// The pattern by which a TARGET finding of this type is ignored, if one is.
    pub fn ignored_as_target(&self, finding_type: &str, role: ResourceRole) -> Option<&TypeGlob> {
        if role != ResourceRole::Target {
            return None;
        }
        self.ignore_as_target
            .iter()
            .find(|glob| glob.matches(finding_type))
    }
}

impl Default for FindingFilter {
    fn default() -> Self {
        Self {
            act_on_samples: false,
            act_on_archived: false,
            act_on_target_role: true,
            ignore_as_target: Self::ATTACKER_BUTTONS
                .iter()
                .filter_map(|p| TypeGlob::new(p).ok())
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub name: String,
    /// Inclusive.
    pub from: f64,
    /// Exclusive, except that a band ending at 10.0 includes 10.0.
    pub to: f64,
    pub response: Option<Response>,
    /// None: the scope rule's tier, else `approvals.default_tier`.
    pub tier: Option<Tier>,
}

impl Band {
    pub fn contains(&self, severity: Severity) -> bool {
        let s = severity.value();
        self.from <= s && (s < self.to || (self.to >= Severity::MAX && s <= self.to))
    }
}

impl fmt::Display for Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let close = if self.to >= Severity::MAX { ']' } else { ')' };
        write!(f, "band {} [{:.1}, {:.1}{close}", self.name, self.from, self.to)
    }
}

/// Move to `segment` and hold it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub segment: String,
    pub hold: Hold,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hold {
    /// Released automatically after this long.
    For(Duration),
    /// Released only by an operator.
    Manual,
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::For(d) => write!(f, "for {}", short_duration(*d)),
            Self::Manual => f.write_str("until released by an operator"),
        }
    }
}

/// `24h`, `90m`, `45s`: the largest unit that divides the duration exactly.
pub fn short_duration(d: Duration) -> String {
    match d.as_secs() {
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub types: Vec<TypeGlob>,
    /// Only findings with this resource role, when set.
    pub role: Option<ResourceRole>,
    pub action: OverrideAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OverrideAction {
    /// Record the finding, never move.
    Suppress,
    /// At least this segment, held at least this long.
    AtLeast(Response),
}

impl Override {
    pub fn pattern_matching(&self, finding_type: &str, role: ResourceRole) -> Option<&TypeGlob> {
        if self.role.is_some_and(|r| r != role) {
            return None;
        }
        self.types.iter().find(|glob| glob.matches(finding_type))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protected {
    pub vpcs: Vec<String>,
    pub attachments: Vec<String>,
    /// An attachment carrying this tag key (any value) is never moved.
    pub tag: Option<String>,
}

/// The blast-radius budget: at most this many moves per rolling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub window: Duration,
    pub max_moves: u32,
    pub max_moves_per_account: Option<u32>,
}

impl ResponsePolicy {
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let mut problems = Problems::default();
        let policy = raw.check(&mut problems);
        if problems.0.is_empty() {
            Ok(policy)
        } else {
            Err(PolicyError::Invalid(problems.0))
        }
    }

    /// The version a decision journals: the first 16 hex digits of the text's SHA-256, so the
    /// same text is the same version wherever it is hashed (`cwq policy apply`, the Lambdas).
    pub fn version_of(text: &str) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(text.as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// Whether a scope rule matches by organizational unit: the accounts' parents must then be
    /// looked up in AWS Organizations before deciding.
    pub fn names_organizational_units(&self) -> bool {
        self.scopes.iter().any(|r| !r.organizational_units.is_empty())
    }

    /// The tier of a move the band (and the scope rule, when one matched) calls for, and what
    /// set it: the rule's tier, else the band's, else `approvals.default_tier`.
    pub fn tier_for(&self, scope: Option<&ScopeRule>, band: Option<&Band>) -> (Tier, String) {
        if let Some((rule, tier)) = scope.and_then(|r| Some((r, r.tier?))) {
            return (tier, format!("scope rule {:?}", rule.name));
        }
        if let Some((band, tier)) = band.and_then(|b| Some((b, b.tier?))) {
            return (tier, format!("band {}", band.name));
        }
        (
            self.approvals.default_tier,
            "approvals.default_tier (an unclassified scope)".into(),
        )
    }

    /// Whether any move may wait for a person (a tier `approve` anywhere).
    pub fn may_ask(&self) -> bool {
        self.approvals.default_tier == Tier::Approve
            || self.bands.iter().any(|b| b.tier == Some(Tier::Approve))
            || self.scopes.iter().any(|r| r.tier == Some(Tier::Approve))
    }

    /// The position of `segment` on the ladder (higher is stricter); None when not on it.
    pub fn rank(&self, segment: &str) -> Option<usize> {
        self.ladder.iter().position(|s| s == segment)
    }

    pub fn band_for(&self, severity: Severity) -> Option<&Band> {
        self.bands.iter().find(|band| band.contains(severity))
    }

    /// Every segment the policy may move an attachment into, with where it is named.
    pub fn target_segments(&self) -> Vec<(String, &str)> {
        let bands = self.bands.iter().filter_map(|band| {
            let response = band.response.as_ref()?;
            Some((band.to_string(), response.segment.as_str()))
        });
        let overrides = self
            .overrides
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match &o.action {
                OverrideAction::AtLeast(response) => {
                    Some((format!("overrides[{i}]"), response.segment.as_str()))
                }
                OverrideAction::Suppress => None,
            });
        let scopes = self.scopes.iter().filter_map(|rule| match &rule.action {
            ScopeAction::Contain(Some(response)) => {
                Some((format!("scope {:?}", rule.name), response.segment.as_str()))
            }
            _ => None,
        });
        bands.chain(overrides).chain(scopes).collect()
    }
}
