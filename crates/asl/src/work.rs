//! Task and Parallel: the effective input, attempts under the Retry policy, then the result
//! placed, or the error handed to the Catch. A Task invokes its resource through the host;
//! payloads are where data grows, so the 256 KiB limit is checked there.

use crate::failure::{failure, names_match, runtime, runtime_at};
use crate::run::{Run, Step};
use crate::{path, Branch, Failure, Interpreter, TaskError, LAMBDA_WAIT_FOR_TOKEN, MAX_PAYLOAD_BYTES};
use serde_json::{json, Value};

/// How long to wait before retry number `attempt` (0: the first) under `retrier`.
fn retry_delay(retrier: &Value, attempt: u32) -> f64 {
    let interval = retrier["IntervalSeconds"].as_f64().unwrap_or(1.0);
    let backoff = retrier["BackoffRate"].as_f64().unwrap_or(2.0);
    let delay = interval * backoff.powi(attempt as i32);
    match retrier["MaxDelaySeconds"].as_f64() {
        Some(cap) => delay.min(cap),
        None => delay,
    }
}

/// A Task or Parallel state at work: its run, its name and definition, and the data it was
/// entered with (what a failure resumes from).
pub(crate) struct Working<'a> {
    pub(crate) run: &'a Run,
    pub(crate) name: &'a str,
    pub(crate) state: &'a Value,
    pub(crate) data: &'a Value,
    /// A Task that waits for a task token: the token, and how long it waits at most.
    pub(crate) token: Option<(String, Option<f64>)>,
}

impl Interpreter {
    /// A Task or a Parallel: the effective input, attempts under the Retry policy, then the
    /// result placed, or the error handed to the Catch.
    pub(crate) async fn work(
        &self,
        run: &Run,
        name: &str,
        state: &Value,
        data: &Value,
        branches: Option<Vec<Branch>>,
    ) -> Result<Step, Failure> {
        let input = self.input_path(name, state, data)?;
        let token = match state["Resource"].as_str() == Some(LAMBDA_WAIT_FOR_TOKEN) {
            true => Some((self.host.issue_token(), self.timeout(name, state, &input, data)?)),
            false => None,
        };
        let effective = match &token {
            Some((token, _)) => self.fill_with_token(name, state.get("Parameters"), input, data, token)?,
            None => self.fill(name, state.get("Parameters"), input, data)?,
        };
        let working = Working {
            run,
            name,
            state,
            data,
            token,
        };
        let failure = match self.with_retries(&working, &effective, branches).await {
            Ok(result) => {
                let selected = self.fill(name, state.get("ResultSelector"), result, data)?;
                let placed = self.result_path(name, state, data, selected)?;
                return Ok(Step::Next(self.output_path(name, state, placed, data)?));
            }
            Err(failure) if failure.terminal => return Err(failure),
            Err(failure) => failure,
        };
        self.catch(name, state, data, failure)
    }

    /// `TimeoutSeconds`, or the number at `TimeoutSecondsPath` in the state's input: a positive
    /// number of seconds, or none.
    fn timeout(
        &self,
        name: &str,
        state: &Value,
        input: &Value,
        data: &Value,
    ) -> Result<Option<f64>, Failure> {
        let seconds = match (state.get("TimeoutSeconds"), state["TimeoutSecondsPath"].as_str()) {
            (Some(seconds), _) => seconds.as_f64(),
            (None, Some(p)) => path::read(input, p).map_err(runtime_at(name, data))?.as_f64(),
            (None, None) => return Ok(None),
        };
        match seconds.filter(|s| *s > 0.0) {
            Some(seconds) => Ok(Some(seconds)),
            None => Err(runtime(
                "States.Runtime",
                format!("{name}: the timeout is not a positive number of seconds"),
                name,
                data,
            )),
        }
    }

    /// Attempts until one succeeds, the failure is terminal, no retrier takes it, or the
    /// retrier that does (the first whose ErrorEquals matches) has spent its attempts.
    async fn with_retries(
        &self,
        working: &Working<'_>,
        effective: &Value,
        mut branches: Option<Vec<Branch>>,
    ) -> Result<Value, Failure> {
        let no_retriers = Vec::new();
        let retriers = working.state["Retry"].as_array().unwrap_or(&no_retriers);
        let mut attempts = vec![0u32; retriers.len()];
        loop {
            let failure = match self.attempt(working, effective, branches.take()).await {
                Err(failure) if !failure.terminal => failure,
                ended => return ended,
            };
            let Some(index) = retriers
                .iter()
                .position(|r| names_match(&r["ErrorEquals"], &failure.error))
            else {
                return Err(failure);
            };
            let retrier = &retriers[index];
            let max = retrier["MaxAttempts"].as_u64().unwrap_or(3) as u32;
            if attempts[index] >= max {
                return Err(failure);
            }
            self.host.sleep(retry_delay(retrier, attempts[index])).await;
            attempts[index] += 1;
        }
    }

