//! What the steps are configured with, read once per cold start: each missing or malformed
//! variable is named.

use crate::error::StepError;
use cwq_domain::response_policy::ResponsePolicy;

/// The built-in response policy, used when `CWQ_POLICY` is empty.
pub const DEFAULT_POLICY: &str = include_str!("../../../policy/default.toml");

#[derive(Debug, Clone)]
pub struct Settings {
    /// `CWQ_CORE_NETWORK_ID`.
    pub core_network_id: String,
    /// `CWQ_POLICY`: the response policy's TOML text (default: policy/default.toml).
    pub policy: ResponsePolicy,
    /// `CWQ_ACCEPT_PENDING_TAGS`: accept a PENDING_TAG_ACCEPTANCE as core network owner.
    pub accept_pending_tags: bool,
    /// `CWQ_VERIFY_INTERVAL_SECONDS`: the first wait for Cloud WAN (default 5).
    pub wait_first_seconds: u32,
    /// `CWQ_VERIFY_MAX_INTERVAL_SECONDS`: waits double up to this (default 60).
    pub wait_max_seconds: u32,
    /// `CWQ_RECONCILE_TIMEOUT_SECONDS`: how long a change may take before the containment
    /// that asked for it is given up (default 1800: Cloud WAN moves take minutes).
    pub reconcile_timeout_seconds: u32,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &str) -> Result<String, StepError> {
    var(name).ok_or_else(|| StepError::Configuration(format!("the environment variable {name} is not set")))
}

fn number(name: &str, default: u32) -> Result<u32, StepError> {
    var(name).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| StepError::Configuration(format!("{name}={v} is not a number")))
    })
}

impl Settings {
    pub fn from_env() -> Result<Self, StepError> {
        let policy_text = var("CWQ_POLICY").unwrap_or_else(|| DEFAULT_POLICY.to_string());
        let policy = ResponsePolicy::from_toml(&policy_text)
            .map_err(|e| StepError::Configuration(format!("CWQ_POLICY: {e}")))?;
        let first = number("CWQ_VERIFY_INTERVAL_SECONDS", 5)?.max(1);
        Ok(Self {
            core_network_id: required("CWQ_CORE_NETWORK_ID")?,
            policy,
            accept_pending_tags: var("CWQ_ACCEPT_PENDING_TAGS").is_some_and(|v| v == "true"),
            wait_first_seconds: first,
            wait_max_seconds: number("CWQ_VERIFY_MAX_INTERVAL_SECONDS", 60)?.max(first),
            reconcile_timeout_seconds: number("CWQ_RECONCILE_TIMEOUT_SECONDS", 1800)?.max(1),
        })
    }

    /// The wait before the `attempt`th check (from 0): doubling from the first to the cap.
    pub fn wait_seconds(&self, attempt: u32) -> u32 {
        let doubled = self.wait_first_seconds.saturating_mul(1u32 << attempt.min(16));
        doubled.min(self.wait_max_seconds)
    }
}
