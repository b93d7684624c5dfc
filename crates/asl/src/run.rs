//! One run of a definition (the top level, or a Parallel branch): from state to state until
//! one ends it, keeping where it is for StopExecution and redrive, and recording each state's
//! entry and exit when the host keeps history.

use crate::failure::{failure, runtime};
use crate::{lock, BoxFuture, Branch, Failure, Interpreter, Progress, Resume};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The parts of one run that its states share.
#[derive(Clone)]
pub(crate) struct Run {
    /// The whole definition, and the JSON pointer of this run's `States` (the top level's,
    /// or a Parallel branch's): shared, never copied.
    definition: Arc<Value>,
    states_at: String,
    progress: Progress,
    cancelled: Arc<AtomicBool>,
}

/// A state name as one step of a JSON pointer.
fn pointer_step(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

impl Run {
    /// The top level of `definition`, keeping where it is in `progress`.
    pub(crate) fn top(definition: &Value, progress: Progress) -> Self {
        Self {
            definition: Arc::new(definition.clone()),
            states_at: "/States".into(),
            progress,
            cancelled: Arc::new(AtomicBool::new(false)),
        }
    }

    fn state(&self, name: &str) -> &Value {
        self.definition
            .pointer(&format!("{}/{}", self.states_at, pointer_step(name)))
            .unwrap_or(&Value::Null)
    }

    /// The run of branch `index` of the Parallel state `name`.
    pub(crate) fn branch(
        &self,
        name: &str,
        index: usize,
        progress: Progress,
        cancelled: Arc<AtomicBool>,
    ) -> Self {
        Self {
            definition: self.definition.clone(),
            states_at: format!(
                "{}/{}/Branches/{index}/States",
                self.states_at,
                pointer_step(name)
            ),
            progress,
            cancelled,
        }
    }
}

/// What a state did: go on to its Next (or end), or go to a chosen state.
pub(crate) enum Step {
    Next(Value),
    Goto(Value, String),
}

impl Interpreter {
    pub(crate) fn run(self, run: Run, from: Resume) -> BoxFuture<Result<Value, Failure>> {
        Box::pin(async move {
            let Resume {
                state: mut name,
                input: mut data,
                mut branches,
            } = from;
            loop {
                if run.cancelled.load(Ordering::SeqCst) {
                    let cause = "another branch failed".to_string();
                    return Err(failure("States.BranchFailed", cause, &name, &data));
                }
                let (output, next) = self.step(&run, &name, &data, &mut branches).await?;
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

    /// Runs the state `name` on `data`: its output, and the state to go to (None: the run ends).
    /// `branches` is a redrive's resume point inside a Parallel, taken by the first Task or
    /// Parallel.
    async fn step(
        &self,
        run: &Run,
        name: &str,
        data: &Value,
        branches: &mut Option<Vec<Branch>>,
    ) -> Result<(Value, Option<String>), Failure> {
        let state = run.state(name);
        let kind = state["Type"].as_str().unwrap_or_default();
        self.entered(run, kind, name, data);
        let stepped = match kind {
            "Task" | "Parallel" => self.work(run, name, state, data, branches.take()).await,
            "Pass" => self.pass(name, state, data),
            "Wait" => self.wait(name, state, data).await,
            "Choice" => self.choose(name, state, data),
            "Succeed" => {
                let output = self.paths(name, state, data, Ok)?;
                self.exited(kind, name, &output);
                return Ok((output, None));
            }
            "Fail" => return Err(self.fail(name, state, data)),
            other => Err(runtime(
                "States.Runtime",
                format!("state type {other:?}"),
                name,
                data,
            )),
        };
        match stepped? {
            Step::Next(output) => {
                self.exited(kind, name, &output);
                let next = state["Next"]
                    .as_str()
                    .filter(|_| state["End"].as_bool() != Some(true));
                Ok((output, next.map(str::to_string)))
            }
            // A Choice's rule or a catcher: always taken, whatever End says.
            Step::Goto(output, target) => Ok((output, Some(target))),
        }
    }

    /// Keeps where the run is (what StopExecution's redrive resumes) and records the entry.
    fn entered(&self, run: &Run, kind: &str, name: &str, data: &Value) {
        if self.host.records() {
            *lock(&run.progress) = Some(Resume::at(name, data.clone()));
            self.host.record(
                &format!("{kind}StateEntered"),
                json!({"stateEnteredEventDetails": {"name": name, "input": data.to_string()}}),
            );
        }
    }

    pub(crate) fn exited(&self, kind: &str, name: &str, output: &Value) {
        if kind != "Fail" && self.host.records() {
            self.host.record(
                &format!("{kind}StateExited"),
                json!({"stateExitedEventDetails": {"name": name, "output": output.to_string()}}),
            );
        }
    }
}
