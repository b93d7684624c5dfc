//! The response policy: what cwq does for which finding. A TOML file, documented in
//! docs/policy.md. [`ResponsePolicy::from_toml`] checks everything and reports every problem
//! at once, each with its location.

use crate::cloudwan::UnknownSegment;
use crate::finding::{is_aws_id, ResourceRole, Severity};
use crate::glob::TypeGlob;
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
    pub protected: Protected,
    pub budget: Option<Budget>,
    pub unknown_segment: UnknownSegment,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingFilter {
    #[serde(default)]
    pub act_on_samples: bool,
    #[serde(default)]
    pub act_on_archived: bool,
    #[serde(default = "yes")]
    pub act_on_target_role: bool,
}

impl Default for FindingFilter {
    fn default() -> Self {
        Self {
            act_on_samples: false,
            act_on_archived: false,
            act_on_target_role: true,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub name: String,
    /// Inclusive.
    pub from: f64,
    /// Exclusive, except that a band ending at 10.0 includes 10.0.
    pub to: f64,
    pub response: Option<Response>,
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

/// Why a policy file cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("the response policy is not valid TOML or has an unknown or mistyped setting: {0}")]
    Syntax(String),
    #[error("the response policy has {} problem(s):\n{}", .0.len(), list(.0))]
    Invalid(Vec<Problem>),
}

/// One problem, at a location such as `bands[2].segment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

fn list(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
    lines.join("\n")
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
        bands.chain(overrides).collect()
    }
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            location: location.into(),
            message: message.into(),
        });
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    ladder: Vec<String>,
    #[serde(default)]
    dry_run: bool,
    tags: RawTags,
    #[serde(default)]
    findings: FindingFilter,
    bands: Vec<RawBand>,
    #[serde(default)]
    overrides: Vec<RawOverride>,
    #[serde(default)]
    protected: RawProtected,
    budget: Option<RawBudget>,
    #[serde(default)]
    core_network: RawCoreNetwork,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTags {
    mode: TagMode,
    key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    name: String,
    from: f64,
    to: f64,
    segment: Option<String>,
    duration: Option<String>,
    release: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    types: Vec<String>,
    role: Option<ResourceRole>,
    #[serde(default)]
    suppress: bool,
    segment: Option<String>,
    duration: Option<String>,
    release: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProtected {
    #[serde(default)]
    vpcs: Vec<String>,
    #[serde(default)]
    attachments: Vec<String>,
    tag: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    window: String,
    max_moves: u32,
    max_moves_per_account: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCoreNetwork {
    #[serde(default)]
    unknown_segment: UnknownSegment,
}

const OVERLAY_DEFAULT_KEY: &str = "quarantine";

impl RawPolicy {
    fn check(self, problems: &mut Problems) -> ResponsePolicy {
        check_ladder(&self.ladder, problems);
        let tags = check_tags(self.tags, problems);
        let segment_known = |segment: &str, location: String, problems: &mut Problems| {
            if !self.ladder.iter().any(|s| s == segment) {
                problems.add(
                    location,
                    format!("segment {segment:?} is not on the ladder {:?}", self.ladder),
                );
            }
        };

        let mut bands = Vec::new();
        for (i, raw) in self.bands.into_iter().enumerate() {
            let at = format!("bands[{i}]");
            if raw.from.is_nan() || raw.to.is_nan() || raw.from >= raw.to {
                problems.add(&at, format!("from {} must be below to {}", raw.from, raw.to));
            }
            let response = check_response(&at, raw.segment, raw.duration, raw.release, problems);
            if let Some(response) = &response {
                segment_known(&response.segment, format!("{at}.segment"), problems);
            }
            bands.push(Band {
                name: raw.name,
                from: raw.from,
                to: raw.to,
                response,
            });
        }
        bands.sort_by(|a, b| a.from.total_cmp(&b.from));
        check_band_coverage(&bands, problems);

        let mut overrides = Vec::new();
        for (i, raw) in self.overrides.into_iter().enumerate() {
            let at = format!("overrides[{i}]");
            if raw.types.is_empty() {
                problems.add(format!("{at}.types"), "list at least one finding-type pattern");
            }
            let mut types = Vec::new();
            for (j, pattern) in raw.types.iter().enumerate() {
                match TypeGlob::new(pattern) {
                    Ok(glob) => types.push(glob),
                    Err(why) => problems.add(
                        format!("{at}.types[{j}]"),
                        format!("bad pattern {pattern:?}: {why}"),
                    ),
                }
            }
            let action = if raw.suppress {
                if raw.segment.is_some() || raw.duration.is_some() || raw.release.is_some() {
                    problems.add(
                        &at,
                        "an override that suppresses takes no segment, duration or release",
                    );
                }
                OverrideAction::Suppress
            } else {
                if raw.segment.is_none() {
                    problems.add(
                        &at,
                        "give a `segment` (at least this strict), or `suppress = true`",
                    );
                }
                let response = check_response(&at, raw.segment, raw.duration, raw.release, problems);
                if let Some(response) = &response {
                    segment_known(&response.segment, format!("{at}.segment"), problems);
                }
                match response {
                    Some(response) => OverrideAction::AtLeast(response),
                    None => OverrideAction::Suppress,
                }
            };
            overrides.push(Override {
                types,
                role: raw.role,
                action,
            });
        }

        ResponsePolicy {
            ladder: self.ladder,
            dry_run: self.dry_run,
            tags,
            findings: self.findings,
            bands,
            overrides,
            protected: check_protected(self.protected, problems),
            budget: self.budget.and_then(|b| check_budget(b, problems)),
            unknown_segment: self.core_network.unknown_segment,
        }
    }
}

fn check_ladder(ladder: &[String], problems: &mut Problems) {
    if ladder.is_empty() {
        problems.add("ladder", "list the segments cwq may use, least to most strict");
    }
    for (i, segment) in ladder.iter().enumerate() {
        if segment.is_empty() || !segment.chars().all(|c| c.is_ascii_alphanumeric()) {
            problems.add(
                format!("ladder[{i}]"),
                format!("{segment:?} is not a Cloud WAN segment name (letters and digits only)"),
            );
        }
        if ladder[..i].contains(segment) {
            problems.add(format!("ladder[{i}]"), format!("{segment:?} is listed twice"));
        }
    }
}

fn check_tags(raw: RawTags, problems: &mut Problems) -> Tagging {
    let key = match (raw.mode, raw.key) {
        (_, Some(key)) => key,
        (TagMode::Overlay, None) => OVERLAY_DEFAULT_KEY.to_string(),
        (TagMode::Rewrite, None) => {
            problems.add(
                "tags.key",
                "rewrite mode needs the segment-selecting tag key, e.g. \"domain\"",
            );
            String::new()
        }
    };
    if key.is_empty() && raw.mode == TagMode::Overlay || key.chars().count() > 128 {
        problems.add("tags.key", "a tag key has 1 to 128 characters");
    }
    Tagging { mode: raw.mode, key }
}

/// A band's or override's segment with its hold: `duration` or `release = "manual"`.
fn check_response(
    at: &str,
    segment: Option<String>,
    duration: Option<String>,
    release: Option<String>,
    problems: &mut Problems,
) -> Option<Response> {
    let Some(segment) = segment else {
        if duration.is_some() || release.is_some() {
            problems.add(at, "`duration` and `release` need a `segment` to move to");
        }
        return None;
    };
    let hold = match (duration, release.as_deref()) {
        (Some(_), Some(_)) => {
            problems.add(at, "give either `duration` or `release = \"manual\"`, not both");
            None
        }
        (None, Some("manual")) => Some(Hold::Manual),
        (None, Some(other)) => {
            problems.add(
                format!("{at}.release"),
                format!("{other:?}: the only release setting is \"manual\""),
            );
            None
        }
        (Some(text), None) => match humantime::parse_duration(&text) {
            Ok(d) if d.is_zero() => {
                problems.add(
                    format!("{at}.duration"),
                    "a quarantine of zero length would release at once",
                );
                None
            }
            Ok(d) => Some(Hold::For(d)),
            Err(e) => {
                problems.add(
                    format!("{at}.duration"),
                    format!("{text:?} is not a duration like \"4h\" or \"30m\": {e}"),
                );
                None
            }
        },
        (None, None) => {
            problems.add(at, "say how long: `duration = \"24h\"` or `release = \"manual\"`");
            None
        }
    };
    Some(Response {
        segment,
        hold: hold.unwrap_or(Hold::Manual),
    })
}

fn check_band_coverage(bands: &[Band], problems: &mut Problems) {
    const EPSILON: f64 = 1e-9;
    let Some(first) = bands.first() else {
        problems.add("bands", "define bands covering severities 1.0–10.0");
        return;
    };
    if first.from > Severity::MIN + EPSILON {
        problems.add(
            "bands",
            format!("severities {:.1}–{:.1} are in no band", Severity::MIN, first.from),
        );
    }
    for pair in bands.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.from > a.to + EPSILON {
            problems.add(
                "bands",
                format!(
                    "severities {:.1}–{:.1} are in no band (between {} and {})",
                    a.to, b.from, a.name, b.name
                ),
            );
        } else if b.from < a.to - EPSILON {
            problems.add(
                "bands",
                format!("{a} and {b} overlap on {:.1}–{:.1}", b.from, a.to.min(b.to)),
            );
        }
    }
    let last_to = bands.iter().map(|b| b.to).fold(f64::MIN, f64::max);
    if last_to < Severity::MAX - EPSILON {
        problems.add(
            "bands",
            format!("severities {last_to:.1}–{:.1} are in no band", Severity::MAX),
        );
    }
}

fn check_protected(raw: RawProtected, problems: &mut Problems) -> Protected {
    for (i, vpc) in raw.vpcs.iter().enumerate() {
        if !is_aws_id(vpc, "vpc-") {
            problems.add(format!("protected.vpcs[{i}]"), format!("{vpc:?} is not a VPC id"));
        }
    }
    for (i, attachment) in raw.attachments.iter().enumerate() {
        let valid = attachment.strip_prefix("attachment-").is_some_and(|hex| {
            (8..=17).contains(&hex.len()) && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if !valid {
            problems.add(
                format!("protected.attachments[{i}]"),
                format!("{attachment:?} is not a Cloud WAN attachment id"),
            );
        }
    }
    if raw.tag.as_deref().is_some_and(str::is_empty) {
        problems.add("protected.tag", "the protect tag key is empty");
    }
    Protected {
        vpcs: raw.vpcs,
        attachments: raw.attachments,
        tag: raw.tag,
    }
}

fn check_budget(raw: RawBudget, problems: &mut Problems) -> Option<Budget> {
    let window = match humantime::parse_duration(&raw.window) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            problems.add("budget.window", "the window cannot be zero");
            None
        }
        Err(e) => {
            problems.add(
                "budget.window",
                format!("{:?} is not a duration: {e}", raw.window),
            );
            None
        }
    };
    if raw.max_moves == 0 {
        problems.add(
            "budget.max_moves",
            "0 would stop every move; use dry_run = true to rehearse",
        );
    }
    if raw.max_moves_per_account == Some(0) {
        problems.add(
            "budget.max_moves_per_account",
            "0 would stop every move; use dry_run = true to rehearse",
        );
    }
    Some(Budget {
        window: window?,
        max_moves: raw.max_moves,
        max_moves_per_account: raw.max_moves_per_account,
    })
}
