//! The steps of the two state machines, one module each; the Lambdas in functions/<step> are
//! thin mains around [`Step::handle`]. Every step is idempotent: run again, it converges to
//! the same place, which makes Step Functions' retries, redrive and a new execution with the
//! same input all safe.

mod decide;
mod enrich;
mod outcome;
mod reconcile;
mod release;
mod snapshot;
mod sweep;

pub use decide::decide;
pub use enrich::{enrich, incident_id, is_vpc_arn, EnrichInput};
pub use outcome::{outcome, OutcomeInput};
pub use reconcile::reconcile;
pub use release::{release, ReleaseInput};
pub use snapshot::{description as snapshot_description, snapshot, SnapshotInput};
pub use sweep::{sweep, SweepReport};

use crate::error::StepError;
use crate::ports::Ports;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// A step, by the Lambda function that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    Enrich,
    Decide,
    Reconcile,
    Snapshot,
    Release,
    Outcome,
    Sweep,
}

impl Step {
    pub const ALL: [Self; 7] = [
        Self::Enrich,
        Self::Decide,
        Self::Reconcile,
        Self::Snapshot,
        Self::Release,
        Self::Outcome,
        Self::Sweep,
    ];

    /// The binary (functions/<name>) and the ASL placeholder stem (`${EnrichFunctionArn}`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Enrich => "enrich",
            Self::Decide => "decide",
            Self::Reconcile => "reconcile",
            Self::Snapshot => "snapshot",
            Self::Release => "release",
            Self::Outcome => "outcome",
            Self::Sweep => "sweep",
        }
    }

    /// Whether the step reads the response policy (the others run without one).
    pub fn uses_policy(self) -> bool {
        !matches!(self, Self::Snapshot | Self::Outcome)
    }

    /// The step whose function an ASL `Resource` placeholder names.
    pub fn from_placeholder(resource: &str) -> Option<Self> {
        let stem = resource.strip_prefix("${")?.strip_suffix("FunctionArn}")?;
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(stem))
    }

    /// Runs the step on the input the state machine (or the schedule) passes.
    pub async fn handle(self, ports: &Ports, input: Value) -> Result<Value, StepError> {
        let name = self.name();
        match self {
            Self::Enrich => output(enrich(ports, parse(input, name)?).await?),
            Self::Decide => output(decide(ports, parse(input, name)?).await?),
            Self::Reconcile => output(reconcile(ports, parse(input, name)?).await?),
            Self::Snapshot => output(snapshot(ports, parse(input, name)?).await?),
            Self::Release => output(release(ports, parse(input, name)?).await?),
            Self::Outcome => output(outcome(ports, parse(input, name)?).await?),
            Self::Sweep => output(sweep(ports).await?),
        }
    }
}

fn parse<T: DeserializeOwned>(input: Value, step: &str) -> Result<T, StepError> {
    serde_json::from_value(input).map_err(|e| StepError::InvalidInput(format!("{step}'s input: {e}")))
}

fn output<T: Serialize>(value: T) -> Result<Value, StepError> {
    serde_json::to_value(value).map_err(|e| StepError::Failed(e.to_string()))
}
