//! Step Functions on the local cloud (Standard workflows, JSON 1.0 protocol): state machines,
//! executions of their real ASL (crate cwq-asl) whose Tasks invoke the Lambda host, the
//! execution history, StopExecution, and RedriveExecution as AWS documents it — the same
//! execution ARN resumes at the state that did not succeed, with that state's input; states
//! that succeeded are not run again; `redriveCount`/`redriveDate`/`redriveStatus` say so.
//! moto has no RedriveExecution, which is why this service is cwq's own
//! (docs/aws-behaviour.md).

use crate::api::ApiResponse;
use bytes::Bytes;
use cwq_asl::{BoxFuture, Ended, Failure, Host, Interpreter, Progress, Resume, TaskError};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// How a Task reaches a Lambda function: the gateway's Invoke (with its faults and counters).
pub trait Invoker: Send + Sync + 'static {
    fn invoke(&self, function: &str, payload: Bytes) -> BoxFuture<ApiResponse>;
}

/// The name a Lambda timeout reaches a Task with. Lambda's payload says `Sandbox.Timedout`;
/// the Step Functions guide says unhandled errors, timeouts included, are `Lambda.Unknown`.
/// The default is the guide's; the ASL must retry both (docs/aws-behaviour.md).
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
        let mut response = ApiResponse::json(400, &json!({"__type": self.code, "message": self.message}));
        response
            .headers
            .push(("x-amzn-errortype".into(), self.code.into()));
        response
    }
}

#[derive(Debug, Clone)]
struct Machine {
    arn: String,
    name: String,
    definition: String,
    role_arn: String,
    created: f64,
}

#[derive(Debug)]
struct Execution {
    arn: String,
    name: String,
    machine_arn: String,
    /// The definition it started with: a redrive runs the same one.
    definition: Arc<Value>,
    input: String,
    status: &'static str,
    started: f64,
    stopped: Option<f64>,
    output: Option<String>,
    error: Option<String>,
    cause: Option<String>,
    redrive_count: u32,
    redrive_date: Option<f64>,
    /// Where a redrive resumes (set when it ends unsuccessfully).
    resume: Option<Resume>,
    progress: Progress,
    history: Vec<Value>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Default)]
