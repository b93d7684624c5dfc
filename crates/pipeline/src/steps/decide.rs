//! Decide: the response policy and the LIVE core network policy applied to each leg. A leg
//! cwq acts on gets this incident's demand, written with one conditional write on the
//! attachment's item; the first demand of an episode records the original tags and is
//! admitted by the blast-radius budget in the same transaction. Nothing else changes here:
//! Reconcile moves the attachment.

use crate::audit::{AuditEntry, AuditEvent};
use crate::contract::{Action, Incident, Leg, LegDecision, LegProgress, ReconcileProgress, Verdict};
use crate::error::StepError;
use crate::ports::Ports;
use crate::ports::Tags;
use cwq_domain::budget::BudgetLedger;
use cwq_domain::budget::Move;
use cwq_domain::cloudwan::{Attachment, CoreNetworkPolicy, Placement};
use cwq_domain::decision::{
    decide as engine, ActiveQuarantine, BudgetUsage, Decision, NoAction, Outcome, Plan, Situation,
};
use cwq_domain::lifecycle::{AttachmentItem, AttachmentRef, Change, Demand, Required};
use cwq_domain::response_policy::Budget;
use time::OffsetDateTime;

pub async fn decide(p: &Ports, mut incident: Incident) -> Result<Incident, StepError> {
    let now = p.now();
    let finding = &incident.finding;
    let first = p
        .journal
        .first_sighting(
            &finding.id,
            finding.updated_at.as_deref().unwrap_or("none"),
            &incident.incident_id,
        )
        .await?;
    let mut audit = vec![finding_received(&incident, first, now)];

    let core = match incident.legs.iter().any(|l| l.attachment.is_some()) {
        true => Some(p.cloud_wan.live_policy(&p.settings.core_network_id).await?),
        false => None,
    };
    let policy_version = &p.settings.policy_version;
    let mut legs = std::mem::take(&mut incident.legs);
    for leg in &mut legs {
        let (decision, added) = match (&leg.attachment, &core) {
            (Some(attachment), Some(core)) => decide_leg(p, &incident, leg, attachment, core, now).await?,
            _ => (not_attached(p, leg), None),
        };
        audit.push(entry(&incident, now, decided(leg, &decision, policy_version)));
        if let Some(added) = added {
            audit.push(entry(&incident, now, added));
        }
        log_decision(&leg.vpc_id, &decision, policy_version);
        leg.decision = Some(decision);
    }
    incident.legs = legs;
    p.journal.record(&audit).await?;

    let deadline = now + time::Duration::seconds(p.settings.reconcile_timeout_seconds.into());
    plan_reconcile(&mut incident, deadline);
    Ok(incident)
}

fn finding_received(incident: &Incident, first_sighting: bool, now: OffsetDateTime) -> AuditEntry {
    let finding = &incident.finding;
    entry(
        incident,
        now,
        AuditEvent::FindingReceived {
            finding_id: finding.id.clone(),
            finding_type: finding.finding_type.clone(),
            severity: finding.severity.value(),
            instance_id: finding.instance_id.clone(),
            account: finding.account_id.clone().unwrap_or_default(),
            vpcs: incident.legs.iter().map(|l| l.vpc_id.clone()).collect(),
            first_sighting,
        },
    )
}

fn decided(leg: &Leg, decision: &LegDecision, policy_version: &str) -> AuditEvent {
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
    });
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

