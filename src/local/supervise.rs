//! Starting, serving, inspecting and stopping the local cloud's process.

use super::{running, Output};
use crate::error::CliError;
use cwq_localcloud::admin::AdminClient;
use cwq_localcloud::cloudwan::Settings;
use cwq_localcloud::control::{port_in_use, process_alive, StateFile};
use cwq_localcloud::stack::{self, StackConfig};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

pub(super) async fn up(state_dir: &Path, port: u16) -> Result<(), CliError> {
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
        if let Ok(health) = AdminClient::new(&endpoint).health().await {
            if health.moto == "ok" && StateFile::read(state_dir).is_some() {
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

pub(super) async fn serve(state_dir: &Path, port: u16) -> Result<(), CliError> {
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

pub(super) async fn down(state_dir: &Path) -> Result<(), CliError> {
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
        let _ = AdminClient::new(state.endpoint_url()).shutdown().await;
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

pub(super) async fn status(state_dir: &Path, output: Output) -> Result<(), CliError> {
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
    let admin = AdminClient::new(&endpoint);
    let health = admin.health().await.ok();
    let functions = admin.functions().await.unwrap_or_default();
    match output {
        Output::Json => println!(
            "{:#}",
            json!({"running": true, "endpoint": endpoint, "pid": state.pid, "moto_port": state.moto_port,
                   "moto_pid": state.moto_pid, "health": health, "functions": functions, "state_dir": state.state_dir})
        ),
        Output::Text => {
            let (gateway, moto) = match &health {
                Some(h) => (h.gateway.as_str(), h.moto.as_str()),
                None => ("not answering", "unknown"),
            };
            println!("gateway     {endpoint}  (pid {}): {gateway}", state.pid);
            println!("  networkmanager → Cloud WAN emulator, lambda → Lambda host, other services → moto");
            println!(
                "moto        127.0.0.1:{}  (pid {}): {moto}",
                state.moto_port.map_or("-".into(), |p| p.to_string()),
                state.moto_pid.map_or("-".into(), |p| p.to_string()),
            );
            if functions.is_empty() {
                println!("functions   none registered");
            }
            for f in &functions {
                let inits: Vec<String> = f
                    .stats
                    .cold_start_init_ms
                    .iter()
                    .map(|ms| format!("{ms:.1} ms"))
                    .collect();
                println!(
                    "function    {}: {} invocation(s), {} error(s), cold start init: {}",
                    f.config.name,
                    f.stats.invocations,
                    f.stats.errors,
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
