//! The journal port over one DynamoDB table.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | an attachment's demands, episode and what was applied (optimistic `version`) | `ATT#<attachment>` | `STATE` |
//! | the blast-radius budget's ledger (optimistic `version`) | `BUDGET` | `LEDGER` |
//! | the response policy in use, written by `cwq policy apply` | `POLICY` | `ACTIVE` |
//! | every policy applied, by version (what a decision's version names) | `POLICY` | `V#<version>` |
//! | an incident's audit trail | `INC#<incident>` | `EV#<rfc3339>#<n>` |
//! | an incident's snapshot ids | `INC#<incident>` | `SNAPSHOTS` |
//! | an execution's outcome, written once | `OUTCOME#<execution name>` | `OUTCOME` |
//! | a finding already seen (id + updatedAt) | `FINDING#<id>` | `SEEN#<updatedAt>` |
//! | a VPC's attachment, cached for enrich | `VPC#<core network>#<region>#<vpc>` | `ATTACHMENT` |
//!
//! Every item carries `kind`, written by cwq alone: what a finding's fields become in a key
//! can never make an item read as another kind. Documents are stored as JSON in `doc`. The
//! sparse index `live` (`live` = `LIVE`, `due` = the next automatic expiry, epoch seconds)
//! holds the attachment items of open episodes (and of episodes closed within the last hour,
//! which the sweep still checks) only, so the sweep's cost grows with live quarantines, not
//! with history. TTL (`ttl`) is set on audit, sighting and outcome items past
//! retention, never on an attachment item.

use crate::errors::{classify, Class};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, PutRequest, TransactWriteItem, WriteRequest};
use aws_sdk_dynamodb::Client;
use cwq_domain::budget::BudgetLedger;
use cwq_domain::lifecycle::AttachmentItem;
use cwq_pipeline::audit::AuditEntry;
use cwq_pipeline::events::OutcomeEvent;
use cwq_pipeline::policy::StoredPolicy;
use cwq_pipeline::ports::Journal;
use cwq_pipeline::PortError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use time::OffsetDateTime;

