//! The Lambda host: runs real `bootstrap` binaries through the Lambda Runtime API
//! (`/2018-06-01/runtime/invocation/next`, `/response`, `/error`) with the environment Lambda
//! sets, and answers Invoke with Lambda's shapes.
//!
//! Each function has its own Runtime API listener and at most one running instance, which
//! takes invocations one at a time in arrival order; concurrent invokes queue.

use crate::api::ApiResponse;
use crate::http::{self, full, Body};
use bytes::Bytes;
use hyper::{Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, Mutex};

/// What `cwq local deploy` registers for a function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionConfig {
    pub name: String,
    /// The bootstrap binary.
    pub binary: PathBuf,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    #[serde(default = "default_memory")]
    pub memory_mb: u32,
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

#[derive(Debug, Clone, Default, Serialize)]
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

struct Invocation {
    id: String,
    payload: Bytes,
    timeout: Duration,
    /// Told when an instance takes the invocation: its timeout runs from then, as in Lambda,
    /// where a queued invocation would have had an instance of its own.
    picked: oneshot::Sender<()>,
}

/// The result of one invocation: the payload, or `(errorType, body)` for a function error.
type Outcome = Result<Bytes, (String, Bytes)>;

struct Function {
    config: FunctionConfig,
    runtime_addr: std::net::SocketAddr,
    sender: mpsc::UnboundedSender<Invocation>,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    pending: Arc<StdMutex<HashMap<String, oneshot::Sender<Outcome>>>>,
    instance: Mutex<Option<Instance>>,
    stats: Arc<StdMutex<FunctionStats>>,
    /// Set when an instance asks for its first invocation.
    ready: Arc<tokio::sync::Notify>,
    /// The running instance's process id (0: none yet).
    pid: std::sync::atomic::AtomicU32,
}

struct Instance {
    child: Child,
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
        let (sender, receiver) = mpsc::unbounded_channel();
        let function = Arc::new(Function {
            config: config.clone(),
            runtime_addr,
            sender,
            receiver: Arc::new(Mutex::new(receiver)),
            pending: Arc::new(StdMutex::new(HashMap::new())),
            instance: Mutex::new(None),
            stats: Arc::new(StdMutex::new(FunctionStats::default())),
            ready: Arc::new(tokio::sync::Notify::new()),
            pid: std::sync::atomic::AtomicU32::new(0),
        });
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
            .map(|f| {
                let mut stats = f.stats.lock().expect("lock").clone();
                let pid = f.pid.load(std::sync::atomic::Ordering::Relaxed);
                if pid != 0 {
                    (stats.peak_rss_kib, stats.cpu_ms) = process_usage(pid);
                }
                (f.config.clone(), stats)
            })
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
            let mut response = ApiResponse::json(
                404,
                &json!({"Type": "User", "Message": format!("Function not found: arn:aws:lambda:{}:{}:function:{name}", self.settings.region, self.settings.account)}),
            );
            response
                .headers
                .push(("x-amzn-errortype".into(), "ResourceNotFoundException".into()));
            return response;
        };
        let request_id = format!(
            "cwq-{:08x}-{:012x}",
            std::process::id(),
            self.next_request
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        match invocation_type {
            Some("DryRun") => {
                return ApiResponse {
                    status: 204,
                    headers: vec![],
                    body: Bytes::new(),
                }
            }
            Some("Event") => {
                let host = function.clone();
                let settings = self.settings.clone();
                tokio::spawn(async move { host.run(&settings, request_id, payload).await });
                return ApiResponse {
                    status: 202,
                    headers: vec![],
                    body: Bytes::new(),
                };
            }
            _ => {}
        }
        let outcome = function.run(&self.settings, request_id.clone(), payload).await;
        let mut response = match outcome {
            Ok(body) => ApiResponse {
                status: 200,
                headers: vec![],
                body,
            },
            Err((_, body)) => ApiResponse {
                status: 200,
                headers: vec![("x-amz-function-error".into(), "Unhandled".into())],
                body,
            },
        };
        response
            .headers
            .push(("content-type".into(), "application/json".into()));
        response
            .headers
            .push(("x-amz-executed-version".into(), "$LATEST".into()));
        response.headers.push(("x-amzn-requestid".into(), request_id));
        response
    }

    /// Kills the function's instance as if it crashed: its invocation fails with
    /// Runtime.ExitError, and the next one starts cold.
    pub async fn crash(&self, name: &str) -> bool {
        let function = self.functions.lock().expect("lock").get(name).cloned();
        let Some(function) = function else { return false };
        // By pid, without the instance lock: the crashing call may be in the middle of it.
        let pid = function.pid.load(std::sync::atomic::Ordering::Relaxed);
        if pid != 0 {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
        // Dropping the waiting senders ends the invocation as an exit before answering.
        function.pending.lock().expect("lock").clear();
        true
    }

    pub async fn stop_all(&self) {
        let functions: Vec<Arc<Function>> = self.functions.lock().expect("lock").values().cloned().collect();
        for function in functions {
            function.stop().await;
        }
    }
}

