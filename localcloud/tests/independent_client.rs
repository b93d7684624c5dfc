//! boto3, an independent client with botocore's own copy of the service model, agrees with
//! the emulator: a core network with a policy, attachments paged through, a retag that moves
//! segments, and a typed ResourceNotFoundException.

#![allow(clippy::unwrap_used)]

mod common;

use common::{repo_file, start};
use cwq_localcloud::cloudwan::Settings;
use cwq_localcloud::moto;

#[tokio::test]
async fn boto3_drives_the_emulator() {
    let venv = moto::venv_dir();
    tokio::task::spawn_blocking({
        let venv = venv.clone();
        move || moto::ensure_venv(&venv)
    })
    .await
    .unwrap()
    .unwrap();
    let settings = Settings {
        transition_delay_ms: 0,
        ..Settings::default()
    };
    let cloud = start(settings, None, "boto3").await;
    let output = tokio::process::Command::new(moto::python(&venv))
        .arg(repo_file("localcloud/tests/clients/boto3_cloudwan.py"))
        .arg(repo_file("examples/core-network-policy.json"))
        .env("AWS_ENDPOINT_URL", cloud.endpoint_url())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("120 attachments, 3 pages"), "{stdout}");
    cloud.stop().await;
}
