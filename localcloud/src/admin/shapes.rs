//! The bodies of the admin API's routes that are not another module's own type (those are
//! [`Settings`](crate::cloudwan::Settings), [`FaultRule`](crate::observe::FaultRule),
//! [`CallRecord`](crate::observe::CallRecord), [`Counter`](crate::observe::Counter) and
//! [`FunctionConfig`]): what `cwq local` and the tests send and read.

use crate::lambda_host::{FunctionConfig, FunctionStats};
use crate::observe::FaultRule;
use crate::stepfunctions::TimeoutName;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /_cwq/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`: the gateway answered.
    pub gateway: String,
    /// `ok`, `down`, or `not configured` (no moto behind this gateway).
    pub moto: String,
}

/// `GET|PUT /_cwq/lambda/settings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LambdaSettings {
    /// The name a Lambda timeout reaches a Step Functions Task with.
    pub timeout_error: TimeoutName,
}

/// `PUT /_cwq/faults`: the rules that replace the current ones, and a seed for their dice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultSet {
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// One function of `GET /_cwq/functions`: how it was registered, and what the host measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionEntry {
    pub config: FunctionConfig,
    pub stats: FunctionStats,
}

/// A scheduled invocation that `cwq local deploy` found in the template (`GET|PUT
/// /_cwq/schedules`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub name: String,
    pub function: String,
    pub expression: String,
    /// None: only on demand.
    pub every_ms: Option<u64>,
    pub input: String,
}

/// `POST /_cwq/schedules/{name}/run`: the function's answer to one scheduled invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleRun {
    pub schedule: String,
    /// Whether the function failed (Lambda's `X-Amz-Function-Error`); `result` is then its
    /// error document.
    pub function_error: bool,
    pub result: Value,
}
