//! The DynamoDB calls the journal makes, each error classified from its operation's typed
//! error: a failed condition is a Conflict (someone else wrote first), the table's capacity
//! and the service's own errors are transient, the rest a failure.

use super::items::{s, version_condition};
use super::{DynamoJournal, Item};
use crate::errors::{classify, first_match, Class};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, WriteRequest};
use cwq_pipeline::PortError;
use std::collections::HashMap;

/// DynamoDB's operations share these error names: throughput, request limits and internal
/// errors are the service's capacity, not the request.
macro_rules! capacity {
    ($e:expr) => {
        $e.is_provisioned_throughput_exceeded_exception()
            || $e.is_request_limit_exceeded()
            || $e.is_internal_server_error()
    };
}

/// Every item of every page of a Query or Scan (`$request`), its error classified as `$what`.
macro_rules! every_item {
    ($request:expr, $what:literal) => {
        $request
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| classify($what, e, |e| first_match([(capacity!(e), Class::Transient)])))
    };
}

/// How many times a batch's unprocessed items are sent again before giving up.
const BATCH_TRIES: usize = 5;

fn put_error(what: &str, e: SdkError<PutItemError, HttpResponse>) -> PortError {
    classify(what, e, |e| {
        first_match([
            (e.is_conditional_check_failed_exception(), Class::Conflict),
            (
                e.is_transaction_conflict_exception() || capacity!(e),
                Class::Transient,
            ),
        ])
    })
}

impl DynamoJournal {
    pub(super) async fn get(&self, key: Item, what: &str) -> Result<Option<Item>, PortError> {
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
                    first_match([
                        (capacity!(e), Class::Transient),
                        (e.is_resource_not_found_exception(), Class::NotFound),
                    ])
                })
            })?;
        Ok(got.item)
    }

    /// Writes an item that nothing else writes concurrently.
    pub(super) async fn put(&self, item: Item, what: &str) -> Result<(), PortError> {
        self.write(item, None, None, what).await
    }

    /// Writes an item whose key is new; a Conflict when it is not.
    pub(super) async fn put_new(&self, item: Item, what: &str) -> Result<(), PortError> {
        self.write(item, Some("attribute_not_exists(pk)"), None, what)
            .await
    }

    /// Writes an item whose stored version is still `version`; a Conflict when it is not.
    pub(super) async fn put_versioned(&self, item: Item, version: u64, what: &str) -> Result<(), PortError> {
        let (condition, values) = version_condition(version);
        self.write(item, Some(condition), values, what).await
    }

    async fn write(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Option<HashMap<String, AttributeValue>>,
        what: &str,
    ) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|e| put_error(&format!("dynamodb PutItem {what}"), e))?;
        Ok(())
    }

    /// Conditional Puts that succeed together or not at all; a Conflict when one's condition
    /// fails.
    pub(super) async fn transact_put(
        &self,
        puts: impl IntoIterator<Item = Put>,
        what: &str,
    ) -> Result<(), PortError> {
        let mut transaction = self.client.transact_write_items();
        for put in puts {
            transaction = transaction.transact_items(TransactWriteItem::builder().put(put).build());
        }
        transaction.send().await.map_err(|e| {
            classify(&format!("dynamodb TransactWriteItems ({what})"), e, |e| {
                first_match([
                    (e.is_transaction_canceled_exception(), Class::Conflict),
                    (
                        e.is_transaction_in_progress_exception() || capacity!(e),
                        Class::Transient,
                    ),
                ])
            })
        })?;
        Ok(())
    }

    pub(super) async fn query(
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
        every_item!(query, "dynamodb Query")
    }

    /// Every item of `kind`, the whole table read.
    pub(super) async fn scan_kind(&self, kind: &str) -> Result<Vec<Item>, PortError> {
        let scan = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("kind = :kind")
            .expression_attribute_values(":kind", s(kind));
        every_item!(scan, "dynamodb Scan")
    }

    /// Writes one batch (at most 25 requests), sending what DynamoDB left unprocessed again;
    /// what is still unprocessed after `BATCH_TRIES` is a transient error.
    pub(super) async fn batch_write(&self, batch: &[WriteRequest]) -> Result<(), PortError> {
        let mut pending = batch.to_vec();
        for _ in 0..BATCH_TRIES {
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
                        first_match([(capacity!(e), Class::Transient)])
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
        Ok(())
    }
}
