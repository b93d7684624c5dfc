//! Parallel: every branch side by side (or, on a redrive, the unfinished ones), each a run of
//! its own. The first to fail stops the others and fails the state, keeping what each branch
//! reached, so that a redrive re-runs only what did not succeed.

use crate::run::Run;
use crate::work::Working;
use crate::{lock, BoxFuture, Branch, Failure, Interpreter, Progress, Resume};
use futures::future::select_all;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The branches of one Parallel state while they run.
struct Branches<'d> {
    definitions: &'d [Value],
    /// The state's effective input: each branch's, when it starts afresh.
    input: &'d Value,
    /// Set when a branch fails: the others stop at their next state.
    cancelled: Arc<AtomicBool>,
    /// Each branch's output, once it has succeeded.
    ends: Vec<Option<Value>>,
    /// Where each branch is now.
    progress: Vec<Progress>,
    running: Vec<BoxFuture<Result<Value, Failure>>>,
    /// The branch each of `running` is.
    indices: Vec<usize>,
}

impl Branches<'_> {
    /// Branch `index` from its StartAt.
    fn start_of(&self, index: usize) -> Resume {
        let start = self.definitions[index]["StartAt"].as_str().unwrap_or_default();
        Resume::at(start, self.input.clone())
    }

    /// Where each branch stopped when branch `failed` failed with `failure`: its end if it
    /// succeeded, else its resume point.
    fn resume_points(&self, failed: usize, failure: &Failure) -> Vec<Branch> {
        (0..self.definitions.len())
            .map(|j| match (&self.ends[j], j == failed) {
                (Some(output), _) => Branch::Succeeded(output.clone()),
                (None, true) => Branch::Unfinished((*failure.resume).clone()),
                (None, false) => Branch::Unfinished(
                    lock(&self.progress[j])
                        .clone()
                        .unwrap_or_else(|| self.start_of(j)),
                ),
            })
            .collect()
    }
}

impl Interpreter {
    /// Every branch side by side (or, on a redrive, the unfinished ones); the first to fail
    /// stops the others and fails the state, keeping what each branch reached.
    pub(crate) async fn parallel(
        &self,
        working: &Working<'_>,
        input: &Value,
        resumed: Option<Vec<Branch>>,
    ) -> Result<Value, Failure> {
        let Working {
            run,
            name,
            state,
            data,
            ..
        } = *working;
        let no_branches = Vec::new();
        let definitions = state["Branches"].as_array().unwrap_or(&no_branches);
        let mut branches = self.start_branches(run, name, definitions, input, resumed);
        self.host.record("ParallelStateStarted", json!({}));
        while !branches.running.is_empty() {
            let (ended, position, rest) = select_all(std::mem::take(&mut branches.running)).await;
            let i = branches.indices.remove(position);
            branches.running = rest;
            match ended {
                Ok(output) => branches.ends[i] = Some(output),
                Err(failure) => return Err(self.parallel_failed(name, data, &branches, i, failure)),
            }
        }
        self.host.record("ParallelStateSucceeded", json!({}));
        Ok(Value::Array(
            branches.ends.into_iter().map(Option::unwrap_or_default).collect(),
        ))
    }

    /// Spawns every branch that has not succeeded yet, from its resume point or its StartAt.
    fn start_branches<'d>(
        &self,
        run: &Run,
        name: &str,
        definitions: &'d [Value],
        input: &'d Value,
        resumed: Option<Vec<Branch>>,
    ) -> Branches<'d> {
        let mut branches = Branches {
            definitions,
            input,
            cancelled: Arc::new(AtomicBool::new(false)),
            ends: vec![None; definitions.len()],
            progress: Vec::new(),
            running: Vec::new(),
            indices: Vec::new(),
        };
        for i in 0..definitions.len() {
            let from = match resumed.as_ref().and_then(|b| b.get(i)) {
                Some(Branch::Succeeded(output)) => {
                    branches.ends[i] = Some(output.clone());
                    branches.progress.push(Arc::default());
                    continue;
                }
                Some(Branch::Unfinished(resume)) => resume.clone(),
                None => branches.start_of(i),
            };
            let slot: Progress = Arc::new(Mutex::new(Some(from.clone())));
            branches.progress.push(slot.clone());
            let branch_run = run.branch(name, i, slot, branches.cancelled.clone());
            branches
                .running
                .push(self.host.spawn(self.clone().run(branch_run, from)));
            branches.indices.push(i);
        }
        branches
    }

    /// Stops the other branches; the state fails with the branch's error, resuming where each
    /// branch stopped.
    fn parallel_failed(
        &self,
        name: &str,
        data: &Value,
        branches: &Branches<'_>,
        failed: usize,
        failure: Failure,
    ) -> Failure {
        branches.cancelled.store(true, Ordering::SeqCst);
        let resume_points = branches.resume_points(failed, &failure);
        self.host.record(
            "ParallelStateFailed",
            json!({"parallelStateFailedEventDetails": {"error": failure.error, "cause": failure.cause}}),
        );
        Failure {
            resume: Box::new(Resume {
                state: name.to_string(),
                input: data.clone(),
                branches: Some(resume_points),
            }),
            ..failure
        }
    }
}
