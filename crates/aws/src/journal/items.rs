//! The journal's items as DynamoDB stores them: the key (`pk`, `sk`), the `kind` only cwq
//! writes, the document as JSON in `doc`, the optimistic `version`, the sparse index's `live`
//! and `due`, and `ttl` on what expires with retention.

use super::Item;
use aws_sdk_dynamodb::types::{AttributeValue, Put, PutRequest, WriteRequest};
use cwq_domain::budget::BudgetLedger;
use cwq_domain::lifecycle::AttachmentItem;
use cwq_pipeline::approval::ApprovalRequest;
use cwq_pipeline::audit::AuditEntry;
use cwq_pipeline::PortError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;

const RETENTION_DAYS: i64 = 400;
/// `due` of an item with manual holds only: later than any expiry.
const NEVER: i64 = 253_402_300_799;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn ttl() -> AttributeValue {
    n(OffsetDateTime::now_utc().unix_timestamp() + RETENTION_DAYS * 86_400)
}

pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

pub(super) fn doc<T: Serialize>(value: &T) -> Result<AttributeValue, PortError> {
    serde_json::to_string(value)
        .map(s)
        .map_err(|e| PortError::Failed(format!("journal: {e}")))
}

pub(super) fn read_doc<T: DeserializeOwned>(item: &Item, what: &str) -> Result<T, PortError> {
    let text = item
        .get("doc")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| PortError::Failed(format!("journal: {what} has no document")))?;
    serde_json::from_str(text).map_err(|e| PortError::Failed(format!("journal: {what} is unreadable: {e}")))
}

pub(super) fn version_of(item: &Item) -> u64 {
    item.get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub(super) fn kind_of(item: &Item) -> Option<&str> {
    item.get("kind").and_then(|k| k.as_s().ok()).map(String::as_str)
}

/// An item under optimistic locking, stored at `version` (the one it will have) with
/// `stored` as its document.
fn versioned_item<T: Serialize>(
    mut item: Item,
    kind: &str,
    version: u64,
    stored: &T,
) -> Result<Item, PortError> {
    item.insert("kind".into(), s(kind));
    item.insert("version".into(), n(version));
    item.insert("doc".into(), doc(stored)?);
    Ok(item)
}

/// What the journal holds after a write of `item`: the same, one version on.
pub(super) fn stored(item: &AttachmentItem) -> AttachmentItem {
    let mut stored = item.clone();
    stored.version += 1;
    stored
}

/// The stored form of an attachment item, with the version it will have.
pub(super) fn attachment_item(item: &AttachmentItem) -> Result<Item, PortError> {
    let stored = stored(item);
    let key = key(format!("ATT#{}", item.attachment.attachment_id), "STATE");
    let mut out = versioned_item(key, "attachment", stored.version, &stored)?;
    if item.is_live(OffsetDateTime::now_utc()) {
        out.insert("live".into(), s("LIVE"));
        let due = item.next_expiry().map_or(NEVER, OffsetDateTime::unix_timestamp);
        out.insert("due".into(), n(due));
    }
    Ok(out)
}

pub(super) fn approval_item(request: &ApprovalRequest) -> Result<Item, PortError> {
    let mut stored = request.clone();
    stored.version += 1;
    let key = key(format!("APPROVAL#{}", request.request_id), "REQUEST");
    versioned_item(key, "approval", stored.version, &stored)
}

pub(super) fn ledger_item(ledger: &BudgetLedger) -> Result<Item, PortError> {
    let mut stored = ledger.clone();
    stored.version += 1;
    versioned_item(key("BUDGET".into(), "LEDGER"), "budget", stored.version, &stored)
}

/// The condition that the stored version is still `version` (0: nothing stored), and the
/// values it names.
pub(super) fn version_condition(version: u64) -> (&'static str, Option<HashMap<String, AttributeValue>>) {
    match version {
        0 => ("attribute_not_exists(pk)", None),
        v => (
            "version = :expected",
            Some(HashMap::from([(":expected".to_string(), n(v))])),
        ),
    }
}

/// A conditional Put of `item`, for a transaction.
pub(super) fn conditional_put(table: &str, item: Item, version: u64) -> Result<Put, PortError> {
    let (condition, values) = version_condition(version);
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .set_expression_attribute_values(values)
        .build()
        .map_err(|e| PortError::Failed(format!("journal: {e}")))
}

/// `ordinal`: the entry's place among the entries of its batch at the same instant, so that
/// the trail reads them in the order the step noted them.
fn audit_item(entry: &AuditEntry, ordinal: usize) -> Result<Item, PortError> {
    let at = entry
        .at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    // Keyed by its content: two entries at the same instant are both kept, and the same entry
    // written again (a step retried after its batch went out) is the same item.
    let mut item = key(
        format!("INC#{}", entry.incident_id),
        &format!("EV#{at}#{ordinal:03}#{:016x}", content_hash(entry)?),
    );
    item.insert("kind".into(), s("audit"));
    item.insert("step".into(), s(entry.event.name()));
    item.insert("doc".into(), doc(entry)?);
    item.insert("ttl".into(), ttl());
    Ok(item)
}

/// FNV-1a over the entry's JSON: stable across processes and releases of cwq (unlike std's
/// hasher), and collisions only matter between entries of one incident at one instant.
fn content_hash(entry: &AuditEntry) -> Result<u64, PortError> {
    let json = serde_json::to_vec(entry).map_err(|e| PortError::Failed(format!("journal: {e}")))?;
    Ok(json.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    }))
}

/// An audit entry as one request of a BatchWriteItem.
pub(super) fn audit_request(entry: &AuditEntry, ordinal: usize) -> Result<WriteRequest, PortError> {
    let put = PutRequest::builder()
        .set_item(Some(audit_item(entry, ordinal)?))
        .build()
        .map_err(|e| PortError::Failed(format!("journal: {e}")))?;
    Ok(WriteRequest::builder().put_request(put).build())
}
