//! Security Hub on the local cloud (REST-JSON), for what cwq's feedback needs and moto lacks
//! (moto has no BatchUpdateFindings): BatchImportFindings (how GuardDuty's findings arrive:
//! every GuardDuty event delivered with `cwq local inject` is imported, as GuardDuty's
//! integration does on AWS), GetFindings by `Id`, and BatchUpdateFindings of `Workflow.Status`
//! and `Note` with AWS's limits — 1 to 100 identifiers, a note of 1 to 512 characters, the four
//! workflow statuses — and `FindingNotFound` for a finding it does not hold. One hub holds
//! every account's findings (the administrator's view); findings are kept in memory.

use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::transport::exchange;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Default)]
pub struct SecurityHub {
    /// By `Id`.
    findings: Mutex<BTreeMap<String, Value>>,
}

const STATUSES: [&str; 4] = ["NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"];

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::named(400, "InvalidInputException", message)
}

impl SecurityHub {
    /// One call: the operation from the method and path.
    pub fn handle(&self, request: &ApiRequest) -> ApiResponse {
        let answered = match (request.method.as_str(), request.raw_path.as_str()) {
            ("POST", "/findings/import") => request.json().and_then(|b| self.import(&b)),
            ("POST", "/findings") => request.json().map(|b| self.get(&b)),
            ("PATCH", "/findings/batchupdate") => request.json().and_then(|b| self.update(&b)),
            (method, path) => Err(invalid(format!(
                "the local Security Hub does not serve {method} {path}"
            ))),
        };
        answered.map_or_else(ApiError::into_response, |value| ApiResponse::ok(&value))
    }

    /// The operation a request is, for the call log.
    pub fn operation_name(method: &str, path: &str) -> &'static str {
        match (method, path) {
            ("POST", "/findings/import") => "BatchImportFindings",
            ("POST", "/findings") => "GetFindings",
            ("PATCH", "/findings/batchupdate") => "BatchUpdateFindings",
            _ => "Unknown",
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Value>> {
        self.findings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn import(&self, body: &Value) -> Result<Value, ApiError> {
        let findings = body["Findings"].as_array().cloned().unwrap_or_default();
        if findings.is_empty() || findings.len() > 100 {
            return Err(invalid("Findings: 1 to 100 findings"));
        }
        let mut held = self.lock();
        for finding in &findings {
            let Some(id) = finding["Id"].as_str() else {
                return Err(invalid("Findings[].Id is required"));
            };
            held.insert(id.to_string(), finding.clone());
        }
        Ok(json!({"FailedCount": 0, "SuccessCount": findings.len(), "FailedFindings": []}))
    }

    /// GetFindings, filtered by `Id` (EQUALS) when asked; else every finding.
    fn get(&self, body: &Value) -> Value {
        let ids: Vec<&str> = body["Filters"]["Id"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["Value"].as_str())
            .collect();
        let held = self.lock();
        let found: Vec<Value> = held
            .iter()
            .filter(|(id, _)| ids.is_empty() || ids.contains(&id.as_str()))
            .map(|(_, finding)| finding.clone())
            .collect();
        json!({ "Findings": found })
    }

    fn update(&self, body: &Value) -> Result<Value, ApiError> {
        let identifiers = body["FindingIdentifiers"].as_array().cloned().unwrap_or_default();
        if identifiers.is_empty() || identifiers.len() > 100 {
            return Err(invalid("FindingIdentifiers: 1 to 100 findings"));
        }
        let note = body.get("Note").map(checked_note).transpose()?;
        let status = match body["Workflow"]["Status"].as_str() {
            Some(s) if STATUSES.contains(&s) => Some(s),
            Some(other) => {
                return Err(invalid(format!(
                    "Workflow.Status {other:?} is not one of {STATUSES:?}"
                )))
            }
            None => None,
        };
        let now = time::OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let mut held = self.lock();
        let (mut processed, mut unprocessed) = (Vec::new(), Vec::new());
        for identifier in identifiers {
            let id = identifier["Id"].as_str().unwrap_or_default();
            let product = identifier["ProductArn"].as_str().unwrap_or_default();
            let Some(finding) = held.get_mut(id).filter(|f| f["ProductArn"] == product) else {
                unprocessed.push(
                    json!({"FindingIdentifier": identifier, "ErrorCode": "FindingNotFound",
                                        "ErrorMessage": "Finding Not Found"}),
                );
                continue;
            };
            if let Some((text, by)) = &note {
                finding["Note"] = json!({"Text": text, "UpdatedBy": by, "UpdatedAt": now});
            }
            if let Some(status) = status {
                finding["Workflow"] = json!({ "Status": status });
            }
            processed.push(identifier);
        }
        Ok(json!({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}))
    }
}

/// A note's text (1 to 512 characters) and who wrote it.
fn checked_note(note: &Value) -> Result<(String, String), ApiError> {
    let text = note["Text"].as_str().unwrap_or_default();
    let by = note["UpdatedBy"].as_str().unwrap_or_default();
    if text.trim().is_empty() || text.chars().count() > 512 {
        return Err(invalid("Note.Text: 1 to 512 characters"));
    }
    if by.trim().is_empty() {
        return Err(invalid("Note.UpdatedBy is required"));
    }
    Ok((text.to_string(), by.to_string()))
}

/// A GuardDuty event's finding as GuardDuty's integration imports it (ASFF, the fields cwq
/// and its tests read); None for an event that is not a GuardDuty finding with an ARN.
pub fn from_guardduty(event: &Value) -> Option<Value> {
    let detail = &event["detail"];
    let id = detail["arn"].as_str()?;
    let region = id.split(':').nth(3)?;
    let partition = id.split(':').nth(1)?;
    let severity = detail["severity"].as_f64().unwrap_or_default();
    Some(json!({
        "SchemaVersion": "2018-10-08",
        "Id": id,
        "ProductArn": format!("arn:{partition}:securityhub:{region}::product/aws/guardduty"),
        "GeneratorId": detail["type"],
        "AwsAccountId": detail["accountId"],
        "Types": ["TTPs"],
        "CreatedAt": detail["createdAt"],
        "UpdatedAt": detail["updatedAt"],
        "Severity": {"Product": severity, "Normalized": (severity * 10.0).round()},
        "Title": detail["title"],
        "Description": detail["description"],
        "Resources": [{"Type": "Other", "Id": detail["resource"]["instanceDetails"]["instanceId"]}],
        "Workflow": {"Status": "NEW"},
        "RecordState": "ACTIVE"
    }))
}

/// Imports a delivered GuardDuty finding into the local Security Hub (BatchImportFindings
/// through the gateway, as the finding's account).
pub async fn import_guardduty(endpoint: &str, event: &Value) -> Result<(), String> {
    let Some(finding) = from_guardduty(event) else {
        return Ok(());
    };
    let account = event["detail"]["accountId"]
        .as_str()
        .unwrap_or(crate::defaults::DEFAULT_ACCOUNT);
    let scope = format!(
        "AWS4-HMAC-SHA256 Credential={account}/20260101/{}/securityhub/aws4_request, SignedHeaders=host, Signature=local",
        crate::defaults::DEFAULT_REGION
    );
    let headers = [
        ("content-type", "application/json"),
        ("authorization", scope.as_str()),
    ];
    let body = json!({ "Findings": [finding] });
    match exchange(endpoint, "POST", "/findings/import", &headers, Some(&body)).await {
        Ok((status, _)) if status.is_success() => Ok(()),
        Ok((status, answer)) => Err(format!("BatchImportFindings answered {status}: {answer}")),
        Err(e) => Err(format!("BatchImportFindings: {e:?}")),
    }
}