impl Function {
    async fn run(&self, settings: &HostSettings, id: String, payload: Bytes) -> Outcome {
        let started = std::time::Instant::now();
        let outcome = self.run_timed(settings, id, payload).await;
        let took = started.elapsed().as_secs_f64() * 1000.0;
        self.stats.lock().expect("lock").durations_ms.push(took);
        outcome
    }

    async fn run_timed(&self, settings: &HostSettings, id: String, payload: Bytes) -> Outcome {
        self.stats.lock().expect("lock").invocations += 1;
        let timeout = Duration::from_secs(self.config.timeout_seconds);
        if let Err(e) = self.ensure_instance(settings).await {
            return self.failed("Runtime.StartError", &e);
        }
        let (reply, wait) = oneshot::channel();
        self.pending.lock().expect("lock").insert(id.clone(), reply);
        let (picked, mut taken) = oneshot::channel();
        let invocation = Invocation {
            id: id.clone(),
            payload,
            timeout,
            picked,
        };
        if self.sender.send(invocation).is_err() {
            return self.failed("Runtime.Unavailable", "the function's queue is closed");
        }
        // Queued behind other invocations of the one instance: wait, restarting the instance
        // if it died meanwhile.
        loop {
            match tokio::time::timeout(Duration::from_secs(1), &mut taken).await {
                Ok(Ok(())) => break,
                Ok(Err(_)) => return self.failed("Runtime.Unavailable", "the function was replaced"),
                Err(_) => {
                    if let Err(e) = self.ensure_instance(settings).await {
                        return self.failed("Runtime.StartError", &e);
                    }
                }
            }
        }
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(outcome)) => {
                if outcome.is_err() {
                    self.stats.lock().expect("lock").errors += 1;
                }
                outcome
            }
            Ok(Err(_)) => self.failed("Runtime.ExitError", "the runtime exited before answering"),
            Err(_) => {
                self.pending.lock().expect("lock").remove(&id);
                self.stop().await;
                let message = format!("Task timed out after {:.2} seconds", timeout.as_secs_f64());
                self.failed("Sandbox.Timedout", &message)
            }
        }
    }

    fn failed(&self, error_type: &str, message: &str) -> Outcome {
        self.stats.lock().expect("lock").errors += 1;
        let body = json!({"errorType": error_type, "errorMessage": message}).to_string();
        Err((error_type.to_string(), Bytes::from(body)))
    }

    /// Starts the bootstrap if no instance runs (a cold start) and waits for its first `next`.
    async fn ensure_instance(&self, settings: &HostSettings) -> Result<(), String> {
        let mut instance = self.instance.lock().await;
        if let Some(running) = instance.as_mut() {
            if running.child.try_wait().map_err(|e| e.to_string())?.is_none() {
                return Ok(());
            }
        }
        let c = &self.config;
        std::fs::create_dir_all(&settings.log_dir).map_err(|e| e.to_string())?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(settings.log_dir.join(format!("{}.log", c.name)))
            .map_err(|e| e.to_string())?;
        let stderr = log.try_clone().map_err(|e| e.to_string())?;
        let task_root = c
            .binary
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let started = Instant::now();
        let ready = self.ready.notified();
        let child = Command::new(&c.binary)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("TZ", ":UTC")
            .env("LANG", "en_US.UTF-8")
            .env("_HANDLER", "bootstrap")
            .env("LAMBDA_TASK_ROOT", &task_root)
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("AWS_LAMBDA_RUNTIME_API", self.runtime_addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &c.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", c.memory_mb.to_string())
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", c.name))
            .env(
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("local/[$LATEST]{}", std::process::id()),
            )
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_REGION", &settings.region)
            .env("AWS_DEFAULT_REGION", &settings.region)
            .env("AWS_ACCESS_KEY_ID", &settings.account)
            .env("AWS_SECRET_ACCESS_KEY", "cwq-local")
            .env("AWS_SESSION_TOKEN", "cwq-local")
            .env("AWS_ENDPOINT_URL", &settings.endpoint_url)
            // Names the caller in each SDK call's user agent (`app/<name>`), for crash faults.
            .env("AWS_SDK_UA_APP_ID", &c.name)
            .envs(&c.environment)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", c.binary.display()))?;
        self.pid
            .store(child.id().unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
        *instance = Some(Instance { child });
        match tokio::time::timeout(Duration::from_secs(10), ready).await {
            Ok(()) => {
                let init = started.elapsed().as_secs_f64() * 1000.0;
                self.stats.lock().expect("lock").cold_start_init_ms.push(init);
                Ok(())
            }
            Err(_) => Err(format!("{} did not ask for an invocation within 10 s", c.name)),
        }
    }

    async fn stop(&self) {
        if let Some(mut instance) = self.instance.lock().await.take() {
            let _ = instance.child.kill().await;
        }
    }
}

/// The Runtime API one function's instance talks to.
async fn runtime_api(function: Arc<Function>, request: Request<hyper::body::Incoming>) -> Response<Body> {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["2018-06-01", "runtime", "invocation", "next"]) => {
            function.ready.notify_waiters();
            // Skip invocations whose caller already gave up (a crash failed them while queued).
            let invocation = loop {
                let Some(invocation) = function.receiver.lock().await.recv().await else {
                    return http::status(410, "the function was replaced");
                };
                if function
                    .pending
                    .lock()
                    .expect("lock")
                    .contains_key(&invocation.id)
                {
                    break invocation;
                }
            };
            let deadline_ms = (std::time::SystemTime::now() + invocation.timeout)
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let _ = invocation.picked.send(());
            let arn = format!(
                "arn:aws:lambda:local:000000000000:function:{}",
                function.config.name
            );
            Response::builder()
                .header("lambda-runtime-aws-request-id", &invocation.id)
                .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
                .header("lambda-runtime-invoked-function-arn", arn)
                .header(
                    "lambda-runtime-trace-id",
                    format!("Root=1-00000000-{}", invocation.id),
                )
                .header("content-type", "application/json")
                .body(full(invocation.payload))
                .unwrap_or_else(|_| http::status(500, "bad response"))
        }
        ("POST", ["2018-06-01", "runtime", "invocation", id, kind @ ("response" | "error")]) => {
            let error_type = request
                .headers()
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = http::collect(request).await.unwrap_or_default();
            let outcome = if *kind == "response" {
                Ok(body)
            } else {
                // The body is {errorType, errorMessage}; keep it as Lambda returns it.
                let name = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["errorType"].as_str().map(str::to_string))
                    .or(error_type)
                    .unwrap_or_else(|| "Unhandled".into());
                Err((name, body))
            };
            match function.pending.lock().expect("lock").remove(*id) {
                Some(reply) => {
                    let _ = reply.send(outcome);
                    http::json_status(202, &json!({"status": "OK"}))
                }
                None => http::json_status(
                    400,
                    &json!({"errorType": "InvalidRequestID", "errorMessage": "unknown request id"}),
                ),
            }
        }
        ("POST", ["2018-06-01", "runtime", "init", "error"]) => {
            function.ready.notify_waiters();
            http::json_status(202, &json!({"status": "OK"}))
        }
        _ => http::status(404, "not a Runtime API route"),
    }
}

/// (peak resident KiB, CPU ms) of a live process, from /proc (None where /proc has no answer).
pub fn process_usage(pid: u32) -> (Option<u64>, Option<f64>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
    // Fields 14 and 15 of /proc/PID/stat (after the parenthesised name) are utime and stime.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let ticks: Option<u64> = stat.rsplit_once(')').and_then(|(_, rest)| {
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
    });
    // USER_HZ is 100 on Linux.
    (peak, ticks.map(|t| t as f64 * 10.0))
}
