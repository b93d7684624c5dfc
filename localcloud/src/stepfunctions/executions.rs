//! Executions of Standard workflows: started by name (the same name and input while running
//! is the same execution), run in the background by the ASL interpreter, described, listed,
//! stopped, their history paged, and redriven from the state that did not succeed.

use super::host::LocalHost;
use super::machines::Machine;
use super::{
    error, lock, no_execution, no_machine, now, page, push_event, recreated, text, valid_name, SfnError,
    State, StepFunctions,
};
use cwq_asl::{Ended, Failure, Interpreter, Progress, Resume};
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug)]
pub(super) struct Execution {
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
    pub(super) history: Vec<Value>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Execution {
    /// A RUNNING execution of `machine`'s current definition, its history begun.
    fn new(arn: String, name: String, machine: &Machine, input: String) -> Self {
        let definition: Value = serde_json::from_str(&machine.definition).unwrap_or_default();
        let mut history = Vec::new();
        push_event(
            &mut history,
            "ExecutionStarted",
            json!({"executionStartedEventDetails": {"input": input, "roleArn": machine.role_arn}}),
        );
        Self {
            arn,
            name,
            machine_arn: machine.arn.clone(),
            definition: Arc::new(definition),
            input,
            status: "RUNNING",
            started: now(),
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
        }
    }
}

impl StepFunctions {
    pub(super) fn start_execution(&self, request: &Value) -> Result<Value, SfnError> {
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
        let machine = state
            .machines
            .get(machine_arn)
            .cloned()
            .ok_or_else(|| no_machine(machine_arn))?;
        let arn = format!(
            "arn:aws:states:{}:{}:execution:{}:{name}",
            self.region, self.account, machine.name
        );
        if let Some(existing) = state.executions.get(&arn) {
            // Standard workflows: the same name and input while it runs is the same execution.
            let same = existing.status == "RUNNING" && existing.input == input;
            let answer = json!({"executionArn": arn, "startDate": existing.started});
            let message = format!("Execution Already Exists: '{arn}'");
            return recreated(same, answer, "ExecutionAlreadyExists", message);
        }
        let execution = Execution::new(arn.clone(), name, &machine, input);
        let started = execution.started;
        state.executions.insert(arn.clone(), execution);
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
            if let Some(e) = lock(&state).executions.get_mut(&arn_owned) {
                finish(e, ended);
            }
        });
        if let Some(e) = lock(&self.state).executions.get_mut(arn) {
            e.task = Some(task);
        }
    }

    fn find<'a>(state: &'a State, arn: &str) -> Result<&'a Execution, SfnError> {
        state.executions.get(arn).ok_or_else(|| no_execution(arn))
    }

    pub(super) fn describe_execution(&self, request: &Value) -> Result<Value, SfnError> {
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

    pub(super) fn list_executions(&self, request: &Value) -> Result<Value, SfnError> {
        let machine = text(request, "stateMachineArn")?;
        let status = request["statusFilter"].as_str();
        let redriven = request["redriveFilter"].as_str();
        let state = lock(&self.state);
        if !state.machines.contains_key(machine) {
            return Err(no_machine(machine));
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
        let render = |e: &&Execution| {
            let mut item = json!({"executionArn": e.arn, "stateMachineArn": e.machine_arn, "name": e.name,
                                  "status": e.status, "startDate": e.started, "redriveCount": e.redrive_count});
            if let Some(stopped) = e.stopped {
                item["stopDate"] = json!(stopped);
            }
            if let Some(date) = e.redrive_date {
                item["redriveDate"] = json!(date);
            }
            item
        };
        Ok(page(request, &listed, render, "executions"))
    }

    pub(super) fn stop_execution(&self, request: &Value) -> Result<Value, SfnError> {
        let arn = text(request, "executionArn")?;
        let mut state = lock(&self.state);
        let e = state.executions.get_mut(arn).ok_or_else(|| no_execution(arn))?;
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
        e.resume = lock(&e.progress).clone();
        push_event(
            &mut e.history,
            "ExecutionAborted",
            json!({"executionAbortedEventDetails": {"error": e.error, "cause": e.cause}}),
        );
        Ok(json!({"stopDate": stopped}))
    }

    pub(super) fn history(&self, request: &Value) -> Result<Value, SfnError> {
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
        Ok(page(request, &events, Value::clone, "events"))
    }

    pub(super) fn redrive_execution(&self, request: &Value) -> Result<Value, SfnError> {
        let arn = text(request, "executionArn")?;
        let (from, input, date) = {
            let mut state = lock(&self.state);
            let e = state.executions.get_mut(arn).ok_or_else(|| no_execution(arn))?;
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

/// An execution's end: its status, output or error, where a redrive would resume, and the
/// event that says so.
fn finish(e: &mut Execution, ended: Ended) {
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
