//! From an SDK error to a [`PortError`]: each adapter call names, from its operation's typed
//! error, what is busy, missing, lost to a condition or denied; what the network or the
//! service's capacity caused is transient; the rest is a failure, with its message.

use aws_sdk_networkmanager::config::http::HttpResponse;
use aws_sdk_networkmanager::error::{DisplayErrorContext, SdkError};
use cwq_pipeline::PortError;

/// What an operation's typed error means to the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Transient,
    Busy,
    Conflict,
    NotFound,
    AlreadyExists,
    Denied,
    Failed,
}

/// The class of the first case that holds, else [`Class::Failed`]: an operation's typed
/// errors read as a table, in the order they are checked.
pub(crate) fn first_match<const N: usize>(cases: [(bool, Class); N]) -> Class {
    cases
        .into_iter()
        .find_map(|(holds, class)| holds.then_some(class))
        .unwrap_or(Class::Failed)
}

/// Classifies `error` from the call described by `what`; `typed` reads the operation's error.
pub(crate) fn classify<E>(
    what: &str,
    error: SdkError<E, HttpResponse>,
    typed: impl FnOnce(&E) -> Class,
) -> PortError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let class = match &error {
        SdkError::ServiceError(service) => match typed(service.err()) {
            // An unmodelled 5xx or 429 is the service's capacity, not the request.
            Class::Failed if matches!(service.raw().status().as_u16(), 429 | 500..=599) => Class::Transient,
            class => class,
        },
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Class::Transient
        }
        _ => Class::Failed,
    };
    let message = format!("{what}: {}", DisplayErrorContext(&error));
    match class {
        Class::Transient => PortError::Transient(message),
        Class::Busy => PortError::Busy(message),
        Class::Conflict => PortError::Conflict(message),
        Class::NotFound => PortError::NotFound(message),
        Class::AlreadyExists => PortError::AlreadyExists(message),
        Class::Denied => PortError::Denied(message),
        Class::Failed => PortError::Failed(message),
    }
}
