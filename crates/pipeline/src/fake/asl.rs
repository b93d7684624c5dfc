//! An in-process interpreter of the state machines' ASL (statemachine/*.asl.json), enough of
//! the language for cwq's definitions: Task (Parameters, InputPath, ResultPath, Retry, Catch),
//! Choice, Wait, Parallel (branches run as separate tasks of the scheduler), Pass, Succeed and
//! Fail. Tasks run the real step code over the fakes; a step that panics is a crashed Lambda.
//! The model-checking test runs the real definitions with it, so the flow it proves is the
//! flow that is deployed.

use super::sim::Sim;
use crate::ports::Ports;
use crate::steps::Step;
use serde_json::{json, Map, Value};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    Succeeded(Value),
    /// Failed at `state` (a Fail state or a Task whose error nothing caught), with its input:
    /// what a redrive resumes from.
    Failed {
        error: String,
        cause: String,
        state: String,
        input: Value,
    },
}

/// The error names a crashed Lambda is reported with (the Step Functions guide: unhandled
/// errors, timeouts and out-of-memory may be reported as `Lambda.Unknown`).
pub const CRASH_NAMES: [&str; 3] = ["Lambda.Unknown", "Sandbox.Timedout", "Runtime.ExitError"];

#[derive(Debug, Clone)]
pub struct Interpreter {
    pub sim: Sim,
    pub ports: Ports,
}

type Run<'a> = Pin<Box<dyn Future<Output = Result<Value, Failure>> + Send + 'a>>;

#[derive(Debug, Clone)]
struct Failure {
    error: String,
    cause: String,
    state: String,
    input: Value,
}

impl Interpreter {
    /// Runs `definition` on `input` from its StartAt (or from `from`, for a redrive).
    pub async fn execute(
        &self,
        definition: &Value,
        execution_arn: &str,
        input: Value,
        from: Option<&str>,
    ) -> Ended {
        let start = from.map_or_else(
            || definition["StartAt"].as_str().unwrap_or_default().to_string(),
            str::to_string,
        );
        let states = definition["States"].clone();
        match self
            .clone()
            .run(states, start, input, execution_arn.to_string())
            .await
        {
            Ok(output) => Ended::Succeeded(output),
            Err(f) => Ended::Failed {
                error: f.error,
                cause: f.cause,
                state: f.state,
                input: f.input,
            },
        }
    }

