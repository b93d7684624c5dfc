//! Decide: the response policy and the LIVE core network policy applied to the incident's
//! plan. Each leg is judged on its own (`leg`): protected resources, scope rules, band and
//! overrides, the live policy. Then the plan is admitted at once: the new quarantines it would
//! open are weighed against the blast-radius budget together (all of them, or none), and
//! written with the ledger in one transaction. A leg that cannot be contained is reported and
//! never stops the others. Nothing else changes here: Reconcile moves the attachments.

mod leg;

use super::ask::{settle_waiting, timed_out};
use crate::approval::{Answer, AskedLeg};
use crate::audit::{AuditEntry, AuditEvent};
use crate::contract::{
    Action, Ask, Incident, Leg, LegDecision, LegProgress, ReconcileProgress, Sighting, Verdict,
};
use crate::error::{PortError, StepError};
use crate::ports::{LiveAttachment, Ports, Tags};
use crate::steps::enrich::Lookup;
use cwq_domain::budget::{BudgetLedger, Move};
use cwq_domain::cloudwan::CoreNetworkPolicy;
use cwq_domain::decision::NoAction;
use cwq_domain::lifecycle::AttachmentItem;
use cwq_domain::response_policy::Budget;
use futures::{StreamExt, TryStreamExt};
use leg::{judge, no_action, read, Facts, Judged, Judging};
use time::OffsetDateTime;

/// DynamoDB's TransactWriteItems takes 100 items: the ledger and 99 attachments.
const MAX_ITEMS_ADMITTED_AT_ONCE: usize = 99;
/// Legs whose item, tags and OUs are read at once.
const LEGS_READ_AT_ONCE: usize = 8;

/// Decides the incident on what it reads now (Decide run again with a person's answer).
pub async fn decide(p: &Ports, incident: Incident) -> Result<Incident, StepError> {
    Ok(decide_with(p, incident, Prefetched::default()).await?.0)
}

/// What the quarantine's first invocation read before deciding, beside Enrich's lookups
/// (`steps::contain`): the decision reads only what is missing.
#[derive(Default)]
pub(crate) struct Prefetched {
    /// The LIVE core network policy, read before it was known to be needed: its error
    /// counts only if a leg is attached.
    pub(crate) policy: Option<Result<CoreNetworkPolicy, PortError>>,
    /// The budget ledger, when the policy has a budget.
    pub(crate) ledger: Option<Result<BudgetLedger, PortError>>,
    /// Per leg, in order, what Enrich saw.
    pub(crate) lookups: Vec<Lookup>,
}

/// An attachment this decision wrote a demand on, as the decision saw it: what Reconcile's
/// first pass starts from.
pub(crate) struct Seen {
    pub(crate) item: AttachmentItem,
    pub(crate) live: LiveAttachment,
    pub(crate) tags: Tags,
}

pub(crate) async fn decide_with(
    p: &Ports,
    mut incident: Incident,
    mut read: Prefetched,
) -> Result<(Incident, Vec<Seen>), StepError> {
    let now = p.now();
    // Decided again once a person answered (or the wait timed out): the finding was received.
    let answer = incident.approval.as_ref().and_then(Answer::read);
    let mut audit = received(p, &mut incident, answer.as_ref(), now).await?;

    let (core, facts) = read_all(p, &incident, read.policy.take(), &read.lookups, now).await?;
    let judged: Vec<Judged> = incident
        .legs
        .iter()
        .zip(facts)
        .map(|(leg, facts)| match (&leg.attachment, facts, &core) {
            (Some(attachment), Some(facts), Some(core)) => {
                let j = Judging {
                    p,
                    incident: &incident,
                    core,
                    now,
                    answer: answer.as_ref(),
                };
                judge(&j, leg, attachment, facts)
            }
            _ => Judged::Done(not_attached(p, leg)),
        })
        .collect();
    let ask = what_to_ask(p, &judged);
    let decided = admit_and_write(p, &incident, judged, read.ledger.take(), now).await?;
    incident.asking = ask.is_some();
    if ask.is_some() {
        incident.ask = ask;
    }

    let policy_version = &p.settings.policy_version;
    let mut seen = Vec::new();
    let mut lookups = read.lookups.into_iter();
    for (leg, written) in incident.legs.iter_mut().zip(decided) {
        audit.push(entry(
            &incident.incident_id,
            &incident.execution_arn,
            now,
            decided_event(leg, &written.decision, policy_version),
        ));
        audit.extend(written.added);
        log_decision(&leg.vpc_id, &written.decision, policy_version);
        leg.decision = Some(written.decision);
        let live = lookups.next().and_then(|l| l.live);
        if let (Some((item, tags)), Some(live)) = (written.item, live) {
            seen.push(Seen { item, live, tags });
        }
    }
    if answer.is_none() && p.settings.policy.may_ask() {
        audit.extend(settle_what_waited(p, &incident, now).await?);
    }
    // Written after the first containing call, by whichever step runs next (crate::deferred).
    incident.journal.audit.extend(audit);

    let deadline = now + time::Duration::seconds(p.settings.reconcile_timeout_seconds.into());
    plan_reconcile(&mut incident, deadline);
    Ok((incident, seen))
}