struct State {
    machines: BTreeMap<String, Machine>,
    executions: BTreeMap<String, Execution>,
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

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        *self
            .timeout_name
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn set_timeout_name(&self, name: TimeoutName) {
        *self
            .timeout_name
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = name;
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

    fn machine_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{name}",
            self.region, self.account
        )
    }

    /// The definition parsed and checked: the States Language, and Task resources this local
    /// cloud can run (Lambda function ARNs).
    fn checked_definition(text: &str) -> Result<Value, SfnError> {
        let invalid = |why: String| {
            error(
                "InvalidDefinition",
                format!("Invalid State Machine Definition: '{why}'"),
            )
        };
        let definition: Value =
            serde_json::from_str(text).map_err(|e| invalid(format!("INVALID_JSON_DESCRIPTION: {e}")))?;
        let mut problems = cwq_asl::validate::problems(&definition);
        let mut resources = Vec::new();
        collect_resources(&definition, &mut resources);
        for resource in resources {
            if function_name(&resource).is_none() {
                problems.push(format!(
                    "Resource {resource:?}: only Lambda function ARNs run locally"
                ));
            }
        }
        if problems.is_empty() {
            Ok(definition)
        } else {
            Err(invalid(format!(
                "SCHEMA_VALIDATION_FAILED: {}",
                problems.join("; ")
            )))
        }
    }

    fn create_state_machine(&self, request: &Value) -> Result<Value, SfnError> {
        let name = text(request, "name")?;
        let definition = text(request, "definition")?;
        let role_arn = text(request, "roleArn")?;
        if !valid_name(name) {
            return Err(error("InvalidName", format!("Invalid Name: '{name}'")));
        }
        if request["type"].as_str().is_some_and(|t| t != "STANDARD") {
            return Err(error(
                "ValidationException",
                "only STANDARD state machines run locally",
            ));
        }
        Self::checked_definition(definition)?;
        let arn = self.machine_arn(name);
        let mut state = lock(&self.state);
        if let Some(existing) = state.machines.get(&arn) {
            // Idempotent for the same definition and role, as on AWS.
            if existing.definition == definition && existing.role_arn == role_arn {
                return Ok(json!({"stateMachineArn": arn, "creationDate": existing.created}));
            }
            return Err(error(
                "StateMachineAlreadyExists",
                format!("State Machine Already Exists: '{arn}'"),
            ));
        }
        let created = now();
        state.machines.insert(
            arn.clone(),
            Machine {
                arn: arn.clone(),
                name: name.into(),
                definition: definition.into(),
                role_arn: role_arn.into(),
                created,
            },
        );
        Ok(json!({"stateMachineArn": arn, "creationDate": created}))
    }

    fn update_state_machine(&self, request: &Value) -> Result<Value, SfnError> {
        let arn = text(request, "stateMachineArn")?;
        if let Some(definition) = request["definition"].as_str() {
            Self::checked_definition(definition)?;
        }
        let mut state = lock(&self.state);
        let machine = state.machines.get_mut(arn).ok_or_else(|| {
            error(
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{arn}'"),
            )
        })?;
        if let Some(definition) = request["definition"].as_str() {
            machine.definition = definition.into();
        }
        if let Some(role) = request["roleArn"].as_str() {
            machine.role_arn = role.into();
        }
        Ok(json!({"updateDate": now()}))
    }

    fn describe_state_machine(&self, request: &Value) -> Result<Value, SfnError> {
        let arn = text(request, "stateMachineArn")?;
        let state = lock(&self.state);
        let m = state.machines.get(arn).ok_or_else(|| {
            error(
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{arn}'"),
            )
        })?;
        Ok(
            json!({"stateMachineArn": m.arn, "name": m.name, "status": "ACTIVE", "definition": m.definition,
                  "roleArn": m.role_arn, "type": "STANDARD", "creationDate": m.created}),
        )
    }

    fn list_state_machines(&self) -> Value {
        let state = lock(&self.state);
        let machines: Vec<Value> = state
            .machines
            .values()
            .map(|m| json!({"stateMachineArn": m.arn, "name": m.name, "type": "STANDARD", "creationDate": m.created}))
            .collect();
        json!({"stateMachines": machines})
    }

    fn delete_state_machine(&self, request: &Value) -> Result<Value, SfnError> {
        let arn = text(request, "stateMachineArn")?;
        lock(&self.state).machines.remove(arn);
        Ok(json!({}))
    }

    fn start_execution(&self, request: &Value) -> Result<Value, SfnError> {
        let machine_arn = text(request, "stateMachineArn")?;
        let input = request["input"].as_str().unwrap_or("{}").to_string();
        let parsed: Value = serde_json::from_str(&input).map_err(|e| {
            error(
                "InvalidExecutionInput",
                format!("Invalid State Machine Execution Input: '{e}'"),
            )
        })?;
        let name = match request["name"].as_str() {
            Some(name) => name.to_string(),
            None => format!("{:032x}", (now() * 1_000_000.0) as u128 ^ 0x5eed),
        };
        if !valid_name(&name) {
            return Err(error("InvalidName", format!("Invalid Name: '{name}'")));
        }
        let mut state = lock(&self.state);
        let machine = state.machines.get(machine_arn).cloned().ok_or_else(|| {
            error(
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{machine_arn}'"),
            )
        })?;
        let arn = format!(
            "arn:aws:states:{}:{}:execution:{}:{name}",
            self.region, self.account, machine.name
        );
        if let Some(existing) = state.executions.get(&arn) {
            // Standard workflows: the same name and input while it runs is the same execution.
            if existing.status == "RUNNING" && existing.input == input {
                return Ok(json!({"executionArn": arn, "startDate": existing.started}));
            }
            return Err(error(
                "ExecutionAlreadyExists",
                format!("Execution Already Exists: '{arn}'"),
            ));
        }
        let definition: Value = serde_json::from_str(&machine.definition).unwrap_or_default();
        let started = now();
        let mut history = Vec::new();
        push_event(
            &mut history,
            "ExecutionStarted",
            json!({"executionStartedEventDetails": {"input": input, "roleArn": machine.role_arn}}),
        );
        state.executions.insert(
            arn.clone(),
            Execution {
                arn: arn.clone(),
                name: name.clone(),
                machine_arn: machine_arn.into(),
                definition: Arc::new(definition),
                input: input.clone(),
                status: "RUNNING",
                started,
                stopped: None,
                output: None,
                error: None,
                cause: None,
                redrive_count: 0,
                redrive_date: None,
                resume: None,
                progress: Arc::default(),
                history,
                task: None,
            },
        );
        drop(state);
        self.run(&arn, None, parsed);
        Ok(json!({"executionArn": arn, "startDate": started}))
    }

    /// Runs (or resumes) an execution in the background.
    fn run(&self, arn: &str, from: Option<Resume>, input: Value) {
        let (definition, progress, context) = {
            let state = lock(&self.state);
            let Some(e) = state.executions.get(arn) else {
                return;
            };
            let context = json!({"Execution": {"Id": e.arn, "Name": e.name, "Input": input,
                                               "RedriveCount": e.redrive_count},
                                 "StateMachine": {"Id": e.machine_arn}});
            (e.definition.clone(), e.progress.clone(), context)
        };
        let host = Arc::new(LocalHost {
            timeout_name: self.timeout_name.clone(),
            invoker: self.invoker.clone(),
            state: self.state.clone(),
            execution: arn.to_string(),
        });
        let interpreter = Interpreter::new(host, context);
        let state = self.state.clone();
        let arn_owned = arn.to_string();
        let task = tokio::spawn(async move {
            let ended = match from {
                Some(from) => interpreter.resume(&definition, from, progress).await,
                None => interpreter.start(&definition, input, progress).await,
            };
            let mut state = lock(&state);
            let Some(e) = state.executions.get_mut(&arn_owned) else {
                return;
            };
            e.stopped = Some(now());
            match ended {
                Ended::Succeeded(output) => {
                    e.status = "SUCCEEDED";
                    e.output = Some(output.to_string());
                    e.resume = None;
                    push_event(
                        &mut e.history,
                        "ExecutionSucceeded",
                        json!({"executionSucceededEventDetails": {"output": output.to_string()}}),
                    );
                }
                Ended::Failed(Failure {
                    error, cause, resume, ..
                }) => {
                    e.status = "FAILED";
                    push_event(
                        &mut e.history,
                        "ExecutionFailed",
                        json!({"executionFailedEventDetails": {"error": error, "cause": cause}}),
                    );
                    e.error = Some(error);
                    e.cause = Some(cause);
                    e.resume = Some(*resume);
                }
            }
            e.task = None;
        });
        if let Some(e) = lock(&self.state).executions.get_mut(arn) {
            e.task = Some(task);
        }
    }

    fn find<'a>(state: &'a State, arn: &str) -> Result<&'a Execution, SfnError> {
        state.executions.get(arn).ok_or_else(|| {
            error(
                "ExecutionDoesNotExist",
                format!("Execution Does Not Exist: '{arn}'"),
            )
        })
    }

    fn describe_execution(&self, request: &Value) -> Result<Value, SfnError> {
        let arn = text(request, "executionArn")?;
        let state = lock(&self.state);
        let e = Self::find(&state, arn)?;
        let mut described = json!({
            "executionArn": e.arn, "stateMachineArn": e.machine_arn, "name": e.name,
            "status": e.status, "startDate": e.started, "input": e.input,
            "redriveCount": e.redrive_count,
        });
        let (redrivable, reason) = redrivable(e);
        described["redriveStatus"] = json!(if redrivable {
            "REDRIVABLE"
        } else {
            "NOT_REDRIVABLE"
        });
        if let Some(reason) = reason {
            described["redriveStatusReason"] = json!(reason);
        }
        for (key, value) in [
            ("stopDate", e.stopped.map(Value::from)),
            ("output", e.output.clone().map(Value::from)),
            ("error", e.error.clone().map(Value::from)),
            ("cause", e.cause.clone().map(Value::from)),
            ("redriveDate", e.redrive_date.map(Value::from)),
        ] {
            if let Some(value) = value {
                described[key] = value;
            }
        }
        Ok(described)
    }

    fn list_executions(&self, request: &Value) -> Result<Value, SfnError> {
        let machine = text(request, "stateMachineArn")?;
        let status = request["statusFilter"].as_str();
        let redriven = request["redriveFilter"].as_str();
        let state = lock(&self.state);
        if !state.machines.contains_key(machine) {
            return Err(error(
                "StateMachineDoesNotExist",
                format!("State Machine Does Not Exist: '{machine}'"),
            ));
        }
        let mut listed: Vec<&Execution> = state
            .executions
            .values()
            .filter(|e| e.machine_arn == machine)
            .filter(|e| status.is_none_or(|s| s == e.status))
            .filter(|e| match redriven {
                Some("REDRIVEN") => e.redrive_count > 0,
                Some("NOT_REDRIVEN") => e.redrive_count == 0,
                _ => true,
            })
            .collect();
        // Newest first, as AWS lists them.
        listed.sort_by(|a, b| b.started.total_cmp(&a.started));
        let (start, size) = paging(request);
        let page: Vec<Value> = listed
            .iter()
            .skip(start)
            .take(size)
            .map(|e| {
                let mut item = json!({"executionArn": e.arn, "stateMachineArn": e.machine_arn, "name": e.name,
                                      "status": e.status, "startDate": e.started, "redriveCount": e.redrive_count});
                if let Some(stopped) = e.stopped {
                    item["stopDate"] = json!(stopped);
                }
                if let Some(date) = e.redrive_date {
                    item["redriveDate"] = json!(date);
                }
                item
            })
            .collect();
        let mut answer = json!({"executions": page});
        if start + size < listed.len() {
            answer["nextToken"] = json!((start + size).to_string());
        }
        Ok(answer)
    }

    fn stop_execution(&self, request: &Value) -> Result<Value, SfnError> {
        let arn = text(request, "executionArn")?;
        let mut state = lock(&self.state);
        let e = state.executions.get_mut(arn).ok_or_else(|| {
            error(
                "ExecutionDoesNotExist",
                format!("Execution Does Not Exist: '{arn}'"),
            )
        })?;
        if e.status != "RUNNING" {
            return Ok(json!({"stopDate": e.stopped.unwrap_or_else(now)}));
        }
        if let Some(task) = e.task.take() {
            task.abort();
        }
        let stopped = now();
        e.status = "ABORTED";
        e.stopped = Some(stopped);
        e.error = request["error"].as_str().map(str::to_string);
        e.cause = request["cause"].as_str().map(str::to_string);
        // A redrive of an aborted execution resumes at the state it was in.
        e.resume = e
            .progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        push_event(
            &mut e.history,
            "ExecutionAborted",
            json!({"executionAbortedEventDetails": {"error": e.error, "cause": e.cause}}),
        );
        Ok(json!({"stopDate": stopped}))
    }

    fn history(&self, request: &Value) -> Result<Value, SfnError> {
        let arn = text(request, "executionArn")?;
        let state = lock(&self.state);
        let e = Self::find(&state, arn)?;
        let mut events = e.history.clone();
        if request["includeExecutionData"].as_bool() == Some(false) {
            for details in events
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .flat_map(|e| e.values_mut())
            {
                if let Some(details) = details.as_object_mut() {
                    details.remove("input");
                    details.remove("output");
                }
            }
        }
        if request["reverseOrder"].as_bool() == Some(true) {
            events.reverse();
        }
        let (start, size) = paging(request);
        let page: Vec<Value> = events.iter().skip(start).take(size).cloned().collect();
        let mut answer = json!({"events": page});
        if start + size < events.len() {
            answer["nextToken"] = json!((start + size).to_string());
        }
        Ok(answer)
    }

    fn redrive_execution(&self, request: &Value) -> Result<Value, SfnError> {
        let arn = text(request, "executionArn")?;
        let (from, input, date) = {
            let mut state = lock(&self.state);
            let e = state.executions.get_mut(arn).ok_or_else(|| {
                error(
                    "ExecutionDoesNotExist",
                    format!("Execution Does Not Exist: '{arn}'"),
                )
            })?;
            if let (false, Some(reason)) = redrivable(e) {
                return Err(error("ExecutionNotRedrivable", reason));
            }
            let from = e.resume.clone().ok_or_else(|| {
                error(
                    "ExecutionNotRedrivable",
                    format!("Execution {arn} has no unsuccessful step to redrive"),
                )
            })?;
            let date = now();
            e.status = "RUNNING";
            e.stopped = None;
            e.error = None;
            e.cause = None;
            e.redrive_count += 1;
            e.redrive_date = Some(date);
            let count = e.redrive_count;
            push_event(
                &mut e.history,
                "ExecutionRedriven",
                json!({"executionRedrivenEventDetails": {"redriveCount": count}}),
            );
            let input: Value = serde_json::from_str(&e.input).unwrap_or_default();
            (from, input, date)
        };
        self.run(arn, Some(from), input);
        Ok(json!({"redriveDate": date}))
    }
}