    fn run(self, states: Value, start: String, input: Value, execution: String) -> Run<'static> {
        Box::pin(async move {
            let mut name = start;
            let mut data = input;
            loop {
                let state = states[&name].clone();
                let next = state["Next"].as_str().map(str::to_string);
                let fail = |error: String, cause: String, input: &Value| Failure {
                    error,
                    cause,
                    state: name.clone(),
                    input: input.clone(),
                };
                match state["Type"].as_str().unwrap_or_default() {
                    "Task" => {
                        let effective = parameters(&state, &data, &execution);
                        match self.task(&state, effective).await {
                            Ok(result) => data = result_path(&state, data, result),
                            Err((error, cause)) => match catch(&state, &error) {
                                Some(target) => {
                                    let caught = json!({"Error": error, "Cause": cause});
                                    data = result_path(&catcher(&state, &error), data, caught);
                                    name = target;
                                    continue;
                                }
                                None => return Err(fail(error, cause, &data)),
                            },
                        }
                    }
                    "Parallel" => {
                        let effective = parameters(&state, &data, &execution);
                        match self.parallel(&state, effective, &execution).await {
                            Ok(results) => data = result_path(&state, data, results),
                            Err(f) => match catch(&state, &f.error) {
                                Some(target) => {
                                    let caught = json!({"Error": f.error, "Cause": f.cause});
                                    data = result_path(&catcher(&state, &f.error), data, caught);
                                    name = target;
                                    continue;
                                }
                                None => return Err(fail(f.error, f.cause, &data)),
                            },
                        }
                    }
                    "Choice" => {
                        let chosen = state["Choices"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|rule| matches(rule, &data))
                            .and_then(|rule| rule["Next"].as_str())
                            .or_else(|| state["Default"].as_str());
                        match chosen {
                            Some(target) => {
                                name = target.to_string();
                                continue;
                            }
                            None => return Err(fail("States.NoChoiceMatched".into(), String::new(), &data)),
                        }
                    }
                    "Wait" => {
                        let seconds = state["Seconds"]
                            .as_f64()
                            .or_else(|| {
                                get(&data, state["SecondsPath"].as_str().unwrap_or("$"))
                                    .and_then(Value::as_f64)
                            })
                            .unwrap_or(0.0);
                        self.sim.sleep(seconds).await;
                    }
                    "Pass" => {
                        let result = state
                            .get("Result")
                            .cloned()
                            .unwrap_or_else(|| parameters(&state, &data, &execution));
                        data = result_path(&state, data, result);
                    }
                    "Succeed" => return Ok(data),
                    "Fail" => {
                        let error = text(&state, "Error", &data);
                        let cause = text(&state, "Cause", &data);
                        return Err(fail(error, cause, &data));
                    }
                    other => {
                        return Err(fail(
                            "States.Runtime".into(),
                            format!("state type {other:?}"),
                            &data,
                        ))
                    }
                }
                if state["End"].as_bool() == Some(true) {
                    return Ok(data);
                }
                match next {
                    Some(target) => name = target,
                    None => return Ok(data),
                }
            }
        })
    }

    /// Invokes the step with the state's Retry policy; a panic is a crashed Lambda.
    async fn task(&self, state: &Value, input: Value) -> Result<Value, (String, String)> {
        let resource = state["Resource"].as_str().unwrap_or_default();
        let step = Step::from_placeholder(resource)
            .ok_or_else(|| ("States.Runtime".to_string(), format!("no step for {resource}")))?;
        let mut attempts: Vec<u32> = vec![0; state["Retry"].as_array().map_or(0, Vec::len)];
        loop {
            let ports = self.ports.clone();
            let call = input.clone();
            let invoked = CatchUnwind(Box::pin(async move { step.handle(&ports, call).await })).await;
            let (error, cause) = match invoked {
                Ok(Ok(output)) => return Ok(output),
                Ok(Err(e)) => (e.name().to_string(), e.to_string()),
                Err(()) => (
                    CRASH_NAMES[self.sim.below(CRASH_NAMES.len() as u64) as usize].to_string(),
                    "the function's process ended".to_string(),
                ),
            };
            let retrier = state["Retry"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .find(|(_, r)| names_match(&r["ErrorEquals"], &error));
            let Some((index, retrier)) = retrier else {
                return Err((error, cause));
            };
            let max = retrier["MaxAttempts"].as_u64().unwrap_or(3) as u32;
            if attempts[index] >= max {
                return Err((error, cause));
            }
            let interval = retrier["IntervalSeconds"].as_f64().unwrap_or(1.0);
            let backoff = retrier["BackoffRate"].as_f64().unwrap_or(2.0);
            self.sim
                .sleep(interval * backoff.powi(attempts[index] as i32))
                .await;
            attempts[index] += 1;
        }
    }

    /// Runs every branch as its own task; the first failed branch fails the state.
    async fn parallel(&self, state: &Value, input: Value, execution: &str) -> Result<Value, Failure> {
        let mut joins = Vec::new();
        for branch in state["Branches"].as_array().into_iter().flatten() {
            let run = self.clone().run(
                branch["States"].clone(),
                branch["StartAt"].as_str().unwrap_or_default().to_string(),
                input.clone(),
                execution.to_string(),
            );
            joins.push(self.sim.spawn_with(run));
        }
        let mut results = Vec::new();
        for join in joins {
            results.push(join.await?);
        }
        Ok(Value::Array(results))
    }
}

