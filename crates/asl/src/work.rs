//! Task and Parallel: the effective input, attempts under the Retry policy, then the result
//! placed, or the error handed to the Catch. A Task invokes its resource through the host;
//! payloads are where data grows, so the 256 KiB limit is checked there.

use crate::failure::{failure, names_match, runtime};
use crate::run::{Run, Step};
use crate::{Branch, Failure, Interpreter, TaskError, MAX_PAYLOAD_BYTES};
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
        let effective = self.fill(name, state.get("Parameters"), input, data)?;
        let working = Working {
            run,
            name,
            state,
            data,
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
