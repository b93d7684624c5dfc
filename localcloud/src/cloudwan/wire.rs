//! Network Manager's restJson1 API over the state model: each request routed to its
//! operation, its labels, query and JSON body read and checked as the service model limits
//! them, the model called, and its answer rendered (or its error, in AWS's error shape).

use super::attachments::{NewVpcAttachment, VpcArn};
use super::model::{CloudWan, GlobalNetwork, NewCoreNetwork, Tag};
use super::routes::{route, Op};
use super::views::{
    attachment_json, core_network_json, core_network_summary_json, global_network_json,
    listed_attachment_json, page, policy_json, vpc_attachment_json,
};
use crate::api::{ApiError, ApiRequest, ApiResponse};
use serde_json::{json, Value};
use std::time::Instant;

impl CloudWan {
    /// The operation's name for counters and faults, or None when no route matches.
    pub fn operation_name(method: &str, raw_path: &str) -> Option<&'static str> {
        route(method, raw_path).map(|(op, _)| op.name())
    }

    /// One request: first the transitions that are due complete, then the operation runs.
    pub fn handle(&mut self, request: &ApiRequest) -> ApiResponse {
        self.advance(Instant::now());
        let Some((operation, labels)) = route(&request.method, &request.raw_path) else {
            return ApiError::validation(
                "UnknownOperation",
                format!(
                    "no Network Manager operation at {} {}",
                    request.method, request.raw_path
                ),
            )
            .into_response();
        };
        dispatch(self, request, operation, &labels)
            .map_or_else(ApiError::into_response, |value| ApiResponse::ok(&value))
    }
}

fn dispatch(
    cw: &mut CloudWan,
    request: &ApiRequest,
    operation: Op,
    labels: &[String],
) -> Result<Value, ApiError> {
    let account = &request.account;
    match operation {
        Op::CreateGlobalNetwork => create_global_network(cw, request),
        Op::DescribeGlobalNetworks => describe_global_networks(cw, request),
        Op::CreateCoreNetwork => create_core_network(cw, request),
        Op::ListCoreNetworks => {
            let items: Vec<_> = cw.core_networks().collect();
            page(request, &items, |c| core_network_summary_json(c), "CoreNetworks")
        }
        Op::GetCoreNetwork => Ok(json!({"CoreNetwork": core_network_json(cw.core(&labels[0])?)})),
        Op::PutCoreNetworkPolicy => put_core_network_policy(cw, request, &labels[0]),
        Op::GetCoreNetworkPolicy => get_core_network_policy(cw, request, &labels[0]),
        Op::ExecuteCoreNetworkChangeSet => {
            cw.execute_change_set(account, &labels[0], &labels[1])?;
            Ok(json!({}))
        }
        Op::CreateVpcAttachment => create_vpc_attachment(cw, request),
        Op::GetVpcAttachment => {
            Ok(json!({"VpcAttachment": vpc_attachment_json(cw, cw.attachment(&labels[0])?)}))
        }
        Op::ListAttachments => list_attachments(cw, request),
        Op::DeleteAttachment => {
            cw.delete_attachment(account, &labels[0])?;
            attachment_answer(cw, &labels[0])
        }
        Op::AcceptAttachment => {
            cw.accept_attachment(account, &labels[0])?;
            attachment_answer(cw, &labels[0])
        }
        Op::RejectAttachment => {
            cw.reject_attachment(account, &labels[0])?;
            attachment_answer(cw, &labels[0])
        }
        Op::TagResource => tag_resource(cw, request, &labels[0]),
        Op::UntagResource => untag_resource(cw, request, &labels[0]),
        Op::ListTagsForResource => {
            let resource = cw.resolve_arn(&labels[0])?;
            Ok(json!({"TagList": cw.tags(&resource)?}))
        }
    }
}

fn attachment_answer(cw: &CloudWan, id: &str) -> Result<Value, ApiError> {
    Ok(json!({"Attachment": attachment_json(cw, cw.attachment(id)?)}))
}

// ---- global and core networks -----------------------------------------------------------

fn create_global_network(cw: &mut CloudWan, request: &ApiRequest) -> Result<Value, ApiError> {
    let body = request.json()?;
    let description = str_field(&body, "Description");
    let tags = tags_field(&body, "Tags")?;
    let network = cw.create_global_network(&request.account, description, tags);
    Ok(json!({"GlobalNetwork": global_network_json(network)}))
}

fn describe_global_networks(cw: &CloudWan, request: &ApiRequest) -> Result<Value, ApiError> {
    let wanted = request.query_values("globalNetworkIds");
    let items: Vec<&GlobalNetwork> = cw
        .global_networks()
        .filter(|g| wanted.is_empty() || wanted.contains(&g.id.as_str()))
        .collect();
    page(request, &items, |g| global_network_json(g), "GlobalNetworks")
}

fn create_core_network(cw: &mut CloudWan, request: &ApiRequest) -> Result<Value, ApiError> {
    let body = request.json()?;
    let global_network_id = required(&body, "GlobalNetworkId")?;
    // An unknown global network is answered before the other fields are checked.
    cw.global_network(&global_network_id)?;
    let new = NewCoreNetwork {
        global_network_id,
        description: str_field(&body, "Description"),
        tags: tags_field(&body, "Tags")?,
        policy_document: str_field(&body, "PolicyDocument"),
    };
    let core = cw.create_core_network(&request.account, new)?;
    Ok(json!({"CoreNetwork": core_network_json(core)}))
}

