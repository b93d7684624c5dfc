//! Tags of the model's resources. Global and core networks keep whatever they are given; an
//! attachment's tags place it, so a change may move it to another segment or wait for the
//! core network owner's acceptance (`attachments.rs`).

use super::model::{CloudWan, Resource, Tag};
use crate::api::ApiError;

impl CloudWan {
    pub fn tags(&self, resource: &Resource) -> Result<&[Tag], ApiError> {
        Ok(match resource {
            Resource::GlobalNetwork(id) => &self.global_network(id)?.tags,
            Resource::CoreNetwork(id) => &self.core(id)?.tags,
            Resource::Attachment(id) => &self.attachment(id)?.tags,
        })
    }

    /// Adds `new` to the resource's tags, replacing the values of keys it has.
    pub fn tag_resource(
        &mut self,
        account: &str,
        resource: &Resource,
        new: Vec<Tag>,
    ) -> Result<(), ApiError> {
        let mut tags = self.tags(resource)?.to_vec();
        for tag in new {
            match tags.iter_mut().find(|t| t.key == tag.key) {
                Some(existing) => existing.value = tag.value,
                None => tags.push(tag),
            }
        }
        self.set_tags(account, resource, tags)
    }

    pub fn untag_resource(
        &mut self,
        account: &str,
        resource: &Resource,
        keys: &[String],
    ) -> Result<(), ApiError> {
        let mut tags = self.tags(resource)?.to_vec();
        tags.retain(|t| !keys.contains(&t.key));
        self.set_tags(account, resource, tags)
    }

    /// An attachment's tags place it: a change may move it, or wait for acceptance.
    fn set_tags(&mut self, account: &str, resource: &Resource, tags: Vec<Tag>) -> Result<(), ApiError> {
        match resource {
            Resource::Attachment(id) => return self.retag(account, id, tags),
            Resource::GlobalNetwork(id) => {
                if let Some(network) = self.global_networks.get_mut(id) {
                    network.tags = tags;
                }
            }
            Resource::CoreNetwork(id) => {
                if let Some(core) = self.core_networks.get_mut(id) {
                    core.tags = tags;
                }
            }
        }
        Ok(())
    }
}
