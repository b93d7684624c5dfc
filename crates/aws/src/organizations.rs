//! The organizations port: ListParents from the account up to the root, answered once per
//! account and then kept for a while (an account rarely moves between OUs, and a storm of
//! findings must not become a storm of Organizations calls, which are throttled per account).
//! Organizations answers its management account and the accounts it delegates to
//! (docs/aws-behaviour.md, "Organizations").

use crate::errors::{classify, first_match, Class};
use async_trait::async_trait;
use aws_sdk_organizations::error::ProvideErrorMetadata;
use aws_sdk_organizations::types::ParentType;
use cwq_pipeline::ports::Organizations;
use cwq_pipeline::PortError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an account's place in the organization is kept.
const KEPT_FOR: Duration = Duration::from_secs(600);
/// Organizations nests OUs five deep under the root.
const MAX_DEPTH: usize = 6;

#[derive(Debug)]
pub struct OrganizationsAncestry {
    client: aws_sdk_organizations::Client,
    cache: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl OrganizationsAncestry {
    pub fn new(client: aws_sdk_organizations::Client) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, account: &str) -> Option<Vec<String>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (at, ous) = cache.get(account)?;
        (at.elapsed() < KEPT_FOR).then(|| ous.clone())
    }

    /// The parent of `child` (an account or an OU) and whether it is the root.
    async fn parent(&self, child: &str) -> Result<Option<(String, bool)>, PortError> {
        let listed = self.client.list_parents().child_id(child).send().await;
        let listed = match listed {
            Ok(listed) => listed,
            Err(e) => {
                let error = classify("organizations ListParents", e, |e| {
                    // moto answers AccountNotFoundException, which ListParents does not model.
                    let unknown_account = e.code() == Some("AccountNotFoundException");
                    first_match([
                        (
                            e.is_child_not_found_exception() || unknown_account,
                            Class::NotFound,
                        ),
                        (
                            e.is_access_denied_exception() || e.is_aws_organizations_not_in_use_exception(),
                            Class::Denied,
                        ),
                        (
                            e.is_too_many_requests_exception() || e.is_service_exception(),
                            Class::Transient,
                        ),
                    ])
                });
                return match error {
                    PortError::NotFound(_) => Ok(None),
                    other => Err(other),
                };
            }
        };
        Ok(listed.parents().first().and_then(|p| {
            let id = p.id()?.to_string();
            Some((id, p.r#type() == Some(&ParentType::Root)))
        }))
    }
}

#[async_trait]
impl Organizations for OrganizationsAncestry {
    async fn ancestry(&self, account: &str) -> Result<Vec<String>, PortError> {
        if let Some(ous) = self.cached(account) {
            return Ok(ous);
        }
        let mut ous = Vec::new();
        let mut child = account.to_string();
        while ous.len() < MAX_DEPTH {
            let Some((parent, root)) = self.parent(&child).await? else {
                break;
            };
            ous.push(parent.clone());
            if root {
                break;
            }
            child = parent;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(account.to_string(), (Instant::now(), ous.clone()));
        Ok(ous)
    }
}
