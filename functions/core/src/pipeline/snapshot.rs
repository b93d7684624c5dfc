//! Snapshot: CreateSnapshots for all the instance's volumes (crash-consistent), tagged for
//! the chain of custody, ids journaled. It runs beside containment, never before it, and takes
//! one snapshot set per incident however often it is re-run.

use super::{input, output, Context};
use crate::error::HandlerError;
use crate::incident::Incident;
use crate::journal::now_rfc3339;
use aws_sdk_ec2::types::{CopyTagsFromSource, InstanceSpecification, ResourceType, Tag, TagSpecification};
use serde_json::{json, Value};
use std::sync::Arc;

pub async fn snapshot(ctx: Arc<Context>, event: Value) -> Result<Value, HandlerError> {
    let mut incident: Incident = input(event, "snapshot takes the incident from decide")?;
    let taken = ctx.journal.snapshots(&incident.incident_id).await?;
    if !taken.is_empty() {
        incident.snapshots = taken;
        return output(&incident);
    }
    let finding = &incident.finding;
    let ec2 = ctx
        .ec2_for(finding.account_id.as_deref(), finding.region.as_deref())
        .await?;
    // A run that crashed after CreateSnapshots left a tagged set the journal does not know.
    let earlier = taken_earlier(&ec2, &incident.incident_id).await?;
    if !earlier.is_empty() {
        ctx.journal
            .record_snapshots(&incident.incident_id, &earlier)
            .await?;
        ctx.journal
            .audit(
                &incident.incident_id,
                "Snapshotted",
                json!({"instance": finding.instance_id, "snapshots": earlier, "found_after_restart": true}),
            )
            .await?;
        incident.snapshots = earlier;
        return output(&incident);
    }
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let tags = TagSpecification::builder()
        .resource_type(ResourceType::Snapshot)
        .tags(tag("cwq:incident", &incident.incident_id))
        .tags(tag("cwq:finding-id", &finding.id))
        .tags(tag("cwq:finding-type", &finding.finding_type))
        .tags(tag("cwq:instance", &finding.instance_id))
        .tags(tag(
            "cwq:account",
            finding.account_id.as_deref().unwrap_or("unknown"),
        ))
        .tags(tag("cwq:acquired-at", &now_rfc3339()))
        .build();
    let created = ec2
        .create_snapshots()
        .instance_specification(
            InstanceSpecification::builder()
                .instance_id(&finding.instance_id)
                .build(),
        )
        .description(description(&incident.incident_id))
        .tag_specifications(tags)
        .copy_tags_from_source(CopyTagsFromSource::Volume)
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk("ec2 CreateSnapshots", e))?;
    let ids: Vec<String> = created
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_id().map(str::to_string))
        .collect();
    ctx.journal.record_snapshots(&incident.incident_id, &ids).await?;
    ctx.journal
        .audit(
            &incident.incident_id,
            "Snapshotted",
            json!({"instance": finding.instance_id, "snapshots": ids}),
        )
        .await?;
    incident.snapshots = ids;
    output(&incident)
}

fn description(incident_id: &str) -> String {
    format!("cwq forensic snapshot, incident {incident_id}")
}

/// Snapshots already tagged with this incident.
async fn taken_earlier(ec2: &aws_sdk_ec2::Client, incident_id: &str) -> Result<Vec<String>, HandlerError> {
    // EC2 filter values take `*` and `?` as wildcards: the id must match only itself.
    let filter = |name: &str, value: String| {
        let literal = value
            .replace('\\', "\\\\")
            .replace('*', "\\*")
            .replace('?', "\\?");
        aws_sdk_ec2::types::Filter::builder()
            .name(name)
            .values(literal)
            .build()
    };
    // The description narrows the set before the tag is read: the local cloud (moto) applies
    // filters in order and looks up every candidate snapshot's tags one by one.
    let described = ec2
        .describe_snapshots()
        .owner_ids("self")
        .filters(filter("description", description(incident_id)))
        .filters(filter("tag:cwq:incident", incident_id.to_string()))
        .send()
        .await
        .map_err(|e| HandlerError::from_sdk("ec2 DescribeSnapshots", e))?;
    Ok(described
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_id().map(str::to_string))
        .collect())
}
