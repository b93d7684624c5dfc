//! Which response policy the steps run. `cwq policy apply` checks a policy and stores it in the
//! journal (`POLICY`/`ACTIVE`); each Lambda reads it at cold start and again every
//! `CWQ_POLICY_REFRESH_SECONDS`, checks it once more, and otherwise runs the built-in default
//! (policy/default.toml). A CloudFormation parameter could not carry it: the SAM CLI splits an
//! unquoted override at the first space, a parameter holds 4,096 bytes and a function's
//! environment 4 KB (docs/aws-behaviour.md). A policy that cannot be used never replaces one
//! that can, and never stops a Lambda: the decisions it would make are refused with a named
//! error instead.

use crate::error::{PortError, StepError};
use crate::ports::Ports;
use crate::settings::Settings;
use cwq_domain::response_policy::ResponsePolicy;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// The policy a deployment runs when none was applied.
pub const DEFAULT_POLICY: &str = include_str!("../../../policy/default.toml");

/// A policy as `cwq policy apply` stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPolicy {
    /// [`ResponsePolicy::version_of`] the text.
    pub version: String,
    pub text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub applied_at: OffsetDateTime,
    /// Who applied it (the caller's ARN).
    pub applied_by: String,
}

impl StoredPolicy {
    pub fn new(text: &str, applied_at: OffsetDateTime, applied_by: &str) -> Self {
        Self {
            version: ResponsePolicy::version_of(text),
            text: text.to_string(),
            applied_at,
            applied_by: applied_by.to_string(),
        }
    }
}

/// Why a policy may not run in this deployment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRefused {
    #[error("the response policy {version} is invalid: {problems}")]
    Invalid { version: String, problems: String },
    #[error(
        "the response policy {version} tags with the key {policy_key:?}, but this stack was deployed \
         with QuarantineTagKey={deployed:?} and its IAM policy lets cwq change only that key"
    )]
    TagKey {
        version: String,
        policy_key: String,
        deployed: String,
    },
    #[error("the stored response policy says version {stored}, but its text hashes to {computed}")]
    VersionMismatch { stored: String, computed: String },
}

/// Checks `text` for a deployment whose tag key is `tag_key`: what `cwq policy apply` runs
/// before storing, and what each Lambda runs again after reading.
pub fn check(text: &str, tag_key: &str) -> Result<ResponsePolicy, PolicyRefused> {
    let version = ResponsePolicy::version_of(text);
    let policy = ResponsePolicy::from_toml(text).map_err(|e| PolicyRefused::Invalid {
        version: version.clone(),
        problems: e.to_string(),
    })?;
    if policy.tags.key != tag_key {
        return Err(PolicyRefused::TagKey {
            version,
            policy_key: policy.tags.key,
            deployed: tag_key.to_string(),
        });
    }
    Ok(policy)
}

/// The policy to run: the stored one, else the built-in default.
pub fn choose(
    stored: Option<&StoredPolicy>,
    tag_key: &str,
) -> Result<(String, ResponsePolicy), PolicyRefused> {
    let Some(stored) = stored else {
        return Ok((
            ResponsePolicy::version_of(DEFAULT_POLICY),
            check(DEFAULT_POLICY, tag_key)?,
        ));
    };
    let computed = ResponsePolicy::version_of(&stored.text);
    if computed != stored.version {
        return Err(PolicyRefused::VersionMismatch {
            stored: stored.version.clone(),
            computed,
        });
    }
    Ok((computed, check(&stored.text, tag_key)?))
}

/// The settings with the current policy, re-read from the journal when older than `refresh`.
#[derive(Debug)]
pub struct PolicyCache {
    refresh: time::Duration,
    current: Mutex<Option<(OffsetDateTime, Arc<Settings>)>>,
}

impl PolicyCache {
    pub fn new(refresh_seconds: u32) -> Self {
        Self {
            refresh: time::Duration::seconds(refresh_seconds.into()),
            current: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<(OffsetDateTime, Arc<Settings>)> {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `base` with the settings of the policy to run now.
    pub async fn ports(&self, base: &Ports) -> Result<Ports, StepError> {
        let now = base.now();
        let cached = self.cached();
        if let Some((read_at, settings)) = &cached {
            if now - *read_at < self.refresh {
                return Self::usable(base, settings.clone());
            }
        }
        let settings = match self.read(base, cached.as_ref().map(|(_, s)| s)).await {
            Ok(settings) => settings,
            // The journal did not answer: the policy known to be good stays, until next time.
            Err(error) => match cached {
                Some((_, settings)) => {
                    tracing::warn!(error = %error, version = %settings.policy_version,
                        "the response policy could not be re-read; the one in use stays");
                    settings
                }
                None => {
                    return Err(StepError::Transient(format!(
                        "reading the response policy: {error}"
                    )))
                }
            },
        };
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, settings.clone()));
        Self::usable(base, settings)
    }

    fn usable(base: &Ports, settings: Arc<Settings>) -> Result<Ports, StepError> {
        if let Some(refused) = &settings.policy_refused {
            return Err(StepError::Configuration(refused.to_string()));
        }
        Ok(Ports {
            settings,
            ..base.clone()
        })
    }

    async fn read(&self, base: &Ports, cached: Option<&Arc<Settings>>) -> Result<Arc<Settings>, PortError> {
        let stored = base.journal.active_policy().await?;
        let tag_key = &base.settings.tag_key;
        if let (Some(settings), Some(stored)) = (cached, &stored) {
            if settings.policy_version == stored.version {
                return Ok(settings.clone());
            }
        }
        match choose(stored.as_ref(), tag_key) {
            Ok((version, policy)) => {
                tracing::info!(version = %version, applied = stored.is_some(), "response policy in use");
                Ok(Arc::new(base.settings.with_policy(version, policy)))
            }
            // Read by the stack's PolicyRefused alarm.
            Err(refused) => {
                tracing::error!(outcome = "PolicyRefused", error = %refused, "response policy refused");
                match cached {
                    Some(settings) if settings.policy_refused.is_none() => Ok(settings.clone()),
                    _ => Ok(Arc::new(base.settings.refusing(refused))),
                }
            }
        }
    }
}
