//! GuardDuty findings as EventBridge delivers them (docs/aws-behaviour.md, "GuardDuty").
//!
//! [`parse_event`] takes the EventBridge envelope the Lambdas receive; [`parse_event_or_detail`]
//! also takes a bare `detail` object, the form several public samples (and `cwq simulate`) use.
//! Everything that cannot be acted on is a [`FindingError`] with a stable name; nothing panics.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The facts of one GuardDuty finding that cwq decides on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub finding_type: String,
    pub severity: Severity,
    /// The member account that owns the instance (`detail.accountId`, else the envelope's).
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub instance_id: String,
    /// Every network interface's VPC, first-seen order, no duplicates. Empty when the finding
    /// lists no interface: the pipeline then looks the VPCs up from the instance.
    pub vpc_ids: Vec<String>,
    pub resource_role: ResourceRole,
    /// Occurrences aggregated under this finding id (`service.count`).
    pub count: Option<u64>,
    pub updated_at: Option<String>,
    pub title: Option<String>,
    /// A GuardDuty-generated sample: `additionalInfo.sample` (flat or inside `value`),
    /// `i-99999999`, `GeneratedFinding…` placeholders or a `[SAMPLE]` title.
    pub sample: bool,
    pub archived: bool,
}

/// A GuardDuty severity, checked to lie in 1.0–10.0.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Severity(f64);

impl Severity {
    pub const MIN: f64 = 1.0;
    pub const MAX: f64 = 10.0;

    pub fn new(value: f64) -> Result<Self, FindingError> {
        if (Self::MIN..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(FindingError::SeverityOutOfRange { value })
        }
    }

    pub fn value(self) -> f64 {
        self.0
    }

    /// GuardDuty's band: Low 1.0–3.9, Medium 4.0–6.9, High 7.0–8.9, Critical 9.0–10.0.
    pub fn band(self) -> SeverityBand {
        match self.0 {
            s if s < 4.0 => SeverityBand::Low,
            s if s < 7.0 => SeverityBand::Medium,
            s if s < 9.0 => SeverityBand::High,
            _ => SeverityBand::Critical,
        }
    }
}

impl TryFrom<f64> for Severity {
    type Error = FindingError;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Severity> for f64 {
    fn from(severity: Severity) -> f64 {
        severity.0
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SeverityBand {
    Low,
    Medium,
    High,
    Critical,
}

impl fmt::Display for SeverityBand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
            Self::Critical => "Critical",
        })
    }
}

/// `service.resourceRole`: ACTOR — the instance did it (mining, C&C); TARGET — it was attacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ResourceRole {
    Actor,
    Target,
    /// Absent, or a value this version does not know.
    Unknown,
}

impl fmt::Display for ResourceRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Actor => "ACTOR",
            Self::Target => "TARGET",
            Self::Unknown => "unknown",
        })
    }
}

/// Why an event cannot be acted on. [`FindingError::name`] is the stable name a Lambda reports.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FindingError {
    #[error("the event is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the event is not a GuardDuty finding: {0}")]
    NotAGuardDutyEvent(String),
    #[error("the finding has no `{0}`")]
    MissingField(&'static str),
    #[error("the finding's `{path}` is malformed: {message}")]
    WrongType { path: String, message: String },
    #[error(
        "finding {id} ({finding_type}) is about a resource of type {resource_type}, not an EC2 \
         instance; cwq acts only on EC2 instance findings"
    )]
    NotAnInstance {
        id: String,
        finding_type: String,
        resource_type: String,
    },
    #[error("severity {value} is outside GuardDuty's range 1.0–10.0")]
    SeverityOutOfRange { value: f64 },
    #[error("instance id {0:?} is not an EC2 instance id (i- and 8 or 17 hex digits)")]
    InvalidInstanceId(String),
    #[error("network interface {index} has VPC id {value:?}; a VPC id is vpc- and 8 or 17 hex digits")]
    InvalidVpcId { index: usize, value: String },
    #[error("account id {0:?} is not a 12-digit AWS account id")]
    InvalidAccountId(String),
    #[error(
        "finding type {0:?} is not GuardDuty's ThreatPurpose:ResourceTypeAffected/ThreatFamilyName[.DetectionMechanism][!Artifact]"
    )]
    InvalidFindingType(String),
    /// GuardDuty's ids are short and alphanumeric; anything else would end up in the
    /// journal's keys and the execution's name.
    #[error("finding id {0:?} is not a GuardDuty finding id (1 to 300 letters, digits, `-` or `_`)")]
    InvalidFindingId(String),
}

