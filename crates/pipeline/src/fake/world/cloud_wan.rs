//! The fake Cloud WAN: placement by the live policy's attachment rules, moves that take time,
//! and ConflictException while an attachment is UPDATING.

use super::*;

impl WorldState {
    pub(super) fn options(&self) -> EvaluationOptions {
        EvaluationOptions::default()
    }

    pub(super) fn place(&self, a: &AttachmentRef, tags: &Tags) -> Option<String> {
        let policy = self.policy.as_ref()?;
        let facts = Attachment::vpc(&a.owner_account, &a.edge_location, &a.vpc_id, tags.clone());
        policy
            .evaluate(&facts, self.options())
            .placement
            .segment()
            .map(str::to_string)
    }

    pub(super) fn needs_acceptance(&self, a: &AttachmentRef, tags: &Tags) -> bool {
        let Some(policy) = self.policy.as_ref() else {
            return false;
        };
        let facts = Attachment::vpc(&a.owner_account, &a.edge_location, &a.vpc_id, tags.clone());
        matches!(
            policy.evaluate(&facts, self.options()).placement,
            Placement::Segment {
                acceptance_required: true,
                ..
            }
        )
    }

    /// Completes a transition that is due.
    pub(super) fn refresh(&mut self, id: &str, now: OffsetDateTime) {
        let stuck = self.behaviour.stuck;
        if let Some(a) = self.attachments.get_mut(id) {
            if a.state == FakeState::Updating && !stuck && a.busy_until.is_some_and(|t| t <= now) {
                a.state = FakeState::Available;
                a.segment = a.next_segment.take();
                a.busy_until = None;
            }
        }
    }

    /// After a tag change: UPDATING toward where the policy places the new tags, or waiting for
    /// the owner's acceptance when that segment requires it.
    pub(super) fn start_move(&mut self, id: &str, now: OffsetDateTime) {
        let seconds = self.behaviour.transition_seconds;
        let Some(a) = self.attachments.get(id).cloned() else {
            return;
        };
        let target = self.place(&a.attachment, &a.tags);
        let accept = self.needs_acceptance(&a.attachment, &a.tags) && target != a.segment;
        if let Some(a) = self.attachments.get_mut(id) {
            if accept {
                a.proposed = Some(a.tags.clone());
                a.state = FakeState::PendingTagAcceptance;
            } else {
                a.state = FakeState::Updating;
                a.busy_until = Some(now + time::Duration::seconds_f64(seconds));
                a.next_segment = target;
            }
        }
    }

    pub(super) fn live(&self, id: &str) -> Result<LiveAttachment, PortError> {
        let a = self
            .attachments
            .get(id)
            .filter(|a| a.state != FakeState::Deleted)
            .ok_or_else(|| PortError::NotFound(format!("attachment {id}")))?;
        let r = &a.attachment;
        let (state, name) = match a.state {
            FakeState::Available => (LiveState::Available, "AVAILABLE"),
            FakeState::Updating => (LiveState::Busy, "UPDATING"),
            FakeState::PendingTagAcceptance => (LiveState::PendingTagAcceptance, "PENDING_TAG_ACCEPTANCE"),
            FakeState::Deleted => (LiveState::Gone, "DELETING"),
        };
        Ok(LiveAttachment {
            attachment_id: r.attachment_id.clone(),
            core_network_id: r.core_network_id.clone(),
            owner_account: r.owner_account.clone(),
            edge_location: r.edge_location.clone(),
            resource_arn: format!(
                "arn:{}:ec2:{}:{}:vpc/{}",
                r.partition, r.edge_location, r.owner_account, r.vpc_id
            ),
            state,
            state_name: name.into(),
            segment: a.segment.clone(),
            proposed_tags: a.proposed.clone(),
            // As GetVpcAttachment answers; a listing drops them (`scan_vpc_attachments`).
            tags: Some(a.tags.clone()),
        })
    }

    /// A tag change by cwq: refused while Cloud WAN is UPDATING (when so configured).
    pub(super) fn change_tags(
        &mut self,
        id: &str,
        now: OffsetDateTime,
        change: impl FnOnce(&mut Tags),
    ) -> Result<(), PortError> {
        self.refresh(id, now);
        let conflict = self.behaviour.conflict_while_updating;
        let a = self
            .attachments
            .get_mut(id)
            .filter(|a| a.state != FakeState::Deleted)
            .ok_or_else(|| PortError::NotFound(format!("attachment {id}")))?;
        if conflict && matches!(a.state, FakeState::Updating | FakeState::PendingTagAcceptance) {
            return Err(PortError::Busy(format!("{id} is {:?}", a.state)));
        }
        change(&mut a.tags);
        self.start_move(id, now);
        Ok(())
    }
}