fn put_core_network_policy(cw: &mut CloudWan, request: &ApiRequest, id: &str) -> Result<Value, ApiError> {
    let body = request.json()?;
    let document = required(&body, "PolicyDocument")?;
    let description = str_field(&body, "Description");
    let core = cw.put_core_network_policy(&request.account, id, document, description)?;
    let version = core.latest_version().expect("just put");
    Ok(json!({"CoreNetworkPolicy": policy_json(core, version)}))
}

fn get_core_network_policy(cw: &CloudWan, request: &ApiRequest, id: &str) -> Result<Value, ApiError> {
    let core = cw.core(id)?;
    let version = match (
        request.query_value("policyVersionId"),
        request.query_value("alias"),
    ) {
        (Some(number), _) => number.parse::<u32>().ok().and_then(|n| core.version(n)),
        (None, Some("LATEST")) => core.latest_version(),
        // LIVE, and the undocumented default [unverified]: the live version.
        (None, Some("LIVE") | None) => core.live_version(),
        (None, Some(other)) => {
            return Err(ApiError::validation(
                "FieldValidationFailed",
                format!("alias {other:?} is not LIVE or LATEST"),
            ))
        }
    };
    let version = version.ok_or_else(|| ApiError::not_found("core-network-policy", id))?;
    Ok(json!({"CoreNetworkPolicy": policy_json(core, version)}))
}

// ---- attachments ------------------------------------------------------------------------

fn create_vpc_attachment(cw: &mut CloudWan, request: &ApiRequest) -> Result<Value, ApiError> {
    let body = request.json()?;
    let core_network_id = required(&body, "CoreNetworkId")?;
    let vpc_arn = required(&body, "VpcArn")?;
    let subnet_arns: Vec<String> = body["SubnetArns"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if subnet_arns.is_empty() {
        return Err(ApiError::validation(
            "FieldValidationFailed",
            "SubnetArns is required",
        ));
    }
    let vpc = VpcArn::parse(&vpc_arn)?;
    // An unknown core network is answered before the tags are checked.
    cw.core(&core_network_id)?;
    let new = NewVpcAttachment {
        core_network_id,
        vpc,
        subnet_arns,
        options: body.get("Options").cloned().unwrap_or_else(|| json!({})),
        tags: tags_field(&body, "Tags")?,
    };
    let id = cw.create_vpc_attachment(&request.account, new)?;
    Ok(json!({"VpcAttachment": vpc_attachment_json(cw, cw.attachment(&id)?)}))
}

fn list_attachments(cw: &CloudWan, request: &ApiRequest) -> Result<Value, ApiError> {
    let filter = |key: &str| request.query_value(key);
    let items: Vec<_> = cw
        .attachments()
        .filter(|a| filter("coreNetworkId").is_none_or(|v| v == a.core_network_id))
        .filter(|_| filter("attachmentType").is_none_or(|v| v == "VPC"))
        .filter(|a| filter("edgeLocation").is_none_or(|v| v == a.edge_location))
        .filter(|a| filter("state").is_none_or(|v| v == a.state))
        .collect();
    page(request, &items, |a| listed_attachment_json(cw, a), "Attachments")
}

// ---- tags -------------------------------------------------------------------------------

fn tag_resource(cw: &mut CloudWan, request: &ApiRequest, arn: &str) -> Result<Value, ApiError> {
    let resource = cw.resolve_arn(arn)?;
    let body = request.json()?;
    if !body["Tags"].is_array() {
        return Err(ApiError::validation("FieldValidationFailed", "Tags is required"));
    }
    let tags = tags_field(&body, "Tags")?;
    cw.tag_resource(&request.account, &resource, tags)?;
    Ok(json!({}))
}

fn untag_resource(cw: &mut CloudWan, request: &ApiRequest, arn: &str) -> Result<Value, ApiError> {
    let resource = cw.resolve_arn(arn)?;
    let keys = request.query_values("tagKeys");
    if keys.is_empty() {
        return Err(ApiError::validation(
            "FieldValidationFailed",
            "TagKeys is required",
        ));
    }
    let keys: Vec<String> = keys.into_iter().map(str::to_string).collect();
    cw.untag_resource(&request.account, &resource, &keys)?;
    Ok(json!({}))
}

// ---- request fields ---------------------------------------------------------------------

fn str_field(body: &Value, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_string)
}

fn required(body: &Value, key: &str) -> Result<String, ApiError> {
    str_field(body, key)
        .ok_or_else(|| ApiError::validation("FieldValidationFailed", format!("{key} is required")))
}

/// Tags as the model limits them: key 1–128 characters, value at most 256.
fn tags_field(body: &Value, key: &str) -> Result<Vec<Tag>, ApiError> {
    let Some(list) = body.get(key) else {
        return Ok(Vec::new());
    };
    let tags: Vec<Tag> = serde_json::from_value(list.clone())
        .map_err(|e| ApiError::validation("FieldValidationFailed", format!("{key}: {e}")))?;
    for tag in &tags {
        let key_len = tag.key.chars().count();
        if !(1..=128).contains(&key_len) || tag.value.chars().count() > 256 {
            return Err(ApiError::validation(
                "FieldValidationFailed",
                format!(
                    "tag {:?}: keys have 1 to 128 characters and values at most 256",
                    tag.key
                ),
            ));
        }
    }
    Ok(tags)
}
