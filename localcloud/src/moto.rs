//! moto, the Python emulator behind the gateway for EC2, DynamoDB, STS, SQS, Scheduler and
//! EventBridge: a virtualenv with a pinned `moto[server]`, created on first use. (Step
//! Functions is the local cloud's own: moto has no RedriveExecution.)

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Pinned: the local cloud's behaviour for these services is moto's.
pub const MOTO_REQUIREMENT: &str = "moto[server]==5.2.5";

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("cannot set up the moto virtualenv in {dir}: {message}")]
    Setup { dir: PathBuf, message: String },
    #[error("moto did not start: {0}")]
    Start(String),
}

/// Where the virtualenv lives: `$CWQ_VENV`, else the user's cache directory. It is a cache
/// shared by every state directory and test run, not state.
pub fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CWQ_VENV") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("cwq").join("venv")
}

pub fn python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

/// Creates the virtualenv and installs the pinned moto unless it is already there. Several
/// processes may ask at once (parallel tests): a file lock makes one of them do the work.
pub fn ensure_venv(venv: &Path) -> Result<(), MotoError> {
    let setup = |message: String| MotoError::Setup {
        dir: venv.to_path_buf(),
        message,
    };
    let marker = venv.join("cwq-requirement.txt");
    let ready = || std::fs::read_to_string(&marker).is_ok_and(|r| r.trim() == MOTO_REQUIREMENT);
    if ready() {
        return Ok(());
    }
    let parent = venv.parent().unwrap_or(venv);
    std::fs::create_dir_all(parent).map_err(|e| setup(e.to_string()))?;
    let lock = std::fs::File::create(parent.join("venv.lock")).map_err(|e| setup(e.to_string()))?;
    lock.lock().map_err(|e| setup(e.to_string()))?;
    if ready() {
        return Ok(());
    }
    let run = |program: &Path, args: &[&str]| -> Result<(), MotoError> {
        let output = std::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| setup(format!("{}: {e}", program.display())))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(setup(format!(
                "{} {} failed: {}",
                program.display(),
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
            )))
        }
    };
    let venv_arg = venv.to_string_lossy().to_string();
    if !python(venv).exists() {
        run(Path::new("python3"), &["-m", "venv", &venv_arg]).map_err(|e| {
            setup(format!(
                "{e} (on Debian, scripts/ensure-python-venv installs python3-venv)"
            ))
        })?;
    }
    run(
        &python(venv),
        &[
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            MOTO_REQUIREMENT,
        ],
    )?;
    std::fs::write(&marker, MOTO_REQUIREMENT).map_err(|e| setup(e.to_string()))?;
    Ok(())
}

/// Starts `moto_server` on 127.0.0.1:`port`; MOTO_PORT is the gateway's, for anything moto
/// calls back.
pub async fn start(venv: &Path, port: u16, gateway_port: u16, log: &Path) -> Result<Child, MotoError> {
    let log_file =
        std::fs::File::create(log).map_err(|e| MotoError::Start(format!("{}: {e}", log.display())))?;
    let stderr = log_file
        .try_clone()
        .map_err(|e| MotoError::Start(e.to_string()))?;
    let child = Command::new(venv.join("bin").join("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_PORT", gateway_port.to_string())
        .env("AWS_DEFAULT_REGION", crate::defaults::DEFAULT_REGION)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(stderr)
        // Dropped with its owner, even when a test panics.
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| MotoError::Start(format!("moto_server: {e}")))?;
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if healthy(&url).await.is_ok() {
            return Ok(child);
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err(MotoError::Start(format!(
                "no answer on {url} after 60 s; see {}",
                log.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether moto answers (its dashboard's data).
async fn healthy(url: &str) -> Result<(), String> {
    use http_body_util::Full;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let request = hyper::Request::get(format!("{url}/moto-api/data.json"))
        .body(Full::new(bytes::Bytes::new()))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("moto answered {}", response.status()))
    }
}

/// A free loopback port, found by binding port 0.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
