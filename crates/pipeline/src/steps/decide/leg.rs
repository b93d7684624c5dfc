//! Judging one leg: the engine's decision for its attachment, and, when it contains, the
//! attachment's item with this incident's demand added (not written yet: the plan's budget
//! is weighed first).

use crate::approval::{Answer, AskedLeg};
use crate::audit::{AuditEntry, AuditEvent};
use crate::contract::{Incident, Leg, LegDecision, Verdict};
use crate::error::StepError;
use crate::ports::{Ports, Tags};
use crate::steps::enrich::Lookup;
use cwq_domain::budget::Move;
use cwq_domain::cloudwan::{Attachment, CoreNetworkPolicy, Placement};
use cwq_domain::decision::{
    decide as engine, ActiveQuarantine, BudgetUsage, Decision, NoAction, Outcome, Plan, Situation,
};
use cwq_domain::lifecycle::{AttachmentItem, AttachmentRef, Change, Demand, Required};
use cwq_domain::response_policy::{short_duration, OnTimeout, ResponsePolicy, Tier};
use time::OffsetDateTime;

/// What became of one leg before the plan is admitted.
pub(super) enum Judged {
    /// Decided; nothing to write.
    Done(LegDecision),
    /// This incident's demand is there already; when this execution added it (its earlier
    /// try ended before its trail was written), the entry that said so, as it was.
    Held(LegDecision, Option<Box<AuditEntry>>),
    /// A demand to add: the item with it, its decision and its audit entry.
    Contain(Box<Containment>),
    /// A dry run that would open a quarantine: the budget says whether it would be admitted.
    DryRunNew(LegDecision, AttachmentRef),
    /// The move waits for a person (tier `approve`); nothing is written.
    Ask(LegDecision, AskedLeg),
}

pub(super) struct Containment {
    pub(super) item: AttachmentItem,
    /// The demand opens a quarantine episode (and spends the budget).
    pub(super) opens: bool,
    pub(super) decision: LegDecision,
    pub(super) added: AuditEvent,
    /// The attachment's tags the decision read: what Reconcile's first pass compares.
    pub(super) tags: Tags,
}

impl Judged {
    pub(super) fn spends_budget(&self) -> bool {
        match self {
            Self::Contain(c) => c.opens,
            Self::DryRunNew(..) => true,
            Self::Done(_) | Self::Held(..) | Self::Ask(..) => false,
        }
    }

    /// The ledger entry this leg would add.
    pub(super) fn budget_move(&self, incident: &Incident, now: OffsetDateTime) -> Option<Move> {
        let attachment = match self {
            Self::Contain(c) => c.item.attachment.clone(),
            Self::DryRunNew(_, attachment) => attachment.clone(),
            Self::Done(_) | Self::Held(..) | Self::Ask(..) => return None,
        };
        Some(Move {
            at: now,
            account: attachment.owner_account,
            attachment_id: attachment.attachment_id,
            incident_id: incident.incident_id.clone(),
        })
    }
}

/// What judging a leg reads from the journal and Cloud WAN.
pub(super) enum Facts {
    /// This incident's demand is on the attachment already (a retry, or a new execution with
    /// the same input).
    Held(LegDecision, Option<Box<AuditEntry>>),
    /// The attachment's item (new if cwq never held it), its tags now (ListTagsForResource:
    /// protection and scope rules read them) and where its account sits in Organizations.
    Read(Box<Read>),
}

pub(super) struct Read {
    item: AttachmentItem,
    tags: Tags,
    account_ous: Vec<String>,
}

/// The facts of one leg: what Enrich read in this invocation (`known`), else read now.
pub(super) async fn read(
    p: &Ports,
    incident: &Incident,
    attachment: &AttachmentRef,
    known: Option<&Lookup>,
    now: OffsetDateTime,
) -> Result<Facts, StepError> {
    let policy = &p.settings.policy;
    let item = async {
        match known.and_then(|k| k.item.clone()) {
            Some(item) => Ok(item),
            None => p.journal.item(&attachment.attachment_id).await,
        }
    };
    // Read beside the item: one round trip, not two (a held demand, rare, wastes them).
    let known_tags = known
        .and_then(|k| k.live.as_ref())
        .and_then(|live| live.tags.clone());
    let tags = async {
        match known_tags {
            Some(tags) => Ok(tags),
            None => p.cloud_wan.tags(attachment).await,
        }
    };
    let (item, tags, account_ous) = futures::join!(item, tags, ous_of(p, &attachment.owner_account));
    let item = item?.unwrap_or_else(|| AttachmentItem::new(attachment.clone(), &policy.tags.key, now));
    if let Some(demand) = item.demand_of(&incident.incident_id) {
        return Ok(Facts::Held(
            already_held(&incident.incident_id, attachment, demand),
            added_before(incident, &item, demand),
        ));
    }
    Ok(Facts::Read(Box::new(Read {
        item,
        tags: tags?,
        account_ous: account_ous?,
    })))
}

