//! The model's records as Network Manager's JSON shapes, and its paging of lists
//! (`maxResults`, an opaque `nextToken`).

use super::model::{AttachmentRecord, CloudWan, CoreNetwork, GlobalNetwork, PolicyVersion};
use crate::api::{ApiError, ApiRequest};
use cwq_domain::cloudwan::Placement;
use serde_json::{json, Value};

pub(super) fn global_network_json(g: &GlobalNetwork) -> Value {
    json!({"GlobalNetworkId": g.id, "GlobalNetworkArn": g.arn, "Description": g.description,
           "CreatedAt": g.created_at, "State": "AVAILABLE", "Tags": g.tags})
}

pub(super) fn core_network_json(c: &CoreNetwork) -> Value {
    let segments: Vec<Value> = c
        .live_version()
        .map(|v| {
            v.policy
                .segments
                .iter()
                .map(|s| json!({"Name": s.name, "EdgeLocations": [], "SharedSegments": []}))
                .collect()
        })
        .unwrap_or_default();
    json!({"GlobalNetworkId": c.global_network_id, "CoreNetworkId": c.id, "CoreNetworkArn": c.arn,
           "Description": c.description, "CreatedAt": c.created_at, "State": "AVAILABLE",
           "Segments": segments, "Tags": c.tags})
}

/// A core network as ListCoreNetworks summarises it.
pub(super) fn core_network_summary_json(c: &CoreNetwork) -> Value {
    json!({"CoreNetworkId": c.id, "CoreNetworkArn": c.arn, "GlobalNetworkId": c.global_network_id,
           "OwnerAccountId": c.owner, "State": "AVAILABLE", "Description": c.description, "Tags": c.tags})
}

pub(super) fn policy_json(core: &CoreNetwork, v: &PolicyVersion) -> Value {
    let alias = if core.live == Some(v.id) {
        Some("LIVE")
    } else if core.latest_version().is_some_and(|last| last.id == v.id) {
        Some("LATEST")
    } else {
        None
    };
    let state = if v.executed {
        "EXECUTION_SUCCEEDED"
    } else {
        "READY_TO_EXECUTE"
    };
    json!({"CoreNetworkId": core.id, "PolicyVersionId": v.id, "Alias": alias, "Description": v.description,
           "CreatedAt": v.created_at, "ChangeSetState": state, "PolicyErrors": [], "PolicyDocument": v.document})
}

pub(super) fn attachment_json(cloudwan: &CloudWan, a: &AttachmentRecord) -> Value {
    let core_arn = cloudwan.core(&a.core_network_id).ok().map(|c| c.arn.clone());
    let mut view = json!({
        "CoreNetworkId": a.core_network_id,
        "CoreNetworkArn": core_arn,
        "AttachmentId": a.id,
        "OwnerAccountId": a.owner,
        "AttachmentType": "VPC",
        "State": a.state,
        "EdgeLocation": a.edge_location,
        "ResourceArn": a.resource_arn,
        "Tags": a.tags,
        "CreatedAt": a.created_at,
        "UpdatedAt": a.updated_at,
    });
    match &a.placement {
        Some(Placement::Segment {
            segment, rule_number, ..
        }) => {
            view["SegmentName"] = json!(segment);
            view["AttachmentPolicyRuleNumber"] = json!(rule_number);
        }
        Some(Placement::NetworkFunctionGroup { name, rule_number }) => {
            view["NetworkFunctionGroupName"] = json!(name);
            view["AttachmentPolicyRuleNumber"] = json!(rule_number);
        }
        Some(Placement::Unassociated { .. }) | None => {}
    }
    if let Some(proposed) = &a.proposed {
        let mut change = json!({"Tags": proposed.tags});
        if let Some(segment) = proposed.placement.segment() {
            change["SegmentName"] = json!(segment);
        }
        if let Some(rule) = proposed.placement.rule_number() {
            change["AttachmentPolicyRuleNumber"] = json!(rule);
        }
        view["ProposedSegmentChange"] = change;
    }
    view
}

/// An attachment as ListAttachments shows it: without its tags unless the settings say the
/// list carries them (docs/aws-behaviour.md).
pub(super) fn listed_attachment_json(cloudwan: &CloudWan, a: &AttachmentRecord) -> Value {
    let mut item = attachment_json(cloudwan, a);
    if !cloudwan.settings.list_attachments_include_tags {
        if let Some(map) = item.as_object_mut() {
            map.remove("Tags");
        }
    }
    item
}

pub(super) fn vpc_attachment_json(cloudwan: &CloudWan, a: &AttachmentRecord) -> Value {
    json!({"Attachment": attachment_json(cloudwan, a), "SubnetArns": a.subnet_arns, "Options": a.options})
}

/// `maxResults` (1–500) and an opaque `nextToken` (the index of the next item); only the
/// page's items are rendered.
pub(super) fn page<T>(
    request: &ApiRequest,
    items: &[T],
    render: impl Fn(&T) -> Value,
    key: &str,
) -> Result<Value, ApiError> {
    let max = match request.query_value("maxResults") {
        None => 500,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| {
                ApiError::validation("FieldValidationFailed", "maxResults must be between 1 and 500")
            })?,
    };
    let start = match request.query_value("nextToken") {
        None => 0,
        Some(token) => token
            .strip_prefix("cwq-page-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n <= items.len())
            .ok_or_else(|| ApiError::validation("FieldValidationFailed", "nextToken is not valid"))?,
    };
    let end = (start + max).min(items.len());
    let rendered: Vec<Value> = items[start..end].iter().map(render).collect();
    let mut response = json!({ key: rendered });
    if end < items.len() {
        response["NextToken"] = json!(format!("cwq-page-{end}"));
    }
    Ok(response)
}
