//! MoveSegment and Verify. MoveSegment records the pre-quarantine tag (or its absence) before
//! it changes anything, then sets the tag; re-running it when the tag is set is a no-op.
//! Verify reads the attachment and says done or pending; the state machine waits and asks
//! again, and Verify gives up with VerificationTimeout after the configured attempts.

use super::notify::publish;
use super::{input, output, Context};
use crate::error::HandlerError;
use crate::incident::{Incident, ReleaseRequest, Target};
use crate::journal::{now_rfc3339, tag_map, Status};
use aws_sdk_networkmanager::types::{AttachmentState, Tag};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub async fn move_segment(ctx: Arc<Context>, event: Value) -> Result<Value, HandlerError> {
    let incident: Incident = input(event, "move-segment takes the incident from decide")?;
    for target in incident.targets.iter().filter(|t| t.plan().is_some()) {
        let decision = target.plan().expect("filtered");
        let Some(mut record) = ctx
            .journal
            .state(&target.attachment_id)
            .await?
            .filter(|r| r.incident_id == incident.incident_id && r.is_active())
        else {
            // A stricter incident took the attachment over, or it was released: not ours to tag.
            superseded(&ctx, &incident.incident_id, &target.attachment_id).await?;
            continue;
        };
        let current = current_tags(&ctx, target).await?;
        if !record.previous_recorded {
            record.previous_value = current.get(&record.tag_key).cloned();
            record.previous_recorded = true;
            record = ctx.journal.put_state(&record, Some(record.version)).await?;
            ctx.journal
                .audit(
                    &incident.incident_id,
                    "TagsRecorded",
                    json!({"attachment": target.attachment_id,
                        "key": record.tag_key, "previous_value": record.previous_value}),
                )
                .await?;
        }
        for (key, value) in &decision.tags {
            if current.get(key) == Some(value) {
                continue;
            }
            ctx.network_manager
                .tag_resource()
                .resource_arn(target.attachment_arn())
                .tags(Tag::builder().key(key).value(value).build())
                .send()
                .await
                .map_err(|e| HandlerError::from_sdk("networkmanager TagResource", e))?;
            ctx.journal
                .audit(
                    &incident.incident_id,
                    "Tagged",
                    json!({"attachment": target.attachment_id, "key": key, "value": value}),
                )
                .await?;
        }
    }
    output(&incident)
}

/// Journals that another incident (or a release) owns the attachment now.
async fn superseded(ctx: &Context, incident_id: &str, attachment_id: &str) -> Result<(), HandlerError> {
    ctx.journal
        .audit(
            incident_id,
            "Superseded",
            json!({"attachment": attachment_id,
            "reason": "a stricter incident took the attachment over, or it was released"}),
        )
        .await
}

/// Whether this incident still owns the attachment's lock.
async fn owns(ctx: &Context, incident_id: &str, attachment_id: &str) -> Result<bool, HandlerError> {
    Ok(ctx
        .journal
        .state(attachment_id)
        .await?
        .is_some_and(|r| r.incident_id == incident_id && r.is_active()))
}

pub(super) async fn current_tags(
    ctx: &Context,
    target: &Target,
) -> Result<BTreeMap<String, String>, HandlerError> {
    let listed = ctx
        .network_manager
        .list_tags_for_resource()
        .resource_arn(target.attachment_arn())
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk("networkmanager ListTagsForResource", e))?;
    Ok(tag_map(listed.tag_list()))
}

enum Seen {
    Done,
    Pending,
}

/// Where the attachment is now, against where it should be.
async fn check(ctx: &Context, attachment_id: &str, expected: Option<&str>) -> Result<Seen, HandlerError> {
    let got = ctx
        .network_manager
        .get_vpc_attachment()
        .attachment_id(attachment_id)
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk("networkmanager GetVpcAttachment", e))?;
    let attachment = got.vpc_attachment().and_then(|v| v.attachment()).ok_or_else(|| {
        HandlerError::AttachmentNotFound(format!("{attachment_id} has no attachment in the response"))
    })?;
    match attachment.state() {
        Some(AttachmentState::Available) if attachment.segment_name() == expected => Ok(Seen::Done),
        Some(AttachmentState::Available) => Ok(Seen::Pending),
        Some(AttachmentState::PendingTagAcceptance) if ctx.settings.accept_pending_tags => {
            ctx.network_manager
                .accept_attachment()
                .attachment_id(attachment_id)
                .send()
                .await
                .map_err(|e| HandlerError::from_sdk("networkmanager AcceptAttachment", e))?;
            Ok(Seen::Pending)
        }
        Some(AttachmentState::PendingTagAcceptance) => Err(HandlerError::PolicyViolation(format!(
            "{attachment_id} waits for the core network owner to accept the tag change, and this deployment does not accept it (CWQ_ACCEPT_PENDING_TAGS)"
        ))),
        Some(state @ (AttachmentState::Deleting | AttachmentState::Failed | AttachmentState::Rejected)) => Err(
            HandlerError::AttachmentNotFound(format!("{attachment_id} is {state} and will not reach {expected:?}")),
        ),
        _ => Ok(Seen::Pending),
    }
}

