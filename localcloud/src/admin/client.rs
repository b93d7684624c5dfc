//! A typed client of the admin API: one method per route, each returning what the gateway
//! serialises, and one error type for a local cloud that does not answer, refuses, or answers
//! something else than the route's shape.

use super::shapes::{FaultSet, FunctionEntry, Health, LambdaSettings, Schedule, ScheduleRun};
use crate::cloudwan::Settings;
use crate::lambda_host::FunctionConfig;
use crate::observe::{CallRecord, Counter, FaultRule, TimedCall};
use crate::transport::{exchange, JSON_CONTENT};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the local cloud at {url} does not answer: {message}")]
    Unreachable { url: String, message: String },
    #[error("the local cloud refused {what} (HTTP {status}): {message}")]
    Refused {
        what: String,
        status: u16,
        message: String,
    },
    /// A body that does not encode, or an answer that is not the route's shape.
    #[error("{what}: not the admin API's shape: {message}")]
    Malformed { what: String, message: String },
}

/// The admin API of the gateway at `endpoint` (e.g. `http://127.0.0.1:4566`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminClient {
    endpoint: String,
}

impl AdminClient {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether the gateway, and moto behind it, answer.
    pub async fn health(&self) -> Result<Health, AdminError> {
        self.get("health").await
    }

    pub async fn lambda_settings(&self) -> Result<LambdaSettings, AdminError> {
        self.get("lambda/settings").await
    }

    pub async fn set_lambda_settings(&self, settings: &LambdaSettings) -> Result<LambdaSettings, AdminError> {
        self.put("lambda/settings", settings).await
    }

    pub async fn cloudwan_settings(&self) -> Result<Settings, AdminError> {
        self.get("cloudwan/settings").await
    }

    pub async fn set_cloudwan_settings(&self, settings: &Settings) -> Result<Settings, AdminError> {
        self.put("cloudwan/settings", settings).await
    }

    pub async fn faults(&self) -> Result<Vec<FaultRule>, AdminError> {
        self.get("faults").await
    }

    /// Replaces every fault rule; the answer is the rules now in force.
    pub async fn set_faults(&self, faults: &FaultSet) -> Result<Vec<FaultRule>, AdminError> {
        self.put("faults", faults).await
    }

    pub async fn clear_faults(&self) -> Result<(), AdminError> {
        self.raw("DELETE", "faults", None).await.map(drop)
    }

    /// The log of mutating calls, oldest first.
    pub async fn calls(&self) -> Result<Vec<CallRecord>, AdminError> {
        self.get("calls").await
    }

    /// Per Lambda function, the `service:Operation`s it called with its own credentials.
    pub async fn actions(&self) -> Result<BTreeMap<String, BTreeSet<String>>, AdminError> {
        self.get("actions").await
    }

    /// Every call of late (the last 20,000), in the order they were answered.
    pub async fn timeline(&self) -> Result<Vec<TimedCall>, AdminError> {
        self.get("timeline").await
    }

    /// Per `service:Operation`, the calls, errors and injected faults.
    pub async fn counters(&self) -> Result<BTreeMap<String, Counter>, AdminError> {
        self.get("counters").await
    }

    /// Forgets the call log, the counters, the actions and the timeline (`DELETE /_cwq/calls`, which is the
    /// same route as `DELETE /_cwq/counters`).
    pub async fn clear_observations(&self) -> Result<(), AdminError> {
        self.raw("DELETE", "calls", None).await.map(drop)
    }

    pub async fn functions(&self) -> Result<Vec<FunctionEntry>, AdminError> {
        self.get("functions").await
    }

    /// Registers (or replaces) a function; refused when its binary does not exist.
    pub async fn put_function(&self, config: &FunctionConfig) -> Result<FunctionConfig, AdminError> {
        self.put("functions", config).await
    }

    pub async fn schedules(&self) -> Result<Vec<Schedule>, AdminError> {
        self.get("schedules").await
    }

    /// Replaces the deployed schedules; those with an interval start running on their own.
    pub async fn put_schedules(&self, schedules: &[Schedule]) -> Result<Vec<Schedule>, AdminError> {
        self.put("schedules", schedules).await
    }

    /// Runs one schedule now, whatever its interval.
    pub async fn run_schedule(&self, name: &str) -> Result<ScheduleRun, AdminError> {
        self.call("POST", &format!("schedules/{name}/run"), None).await
    }

    /// Asks the local cloud to stop (`cwq local down`).
    pub async fn shutdown(&self) -> Result<(), AdminError> {
        self.raw("POST", "shutdown", None).await.map(drop)
    }

    /// Any route, untyped: `method /_cwq/{path}` with an optional JSON body.
    async fn raw(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, AdminError> {
        let (status, value) = exchange(
            &self.endpoint,
            method,
            &format!("/_cwq/{path}"),
            &[JSON_CONTENT],
            body,
        )
        .await
        .map_err(|e| AdminError::Unreachable {
            url: self.endpoint.clone(),
            message: e.message(),
        })?;
        if status.is_success() {
            return Ok(value);
        }
        Err(AdminError::Refused {
            what: format!("{method} /_cwq/{path}"),
            status: status.as_u16(),
            message: value["message"]
                .as_str()
                .map_or_else(|| status.to_string(), str::to_string),
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, AdminError> {
        self.call("GET", path, None).await
    }

    async fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Result<T, AdminError> {
        let body = serde_json::to_value(body).map_err(|e| malformed("PUT", path, &e))?;
        self.call("PUT", path, Some(&body)).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, AdminError> {
        let value = self.raw(method, path, body).await?;
        serde_json::from_value(value).map_err(|e| malformed(method, path, &e))
    }
}

fn malformed(method: &str, path: &str, error: &serde_json::Error) -> AdminError {
    AdminError::Malformed {
        what: format!("{method} /_cwq/{path}"),
        message: error.to_string(),
    }
}
