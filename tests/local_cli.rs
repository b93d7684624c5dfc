//! `cwq local` as a user runs it: up, a second up, status, env, faults, down — and nothing left
//! bound or running afterwards.

#![allow(clippy::unwrap_used)] // a test that cannot read its input should stop there

use std::process::{Command, Output};

fn cwq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cwq"))
        .args(args)
        .output()
        .expect("run cwq")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn up_status_env_faults_down() {
    let state = std::env::temp_dir().join(format!("cwq-local-cli-{}", std::process::id()));
    let state_dir = state.to_str().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();

    let out = cwq(&["local", "env", "--state-dir", state_dir]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "env without a running cloud: {}",
        text(&out)
    );
    assert!(text(&out).contains("not running"));

    let out = cwq(&["local", "up", "--port", &port, "--state-dir", state_dir]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("http://127.0.0.1:{port}")));

    let again = cwq(&["local", "up", "--port", &port, "--state-dir", state_dir]);
    assert!(again.status.success());
    assert!(text(&again).contains("already running"), "{}", text(&again));

    let status = cwq(&["local", "status", "--output", "json", "--state-dir", state_dir]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["running"], true);
    assert_eq!(status["health"]["moto"], "ok");
    let moto_port = status["moto_port"].as_u64().unwrap();

    let env = text(&cwq(&["local", "env", "--state-dir", state_dir]));
    assert!(
        env.contains(&format!("export AWS_ENDPOINT_URL=http://127.0.0.1:{port}")),
        "{env}"
    );

    let faults = cwq(&[
        "local",
        "faults",
        "add",
        "--operation",
        "TagResource",
        "--throttle-rate",
        "0.5",
        "--state-dir",
        state_dir,
    ]);
    assert!(faults.status.success(), "{}", text(&faults));
    assert!(text(&faults).contains("TagResource"));
    let bad = cwq(&[
        "local",
        "faults",
        "add",
        "--throttle-rate",
        "2",
        "--state-dir",
        state_dir,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let stuck = cwq(&[
        "local",
        "faults",
        "cloudwan",
        "--stuck",
        "true",
        "--state-dir",
        state_dir,
    ]);
    assert!(
        text(&stuck).contains("\"stuck_transitions\": true"),
        "{}",
        text(&stuck)
    );
    assert!(cwq(&["local", "faults", "clear", "--state-dir", state_dir])
        .status
        .success());
    let calls = cwq(&["local", "calls", "--state-dir", state_dir]);
    assert!(text(&calls).contains("0 mutating call(s)"), "{}", text(&calls));

    let logs = cwq(&["local", "logs", "--state-dir", state_dir]);
    assert!(text(&logs).contains("local cloud serving"), "{}", text(&logs));
    let missing = cwq(&["local", "logs", "enrich", "--state-dir", state_dir]);
    assert_eq!(missing.status.code(), Some(2));

    let down = cwq(&["local", "down", "--state-dir", state_dir]);
    assert!(down.status.success(), "{}", text(&down));
    for port in [port.parse::<u16>().unwrap(), moto_port as u16] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} still bound"
        );
    }
    let status = text(&cwq(&["local", "status", "--state-dir", state_dir]));
    assert!(status.contains("not running"), "{status}");
    let down_again = cwq(&["local", "down", "--state-dir", state_dir]);
    assert!(down_again.status.success());
    std::fs::remove_dir_all(&state).ok();
}
