//! What every step needs, read once per cold start: settings from the environment (each
//! missing variable named), the response policy, and the AWS clients.

use crate::error::HandlerError;
use crate::journal::Journal;
use crate::response_policy::ResponsePolicy;
use aws_config::BehaviorVersion;
use std::time::Duration;

/// The built-in response policy, used when `CWQ_POLICY` is empty.
const DEFAULT_POLICY: &str = include_str!("../../../../policy/default.toml");

#[derive(Debug, Clone)]
pub struct Settings {
    /// `CWQ_TABLE`: the journal table.
    pub table: String,
    /// `CWQ_CORE_NETWORK_ID`.
    pub core_network_id: String,
    /// `CWQ_POLICY`: the response policy's TOML text (default: policy/default.toml).
    pub policy: ResponsePolicy,
    /// `CWQ_WORKLOAD_ROLE_NAME`: assumed in the instance's account for EC2; empty: none.
    pub workload_role_name: Option<String>,
    /// `CWQ_RELEASE_STATE_MACHINE_ARN`: what the sweep starts.
    pub release_state_machine_arn: Option<String>,
    /// `CWQ_EVENT_BUS`: where outcomes are published (default `default`).
    pub event_bus: String,
    /// `CWQ_VERIFY_MAX_ATTEMPTS`: verification polls before VerificationTimeout (default 60).
    pub verify_max_attempts: u32,
    /// `CWQ_VERIFY_INTERVAL_SECONDS`: the wait between checks (default 5).
    pub verify_interval_seconds: u32,
    /// `CWQ_ACCEPT_PENDING_TAGS`: accept a PENDING_TAG_ACCEPTANCE as core network owner.
    pub accept_pending_tags: bool,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn required(name: &str) -> Result<String, HandlerError> {
    var(name)
        .ok_or_else(|| HandlerError::Configuration(format!("the environment variable {name} is not set")))
}

impl Settings {
    pub fn from_env() -> Result<Self, HandlerError> {
        let policy_text = var("CWQ_POLICY").unwrap_or_else(|| DEFAULT_POLICY.to_string());
        let policy = ResponsePolicy::from_toml(&policy_text)
            .map_err(|e| HandlerError::Configuration(format!("CWQ_POLICY: {e}")))?;
        let number = |name: &str, default: u32| -> Result<u32, HandlerError> {
            var(name).map_or(Ok(default), |v| {
                v.parse()
                    .map_err(|_| HandlerError::Configuration(format!("{name}={v} is not a number")))
            })
        };
        Ok(Self {
            table: required("CWQ_TABLE")?,
            core_network_id: required("CWQ_CORE_NETWORK_ID")?,
            policy,
            workload_role_name: var("CWQ_WORKLOAD_ROLE_NAME"),
            release_state_machine_arn: var("CWQ_RELEASE_STATE_MACHINE_ARN"),
            event_bus: var("CWQ_EVENT_BUS").unwrap_or_else(|| "default".into()),
            verify_max_attempts: number("CWQ_VERIFY_MAX_ATTEMPTS", 60)?,
            verify_interval_seconds: number("CWQ_VERIFY_INTERVAL_SECONDS", 5)?.max(1),
            accept_pending_tags: var("CWQ_ACCEPT_PENDING_TAGS").is_some_and(|v| v == "true"),
        })
    }
}

/// Settings and clients, built once per Lambda instance.
#[derive(Debug, Clone)]
pub struct Context {
    pub settings: Settings,
    pub sdk: aws_config::SdkConfig,
    pub network_manager: aws_sdk_networkmanager::Client,
    pub journal: Journal,
    pub step_functions: aws_sdk_sfn::Client,
    pub events: aws_sdk_eventbridge::Client,
}

impl Context {
    pub async fn from_env() -> Result<Self, HandlerError> {
        let settings = Settings::from_env()?;
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Ok(Self::new(settings, sdk))
    }

    pub fn new(settings: Settings, sdk: aws_config::SdkConfig) -> Self {
        Self {
            network_manager: aws_sdk_networkmanager::Client::new(&sdk),
            journal: Journal::new(aws_sdk_dynamodb::Client::new(&sdk), settings.table.clone()),
            step_functions: aws_sdk_sfn::Client::new(&sdk),
            events: aws_sdk_eventbridge::Client::new(&sdk),
            settings,
            sdk,
        }
    }

    /// EC2 in the instance's account: through the configured role when it is another
    /// account, with this function's own credentials otherwise.
    pub async fn ec2_for(
        &self,
        account: Option<&str>,
        region: Option<&str>,
    ) -> Result<aws_sdk_ec2::Client, HandlerError> {
        let mut config = aws_sdk_ec2::config::Builder::from(&self.sdk);
        if let Some(region) = region {
            config = config.region(aws_sdk_ec2::config::Region::new(region.to_string()));
        }
        let own_account = self.own_account().await;
        if let (Some(role), Some(account)) = (&self.settings.workload_role_name, account) {
            if own_account.as_deref() != Some(account) {
                let role_arn = format!("arn:aws:iam::{account}:role/{role}");
                let sts = aws_sdk_sts::Client::new(&self.sdk);
                let assumed = sts
                    .assume_role()
                    .role_arn(&role_arn)
                    .role_session_name("cwq")
                    .duration_seconds(900)
                    .send()
                    .await
                    .map_err(|e| HandlerError::from_sdk(&format!("sts AssumeRole {role_arn}"), e))?;
                let c = assumed.credentials().ok_or_else(|| {
                    HandlerError::Failed(format!("AssumeRole {role_arn} returned no credentials"))
                })?;
                let credentials = aws_sdk_ec2::config::Credentials::new(
                    c.access_key_id(),
                    c.secret_access_key(),
                    Some(c.session_token().to_string()),
                    None,
                    "cwq-workload-role",
                );
                config = config.credentials_provider(credentials);
            }
        }
        Ok(aws_sdk_ec2::Client::from_conf(config.build()))
    }

    async fn own_account(&self) -> Option<String> {
        let sts = aws_sdk_sts::Client::new(&self.sdk);
        let identity = tokio::time::timeout(Duration::from_secs(10), sts.get_caller_identity().send())
            .await
            .ok()?
            .ok()?;
        identity.account().map(str::to_string)
    }
}