pub const LIVE_INDEX: &str = "live";
const RETENTION_DAYS: i64 = 400;
/// `due` of an item with manual holds only: later than any expiry.
const NEVER: i64 = 253_402_300_799;

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoJournal {
    client: Client,
    table: String,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn ttl() -> AttributeValue {
    n(OffsetDateTime::now_utc().unix_timestamp() + RETENTION_DAYS * 86_400)
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn doc<T: Serialize>(value: &T) -> Result<AttributeValue, PortError> {
    serde_json::to_string(value)
        .map(s)
        .map_err(|e| PortError::Failed(format!("journal: {e}")))
}

fn read_doc<T: DeserializeOwned>(item: &Item, what: &str) -> Result<T, PortError> {
    let text = item
        .get("doc")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| PortError::Failed(format!("journal: {what} has no document")))?;
    serde_json::from_str(text).map_err(|e| PortError::Failed(format!("journal: {what} is unreadable: {e}")))
}

fn version_of(item: &Item) -> u64 {
    item.get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The stored form of an attachment item, with the version it will have.
fn attachment_item(item: &AttachmentItem) -> Result<Item, PortError> {
    let mut stored = item.clone();
    stored.version += 1;
    let mut out = key(format!("ATT#{}", item.attachment.attachment_id), "STATE");
    out.insert("kind".into(), s("attachment"));
    out.insert("version".into(), n(stored.version));
    out.insert("doc".into(), doc(&stored)?);
    if item.is_live(OffsetDateTime::now_utc()) {
        out.insert("live".into(), s("LIVE"));
        let due = item.next_expiry().map_or(NEVER, OffsetDateTime::unix_timestamp);
        out.insert("due".into(), n(due));
    }
    Ok(out)
}

fn ledger_item(ledger: &BudgetLedger) -> Result<Item, PortError> {
    let mut stored = ledger.clone();
    stored.version += 1;
    let mut out = key("BUDGET".into(), "LEDGER");
    out.insert("kind".into(), s("budget"));
    out.insert("version".into(), n(stored.version));
    out.insert("doc".into(), doc(&stored)?);
    Ok(out)
}

/// The condition that the stored version is still `version` (0: nothing stored), and the
/// values it names.
fn version_condition(version: u64) -> (&'static str, Option<HashMap<String, AttributeValue>>) {
    match version {
        0 => ("attribute_not_exists(pk)", None),
        v => (
            "version = :expected",
            Some(HashMap::from([(":expected".to_string(), n(v))])),
        ),
    }
}

/// A conditional Put of `item`, for a transaction.
fn conditional_put(table: &str, item: Item, version: u64) -> Result<Put, PortError> {
    let (condition, values) = version_condition(version);
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .set_expression_attribute_values(values)
        .build()
        .map_err(|e| PortError::Failed(format!("journal: {e}")))
}

impl DynamoJournal {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A response policy applied before, by the version a decision journaled.
    pub async fn policy_version(&self, version: &str) -> Result<Option<StoredPolicy>, PortError> {
        let got = self
            .get(key("POLICY".into(), &format!("V#{version}")), "a response policy")
            .await?;
        got.map(|item| read_doc(&item, "a response policy")).transpose()
    }

    async fn get(&self, key: Item, what: &str) -> Result<Option<Item>, PortError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                classify(&format!("dynamodb GetItem {what}"), e, |e| {
                    if e.is_provisioned_throughput_exceeded_exception()
                        || e.is_request_limit_exceeded()
                        || e.is_internal_server_error()
                    {
                        Class::Transient
                    } else if e.is_resource_not_found_exception() {
                        Class::NotFound
                    } else {
                        Class::Failed
                    }
                })
            })?;
        Ok(got.item)
    }

    /// Writes an item that nothing else writes concurrently.
    async fn put(&self, item: Item, what: &str) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| put_error(&format!("dynamodb PutItem {what}"), e))?;
        Ok(())
    }

    async fn query(
        &self,
        index: Option<&str>,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<Vec<Item>, PortError> {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(condition)
            .consistent_read(index.is_none());
        for (name, value) in values {
            query = query.expression_attribute_values(*name, value.clone());
        }
        query
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| {
                classify("dynamodb Query", e, |e| {
                    if e.is_provisioned_throughput_exceeded_exception()
                        || e.is_request_limit_exceeded()
                        || e.is_internal_server_error()
                    {
                        Class::Transient
                    } else {
                        Class::Failed
                    }
                })
            })
    }
}

