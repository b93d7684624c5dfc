//! From an EventBridge event (or a bare `detail`) to a [`Finding`]: the envelope is checked to
//! come from GuardDuty, then each field of the detail is required and checked in a fixed
//! order, so that the same bad event always gets the same named error.

use super::ids::{is_account_id, is_finding_id, is_finding_type};
use super::raw::{flag, marks_sample, typed, Envelope, RawFinding, RawService};
use super::resources::{kind_of, workloads, Home};
use super::{Finding, FindingError, ResourceRole, Severity, Target, Workload};
use serde_json::Value;

const DETAIL_TYPE: &str = "GuardDuty Finding";
const SOURCE: &str = "aws.guardduty";
const SAMPLE_INSTANCE_ID: &str = "i-99999999";

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
    check_envelope(&envelope)?;
    if !detail.is_object() {
        return Err(FindingError::NotAGuardDutyEvent(
            "`detail` is not an object".into(),
        ));
    }
    finding_from_detail(detail, &envelope)
}

/// The envelope, when it says where it comes from, must say GuardDuty.
fn check_envelope(envelope: &Envelope) -> Result<(), FindingError> {
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
    Ok(())
}

fn finding_from_detail(detail: Value, envelope: &Envelope) -> Result<Finding, FindingError> {
    let raw: RawFinding = typed(detail, "detail.")?;
    let id = checked_id(raw.id)?;
    let finding_type = checked_type(raw.finding_type)?;
    let severity = raw.severity.ok_or(FindingError::MissingField("severity"))?;
    let resource = raw.resource.ok_or(FindingError::MissingField("resource"))?;
    let region = raw.region.or_else(|| envelope.region.clone());
    let home = Home {
        id: &id,
        finding_type: &finding_type,
        account: raw.account_id.as_deref().unwrap_or_default(),
        region: region.as_deref().unwrap_or_default(),
    };
    // Judge by resourceType: S3 and IAM findings carry instanceDetails too.
    let kind = kind_of(&resource, &home)?;
    let severity = Severity::new(severity)?;
    let mut service = raw.service.unwrap_or_default();
    let named = workloads(kind, resource, &mut service, &home)?;
    let account_id = checked_account(raw.account_id.clone())?;
    let archived = archived(&service)?;
    let sample = named.placeholder || is_sample(&named.workloads, raw.title.as_deref(), &service);
    Ok(Finding {
        id,
        finding_type,
        severity,
        account_id: Some(account_id),
        region,
        kind,
        workloads: named.workloads,
        resource_role: role_of(&service),
        count: service.count,
        updated_at: raw.updated_at,
        title: raw.title,
        sample,
        archived,
        arn: raw.arn.filter(|a| is_finding_arn(a)),
    })
}

/// `arn:<partition>:guardduty:<region>:<account>:detector/<id>/finding/<id>`.
fn is_finding_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", _, "guardduty", region, account, path]
        if !region.is_empty() && account.len() == 12 && path.starts_with("detector/") && path.contains("/finding/"))
}

fn checked_id(id: Option<String>) -> Result<String, FindingError> {
    let id = id.ok_or(FindingError::MissingField("id"))?;
    if !is_finding_id(&id) {
        let shown: String = id.chars().take(40).collect();
        return Err(FindingError::InvalidFindingId(shown));
    }
    Ok(id)
}

fn checked_type(finding_type: Option<String>) -> Result<String, FindingError> {
    let finding_type = finding_type.ok_or(FindingError::MissingField("type"))?;
    if !is_finding_type(&finding_type) {
        return Err(FindingError::InvalidFindingType(
            finding_type.chars().take(80).collect(),
        ));
    }
    Ok(finding_type)
}

/// The instance's account is the finding's own: the envelope's is the account that
/// received the event (often the GuardDuty administrator), never a stand-in for it.
fn checked_account(account: Option<String>) -> Result<String, FindingError> {
    let account = account.ok_or(FindingError::MissingField("accountId"))?;
    if !is_account_id(&account) {
        return Err(FindingError::InvalidAccountId(account));
    }
    Ok(account)
}

fn archived(service: &RawService) -> Result<bool, FindingError> {
    match &service.archived {
        None | Some(Value::Null) => Ok(false),
        Some(value) => flag(Some(value)).ok_or_else(|| FindingError::WrongType {
            path: "detail.service.archived".into(),
            message: format!("expected true or false, found {value}"),
        }),
    }
}

fn role_of(service: &RawService) -> ResourceRole {
    match service.resource_role.as_deref() {
        Some(role) if role.eq_ignore_ascii_case("ACTOR") => ResourceRole::Actor,
        Some(role) if role.eq_ignore_ascii_case("TARGET") => ResourceRole::Target,
        _ => ResourceRole::Unknown,
    }
}

/// A GuardDuty-generated sample, by an instance id, its title or its additionalInfo (a
/// placeholder id is the caller's to add).
fn is_sample(workloads: &[Workload], title: Option<&str>, service: &RawService) -> bool {
    let sample_instance = |w: &Workload| matches!(&w.target, Target::Instance { instance_id, .. } if instance_id == SAMPLE_INSTANCE_ID);
    workloads.iter().any(sample_instance)
        || title.is_some_and(|t| t.starts_with("[SAMPLE]"))
        || service.additional_info.as_ref().is_some_and(marks_sample)
}
