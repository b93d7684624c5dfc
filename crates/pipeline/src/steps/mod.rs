//! The steps of the two state machines, one module each; the Lambda binary (functions/) runs
//! [`Step::handle`] for the step its function's `Handler` names. Every step is idempotent: run
//! again, it converges to the same place, which makes Step Functions' retries, redrive and a
//! new execution with the same input all safe.

mod ask;
mod contain;
mod decide;
mod enrich;
mod feedback;
mod outcome;
mod reconcile;
mod release;
mod snapshot;
mod sweep;

pub use ask::{ask, AskInput, Asked};
pub use contain::contain;
pub use decide::decide;
pub use enrich::{enrich, incident_id, is_vpc_arn, EnrichInput, Lookup};
pub use outcome::{outcome, OutcomeInput};
pub use reconcile::reconcile;
pub use release::{release, ReleaseInput};
pub use snapshot::{description as snapshot_description, snapshot, SnapshotInput};
pub use sweep::{sweep, SweepReport};

use crate::contract::{Incident, ReconcileProgress};
use crate::error::StepError;
use crate::ports::Ports;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// A step, by the Lambda function that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The quarantine's first invocation (Enrich, Decide and the first tag: `contain`), the
    /// approval request, and the decision again with its answer.
    Decide,
    Reconcile,
    Snapshot,
    Release,
    Outcome,
    Sweep,
}

impl Step {
    pub const ALL: [Self; 6] = [
        Self::Decide,
        Self::Reconcile,
        Self::Snapshot,
        Self::Release,
        Self::Outcome,
        Self::Sweep,
    ];

    /// The function's `Handler` in template.yaml and the ASL placeholder stem
    /// (`${DecideFunctionArn}`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Decide => "decide",
            Self::Reconcile => "reconcile",
            Self::Snapshot => "snapshot",
            Self::Release => "release",
            Self::Outcome => "outcome",
            Self::Sweep => "sweep",
        }
    }

    /// The step a function's `Handler` names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
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

    /// Runs the step on the input the state machine (or the schedule) passes. What the input
    /// is about is recorded on the current span's `incident`, `attachment` and `execution`
    /// fields, so every log line of the invocation names them.
    pub async fn handle(self, ports: &Ports, input: Value) -> Result<Value, StepError> {
        let name = self.name();
        match self {
            // The finding itself: the first invocation, up to the first containing call.
            Self::Decide if input.get("event").is_some() => {
                output(contain(ports, parse(input, name)?).await?)
            }
            // The same function asks, when the waiting Task passes a token ...
            Self::Decide if input.get("token").is_some() => output(ask(ports, parse(input, name)?).await?),
            // ... and decides again with the answer.
            Self::Decide => output(decide(ports, parse(input, name)?).await?),
            Self::Reconcile => output(reconcile(ports, parse(input, name)?).await?),
            Self::Snapshot => output(snapshot(ports, parse(input, name)?).await?),
            Self::Release => output(release(ports, parse(input, name)?).await?),
            Self::Outcome => output(outcome(ports, parse(input, name)?).await?),
            Self::Sweep => output(sweep(ports).await?),
        }
    }
}

/// What a step's input is about, for its span.
#[derive(Default)]
struct About<'a> {
    incident: Option<&'a str>,
    attachments: Vec<&'a str>,
    execution: Option<&'a str>,
}

trait Subject {
    fn about(&self) -> About<'_>;
}

impl Subject for EnrichInput {
    fn about(&self) -> About<'_> {
        About {
            execution: Some(&self.execution_arn),
            ..About::default()
        }
    }
}

impl Subject for Incident {
    fn about(&self) -> About<'_> {
        About {
            incident: Some(&self.incident_id),
            attachments: (self.legs.iter())
                .filter_map(|l| l.attachment.as_ref().map(|a| a.attachment_id.as_str()))
                .collect(),
            execution: Some(&self.execution_arn),
        }
    }
}

impl Subject for AskInput {
    fn about(&self) -> About<'_> {
        self.ask.about()
    }
}

impl Subject for SnapshotInput {
    fn about(&self) -> About<'_> {
        self.incident.about()
    }
}

impl Subject for ReconcileProgress {
    fn about(&self) -> About<'_> {
        About {
            incident: self.incident_id.as_deref(),
            attachments: self.legs.iter().map(|l| l.attachment_id.as_str()).collect(),
            execution: Some(&self.execution_arn),
        }
    }
}

impl Subject for ReleaseInput {
    fn about(&self) -> About<'_> {
        About {
            attachments: vec![&self.request.attachment_id],
            execution: Some(&self.execution_arn),
            ..About::default()
        }
    }
}

impl Subject for OutcomeInput {
    fn about(&self) -> About<'_> {
        About {
            execution: Some(&self.execution_arn),
            ..About::default()
        }
    }
}

fn parse<T: DeserializeOwned + Subject>(input: Value, step: &str) -> Result<T, StepError> {
    let input: T =
        serde_json::from_value(input).map_err(|e| StepError::InvalidInput(format!("{step}'s input: {e}")))?;
    record(&input);
    Ok(input)
}

/// Records what `subject` is about on the current span (a step that learns more than its input
/// said, as the first invocation learns the incident, records it again).
fn record(subject: &impl Subject) {
    let about = subject.about();
    let span = tracing::Span::current();
    if let Some(incident) = about.incident {
        span.record("incident", incident);
    }
    if !about.attachments.is_empty() {
        span.record("attachment", about.attachments.join(",").as_str());
    }
    if let Some(execution) = about.execution {
        span.record("execution", execution);
    }
}

fn output<T: Serialize>(value: T) -> Result<Value, StepError> {
    serde_json::to_value(value).map_err(|e| StepError::Failed(e.to_string()))
}
