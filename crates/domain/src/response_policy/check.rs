//! From the file as written to the [`ResponsePolicy`] model: every value is judged, and each
//! thing wrong is added to `Problems` at its location instead of stopping at the first, so
//! that one run reports everything to fix. The rules are documented in docs/policy.md.

use super::problems::Problems;
use super::raw::{
    RawApprovals, RawBand, RawBudget, RawFindings, RawOverride, RawPolicy, RawProtected, RawTags,
};
use super::scope::check_scopes;
use super::{
    Approvals, Band, Budget, FindingFilter, Hold, Override, OverrideAction, Protected, Response,
    ResponsePolicy, TagMode, Tagging,
};
use crate::finding::{is_aws_id, Severity};
use crate::glob::TypeGlob;
use std::time::Duration;

const OVERLAY_DEFAULT_KEY: &str = "quarantine";

impl RawPolicy {
    pub(super) fn check(self, problems: &mut Problems) -> ResponsePolicy {
        check_ladder(&self.ladder, problems);
        let tags = check_tags(self.tags, problems);
        let bands = check_bands(self.bands, &self.ladder, problems);
        let overrides = self
            .overrides
            .into_iter()
            .enumerate()
            .map(|(i, raw)| check_override(i, raw, &self.ladder, problems))
            .collect();
        let scopes = check_scopes(self.scopes, &self.ladder, problems);
        ResponsePolicy {
            ladder: self.ladder,
            dry_run: self.dry_run,
            tags,
            findings: check_findings(self.findings, problems),
            bands,
            overrides,
            scopes,
            protected: check_protected(self.protected, problems),
            budget: self.budget.and_then(|b| check_budget(b, problems)),
            unknown_segment: self.core_network.unknown_segment,
            approvals: check_approvals(self.approvals, problems),
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

/// Each band on its own, then, sorted by severity, whether together they cover 1.0–10.0.
fn check_bands(raw: Vec<RawBand>, ladder: &[String], problems: &mut Problems) -> Vec<Band> {
    let mut bands = Vec::new();
    for (i, raw) in raw.into_iter().enumerate() {
        let at = format!("bands[{i}]");
        if raw.from.is_nan() || raw.to.is_nan() || raw.from >= raw.to {
            problems.add(&at, format!("from {} must be below to {}", raw.from, raw.to));
        }
        let response = check_response(&at, raw.segment, raw.duration, raw.release, ladder, problems);
        bands.push(Band {
            name: raw.name,
            from: raw.from,
            to: raw.to,
            response,
            tier: raw.tier,
        });
    }
    bands.sort_by(|a, b| a.from.total_cmp(&b.from));
    check_band_coverage(&bands, problems);
    bands
}

fn check_override(i: usize, raw: RawOverride, ladder: &[String], problems: &mut Problems) -> Override {
    let at = format!("overrides[{i}]");
    let types = check_patterns(&format!("{at}.types"), &raw.types, problems);
    let role = raw.role;
    let action = override_action(&at, raw, ladder, problems);
    Override { types, role, action }
}

fn check_findings(raw: RawFindings, problems: &mut Problems) -> FindingFilter {
    let defaults = FindingFilter::default();
    let ignore_as_target = match raw.ignore_as_target {
        None => defaults.ignore_as_target,
        Some(patterns) if patterns.is_empty() => Vec::new(),
        Some(patterns) => check_patterns("findings.ignore_as_target", &patterns, problems),
    };
    FindingFilter {
        act_on_samples: raw.act_on_samples,
        act_on_archived: raw.act_on_archived,
        act_on_target_role: raw.act_on_target_role.unwrap_or(defaults.act_on_target_role),
        ignore_as_target,
    }
}

/// The finding-type patterns listed at `field` (e.g. `overrides[0].types`).
pub(super) fn check_patterns(field: &str, patterns: &[String], problems: &mut Problems) -> Vec<TypeGlob> {
    if patterns.is_empty() {
        problems.add(field, "list at least one finding-type pattern");
    }
    let mut types = Vec::new();
    for (j, pattern) in patterns.iter().enumerate() {
        match TypeGlob::new(pattern) {
            Ok(glob) => types.push(glob),
            Err(why) => problems.add(format!("{field}[{j}]"), format!("bad pattern {pattern:?}: {why}")),
        }
    }
    types
}

/// `suppress = true` alone, or a segment with its hold.
fn override_action(at: &str, raw: RawOverride, ladder: &[String], problems: &mut Problems) -> OverrideAction {
    if raw.suppress {
        if raw.segment.is_some() || raw.duration.is_some() || raw.release.is_some() {
            problems.add(
                at,
                "an override that suppresses takes no segment, duration or release",
            );
        }
        return OverrideAction::Suppress;
    }
    if raw.segment.is_none() {
        problems.add(
            at,
            "give a `segment` (at least this strict), or `suppress = true`",
        );
    }
    match check_response(at, raw.segment, raw.duration, raw.release, ladder, problems) {
        Some(response) => OverrideAction::AtLeast(response),
        None => OverrideAction::Suppress,
    }
}

/// A band's or override's segment, which must be on the ladder, with its hold: `duration` or
/// `release = "manual"`.
pub(super) fn check_response(
    at: &str,
    segment: Option<String>,
    duration: Option<String>,
    release: Option<String>,
    ladder: &[String],
    problems: &mut Problems,
) -> Option<Response> {
    let Some(segment) = segment else {
        if duration.is_some() || release.is_some() {
            problems.add(at, "`duration` and `release` need a `segment` to move to");
        }
        return None;
    };
    let hold = check_hold(at, duration, release.as_deref(), problems);
    if !ladder.contains(&segment) {
        problems.add(
            format!("{at}.segment"),
            format!("segment {segment:?} is not on the ladder {ladder:?}"),
        );
    }
    Some(Response {
        segment,
        hold: hold.unwrap_or(Hold::Manual),
    })
}

fn check_hold(
    at: &str,
    duration: Option<String>,
    release: Option<&str>,
    problems: &mut Problems,
) -> Option<Hold> {
    match (duration, release) {
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
        (Some(text), None) => positive_duration(
            &text,
            format!("{at}.duration"),
            "a quarantine of zero length would release at once",
            " like \"4h\" or \"30m\"",
            problems,
        )
        .map(Hold::For),
        (None, None) => {
            problems.add(at, "say how long: `duration = \"24h\"` or `release = \"manual\"`");
            None
        }
    }
}

/// A duration above zero. `if_zero` says why zero cannot be; `example` follows "is not a
/// duration" when the text is not one at all.
fn positive_duration(
    text: &str,
    location: String,
    if_zero: &str,
    example: &str,
    problems: &mut Problems,
) -> Option<Duration> {
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            problems.add(location, if_zero);
            None
        }
        Err(e) => {
            problems.add(location, format!("{text:?} is not a duration{example}: {e}"));
            None
        }
    }
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
        if !is_attachment_id(attachment) {
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

/// `attachment-` and 8 to 17 lower-case hex digits.
fn is_attachment_id(text: &str) -> bool {
    text.strip_prefix("attachment-").is_some_and(|hex| {
        (8..=17).contains(&hex.len()) && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn check_approvals(raw: RawApprovals, problems: &mut Problems) -> Approvals {
    let default = Approvals::default();
    let timeout = raw.timeout.and_then(|text| {
        positive_duration(
            &text,
            "approvals.timeout".into(),
            "a request must wait a while",
            "",
            problems,
        )
    });
    Approvals {
        default_tier: raw.default_tier.unwrap_or(default.default_tier),
        timeout: timeout.unwrap_or(default.timeout),
        on_timeout: raw.on_timeout.unwrap_or(default.on_timeout),
        two_person_release: raw.two_person_release,
    }
}

fn check_budget(raw: RawBudget, problems: &mut Problems) -> Option<Budget> {
    let window = positive_duration(
        &raw.window,
        "budget.window".into(),
        "the window cannot be zero",
        "",
        problems,
    );
    refuse_zero(Some(raw.max_moves), "budget.max_moves", problems);
    refuse_zero(
        raw.max_moves_per_account,
        "budget.max_moves_per_account",
        problems,
    );
    Some(Budget {
        window: window?,
        max_moves: raw.max_moves,
        max_moves_per_account: raw.max_moves_per_account,
    })
}

fn refuse_zero(max_moves: Option<u32>, location: &str, problems: &mut Problems) {
    if max_moves == Some(0) {
        problems.add(
            location,
            "0 would stop every move; use dry_run = true to rehearse",
        );
    }
}
