//! Errors at the two edges of a step: what a port call fails with (classified by the adapter
//! from the service's typed error, per operation), and the stable names a step fails with at
//! the Lambda boundary, which the state machines retry or catch.

/// A port call's failure, classified by the adapter that made it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// Throttling, a 5xx, a timeout, a dropped connection: the same call may succeed later.
    #[error("transient: {0}")]
    Transient(String),
    /// Cloud WAN is applying another change to the resource (ConflictException): wait.
    #[error("busy: {0}")]
    Busy(String),
    /// A conditional write lost to a concurrent one: read again and redo.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The resource the operation names does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The named thing exists already (an execution name, a created item).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// IAM, an SCP, a missing role: retrying will not help.
    #[error("access denied: {0}")]
    Denied(String),
    #[error("{0}")]
    Failed(String),
}

/// A step's failure, named for the state machine (`Retry`/`Catch` match these names).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Retry with backoff.
    #[error("transient: {0}")]
    Transient(String),
    /// A concurrent change to the journal won: retry, the step reads again.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The event is not a finding cwq acts on (not about an EC2 instance).
    #[error("{0}")]
    NotApplicable(String),
    #[error("configuration: {0}")]
    Configuration(String),
    #[error("{0}")]
    Failed(String),
}

impl StepError {
    /// The stable name the state machines see as the error.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Transient(_) => "Transient",
            Self::Conflict(_) => "Conflict",
            Self::InvalidInput(_) => "InvalidInput",
            Self::NotApplicable(_) => "NotApplicable",
            Self::Configuration(_) => "Configuration",
            Self::Failed(_) => "Failed",
        }
    }
}

impl From<PortError> for StepError {
    fn from(error: PortError) -> Self {
        match error {
            PortError::Transient(_) | PortError::Busy(_) => Self::Transient(error.to_string()),
            PortError::Conflict(_) => Self::Conflict(error.to_string()),
            PortError::NotFound(_)
            | PortError::AlreadyExists(_)
            | PortError::Denied(_)
            | PortError::Failed(_) => Self::Failed(error.to_string()),
        }
    }
}