/// Whether an execution may be redriven, and if not, why (AWS's reasons; the 14-day window
/// and the 24,999-event limit are not reached locally).
fn redrivable(e: &Execution) -> (bool, Option<String>) {
    match e.status {
        "FAILED" | "TIMED_OUT" | "ABORTED" if e.redrive_count < 1000 => (true, None),
        "FAILED" | "TIMED_OUT" | "ABORTED" => (false, Some("Execution has been redriven 1000 times".into())),
        status => (
            false,
            Some(format!("Execution is {status} and cannot be redriven")),
        ),
    }
}

/// Every Task's `Resource` in a definition, branches included.
fn collect_resources(definition: &Value, out: &mut Vec<String>) {
    for state in definition["States"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, s)| s)
    {
        if let Some(resource) = state["Resource"].as_str() {
            out.push(resource.to_string());
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            collect_resources(branch, out);
        }
    }
}

/// `arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]` → the name.
fn function_name(resource: &str) -> Option<String> {
    let parts: Vec<&str> = resource.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name] | ["arn", _, "lambda", _, _, "function", name, _] => {
            Some((*name).to_string())
        }
        _ => None,
    }
}

/// An execution's host: Tasks invoke the Lambda host, waits are real time, branches are
/// tokio tasks (aborted with the execution), events go to the execution's history.
struct LocalHost {
    timeout_name: Arc<Mutex<TimeoutName>>,
    invoker: Arc<dyn Invoker>,
    state: Arc<Mutex<State>>,
    execution: String,
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
        let timeout_name = *self
            .timeout_name
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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