/// Verify takes the incident (after MoveSegment) or a release request (after Release).
pub async fn verify(ctx: Arc<Context>, event: Value) -> Result<Value, HandlerError> {
    if event.get("incident_id").is_some() {
        verify_quarantine(ctx, input(event, "verify takes an incident")?).await
    } else {
        verify_release(ctx, input(event, "verify takes a release request")?).await
    }
}

fn attempt(
    progress: &mut crate::incident::VerifyProgress,
    settings: &super::Settings,
    what: &str,
) -> Result<(), HandlerError> {
    let max = settings.verify_max_attempts;
    progress.attempts += 1;
    progress.status = "pending".into();
    progress.wait_seconds = settings.verify_interval_seconds;
    if progress.attempts > max {
        return Err(HandlerError::VerificationTimeout(format!(
            "{what} after {max} checks"
        )));
    }
    Ok(())
}

async fn verify_quarantine(ctx: Arc<Context>, mut incident: Incident) -> Result<Value, HandlerError> {
    let mut all_done = true;
    for target in incident.targets.iter().filter(|t| t.plan().is_some()) {
        if !owns(&ctx, &incident.incident_id, &target.attachment_id).await? {
            continue; // superseded: the incident that owns it now verifies it
        }
        let expected = target.plan().and_then(|d| d.target_segment.as_deref());
        if let Seen::Pending = check(&ctx, &target.attachment_id, expected).await? {
            all_done = false;
        }
    }
    if !all_done {
        let what = format!("the move of incident {} is not verified", incident.incident_id);
        attempt(&mut incident.verify, &ctx.settings, &what)?;
        return output(&incident);
    }
    for target in incident.targets.iter().filter(|t| t.plan().is_some()) {
        let Some(mut record) = ctx.journal.state(&target.attachment_id).await? else {
            continue;
        };
        if record.incident_id == incident.incident_id && record.status == Status::Quarantining {
            record.status = Status::Quarantined;
            ctx.journal.put_state(&record, Some(record.version)).await?;
            let contained_at = now_rfc3339();
            let detail = json!({"attachment": target.attachment_id, "vpc": target.vpc_id, "account": target.owner_account,
                                "segment_before": record.segment_before, "segment": record.segment, "expiry": record.expiry,
                                "incident": incident.incident_id, "finding_id": incident.finding.id,
                                "finding_type": incident.finding.finding_type, "finding_time": incident.finding_time,
                                "contained_at": contained_at, "time_to_contain_seconds": seconds_since(incident.finding_time.as_deref())});
            ctx.journal
                .audit(&incident.incident_id, "Quarantined", detail.clone())
                .await?;
            publish(&ctx, "Quarantine Applied", &detail).await?;
            // Read by the stack's metric filters (time to contain, the dashboard).
            tracing::info!(outcome = "QuarantineApplied", attachment = %target.attachment_id,
                time_to_contain_seconds = seconds_since(incident.finding_time.as_deref()).unwrap_or(-1.0),
                "quarantine applied");
        }
    }
    incident.verify.status = "done".into();
    output(&incident)
}

async fn verify_release(ctx: Arc<Context>, mut request: ReleaseRequest) -> Result<Value, HandlerError> {
    let expected = request.expected_segment.clone();
    if let Seen::Pending = check(&ctx, &request.attachment_id, expected.as_deref()).await? {
        let what = format!("the release of {} is not verified", request.attachment_id);
        attempt(&mut request.verify, &ctx.settings, &what)?;
        return output(&request);
    }
    if let Some(mut record) = ctx.journal.state(&request.attachment_id).await? {
        if record.status == Status::Releasing {
            record.status = Status::Released;
            ctx.journal.put_state(&record, Some(record.version)).await?;
            let detail = json!({"attachment": request.attachment_id, "vpc": record.vpc_id, "account": record.owner_account,
                                "segment": expected, "quarantine_segment": record.segment, "reason": request.reason,
                                "note": request.note, "incident": record.incident_id});
            ctx.journal
                .audit(&record.incident_id, "Released", detail.clone())
                .await?;
            publish(&ctx, "Quarantine Released", &detail).await?;
            tracing::info!(outcome = "QuarantineReleased", attachment = %request.attachment_id, "quarantine released");
        }
    }
    request.verify.status = "done".into();
    output(&request)
}

fn seconds_since(start: Option<&str>) -> Option<f64> {
    let start = time::OffsetDateTime::parse(start?, &time::format_description::well_known::Rfc3339).ok()?;
    Some((time::OffsetDateTime::now_utc() - start).as_seconds_f64())
}