/// The LIVE core network policy (when any leg is attached) and each leg's facts (None: not
/// attached), read at once: the decision waits for one round trip to Cloud WAN, not one per
/// call. A few legs at a time, as Network Manager's rate limits are not documented.
async fn read_all(
    p: &Ports,
    incident: &Incident,
    policy: Option<Result<CoreNetworkPolicy, PortError>>,
    lookups: &[Lookup],
    now: OffsetDateTime,
) -> Result<(Option<CoreNetworkPolicy>, Vec<Option<Facts>>), StepError> {
    let core = async {
        match (incident.legs.iter().any(|l| l.attachment.is_some()), policy) {
            (false, _) => Ok::<_, StepError>(None),
            (true, Some(read)) => Ok(Some(read?)),
            (true, None) => Ok(Some(p.cloud_wan.live_policy(&p.settings.core_network_id).await?)),
        }
    };
    let reads: Vec<_> = incident
        .legs
        .iter()
        .enumerate()
        .map(|(i, leg)| read_leg(p, incident, leg, lookups.get(i), now))
        .collect();
    let facts = futures::stream::iter(reads)
        .buffered(LEGS_READ_AT_ONCE)
        .try_collect::<Vec<_>>();
    futures::try_join!(core, facts)
}

async fn read_leg(
    p: &Ports,
    incident: &Incident,
    leg: &Leg,
    known: Option<&Lookup>,
    now: OffsetDateTime,
) -> Result<Option<Facts>, StepError> {
    match &leg.attachment {
        Some(attachment) => read(p, incident, attachment, known, now).await.map(Some),
        None => Ok(None),
    }
}

/// What the journal says first: the finding received (the first time it is decided, its
/// sighting written with it later), or the request timed out (when that is the answer).
async fn received(
    p: &Ports,
    incident: &mut Incident,
    answer: Option<&Answer>,
    now: OffsetDateTime,
) -> Result<Vec<AuditEntry>, StepError> {
    match answer {
        None => {
            let finding = &incident.finding;
            incident.journal.sighting = Some(Sighting {
                finding_id: finding.id.clone(),
                updated_at: finding.updated_at.clone().unwrap_or_else(|| "none".into()),
                incident_id: incident.incident_id.clone(),
                execution_arn: incident.execution_arn.clone(),
            });
            // Whether it is the first sighting is known when the sighting is written.
            Ok(vec![finding_received(incident, true, now)])
        }
        Some(Answer::TimedOut) => timed_out(p, incident, now).await,
        Some(_) => Ok(Vec::new()),
    }
}

/// The moves the tier `approve` holds, and why each is asked; None when none is.
fn what_to_ask(p: &Ports, judged: &[Judged]) -> Option<Ask> {
    let (reasons, legs): (Vec<String>, Vec<AskedLeg>) = judged
        .iter()
        .filter_map(|j| match j {
            Judged::Ask(decision, leg) => Some((decision.reason.clone(), leg.clone())),
            _ => None,
        })
        .unzip();
    (!legs.is_empty()).then(|| Ask {
        legs,
        reason: reasons.join("; "),
        timeout_seconds: p.settings.policy.approvals.timeout.as_secs(),
    })
}

