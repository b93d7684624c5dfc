//! Decide: the response policy and the LIVE core network policy applied to each target, with
//! the attachment's journal state; a quarantine takes the attachment's lock in the journal (a
//! conditional write) before anything changes, and every decision is recorded with its reason.

use super::notify::publish;
use super::{input, output, Context};
use crate::cloudwan::{Attachment, CoreNetworkPolicy};
use crate::decision::{decide as engine, BudgetUsage, Outcome, Situation};
use crate::error::HandlerError;
use crate::incident::{Action, Incident, Target, TargetDecision};
use crate::journal::{now_rfc3339, AttachmentRecord, Status};
use aws_sdk_networkmanager::types::CoreNetworkPolicyAlias;
use serde_json::{json, Value};
use std::sync::Arc;
use time::OffsetDateTime;

pub async fn decide(ctx: Arc<Context>, event: Value) -> Result<Value, HandlerError> {
    let mut incident: Incident = input(event, "decide takes the incident from enrich")?;
    let finding = &incident.finding;
    let first = ctx
        .journal
        .first_sighting(
            &finding.id,
            finding.updated_at.as_deref().unwrap_or("none"),
            &incident.incident_id,
        )
        .await?;
    ctx.journal
        .audit(
            &incident.incident_id,
            "FindingReceived",
            json!({"finding_id": finding.id, "type": finding.finding_type, "severity": finding.severity,
                   "instance": finding.instance_id, "account": finding.account_id, "vpcs": finding.vpc_ids,
                   "first_sighting": first}),
        )
        .await?;

    if incident.targets.is_empty() {
        // Only a sample the policy ignores reaches here without targets (enrich skipped it).
        let detail = json!({"decision": "IgnoredSample", "reason": "the finding is a GuardDuty sample"});
        ctx.journal
            .audit(&incident.incident_id, "Decided", detail)
            .await?;
        incident.action = Action::None;
        return output(&incident);
    }

    let core = live_policy(&ctx).await?;
    let now = OffsetDateTime::now_utc();
    let mut any = false;
    for target in &mut incident.targets {
        let decision = decide_target(
            &ctx,
            &incident.incident_id,
            &incident.finding,
            target,
            incident.execution_arn.as_deref(),
            &core,
            now,
        )
        .await?;
        any |= decision.quarantine;
        let detail = json!({"attachment": target.attachment_id, "vpc": target.vpc_id, "account": target.owner_account,
                            "incident": incident.incident_id, "decision": decision.reason_code,
                            "reason": decision.reason, "target_segment": decision.target_segment, "expiry": decision.expiry});
        ctx.journal
            .audit(&incident.incident_id, "Decided", detail.clone())
            .await?;
        // A threat cwq may not contain is a failure someone must hear about.
        if matches!(
            decision.reason_code.as_str(),
            "BudgetExceeded" | "PolicyViolation"
        ) {
            publish(&ctx, "Quarantine Failed", &detail).await?;
            // Read by the stack's BudgetExceeded metric filter and alarm.
            tracing::warn!(outcome = %decision.reason_code, attachment = %target.attachment_id,
                reason = %decision.reason, "quarantine refused");
        }
        target.decision = Some(decision);
    }
    incident.action = if any { Action::Quarantine } else { Action::None };
    output(&incident)
}

pub(super) async fn live_policy(ctx: &Context) -> Result<CoreNetworkPolicy, HandlerError> {
    let got = ctx
        .network_manager
        .get_core_network_policy()
        .core_network_id(&ctx.settings.core_network_id)
        .alias(CoreNetworkPolicyAlias::Live)
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk("networkmanager GetCoreNetworkPolicy", e))?;
    let document = got
        .core_network_policy()
        .and_then(|p| p.policy_document())
        .ok_or_else(|| HandlerError::Failed("the core network has no LIVE policy".into()))?;
    CoreNetworkPolicy::from_json(document)
        .map_err(|e| HandlerError::Failed(format!("the LIVE core network policy: {e}")))
}

