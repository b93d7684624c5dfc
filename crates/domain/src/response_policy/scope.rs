//! Scope rules: which part of the estate a finding touches decides how cwq responds there —
//! "production accounts: dry run for Medium", "sandbox: contain everything High and above".
//! Rules are read in order and the first whose every condition holds applies (an empty
//! condition holds for everything); a leg no rule matches gets the bands and overrides as
//! they are. docs/policy.md, "Scope rules".

use super::check::{check_patterns, check_response};
use super::problems::Problems;
use super::{Response, Tier};
use crate::finding::{is_aws_id, ResourceKind, SeverityBand};
use crate::glob::TypeGlob;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct ScopeRule {
    pub name: String,
    pub accounts: Vec<String>,
    /// The account is in one of these OUs or below it (or they name the root), through AWS
    /// Organizations.
    pub organizational_units: Vec<String>,
    pub regions: Vec<String>,
    pub vpcs: Vec<String>,
    /// Every listed tag must be on the attachment with this value (`*`: any value).
    pub attachment_tags: BTreeMap<String, String>,
    pub types: Vec<TypeGlob>,
    pub kinds: Vec<ResourceKind>,
    pub bands: Vec<SeverityBand>,
    pub action: ScopeAction,
    /// Who says yes to the moves this rule contains (None: the band's tier, else
    /// `approvals.default_tier`).
    pub tier: Option<Tier>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ScopeAction {
    /// Contain as the bands and overrides say; with a response, that response instead of the
    /// band's (the overrides still raise it).
    Contain(Option<Response>),
    /// Decide, record and report what would happen; change nothing.
    DryRun,
    /// Record the finding; never move this leg.
    Ignore,
}

/// What a scope rule is matched against: one leg of one finding.
#[derive(Debug, Clone, Copy)]
pub struct ScopeFacts<'a> {
    pub account: &'a str,
    /// The account's parents in AWS Organizations, its OU first and the root last (empty:
    /// not looked up, or not in the organization).
    pub ous: &'a [String],
    pub region: &'a str,
    pub vpc_id: &'a str,
    pub tags: &'a BTreeMap<String, String>,
    pub finding_type: &'a str,
    pub kind: ResourceKind,
    pub band: SeverityBand,
}

impl ScopeRule {
    /// Why the rule matches (each condition it holds, in words); None when one does not hold.
    pub fn matches(&self, f: &ScopeFacts<'_>) -> Option<String> {
        let mut why = Vec::new();
        let mut listed = |list: bool, holds: bool, text: String| {
            if list {
                why.push(text);
            }
            !list || holds
        };
        let holds = listed(
            !self.accounts.is_empty(),
            self.accounts.iter().any(|a| a == f.account),
            format!("account {}", f.account),
        ) && listed(
            !self.organizational_units.is_empty(),
            self.organizational_units.iter().any(|ou| f.ous.contains(ou)),
            format!("OU {}", ous_text(f.ous, &self.organizational_units)),
        ) && listed(
            !self.regions.is_empty(),
            self.regions.iter().any(|r| r == f.region),
            format!("Region {}", f.region),
        ) && listed(
            !self.vpcs.is_empty(),
            self.vpcs.iter().any(|v| v == f.vpc_id),
            format!("VPC {}", f.vpc_id),
        ) && listed(
            !self.attachment_tags.is_empty(),
            self.attachment_tags
                .iter()
                .all(|(k, v)| f.tags.get(k).is_some_and(|have| v == "*" || have == v)),
            format!("attachment tags {}", tags_text(&self.attachment_tags)),
        ) && listed(
            !self.types.is_empty(),
            self.types.iter().any(|t| t.matches(f.finding_type)),
            format!("type {}", f.finding_type),
        ) && listed(
            !self.kinds.is_empty(),
            self.kinds.contains(&f.kind),
            format!("kind {}", f.kind),
        ) && listed(
            !self.bands.is_empty(),
            self.bands.contains(&f.band),
            format!("band {}", f.band),
        );
        holds.then(|| match why.is_empty() {
            true => "it has no condition".to_string(),
            false => why.join(", "),
        })
    }

    /// Every leg this rule matches, `earlier` matches too: listed after it, it never applies.
    pub fn is_covered_by(&self, earlier: &ScopeRule) -> bool {
        fn covers<T: PartialEq>(earlier: &[T], later: &[T]) -> bool {
            earlier.is_empty() || (!later.is_empty() && later.iter().all(|x| earlier.contains(x)))
        }
        covers(&earlier.accounts, &self.accounts)
            && covers(&earlier.organizational_units, &self.organizational_units)
            && covers(&earlier.regions, &self.regions)
            && covers(&earlier.vpcs, &self.vpcs)
            && covers(&earlier.types, &self.types)
            && covers(&earlier.kinds, &self.kinds)
            && covers(&earlier.bands, &self.bands)
            && earlier
                .attachment_tags
                .iter()
                .all(|(k, v)| self.attachment_tags.get(k).is_some_and(|w| v == "*" || v == w))
    }
}

/// The listed OU the account is in, else what it is in (for the sentence of a rule that fails).
fn ous_text(ous: &[String], listed: &[String]) -> String {
    ous.iter()
        .find(|ou| listed.contains(ou))
        .or(ous.first())
        .map_or_else(|| "unknown".to_string(), String::clone)
}

