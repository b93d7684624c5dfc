//! The journal: one DynamoDB table (DESIGN §5).
//!
//! | item | pk | sk |
//! |---|---|---|
//! | current state of an attachment (optimistic `version`) | `ATT#<attachment>` | `STATE` |
//! | audit trail of an incident | `INC#<incident>` | `<rfc3339>#<seq>` |
//! | a finding already handled (id + updatedAt) | `FINDING#<id>` | `<updatedAt>` |
//! | a move, for the blast-radius budget | `MOVES` | `<epoch ms>#<attachment>` |
//! | a VPC's attachment, cached for enrich | `VPC#<core network>#<region>#<vpc>` | `ATTACHMENT` |
//!
//! The sparse index `expiry` (`gsi1pk` = `EXPIRING`, `gsi1sk` = expiry epoch seconds) holds
//! only quarantines with an automatic expiry. TTL (`ttl`) is set on audit, finding and move
//! items past retention, never on a state item.

use crate::decision::{ActiveQuarantine, BudgetUsage, Expiry};
use crate::error::HandlerError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

pub const EXPIRY_INDEX: &str = "expiry";
const RETENTION_DAYS: i64 = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Decided and locked; the tags are being changed.
    Quarantining,
    Quarantined,
    Releasing,
    Released,
    Failed,
}

/// The current state of one attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentRecord {
    pub attachment_id: String,
    pub status: Status,
    pub version: u64,
    pub incident_id: String,
    pub vpc_id: String,
    pub owner_account: String,
    pub core_network_id: String,
    pub edge_location: String,
    /// The quarantine segment.
    pub segment: String,
    pub segment_before: Option<String>,
    pub expiry: Expiry,
    /// The tag key cwq sets, and what it held before (None: absent).
    pub tag_key: String,
    pub previous_value: Option<String>,
    /// Set once the pre-quarantine tags are recorded, before any tag changes.
    #[serde(default)]
    pub previous_recorded: bool,
    pub reason: String,
    #[serde(default)]
    pub execution_arn: Option<String>,
    #[serde(default)]
    pub snapshots: Vec<String>,
    pub since: String,
    pub updated_at: String,
}

impl AttachmentRecord {
    pub fn is_active(&self) -> bool {
        matches!(self.status, Status::Quarantining | Status::Quarantined)
    }

    pub fn active_quarantine(&self) -> Option<ActiveQuarantine> {
        self.is_active().then(|| ActiveQuarantine {
            segment: self.segment.clone(),
            expiry: self.expiry,
        })
    }
}

/// One step of an incident's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at: String,
    pub step: String,
    pub detail: Value,
}

#[derive(Debug, Clone)]
pub struct Journal {
    client: Client,
    table: String,
}

pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => {
            AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), to_attribute(v))).collect())
        }
    }
}

fn from_attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| {
                n.parse::<f64>()
                    .map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number))
            })
            .unwrap_or(Value::Null),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(items) => Value::Array(items.iter().map(from_attribute).collect()),
        AttributeValue::M(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), from_attribute(v))).collect())
        }
        _ => Value::Null,
    }
}

fn item_of(value: &Value) -> HashMap<String, AttributeValue> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), to_attribute(v)))
        .collect()
}

fn value_of(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), from_attribute(v)))
            .collect::<Map<_, _>>(),
    )
}

fn state_key(attachment_id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            "pk".to_string(),
            AttributeValue::S(format!("ATT#{attachment_id}")),
        ),
        ("sk".to_string(), AttributeValue::S("STATE".into())),
    ])
}

fn ttl_after_retention() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp() + RETENTION_DAYS * 86_400
}

impl Journal {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub async fn state(&self, attachment_id: &str) -> Result<Option<AttachmentRecord>, HandlerError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(state_key(attachment_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| HandlerError::from_sdk("journal GetItem", e))?;
        let Some(item) = got.item() else { return Ok(None) };
        serde_json::from_value(value_of(item))
            .map(Some)
            .map_err(|e| HandlerError::Failed(format!("journal state of {attachment_id} is unreadable: {e}")))
    }

