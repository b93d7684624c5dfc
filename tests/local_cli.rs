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

#[test]
fn deploy_a_template_and_inject_events() {
    let state = std::env::temp_dir().join(format!("cwq-local-deploy-{}", std::process::id()));
    let state_dir = state.to_str().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let binaries = std::path::Path::new(env!("CARGO_BIN_EXE_cwq"))
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let template = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/localcloud/tests/fixtures/template.yaml"
    );
    assert!(
        std::path::Path::new(&binaries).join("cwq-probe").is_file(),
        "cwq-probe is built by `cargo test --workspace`"
    );

    let up = cwq(&["local", "up", "--port", &port, "--state-dir", state_dir]);
    assert!(up.status.success(), "{}", text(&up));

    // A parameter without a default must be given.
    let missing = cwq(&[
        "local",
        "deploy",
        "--template",
        template,
        "--no-build",
        "--binary-dir",
        &binaries,
        "--state-dir",
        state_dir,
    ]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).contains("Greeting"), "{}", text(&missing));

    let deploy = cwq(&[
        "local",
        "deploy",
        "--template",
        template,
        "--no-build",
        "--binary-dir",
        &binaries,
        "--parameter-overrides",
        "Greeting=hello",
        "--schedule-every",
        "0s",
        "--state-dir",
        state_dir,
    ]);
    let out = text(&deploy);
    assert!(deploy.status.success(), "{out}");
    assert!(
        out.contains("cwq-journal"),
        "the table name is computed from parameters: {out}"
    );
    assert!(out.contains("rule Quarantine.GuardDutyFinding"), "{out}");
    assert!(
        out.contains("schedule ProbeFunction.Sweep (rate(5 minutes))"),
        "{out}"
    );
    assert!(out.contains("not emulated: ProbeRole (AWS::IAM::Role)"), "{out}");

    // An EC2 finding matches the rule; the execution runs the probe through moto's interpreter.
    let finding = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/findings/bitcoin-tool-high.json"
    );
    let inject = cwq(&["local", "inject", finding, "--wait", "--state-dir", state_dir]);
    let out = text(&inject);
    assert!(inject.status.success(), "{out}");
    assert!(
        out.contains("arn:aws:states:us-east-1:123456789012:execution:cwq-Quarantine:"),
        "{out}"
    );
    assert!(out.contains("SUCCEEDED"), "{out}");

    // An S3 finding does not match: reported, not delivered.
    let s3 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/guardduty/neg-iamuser-tor-ipcaller.json"
    );
    let inject = cwq(&["local", "inject", s3, "--state-dir", state_dir]);
    assert!(inject.status.success());
    assert!(
        text(&inject).contains("No deployed rule matches"),
        "{}",
        text(&inject)
    );

    // The schedule runs on demand.
    let run = cwq(&[
        "local",
        "schedule",
        "ProbeFunction.Sweep",
        "--state-dir",
        state_dir,
    ]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("\"echo\": \"scheduled\""), "{}", text(&run));

    let status = text(&cwq(&["local", "status", "--state-dir", state_dir]));
    assert!(
        status.contains("function    cwq-ProbeFunction: 2 invocation(s), 0 error(s), cold start init: "),
        "{status}"
    );

    let logs = cwq(&["local", "logs", "cwq-ProbeFunction", "--state-dir", state_dir]);
    assert!(logs.status.success(), "{}", text(&logs));

    assert!(cwq(&["local", "down", "--state-dir", state_dir]).status.success());
    std::fs::remove_dir_all(&state).ok();
}
