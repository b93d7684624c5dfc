//! How a state's failure is made, and which error names a retrier or catcher takes. A
//! failure remembers the state and input a redrive resumes from; a *terminal* one
//! (`States.Runtime`, `States.DataLimitExceeded`) passes every retrier and catcher by.

use crate::{Failure, Resume};
use serde_json::Value;

/// A failure of `state` that retriers and catchers see; a redrive resumes it with `input`.
pub(crate) fn failure(error: impl Into<String>, cause: String, state: &str, input: &Value) -> Failure {
    Failure {
        error: error.into(),
        cause,
        resume: Box::new(Resume::at(state, input.clone())),
        terminal: false,
    }
}

/// A failure no retrier or catcher sees.
pub(crate) fn runtime(error: &str, cause: String, state: &str, input: &Value) -> Failure {
    Failure {
        terminal: true,
        ..failure(error, cause, state, input)
    }
}

/// For `map_err`: a `States.Runtime` failure of `state` with its `input`, for a cause.
pub(crate) fn runtime_at<'a>(state: &'a str, input: &'a Value) -> impl FnOnce(String) -> Failure + 'a {
    move |cause| runtime("States.Runtime", cause, state, input)
}

/// Whether a retrier's or catcher's ErrorEquals takes `error`.
pub(crate) fn names_match(names: &Value, error: &str) -> bool {
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
