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
//! A Task whose resource is `arn:aws:states:::lambda:invoke.waitForTaskToken` invokes
//! `Parameters.FunctionName` with `Parameters.Payload` (where `$$.Task.Token` is the token the
//! host issued), then waits for SendTaskSuccess or SendTaskFailure with that token, or for
//! `TimeoutSeconds`/`TimeoutSecondsPath` to pass (`States.Timeout`).
//! Not emulated: JitterStrategy (retries wait the full interval), Map, heartbeats, execution
//! timeouts, intrinsics.
//!
//! The public types are here. The run of a definition is in `run`, the data flow through a
//! state (InputPath, Parameters, ResultPath, OutputPath) in `data`, the states that only move
//! data or control in `states`, Task and Parallel with their retriers and catchers in `work`
//! and `parallel`, and how failures are made and matched in `failure`.

pub mod choice;
mod data;
mod failure;
mod parallel;
pub mod path;
mod run;
mod states;
pub mod validate;
mod work;

use run::Run;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The service integration that invokes a Lambda function and waits for its task token.
pub const LAMBDA_WAIT_FOR_TOKEN: &str = "arn:aws:states:::lambda:invoke.waitForTaskToken";

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
    /// A new task token, for a Task that waits for one.
    fn issue_token(&self) -> String {
        String::new()
    }
    /// Resolves when the task token is answered (SendTaskSuccess: its output; SendTaskFailure:
    /// its error), or with `States.Timeout` once `timeout` seconds have passed.
    fn wait_for_token(&self, _token: String, _timeout: Option<f64>) -> BoxFuture<Result<Value, TaskError>> {
        Box::pin(async {
            Err(TaskError {
                error: "States.Runtime".into(),
                cause: "this host does not answer task tokens".into(),
            })
        })
    }
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

impl Resume {
    /// Entering `state` with `input`, no branch under way.
    pub(crate) fn at(state: impl Into<String>, input: Value) -> Self {
        Self {
            state: state.into(),
            input,
            branches: None,
        }
    }
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Interpreter {
    pub fn new(host: Arc<dyn Host>, context: Value) -> Self {
        Self { host, context }
    }

    /// Runs `definition` on `input` from its StartAt.
    pub async fn start(&self, definition: &Value, input: Value, progress: Progress) -> Ended {
        let from = Resume::at(definition["StartAt"].as_str().unwrap_or_default(), input);
        self.resume(definition, from, progress).await
    }

    /// Runs `definition` from where an unsuccessful run stopped (a redrive).
    pub async fn resume(&self, definition: &Value, from: Resume, progress: Progress) -> Ended {
        match self.clone().run(Run::top(definition, progress), from).await {
            Ok(output) => Ended::Succeeded(output),
            Err(failure) => Ended::Failed(failure),
        }
    }
}
