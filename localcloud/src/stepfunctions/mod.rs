//! Step Functions on the local cloud (Standard workflows, JSON 1.0 protocol): state machines,
//! executions of their real ASL (crate cwq-asl) whose Tasks invoke the Lambda host, the
//! execution history, StopExecution, and RedriveExecution as AWS documents it — the same
//! execution ARN resumes at the state that did not succeed, with that state's input; states
//! that succeeded are not run again; `redriveCount`/`redriveDate`/`redriveStatus` say so.
//! moto has no RedriveExecution, which is why this service is cwq's own
//! (docs/aws-behaviour.md). Task tokens (`lambda:invoke.waitForTaskToken`) are answered by
//! SendTaskSuccess and SendTaskFailure; a token whose task ended (timed out, stopped,
//! answered) is `TaskTimedOut`, one never issued `InvalidToken`.
//!
//! `machines` and `executions` serve the API's two halves; `host` is what an execution's
//! Tasks, waits and branches run on.

mod executions;
mod host;
mod machines;

use crate::api::ApiResponse;
use bytes::Bytes;
use cwq_asl::BoxFuture;
use executions::Execution;
use machines::Machine;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// How a Task reaches a Lambda function: the gateway's Invoke (with its faults and counters).
pub trait Invoker: Send + Sync + 'static {
    fn invoke(&self, function: &str, payload: Bytes) -> BoxFuture<ApiResponse>;
}

/// The name a Lambda timeout reaches a Task with. Lambda's payload says `Sandbox.Timedout`;
/// Step Functions documents unhandled errors, timeouts included, as `Lambda.Unknown`. The
/// default is the latter; the ASL must retry both (docs/aws-behaviour.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TimeoutName {
    #[default]
    #[serde(rename = "Lambda.Unknown")]
    LambdaUnknown,
    #[serde(rename = "Sandbox.Timedout")]
    SandboxTimedout,
}

/// What a failed call answers: `__type` and `message`, HTTP 400 (JSON 1.0).
#[derive(Debug, Clone, PartialEq)]
pub struct SfnError {
    pub code: &'static str,
    pub message: String,
}

fn error(code: &'static str, message: impl Into<String>) -> SfnError {
    SfnError {
        code,
        message: message.into(),
    }
}

impl SfnError {
    pub fn into_response(self) -> ApiResponse {
        ApiResponse::json10_error(400, self.code, &self.message)
    }
}

/// Creating what already exists: the first answer again when the call is the same (`same`),
/// else the conflict `code`.
fn recreated(same: bool, answer: Value, code: &'static str, message: String) -> Result<Value, SfnError> {
    if same {
        Ok(answer)
    } else {
        Err(error(code, message))
    }
}

fn no_machine(arn: &str) -> SfnError {
    error(
        "StateMachineDoesNotExist",
        format!("State Machine Does Not Exist: '{arn}'"),
    )
}

fn no_execution(arn: &str) -> SfnError {
    error(
        "ExecutionDoesNotExist",
        format!("Execution Does Not Exist: '{arn}'"),
    )
}

#[derive(Default)]
struct State {
    machines: BTreeMap<String, Machine>,
    executions: BTreeMap<String, Execution>,
    /// Task tokens issued and not yet answered: where SendTaskSuccess/Failure delivers.
    tokens: BTreeMap<String, tokio::sync::oneshot::Sender<Result<Value, cwq_asl::TaskError>>>,
    issued: u64,
}

/// The service: its state, shared with the tasks that run executions.
pub struct StepFunctions {
    state: Arc<Mutex<State>>,
    timeout_name: Arc<Mutex<TimeoutName>>,
    invoker: Arc<dyn Invoker>,
    region: String,
    account: String,
}

impl std::fmt::Debug for StepFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepFunctions").finish_non_exhaustive()
    }
}

/// The lock, even if a panicking holder poisoned it: the state stays usable for the calls
/// that follow.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0)
}

/// Names of state machines and executions: 1 to 80 characters, none of whitespace, brackets,
/// wildcards, punctuation Step Functions reserves, or control characters.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 80
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c))
}

fn text<'a>(request: &'a Value, key: &str) -> Result<&'a str, SfnError> {
    request[key]
        .as_str()
        .ok_or_else(|| error("ValidationException", format!("{key} is required")))
}

/// Appends an event to an execution's history (ids from 1, each naming the one before).
fn push_event(history: &mut Vec<Value>, kind: &str, details: Value) {
    let id = history.len() as u64 + 1;
    let mut event = json!({"timestamp": now(), "type": kind, "id": id, "previousEventId": id - 1});
    if let (Some(event), Some(details)) = (event.as_object_mut(), details.as_object()) {
        event.extend(details.clone());
    }
    history.push(event);
}