impl FindingError {
    /// The error's stable name: `NotApplicable` for findings that are not about an EC2
    /// instance, otherwise the variant's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "MalformedJson",
            Self::NotAGuardDutyEvent(_) => "NotAGuardDutyEvent",
            Self::MissingField(_) => "MissingField",
            Self::WrongType { .. } => "WrongType",
            Self::NotAnInstance { .. } => "NotApplicable",
            Self::SeverityOutOfRange { .. } => "SeverityOutOfRange",
            Self::InvalidInstanceId(_) => "InvalidInstanceId",
            Self::InvalidVpcId { .. } => "InvalidVpcId",
            Self::InvalidAccountId(_) => "InvalidAccountId",
            Self::InvalidFindingId(_) => "InvalidFindingId",
            Self::InvalidFindingType(_) => "InvalidFindingType",
        }
    }
}

const DETAIL_TYPE: &str = "GuardDuty Finding";
const SOURCE: &str = "aws.guardduty";
const SAMPLE_INSTANCE_ID: &str = "i-99999999";
const PLACEHOLDER_PREFIX: &str = "GeneratedFinding";

/// Parses the EventBridge envelope the Lambdas receive.
pub fn parse_event(json: &str) -> Result<Finding, FindingError> {
    let value = parse_json(json)?;
    if value.get("detail").is_none() {
        return Err(FindingError::NotAGuardDutyEvent(
            "expected an EventBridge event with a `detail` object".into(),
        ));
    }
    from_value(value)
}

/// Parses an EventBridge envelope or a bare `detail` object.
pub fn parse_event_or_detail(json: &str) -> Result<Finding, FindingError> {
    from_value(parse_json(json)?)
}

fn parse_json(json: &str) -> Result<Value, FindingError> {
    serde_json::from_str(json).map_err(|e| FindingError::MalformedJson(e.to_string()))
}

/// Builds a finding from an envelope, or from a bare `detail` when there is no `detail` key.
pub fn from_value(value: Value) -> Result<Finding, FindingError> {
    let Value::Object(mut top) = value else {
        return Err(FindingError::NotAGuardDutyEvent("expected a JSON object".into()));
    };
    let Some(detail) = top.remove("detail") else {
        return finding_from_detail(Value::Object(top), &Envelope::default());
    };
    let envelope: Envelope = typed(Value::Object(top), "")?;
    if let Some(source) = envelope.source.as_deref().filter(|s| *s != SOURCE) {
        return Err(FindingError::NotAGuardDutyEvent(format!(
            "source is {source:?}, expected {SOURCE:?}"
        )));
    }
    if let Some(kind) = envelope.detail_type.as_deref().filter(|t| *t != DETAIL_TYPE) {
        return Err(FindingError::NotAGuardDutyEvent(format!(
            "detail-type is {kind:?}, expected {DETAIL_TYPE:?}"
        )));
    }
    if !detail.is_object() {
        return Err(FindingError::NotAGuardDutyEvent(
            "`detail` is not an object".into(),
        ));
    }
    finding_from_detail(detail, &envelope)
}

