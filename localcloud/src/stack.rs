//! The whole local cloud in one call: moto (optional) behind the gateway, logs under one
//! state directory. Used by `cwq local serve` and by the tests.

use crate::cloudwan::Settings;
use crate::gateway::{self, GatewayConfig, Running};
use crate::moto::{self, MotoError};
use std::path::PathBuf;
use tokio::process::Child;

#[derive(Debug, Clone)]
pub struct StackConfig {
    /// The gateway's port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    pub state_dir: PathBuf,
    pub with_moto: bool,
    pub cloudwan: Settings,
}

#[derive(Debug)]
pub struct Stack {
    pub gateway: Running,
    pub moto: Option<Child>,
    pub moto_port: Option<u16>,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Moto(#[from] MotoError),
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub async fn start(config: StackConfig) -> Result<Stack, StackError> {
    let logs = config.state_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let moto_port = if config.with_moto {
        let venv = moto::venv_dir();
        let setup = venv.clone();
        tokio::task::spawn_blocking(move || moto::ensure_venv(&setup))
            .await
            .map_err(|e| MotoError::Start(e.to_string()))??;
        Some(moto::free_port()?)
    } else {
        None
    };
    let gateway = gateway::start(GatewayConfig {
        listen: ([127, 0, 0, 1], config.port).into(),
        moto_url: moto_port.map(|port| format!("http://127.0.0.1:{port}")),
        log_dir: logs.clone(),
        cloudwan: config.cloudwan,
    })
    .await
    .map_err(|source| StackError::Bind {
        port: config.port,
        source,
    })?;
    let moto = match moto_port {
        Some(port) => {
            let child = moto::start(
                &moto::venv_dir(),
                port,
                gateway.addr.port(),
                &logs.join("moto.log"),
            )
            .await?;
            Some(child)
        }
        None => None,
    };
    Ok(Stack {
        gateway,
        moto,
        moto_port,
    })
}

impl Stack {
    pub async fn stop(mut self) {
        if let Some(child) = self.moto.as_mut() {
            let _ = child.kill().await;
        }
        self.gateway.stop().await;
    }
}
