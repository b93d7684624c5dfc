//! The CLI's errors: a message for a person and the exit code documented in `cwq --help`.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug)]
pub struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    /// Bad input (usage, an unreadable or invalid file): exit code 2.
    pub fn invalid(message: impl fmt::Display) -> Self {
        Self {
            code: 2,
            message: message.to_string(),
        }
    }

    /// The operation failed: exit code 1.
    pub fn failed(message: impl fmt::Display) -> Self {
        Self {
            code: 1,
            message: message.to_string(),
        }
    }

    /// Nothing to act on: the VPC, attachment, incident or execution is unknown to cwq, or not
    /// in a state the command applies to (e.g. releasing what is not quarantined): exit code 3.
    pub fn refused(message: impl fmt::Display) -> Self {
        Self {
            code: 3,
            message: message.to_string(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Reads a file named on the command line (`-` is standard input).
pub fn read_input(path: &Path, what: &str) -> Result<String, CliError> {
    if path.as_os_str() == "-" {
        return std::io::read_to_string(std::io::stdin())
            .map_err(|e| CliError::invalid(format!("cannot read the {what} from standard input: {e}")));
    }
    std::fs::read_to_string(path)
        .map_err(|e| CliError::invalid(format!("cannot read the {what} {}: {e}", path.display())))
}