/// A finding contained at once (tier auto) settles the requests that wait for the same moves.
async fn settle_what_waited(
    p: &Ports,
    incident: &Incident,
    now: OffsetDateTime,
) -> Result<Vec<AuditEntry>, StepError> {
    let mut settled = Vec::new();
    for leg in &incident.legs {
        let contained = leg
            .decision
            .as_ref()
            .is_some_and(|d| d.verdict == Verdict::Contain);
        if let (true, Some(attachment)) = (contained, &leg.attachment) {
            settled.extend(settle_waiting(p, &attachment.attachment_id, incident, now).await?);
        }
    }
    Ok(settled)
}

/// The budget for the whole plan, then the writes: each leg's decision, and the demand added.
///
/// The plan's new quarantines are admitted together or refused together. A dry-run leg spends
/// nothing: it is reported as the budget would have judged it with the real ones.
async fn admit_and_write(
    p: &Ports,
    incident: &Incident,
    mut judged: Vec<Judged>,
    ledger: Option<Result<BudgetLedger, PortError>>,
    now: OffsetDateTime,
) -> Result<Vec<Written>, StepError> {
    let spending: Vec<usize> = (0..judged.len()).filter(|&i| judged[i].spends_budget()).collect();
    let Some(budget) = p.settings.policy.budget.filter(|_| !spending.is_empty()) else {
        return write(p, incident, judged, None, now).await;
    };
    let mut ledger = match ledger {
        Some(read) => read?,
        None => p.journal.budget().await?,
    };
    let real: Vec<Move> = spending
        .iter()
        .filter(|&&i| matches!(judged[i], Judged::Contain(_)))
        .filter_map(|&i| judged[i].budget_move(incident, now))
        .collect();
    let all: Vec<Move> = spending
        .iter()
        .filter_map(|&i| judged[i].budget_move(incident, now))
        .collect();
    let refused = admission(&ledger, &budget, &real, now);
    let dry_refused = refused.clone().or_else(|| admission(&ledger, &budget, &all, now));
    for &i in &spending {
        let why = match judged[i] {
            Judged::Contain(_) => refused.clone(),
            _ => dry_refused.clone(),
        };
        if let Some(why) = why {
            judged[i] = Judged::Done(no_action(NoAction::BudgetExceeded, why));
        }
    }
    if refused.is_some() {
        return write(p, incident, judged, None, now).await;
    }
    for m in real {
        ledger.spend(&budget, m);
    }
    write(p, incident, judged, Some(ledger), now).await
}

/// Why these moves may not be made together, if they may not.
fn admission(ledger: &BudgetLedger, budget: &Budget, moves: &[Move], now: OffsetDateTime) -> Option<String> {
    match ledger.admit_plan(budget, moves, now) {
        Err(why) => Some(why),
        Ok(()) if moves.len() > MAX_ITEMS_ADMITTED_AT_ONCE => Some(format!(
            "the plan would open {} quarantines, more than one transaction admits ({MAX_ITEMS_ADMITTED_AT_ONCE}); split the response with scope rules",
            moves.len()
        )),
        Ok(()) => None,
    }
}

/// What became of one leg: its decision, what the trail says of its demand, and the item as
/// written with the tags it was decided on (when a demand was added).
struct Written {
    decision: LegDecision,
    added: Option<AuditEntry>,
    item: Option<(AttachmentItem, Tags)>,
}

/// Writes the demands: the plan's new quarantines with the ledger in one transaction, every
/// other demand on its own item.
async fn write(
    p: &Ports,
    incident: &Incident,
    judged: Vec<Judged>,
    ledger: Option<BudgetLedger>,
    now: OffsetDateTime,
) -> Result<Vec<Written>, StepError> {
    // Legs whose item is written in the transaction, below: theirs is replaced as stored.
    let mut admitted: Vec<usize> = Vec::new();
    let mut written: Vec<Written> = Vec::with_capacity(judged.len());
    for leg in judged {
        let (decision, added, item) = match leg {
            Judged::Done(decision) | Judged::DryRunNew(decision, _) | Judged::Ask(decision, _) => {
                (decision, None, None)
            }
            Judged::Held(decision, added) => (decision, added.map(|a| *a), None),
            Judged::Contain(c) => {
                let added = entry(&incident.incident_id, &incident.execution_arn, now, c.added);
                let item = match c.opens && ledger.is_some() {
                    true => {
                        admitted.push(written.len());
                        c.item
                    }
                    false => p.journal.put_item(&c.item).await?,
                };
                (c.decision, Some(added), Some((item, c.tags)))
            }
        };
        written.push(Written {
            decision,
            added,
            item,
        });
    }
    if let Some(ledger) = ledger.filter(|_| !admitted.is_empty()) {
        let items: Vec<AttachmentItem> = admitted
            .iter()
            .filter_map(|&i| written[i].item.as_ref().map(|(item, _)| item.clone()))
            .collect();
        let stored = p.journal.put_items_admitted(&items, &ledger).await?;
        for (&i, item) in admitted.iter().zip(stored) {
            if let Some((slot, _)) = written[i].item.as_mut() {
                *slot = item;
            }
        }
    }
    Ok(written)
}

