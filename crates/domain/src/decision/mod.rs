//! Decisions: what is known when a finding arrives ([`Situation`]), and what cwq does about it
//! ([`Decision`]: a [`Plan`] to contain, or the [`NoAction`] that says why not). The engine that
//! makes them, [`decide`], is in `engine`; docs/policy.md ("How a decision is made") gives the
//! order of its checks.

mod engine;

pub use engine::decide;

use crate::cloudwan::{Attachment, Placement};
use crate::finding::{Finding, FindingError};
use crate::response_policy::{Hold, Tier};
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
    /// The owner account's parents in AWS Organizations, its OU first (scope rules by OU);
    /// empty when no rule needs them.
    pub account_ous: &'a [String],
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
    /// Whether cwq moves now or asks first, and what in the policy said so.
    pub tier: Tier,
    pub tier_from: String,
}

/// Why nothing is changed. The names are stable: the journal and the CLI use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NoAction {
    NotApplicable,
    Protected,
    IgnoredSample,
    IgnoredArchived,
    IgnoredRole,
    /// A scope rule of the policy says to ignore findings for this part of the estate.
    IgnoredByScope,
    Suppressed,
    BelowThreshold,
    AlreadyContained,
    PolicyViolation,
    BudgetExceeded,
    DryRun,
    /// The tier is `notify`: recorded and published, nothing changed.
    NotifyOnly,
    /// The move waits for a person's approval (`cwq approve`).
    AwaitingApproval,
    /// A person denied the move (`cwq deny`).
    Denied,
    /// Nobody answered in time, and the policy leaves the attachment where it is.
    ApprovalTimedOut,
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

    /// The decision for an event that names no workload in a VPC.
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
