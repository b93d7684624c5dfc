//! The finding's JSON as GuardDuty and EventBridge write it. Every field is optional here so
//! that a missing one becomes a named [`FindingError::MissingField`] in the parse rather than
//! a serde message; the loose booleans some exports write are read here too.

use super::FindingError;
use serde::Deserialize;
use serde_json::Value;

/// Deserializes `value`, naming the malformed field by its path under `prefix`.
pub(super) fn typed<T: serde::de::DeserializeOwned>(value: Value, prefix: &str) -> Result<T, FindingError> {
    serde_path_to_error::deserialize(value).map_err(|e| FindingError::WrongType {
        path: format!("{prefix}{}", e.path()),
        message: e.into_inner().to_string(),
    })
}

/// `additionalInfo.sample` is `true` (or the string "true") in older events; newer ones also
/// carry `"value": "{\"sample\":true}"`.
pub(super) fn marks_sample(additional_info: &Value) -> bool {
    let truthy = |value: Option<&Value>| flag(value) == Some(true);
    if truthy(additional_info.get("sample")) {
        return true;
    }
    additional_info
        .get("value")
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .is_some_and(|inner| truthy(inner.get("sample")))
}

/// A JSON boolean, or the strings "true"/"false" in any case (Python exports write "True").
pub(super) fn flag(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Envelope {
    pub(super) source: Option<String>,
    #[serde(rename = "detail-type")]
    pub(super) detail_type: Option<String>,
    // `account` is not read: it is the receiving account (often GuardDuty's administrator),
    // not the instance's; `detail.accountId` is required instead.
    pub(super) region: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawFinding {
    pub(super) id: Option<String>,
    pub(super) arn: Option<String>,
    #[serde(rename = "type")]
    pub(super) finding_type: Option<String>,
    pub(super) severity: Option<f64>,
    pub(super) account_id: Option<String>,
    pub(super) region: Option<String>,
    pub(super) title: Option<String>,
    pub(super) updated_at: Option<String>,
    pub(super) resource: Option<RawResource>,
    pub(super) service: Option<RawService>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawResource {
    pub(super) resource_type: Option<String>,
    pub(super) instance_details: Option<RawInstance>,
    pub(super) eks_cluster_details: Option<RawEksCluster>,
    pub(super) ecs_cluster_details: Option<RawEcsCluster>,
    pub(super) lambda_details: Option<RawLambda>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawEksCluster {
    pub(super) name: Option<String>,
    pub(super) vpc_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawEcsCluster {
    pub(super) name: Option<String>,
    pub(super) arn: Option<String>,
    pub(super) task_details: Option<RawEcsTask>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawEcsTask {
    pub(super) arn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawLambda {
    pub(super) function_name: Option<String>,
    pub(super) vpc_config: Option<RawVpcConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawVpcConfig {
    pub(super) vpc_id: Option<String>,
}

/// `service.detection.sequence`: an attack sequence's resources (`ResourceV2`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawDetection {
    pub(super) sequence: Option<RawSequence>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawSequence {
    #[serde(default)]
    pub(super) resources: Vec<RawResourceV2>,
}

/// One `ResourceV2`. Its `data` is read per `resourceType` (`ec2NetworkInterface`,
/// `ec2Instance`, `eksCluster`…); a shape this version does not know is kept as `Other`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawResourceV2 {
    pub(super) uid: Option<String>,
    pub(super) account_id: Option<String>,
    pub(super) region: Option<String>,
    pub(super) resource_type: Option<String>,
    #[serde(default)]
    pub(super) data: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawInstance {
    pub(super) instance_id: Option<String>,
    pub(super) network_interfaces: Option<Vec<RawNetworkInterface>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawNetworkInterface {
    pub(super) vpc_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawService {
    pub(super) resource_role: Option<String>,
    pub(super) count: Option<u64>,
    /// A boolean; some exports write it as the string "False".
    pub(super) archived: Option<Value>,
    pub(super) additional_info: Option<Value>,
    pub(super) detection: Option<RawDetection>,
}