/// Polls a future, turning a panic inside it into an error.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

fn names_match(names: &Value, error: &str) -> bool {
    names
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|n| {
            n == error || n == "States.ALL" || (n == "States.TaskFailed" && !error.starts_with("States."))
        })
}

fn catch(state: &Value, error: &str) -> Option<String> {
    state["Catch"]
        .as_array()?
        .iter()
        .find(|c| names_match(&c["ErrorEquals"], error))
        .and_then(|c| c["Next"].as_str())
        .map(str::to_string)
}

/// The catcher that matched, as a state-like object whose ResultPath places the error.
fn catcher(state: &Value, error: &str) -> Value {
    state["Catch"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| names_match(&c["ErrorEquals"], error))
        .cloned()
        .unwrap_or(Value::Null)
}

fn text(state: &Value, key: &str, data: &Value) -> String {
    state[key]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            let path = state[format!("{key}Path")].as_str()?;
            get(data, path).and_then(Value::as_str).map(str::to_string)
        })
        .unwrap_or_default()
}

/// InputPath, then Parameters with `.$` paths (and `$$.Execution.Id`).
fn parameters(state: &Value, data: &Value, execution: &str) -> Value {
    let input = match state.get("InputPath") {
        Some(Value::String(path)) => get(data, path).cloned().unwrap_or(Value::Null),
        _ => data.clone(),
    };
    match state.get("Parameters") {
        Some(template) => fill(template, &input, execution),
        None => input,
    }
}

fn fill(template: &Value, input: &Value, execution: &str) -> Value {
    match template {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match (key.strip_suffix(".$"), value.as_str()) {
                    (Some(name), Some("$$.Execution.Id")) => {
                        out.insert(name.to_string(), json!(execution));
                    }
                    (Some(name), Some(path)) => {
                        out.insert(name.to_string(), get(input, path).cloned().unwrap_or(Value::Null));
                    }
                    _ => {
                        out.insert(key.clone(), fill(value, input, execution));
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// `$`, `$.a.b`: the dotted paths cwq's definitions use.
fn get<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    let rest = path.strip_prefix('$')?;
    rest.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(data, |v, key| v.get(key))
}

/// ResultPath: `$` replaces the data, `null` discards the result, `$.a.b` places it.
fn result_path(state: &Value, mut data: Value, result: Value) -> Value {
    match state.get("ResultPath") {
        None => result,
        Some(Value::Null) => data,
        Some(Value::String(path)) if path == "$" => result,
        Some(Value::String(path)) => {
            let keys: Vec<&str> = path.trim_start_matches("$.").split('.').collect();
            let mut target = &mut data;
            for key in &keys[..keys.len() - 1] {
                if !target.get(*key).is_some_and(Value::is_object) {
                    target[*key] = json!({});
                }
                target = &mut target[*key];
            }
            target[keys[keys.len() - 1]] = result;
            data
        }
        Some(_) => data,
    }
}

/// A Choice rule: comparisons on a Variable, and And/Or/Not.
fn matches(rule: &Value, data: &Value) -> bool {
    if let Some(all) = rule["And"].as_array() {
        return all.iter().all(|r| matches(r, data));
    }
    if let Some(any) = rule["Or"].as_array() {
        return any.iter().any(|r| matches(r, data));
    }
    if rule.get("Not").is_some() {
        return !matches(&rule["Not"], data);
    }
    let value = get(data, rule["Variable"].as_str().unwrap_or("$"));
    if let Some(present) = rule["IsPresent"].as_bool() {
        return value.is_some_and(|v| !v.is_null()) == present;
    }
    if let Some(expected) = rule.get("StringEquals") {
        return value == Some(expected);
    }
    if let Some(expected) = rule.get("BooleanEquals") {
        return value == Some(expected);
    }
    if let Some(expected) = rule["NumericGreaterThan"].as_f64() {
        return value.and_then(Value::as_f64).is_some_and(|v| v > expected);
    }
    false
}