/// The DemandAdded entry this execution wrote with `demand`, as it was (same time, same
/// execution, so the trail stores it once): a try that crashed between its tag and its trail
/// is run again and finds its demand held.
fn added_before(incident: &Incident, item: &AttachmentItem, demand: &Demand) -> Option<Box<AuditEntry>> {
    if demand.execution_arn.as_deref() != Some(incident.execution_arn.as_str()) {
        return None;
    }
    let opened = item
        .open_episode()
        .filter(|e| e.started_by == demand.incident_id && e.started_at == demand.since);
    Some(Box::new(AuditEntry {
        incident_id: incident.incident_id.clone(),
        at: demand.since,
        execution_arn: demand.execution_arn.clone(),
        event: AuditEvent::DemandAdded {
            attachment_id: item.attachment.attachment_id.clone(),
            segment: demand.segment.clone(),
            until: demand.until,
            new_episode: opened.is_some(),
            original_value: opened.and_then(|e| e.original_value.clone()),
        },
    }))
}

/// What every leg of one decision is judged against.
#[derive(Clone, Copy)]
pub(super) struct Judging<'a> {
    pub(super) p: &'a Ports,
    pub(super) incident: &'a Incident,
    /// The LIVE core network policy.
    pub(super) core: &'a CoreNetworkPolicy,
    pub(super) now: OffsetDateTime,
    /// A person's answer, when Decide runs again after asking.
    pub(super) answer: Option<&'a Answer>,
}

/// The engine's decision for one leg, from what [`read`] found.
pub(super) fn judge(j: &Judging<'_>, leg: &Leg, attachment: &AttachmentRef, facts: Facts) -> Judged {
    let Judging {
        p,
        incident,
        core,
        now,
        answer,
    } = *j;
    let policy = &p.settings.policy;
    let Read {
        item,
        tags,
        account_ous,
    } = match facts {
        Facts::Held(decision, added) => return Judged::Held(decision, added),
        Facts::Read(read) => *read,
    };
    let facts = Attachment::vpc(
        &attachment.owner_account,
        &attachment.edge_location,
        &attachment.vpc_id,
        tags.clone(),
    );
    let held = held_now(&item, policy);
    let situation = Situation {
        finding: &incident.finding,
        vpc_id: &attachment.vpc_id,
        attachment_id: &attachment.attachment_id,
        attachment: &facts,
        current_segment: leg.segment_before.as_deref(),
        quarantine: held.as_ref(),
        episode_open: item.open_episode().is_some(),
        // The budget is weighed for the whole plan once every leg is judged.
        budget_used: BudgetUsage::default(),
        account_ous: &account_ous,
        now,
    };
    let decision = engine(&situation, policy, core);
    let spends = decision.may_spend_budget(&situation);
    let Decision { outcome, reason, .. } = decision;
    match outcome {
        // Never propose a change cwq may not see through: withdrawing a proposal with
        // RejectAttachment may detach the VPC (docs/aws-behaviour.md).
        Outcome::Quarantine(plan) if needs_acceptance(&plan) && !p.settings.accept_pending_tags => {
            Judged::Done(unaccepted(&plan))
        }
        Outcome::Quarantine(plan) if plan.tier == Tier::Approve && answer.is_none() => {
            Judged::Ask(awaiting(&plan, &reason), asked(leg, attachment, &plan))
        }
        Outcome::Quarantine(plan) => {
            let reason = match answered(policy, answer, &plan, reason) {
                Ok(reason) => reason,
                Err(refused) => return Judged::Done(refused),
            };
            let at = Change {
                execution: &incident.execution_arn,
                now,
                ladder: policy,
            };
            Judged::Contain(Box::new(with_demand(
                incident, leg, item, plan, reason, &tags, at,
            )))
        }
        Outcome::None {
            reason: NoAction::DryRun,
        } if spends => Judged::DryRunNew(no_action(NoAction::DryRun, reason), attachment.clone()),
        Outcome::None { reason: why } => Judged::Done(no_action(why, reason)),
    }
}

/// The quarantine in effect on the attachment, if an episode is open.
fn held_now(item: &AttachmentItem, policy: &ResponsePolicy) -> Option<ActiveQuarantine> {
    match (item.open_episode(), item.required(policy)) {
        (Some(_), Required::Segment { segment, until }) => Some(ActiveQuarantine {
            segment,
            expiry: until,
        }),
        _ => None,
    }
}

/// A move that needs the core network owner's acceptance where this deployment accepts none.
fn unaccepted(plan: &Plan) -> LegDecision {
    let why = format!(
        "the core network policy requires acceptance for a move into {}, and this deployment does not accept tag changes (AcceptPendingTags=false); nothing was changed",
        plan.target_segment
    );
    no_action(NoAction::PolicyViolation, why)
}

