//! An interpreter of the Amazon States Language (JSONPath flavour), for the state machines
//! cwq deploys. The local cloud's Step Functions runs executions with it (and redrives them);
//! the model-checked interleavings (crates/pipeline) run the same definitions with it over
//! fakes. A [`Host`] supplies what differs: how a Task's resource is invoked, how time
//! passes, how Parallel branches run side by side, and where history events go.
//!
//! Semantics follow the Step Functions developer guide where cwq depends on them: a path that
//! selects nothing is `States.Runtime`, which no catcher catches; `States.ALL` and
//! `States.TaskFailed` match as documented; the first retrier whose ErrorEquals matches
//! decides, and once its attempts are spent the error goes to the catchers; a failed Parallel
//! branch stops the others; state input and output are limited to 256 KiB
//! (`States.DataLimitExceeded`). What is not run here is refused by [`validate::problems`].
//! Not emulated: JitterStrategy (retries wait the full interval), Map, timeouts, intrinsics.

pub mod choice;
pub mod path;
pub mod validate;

use futures::future::select_all;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Step Functions' payload limit for a state's input or output.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// How a Task failed, as Step Functions names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    pub error: String,
    pub cause: String,
}

/// What runs under the interpreter.
pub trait Host: Send + Sync + 'static {
    /// Runs a Task's `resource` with `input`.
    fn invoke(&self, resource: &str, input: Value) -> BoxFuture<Result<Value, TaskError>>;
    /// Resolves after `seconds`.
    fn sleep(&self, seconds: f64) -> BoxFuture<()>;
    /// Runs a Parallel branch alongside the others; resolves to its end.
    fn spawn(&self, branch: BoxFuture<Result<Value, Failure>>) -> BoxFuture<Result<Value, Failure>>;
    /// Whether history events and each run's progress are kept (for GetExecutionHistory,
    /// StopExecution and redrive). They cost a copy of each state's data; the model-checked
    /// interleavings, which run millions of states, do without.
    fn records(&self) -> bool {
        false
    }
    /// A history event: its type (`TaskStateEntered`) and details
    /// (`{"stateEnteredEventDetails": {...}}`).
    fn record(&self, _kind: &str, _details: Value) {}
}

/// Where an unsuccessful run stopped, and so where a redrive resumes: the state and its input
/// (and, for a Parallel, each branch's end or its own resume point).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    pub state: String,
    pub input: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<Vec<Branch>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Branch {
    Succeeded(Value),
    Unfinished(Resume),
}

/// An error that ended a run (or a branch).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub error: String,
    pub cause: String,
    pub resume: Box<Resume>,
    /// `States.Runtime` and `States.DataLimitExceeded`: no retrier or catcher sees them.
    pub terminal: bool,
}

/// How an execution (or a redrive of it) ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    Succeeded(Value),
    Failed(Failure),
}

/// The state the run is in now, for StopExecution: where a redrive of an aborted execution
/// resumes.
pub type Progress = Arc<Mutex<Option<Resume>>>;

#[derive(Clone)]
pub struct Interpreter {
    host: Arc<dyn Host>,
    /// The context object (`$$`): Execution.Id, Execution.Name, StateMachine.Id …
    context: Value,
}

impl std::fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpreter")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// The parts of one run that its states share.
#[derive(Clone)]
struct Run {
    /// The whole definition, and the JSON pointer of this run's `States` (the top level's,
    /// or a Parallel branch's): shared, never copied.
    definition: Arc<Value>,
    states_at: String,
    progress: Progress,
    cancelled: Arc<AtomicBool>,
}

impl Run {
    fn state(&self, name: &str) -> &Value {
        let escaped = name.replace('~', "~0").replace('/', "~1");
        self.definition
            .pointer(&format!("{}/{escaped}", self.states_at))
            .unwrap_or(&Value::Null)
    }
}

fn runtime(error: &str, cause: String, state: &str, input: &Value) -> Failure {
    Failure {
        error: error.to_string(),
        cause,
        resume: Box::new(Resume {
            state: state.to_string(),
            input: input.clone(),
            branches: None,
        }),
        terminal: true,
    }
}

