//! One JSON request to a local cloud over HTTP/1.1 and its JSON answer: the plumbing under the
//! admin client and the AWS JSON-protocol client, which differ only in headers and in how they
//! read a failure.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

/// The `content-type` of the admin API's bodies.
pub(crate) const JSON_CONTENT: (&str, &str) = ("content-type", "application/json");

/// Why no answer came back. Kept apart because a request that cannot even be built is not
/// worth retrying, and an unreachable server may be.
#[derive(Debug)]
pub(crate) enum TransportError {
    Request(String),
    Unreachable(String),
}

impl TransportError {
    pub(crate) fn message(self) -> String {
        match self {
            Self::Request(message) | Self::Unreachable(message) => message,
        }
    }
}

/// Sends `body` (none: an empty body) to `{endpoint}{path}`; the answer's status and its JSON
/// (null when the body is not JSON).
pub(crate) async fn exchange(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<(hyper::StatusCode, Value), TransportError> {
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(format!("{endpoint}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(payload)))
        .map_err(|e| TransportError::Request(e.to_string()))?;
    let unreachable = |e: &dyn std::fmt::Display| TransportError::Unreachable(e.to_string());
    let response = client.request(request).await.map_err(|e| unreachable(&e))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| unreachable(&e))?
        .to_bytes();
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}
