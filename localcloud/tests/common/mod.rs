//! Starts a local cloud in the test process and builds real SDK clients against it.
#![allow(dead_code, clippy::unwrap_used)]

use aws_config::BehaviorVersion;
use aws_sdk_networkmanager::config::{Credentials, Region};
use cwq_localcloud::admin::AdminClient;
use cwq_localcloud::cloudwan::Settings;
use cwq_localcloud::gateway::{self, GatewayConfig, Running};
use std::path::PathBuf;

pub const OWNER: &str = "123456789012";
pub const SPOKE: &str = "222222222222";

pub fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cwq-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn start(settings: Settings, moto_url: Option<String>, name: &str) -> Running {
    gateway::start(GatewayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        moto_url,
        log_dir: temp_dir(name).join("logs"),
        cloudwan: settings,
    })
    .await
    .unwrap()
}

pub async fn sdk_config(running: &Running, account: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(running.endpoint_url())
        .credentials_provider(Credentials::new(account, "secret", None, None, "cwq-test"))
        .load()
        .await
}

pub async fn network_manager(running: &Running, account: &str) -> aws_sdk_networkmanager::Client {
    aws_sdk_networkmanager::Client::new(&sdk_config(running, account).await)
}

/// The admin API of `running`.
pub fn admin(running: &Running) -> AdminClient {
    AdminClient::new(running.endpoint_url())
}
