//! What is wrong with a policy file: a syntax error, or every problem the checks found, each
//! at its location (`bands[2].segment`), so that one run of `cwq policy check` lists them all.

use std::fmt;

/// Why a policy file cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("the response policy is not valid TOML or has an unknown or mistyped setting: {0}")]
    Syntax(String),
    #[error("the response policy has {} problem(s):\n{}", .0.len(), list(.0))]
    Invalid(Vec<Problem>),
}

/// One problem, at a location such as `bands[2].segment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub location: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

fn list(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
    lines.join("\n")
}

#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<Problem>);

impl Problems {
    pub(super) fn add(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            location: location.into(),
            message: message.into(),
        });
    }
}
