//! `cwq local`: the local cloud — Cloud WAN emulator, Lambda host and moto behind one gateway
//! on 127.0.0.1 — started in the background, inspected and stopped.
//!
//! The commands by concern: `supervise` (the process), `faults` (faults and observation),
//! `deployed` (deploy, inject, schedule).

mod deployed;
mod faults;
mod supervise;

pub(crate) use deployed::{deploy_stack, DeployArgs};
pub(crate) use supervise::{start, stop};

use crate::error::CliError;
use cwq_localcloud::control::{process_alive, StateFile};
use cwq_localcloud::gateway::{DEFAULT_ACCOUNT, DEFAULT_REGION};
use deployed::{deploy, inject, schedule};
use faults::{faults, observe, Faults};
use std::path::{Path, PathBuf};
use supervise::{down, serve, status, up};

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
            Command::Faults(command) => faults(&state_dir, command).await,
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
