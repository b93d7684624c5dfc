//! The state machines' ASL (statemachine/*.asl.json) run in process: the shared interpreter
//! (crate cwq-asl, which the local cloud's Step Functions also runs) over a host whose Tasks
//! are the real step code over the fakes, whose time is the scheduler's, and whose Parallel
//! branches are separate scheduler tasks. A step that panics is a crashed Lambda. The
//! model-checking test runs the real definitions with it, so the flow it proves is the flow
//! that is deployed.

use super::sim::Sim;
use crate::ports::Ports;
use crate::steps::Step;
use cwq_asl::{BoxFuture, Host, TaskError};
pub use cwq_asl::{Ended, Failure, Resume};
use serde_json::{json, Value};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The error names a crashed Lambda is reported with (the Step Functions guide: unhandled
/// errors, timeouts and out-of-memory may be reported as `Lambda.Unknown`).
pub const CRASH_NAMES: [&str; 3] = ["Lambda.Unknown", "Sandbox.Timedout", "Runtime.ExitError"];

#[derive(Debug, Clone)]
pub struct Interpreter {
    pub sim: Sim,
    pub ports: Ports,
}

struct SimHost {
    sim: Sim,
    ports: Ports,
}

impl Host for SimHost {
    fn invoke(&self, resource: &str, input: Value) -> BoxFuture<Result<Value, TaskError>> {
        let step = Step::from_placeholder(resource);
        let (ports, sim, resource) = (self.ports.clone(), self.sim.clone(), resource.to_string());
        Box::pin(async move {
            let step = step.ok_or_else(|| TaskError {
                error: "States.Runtime".into(),
                cause: format!("no step for {resource}"),
            })?;
            match CatchUnwind(Box::pin(async move { step.handle(&ports, input).await })).await {
                Ok(Ok(output)) => Ok(output),
                Ok(Err(e)) => Err(TaskError {
                    error: e.name().to_string(),
                    cause: e.to_string(),
                }),
                Err(()) => Err(TaskError {
                    error: CRASH_NAMES[sim.below(CRASH_NAMES.len() as u64) as usize].to_string(),
                    cause: "the function's process ended".into(),
                }),
            }
        })
    }

    fn sleep(&self, seconds: f64) -> BoxFuture<()> {
        Box::pin(self.sim.sleep(seconds))
    }

    fn spawn(&self, branch: BoxFuture<Result<Value, Failure>>) -> BoxFuture<Result<Value, Failure>> {
        Box::pin(self.sim.spawn_with(branch))
    }
}

impl Interpreter {
    fn interpreter(&self, execution_arn: &str) -> cwq_asl::Interpreter {
        let host = Arc::new(SimHost {
            sim: self.sim.clone(),
            ports: self.ports.clone(),
        });
        let name = execution_arn.rsplit(':').next().unwrap_or_default();
        cwq_asl::Interpreter::new(host, json!({"Execution": {"Id": execution_arn, "Name": name}}))
    }

    /// Runs `definition` on `input` from its StartAt.
    pub async fn execute(&self, definition: &Value, execution_arn: &str, input: Value) -> Ended {
        self.interpreter(execution_arn)
            .start(definition, input, Arc::default())
            .await
    }

    /// Resumes an unsuccessful execution where it stopped, as RedriveExecution does.
    pub async fn redrive(&self, definition: &Value, execution_arn: &str, from: Resume) -> Ended {
        self.interpreter(execution_arn)
            .resume(definition, from, Arc::default())
            .await
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
