//! Handler errors and their stable names at the Lambda boundary: the ASL retries and catches
//! on these names (`Transient`, `AttachmentNotFound`, …), never on Rust type names.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// Throttling, 5xx, timeouts: retry with backoff.
    #[error("transient: {0}")]
    Transient(String),
    #[error("{0}")]
    AttachmentNotFound(String),
    #[error("{0}")]
    NotApplicable(String),
    #[error("{0}")]
    PolicyViolation(String),
    #[error("{0}")]
    VerificationTimeout(String),
    /// A concurrent change won (journal version, or Cloud WAN's ConflictException): retry.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("configuration: {0}")]
    Configuration(String),
    #[error("{0}")]
    Failed(String),
}

impl HandlerError {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Transient(_) => "Transient",
            Self::AttachmentNotFound(_) => "AttachmentNotFound",
            Self::NotApplicable(_) => "NotApplicable",
            Self::PolicyViolation(_) => "PolicyViolation",
            Self::VerificationTimeout(_) => "VerificationTimeout",
            Self::Conflict(_) => "Conflict",
            Self::InvalidInput(_) => "InvalidInput",
            Self::Configuration(_) => "Configuration",
            Self::Failed(_) => "Failed",
        }
    }

    /// Classifies an SDK error by its code: what retrying can fix, and what it cannot.
    pub fn from_sdk<E, R>(what: &str, error: aws_sdk_dynamodb::error::SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + fmt::Debug,
        R: fmt::Debug,
    {
        use aws_sdk_dynamodb::error::SdkError;
        let message = match &error {
            SdkError::ServiceError(service) => {
                let e = service.err();
                format!(
                    "{what}: {}: {}",
                    e.code().unwrap_or("Unknown"),
                    e.message().unwrap_or_default()
                )
            }
            other => format!("{what}: {other:?}"),
        };
        let code = match &error {
            SdkError::ServiceError(service) => service.err().code().unwrap_or_default().to_string(),
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                return Self::Transient(message)
            }
            _ => String::new(),
        };
        match code.as_str() {
            "ThrottlingException"
            | "Throttling"
            | "RequestLimitExceeded"
            | "InternalServerException"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "ProvisionedThroughputExceededException"
            | "RequestThrottled"
            | "TooManyRequestsException" => Self::Transient(message),
            "ConflictException" | "ConditionalCheckFailedException" | "TransactionCanceledException" => {
                Self::Conflict(message)
            }
            "ResourceNotFoundException" => Self::AttachmentNotFound(message),
            _ => Self::Failed(message),
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(error: HandlerError) -> Self {
        Self {
            error_type: error.name().to_string(),
            error_message: error.to_string(),
        }
    }
}