fn names_match(names: &Value, error: &str) -> bool {
    names
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|name| {
            name == error
                || name == "States.ALL"
                || (name == "States.TaskFailed"
                    && error != "States.Timeout"
                    && !error.starts_with("States.Runtime"))
        })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Interpreter {
    pub fn new(host: Arc<dyn Host>, context: Value) -> Self {
        Self { host, context }
    }

    /// Runs `definition` on `input` from its StartAt.
    pub async fn start(&self, definition: &Value, input: Value, progress: Progress) -> Ended {
        let from = Resume {
            state: definition["StartAt"].as_str().unwrap_or_default().to_string(),
            input,
            branches: None,
        };
        self.resume(definition, from, progress).await
    }

    /// Runs `definition` from where an unsuccessful run stopped (a redrive).
    pub async fn resume(&self, definition: &Value, from: Resume, progress: Progress) -> Ended {
        let run = Run {
            definition: Arc::new(definition.clone()),
            states_at: "/States".into(),
            progress,
            cancelled: Arc::new(AtomicBool::new(false)),
        };
        match self.clone().run(run, from).await {
            Ok(output) => Ended::Succeeded(output),
            Err(failure) => Ended::Failed(failure),
        }
    }

    fn run(self, run: Run, from: Resume) -> BoxFuture<Result<Value, Failure>> {
        Box::pin(async move {
            let Resume {
                state: mut name,
                input: mut data,
                mut branches,
            } = from;
            loop {
                if run.cancelled.load(Ordering::SeqCst) {
                    return Err(Failure {
                        error: "States.BranchFailed".into(),
                        cause: "another branch failed".into(),
                        resume: Box::new(Resume {
                            state: name,
                            input: data,
                            branches: None,
                        }),
                        terminal: false,
                    });
                }
                if self.host.records() {
                    *lock(&run.progress) = Some(Resume {
                        state: name.clone(),
                        input: data.clone(),
                        branches: None,
                    });
                }
                let state = run.state(&name);
                let kind = state["Type"].as_str().unwrap_or_default().to_string();
                if self.host.records() {
                    self.host.record(
                        &format!("{kind}StateEntered"),
                        json!({"stateEnteredEventDetails": {"name": name, "input": data.to_string()}}),
                    );
                }
                let stepped = match kind.as_str() {
                    "Task" | "Parallel" => self.work(&run, &name, state, &data, branches.take()).await,
                    "Pass" => self.pass(&name, state, &data),
                    "Wait" => self.wait(&name, state, &data).await,
                    "Choice" => self.choose(&name, state, &data),
                    "Succeed" => {
                        let output = self.paths(&name, state, &data, Ok)?;
                        self.exited(&kind, &name, &output);
                        return Ok(output);
                    }
                    "Fail" => return Err(self.fail(&name, state, &data)),
                    other => Err(runtime(
                        "States.Runtime",
                        format!("state type {other:?}"),
                        &name,
                        &data,
                    )),
                };
                let (output, next) = match stepped {
                    Ok(Step::Next(output)) => {
                        self.exited(&kind, &name, &output);
                        let next = state["Next"]
                            .as_str()
                            .filter(|_| state["End"].as_bool() != Some(true));
                        (output, next.map(str::to_string))
                    }
                    // A Choice's rule or a catcher: always taken, whatever End says.
                    Ok(Step::Goto(output, target)) => (output, Some(target)),
                    Err(failure) => return Err(failure),
                };
                match next {
                    Some(target) => {
                        name = target;
                        data = output;
                    }
                    None => return Ok(output),
                }
            }
        })
    }

    fn exited(&self, kind: &str, name: &str, output: &Value) {
        if kind != "Fail" && self.host.records() {
            self.host.record(
                &format!("{kind}StateExited"),
                json!({"stateExitedEventDetails": {"name": name, "output": output.to_string()}}),
            );
        }
    }

    /// InputPath, then `body` on the effective input, then OutputPath.
    fn paths(
        &self,
        name: &str,
        state: &Value,
        data: &Value,
        body: impl FnOnce(Value) -> Result<Value, Failure>,
    ) -> Result<Value, Failure> {
        let input = self.input_path(name, state, data)?;
        let result = body(input)?;
        self.output_path(name, state, result, data)
    }

    fn input_path(&self, name: &str, state: &Value, data: &Value) -> Result<Value, Failure> {
        match state.get("InputPath") {
            None => Ok(data.clone()),
            Some(Value::Null) => Ok(json!({})),
            Some(Value::String(p)) => {
                path::read(data, p).map_err(|cause| runtime("States.Runtime", cause, name, data))
            }
            Some(other) => Err(runtime(
                "States.Runtime",
                format!("InputPath {other}"),
                name,
                data,
            )),
        }
    }

    fn output_path(&self, name: &str, state: &Value, output: Value, data: &Value) -> Result<Value, Failure> {
        match state.get("OutputPath") {
            None => Ok(output),
            Some(Value::Null) => Ok(json!({})),
            Some(Value::String(p)) => {
                path::read(&output, p).map_err(|cause| runtime("States.Runtime", cause, name, data))
            }
            Some(other) => Err(runtime(
                "States.Runtime",
                format!("OutputPath {other}"),
                name,
                data,
            )),
        }
    }

    fn fill(
        &self,
        name: &str,
        template: Option<&Value>,
        input: Value,
        data: &Value,
    ) -> Result<Value, Failure> {
        match template {
            None => Ok(input),
            Some(t) => path::fill(t, &input, &self.context)
                .map_err(|cause| runtime("States.Runtime", cause, name, data)),
        }
    }

    /// ResultPath: absent or `$` replaces, `null` discards, a reference path places.
    fn result_path(&self, name: &str, holder: &Value, data: &Value, result: Value) -> Result<Value, Failure> {
        match holder.get("ResultPath") {
            None => Ok(result),
            Some(Value::Null) => Ok(data.clone()),
            Some(Value::String(p)) => path::place(data.clone(), p, result)
                .map_err(|cause| runtime("States.Runtime", cause, name, data)),
            Some(other) => Err(runtime(
                "States.Runtime",
                format!("ResultPath {other}"),
                name,
                data,
            )),
        }
    }

    fn pass(&self, name: &str, state: &Value, data: &Value) -> Result<Step, Failure> {
        let input = self.input_path(name, state, data)?;
        let result = match state.get("Result") {
            Some(result) => result.clone(),
            None => self.fill(name, state.get("Parameters"), input, data)?,
        };
        let placed = self.result_path(name, state, data, result)?;
        Ok(Step::Next(self.output_path(name, state, placed, data)?))
    }

    async fn wait(&self, name: &str, state: &Value, data: &Value) -> Result<Step, Failure> {
        let input = self.input_path(name, state, data)?;
        let seconds = match (state.get("Seconds"), state["SecondsPath"].as_str()) {
            (Some(seconds), _) => seconds.as_f64(),
            (None, Some(p)) => path::read(&input, p)
                .map_err(|cause| runtime("States.Runtime", cause, name, data))?
                .as_f64(),
            (None, None) => None,
        };
        let seconds = seconds.filter(|s| *s >= 0.0).ok_or_else(|| {
            runtime(
                "States.Runtime",
                format!("{name}: the wait is not a non-negative number"),
                name,
                data,
            )
        })?;
        self.host.sleep(seconds).await;
        Ok(Step::Next(self.output_path(name, state, input, data)?))
    }

    fn choose(&self, name: &str, state: &Value, data: &Value) -> Result<Step, Failure> {
        let input = self.input_path(name, state, data)?;
        for rule in state["Choices"].as_array().into_iter().flatten() {
            let matched = choice::matches(rule, &input, &self.context)
                .map_err(|cause| runtime("States.Runtime", cause, name, data))?;
            if matched {
                let output = self.output_path(name, state, input, data)?;
                self.exited("Choice", name, &output);
                return Ok(Step::Goto(
                    output,
                    rule["Next"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        match state["Default"].as_str() {
            Some(default) => {
                let output = self.output_path(name, state, input, data)?;
                self.exited("Choice", name, &output);
                Ok(Step::Goto(output, default.to_string()))
            }
            None => Err(Failure {
                error: "States.NoChoiceMatched".into(),
                cause: format!("no Choices rule of {name} matched and it has no Default"),
                resume: Box::new(Resume {
                    state: name.to_string(),
                    input: data.clone(),
                    branches: None,
                }),
                terminal: false,
            }),
        }
    }

    fn fail(&self, name: &str, state: &Value, data: &Value) -> Failure {
        let text = |key: &str| {
            state[key]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    let p = state[format!("{key}Path")].as_str()?;
                    path::read(data, p).ok()?.as_str().map(str::to_string)
                })
                .unwrap_or_default()
        };
        Failure {
            error: text("Error"),
            cause: text("Cause"),
            resume: Box::new(Resume {
                state: name.to_string(),
                input: data.clone(),
                branches: None,
            }),
            terminal: false,
        }
    }

    /// A Task or a Parallel: the effective input, attempts under the Retry policy, then the
    /// result placed, or the error handed to the Catch.
    async fn work(
        &self,
        run: &Run,
        name: &str,
        state: &Value,
        data: &Value,
        mut branches: Option<Vec<Branch>>,
    ) -> Result<Step, Failure> {
        let input = self.input_path(name, state, data)?;
        let effective = self.fill(name, state.get("Parameters"), input, data)?;
        let no_retriers = Vec::new();
        let retriers = state["Retry"].as_array().unwrap_or(&no_retriers);
        let mut attempts = vec![0u32; retriers.len()];
        let failure = loop {
            let attempt = match state["Type"].as_str() {
                Some("Parallel") => {
                    self.parallel(run, name, state, data, &effective, branches.take())
                        .await
                }
                _ => self.task(name, state, data, &effective).await,
            };
            let failure = match attempt {
                Ok(result) => {
                    let selected = self.fill(name, state.get("ResultSelector"), result, data)?;
                    let placed = self.result_path(name, state, data, selected)?;
                    return Ok(Step::Next(self.output_path(name, state, placed, data)?));
                }
                Err(failure) if failure.terminal => return Err(failure),
                Err(failure) => failure,
            };
            let Some(index) = retriers
                .iter()
                .position(|r| names_match(&r["ErrorEquals"], &failure.error))
            else {
                break failure;
            };
            let retrier = &retriers[index];
            let max = retrier["MaxAttempts"].as_u64().unwrap_or(3) as u32;
            if attempts[index] >= max {
                break failure;
            }
            let interval = retrier["IntervalSeconds"].as_f64().unwrap_or(1.0);
            let backoff = retrier["BackoffRate"].as_f64().unwrap_or(2.0);
            let mut delay = interval * backoff.powi(attempts[index] as i32);
            if let Some(cap) = retrier["MaxDelaySeconds"].as_f64() {
                delay = delay.min(cap);
            }
            self.host.sleep(delay).await;
            attempts[index] += 1;
        };
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
    async fn task(&self, name: &str, state: &Value, data: &Value, input: &Value) -> Result<Value, Failure> {
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
                Err(Failure {
                    error,
                    cause,
                    resume: Box::new(Resume {
                        state: name.to_string(),
                        input: data.clone(),
                        branches: None,
                    }),
                    terminal: false,
                })
            }
        }
    }

    /// Every branch side by side (or, on a redrive, the unfinished ones); the first to fail
    /// stops the others and fails the state, keeping what each branch reached.
    async fn parallel(
        &self,
        run: &Run,
        name: &str,
        state: &Value,
        data: &Value,
        input: &Value,
        resumed: Option<Vec<Branch>>,
    ) -> Result<Value, Failure> {
        let no_branches = Vec::new();
        let definitions = state["Branches"].as_array().unwrap_or(&no_branches);
        let cancelled = Arc::new(AtomicBool::new(false));
        let mut ends: Vec<Option<Value>> = vec![None; definitions.len()];
        let mut progress: Vec<Progress> = Vec::new();
        let mut running = Vec::new();
        let mut indices = Vec::new();
        for (i, branch) in definitions.iter().enumerate() {
            let from = match resumed.as_ref().and_then(|b| b.get(i)) {
                Some(Branch::Succeeded(output)) => {
                    ends[i] = Some(output.clone());
                    progress.push(Arc::default());
                    continue;
                }
                Some(Branch::Unfinished(resume)) => resume.clone(),
                None => Resume {
                    state: branch["StartAt"].as_str().unwrap_or_default().to_string(),
                    input: input.clone(),
                    branches: None,
                },
            };
            let slot: Progress = Arc::new(Mutex::new(Some(from.clone())));
            progress.push(slot.clone());
            let escaped = name.replace('~', "~0").replace('/', "~1");
            let branch_run = Run {
                definition: run.definition.clone(),
                states_at: format!("{}/{escaped}/Branches/{i}/States", run.states_at),
                progress: slot,
                cancelled: cancelled.clone(),
            };
            running.push(self.host.spawn(self.clone().run(branch_run, from)));
            indices.push(i);
        }
        self.host.record("ParallelStateStarted", json!({}));
        while !running.is_empty() {
            let (ended, position, rest) = select_all(running).await;
            let i = indices.remove(position);
            running = rest;
            match ended {
                Ok(output) => ends[i] = Some(output),
                Err(failure) => {
                    cancelled.store(true, Ordering::SeqCst);
                    let branches = definitions
                        .iter()
                        .enumerate()
                        .map(|(j, _)| match (&ends[j], j == i) {
                            (Some(output), _) => Branch::Succeeded(output.clone()),
                            (None, true) => Branch::Unfinished((*failure.resume).clone()),
                            (None, false) => {
                                Branch::Unfinished(lock(&progress[j]).clone().unwrap_or(Resume {
                                    state: definitions[j]["StartAt"].as_str().unwrap_or_default().to_string(),
                                    input: input.clone(),
                                    branches: None,
                                }))
                            }
                        })
                        .collect();
                    self.host.record(
                        "ParallelStateFailed",
                        json!({"parallelStateFailedEventDetails": {"error": failure.error, "cause": failure.cause}}),
                    );
                    return Err(Failure {
                        resume: Box::new(Resume {
                            state: name.to_string(),
                            input: data.clone(),
                            branches: Some(branches),
                        }),
                        ..failure
                    });
                }
            }
        }
        self.host.record("ParallelStateSucceeded", json!({}));
        Ok(Value::Array(
            ends.into_iter().map(Option::unwrap_or_default).collect(),
        ))
    }
}

/// What a state did: go on to its Next (or end), or go to a chosen state.
enum Step {
    Next(Value),
    Goto(Value, String),
}
