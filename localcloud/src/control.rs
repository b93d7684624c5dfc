//! Controlling a local cloud running in the background: its state file and its admin API.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What `cwq local serve` writes when it is up, and removes when it stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    pub pid: u32,
    pub port: u16,
    pub moto_pid: Option<u32>,
    pub moto_port: Option<u16>,
    pub state_dir: PathBuf,
}

impl StateFile {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("local.json")
    }

    pub fn read(state_dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(Self::path(state_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn write(&self) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(Self::path(&self.state_dir), text)
    }

    pub fn remove(state_dir: &Path) {
        let _ = std::fs::remove_file(Self::path(state_dir));
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Whether a process with this id exists (Linux: /proc).
pub fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        // A zombie (state Z) has exited.
        .is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
}

/// Whether something listens on 127.0.0.1:`port`.
pub fn port_in_use(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the local cloud at {url} does not answer: {message}")]
    Unreachable { url: String, message: String },
    #[error("the local cloud refused {what}: {message}")]
    Refused { what: String, message: String },
}

/// Calls the admin API (`/_cwq/…`) of the gateway at `endpoint`.
pub async fn admin(
    endpoint: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, AdminError> {
    let (status, value) = exchange(endpoint, method, &format!("/_cwq/{path}"), &[], body).await?;
    if status.is_success() {
        Ok(value)
    } else {
        Err(AdminError::Refused {
            what: format!("{method} /_cwq/{path}"),
            message: value["message"]
                .as_str()
                .map_or_else(|| status.to_string(), str::to_string),
        })
    }
}

/// Invokes a function on the Lambda host as `account` would (RequestResponse); the answer is
/// the function's result, or its error document.
pub async fn invoke(
    endpoint: &str,
    account: &str,
    function: &str,
    payload: &Value,
) -> Result<Value, AdminError> {
    // The gateway reads the caller's account from the credential; the signature is not checked.
    let authorization =
        format!("AWS4-HMAC-SHA256 Credential={account}/20260101/us-east-1/lambda/aws4_request, Signature=0");
    let path = format!("/2015-03-31/functions/{function}/invocations");
    let (status, value) = exchange(
        endpoint,
        "POST",
        &path,
        &[("authorization", &authorization)],
        Some(payload),
    )
    .await?;
    if status.is_success() {
        Ok(value)
    } else {
        Err(AdminError::Refused {
            what: format!("Invoke {function}"),
            message: value.to_string(),
        })
    }
}

async fn exchange(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<(hyper::StatusCode, Value), AdminError> {
    let unreachable = |message: String| AdminError::Unreachable {
        url: endpoint.to_string(),
        message,
    };
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(format!("{endpoint}{path}"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(payload)))
        .map_err(|e| unreachable(e.to_string()))?;
    let response = client
        .request(request)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

#[derive(Debug, thiserror::Error)]
#[error("{service} {operation}: {code}: {message}")]
pub struct AwsCallError {
    pub service: String,
    pub operation: String,
    pub code: String,
    pub message: String,
}

/// One call in AWS's JSON 1.0/1.1 protocol (DynamoDB, Step Functions, EventBridge) through the
/// gateway: `X-Amz-Target: {prefix}.{operation}`. The local cloud does not check signatures;
/// the credential scope routes the call and names the account.
pub async fn aws_json(
    endpoint: &str,
    service: &str,
    target: &str,
    body: &Value,
) -> Result<Value, AwsCallError> {
    let operation = target.rsplit('.').next().unwrap_or(target).to_string();
    let fail = |code: &str, message: String| AwsCallError {
        service: service.to_string(),
        operation: operation.clone(),
        code: code.to_string(),
        message,
    };
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let scope = format!(
        "AWS4-HMAC-SHA256 Credential={}/20260101/{}/{service}/aws4_request, SignedHeaders=host, Signature=local",
        crate::gateway::DEFAULT_ACCOUNT,
        crate::gateway::DEFAULT_REGION
    );
    let request = hyper::Request::post(format!("{endpoint}/"))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", target)
        .header("authorization", scope)
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| fail("RequestError", e.to_string()))?;
    let response = client
        .request(request)
        .await
        .map_err(|e| fail("Unreachable", e.to_string()))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| fail("Unreachable", e.to_string()))?
        .to_bytes();
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(value);
    }
    let code = value["__type"]
        .as_str()
        .unwrap_or("Unknown")
        .rsplit('#')
        .next()
        .unwrap_or("Unknown")
        .to_string();
    let message = value["message"]
        .as_str()
        .or(value["Message"].as_str())
        .unwrap_or_default()
        .to_string();
    Err(fail(&code, message))
}
