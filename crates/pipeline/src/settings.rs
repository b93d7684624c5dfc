//! What the steps are configured with, read once per cold start: each missing or malformed
//! variable is named. The response policy is not among them: it is read from the journal
//! (crate::policy), so that it can be changed without a deploy.

use crate::error::StepError;
use crate::policy::{PolicyRefused, DEFAULT_POLICY};
use cwq_domain::response_policy::ResponsePolicy;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `CWQ_CORE_NETWORK_ID`.
    pub core_network_id: String,
    /// `CWQ_TAG_KEY`: the one tag key (besides `cwq:applied`) the stack's IAM policy lets cwq
    /// change; a response policy must tag with it (default `quarantine`).
    pub tag_key: String,
    /// The response policy in use, and its version (journaled with every decision).
    pub policy: ResponsePolicy,
    pub policy_version: String,
    /// Set when no usable policy is known: the steps that need one refuse to run.
    pub policy_refused: Option<PolicyRefused>,
    /// `CWQ_POLICY_REFRESH_SECONDS`: how old the policy read from the journal may be (60).
    pub policy_refresh_seconds: u32,
    /// `CWQ_ACCEPT_PENDING_TAGS`: accept a PENDING_TAG_ACCEPTANCE as core network owner.
    pub accept_pending_tags: bool,
    /// `CWQ_VERIFY_INTERVAL_SECONDS`: the first wait for Cloud WAN (default 5).
    pub wait_first_seconds: u32,
    /// `CWQ_VERIFY_MAX_INTERVAL_SECONDS`: waits double up to this (default 60).
    pub wait_max_seconds: u32,
    /// `CWQ_RECONCILE_TIMEOUT_SECONDS`: how long a change may take before the containment
    /// that asked for it is given up (default 1800: Cloud WAN moves take minutes).
    pub reconcile_timeout_seconds: u32,
    /// `CWQ_SWEEP_BUDGET_SECONDS`: how long a sweep starts new checks (default 40, within
    /// the sweep function's 60-second timeout).
    pub sweep_budget_seconds: u32,
    /// `CWQ_SWEEP_CONCURRENCY`: how many items a sweep checks at once (default 16). Network
    /// Manager's request rate limit is not documented (docs/aws-behaviour.md): lower it if the
    /// sweep's checks are throttled.
    pub sweep_concurrency: usize,
    /// `CWQ_SECURITY_HUB_FEEDBACK`: note each containment and release on the GuardDuty finding
    /// in Security Hub (BatchUpdateFindings).
    pub security_hub_feedback: bool,
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
    /// The settings with `policy` (the built-in default until the journal is read).
    pub fn new(core_network_id: &str, policy: ResponsePolicy, policy_version: &str) -> Self {
        Self {
            core_network_id: core_network_id.to_string(),
            tag_key: policy.tags.key.clone(),
            policy,
            policy_version: policy_version.to_string(),
            policy_refused: None,
            policy_refresh_seconds: 60,
            accept_pending_tags: false,
            wait_first_seconds: 5,
            wait_max_seconds: 60,
            reconcile_timeout_seconds: 1800,
            sweep_budget_seconds: 40,
            sweep_concurrency: 16,
            security_hub_feedback: false,
        }
    }

    pub fn from_env() -> Result<Self, StepError> {
        let default = ResponsePolicy::from_toml(DEFAULT_POLICY)
            .map_err(|e| StepError::Configuration(format!("the built-in policy: {e}")))?;
        let mut settings = Self::new(
            &required("CWQ_CORE_NETWORK_ID")?,
            default,
            &ResponsePolicy::version_of(DEFAULT_POLICY),
        );
        settings.tag_key = var("CWQ_TAG_KEY").unwrap_or(settings.tag_key);
        settings.policy_refresh_seconds = number("CWQ_POLICY_REFRESH_SECONDS", 60)?;
        settings.accept_pending_tags = var("CWQ_ACCEPT_PENDING_TAGS").is_some_and(|v| v == "true");
        settings.wait_first_seconds = number("CWQ_VERIFY_INTERVAL_SECONDS", 5)?.max(1);
        settings.wait_max_seconds =
            number("CWQ_VERIFY_MAX_INTERVAL_SECONDS", 60)?.max(settings.wait_first_seconds);
        settings.reconcile_timeout_seconds = number("CWQ_RECONCILE_TIMEOUT_SECONDS", 1800)?.max(1);
        settings.sweep_budget_seconds = number("CWQ_SWEEP_BUDGET_SECONDS", 40)?.max(1);
        settings.sweep_concurrency = number("CWQ_SWEEP_CONCURRENCY", 16)?.max(1) as usize;
        settings.security_hub_feedback = var("CWQ_SECURITY_HUB_FEEDBACK").is_some_and(|v| v == "true");
        Ok(settings)
    }

    /// These settings running `policy`.
    pub fn with_policy(&self, version: String, policy: ResponsePolicy) -> Self {
        Self {
            policy,
            policy_version: version,
            policy_refused: None,
            ..self.clone()
        }
    }

    /// These settings with no usable policy.
    pub fn refusing(&self, refused: PolicyRefused) -> Self {
        Self {
            policy_refused: Some(refused),
            ..self.clone()
        }
    }

    /// The wait before the `attempt`th check (from 0): doubling from the first to the cap.
    pub fn wait_seconds(&self, attempt: u32) -> u32 {
        let doubled = self.wait_first_seconds.saturating_mul(1u32 << attempt.min(16));
        doubled.min(self.wait_max_seconds)
    }
}