#[async_trait]
impl CloudWan for World {
    async fn live_policy(&self, _core_network_id: &str) -> Result<CoreNetworkPolicy, PortError> {
        let call = self.enter("cloudwan", "GetCoreNetworkPolicy", false).await?;
        let policy = self
            .state()
            .policy
            .clone()
            .ok_or_else(|| PortError::Failed("no LIVE policy".into()));
        self.leave(call);
        policy
    }

    async fn attachment(&self, attachment_id: &str) -> Result<LiveAttachment, PortError> {
        let call = self.enter("cloudwan", "GetVpcAttachment", false).await?;
        let now = self.clock.now();
        let live = {
            let mut s = self.state();
            s.refresh(attachment_id, now);
            s.live(attachment_id)
        };
        self.leave(call);
        live
    }

    async fn scan_vpc_attachments(
        &self,
        core_network_id: &str,
        region: &str,
        _vpc_id: &str,
    ) -> Result<Scan, PortError> {
        let call = self.enter("cloudwan", "ListAttachments", false).await?;
        let listed = {
            let s = self.state();
            let ids: Vec<String> = s
                .attachments
                .values()
                .filter(|a| {
                    a.state != FakeState::Deleted
                        && a.attachment.edge_location == region
                        && a.attachment.core_network_id == core_network_id
                })
                .map(|a| a.attachment.attachment_id.clone())
                .collect();
            // One page holds them all; without tags, the pessimistic reading of the listing.
            ids.iter()
                .map(|id| s.live(id).map(|live| LiveAttachment { tags: None, ..live }))
                .collect::<Result<Vec<_>, _>>()
                .map(|attachments| Scan {
                    attachments,
                    complete: true,
                })
        };
        self.leave(call);
        listed
    }

    async fn tags(&self, attachment: &AttachmentRef) -> Result<Tags, PortError> {
        let call = self.enter("cloudwan", "ListTagsForResource", false).await?;
        let tags = {
            let s = self.state();
            s.attachments
                .get(&attachment.attachment_id)
                .filter(|a| a.state != FakeState::Deleted)
                .map(|a| a.tags.clone())
                .ok_or_else(|| PortError::NotFound(format!("attachment {}", attachment.attachment_id)))
        };
        self.leave(call);
        tags
    }

    async fn tag(&self, attachment: &AttachmentRef, tags: &Tags) -> Result<(), PortError> {
        let call = self.enter("cloudwan", "TagResource", true).await?;
        let now = self.clock.now();
        let id = &attachment.attachment_id;
        let result = {
            let mut s = self.state();
            let result = s.change_tags(id, now, |current| current.extend(tags.clone()));
            if result.is_ok() {
                s.network_calls
                    .push((id.clone(), format!("TagResource {tags:?}")));
            }
            result
        };
        if result.is_ok() {
            self.leave(call);
        }
        result
    }

    async fn untag(&self, attachment: &AttachmentRef, keys: &[String]) -> Result<(), PortError> {
        let call = self.enter("cloudwan", "UntagResource", true).await?;
        let now = self.clock.now();
        let id = &attachment.attachment_id;
        let result = {
            let mut s = self.state();
            let result = s.change_tags(id, now, |tags| tags.retain(|k, _| !keys.contains(k)));
            if result.is_ok() {
                s.network_calls
                    .push((id.clone(), format!("UntagResource {keys:?}")));
            }
            result
        };
        if result.is_ok() {
            self.leave(call);
        }
        result
    }

    async fn accept(&self, attachment_id: &str) -> Result<(), PortError> {
        let call = self.enter("cloudwan", "AcceptAttachment", true).await?;
        let now = self.clock.now();
        let result = {
            let mut s = self.state();
            let seconds = s.behaviour.transition_seconds;
            let placed = s
                .attachments
                .get(attachment_id)
                .filter(|a| a.state == FakeState::PendingTagAcceptance)
                .map(|a| s.place(&a.attachment, a.proposed.as_ref().unwrap_or(&a.tags)));
            match (placed, s.attachments.get_mut(attachment_id)) {
                (Some(target), Some(a)) => {
                    a.tags = a.proposed.take().unwrap_or_default();
                    a.state = FakeState::Updating;
                    a.busy_until = Some(now + time::Duration::seconds_f64(seconds));
                    a.next_segment = target;
                    s.network_calls
                        .push((attachment_id.to_string(), "AcceptAttachment".into()));
                    Ok(())
                }
                _ => Err(PortError::Failed(format!(
                    "{attachment_id} has nothing to accept"
                ))),
            }
        };
        if result.is_ok() {
            self.leave(call);
        }
        result
    }
}
