//! The decision engine: pure, deterministic, escalate-only (docs/policy.md, "How a decision
//! is made").
//!
//! Checks run in a fixed order, safest first: protected resources, ignored findings, the
//! severity band and overrides, the current quarantine, the LIVE core network policy, the
//! blast-radius budget, and dry-run last so that a dry run reports what would really happen.
//! Each check is a function that either lets the finding through or refuses it with a
//! `Refusal`; [`decide`] composes them in that order.

use super::{Decision, Expiry, NoAction, Outcome, Plan, Situation};
use crate::cloudwan::{Attachment, CoreNetworkPolicy, EvaluationOptions, Placement};
use crate::finding::{Finding, ResourceRole, Severity};
use crate::response_policy::{
    short_duration, Hold, OverrideAction, Response, ResponsePolicy, ScopeAction, ScopeFacts, ScopeRule, Tier,
};
use std::collections::BTreeMap;

/// Why nothing is changed, and the sentence that says so.
type Refusal = (NoAction, String);

pub fn decide(s: &Situation<'_>, policy: &ResponsePolicy, core: &CoreNetworkPolicy) -> Decision {
    if let Err((reason, why)) = admit(s, policy) {
        return Decision::none(reason, why, Vec::new());
    }
    let mut fired = Vec::new();
    let scope = matched_scope(s, policy, &mut fired);
    if let Some(rule) = scope.filter(|r| r.action == ScopeAction::Ignore) {
        let why = format!("the scope rule {:?} ignores findings here", rule.name);
        return Decision::none(NoAction::IgnoredByScope, why, fired);
    }
    match contain(s, policy, scope, core, &mut fired) {
        Ok((plan, reason)) => Decision {
            outcome: Outcome::Quarantine(plan),
            reason,
            fired,
        },
        Err((reason, why)) => Decision::none(reason, why, fired),
    }
}

/// Protected resources and the findings the policy ignores, before any response is weighed.
fn admit(s: &Situation<'_>, policy: &ResponsePolicy) -> Result<(), Refusal> {
    let finding = s.finding;
    if let Some(why) = protection(s, policy) {
        return Err((NoAction::Protected, why));
    }
    if finding.sample && !policy.findings.act_on_samples {
        return Err((
            NoAction::IgnoredSample,
            "the finding is a GuardDuty sample".into(),
        ));
    }
    if finding.archived && !policy.findings.act_on_archived {
        return Err((NoAction::IgnoredArchived, "the finding is archived".into()));
    }
    if finding.resource_role == ResourceRole::Target && !policy.findings.act_on_target_role {
        return Err((
            NoAction::IgnoredRole,
            "the workload is the TARGET of the activity, and the policy acts on ACTOR findings only".into(),
        ));
    }
    if let Some(pattern) = policy
        .findings
        .ignored_as_target(&finding.finding_type, finding.resource_role)
    {
        let why = format!(
            "the workload is only the TARGET of {} (findings.ignore_as_target {pattern}): whoever can probe a VPC must not be able to cut it off",
            finding.finding_type
        );
        return Err((NoAction::IgnoredRole, why));
    }
    Ok(())
}

/// The first scope rule that holds for this leg, recorded in `fired` with why it holds.
fn matched_scope<'p>(
    s: &Situation<'_>,
    policy: &'p ResponsePolicy,
    fired: &mut Vec<String>,
) -> Option<&'p ScopeRule> {
    let facts = ScopeFacts {
        account: &s.attachment.owner_account,
        ous: s.account_ous,
        region: &s.attachment.edge_location,
        vpc_id: s.vpc_id,
        tags: &s.attachment.tags,
        finding_type: &s.finding.finding_type,
        kind: s.finding.kind,
        band: s.finding.severity.band(),
    };
    policy.scopes.iter().find_map(|rule| {
        let why = rule.matches(&facts)?;
        fired.push(format!("scope {:?} ({why}): {}", rule.name, rule.action));
        Some(rule)
    })
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