fn entry(incident: &Incident, at: OffsetDateTime, event: AuditEvent) -> AuditEntry {
    AuditEntry {
        incident_id: incident.incident_id.clone(),
        at,
        execution_arn: Some(incident.execution_arn.clone()),
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

/// Deciding one leg: the finding, the leg, its attachment, and when.
struct LegWork<'a> {
    p: &'a Ports,
    incident: &'a Incident,
    leg: &'a Leg,
    attachment: &'a AttachmentRef,
    now: OffsetDateTime,
}

async fn decide_leg(
    p: &Ports,
    incident: &Incident,
    leg: &Leg,
    attachment: &AttachmentRef,
    core: &CoreNetworkPolicy,
    now: OffsetDateTime,
) -> Result<(LegDecision, Option<AuditEvent>), StepError> {
    let work = LegWork {
        p,
        incident,
        leg,
        attachment,
        now,
    };
    work.decide(core).await
}

/// A leg the finding does not change.
fn no_action(verdict: Verdict, reason: String) -> (LegDecision, Option<AuditEvent>) {
    let decision = LegDecision {
        verdict,
        reason,
        segment: None,
        until: None,
        new_episode: false,
    };
    (decision, None)
}

impl LegWork<'_> {
    async fn decide(&self, core: &CoreNetworkPolicy) -> Result<(LegDecision, Option<AuditEvent>), StepError> {
        let (p, incident, attachment, now) = (self.p, self.incident, self.attachment, self.now);
        let policy = &p.settings.policy;
        let item = p
            .journal
            .item(&attachment.attachment_id)
            .await?
            .unwrap_or_else(|| AttachmentItem::new(attachment.clone(), &policy.tags.key, now));
        // The same incident again (a retry, or a new execution with the same input).
        if let Some(demand) = item.demand_of(&incident.incident_id) {
            let decision = LegDecision {
                verdict: Verdict::Contain,
                reason: format!(
                    "incident {} already holds {} at least in {}",
                    incident.incident_id, attachment.attachment_id, demand.segment
                ),
                segment: Some(demand.segment.clone()),
                until: Some(demand.until),
                new_episode: false,
            };
            return Ok((decision, None));
        }
        // Protection reads the tags the attachment has now (ListTagsForResource).
        let tags = p.cloud_wan.tags(attachment).await?;
        let facts = Attachment::vpc(
            &attachment.owner_account,
            &attachment.edge_location,
            &attachment.vpc_id,
            tags.clone(),
        );
        let held = match (item.open_episode(), item.required(policy)) {
            (Some(_), Required::Segment { segment, until }) => Some(ActiveQuarantine {
                segment,
                expiry: until,
            }),
            _ => None,
        };
        let mut situation = Situation {
            finding: &incident.finding,
            vpc_id: &attachment.vpc_id,
            attachment_id: &attachment.attachment_id,
            attachment: &facts,
            current_segment: self.leg.segment_before.as_deref(),
            quarantine: held.as_ref(),
            episode_open: item.open_episode().is_some(),
            budget_used: BudgetUsage::default(),
            now,
        };
        // The budget limits new episodes only, so its ledger is read only when the decision
        // would open one: a finding for a VPC already held costs no read.
        let mut decision = engine(&situation, policy, core);
        let mut admission = None;
        if let Some(budget) = policy.budget.filter(|_| decision.may_spend_budget(&situation)) {
            let ledger = p.journal.budget().await?;
            situation.budget_used = ledger.usage(&budget, &attachment.owner_account, now);
            decision = engine(&situation, policy, core);
            admission = Some((budget, ledger));
        }
        let Decision { outcome, reason, .. } = decision;
        match outcome {
            // Never propose a change cwq may not see through: withdrawing a proposal with
            // RejectAttachment may detach the VPC (docs/aws-behaviour.md).
            Outcome::Quarantine(plan) if needs_acceptance(&plan) && !p.settings.accept_pending_tags => {
                let why = format!(
                    "the core network policy requires acceptance for a move into {}, and this deployment does not accept tag changes (AcceptPendingTags=false); nothing was changed",
                    plan.target_segment
                );
                Ok(no_action(Verdict::NoAction(NoAction::PolicyViolation), why))
            }
            Outcome::Quarantine(plan) => self.add_demand(item, plan, reason, admission, &tags).await,
            Outcome::None { reason: why } => Ok(no_action(Verdict::NoAction(why), reason)),
        }
    }

    /// Adds the incident's demand to the item, with the budget's move when it opens an episode.
    async fn add_demand(
        &self,
        mut item: AttachmentItem,
        plan: Plan,
        reason: String,
        admission: Option<(Budget, BudgetLedger)>,
        tags: &Tags,
    ) -> Result<(LegDecision, Option<AuditEvent>), StepError> {
        let (p, incident, attachment, now) = (self.p, self.incident, self.attachment, self.now);
        let demand = Demand {
            incident_id: incident.incident_id.clone(),
            segment: plan.target_segment.clone(),
            until: plan.expiry,
            finding_id: incident.finding.id.clone(),
            finding_type: incident.finding.finding_type.clone(),
            severity: incident.finding.severity.to_string(),
            since: now,
            execution_arn: Some(incident.execution_arn.clone()),
        };
        let original = item.original_for_new_episode(tags);
        let at = Change {
            execution: &incident.execution_arn,
            now,
            ladder: &p.settings.policy,
        };
        let opens = item.add_demand(demand, original.clone(), self.leg.segment_before.clone(), at);
        match admission.filter(|_| opens) {
            Some((budget, mut ledger)) => {
                let spent = Move {
                    at: now,
                    account: attachment.owner_account.clone(),
                    attachment_id: attachment.attachment_id.clone(),
                    incident_id: incident.incident_id.clone(),
                };
                ledger.spend(&budget, spent);
                p.journal.put_item_admitted(&item, &ledger).await?;
            }
            None => {
                p.journal.put_item(&item).await?;
            }
        }
        let added = AuditEvent::DemandAdded {
            attachment_id: attachment.attachment_id.clone(),
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
        Ok((decision, Some(added)))
    }
}
