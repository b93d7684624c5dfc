//! Controlling a local cloud running in the background: its state file, the liveness of its
//! processes, and calls to it (the untyped admin call, Invoke, AWS JSON-protocol calls).

pub use crate::admin::AdminError;
use crate::defaults::{DEFAULT_ACCOUNT, DEFAULT_REGION};
use crate::transport::{exchange, TransportError, JSON_CONTENT};
use serde::de::DeserializeOwned;
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
        read_json(&Self::path(state_dir))
    }

    pub fn write(&self) -> std::io::Result<()> {
        write_json(&Self::path(&self.state_dir), self)
    }

    pub fn remove(state_dir: &Path) {
        let _ = std::fs::remove_file(Self::path(state_dir));
    }

    pub fn endpoint_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A JSON file of the state directory, when it is there and parses.
pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Writes `value` as pretty JSON, for people to read as well.
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    std::fs::write(
        path,
        serde_json::to_string_pretty(value).map_err(std::io::Error::other)?,
    )
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
    let headers = [JSON_CONTENT, ("authorization", &authorization)];
    let (status, value) = exchange(endpoint, "POST", &path, &headers, Some(payload))
        .await
        .map_err(|e| AdminError::Unreachable {
            url: endpoint.to_string(),
            message: e.message(),
        })?;
    if status.is_success() {
        Ok(value)
    } else {
        Err(AdminError::Refused {
            what: format!("Invoke {function}"),
            status: status.as_u16(),
            message: value.to_string(),
        })
    }
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
    let scope = format!(
        "AWS4-HMAC-SHA256 Credential={DEFAULT_ACCOUNT}/20260101/{DEFAULT_REGION}/{service}/aws4_request, SignedHeaders=host, Signature=local"
    );
    let headers = [
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", target),
        ("authorization", &scope),
    ];
    let (status, value) = exchange(endpoint, "POST", "/", &headers, Some(body))
        .await
        .map_err(|e| match e {
            TransportError::Request(message) => fail("RequestError", message),
            TransportError::Unreachable(message) => fail("Unreachable", message),
        })?;
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