fn put_error(
    what: &str,
    e: aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::put_item::PutItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> PortError {
    classify(what, e, |e| {
        if e.is_conditional_check_failed_exception() {
            Class::Conflict
        } else if e.is_provisioned_throughput_exceeded_exception()
            || e.is_request_limit_exceeded()
            || e.is_internal_server_error()
            || e.is_transaction_conflict_exception()
        {
            Class::Transient
        } else {
            Class::Failed
        }
    })
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn audit_item(entry: &AuditEntry) -> Result<Item, PortError> {
    let at = entry
        .at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    // Unique per write: two entries at the same instant are both kept.
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let mut item = key(
        format!("INC#{}", entry.incident_id),
        &format!("EV#{at}#{}#{seq:06}", std::process::id()),
    );
    item.insert("kind".into(), s("audit"));
    item.insert("step".into(), s(entry.event.name()));
    item.insert("doc".into(), doc(entry)?);
    item.insert("ttl".into(), ttl());
    Ok(item)
}

#[async_trait]
impl Journal for DynamoJournal {
    async fn item(&self, attachment_id: &str) -> Result<Option<AttachmentItem>, PortError> {
        let got = self
            .get(key(format!("ATT#{attachment_id}"), "STATE"), "attachment")
            .await?;
        got.map(|item| read_doc(&item, attachment_id)).transpose()
    }

    async fn put_item(&self, item: &AttachmentItem) -> Result<AttachmentItem, PortError> {
        let (condition, values) = version_condition(item.version);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attachment_item(item)?))
            .condition_expression(condition)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|e| put_error(&format!("dynamodb PutItem {}", item.attachment.attachment_id), e))?;
        let mut stored = item.clone();
        stored.version += 1;
        Ok(stored)
    }

    async fn put_item_admitted(
        &self,
        item: &AttachmentItem,
        ledger: &BudgetLedger,
    ) -> Result<AttachmentItem, PortError> {
        let state = conditional_put(&self.table, attachment_item(item)?, item.version)?;
        let budget = conditional_put(&self.table, ledger_item(ledger)?, ledger.version)?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(state).build())
            .transact_items(TransactWriteItem::builder().put(budget).build())
            .send()
            .await
            .map_err(|e| {
                classify("dynamodb TransactWriteItems (demand and budget)", e, |e| {
                    if e.is_transaction_canceled_exception() {
                        Class::Conflict
                    } else if e.is_provisioned_throughput_exceeded_exception()
                        || e.is_request_limit_exceeded()
                        || e.is_internal_server_error()
                        || e.is_transaction_in_progress_exception()
                    {
                        Class::Transient
                    } else {
                        Class::Failed
                    }
                })
            })?;
        let mut stored = item.clone();
        stored.version += 1;
        Ok(stored)
    }

    async fn budget(&self) -> Result<BudgetLedger, PortError> {
        let got = self.get(key("BUDGET".into(), "LEDGER"), "budget").await?;
        let Some(item) = got else {
            return Ok(BudgetLedger::default());
        };
        let mut ledger: BudgetLedger = read_doc(&item, "the budget ledger")?;
        ledger.version = version_of(&item);
        Ok(ledger)
    }

    async fn active_policy(&self) -> Result<Option<StoredPolicy>, PortError> {
        let got = self
            .get(key("POLICY".into(), "ACTIVE"), "the response policy")
            .await?;
        got.map(|item| read_doc(&item, "the response policy")).transpose()
    }

    async fn apply_policy(&self, policy: &StoredPolicy) -> Result<(), PortError> {
        for sk in [format!("V#{}", policy.version), "ACTIVE".to_string()] {
            let mut item = key("POLICY".into(), &sk);
            item.insert("kind".into(), s("policy"));
            item.insert("doc".into(), doc(policy)?);
            self.put(item, "the response policy").await?;
        }
        Ok(())
    }

    async fn live_items(&self) -> Result<Vec<AttachmentItem>, PortError> {
        let items = self
            .query(Some(LIVE_INDEX), "live = :live", &[(":live", s("LIVE"))])
            .await?;
        items
            .iter()
            .map(|item| read_doc(item, "a live attachment"))
            .collect()
    }

    async fn all_items(&self) -> Result<Vec<AttachmentItem>, PortError> {
        let items = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("kind = :kind")
            .expression_attribute_values(":kind", s("attachment"))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| {
                classify("dynamodb Scan", e, |e| {
                    if e.is_provisioned_throughput_exceeded_exception()
                        || e.is_request_limit_exceeded()
                        || e.is_internal_server_error()
                    {
                        Class::Transient
                    } else {
                        Class::Failed
                    }
                })
            })?;
        items.iter().map(|item| read_doc(item, "an attachment")).collect()
    }

    async fn record(&self, entries: &[AuditEntry]) -> Result<(), PortError> {
        let requests = entries
            .iter()
            .map(|e| {
                Ok(WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(audit_item(e)?))
                            .build()
                            .map_err(|e| PortError::Failed(format!("journal: {e}")))?,
                    )
                    .build())
            })
            .collect::<Result<Vec<_>, PortError>>()?;
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            for _ in 0..5 {
                if pending.is_empty() {
                    break;
                }
                let written = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        classify("dynamodb BatchWriteItem audit", e, |e| {
                            if e.is_provisioned_throughput_exceeded_exception()
                                || e.is_request_limit_exceeded()
                                || e.is_internal_server_error()
                            {
                                Class::Transient
                            } else {
                                Class::Failed
                            }
                        })
                    })?;
                pending = written
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(PortError::Transient(format!(
                    "dynamodb BatchWriteItem: {} audit items unprocessed",
                    pending.len()
                )));
            }
        }
        Ok(())
    }

    async fn trail(&self, incident_id: &str) -> Result<Vec<AuditEntry>, PortError> {
        let items = self
            .query(
                None,
                "pk = :pk AND begins_with(sk, :ev)",
                &[(":pk", s(format!("INC#{incident_id}"))), (":ev", s("EV#"))],
            )
            .await?;
        let mut trail: Vec<AuditEntry> = items
            .iter()
            .filter(|i| i.get("kind").and_then(|k| k.as_s().ok()).map(String::as_str) == Some("audit"))
            .map(|i| read_doc(i, "an audit entry"))
            .collect::<Result<_, _>>()?;
        trail.sort_by_key(|e| e.at);
        Ok(trail)
    }

    async fn first_sighting(
        &self,
        finding_id: &str,
        updated_at: &str,
        incident_id: &str,
    ) -> Result<bool, PortError> {
        let mut item = key(format!("FINDING#{finding_id}"), &format!("SEEN#{updated_at}"));
        item.insert("kind".into(), s("sighting"));
        item.insert("incident_id".into(), s(incident_id));
        item.insert("ttl".into(), ttl());
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| put_error("dynamodb PutItem sighting", e));
        match result {
            Ok(_) => Ok(true),
            Err(PortError::Conflict(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    async fn record_outcome(&self, event: &OutcomeEvent) -> Result<OutcomeEvent, PortError> {
        let mut item = key(format!("OUTCOME#{}", event.id), "OUTCOME");
        item.insert("kind".into(), s("outcome"));
        item.insert("doc".into(), doc(event)?);
        item.insert("ttl".into(), ttl());
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| put_error("dynamodb PutItem outcome", e));
        match written {
            Ok(_) => Ok(event.clone()),
            // Recorded by an earlier try: that one is the outcome.
            Err(PortError::Conflict(_)) => {
                let stored = self
                    .get(key(format!("OUTCOME#{}", event.id), "OUTCOME"), "outcome")
                    .await?;
                stored.map_or_else(|| Ok(event.clone()), |item| read_doc(&item, "an outcome"))
            }
            Err(other) => Err(other),
        }
    }

    async fn snapshots(&self, incident_id: &str) -> Result<Vec<String>, PortError> {
        let got = self
            .get(key(format!("INC#{incident_id}"), "SNAPSHOTS"), "snapshots")
            .await?;
        Ok(got
            .and_then(|item| item.get("ids").and_then(|v| v.as_ss().ok()).cloned())
            .unwrap_or_default())
    }

    async fn record_snapshots(&self, incident_id: &str, ids: &[String]) -> Result<(), PortError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut item = key(format!("INC#{incident_id}"), "SNAPSHOTS");
        item.insert("kind".into(), s("snapshots"));
        item.insert("ids".into(), AttributeValue::Ss(ids.to_vec()));
        self.put(item, "snapshots").await
    }

    async fn cached_attachment(
        &self,
        core_network_id: &str,
        region: &str,
        vpc_id: &str,
    ) -> Result<Option<String>, PortError> {
        let got = self
            .get(
                key(format!("VPC#{core_network_id}#{region}#{vpc_id}"), "ATTACHMENT"),
                "attachment of a VPC",
            )
            .await?;
        Ok(got.and_then(|item| item.get("attachment_id").and_then(|v| v.as_s().ok()).cloned()))
    }

    async fn cache_attachment(
        &self,
        core_network_id: &str,
        region: &str,
        vpc_id: &str,
        attachment_id: &str,
    ) -> Result<(), PortError> {
        let mut item = key(format!("VPC#{core_network_id}#{region}#{vpc_id}"), "ATTACHMENT");
        item.insert("kind".into(), s("hint"));
        item.insert("attachment_id".into(), s(attachment_id));
        self.put(item, "attachment of a VPC").await
    }
}
