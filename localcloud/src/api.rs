//! Requests and responses as the local services see them, independent of the HTTP library,
//! and AWS's restJson1 error shape (docs/aws-behaviour.md).

use bytes::Bytes;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: String,
    /// The path exactly as sent: labels stay percent-encoded (docs/aws-behaviour.md).
    pub raw_path: String,
    /// Query parameters, decoded, in order (a key may repeat).
    pub query: Vec<(String, String)>,
    pub body: Bytes,
    /// The caller's account, from the SigV4 access key.
    pub account: String,
}

impl ApiRequest {
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn query_values(&self, key: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The JSON body; an empty body is `{}` as the SDKs treat it.
    pub fn json(&self) -> Result<Value, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(json!({}));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::validation("CannotParse", format!("the request body is not valid JSON: {e}"))
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl ApiResponse {
    pub fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(value.to_string()),
        }
    }

    pub fn ok(value: &Value) -> Self {
        Self::json(200, value)
    }

    /// An error in AWS's JSON 1.0 protocol (Step Functions): `__type` and `message` in the
    /// body, the code again in `x-amzn-ErrorType`.
    pub fn json10_error(status: u16, code: &str, message: &str) -> Self {
        let mut response = Self::json(status, &json!({"__type": code, "message": message}));
        response.headers.push(("x-amzn-errortype".into(), code.into()));
        response
    }
}

/// An AWS error: its status, its code (`x-amzn-ErrorType` and `__type`), `Message` and the
/// structure's other members.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub members: Map<String, Value>,
    pub retry_after_seconds: Option<u32>,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            members: Map::new(),
            retry_after_seconds: None,
        }
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.members.insert(key.into(), value.into());
        self
    }

    /// An error of another service's own name (`InvalidInputException`, …).
    pub fn named(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(status, code, message)
    }

    /// `reason`: UnknownOperation, CannotParse, FieldValidationFailed or Other.
    pub fn validation(reason: &str, message: impl Into<String>) -> Self {
        Self::new(400, "ValidationException", message).with("Reason", reason)
    }

    pub fn not_found(resource_type: &str, resource_id: &str) -> Self {
        Self::new(
            404,
            "ResourceNotFoundException",
            format!("{resource_type} {resource_id} not found"),
        )
        .with("ResourceId", resource_id)
        .with("ResourceType", resource_type)
    }

    pub fn conflict(resource_type: &str, resource_id: &str, message: impl Into<String>) -> Self {
        Self::new(409, "ConflictException", message)
            .with("ResourceId", resource_id)
            .with("ResourceType", resource_type)
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(403, "AccessDeniedException", message)
    }

    pub fn throttling() -> Self {
        let mut error = Self::new(429, "ThrottlingException", "Rate exceeded");
        error.retry_after_seconds = Some(1);
        error
    }

    pub fn internal() -> Self {
        Self::new(
            500,
            "InternalServerException",
            "An internal error occurred (injected by the local cloud)",
        )
    }

    pub fn policy(errors: Vec<Value>) -> Self {
        Self::new(
            400,
            "CoreNetworkPolicyException",
            "The core network policy is invalid",
        )
        .with("Errors", errors)
    }

    pub fn into_response(self) -> ApiResponse {
        let mut body = Map::new();
        body.insert("__type".into(), self.code.into());
        body.insert("Message".into(), self.message.into());
        body.extend(self.members);
        let mut response = ApiResponse::json(self.status, &Value::Object(body));
        response
            .headers
            .push(("x-amzn-errortype".into(), self.code.into()));
        if let Some(seconds) = self.retry_after_seconds {
            response.headers.push(("retry-after".into(), seconds.to_string()));
        }
        response
    }
}
