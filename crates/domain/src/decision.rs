//! The decision engine: pure, deterministic, escalate-only (DESIGN §4).
//!
//! Checks run in a fixed order, safest first: protected resources, ignored findings, the
//! severity band and overrides, the current quarantine, the LIVE core network policy, the
//! blast-radius budget, and dry-run last so that a dry run reports what would really happen.

use crate::cloudwan::{Attachment, CoreNetworkPolicy, EvaluationOptions, Placement};
use crate::finding::{Finding, FindingError, ResourceRole};
use crate::response_policy::{short_duration, Hold, OverrideAction, ResponsePolicy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use time::OffsetDateTime;

/// What is known about the attachment and its VPC when a finding arrives.
#[derive(Debug, Clone)]
pub struct Situation<'a> {
    pub finding: &'a Finding,
    pub vpc_id: &'a str,
    pub attachment_id: &'a str,
    /// As Cloud WAN reports it now: tags, owner, edge location.
    pub attachment: &'a Attachment,
    /// The segment Cloud WAN has the attachment in now, if any.
    pub current_segment: Option<&'a str>,
    /// What cwq's open quarantine of this attachment requires now (the strictest live demand
    /// and how long it holds), from the journal; None when no episode is open.
    pub quarantine: Option<&'a ActiveQuarantine>,
    /// cwq's quarantine episode is open (with demands, or its release still in flight): where
    /// Cloud WAN has the attachment is cwq's doing, and a new demand joins the episode.
    pub episode_open: bool,
    pub budget_used: BudgetUsage,
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveQuarantine {
    pub segment: String,
    pub expiry: Expiry,
}

/// Moves already made in the budget's current window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetUsage {
    pub overall: u32,
    pub account: u32,
}

/// When a quarantine ends. `Manual` is later than any time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expiry {
    At(#[serde(with = "time::serde::rfc3339")] OffsetDateTime),
    Manual,
}

impl Expiry {
    fn from_hold(hold: Hold, now: OffsetDateTime) -> Self {
        match hold {
            Hold::Manual => Self::Manual,
            // Whole seconds: expiries are shown to people and compared across runs.
            Hold::For(d) => time::Duration::try_from(d)
                .ok()
                .and_then(|d| now.replace_nanosecond(0).ok()?.checked_add(d))
                .map_or(Self::Manual, Self::At),
        }
    }
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::At(at) => {
                let text = at
                    .format(&time::format_description::well_known::Rfc3339)
                    .map_err(|_| fmt::Error)?;
                f.write_str(&text)
            }
            Self::Manual => f.write_str("manual release"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// One sentence a person understands.
    pub reason: String,
    /// The band and overrides that fired, e.g. `band High [7.0, 9.0): blocked for 24h`.
    pub fired: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Outcome {
    Quarantine(Plan),
    None { reason: NoAction },
}

/// The demand to add: hold the attachment at least as strict as `target_segment` until
/// `expiry`; with cwq's tag set to it, Cloud WAN places the attachment as `placement` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub target_segment: String,
    pub tags: BTreeMap<String, String>,
    pub expiry: Expiry,
    /// No quarantine of cwq's is open: this demand opens one (and spends the budget).
    pub new_episode: bool,
    /// The demand is stricter than what holds the attachment now: the segment changes. A
    /// demand that is not joins the quarantine in effect, and holds when the stricter one ends.
    pub moves: bool,
    pub placement: Placement,
}

/// Why nothing is changed. The names are stable: the journal and the CLI use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NoAction {
    NotApplicable,
    Protected,
    IgnoredSample,
    IgnoredArchived,
    IgnoredRole,
    Suppressed,
    BelowThreshold,
    AlreadyContained,
    PolicyViolation,
    BudgetExceeded,
    DryRun,
}

impl fmt::Display for NoAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Decision {
    fn none(reason: NoAction, why: impl Into<String>, fired: Vec<String>) -> Self {
        Self {
            outcome: Outcome::None { reason },
            reason: why.into(),
            fired,
        }
    }

    /// The decision for an event that is not about an EC2 instance.
    pub fn not_applicable(error: &FindingError) -> Self {
        Self::none(NoAction::NotApplicable, error.to_string(), Vec::new())
    }