fn finding_from_detail(detail: Value, envelope: &Envelope) -> Result<Finding, FindingError> {
    let raw: RawFinding = typed(detail, "detail.")?;
    let id = raw.id.ok_or(FindingError::MissingField("id"))?;
    // The API model's FindingId is 1 to 300 characters; GuardDuty's are hex. Anything else
    // becomes journal keys and terminal text, so it is refused (docs/aws-behaviour.md).
    if id.is_empty()
        || id.len() > 300
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        let shown: String = id.chars().take(40).collect();
        return Err(FindingError::InvalidFindingId(shown));
    }
    let finding_type = raw.finding_type.ok_or(FindingError::MissingField("type"))?;
    if !is_finding_type(&finding_type) {
        return Err(FindingError::InvalidFindingType(
            finding_type.chars().take(80).collect(),
        ));
    }
    let severity = raw.severity.ok_or(FindingError::MissingField("severity"))?;
    let resource = raw.resource.ok_or(FindingError::MissingField("resource"))?;
    let resource_type = resource
        .resource_type
        .ok_or(FindingError::MissingField("resource.resourceType"))?;
    // Judge by resourceType: S3 and IAM findings carry instanceDetails too.
    if resource_type != "Instance" {
        return Err(FindingError::NotAnInstance {
            id,
            finding_type,
            resource_type,
        });
    }
    let severity = Severity::new(severity)?;
    let instance = resource
        .instance_details
        .ok_or(FindingError::MissingField("resource.instanceDetails"))?;
    let instance_id = instance
        .instance_id
        .ok_or(FindingError::MissingField("resource.instanceDetails.instanceId"))?;
    if !is_aws_id(&instance_id, "i-") {
        return Err(FindingError::InvalidInstanceId(instance_id));
    }

    let mut vpc_ids: Vec<String> = Vec::new();
    let mut placeholder = false;
    for (index, eni) in instance.network_interfaces.into_iter().flatten().enumerate() {
        let Some(vpc_id) = eni.vpc_id else { continue };
        if vpc_id.starts_with(PLACEHOLDER_PREFIX) {
            placeholder = true;
        } else if !is_aws_id(&vpc_id, "vpc-") {
            return Err(FindingError::InvalidVpcId { index, value: vpc_id });
        }
        if !vpc_ids.contains(&vpc_id) {
            vpc_ids.push(vpc_id);
        }
    }

    // The instance's account is the finding's own: the envelope's is the account that
    // received the event (often the GuardDuty administrator), never a stand-in for it.
    let account = raw.account_id.ok_or(FindingError::MissingField("accountId"))?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FindingError::InvalidAccountId(account));
    }
    let account_id = Some(account);

    let service = raw.service.unwrap_or_default();
    let archived = match &service.archived {
        None | Some(Value::Null) => false,
        Some(value) => flag(Some(value)).ok_or_else(|| FindingError::WrongType {
            path: "detail.service.archived".into(),
            message: format!("expected true or false, found {value}"),
        })?,
    };
    let resource_role = match service.resource_role.as_deref() {
        Some(role) if role.eq_ignore_ascii_case("ACTOR") => ResourceRole::Actor,
        Some(role) if role.eq_ignore_ascii_case("TARGET") => ResourceRole::Target,
        _ => ResourceRole::Unknown,
    };
    let sample = placeholder
        || instance_id == SAMPLE_INSTANCE_ID
        || raw.title.as_deref().is_some_and(|t| t.starts_with("[SAMPLE]"))
        || service.additional_info.as_ref().is_some_and(marks_sample);

    Ok(Finding {
        id,
        finding_type,
        severity,
        account_id,
        region: raw.region.or_else(|| envelope.region.clone()),
        instance_id,
        vpc_ids,
        resource_role,
        count: service.count,
        updated_at: raw.updated_at,
        title: raw.title,
        sample,
        archived,
    })
}