/// The plan for an admitted finding, with the sentence that explains it; `fired` collects the
/// band and overrides that spoke.
fn contain(
    s: &Situation<'_>,
    policy: &ResponsePolicy,
    scope: Option<&ScopeRule>,
    core: &CoreNetworkPolicy,
    fired: &mut Vec<String>,
) -> Result<(Plan, String), Refusal> {
    let instead = match scope.map(|r| &r.action) {
        Some(ScopeAction::Contain(Some(response))) => Some(response),
        _ => None,
    };
    let (segment, hold) = strictest_response(s.finding, policy, instead, fired)?.ok_or_else(|| no_move(s))?;
    let expiry = Expiry::from_hold(hold, s.now);
    let moves = escalates(s, policy, &segment)?;
    let new_episode = !s.episode_open && s.quarantine.is_none();
    let placement = placement_in(&segment, s, policy, core)?;
    if new_episode {
        within_budget(s, policy)?;
    }
    let plan_text = describe_plan(s, &segment, moves, expiry);
    if policy.dry_run {
        return Err((NoAction::DryRun, format!("dry run: would {plan_text}")));
    }
    if let Some(rule) = scope.filter(|r| r.action == ScopeAction::DryRun) {
        let why = format!("dry run (scope rule {:?}): would {plan_text}", rule.name);
        return Err((NoAction::DryRun, why));
    }
    // Only a move asks a person: a demand that changes no segment is added at once.
    let (tier, tier_from) = match moves {
        true => policy.tier_for(scope, policy.band_for(s.finding.severity)),
        false => (Tier::Auto, "the attachment stays where it is held".into()),
    };
    if tier == Tier::Notify {
        let why = format!("notify only (tier notify from {tier_from}): would {plan_text}");
        return Err((NoAction::NotifyOnly, why));
    }
    if tier == Tier::Approve {
        fired.push(format!("tier approve ({tier_from})"));
    }
    let reason = format!(
        "{} {}: {plan_text}",
        s.finding.finding_type,
        severity_text(s.finding)
    );
    let tags = BTreeMap::from([(policy.tags.key.clone(), segment.clone())]);
    let plan = Plan {
        target_segment: segment,
        tags,
        expiry,
        new_episode,
        moves,
        placement,
        tier,
        tier_from,
    };
    Ok((plan, reason))
}

/// The band (or, `instead`, a scope rule's response) and every matching override propose a
/// response; the strictest segment and the longest hold win. None: nothing proposes a move. A
/// suppressing override refuses.
fn strictest_response(
    finding: &Finding,
    policy: &ResponsePolicy,
    instead: Option<&Response>,
    fired: &mut Vec<String>,
) -> Result<Option<(String, Hold)>, Refusal> {
    let mut strictest = Strictest { policy, target: None };
    let first = match instead {
        Some(response) => Some(response),
        None => band_response(finding.severity, policy, fired),
    };
    if let Some(response) = first {
        strictest.propose(response);
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
                return Err((NoAction::Suppressed, why));
            }
            OverrideAction::AtLeast(r) => {
                fired.push(format!("override {pattern}: at least {} {}", r.segment, r.hold));
                strictest.propose(r);
            }
        }
    }
    Ok(strictest.target)
}

/// The response of the band the severity falls in, if it moves anything.
fn band_response<'p>(
    severity: Severity,
    policy: &'p ResponsePolicy,
    fired: &mut Vec<String>,
) -> Option<&'p Response> {
    let Some(band) = policy.band_for(severity) else {
        // Validated policies cover 1.0–10.0; stay safe anyway.
        fired.push(format!("no band covers severity {severity}"));
        return None;
    };
    match &band.response {
        Some(r) => fired.push(format!("{band}: {} {}", r.segment, r.hold)),
        None => fired.push(format!("{band}: no move")),
    }
    band.response.as_ref()
}

/// The strictest segment and the longest hold proposed so far.
struct Strictest<'p> {
    policy: &'p ResponsePolicy,
    target: Option<(String, Hold)>,
}

impl Strictest<'_> {
    fn propose(&mut self, response: &Response) {
        let (segment, hold) = (response.segment.as_str(), response.hold);
        let rank = self.policy.rank(segment);
        self.target = Some(match self.target.take() {
            None => (segment.to_string(), hold),
            Some((current, current_hold)) => {
                let segment = if rank > self.policy.rank(&current) {
                    segment.to_string()
                } else {
                    current
                };
                (segment, hold.max(current_hold))
            }
        });
    }
}

