//! `cwq local`: the local cloud — Cloud WAN emulator, Lambda host and moto behind one gateway
//! on 127.0.0.1 — started in the background, inspected and stopped.

use crate::error::CliError;
use cwq_localcloud::cloudwan::Settings;
use cwq_localcloud::control::{admin, port_in_use, process_alive, StateFile};
use cwq_localcloud::deploy::{self, Delivery, DeployError, DeployOptions, Deployment};
use cwq_localcloud::gateway::{DEFAULT_ACCOUNT, DEFAULT_REGION};
use cwq_localcloud::stack::{self, StackConfig};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Run AWS offline on this machine: `up`, then `eval "$(cwq local env)"`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// Where the local cloud keeps its state and logs (default: target/cwq-local next to the
    /// cwq binary's build directory).
    #[arg(long, global = true)]
    state_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Start everything in the background; return when it is healthy.
    Up {
        /// The gateway's port on 127.0.0.1.
        #[arg(long, default_value_t = 4566)]
        port: u16,
    },
    /// Stop every process `up` started.
    Down,
    /// What runs where.
    Status {
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// The shell exports that point the AWS CLI and SDKs at the local cloud.
    Env,
    /// A function's log (or the local cloud's own, without a name).
    Logs { function: Option<String> },
    /// Inject faults into Network Manager (or any service) calls.
    #[command(subcommand)]
    Faults(Faults),
    /// The log of mutating calls (proof that a dry run changed nothing).
    Calls {
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Calls per service and operation, with errors and injected faults.
    Counters {
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// The IAM actions each Lambda function used with its own credentials (least privilege).
    Actions {
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Create what a SAM template declares: tables, functions, state machines, rules, schedules.
    Deploy(DeployArgs),
    /// Deliver an event as EventBridge would, to the deployed rules whose pattern matches.
    Inject {
        event: PathBuf,
        /// Wait for each execution to end and print its status.
        #[arg(long)]
        wait: bool,
    },
    /// List the deployed schedules, or run one now.
    Schedule { name: Option<String> },
    /// Run the local cloud in the foreground (what `up` starts).
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        port: u16,
    },
}

#[derive(Debug, clap::Subcommand)]
enum Faults {
    /// The fault rules and the emulator's settings.
    List,
    /// Add a rule: a share of calls throttled or failed, added latency, or a crash of the
    /// calling function right after its call is served.
    Add {
        /// networkmanager, lambda, ec2, dynamodb, sts… or * for any.
        #[arg(long, default_value = "*")]
        service: String,
        /// e.g. TagResource; * for any.
        #[arg(long, default_value = "*")]
        operation: String,
        #[arg(long, default_value_t = 0.0)]
        throttle_rate: f64,
        #[arg(long, default_value_t = 0.0)]
        error_rate: f64,
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Serve the call, then crash the Lambda function that made it (before it sees the answer).
        #[arg(long)]
        crash_after: bool,
        /// Answer access denied, as an IAM policy or an SCP would.
        #[arg(long)]
        denied: bool,
        /// Apply to the first N matching calls only.
        #[arg(long)]
        times: Option<u32>,
        /// Seed for the fault dice, for reproducible runs.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Remove every rule and un-stick transitions.
    Clear,
    /// Change how Lambda errors reach Step Functions where AWS names them two ways.
    Lambda {
        /// The error a Task whose function timed out fails with: Lambda.Unknown (the Step
        /// Functions guide's name, the default) or Sandbox.Timedout (Lambda's own errorType).
        #[arg(long, value_parser = ["Lambda.Unknown", "Sandbox.Timedout"])]
        timeout_error: Option<String>,
    },
    /// Change how the Cloud WAN emulator behaves.
    Cloudwan {
        #[arg(long)]
        transition_delay_ms: Option<u64>,
        /// Transitions never complete.
        #[arg(long)]
        stuck: Option<bool>,
        /// ConflictException for changes during a transition.
        #[arg(long)]
        conflict: Option<bool>,
        /// Also accept attachment ARNs with the core network owner's account.
        #[arg(long)]
        accept_core_owner_arn: Option<bool>,
        /// The core network owner's tag changes wait for acceptance where required.
        #[arg(long)]
        owner_changes_need_acceptance: Option<bool>,
        /// RejectAttachment of a tag change makes the attachment REJECTED (true, the default)
        /// or returns it to AVAILABLE (false).
        #[arg(long)]
        rejected_tag_change_detaches: Option<bool>,
        /// ListAttachments returns each attachment's tags (false by default: undocumented).
        #[arg(long)]
        list_attachments_include_tags: Option<bool>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Text,
    Json,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let state_dir = args.state_dir.unwrap_or_else(default_state_dir);
    let runtime = tokio::runtime::Runtime::new().map_err(CliError::failed)?;
    runtime.block_on(async {
        match args.command {
            Command::Up { port } => up(&state_dir, port).await,
            Command::Down => down(&state_dir).await,
            Command::Status { output } => status(&state_dir, output).await,
            Command::Env => env(&state_dir),
            Command::Logs { function } => logs(&state_dir, function.as_deref()),
            Command::Faults(faults) => self::faults(&state_dir, faults).await,
            Command::Calls { output } => observe(&state_dir, "calls", output).await,
            Command::Counters { output } => observe(&state_dir, "counters", output).await,
            Command::Actions { output } => observe(&state_dir, "actions", output).await,
            Command::Deploy(options) => deploy(&state_dir, options).await,
            Command::Inject { event, wait } => inject(&state_dir, &event, wait).await,
            Command::Schedule { name } => schedule(&state_dir, name.as_deref()).await,
            Command::Serve { port } => serve(&state_dir, port).await,
        }
    })
}

/// target/cwq-local beside the build that holds this binary (target/debug/cwq).
pub(crate) fn default_state_dir() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let target = exe.as_deref().and_then(Path::parent).and_then(Path::parent);
    target
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("cwq-local")
}

/// The running local cloud, if its process is alive.
fn running(state_dir: &Path) -> Option<StateFile> {
    StateFile::read(state_dir).filter(|state| process_alive(state.pid))
}

pub(crate) fn require_running(state_dir: &Path) -> Result<StateFile, CliError> {
    running(state_dir).ok_or_else(|| {
        CliError::failed(format!(
            "the local cloud is not running (state in {}); start it with `cwq local up`",
            state_dir.display()
        ))
    })
}

async fn up(state_dir: &Path, port: u16) -> Result<(), CliError> {
    if let Some(state) = running(state_dir) {
        println!(
            "The local cloud is already running at {} (pid {}); nothing to do.",
            state.endpoint_url(),
            state.pid
        );
        return Ok(());
    }
    let (endpoint, took) = start(state_dir, port).await?;
    println!(
        "The local cloud is up at {endpoint} ({:.1} s). Point the AWS CLI and SDKs at it with:",
        took.as_secs_f64()
    );
    println!("  eval \"$(cwq local env)\"");
    Ok(())
}

/// Starts `cwq local serve` in the background; returns its endpoint once healthy.
pub(crate) async fn start(state_dir: &Path, port: u16) -> Result<(String, Duration), CliError> {
    if port_in_use(port) {
        return Err(CliError::failed(format!(
            "127.0.0.1:{port} is taken by another program; choose one with --port"
        )));
    }
    let logs = state_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| CliError::failed(format!("{}: {e}", logs.display())))?;
    let log_path = logs.join("localcloud.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| CliError::failed(format!("{}: {e}", log_path.display())))?;
    let stderr = log.try_clone().map_err(CliError::failed)?;
    let exe = std::env::current_exe().map_err(CliError::failed)?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(exe)
            .args(["local", "serve", "--port", &port.to_string(), "--state-dir"])
            .arg(state_dir)
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(stderr)
            // Its own process group: a Ctrl-C in this terminal does not reach it.
            .process_group(0)
            .spawn()
            .map_err(|e| CliError::failed(format!("cannot start the local cloud: {e}")))?
    };
    eprintln!(
        "Starting the local cloud on 127.0.0.1:{port} (the first start installs moto; logs: {})",
        log_path.display()
    );
    let started = Instant::now();
    let endpoint = format!("http://127.0.0.1:{port}");
    loop {
        if let Ok(Some(exit)) = child.try_wait() {
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = tail
                .lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            return Err(CliError::failed(format!(
                "the local cloud stopped ({exit}):\n{}",
                tail.join("\n")
            )));
        }
        if let Ok(health) = admin(&endpoint, "GET", "health", None).await {
            if health["moto"] == "ok" && StateFile::read(state_dir).is_some() {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            return Err(CliError::failed(format!(
                "the local cloud was not healthy after 10 minutes; see {}",
                log_path.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok((endpoint, started.elapsed()))
}

async fn serve(state_dir: &Path, port: u16) -> Result<(), CliError> {
    let stack = stack::start(StackConfig {
        port,
        state_dir: state_dir.to_path_buf(),
        with_moto: true,
        cloudwan: Settings::default(),
    })
    .await
    .map_err(CliError::failed)?;
    let state = StateFile {
        pid: std::process::id(),
        port: stack.gateway.addr.port(),
        moto_pid: stack.moto.as_ref().and_then(tokio::process::Child::id),
        moto_port: stack.moto_port,
        state_dir: state_dir.to_path_buf(),
    };
    state.write().map_err(CliError::failed)?;
    eprintln!(
        "local cloud serving at {} (moto on port {:?})",
        state.endpoint_url(),
        state.moto_port
    );
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(CliError::failed)?;
    tokio::select! {
        _ = stack.gateway.shutdown_requested() => {}
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("local cloud stopping");
    stack.stop().await;
    StateFile::remove(state_dir);
    Ok(())
}

async fn down(state_dir: &Path) -> Result<(), CliError> {
    match stop(state_dir).await? {
        Some(endpoint) => println!("The local cloud at {endpoint} is stopped."),
        None => println!("The local cloud is not running."),
    }
    Ok(())
}

/// Stops the local cloud and waits until its ports are free; its endpoint, if it ran.
pub(crate) async fn stop(state_dir: &Path) -> Result<Option<String>, CliError> {
    let Some(state) = StateFile::read(state_dir) else {
        return Ok(None);
    };
    if process_alive(state.pid) {
        let _ = admin(&state.endpoint_url(), "POST", "shutdown", None).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let pids: Vec<u32> = [Some(state.pid), state.moto_pid].into_iter().flatten().collect();
    while pids.iter().any(|pid| process_alive(*pid)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for pid in pids.iter().filter(|pid| process_alive(**pid)) {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    StateFile::remove(state_dir);
    let ports: Vec<u16> = [Some(state.port), state.moto_port]
        .into_iter()
        .flatten()
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ports.iter().any(|port| port_in_use(*port)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(port) = ports.iter().find(|port| port_in_use(**port)) {
        return Err(CliError::failed(format!(
            "stopped, but 127.0.0.1:{port} is still bound"
        )));
    }
    Ok(Some(state.endpoint_url()))
}

async fn status(state_dir: &Path, output: Output) -> Result<(), CliError> {
    let Some(state) = running(state_dir) else {
        match output {
            Output::Json => println!("{}", json!({"running": false, "state_dir": state_dir})),
            Output::Text => println!(
                "The local cloud is not running (state in {}).",
                state_dir.display()
            ),
        }
        return Ok(());
    };
    let endpoint = state.endpoint_url();
    let health = admin(&endpoint, "GET", "health", None)
        .await
        .unwrap_or(Value::Null);
    let functions = admin(&endpoint, "GET", "functions", None)
        .await
        .unwrap_or(json!([]));
    match output {
        Output::Json => println!(
            "{:#}",
            json!({"running": true, "endpoint": endpoint, "pid": state.pid, "moto_port": state.moto_port,
                   "moto_pid": state.moto_pid, "health": health, "functions": functions, "state_dir": state.state_dir})
        ),
        Output::Text => {
            println!(
                "gateway     {endpoint}  (pid {}): {}",
                state.pid,
                health["gateway"].as_str().unwrap_or("not answering")
            );
            println!("  networkmanager → Cloud WAN emulator, lambda → Lambda host, other services → moto");
            println!(
                "moto        127.0.0.1:{}  (pid {}): {}",
                state.moto_port.map_or("-".into(), |p| p.to_string()),
                state.moto_pid.map_or("-".into(), |p| p.to_string()),
                health["moto"].as_str().unwrap_or("unknown")
            );
            let registered = functions.as_array().cloned().unwrap_or_default();
            if registered.is_empty() {
                println!("functions   none registered");
            }
            for f in &registered {
                let stats = &f["stats"];
                let inits: Vec<String> = stats["cold_start_init_ms"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_f64)
                    .map(|ms| format!("{ms:.1} ms"))
                    .collect();
                println!(
                    "function    {}: {} invocation(s), {} error(s), cold start init: {}",
                    f["config"]["name"].as_str().unwrap_or("?"),
                    stats["invocations"],
                    stats["errors"],
                    if inits.is_empty() {
                        "none yet".to_string()
                    } else {
                        inits.join(", ")
                    }
                );
            }
            println!("state       {}", state.state_dir.display());
        }
    }
    Ok(())
}

fn env(state_dir: &Path) -> Result<(), CliError> {
    let state = require_running(state_dir)?;
    println!("export AWS_ENDPOINT_URL={}", state.endpoint_url());
    println!("export AWS_REGION={DEFAULT_REGION}");
    println!("export AWS_DEFAULT_REGION={DEFAULT_REGION}");
    println!("export AWS_ACCESS_KEY_ID={DEFAULT_ACCOUNT}");
    println!("export AWS_SECRET_ACCESS_KEY=cwq-local");
    println!("unset AWS_SESSION_TOKEN AWS_PROFILE");
    Ok(())
}

fn logs(state_dir: &Path, function: Option<&str>) -> Result<(), CliError> {
    let dir = state_dir.join("logs");
    let file = dir.join(format!("{}.log", function.unwrap_or("localcloud")));
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            print!("{text}");
            Ok(())
        }
        Err(_) => {
            let mut known: Vec<String> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log").map(str::to_string))
                .collect();
            known.sort();
            Err(CliError::invalid(format!(
                "no log {}; logs here: {}",
                file.display(),
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )))
        }
    }
}

async fn faults(state_dir: &Path, command: Faults) -> Result<(), CliError> {
    let endpoint = require_running(state_dir)?.endpoint_url();
    let call = |method: &'static str, path: &'static str, body: Option<Value>| {
        let endpoint = endpoint.clone();
        async move {
            admin(&endpoint, method, path, body.as_ref())
                .await
                .map_err(CliError::failed)
        }
    };
    match command {
        Faults::List => {}
        Faults::Add {
            service,
            operation,
            throttle_rate,
            error_rate,
            latency_ms,
            crash_after,
            denied,
            times,
            seed,
        } => {
            for (name, rate) in [("--throttle-rate", throttle_rate), ("--error-rate", error_rate)] {
                if !(0.0..=1.0).contains(&rate) {
                    return Err(CliError::invalid(format!("{name} {rate} is not between 0 and 1")));
                }
            }
            let mut rules = call("GET", "faults", None).await?;
            if let Some(list) = rules.as_array_mut() {
                list.push(
                    json!({"service": service, "operation": operation, "throttle_rate": throttle_rate,
                           "error_rate": error_rate, "latency_ms": latency_ms, "crash_after": crash_after,
                           "denied": denied, "times": times}),
                );
            }
            call("PUT", "faults", Some(json!({"rules": rules, "seed": seed}))).await?;
        }
        Faults::Clear => {
            call("DELETE", "faults", None).await?;
            let mut settings = call("GET", "cloudwan/settings", None).await?;
            settings["stuck_transitions"] = json!(false);
            call("PUT", "cloudwan/settings", Some(settings)).await?;
        }
        Faults::Lambda { timeout_error } => {
            if let Some(name) = timeout_error {
                call("PUT", "lambda/settings", Some(json!({"timeout_error": name}))).await?;
            }
        }
        Faults::Cloudwan {
            transition_delay_ms,
            stuck,
            conflict,
            accept_core_owner_arn,
            owner_changes_need_acceptance,
            rejected_tag_change_detaches,
            list_attachments_include_tags,
        } => {
            let mut settings = call("GET", "cloudwan/settings", None).await?;
            let changes = [
                ("transition_delay_ms", transition_delay_ms.map(Value::from)),
                ("stuck_transitions", stuck.map(Value::from)),
                ("conflict_during_transition", conflict.map(Value::from)),
                ("accept_core_owner_arn", accept_core_owner_arn.map(Value::from)),
                (
                    "owner_changes_need_acceptance",
                    owner_changes_need_acceptance.map(Value::from),
                ),
                (
                    "rejected_tag_change_detaches",
                    rejected_tag_change_detaches.map(Value::from),
                ),
                (
                    "list_attachments_include_tags",
                    list_attachments_include_tags.map(Value::from),
                ),
            ];
            for (key, value) in changes {
                if let Some(value) = value {
                    settings[key] = value;
                }
            }
            call("PUT", "cloudwan/settings", Some(settings)).await?;
        }
    }
    let rules = call("GET", "faults", None).await?;
    let settings = call("GET", "cloudwan/settings", None).await?;
    println!(
        "fault rules: {}",
        if rules.as_array().is_some_and(Vec::is_empty) {
            "none".into()
        } else {
            format!("{rules:#}")
        }
    );
    println!("cloudwan settings: {settings:#}");
    let lambda = call("GET", "lambda/settings", None).await?;
    println!("lambda settings: {lambda:#}");
    Ok(())
}

async fn observe(state_dir: &Path, what: &'static str, output: Output) -> Result<(), CliError> {
    let endpoint = require_running(state_dir)?.endpoint_url();
    let value = admin(&endpoint, "GET", what, None)
        .await
        .map_err(CliError::failed)?;
    match (output, what) {
        (Output::Json, _) => println!("{value:#}"),
        (Output::Text, "calls") => {
            let calls = value.as_array().cloned().unwrap_or_default();
            println!("{} mutating call(s)", calls.len());
            for c in calls {
                println!(
                    "{:>5}  {:<15} {:<28} {:<13} {}  {}",
                    c["seq"],
                    c["service"].as_str().unwrap_or(""),
                    c["operation"].as_str().unwrap_or(""),
                    c["account"].as_str().unwrap_or(""),
                    c["status"],
                    c["path"].as_str().unwrap_or("")
                );
            }
        }
        (Output::Text, "actions") => {
            for (function, actions) in value.as_object().into_iter().flatten() {
                let list: Vec<&str> = actions
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                println!("{function}: {}", list.join(", "));
            }
        }
        (Output::Text, _) => {
            for (operation, counter) in value.as_object().into_iter().flatten() {
                println!(
                    "{operation:<44} calls {:>6}  errors {:>5}  injected {:>5}",
                    counter["calls"], counter["errors"], counter["injected"]
                );
            }
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct DeployArgs {
    #[arg(long, default_value = "template.yaml")]
    pub template: PathBuf,
    /// Template parameters, read as `sam deploy` reads them: `KEY=VALUE` (a value ends at its
    /// first space unless quoted), `ParameterKey=K,ParameterValue=V`, or `file://params.toml`
    /// / `.yaml`. Default: samconfig.toml's parameter_overrides.
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    pub parameter_overrides: Vec<String>,
    /// Default: samconfig.toml's stack_name, else cwq.
    #[arg(long)]
    pub stack_name: Option<String>,
    /// The SAM config file (default: samconfig.toml next to the template, if there is one).
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    /// The samconfig.toml environment.
    #[arg(long, default_value = "default")]
    pub config_env: String,
    /// Print the parameters as `sam deploy` would pass them (JSON), and deploy nothing.
    #[arg(long)]
    pub show_parameters: bool,
    /// Where the functions' binaries are (default: the cargo target's debug directory).
    #[arg(long)]
    pub binary_dir: Option<PathBuf>,
    /// Use the binaries as they are instead of running `cargo build` first.
    #[arg(long)]
    pub no_build: bool,
    /// How often scheduled functions run locally (`rate(…)` schedules); 0s: on demand only.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub schedule_every: Duration,
}

/// The debug output directory of the cargo workspace that holds `dir`.
fn cargo_debug_dir(dir: &Path) -> Result<PathBuf, CliError> {
    let output = std::process::Command::new("cargo")
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(dir)
        .output()
        .map_err(|e| CliError::failed(format!("cargo metadata: {e}")))?;
    let metadata: Value = serde_json::from_slice(&output.stdout).map_err(|_| {
        CliError::failed(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    })?;
    let target = metadata["target_directory"]
        .as_str()
        .ok_or_else(|| CliError::failed("cargo metadata has no target_directory"))?;
    Ok(PathBuf::from(target).join("debug"))
}

async fn deploy(state_dir: &Path, args: DeployArgs) -> Result<(), CliError> {
    if args.show_parameters {
        let (overrides, stack_name) = parameters(&args)?;
        println!(
            "{:#}",
            json!({"stack_name": stack_name, "parameter_overrides": overrides})
        );
        return Ok(());
    }
    let deployment = deploy_stack(state_dir, &args).await?;
    let endpoint = require_running(state_dir)?.endpoint_url();
    println!("Deployed {} to {endpoint}:", args.template.display());
    print_deployment(&deployment);
    Ok(())
}

/// Builds the template's functions (unless told not to), deploys it and records it.
pub(crate) async fn deploy_stack(state_dir: &Path, args: &DeployArgs) -> Result<Deployment, CliError> {
    let state = require_running(state_dir)?;
    let (overrides, stack_name) = parameters(args)?;
    if !args.template.is_file() {
        return Err(CliError::invalid(format!(
            "no template at {}",
            args.template.display()
        )));
    }
    let template_dir = args
        .template
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let binaries = deploy::function_binaries(&args.template).map_err(CliError::invalid)?;
    if !args.no_build && !binaries.is_empty() {
        eprintln!("Building {}", binaries.join(", "));
        let mut build = std::process::Command::new("cargo");
        build
            .args(["build", "--quiet", "--workspace"])
            .current_dir(&template_dir);
        for binary in &binaries {
            build.args(["--bin", binary]);
        }
        let status = build
            .status()
            .map_err(|e| CliError::failed(format!("cargo build: {e}")))?;
        if !status.success() {
            return Err(CliError::failed("cargo build failed"));
        }
    }
    let binary_dir = match args.binary_dir.clone() {
        Some(dir) => dir,
        None => cargo_debug_dir(&template_dir)?,
    };
    let options = DeployOptions {
        template: args.template.clone(),
        parameter_overrides: overrides,
        stack_name,
        binary_dir,
        schedule_every: Some(args.schedule_every).filter(|d| !d.is_zero()),
    };
    let deployment = deploy::deploy(&state.endpoint_url(), &options)
        .await
        .map_err(|e| match e {
            DeployError::Template(_) | DeployError::Read { .. } => CliError::invalid(e),
            other => CliError::failed(other),
        })?;
    deployment.write(state_dir).map_err(CliError::failed)?;
    Ok(deployment)
}

/// The overrides and stack name, as `sam deploy` would take them: the command line's, else
/// samconfig.toml's.
fn parameters(args: &DeployArgs) -> Result<(std::collections::BTreeMap<String, String>, String), CliError> {
    let config_path = args.config_file.clone().or_else(|| {
        let beside = args
            .template
            .parent()
            .unwrap_or(Path::new("."))
            .join("samconfig.toml");
        beside.is_file().then_some(beside)
    });
    let config = match &config_path {
        Some(path) => {
            cwq_localcloud::overrides::samconfig(path, &args.config_env).map_err(CliError::invalid)?
        }
        None => Default::default(),
    };
    let overrides = if args.parameter_overrides.is_empty() {
        config.parameter_overrides.unwrap_or_default()
    } else {
        let items: Vec<Value> = args
            .parameter_overrides
            .iter()
            .cloned()
            .map(Value::String)
            .collect();
        cwq_localcloud::overrides::convert(&items, None)
            .map_err(|e| CliError::invalid(format!("--parameter-overrides: {e}")))?
    };
    let stack_name = args
        .stack_name
        .clone()
        .or(config.stack_name)
        .unwrap_or_else(|| "cwq".into());
    Ok((overrides, stack_name))
}

fn print_deployment(deployment: &Deployment) {
    for c in &deployment.created {
        println!("  {:<28} {:<32} {}", c.logical_id, c.resource_type, c.physical_id);
    }
    for rule in &deployment.rules {
        println!("  rule {} → {}", rule.name, rule.state_machine_arn);
    }
    for s in &deployment.schedules {
        let when = s.every_ms.map_or("on demand".to_string(), |ms| {
            format!("every {} s locally", ms / 1000)
        });
        println!("  schedule {} ({}) → {} {when}", s.name, s.expression, s.function);
    }
    if !deployment.not_emulated.is_empty() {
        let names: Vec<String> = deployment
            .not_emulated
            .iter()
            .map(|c| format!("{} ({})", c.logical_id, c.resource_type))
            .collect();
        println!("  not emulated: {}", names.join(", "));
    }
}

async fn inject(state_dir: &Path, event_path: &Path, wait: bool) -> Result<(), CliError> {
    let state = require_running(state_dir)?;
    let deployment = Deployment::read(state_dir)
        .ok_or_else(|| CliError::failed("nothing is deployed: run `cwq local deploy` first"))?;
    let text = crate::error::read_input(event_path, "event")?;
    let event: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::invalid(format!("{}: not valid JSON: {e}", event_path.display())))?;
    if event.get("detail").is_none() || event.get("source").is_none() {
        return Err(CliError::invalid(format!(
            "{}: not an EventBridge event (it needs `source`, `detail-type` and `detail`)",
            event_path.display()
        )));
    }
    let started = deploy::inject(&state.endpoint_url(), &deployment, &event)
        .await
        .map_err(CliError::failed)?;
    if started.is_empty() {
        let rules: Vec<&str> = deployment.rules.iter().map(|r| r.name.as_str()).collect();
        println!(
            "No deployed rule matches this event ({}); nothing was delivered.",
            rules.join(", ")
        );
        return Ok(());
    }
    let mut failed = false;
    for delivery in started {
        let (rule, execution) = match delivery {
            Delivery::Started { rule, execution_arn } => (rule, execution_arn),
            Delivery::DeadLettered { rule, error, queue } => {
                println!("{rule} → not delivered ({error}); the event is in the dead-letter queue {queue}");
                failed = true;
                continue;
            }
            Delivery::Dropped { rule, error } => {
                println!(
                    "{rule} → not delivered ({error}); the rule has no dead-letter queue, so it is lost"
                );
                failed = true;
                continue;
            }
        };
        println!("{rule} → {execution}");
        if wait {
            let done = deploy::wait_for(&state.endpoint_url(), &execution, Duration::from_secs(600))
                .await
                .map_err(CliError::failed)?;
            let status = done["status"].as_str().unwrap_or("UNKNOWN");
            println!("  {status}");
            if let (Some(error), cause) = (done["error"].as_str(), done["cause"].as_str()) {
                println!("  error: {error}: {}", cause.unwrap_or_default());
            }
            failed |= status != "SUCCEEDED";
        }
    }
    if failed {
        return Err(CliError::failed(
            "an event was not delivered, or an execution did not succeed",
        ));
    }
    Ok(())
}

async fn schedule(state_dir: &Path, name: Option<&str>) -> Result<(), CliError> {
    let endpoint = require_running(state_dir)?.endpoint_url();
    let Some(name) = name else {
        let schedules = admin(&endpoint, "GET", "schedules", None)
            .await
            .map_err(CliError::failed)?;
        for s in schedules.as_array().into_iter().flatten() {
            let when = s["every_ms"]
                .as_u64()
                .map_or("on demand".to_string(), |ms| format!("every {} s", ms / 1000));
            println!(
                "{:<32} {:<20} → {} ({when})",
                s["name"].as_str().unwrap_or(""),
                s["expression"].as_str().unwrap_or(""),
                s["function"].as_str().unwrap_or("")
            );
        }
        return Ok(());
    };
    let result = admin(&endpoint, "POST", &format!("schedules/{name}/run"), None)
        .await
        .map_err(CliError::failed)?;
    println!("{result:#}");
    if result["function_error"] == true {
        return Err(CliError::failed(format!("schedule {name}: the function failed")));
    }
    Ok(())
}
