//! One function's single instance: its process started cold with the environment Lambda
//! sets, its invocations queued and taken one at a time, timed out as Lambda times them, and
//! its resource usage read from /proc.

use super::{FunctionConfig, FunctionStats, HostSettings};
use bytes::Bytes;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, Mutex};

pub(super) struct Invocation {
    pub(super) id: String,
    pub(super) payload: Bytes,
    pub(super) timeout: Duration,
    /// Told when an instance takes the invocation: its timeout runs from then, as in Lambda,
    /// where a queued invocation would have had an instance of its own.
    pub(super) picked: oneshot::Sender<()>,
}

/// The result of one invocation: the payload, or `(errorType, body)` for a function error.
pub(super) type Outcome = Result<Bytes, (String, Bytes)>;

pub(super) struct Function {
    pub(super) config: FunctionConfig,
    runtime_addr: std::net::SocketAddr,
    sender: mpsc::UnboundedSender<Invocation>,
    pub(super) receiver: Arc<Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    /// The invocations whose callers wait, by request id.
    pub(super) pending: Arc<StdMutex<HashMap<String, oneshot::Sender<Outcome>>>>,
    instance: Mutex<Option<Instance>>,
    stats: Arc<StdMutex<FunctionStats>>,
    /// Set when an instance asks for its first invocation.
    pub(super) ready: Arc<tokio::sync::Notify>,
    /// The running instance's process id (0: none yet).
    pid: std::sync::atomic::AtomicU32,
}

struct Instance {
    child: Child,
}

impl Function {
    /// A function with no instance yet, whose Runtime API listens on `runtime_addr`.
    pub(super) fn new(config: FunctionConfig, runtime_addr: std::net::SocketAddr) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Self {
            config,
            runtime_addr,
            sender,
            receiver: Arc::new(Mutex::new(receiver)),
            pending: Arc::new(StdMutex::new(HashMap::new())),
            instance: Mutex::new(None),
            stats: Arc::new(StdMutex::new(FunctionStats::default())),
            ready: Arc::new(tokio::sync::Notify::new()),
            pid: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// What the host measured, with the running instance's usage read now.
    pub(super) fn stats(&self) -> FunctionStats {
        let mut stats = self.stats.lock().expect("lock").clone();
        let pid = self.pid.load(std::sync::atomic::Ordering::Relaxed);
        if pid != 0 {
            (stats.peak_rss_kib, stats.cpu_ms) = process_usage(pid);
        }
        stats
    }

    /// Kills the instance as if it crashed; the invocations waiting on it fail.
    pub(super) fn crash(&self) {
        // By pid, without the instance lock: the crashing call may be in the middle of it.
        let pid = self.pid.load(std::sync::atomic::Ordering::Relaxed);
        if pid != 0 {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
        // Dropping the waiting senders ends the invocation as an exit before answering.
        self.pending.lock().expect("lock").clear();
    }

    pub(super) async fn run(&self, settings: &HostSettings, id: String, payload: Bytes) -> Outcome {
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
        let (log, stderr) = self.log_files(settings)?;
        let started = Instant::now();
        // Waiting before the process starts, so that its first `next` cannot be missed.
        let ready = self.ready.notified();
        let child = self.spawn(settings, log, stderr)?;
        self.pid
            .store(child.id().unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
        *instance = Some(Instance { child });
        match tokio::time::timeout(Duration::from_secs(10), ready).await {
            Ok(()) => {
                let init = started.elapsed().as_secs_f64() * 1000.0;
                self.stats.lock().expect("lock").cold_start_init_ms.push(init);
                Ok(())
            }
            Err(_) => Err(format!(
                "{} did not ask for an invocation within 10 s",
                self.config.name
            )),
        }
    }

    /// The function's log, appended to by its stdout and its stderr.
    fn log_files(&self, settings: &HostSettings) -> Result<(std::fs::File, std::fs::File), String> {
        std::fs::create_dir_all(&settings.log_dir).map_err(|e| e.to_string())?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(settings.log_dir.join(format!("{}.log", self.config.name)))
            .map_err(|e| e.to_string())?;
        let stderr = log.try_clone().map_err(|e| e.to_string())?;
        Ok((log, stderr))
    }

    /// The bootstrap, started with the environment Lambda gives `provided.al2023` functions.
    fn spawn(
        &self,
        settings: &HostSettings,
        log: std::fs::File,
        stderr: std::fs::File,
    ) -> Result<Child, String> {
        let c = &self.config;
        let task_root = c
            .binary
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Command::new(&c.binary)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("TZ", ":UTC")
            .env("LANG", "en_US.UTF-8")
            .env("_HANDLER", &c.handler)
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
            .map_err(|e| format!("cannot start {}: {e}", c.binary.display()))
    }

    pub(super) async fn stop(&self) {
        if let Some(mut instance) = self.instance.lock().await.take() {
            let _ = instance.child.kill().await;
        }
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
