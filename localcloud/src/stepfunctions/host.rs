//! An execution's host: Tasks invoke the Lambda host through the gateway (a Lambda answer
//! becomes the Task's result or its named error), waits are real time, branches are tokio
//! tasks aborted with the execution, and events go to the execution's history.

use super::machines::function_name;
use super::{lock, push_event, Invoker, State, TimeoutName};
use crate::api::ApiResponse;
use bytes::Bytes;
use cwq_asl::{BoxFuture, Failure, Host, Resume, TaskError};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// The host of the execution `execution`, sharing the service's state.
pub(super) struct LocalHost {
    pub(super) timeout_name: Arc<Mutex<TimeoutName>>,
    pub(super) invoker: Arc<dyn Invoker>,
    pub(super) state: Arc<Mutex<State>>,
    pub(super) execution: String,
}

/// How this local cloud's task tokens begin (one not beginning so was never issued).
pub(super) const TOKEN_PREFIX: &str = "AQCcwqlocal";

/// Tokens are opaque: a hash of the execution and the time keeps them from being guessed in
/// sequence.
fn token_salt(execution: &str) -> u128 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    execution.hash(&mut hasher);
    std::time::SystemTime::now().hash(&mut hasher);
    u128::from(hasher.finish()) << 32 | u128::from(std::process::id())
}

/// A spawned branch that is aborted when nobody waits for it any more.
struct Branch(tokio::task::JoinHandle<Result<Value, Failure>>);

impl Drop for Branch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Host for LocalHost {
    fn invoke(&self, resource: &str, input: Value) -> BoxFuture<Result<Value, TaskError>> {
        let invoker = self.invoker.clone();
        let name = function_name(resource);
        let timeout_name = *lock(&self.timeout_name);
        Box::pin(async move {
            let name = name.ok_or_else(|| TaskError {
                error: "States.Runtime".into(),
                cause: "not a Lambda function ARN".into(),
            })?;
            let response = invoker.invoke(&name, Bytes::from(input.to_string())).await;
            task_result(&response).map_err(|e| match (e.error.as_str(), timeout_name) {
                ("Sandbox.Timedout", TimeoutName::LambdaUnknown) => TaskError {
                    error: "Lambda.Unknown".into(),
                    ..e
                },
                _ => e,
            })
        })
    }

    fn issue_token(&self) -> String {
        let mut state = lock(&self.state);
        state.issued += 1;
        let token = format!(
            "{TOKEN_PREFIX}{:08x}{:024x}",
            state.issued,
            token_salt(&self.execution)
        );
        token
    }

    fn wait_for_token(&self, token: String, timeout: Option<f64>) -> BoxFuture<Result<Value, TaskError>> {
        let (sender, answer) = tokio::sync::oneshot::channel();
        lock(&self.state).tokens.insert(token.clone(), sender);
        let state = self.state.clone();
        Box::pin(async move {
            let answered = match timeout {
                Some(seconds) => tokio::time::timeout(std::time::Duration::from_secs_f64(seconds), answer)
                    .await
                    .ok(),
                None => Some(answer.await),
            };
            lock(&state).tokens.remove(&token);
            match answered {
                Some(Ok(answer)) => answer,
                Some(Err(_)) => Err(TaskError {
                    error: "States.Runtime".into(),
                    cause: "the task token was dropped".into(),
                }),
                None => Err(TaskError {
                    error: "States.Timeout".into(),
                    cause: format!(
                        "no answer to the task token within {} s",
                        timeout.unwrap_or_default()
                    ),
                }),
            }
        })
    }

    fn sleep(&self, seconds: f64) -> BoxFuture<()> {
        Box::pin(tokio::time::sleep(std::time::Duration::from_secs_f64(
            seconds.max(0.0),
        )))
    }

    fn spawn(&self, branch: BoxFuture<Result<Value, Failure>>) -> BoxFuture<Result<Value, Failure>> {
        let handle = Branch(tokio::spawn(branch));
        Box::pin(async move {
            let mut handle = handle;
            match (&mut handle.0).await {
                Ok(ended) => ended,
                Err(e) => Err(Failure {
                    error: "States.Runtime".into(),
                    cause: format!("a branch ended abnormally: {e}"),
                    resume: Box::new(Resume {
                        state: String::new(),
                        input: Value::Null,
                        branches: None,
                    }),
                    terminal: true,
                }),
            }
        })
    }

    fn records(&self) -> bool {
        true
    }

    fn record(&self, kind: &str, details: Value) {
        if let Some(e) = lock(&self.state).executions.get_mut(&self.execution) {
            push_event(&mut e.history, kind, details);
        }
    }
}

/// A Lambda Invoke's answer as a Task sees it: the payload; a function error by its
/// `errorType` with the error document as the cause; a Lambda service error as `Lambda.<code>`.
fn task_result(response: &ApiResponse) -> Result<Value, TaskError> {
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let body = String::from_utf8_lossy(&response.body).to_string();
    if response.status >= 300 {
        let code = header("x-amzn-errortype")
            .map(|c| c.split(':').next().unwrap_or(c).to_string())
            .or_else(|| {
                let parsed: Value = serde_json::from_str(&body).ok()?;
                parsed["__type"].as_str().map(str::to_string)
            })
            .unwrap_or_else(|| "AWSLambdaException".into());
        return Err(TaskError {
            error: format!("Lambda.{code}"),
            cause: body,
        });
    }
    if header("x-amz-function-error").is_some() {
        let parsed: Value = serde_json::from_str(&body).unwrap_or_default();
        return Err(TaskError {
            error: parsed["errorType"]
                .as_str()
                .unwrap_or("Lambda.Unknown")
                .to_string(),
            cause: body,
        });
    }
    if body.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&body).map_err(|e| TaskError {
        error: "States.Runtime".into(),
        cause: format!("the function returned a payload that is not JSON: {e}"),
    })
}