    /// Writes `record` if the stored version is still `expected` (None: no item yet), with
    /// the version bumped. A lost race is a `Conflict`, which the state machine retries.
    pub async fn put_state(
        &self,
        record: &AttachmentRecord,
        expected: Option<u64>,
    ) -> Result<AttachmentRecord, HandlerError> {
        let mut next = record.clone();
        next.version = expected.map_or(1, |v| v + 1);
        next.updated_at = now_rfc3339();
        let mut value = serde_json::to_value(&next).map_err(|e| HandlerError::Failed(e.to_string()))?;
        value["pk"] = Value::String(format!("ATT#{}", next.attachment_id));
        value["sk"] = Value::String("STATE".into());
        if let (Status::Quarantined, Expiry::At(at)) = (next.status, next.expiry) {
            value["gsi1pk"] = Value::String("EXPIRING".into());
            value["gsi1sk"] = Value::from(at.unix_timestamp());
        }
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_of(&value)));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(version) => put
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(version.to_string())),
        };
        put.send()
            .await
            .map_err(|e| HandlerError::from_sdk("journal PutItem", e))?;
        Ok(next)
    }

    /// Appends to an incident's audit trail.
    pub async fn audit(&self, incident_id: &str, step: &str, detail: Value) -> Result<(), HandlerError> {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let item = serde_json::json!({
            "pk": format!("INC#{incident_id}"),
            "sk": format!("{}#{:06}#{}", now_rfc3339(), seq, std::process::id()),
            "step": step,
            "detail": detail,
            "at": now_rfc3339(),
            "ttl": ttl_after_retention(),
        });
        self.put(&item, "audit").await
    }

    /// Writes an item that nothing else writes concurrently (audit, snapshot ids, moves).
    async fn put(&self, item: &Value, what: &str) -> Result<(), HandlerError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_of(item)))
            .send()
            .await
            .map_err(|e| HandlerError::from_sdk(&format!("journal PutItem {what}"), e))?;
        Ok(())
    }

    /// The snapshot ids an incident already took (empty: none yet).
    pub async fn snapshots(&self, incident_id: &str) -> Result<Vec<String>, HandlerError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("INC#{incident_id}")))
            .key("sk", AttributeValue::S("SNAPSHOTS".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| HandlerError::from_sdk("journal GetItem snapshots", e))?;
        let ids = got
            .item()
            .map(value_of)
            .map(|v| v["ids"].clone())
            .unwrap_or(Value::Null);
        Ok(serde_json::from_value(ids).unwrap_or_default())
    }

    pub async fn record_snapshots(&self, incident_id: &str, ids: &[String]) -> Result<(), HandlerError> {
        let item = serde_json::json!({"pk": format!("INC#{incident_id}"), "sk": "SNAPSHOTS", "ids": ids, "at": now_rfc3339()});
        self.put(&item, "snapshots").await
    }

    /// Records that this finding (id + updatedAt) is handled; false if it already was.
    pub async fn first_sighting(
        &self,
        finding_id: &str,
        updated_at: &str,
        incident_id: &str,
    ) -> Result<bool, HandlerError> {
        let item = serde_json::json!({"pk": format!("FINDING#{finding_id}"), "sk": updated_at,
                                      "incident_id": incident_id, "ttl": ttl_after_retention()});
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_of(&item)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result.map_err(|e| HandlerError::from_sdk("journal finding PutItem", e)) {
            Ok(_) => Ok(true),
            Err(HandlerError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn record_move(&self, attachment_id: &str, account: &str) -> Result<(), HandlerError> {
        let now = OffsetDateTime::now_utc();
        let item = serde_json::json!({"pk": "MOVES", "sk": format!("{:013}#{attachment_id}", now.unix_timestamp() * 1000),
                                      "account": account, "ttl": ttl_after_retention()});
        self.put(&item, "move").await
    }

    /// Moves since `since`, overall and in `account`.
    pub async fn moves_since(
        &self,
        since: OffsetDateTime,
        account: &str,
    ) -> Result<BudgetUsage, HandlerError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk >= :since")
            .expression_attribute_values(":pk", AttributeValue::S("MOVES".into()))
            .expression_attribute_values(
                ":since",
                AttributeValue::S(format!("{:013}", since.unix_timestamp() * 1000)),
            )
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| HandlerError::from_sdk("journal Query moves", e))?;
        let in_account = items
            .iter()
            .filter(|i| matches!(i.get("account"), Some(AttributeValue::S(a)) if a == account))
            .count();
        Ok(BudgetUsage {
            overall: items.len() as u32,
            account: in_account as u32,
        })
    }

    /// The attachment enrich last found for this VPC (a hint: the caller checks it against
    /// Network Manager before use).
    pub async fn cached_attachment(
        &self,
        core_network: &str,
        region: &str,
        vpc: &str,
    ) -> Result<Option<String>, HandlerError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(
                "pk",
                AttributeValue::S(format!("VPC#{core_network}#{region}#{vpc}")),
            )
            .key("sk", AttributeValue::S("ATTACHMENT".into()))
            .send()
            .await
            .map_err(|e| HandlerError::from_sdk("journal GetItem attachment of a VPC", e))?;
        Ok(got
            .item()
            .and_then(|item| item.get("attachment_id"))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }

    pub async fn cache_attachment(
        &self,
        core_network: &str,
        region: &str,
        vpc: &str,
        attachment_id: &str,
    ) -> Result<(), HandlerError> {
        let item = serde_json::json!({"pk": format!("VPC#{core_network}#{region}#{vpc}"), "sk": "ATTACHMENT",
                                      "attachment_id": attachment_id, "at": now_rfc3339()});
        self.put(&item, "attachment of a VPC").await
    }

    /// Every attachment cwq has acted on (its state item), for `cwq status`.
    pub async fn states(&self) -> Result<Vec<AttachmentRecord>, HandlerError> {
        let items = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :state")
            .expression_attribute_values(":state", AttributeValue::S("STATE".into()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| HandlerError::from_sdk("journal Scan states", e))?;
        items
            .iter()
            .map(|item| {
                serde_json::from_value(value_of(item)).map_err(|e| HandlerError::Failed(e.to_string()))
            })
            .collect()
    }

    /// An incident's audit trail, oldest first: (time, step, detail).
    pub async fn trail(&self, incident_id: &str) -> Result<Vec<AuditEntry>, HandlerError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("INC#{incident_id}")))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| HandlerError::from_sdk("journal Query trail", e))?;
        Ok(items
            .iter()
            .map(value_of)
            .filter(|v| v["step"].is_string())
            .map(|v| AuditEntry {
                at: v["at"].as_str().unwrap_or_default().to_string(),
                step: v["step"].as_str().unwrap_or_default().to_string(),
                detail: v["detail"].clone(),
            })
            .collect())
    }

    /// Quarantines whose expiry has passed, from the sparse expiry index.
    pub async fn expired(&self, now: OffsetDateTime) -> Result<Vec<AttachmentRecord>, HandlerError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(EXPIRY_INDEX)
            .key_condition_expression("gsi1pk = :pk AND gsi1sk <= :now")
            .expression_attribute_values(":pk", AttributeValue::S("EXPIRING".into()))
            .expression_attribute_values(":now", AttributeValue::N(now.unix_timestamp().to_string()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| HandlerError::from_sdk("journal Query expiry", e))?;
        items
            .iter()
            .map(|item| {
                serde_json::from_value(value_of(item)).map_err(|e| HandlerError::Failed(e.to_string()))
            })
            .collect()
    }
}

/// Tags as Network Manager returns them, as a map.
pub fn tag_map(tags: &[aws_sdk_networkmanager::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}