/// Nothing proposes a move.
fn no_move(s: &Situation<'_>) -> Refusal {
    let severity = s.finding.severity;
    let why = format!("severity {severity} ({}) calls for no move", severity.band());
    // Already held by cwq: the finding joins that quarantine.
    match s.quarantine {
        Some(q) => {
            let why = format!("already quarantined in {} until {}; {why}", q.segment, q.expiry);
            (NoAction::AlreadyContained, why)
        }
        None => (NoAction::BelowThreshold, why),
    }
}

/// Whether the demand moves the attachment (true) or joins what holds it (false).
///
/// Escalate only. Under cwq's own quarantine the finding's demand joins it: the strictest
/// demand governs, and this one holds when a stricter one ends. Without one, an attachment
/// the owner already keeps at least as strict is not cwq's to hold.
fn escalates(s: &Situation<'_>, policy: &ResponsePolicy, segment: &str) -> Result<bool, Refusal> {
    let target_rank = policy.rank(segment);
    match s.quarantine {
        Some(q) => Ok(target_rank > policy.rank(&q.segment)),
        None if s.episode_open => Ok(true),
        None => {
            let current_rank = s.current_segment.and_then(|name| policy.rank(name));
            if current_rank.is_some_and(|current| Some(current) >= target_rank) {
                let why = format!("the attachment is already in {segment} or a stricter segment");
                return Err((NoAction::AlreadyContained, why));
            }
            Ok(true)
        }
    }
}

/// The LIVE core network policy must put the attachment where we mean it to go.
fn placement_in(
    segment: &str,
    s: &Situation<'_>,
    policy: &ResponsePolicy,
    core: &CoreNetworkPolicy,
) -> Result<Placement, Refusal> {
    let mut tags = s.attachment.tags.clone();
    tags.insert(policy.tags.key.clone(), segment.to_string());
    let after = Attachment {
        tags,
        ..s.attachment.clone()
    };
    let options = EvaluationOptions {
        unknown_segment: policy.unknown_segment,
    };
    let placement = core.evaluate(&after, options).placement;
    if core.segment(segment).is_none() {
        let why = format!("segment {segment} does not exist in the core network policy");
        return Err((NoAction::PolicyViolation, why));
    }
    if placement.segment() != Some(segment) {
        let why = format!(
            "with tag {}={segment} the core network policy would place the attachment in {placement}, not in {segment}",
            policy.tags.key
        );
        return Err((NoAction::PolicyViolation, why));
    }
    Ok(placement)
}

/// A new episode must fit in the blast-radius budget, overall and in the owner's account.
fn within_budget(s: &Situation<'_>, policy: &ResponsePolicy) -> Result<(), Refusal> {
    let Some(budget) = policy.budget else {
        return Ok(());
    };
    let window = short_duration(budget.window);
    if s.budget_used.overall >= budget.max_moves {
        let why = format!(
            "{} moves in the last {window} reached the budget of {}",
            s.budget_used.overall, budget.max_moves
        );
        return Err((NoAction::BudgetExceeded, why));
    }
    if let Some(max) = budget
        .max_moves_per_account
        .filter(|max| s.budget_used.account >= *max)
    {
        let why = format!(
            "{} moves in account {} in the last {window} reached the per-account budget of {max}",
            s.budget_used.account, s.attachment.owner_account
        );
        return Err((NoAction::BudgetExceeded, why));
    }
    Ok(())
}

/// `move vpc-… (attachment …) to blocked until …`, or `keep`/`hold` when it joins.
fn describe_plan(s: &Situation<'_>, segment: &str, moves: bool, expiry: Expiry) -> String {
    let (verb, to) = match (moves, s.quarantine) {
        (true, _) => ("move", "to"),
        (false, Some(q)) if q.segment == segment => ("keep", "in"),
        (false, _) => ("hold", "at least in"),
    };
    format!(
        "{verb} {} (attachment {}) {to} {segment} {}",
        s.vpc_id,
        s.attachment_id,
        describe(expiry)
    )
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