fn finding_received(incident: &Incident, first_sighting: bool, now: OffsetDateTime) -> AuditEntry {
    let finding = &incident.finding;
    let event = AuditEvent::FindingReceived {
        finding_id: finding.id.clone(),
        finding_type: finding.finding_type.clone(),
        severity: finding.severity.value(),
        resource: finding.subject(),
        account: finding.account_id.clone().unwrap_or_default(),
        vpcs: incident.legs.iter().map(|l| l.vpc_id.clone()).collect(),
        first_sighting,
        unresolved: incident
            .unresolved
            .iter()
            .map(|u| format!("{}: {}", u.workload, u.reason))
            .collect(),
    };
    entry(&incident.incident_id, &incident.execution_arn, now, event)
}

fn decided_event(leg: &Leg, decision: &LegDecision, policy_version: &str) -> AuditEvent {
    AuditEvent::Decided {
        vpc_id: leg.vpc_id.clone(),
        attachment_id: leg.attachment.as_ref().map(|a| a.attachment_id.clone()),
        verdict: decision.verdict,
        reason: decision.reason.clone(),
        segment: decision.segment.clone(),
        until: decision.until,
        policy_version: policy_version.to_string(),
    }
}

/// One line per decision, read by the stack's metric filters (BudgetExceeded).
fn log_decision(vpc: &str, decision: &LegDecision, policy: &str) {
    let (verdict, segment) = (
        decision.verdict.name(),
        decision.segment.as_deref().unwrap_or("-"),
    );
    let reason = &decision.reason;
    match decision.verdict.is_refusal() {
        true => tracing::warn!(outcome = %verdict, %vpc, %segment, %reason, %policy, "quarantine refused"),
        false => tracing::info!(outcome = %verdict, %vpc, %segment, %reason, %policy, "decided"),
    }
}

/// Reconcile's work: one leg per attachment this incident contains, all due by `deadline`.
fn plan_reconcile(incident: &mut Incident, deadline: OffsetDateTime) {
    let contained: Vec<LegProgress> = incident
        .legs
        .iter()
        .filter(|l| l.decision.as_ref().is_some_and(|d| d.verdict == Verdict::Contain))
        .filter_map(|l| l.attachment.as_ref())
        .map(|a| LegProgress::new(&a.attachment_id, deadline))
        .collect();
    incident.action = if contained.is_empty() {
        Action::None
    } else {
        Action::Contain
    };
    incident.reconcile = Some(ReconcileProgress {
        execution_arn: incident.execution_arn.clone(),
        incident_id: Some(incident.incident_id.clone()),
        legs: contained,
        attempt: 0,
        wait_seconds: 0,
        status: Default::default(),
        journal: std::mem::take(&mut incident.journal),
    });
}

pub(super) fn entry(
    incident_id: &str,
    execution_arn: &str,
    at: OffsetDateTime,
    event: AuditEvent,
) -> AuditEntry {
    AuditEntry {
        incident_id: incident_id.to_string(),
        at,
        execution_arn: Some(execution_arn.to_string()),
        event,
    }
}

fn not_attached(p: &Ports, leg: &Leg) -> LegDecision {
    LegDecision {
        verdict: Verdict::NotAttached,
        reason: format!(
            "{} in {} has no Cloud WAN VPC attachment on core network {}",
            leg.vpc_id, leg.region, p.settings.core_network_id
        ),
        segment: None,
        until: None,
        new_episode: false,
    }
}
