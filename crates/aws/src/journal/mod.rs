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
//! | an approval request (optimistic `version`) | `APPROVAL#<request>` | `REQUEST` |
//! | the request an attachment's move last waited on | `ATT#<attachment>` | `AWAITING` |
//!
//! Every item carries `kind`, written by cwq alone: what a finding's fields become in a key
//! can never make an item read as another kind. Documents are stored as JSON in `doc`. The
//! sparse index `live` (`live` = `LIVE`, `due` = the next automatic expiry, epoch seconds)
//! holds the attachment items of open episodes (and of episodes closed within the last hour,
//! which the sweep still checks) only, so the sweep's cost grows with live quarantines, not
//! with history. TTL (`ttl`) is set on audit, sighting and outcome items past
//! retention, never on an attachment item.
//!
//! The stored form of each item is in `items`; the DynamoDB calls, with their errors
//! classified, in `calls`.

mod calls;
mod items;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use cwq_domain::budget::BudgetLedger;
use cwq_domain::lifecycle::AttachmentItem;
use cwq_pipeline::approval::ApprovalRequest;
use cwq_pipeline::audit::AuditEntry;
use cwq_pipeline::events::OutcomeEvent;
use cwq_pipeline::policy::StoredPolicy;
use cwq_pipeline::ports::Journal;
use cwq_pipeline::PortError;
use items::{
    approval_item, attachment_item, audit_request, conditional_put, doc, key, kind_of, ledger_item, read_doc,
    s, stored, ttl, version_of,
};
use std::collections::HashMap;

pub const LIVE_INDEX: &str = "live";

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoJournal {
    client: Client,
    table: String,
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
        let what = &item.attachment.attachment_id;
        self.put_versioned(attachment_item(item)?, item.version, what)
            .await?;
        Ok(stored(item))
    }

    async fn put_items_admitted(
        &self,
        items: &[AttachmentItem],
        ledger: &BudgetLedger,
    ) -> Result<Vec<AttachmentItem>, PortError> {
        let mut puts = vec![conditional_put(
            &self.table,
            ledger_item(ledger)?,
            ledger.version,
        )?];
        for item in items {
            puts.push(conditional_put(
                &self.table,
                attachment_item(item)?,
                item.version,
            )?);
        }
        self.transact_put(puts, "demands and budget").await?;
        Ok(items.iter().map(stored).collect())
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
        let items = self.scan_kind("attachment").await?;
        items.iter().map(|item| read_doc(item, "an attachment")).collect()
    }

    async fn record(&self, entries: &[AuditEntry]) -> Result<(), PortError> {
        // BatchWriteItem refuses two requests for one key: an entry twice is written once.
        let mut unique: Vec<&AuditEntry> = Vec::with_capacity(entries.len());
        for entry in entries {
            if !unique.contains(&entry) {
                unique.push(entry);
            }
        }
        let requests = unique
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let ordinal = unique[..i].iter().filter(|e| e.at == entry.at).count();
                audit_request(entry, ordinal)
            })
            .collect::<Result<Vec<_>, PortError>>()?;
        for chunk in requests.chunks(25) {
            self.batch_write(chunk).await?;
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
            .filter(|i| kind_of(i) == Some("audit"))
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
        execution_arn: &str,
    ) -> Result<bool, PortError> {
        let sighting = key(format!("FINDING#{finding_id}"), &format!("SEEN#{updated_at}"));
        let mut item = sighting.clone();
        item.insert("kind".into(), s("sighting"));
        item.insert("incident_id".into(), s(incident_id));
        item.insert("execution_arn".into(), s(execution_arn));
        item.insert("ttl".into(), ttl());
        match self.put_new(item, "sighting").await {
            Ok(()) => Ok(true),
            // Seen before: by another execution, or by this one before it was retried.
            Err(PortError::Conflict(_)) => {
                let seen = self.get(sighting, "sighting").await?;
                let by = seen
                    .as_ref()
                    .and_then(|i| i.get("execution_arn"))
                    .and_then(|v| v.as_s().ok());
                Ok(by.is_some_and(|by| by == execution_arn))
            }
            Err(other) => Err(other),
        }
    }

    async fn record_outcome(&self, event: &OutcomeEvent) -> Result<OutcomeEvent, PortError> {
        let mut item = key(format!("OUTCOME#{}", event.id), "OUTCOME");
        item.insert("kind".into(), s("outcome"));
        item.insert("doc".into(), doc(event)?);
        item.insert("ttl".into(), ttl());
        match self.put_new(item, "outcome").await {
            Ok(()) => Ok(event.clone()),
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

    async fn approval(&self, request_id: &str) -> Result<Option<ApprovalRequest>, PortError> {
        let got = self
            .get(
                key(format!("APPROVAL#{request_id}"), "REQUEST"),
                "approval request",
            )
            .await?;
        got.map(|item| read_doc(&item, request_id)).transpose()
    }

    async fn put_approval(&self, request: &ApprovalRequest) -> Result<ApprovalRequest, PortError> {
        let item = approval_item(request)?;
        self.put_versioned(item, request.version, &request.request_id)
            .await?;
        let mut stored = request.clone();
        stored.version += 1;
        Ok(stored)
    }

    async fn awaiting(&self, attachment_id: &str) -> Result<Option<String>, PortError> {
        let got = self
            .get(
                key(format!("ATT#{attachment_id}"), "AWAITING"),
                "approval of an attachment",
            )
            .await?;
        Ok(got.and_then(|item| item.get("request_id").and_then(|v| v.as_s().ok()).cloned()))
    }

    async fn set_awaiting(&self, attachment_id: &str, request_id: &str) -> Result<(), PortError> {
        let mut item = key(format!("ATT#{attachment_id}"), "AWAITING");
        item.insert("kind".into(), s("awaiting"));
        item.insert("request_id".into(), s(request_id));
        self.put(item, "approval of an attachment").await
    }

    async fn approvals(&self) -> Result<Vec<ApprovalRequest>, PortError> {
        let items = self.scan_kind("approval").await?;
        items
            .iter()
            .map(|item| read_doc(item, "an approval request"))
            .collect()
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