/// `additionalInfo.sample` is `true` (or the string "true") in older events; newer ones also
/// carry `"value": "{\"sample\":true}"`.
fn marks_sample(additional_info: &Value) -> bool {
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
fn flag(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// GuardDuty's finding type format: `ThreatPurpose:ResourceTypeAffected/ThreatFamilyName`,
/// then optional `.DetectionMechanism` parts and a `!Artifact` (e.g.
/// `CryptoCurrency:EC2/BitcoinTool.B!DNS`, `Backdoor:EC2/C&CActivity.B`).
pub fn is_finding_type(text: &str) -> bool {
    let word = |w: &str, extra: &[u8]| {
        !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    };
    let Some((purpose, rest)) = text.split_once(':') else {
        return false;
    };
    let Some((resource, family)) = rest.split_once('/') else {
        return false;
    };
    let (family, artifact) = family.split_once('!').unwrap_or((family, "x"));
    // The API model's FindingType: 1 to 100 characters.
    text.len() <= 100
        && word(purpose, b"")
        && word(resource, b"")
        && word(artifact, b"")
        && family.split('.').all(|part| word(part, b"&-_"))
}

/// `prefix` followed by 8 or 17 lower-case hex digits, as EC2 ids are.
pub fn is_aws_id(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|hex| {
        matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn typed<T: serde::de::DeserializeOwned>(value: Value, prefix: &str) -> Result<T, FindingError> {
    serde_path_to_error::deserialize(value).map_err(|e| FindingError::WrongType {
        path: format!("{prefix}{}", e.path()),
        message: e.into_inner().to_string(),
    })
}

#[derive(Debug, Default, Deserialize)]
struct Envelope {
    source: Option<String>,
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    // `account` is not read: it is the receiving account (often GuardDuty's administrator),
    // not the instance's; `detail.accountId` is required instead.
    region: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFinding {
    id: Option<String>,
    #[serde(rename = "type")]
    finding_type: Option<String>,
    severity: Option<f64>,
    account_id: Option<String>,
    region: Option<String>,
    title: Option<String>,
    updated_at: Option<String>,
    resource: Option<RawResource>,
    service: Option<RawService>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawResource {
    resource_type: Option<String>,
    instance_details: Option<RawInstance>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawInstance {
    instance_id: Option<String>,
    network_interfaces: Option<Vec<RawNetworkInterface>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawNetworkInterface {
    vpc_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawService {
    resource_role: Option<String>,
    count: Option<u64>,
    /// A boolean; some exports write it as the string "False".
    archived: Option<Value>,
    additional_info: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(severity: &str, vpcs: &[&str]) -> String {
        let enis: Vec<String> = vpcs
            .iter()
            .map(|v| format!(r#"{{"networkInterfaceId":"eni-0f1e2d3c","vpcId":"{v}"}}"#))
            .collect();
        format!(
            r#"{{"id":"f1","type":"CryptoCurrency:EC2/BitcoinTool.B!DNS","severity":{severity},
               "accountId":"222222222222","region":"us-east-1","updatedAt":"2026-09-30T03:02:20.903Z",
               "resource":{{"resourceType":"Instance","instanceDetails":{{"instanceId":"i-02468ace13579bdf0",
               "networkInterfaces":[{}]}}}},
               "service":{{"resourceRole":"ACTOR","count":12,"archived":false,"additionalInfo":{{"value":"{{}}","type":"default"}}}}}}"#,
            enis.join(",")
        )
    }

    #[test]
    fn severity_written_as_integer_or_float_is_the_same() {
        let a = parse_event_or_detail(&detail("8", &["vpc-0abc1234def567890"])).unwrap();
        let b = parse_event_or_detail(&detail("8.0", &["vpc-0abc1234def567890"])).unwrap();
        assert_eq!(a.severity, b.severity);
        assert_eq!(a.severity.band(), SeverityBand::High);
        assert_eq!(a.resource_role, ResourceRole::Actor);
        assert_eq!(a.count, Some(12));
        assert!(!a.sample);
    }

    #[test]
    fn band_edges() {
        let band = |s: f64| Severity::new(s).unwrap().band();
        assert_eq!(band(1.0), SeverityBand::Low);
        assert_eq!(band(3.9), SeverityBand::Low);
        assert_eq!(band(4.0), SeverityBand::Medium);
        assert_eq!(band(6.9), SeverityBand::Medium);
        assert_eq!(band(7.0), SeverityBand::High);
        assert_eq!(band(8.9), SeverityBand::High);
        assert_eq!(band(9.0), SeverityBand::Critical);
        assert_eq!(band(10.0), SeverityBand::Critical);
        assert!(Severity::new(0.9).is_err());
        assert!(Severity::new(10.1).is_err());
    }

    #[test]
    fn every_interface_counts_once() {
        let f = parse_event_or_detail(&detail(
            "5",
            &["vpc-0abc1234def567890", "vpc-11111111", "vpc-0abc1234def567890"],
        ))
        .unwrap();
        assert_eq!(f.vpc_ids, ["vpc-0abc1234def567890", "vpc-11111111"]);
    }

    #[test]
    fn empty_or_malformed_vpc_ids_are_named_errors() {
        for bad in [
            "",
            "vpc-",
            "vpc-XYZ12345",
            "vpc-0abc1234def5678901",
            "subnet-11111111",
        ] {
            let err = parse_event_or_detail(&detail("5", &["vpc-11111111", bad])).unwrap_err();
            assert_eq!(
                err,
                FindingError::InvalidVpcId {
                    index: 1,
                    value: bad.into()
                },
                "{bad:?}"
            );
            assert_eq!(err.name(), "InvalidVpcId");
        }
    }

    #[test]
    fn severity_outside_range_is_refused() {
        for s in ["0", "0.5", "10.5", "-8", "1e300"] {
            let err = parse_event_or_detail(&detail(s, &[])).unwrap_err();
            assert_eq!(err.name(), "SeverityOutOfRange", "{s}");
        }
        let err = parse_event_or_detail(&detail("\"8\"", &[])).unwrap_err();
        assert_eq!(err.name(), "WrongType");
        assert!(err.to_string().contains("detail.severity"), "{err}");
    }

    #[test]
    fn envelope_must_come_from_guardduty() {
        let event = format!(
            r#"{{"source":"aws.ec2","detail-type":"GuardDuty Finding","detail":{}}}"#,
            detail("8", &[])
        );
        assert_eq!(parse_event(&event).unwrap_err().name(), "NotAGuardDutyEvent");
        assert_eq!(
            parse_event(&detail("8", &[])).unwrap_err().name(),
            "NotAGuardDutyEvent",
            "the Lambdas take the envelope only"
        );
        assert_eq!(parse_event("[1,2]").unwrap_err().name(), "NotAGuardDutyEvent");
        assert_eq!(parse_event("{").unwrap_err().name(), "MalformedJson");
    }

    #[test]
    fn the_account_is_the_findings_own_never_the_envelopes() {
        let event = format!(
            r#"{{"account":"111111111111","region":"eu-west-1","detail":{}}}"#,
            detail("8", &[]).replace(r#""accountId":"222222222222","region":"us-east-1","#, "")
        );
        assert_eq!(
            parse_event(&event).unwrap_err(),
            FindingError::MissingField("accountId")
        );
        let event = format!(
            r#"{{"account":"111111111111","region":"eu-west-1","detail":{}}}"#,
            detail("8", &[]).replace(r#""region":"us-east-1","#, "")
        );
        let f = parse_event(&event).unwrap();
        assert_eq!(f.account_id.as_deref(), Some("222222222222"));
        assert_eq!(
            f.region.as_deref(),
            Some("eu-west-1"),
            "the Region may come from the envelope"
        );
    }

    #[test]
    fn finding_types_follow_guardduty_s_format() {
        for good in [
            "CryptoCurrency:EC2/BitcoinTool.B!DNS",
            "Backdoor:EC2/C&CActivity.B",
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
            "AttackSequence:EC2/CompromisedInstanceGroup",
            "Execution:Runtime/NewBinaryExecuted",
        ] {
            assert!(is_finding_type(good), "{good}");
        }
        for bad in [
            "",
            "Backdoor",
            "Backdoor:EC2",
            "Backdoor:EC2/",
            "Back door:EC2/X",
            "Backdoor:EC2/X\u{1b}[2J",
            "Backdoor:EC2/X!",
            "a:b/c\n",
        ] {
            assert!(!is_finding_type(bad), "{bad:?}");
        }
    }

    #[test]
    fn sample_markers() {
        let info = |json: &str| marks_sample(&serde_json::from_str(json).unwrap());
        assert!(info(r#"{"sample":true}"#));
        assert!(info(r#"{"sample":"True"}"#));
        assert!(info(r#"{"value":"{\"sample\":true}","type":"default"}"#));
        assert!(!info(r#"{"value":"{}","type":"default"}"#));
        assert!(!info(r#"{"sample":false}"#));
        assert!(!info(r#"{"value":"not json"}"#));
    }

    #[test]
    fn ids() {
        assert!(is_aws_id("vpc-0abc1234def567890", "vpc-"));
        assert!(is_aws_id("i-99999999", "i-"));
        assert!(!is_aws_id("vpc-0ABC1234", "vpc-"));
        assert!(!is_aws_id("i-9999999", "i-"));
    }
}