fn tags_text(tags: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(",")
}

impl std::fmt::Display for ScopeAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Contain(None) => f.write_str("contain"),
            Self::Contain(Some(r)) => write!(f, "contain in {} {}", r.segment, r.hold),
            Self::DryRun => f.write_str("dry run"),
            Self::Ignore => f.write_str("ignore"),
        }
    }
}

/// A `[[scopes]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScope {
    name: String,
    #[serde(default)]
    accounts: Vec<String>,
    #[serde(default)]
    organizational_units: Vec<String>,
    #[serde(default)]
    regions: Vec<String>,
    #[serde(default)]
    vpcs: Vec<String>,
    #[serde(default)]
    attachment_tags: BTreeMap<String, String>,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    bands: Vec<String>,
    action: RawScopeAction,
    tier: Option<Tier>,
    segment: Option<String>,
    duration: Option<String>,
    release: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawScopeAction {
    Contain,
    DryRun,
    Ignore,
}

const BANDS: [SeverityBand; 4] = [
    SeverityBand::Low,
    SeverityBand::Medium,
    SeverityBand::High,
    SeverityBand::Critical,
];

pub(super) fn check_scopes(raw: Vec<RawScope>, ladder: &[String], problems: &mut Problems) -> Vec<ScopeRule> {
    let mut rules: Vec<ScopeRule> = Vec::new();
    for (i, raw) in raw.into_iter().enumerate() {
        let at = format!("scopes[{i}]");
        if raw.name.trim().is_empty() {
            problems.add(
                format!("{at}.name"),
                "give the rule a name (simulate and the journal show it)",
            );
        }
        if rules.iter().any(|r| r.name == raw.name) {
            problems.add(format!("{at}.name"), format!("{:?} names two rules", raw.name));
        }
        rules.push(check_scope(&at, raw, ladder, problems));
    }
    rules
}

fn check_scope(at: &str, raw: RawScope, ladder: &[String], problems: &mut Problems) -> ScopeRule {
    for (j, account) in raw.accounts.iter().enumerate() {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            problems.add(
                format!("{at}.accounts[{j}]"),
                format!("{account:?} is not a 12-digit account id"),
            );
        }
    }
    for (j, ou) in raw.organizational_units.iter().enumerate() {
        if !is_ou_or_root(ou) {
            problems.add(
                format!("{at}.organizational_units[{j}]"),
                format!("{ou:?} is not an OU id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)"),
            );
        }
    }
    for (j, vpc) in raw.vpcs.iter().enumerate() {
        if !is_aws_id(vpc, "vpc-") {
            problems.add(format!("{at}.vpcs[{j}]"), format!("{vpc:?} is not a VPC id"));
        }
    }
    let types = match raw.types.is_empty() {
        true => Vec::new(),
        false => check_patterns(&format!("{at}.types"), &raw.types, problems),
    };
    let kinds = named(
        at,
        "kinds",
        &raw.kinds,
        &ResourceKind::ALL,
        |k| k.name().to_string(),
        problems,
    );
    let bands = named(at, "bands", &raw.bands, &BANDS, |b| b.to_string(), problems);
    let action = match raw.action {
        RawScopeAction::Contain => ScopeAction::Contain(check_response(
            at,
            raw.segment,
            raw.duration,
            raw.release,
            ladder,
            problems,
        )),
        other => {
            if raw.segment.is_some() || raw.duration.is_some() || raw.release.is_some() || raw.tier.is_some()
            {
                problems.add(
                    at,
                    "only `action = \"contain\"` takes a segment, duration, release or tier",
                );
            }
            if other == RawScopeAction::DryRun {
                ScopeAction::DryRun
            } else {
                ScopeAction::Ignore
            }
        }
    };
    ScopeRule {
        name: raw.name,
        accounts: raw.accounts,
        organizational_units: raw.organizational_units,
        regions: raw.regions,
        vpcs: raw.vpcs,
        attachment_tags: raw.attachment_tags,
        types,
        kinds,
        bands,
        action,
        tier: raw.tier,
    }
}

/// AWS Organizations' ids: `r-` and 4–32 characters, `ou-`, 4–32, `-`, 8–32 (lower case).
fn is_ou_or_root(id: &str) -> bool {
    let word = |w: &str, range: std::ops::RangeInclusive<usize>| {
        range.contains(&w.len()) && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    match id.split('-').collect::<Vec<_>>().as_slice() {
        ["r", root] => word(root, 4..=32),
        ["ou", root, ou] => word(root, 4..=32) && word(ou, 8..=32),
        _ => false,
    }
}

/// Names read as one of `known`, each unknown one a problem at its place.
fn named<T: Copy>(
    at: &str,
    field: &str,
    names: &[String],
    known: &[T],
    name_of: impl Fn(&T) -> String,
    problems: &mut Problems,
) -> Vec<T> {
    let mut found = Vec::new();
    for (j, name) in names.iter().enumerate() {
        match known.iter().find(|k| name_of(k) == *name) {
            Some(k) => found.push(*k),
            None => {
                let choices: Vec<String> = known.iter().map(&name_of).collect();
                problems.add(
                    format!("{at}.{field}[{j}]"),
                    format!("{name:?} is not one of {}", choices.join(", ")),
                );
            }
        }
    }
    found
}
