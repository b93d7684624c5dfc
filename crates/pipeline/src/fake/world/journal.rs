//! The fake journal: DynamoDB's conditional writes, by item version, over one map.

use super::*;

#[async_trait]
impl Journal for World {
    async fn item(&self, attachment_id: &str) -> Result<Option<AttachmentItem>, PortError> {
        let call = self.enter("journal", "GetItem", false).await?;
        let item = self.state().items.get(attachment_id).cloned();
        self.leave(call);
        Ok(item)
    }

    async fn put_item(&self, item: &AttachmentItem) -> Result<AttachmentItem, PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        let stored = {
            let mut s = self.state();
            let current = s.version_of(item);
            if current != item.version {
                return Err(PortError::Conflict(format!(
                    "{} is at version {current}, not {}",
                    item.attachment.attachment_id, item.version
                )));
            }
            s.store_next(item)
        };
        self.leave(call);
        Ok(stored)
    }

    async fn put_items_admitted(
        &self,
        items: &[AttachmentItem],
        ledger: &BudgetLedger,
    ) -> Result<Vec<AttachmentItem>, PortError> {
        let call = self.enter("journal", "TransactWriteItems", true).await?;
        let stored = {
            let mut s = self.state();
            let stale = items.iter().any(|item| s.version_of(item) != item.version);
            if stale || s.ledger.version != ledger.version {
                return Err(PortError::Conflict(
                    "transaction cancelled: a condition failed".into(),
                ));
            }
            let mut spent = ledger.clone();
            spent.version += 1;
            s.ledger = spent;
            items.iter().map(|item| s.store_next(item)).collect()
        };
        self.leave(call);
        Ok(stored)
    }

    async fn budget(&self) -> Result<BudgetLedger, PortError> {
        let call = self.enter("journal", "GetItem", false).await?;
        let ledger = self.state().ledger.clone();
        self.leave(call);
        Ok(ledger)
    }

    async fn active_policy(&self) -> Result<Option<StoredPolicy>, PortError> {
        let call = self.enter("journal", "GetItem", false).await?;
        let policy = self.state().response_policy.clone();
        self.leave(call);
        Ok(policy)
    }

    async fn apply_policy(&self, policy: &StoredPolicy) -> Result<(), PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        {
            let mut s = self.state();
            s.response_policies.push(policy.clone());
            s.response_policy = Some(policy.clone());
        }
        self.leave(call);
        Ok(())
    }

    async fn live_items(&self) -> Result<Vec<AttachmentItem>, PortError> {
        let call = self.enter("journal", "Query", false).await?;
        let now = self.clock.now();
        let items = self
            .state()
            .items
            .values()
            .filter(|i| i.is_live(now))
            .cloned()
            .collect();
        self.leave(call);
        Ok(items)
    }

    async fn all_items(&self) -> Result<Vec<AttachmentItem>, PortError> {
        let call = self.enter("journal", "Scan", false).await?;
        let items = self.state().items.values().cloned().collect();
        self.leave(call);
        Ok(items)
    }

    async fn record(&self, entries: &[AuditEntry]) -> Result<(), PortError> {
        if entries.is_empty() {
            return Ok(());
        }
        let call = self.enter("journal", "BatchWriteItem", true).await?;
        // As DynamoDB keys them (by content): the same entry written again is one item.
        let mut state = self.state();
        for entry in entries {
            if !state.audit.contains(entry) {
                state.audit.push(entry.clone());
            }
        }
        drop(state);
        self.leave(call);
        Ok(())
    }

    async fn trail(&self, incident_id: &str) -> Result<Vec<AuditEntry>, PortError> {
        let call = self.enter("journal", "Query", false).await?;
        let mut trail: Vec<AuditEntry> = self
            .state()
            .audit
            .iter()
            .filter(|e| e.incident_id == incident_id)
            .cloned()
            .collect();
        trail.sort_by_key(|e| e.at);
        self.leave(call);
        Ok(trail)
    }

    async fn first_sighting(
        &self,
        finding_id: &str,
        updated_at: &str,
        _incident_id: &str,
        execution_arn: &str,
    ) -> Result<bool, PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        let first = self
            .state()
            .sightings
            .entry((finding_id.to_string(), updated_at.to_string()))
            .or_insert_with(|| execution_arn.to_string())
            == execution_arn;
        self.leave(call);
        Ok(first)
    }

    async fn record_outcome(&self, event: &OutcomeEvent) -> Result<OutcomeEvent, PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        let stored = self
            .state()
            .outcomes
            .entry(event.id.clone())
            .or_insert_with(|| event.clone())
            .clone();
        self.leave(call);
        Ok(stored)
    }

    async fn snapshots(&self, incident_id: &str) -> Result<Vec<String>, PortError> {
        let call = self.enter("journal", "GetItem", false).await?;
        let ids = self
            .state()
            .snapshot_sets
            .get(incident_id)
            .cloned()
            .unwrap_or_default();
        self.leave(call);
        Ok(ids)
    }

    async fn record_snapshots(&self, incident_id: &str, ids: &[String]) -> Result<(), PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        self.state()
            .snapshot_sets
            .insert(incident_id.to_string(), ids.to_vec());
        self.leave(call);
        Ok(())
    }

    async fn cached_attachment(
        &self,
        core: &str,
        region: &str,
        vpc_id: &str,
    ) -> Result<Option<String>, PortError> {
        let call = self.enter("journal", "GetItem", false).await?;
        let found = self
            .state()
            .cache
            .get(&format!("{core}#{region}#{vpc_id}"))
            .cloned();
        self.leave(call);
        Ok(found)
    }

    async fn cache_attachment(
        &self,
        core: &str,
        region: &str,
        vpc_id: &str,
        attachment_id: &str,
    ) -> Result<(), PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        self.state()
            .cache
            .insert(format!("{core}#{region}#{vpc_id}"), attachment_id.to_string());
        self.leave(call);
        Ok(())
    }

    async fn approval(&self, request_id: &str) -> Result<Option<ApprovalRequest>, PortError> {
        let call = self.enter("journal", "GetItem", false).await?;
        let found = self.state().approvals.get(request_id).cloned();
        self.leave(call);
        Ok(found)
    }

    async fn put_approval(&self, request: &ApprovalRequest) -> Result<ApprovalRequest, PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        let stored = {
            let mut s = self.state();
            let current = s.approvals.get(&request.request_id).map_or(0, |r| r.version);
            if current != request.version {
                return Err(PortError::Conflict(format!(
                    "approval {} is at version {current}, not {}",
                    request.request_id, request.version
                )));
            }
            let mut stored = request.clone();
            stored.version += 1;
            s.approvals.insert(stored.request_id.clone(), stored.clone());
            stored
        };
        self.leave(call);
        Ok(stored)
    }

    async fn awaiting(&self, attachment_id: &str) -> Result<Option<String>, PortError> {
        let call = self.enter("journal", "GetItem", false).await?;
        let found = self.state().awaiting.get(attachment_id).cloned();
        self.leave(call);
        Ok(found)
    }

    async fn set_awaiting(&self, attachment_id: &str, request_id: &str) -> Result<(), PortError> {
        let call = self.enter("journal", "PutItem", true).await?;
        let mut s = self.state();
        s.awaiting
            .insert(attachment_id.to_string(), request_id.to_string());
        drop(s);
        self.leave(call);
        Ok(())
    }

    async fn approvals(&self) -> Result<Vec<ApprovalRequest>, PortError> {
        let call = self.enter("journal", "Scan", false).await?;
        let all = self.state().approvals.values().cloned().collect();
        self.leave(call);
        Ok(all)
    }
}

impl WorldState {
    /// The stored version of `item`'s attachment (0: none stored yet).
    fn version_of(&self, item: &AttachmentItem) -> u64 {
        let id = &item.attachment.attachment_id;
        self.items.get(id).map_or(0, |i| i.version)
    }

    /// Stores `item` as its next version, as a conditional write that passed does.
    fn store_next(&mut self, item: &AttachmentItem) -> AttachmentItem {
        let mut next = item.clone();
        next.version += 1;
        self.items
            .insert(next.attachment.attachment_id.clone(), next.clone());
        next
    }
}