impl StepFunctions {
    fn send_task_success(&self, request: &Value) -> Result<Value, SfnError> {
        let output = text(request, "output")?;
        let output: Value = serde_json::from_str(output)
            .map_err(|e| error("InvalidOutput", format!("Invalid Output: '{e}'")))?;
        self.answer(text(request, "taskToken")?, Ok(output))
    }

    fn send_task_failure(&self, request: &Value) -> Result<Value, SfnError> {
        let failed = cwq_asl::TaskError {
            error: request["error"].as_str().unwrap_or_default().to_string(),
            cause: request["cause"].as_str().unwrap_or_default().to_string(),
        };
        self.answer(text(request, "taskToken")?, Err(failed))
    }

    /// Delivers the answer to the task waiting on `token`.
    fn answer(&self, token: &str, answer: Result<Value, cwq_asl::TaskError>) -> Result<Value, SfnError> {
        let mut state = lock(&self.state);
        let Some(waiting) = state.tokens.remove(token) else {
            return Err(match token.starts_with(host::TOKEN_PREFIX) {
                true => error("TaskTimedOut", "Task Timed Out: the task of this token is closed"),
                false => error("InvalidToken", "Invalid Token: not a task token"),
            });
        };
        match waiting.send(answer) {
            Ok(()) => Ok(json!({})),
            Err(_) => Err(error(
                "TaskTimedOut",
                "Task Timed Out: the task of this token is closed",
            )),
        }
    }

    pub fn new(invoker: Arc<dyn Invoker>, region: &str, account: &str) -> Self {
        Self {
            state: Arc::default(),
            timeout_name: Arc::default(),
            invoker,
            region: region.into(),
            account: account.into(),
        }
    }

    pub fn timeout_name(&self) -> TimeoutName {
        *lock(&self.timeout_name)
    }

    pub fn set_timeout_name(&self, name: TimeoutName) {
        *lock(&self.timeout_name) = name;
    }

    /// One call: the operation from `X-Amz-Target` (`AWSStepFunctions.<Operation>`).
    pub fn handle(&self, operation: &str, body: &[u8]) -> ApiResponse {
        let request: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return error("SerializationException", format!("the body is not JSON: {e}")).into_response()
            }
        };
        let answered = match operation {
            "CreateStateMachine" => self.create_state_machine(&request),
            "UpdateStateMachine" => self.update_state_machine(&request),
            "DescribeStateMachine" => self.describe_state_machine(&request),
            "ListStateMachines" => Ok(self.list_state_machines()),
            "DeleteStateMachine" => self.delete_state_machine(&request),
            "StartExecution" => self.start_execution(&request),
            "DescribeExecution" => self.describe_execution(&request),
            "ListExecutions" => self.list_executions(&request),
            "StopExecution" => self.stop_execution(&request),
            "GetExecutionHistory" => self.history(&request),
            "RedriveExecution" => self.redrive_execution(&request),
            "SendTaskSuccess" => self.send_task_success(&request),
            "SendTaskFailure" => self.send_task_failure(&request),
            other => Err(error(
                "UnknownOperationException",
                format!("the local Step Functions does not serve {other}"),
            )),
        };
        match answered {
            Ok(value) => {
                let mut response = ApiResponse::ok(&value);
                response.headers = vec![("content-type".into(), "application/x-amz-json-1.0".into())];
                response
            }
            Err(e) => e.into_response(),
        }
    }
}

/// Where a List/GetExecutionHistory page starts (our `nextToken` is an offset) and how long it
/// is: `maxResults`, 100 by default, at most 1,000, as AWS pages them.
fn paging(request: &Value) -> (usize, usize) {
    let start = request["nextToken"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let size = request["maxResults"]
        .as_u64()
        .filter(|n| *n > 0)
        .unwrap_or(100)
        .min(1000) as usize;
    (start, size)
}

/// One page of `items`, rendered, under `key`, with a `nextToken` when more follow.
fn page<T>(request: &Value, items: &[T], render: impl Fn(&T) -> Value, key: &str) -> Value {
    let (start, size) = paging(request);
    let page: Vec<Value> = items.iter().skip(start).take(size).map(render).collect();
    let mut answer = json!({ key: page });
    if start + size < items.len() {
        answer["nextToken"] = json!((start + size).to_string());
    }
    answer
}
