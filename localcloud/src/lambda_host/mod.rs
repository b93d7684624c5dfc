//! The Lambda host: runs real `bootstrap` binaries through the Lambda Runtime API
//! (`/2018-06-01/runtime/invocation/next`, `/response`, `/error`) with the environment Lambda
//! sets, and answers Invoke with Lambda's shapes.
//!
//! Each function has its own Runtime API listener and at most one running instance, which
//! takes invocations one at a time in arrival order; concurrent invokes queue.
//!
//! `instance` runs a function's process and its invocations; `runtime_api` is the API that
//! process calls.

mod instance;
mod runtime_api;

pub use instance::process_usage;

use crate::api::ApiResponse;
use crate::http;
use bytes::Bytes;
use instance::{Function, Outcome};
use runtime_api::runtime_api;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use tokio::net::TcpListener;

/// What `cwq local deploy` registers for a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfig {
    pub name: String,
    /// The bootstrap binary.
    pub binary: PathBuf,
    /// The function's `Handler`, which provided.al2023 passes to the bootstrap as `_HANDLER`.
    #[serde(default = "default_handler")]
    pub handler: String,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    #[serde(default = "default_memory")]
    pub memory_mb: u32,
}

impl FunctionConfig {
    /// The function `name` running `binary`, with no environment and the defaults a
    /// registration without them gets (30 s, 128 MB).
    pub fn new(name: impl Into<String>, binary: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            binary: binary.into(),
            handler: default_handler(),
            environment: BTreeMap::new(),
            timeout_seconds: default_timeout(),
            memory_mb: default_memory(),
        }
    }
}

fn default_handler() -> String {
    "bootstrap".to_string()
}

fn default_timeout() -> u64 {
    30
}

fn default_memory() -> u32 {
    128
}

/// Where the functions reach AWS, and where their logs go.
#[derive(Debug, Clone)]
pub struct HostSettings {
    pub endpoint_url: String,
    pub region: String,
    pub account: String,
    pub log_dir: PathBuf,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionStats {
    pub invocations: u64,
    pub errors: u64,
    /// Process start to its first `next` request, per cold start.
    pub cold_start_init_ms: Vec<f64>,
    /// Each invocation, queued to answered (the first of an instance includes its start).
    pub durations_ms: Vec<f64>,
    /// The running instance's peak resident memory (VmHWM) and CPU time (user + system),
    /// read from /proc when asked; None when no instance runs.
    pub peak_rss_kib: Option<u64>,
    pub cpu_ms: Option<f64>,
}

pub struct LambdaHost {
    settings: HostSettings,
    functions: StdMutex<BTreeMap<String, Arc<Function>>>,
    next_request: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for LambdaHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LambdaHost")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl LambdaHost {
    pub fn new(settings: HostSettings) -> Self {
        Self {
            settings,
            functions: StdMutex::new(BTreeMap::new()),
            next_request: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// Registers (or replaces) a function and starts its Runtime API listener.
    pub async fn register(&self, config: FunctionConfig) -> std::io::Result<()> {
        if !config.binary.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no such binary", config.binary.display()),
            ));
        }
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let runtime_addr = listener.local_addr()?;
        let function = Arc::new(Function::new(config.clone(), runtime_addr));
        let served = function.clone();
        tokio::spawn(http::serve(listener, move |request| {
            let function = served.clone();
            async move { runtime_api(function, request).await }
        }));
        let old = self
            .functions
            .lock()
            .expect("lock")
            .insert(config.name.clone(), function);
        if let Some(old) = old {
            old.stop().await;
        }
        Ok(())
    }

    pub fn configs(&self) -> Vec<(FunctionConfig, FunctionStats)> {
        let functions = self.functions.lock().expect("lock");
        functions
            .values()
            .map(|f| (f.config.clone(), f.stats()))
            .collect()
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.settings.log_dir.join(format!("{name}.log"))
    }

    /// `Invoke`: `POST /2015-03-31/functions/{FunctionName}/invocations`.
    pub async fn invoke(
        &self,
        function_name: &str,
        invocation_type: Option<&str>,
        payload: Bytes,
    ) -> ApiResponse {
        // A name, a partial ARN or a full ARN (arn:aws:lambda:region:account:function:name[:qualifier]).
        let name = match function_name.split(':').collect::<Vec<_>>().as_slice() {
            [.., "function", name] | [.., "function", name, _] => (*name).to_string(),
            _ => function_name.to_string(),
        };
        let function = self.functions.lock().expect("lock").get(&name).cloned();
        let Some(function) = function else {
            return self.not_found(&name);
        };
        let request_id = format!(
            "cwq-{:08x}-{:012x}",
            std::process::id(),
            self.next_request
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        match invocation_type {
            Some("DryRun") => return empty(204),
            Some("Event") => {
                let host = function.clone();
                let settings = self.settings.clone();
                tokio::spawn(async move { host.run(&settings, request_id, payload).await });
                return empty(202);
            }
            _ => {}
        }
        let outcome = function.run(&self.settings, request_id.clone(), payload).await;
        answer(outcome, request_id)
    }

    fn not_found(&self, name: &str) -> ApiResponse {
        let (region, account) = (&self.settings.region, &self.settings.account);
        let mut response = ApiResponse::json(
            404,
            &json!({"Type": "User", "Message": format!("Function not found: arn:aws:lambda:{region}:{account}:function:{name}")}),
        );
        response
            .headers
            .push(("x-amzn-errortype".into(), "ResourceNotFoundException".into()));
        response
    }

    /// Kills the function's instance as if it crashed: its invocation fails with
    /// Runtime.ExitError, and the next one starts cold.
    pub async fn crash(&self, name: &str) -> bool {
        let function = self.functions.lock().expect("lock").get(name).cloned();
        let Some(function) = function else { return false };
        function.crash();
        true
    }

    pub async fn stop_all(&self) {
        let functions: Vec<Arc<Function>> = self.functions.lock().expect("lock").values().cloned().collect();
        for function in functions {
            function.stop().await;
        }
    }
}

/// An answer with no body: 204 for a dry run, 202 for an asynchronous invocation.
fn empty(status: u16) -> ApiResponse {
    ApiResponse {
        status,
        headers: vec![],
        body: Bytes::new(),
    }
}

/// A synchronous invocation's answer: 200 either way, a function error flagged in
/// `X-Amz-Function-Error` with its error document as the body.
fn answer(outcome: Outcome, request_id: String) -> ApiResponse {
    let (body, mut headers) = match outcome {
        Ok(body) => (body, vec![]),
        Err((_, body)) => (body, vec![("x-amz-function-error".into(), "Unhandled".into())]),
    };
    headers.push(("content-type".into(), "application/json".into()));
    headers.push(("x-amz-executed-version".into(), "$LATEST".into()));
    headers.push(("x-amzn-requestid".into(), request_id));
    ApiResponse {
        status: 200,
        headers,
        body,
    }
}