async fn decide_target(
    ctx: &Context,
    incident_id: &str,
    finding: &crate::finding::Finding,
    target: &Target,
    execution_arn: Option<&str>,
    core: &CoreNetworkPolicy,
    now: OffsetDateTime,
) -> Result<TargetDecision, HandlerError> {
    let policy = &ctx.settings.policy;
    let record = ctx.journal.state(&target.attachment_id).await?;

    // The same incident again (a new execution with the same input): resume or confirm.
    if let Some(r) = record
        .as_ref()
        .filter(|r| r.incident_id == incident_id && r.is_active())
    {
        let resuming = r.status == Status::Quarantining;
        return Ok(TargetDecision {
            quarantine: resuming,
            reason_code: if resuming {
                "Quarantine"
            } else {
                "AlreadyContained"
            }
            .into(),
            reason: if resuming {
                format!(
                    "resuming incident {incident_id}: {} to {}",
                    target.attachment_id, r.segment
                )
            } else {
                format!(
                    "incident {incident_id} already contained {} in {}",
                    target.attachment_id, r.segment
                )
            },
            target_segment: Some(r.segment.clone()),
            tags: [(r.tag_key.clone(), r.segment.clone())].into(),
            expiry: Some(r.expiry),
            extends_existing: false,
            acceptance_required: false,
        });
    }

    let quarantine = record.as_ref().and_then(AttachmentRecord::active_quarantine);
    let facts = Attachment::vpc(
        &target.owner_account,
        &target.edge_location,
        &target.vpc_id,
        target.tags_before.clone(),
    );
    let decide_with = |budget_used| {
        let situation = Situation {
            finding,
            vpc_id: &target.vpc_id,
            attachment_id: &target.attachment_id,
            attachment: &facts,
            current_segment: target.segment_before.as_deref(),
            quarantine: quarantine.as_ref(),
            budget_used,
            now,
        };
        engine(&situation, policy, core)
    };
    // The budget limits new moves only, so the moves in its window (a journal Query) are read
    // only when the decision would make one: a finding for a VPC already held costs no Query.
    let mut decision = decide_with(BudgetUsage::default());
    if let (Some(budget), true) = (policy.budget, decision.may_spend_budget()) {
        let window = time::Duration::try_from(budget.window).unwrap_or(time::Duration::HOUR);
        let used = ctx
            .journal
            .moves_since(now - window, &target.owner_account)
            .await?;
        decision = decide_with(used);
    }
    let Outcome::Quarantine(plan) = &decision.outcome else {
        let code = decision.no_action().map(|r| r.to_string()).unwrap_or_default();
        return Ok(TargetDecision {
            quarantine: false,
            reason_code: code,
            reason: decision.reason,
            target_segment: None,
            tags: Default::default(),
            expiry: None,
            extends_existing: false,
            acceptance_required: false,
        });
    };

    // Take the attachment's lock: a conditional write on the version read above.
    let active = record.as_ref().filter(|r| r.is_active());
    let new = AttachmentRecord {
        attachment_id: target.attachment_id.clone(),
        status: if plan.extends_existing {
            Status::Quarantined
        } else {
            Status::Quarantining
        },
        version: 0,
        incident_id: incident_id.to_string(),
        vpc_id: target.vpc_id.clone(),
        owner_account: target.owner_account.clone(),
        core_network_id: target.core_network_id.clone(),
        edge_location: target.edge_location.clone(),
        segment: plan.target_segment.clone(),
        // An escalation keeps what was there before the first quarantine.
        segment_before: active.map_or(target.segment_before.clone(), |r| r.segment_before.clone()),
        expiry: plan.expiry,
        tag_key: policy.tags.key.clone(),
        previous_value: active.map_or_else(
            || target.tags_before.get(&policy.tags.key).cloned(),
            |r| r.previous_value.clone(),
        ),
        previous_recorded: active.is_some_and(|r| r.previous_recorded),
        reason: decision.reason.clone(),
        execution_arn: execution_arn.map(str::to_string),
        snapshots: active.map(|r| r.snapshots.clone()).unwrap_or_default(),
        since: active.map_or_else(now_rfc3339, |r| r.since.clone()),
        updated_at: String::new(),
    };
    ctx.journal
        .put_state(&new, record.as_ref().map(|r| r.version))
        .await?;
    if !plan.extends_existing {
        ctx.journal
            .record_move(&target.attachment_id, &target.owner_account)
            .await?;
    }
    Ok(TargetDecision {
        quarantine: !plan.extends_existing,
        reason_code: if plan.extends_existing {
            "Extended"
        } else {
            "Quarantine"
        }
        .into(),
        reason: decision.reason,
        target_segment: Some(plan.target_segment.clone()),
        tags: plan.tags.clone(),
        expiry: Some(plan.expiry),
        extends_existing: plan.extends_existing,
        acceptance_required: matches!(
            plan.placement,
            crate::cloudwan::Placement::Segment {
                acceptance_required: true,
                ..
            }
        ),
    })
}