    async fn attempt(
        &self,
        working: &Working<'_>,
        effective: &Value,
        branches: Option<Vec<Branch>>,
    ) -> Result<Value, Failure> {
        match working.state["Type"].as_str() {
            Some("Parallel") => self.parallel(working, effective, branches).await,
            _ => self.task(working, effective).await,
        }
    }

    /// The first catcher whose ErrorEquals matches places the error and names the next state.
    fn catch(&self, name: &str, state: &Value, data: &Value, failure: Failure) -> Result<Step, Failure> {
        let catcher = state["Catch"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| names_match(&c["ErrorEquals"], &failure.error));
        match catcher {
            Some(catcher) => {
                let caught = json!({"Error": failure.error, "Cause": failure.cause});
                let placed = self.result_path(name, catcher, data, caught)?;
                Ok(Step::Goto(
                    placed,
                    catcher["Next"].as_str().unwrap_or_default().to_string(),
                ))
            }
            None => Err(failure),
        }
    }

    /// Invokes the resource. Payloads are where data grows, so the 256 KiB limit is checked
    /// on what goes in and what comes back.
    async fn task(&self, working: &Working<'_>, input: &Value) -> Result<Value, Failure> {
        let Working {
            name, state, data, ..
        } = *working;
        let resource = state["Resource"].as_str().unwrap_or_default();
        let too_big = |what: &str, value: &Value| {
            let size = value.to_string().len();
            (size > MAX_PAYLOAD_BYTES).then(|| {
                let cause = format!("the {what} of {name} is {size} bytes, over {MAX_PAYLOAD_BYTES}");
                runtime("States.DataLimitExceeded", cause, name, data)
            })
        };
        if let Some(failure) = too_big("input", input) {
            return Err(failure);
        }
        if let Some((token, timeout)) = &working.token {
            return self.wait_for_token(working, input, token, *timeout).await;
        }
        if self.host.records() {
            self.host.record(
                "LambdaFunctionScheduled",
                json!({"lambdaFunctionScheduledEventDetails": {"resource": resource, "input": input.to_string()}}),
            );
            self.host.record("LambdaFunctionStarted", json!({}));
        }
        match self.host.invoke(resource, input.clone()).await {
            Ok(output) => {
                if let Some(failure) = too_big("output", &output) {
                    return Err(failure);
                }
                if self.host.records() {
                    self.host.record(
                        "LambdaFunctionSucceeded",
                        json!({"lambdaFunctionSucceededEventDetails": {"output": output.to_string()}}),
                    );
                }
                Ok(output)
            }
            Err(TaskError { error, cause }) => {
                self.host.record(
                    "LambdaFunctionFailed",
                    json!({"lambdaFunctionFailedEventDetails": {"error": error, "cause": cause}}),
                );
                Err(failure(error, cause, name, data))
            }
        }
    }
}

impl Interpreter {
    /// `lambda:invoke.waitForTaskToken`: invokes `FunctionName` with `Payload` (its answer is
    /// not the result), then the task's result is what SendTaskSuccess sends with the token.
    async fn wait_for_token(
        &self,
        working: &Working<'_>,
        input: &Value,
        token: &str,
        timeout: Option<f64>,
    ) -> Result<Value, Failure> {
        let Working { name, data, .. } = *working;
        let function = input["FunctionName"].as_str().unwrap_or_default();
        let payload = input.get("Payload").cloned().unwrap_or(json!({}));
        let record = |kind: &str, details: Value| {
            if self.host.records() {
                self.host.record(kind, details);
            }
        };
        record(
            "TaskScheduled",
            json!({"taskScheduledEventDetails": {"resource": LAMBDA_WAIT_FOR_TOKEN, "parameters": input.to_string(), "timeoutInSeconds": timeout}}),
        );
        let invoked = self.host.invoke(function, payload).await;
        let answered = match invoked {
            Ok(_) => {
                record(
                    "TaskSubmitted",
                    json!({"taskSubmittedEventDetails": {"resource": LAMBDA_WAIT_FOR_TOKEN}}),
                );
                self.host.wait_for_token(token.to_string(), timeout).await
            }
            Err(e) => Err(e),
        };
        match answered {
            Ok(output) => {
                record(
                    "TaskSucceeded",
                    json!({"taskSucceededEventDetails": {"output": output.to_string()}}),
                );
                Ok(output)
            }
            Err(TaskError { error, cause }) => {
                let kind = if error == "States.Timeout" {
                    "TaskTimedOut"
                } else {
                    "TaskFailed"
                };
                record(
                    kind,
                    json!({"taskFailedEventDetails": {"error": error, "cause": cause}}),
                );
                Err(failure(error, cause, name, data))
            }
        }
    }
}