/// Where the account sits in AWS Organizations, when a scope rule matches by OU (the adapter
/// keeps the answer a while); nothing otherwise.
async fn ous_of(p: &Ports, account: &str) -> Result<Vec<String>, StepError> {
    match p.settings.policy.names_organizational_units() {
        true => Ok(p.organizations.ancestry(account).await?),
        false => Ok(Vec::new()),
    }
}

/// A move the tier `approve` held, once answered: contained (the reason says who approved, or
/// that the timeout contains), or refused (denied, or timed out where the policy leaves it).
/// Any other move passes as it is.
fn answered(
    policy: &ResponsePolicy,
    answer: Option<&Answer>,
    plan: &Plan,
    reason: String,
) -> Result<String, LegDecision> {
    let waited = short_duration(policy.approvals.timeout);
    match answer.filter(|_| plan.tier == Tier::Approve) {
        None => Ok(reason),
        Some(Answer::Approved { by }) => Ok(format!("{reason} (approved by {by})")),
        Some(Answer::TimedOut) if policy.approvals.on_timeout == OnTimeout::Contain => Ok(format!(
            "{reason} (nobody answered within {waited}, and approvals.on_timeout contains)"
        )),
        Some(Answer::TimedOut) => Err(no_action(
            NoAction::ApprovalTimedOut,
            format!(
                "nobody answered within {waited}, and approvals.on_timeout leaves the attachment where it is (it would move to {})",
                plan.target_segment
            ),
        )),
        Some(Answer::Denied(denial)) => Err(no_action(
            NoAction::Denied,
            format!("denied by {}: {}", denial.by, denial.reason),
        )),
    }
}

/// A move that waits for a person: what it would be, and why it is asked.
fn awaiting(plan: &Plan, reason: &str) -> LegDecision {
    LegDecision {
        verdict: Verdict::NoAction(NoAction::AwaitingApproval),
        reason: format!(
            "{reason}; awaiting approval (tier approve from {})",
            plan.tier_from
        ),
        segment: Some(plan.target_segment.clone()),
        until: Some(plan.expiry),
        new_episode: false,
    }
}

fn asked(leg: &Leg, attachment: &AttachmentRef, plan: &Plan) -> AskedLeg {
    AskedLeg {
        vpc_id: leg.vpc_id.clone(),
        attachment_id: attachment.attachment_id.clone(),
        account: leg.account.clone(),
        region: leg.region.clone(),
        segment: Some(plan.target_segment.clone()),
        until: Some(plan.expiry),
    }
}

fn already_held(incident_id: &str, attachment: &AttachmentRef, demand: &Demand) -> LegDecision {
    LegDecision {
        verdict: Verdict::Contain,
        reason: format!(
            "incident {incident_id} already holds {} at least in {}",
            attachment.attachment_id, demand.segment
        ),
        segment: Some(demand.segment.clone()),
        until: Some(demand.until),
        new_episode: false,
    }
}

pub(super) fn no_action(why: NoAction, reason: String) -> LegDecision {
    LegDecision {
        verdict: Verdict::NoAction(why),
        reason,
        segment: None,
        until: None,
        new_episode: false,
    }
}

fn needs_acceptance(plan: &Plan) -> bool {
    matches!(
        plan.placement,
        Placement::Segment {
            acceptance_required: true,
            ..
        }
    )
}

/// The item with the incident's demand added, and what to say of it.
fn with_demand(
    incident: &Incident,
    leg: &Leg,
    mut item: AttachmentItem,
    plan: Plan,
    reason: String,
    tags: &Tags,
    at: Change<'_, cwq_domain::response_policy::ResponsePolicy>,
) -> Containment {
    let finding = &incident.finding;
    let demand = Demand {
        incident_id: incident.incident_id.clone(),
        segment: plan.target_segment.clone(),
        until: plan.expiry,
        finding_id: finding.id.clone(),
        finding_type: finding.finding_type.clone(),
        severity: finding.severity.to_string(),
        since: at.now,
        execution_arn: Some(incident.execution_arn.clone()),
        finding_arn: finding.arn.clone(),
    };
    let original = item.original_for_new_episode(tags);
    let opens = item.add_demand(demand, original.clone(), leg.segment_before.clone(), at);
    let added = AuditEvent::DemandAdded {
        attachment_id: item.attachment.attachment_id.clone(),
        segment: plan.target_segment.clone(),
        until: plan.expiry,
        new_episode: opens,
        original_value: if opens { original } else { None },
    };
    let decision = LegDecision {
        verdict: Verdict::Contain,
        reason,
        segment: Some(plan.target_segment),
        until: Some(plan.expiry),
        new_episode: opens,
    };
    Containment {
        item,
        opens,
        decision,
        added,
        tags: tags.clone(),
    }
}