    pub fn plan(&self) -> Option<&Plan> {
        match &self.outcome {
            Outcome::Quarantine(plan) => Some(plan),
            Outcome::None { .. } => None,
        }
    }

    pub fn no_action(&self) -> Option<NoAction> {
        match self.outcome {
            Outcome::None { reason } => Some(reason),
            Outcome::Quarantine(_) => None,
        }
    }

    /// Whether the blast-radius budget could change this decision: only a new episode (or
    /// the dry run of one) spends it; an escalation of a VPC already held does not. Decided
    /// with no moves counted, anything else stands as it is.
    pub fn may_spend_budget(&self, s: &Situation<'_>) -> bool {
        match &self.outcome {
            Outcome::Quarantine(plan) => plan.new_episode,
            Outcome::None { reason } => {
                *reason == NoAction::DryRun && !s.episode_open && s.quarantine.is_none()
            }
        }
    }
}

pub fn decide(s: &Situation<'_>, policy: &ResponsePolicy, core: &CoreNetworkPolicy) -> Decision {
    let finding = s.finding;
    if let Some(why) = protection(s, policy) {
        return Decision::none(NoAction::Protected, why, Vec::new());
    }
    if finding.sample && !policy.findings.act_on_samples {
        return Decision::none(
            NoAction::IgnoredSample,
            "the finding is a GuardDuty sample",
            Vec::new(),
        );
    }
    if finding.archived && !policy.findings.act_on_archived {
        return Decision::none(NoAction::IgnoredArchived, "the finding is archived", Vec::new());
    }
    if finding.resource_role == ResourceRole::Target && !policy.findings.act_on_target_role {
        return Decision::none(
            NoAction::IgnoredRole,
            "the instance is the TARGET of the activity, and the policy acts on ACTOR findings only",
            Vec::new(),
        );
    }

    // The band and every matching override propose a response; the strictest segment and
    // the longest hold win.
    let mut fired = Vec::new();
    let mut target: Option<(String, Hold)> = None;
    let mut propose = |segment: &str, hold: Hold| {
        let rank = policy.rank(segment);
        target = Some(match target.take() {
            None => (segment.to_string(), hold),
            Some((current, current_hold)) => {
                let segment = if rank > policy.rank(&current) {
                    segment.to_string()
                } else {
                    current
                };
                (segment, hold.max(current_hold))
            }
        });
    };
    let severity = finding.severity;
    match policy.band_for(severity) {
        Some(band) => match &band.response {
            Some(r) => {
                fired.push(format!("{band}: {} {}", r.segment, r.hold));
                propose(&r.segment, r.hold);
            }
            None => fired.push(format!("{band}: no move")),
        },
        // Validated policies cover 1.0–10.0; stay safe anyway.
        None => fired.push(format!("no band covers severity {severity}")),
    }
    for rule in &policy.overrides {
        let Some(pattern) = rule.pattern_matching(&finding.finding_type, finding.resource_role) else {
            continue;
        };
        match &rule.action {
            OverrideAction::Suppress => {
                fired.push(format!("override {pattern}: suppress"));
                let why = format!(
                    "finding type {} is suppressed by the override {pattern}",
                    finding.finding_type
                );
                return Decision::none(NoAction::Suppressed, why, fired);
            }
            OverrideAction::AtLeast(r) => {
                fired.push(format!("override {pattern}: at least {} {}", r.segment, r.hold));
                propose(&r.segment, r.hold);
            }
        }
    }
    let Some((segment, hold)) = target else {
        let why = format!("severity {severity} ({}) calls for no move", severity.band());
        // Already held by cwq: the finding joins that quarantine.
        if let Some(q) = s.quarantine {
            let why = format!("already quarantined in {} until {}; {why}", q.segment, q.expiry);
            return Decision::none(NoAction::AlreadyContained, why, fired);
        }
        return Decision::none(NoAction::BelowThreshold, why, fired);
    };
    let expiry = Expiry::from_hold(hold, s.now);

    // Escalate only. Under cwq's own quarantine the finding's demand joins it: the strictest
    // demand governs, and this one holds when a stricter one ends. Without one, an attachment
    // the owner already keeps at least as strict is not cwq's to hold.
    let target_rank = policy.rank(&segment);
    let moves = match s.quarantine {
        Some(q) => target_rank > policy.rank(&q.segment),
        None if s.episode_open => true,
        None => {
            let current_rank = s.current_segment.and_then(|name| policy.rank(name));
            if current_rank.is_some_and(|current| Some(current) >= target_rank) {
                let why = format!("the attachment is already in {segment} or a stricter segment");
                return Decision::none(NoAction::AlreadyContained, why, fired);
            }
            true
        }
    };
    let new_episode = !s.episode_open && s.quarantine.is_none();

    // The LIVE core network policy must put the attachment where we mean it to go.
    let mut tags = s.attachment.tags.clone();
    tags.insert(policy.tags.key.clone(), segment.clone());
    let after = Attachment {
        tags,
        ..s.attachment.clone()
    };
    let options = EvaluationOptions {
        unknown_segment: policy.unknown_segment,
    };
    let placement = core.evaluate(&after, options).placement;
    if core.segment(&segment).is_none() {
        let why = format!("segment {segment} does not exist in the core network policy");
        return Decision::none(NoAction::PolicyViolation, why, fired);
    }
    if placement.segment() != Some(segment.as_str()) {
        let why = format!(
            "with tag {}={segment} the core network policy would place the attachment in {placement}, not in {segment}",
            policy.tags.key
        );
        return Decision::none(NoAction::PolicyViolation, why, fired);
    }

    if new_episode {
        if let Some(budget) = policy.budget {
            let window = short_duration(budget.window);
            if s.budget_used.overall >= budget.max_moves {
                let why = format!(
                    "{} moves in the last {window} reached the budget of {}",
                    s.budget_used.overall, budget.max_moves
                );
                return Decision::none(NoAction::BudgetExceeded, why, fired);
            }
            if let Some(max) = budget
                .max_moves_per_account
                .filter(|max| s.budget_used.account >= *max)
            {
                let why = format!(
                    "{} moves in account {} in the last {window} reached the per-account budget of {max}",
                    s.budget_used.account, s.attachment.owner_account
                );
                return Decision::none(NoAction::BudgetExceeded, why, fired);
            }
        }
    }

    let (verb, to) = match (moves, s.quarantine) {
        (true, _) => ("move", "to"),
        (false, Some(q)) if q.segment == segment => ("keep", "in"),
        (false, _) => ("hold", "at least in"),
    };
    let plan_text = format!(
        "{verb} {} (attachment {}) {to} {segment} {}",
        s.vpc_id,
        s.attachment_id,
        describe(expiry)
    );
    if policy.dry_run {
        return Decision::none(NoAction::DryRun, format!("dry run: would {plan_text}"), fired);
    }
    let tags = BTreeMap::from([(policy.tags.key.clone(), segment.clone())]);
    Decision {
        outcome: Outcome::Quarantine(Plan {
            target_segment: segment,
            tags,
            expiry,
            new_episode,
            moves,
            placement,
        }),
        reason: format!("{} {}: {plan_text}", finding.finding_type, severity_text(finding)),
        fired,
    }
}

fn protection(s: &Situation<'_>, policy: &ResponsePolicy) -> Option<String> {
    let protected = &policy.protected;
    if protected.vpcs.iter().any(|v| v == s.vpc_id) {
        return Some(format!("VPC {} is protected", s.vpc_id));
    }
    if protected.attachments.iter().any(|a| a == s.attachment_id) {
        return Some(format!("attachment {} is protected", s.attachment_id));
    }
    let key = protected.tag.as_deref()?;
    s.attachment
        .tags
        .contains_key(key)
        .then(|| format!("attachment {} carries the protect tag {key}", s.attachment_id))
}

fn describe(expiry: Expiry) -> String {
    match expiry {
        Expiry::At(_) => format!("until {expiry}"),
        Expiry::Manual => "until an operator releases it".into(),
    }
}

fn severity_text(finding: &Finding) -> String {
    format!("(severity {}, {})", finding.severity, finding.severity.band())
}
