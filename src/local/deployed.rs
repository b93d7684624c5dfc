//! `cwq local deploy`, `inject` and `schedule`: template.yaml deployed as `sam deploy` would,
//! findings delivered as EventBridge would, the schedules run on demand.

use super::require_running;
use crate::error::CliError;
use cwq_localcloud::admin::AdminClient;
use cwq_localcloud::deploy::{self, Delivery, DeployError, DeployOptions, Deployment};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

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

pub(super) async fn deploy(state_dir: &Path, args: DeployArgs) -> Result<(), CliError> {
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

pub(super) async fn inject(state_dir: &Path, event_path: &Path, wait: bool) -> Result<(), CliError> {
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

pub(super) async fn schedule(state_dir: &Path, name: Option<&str>) -> Result<(), CliError> {
    let admin = AdminClient::new(require_running(state_dir)?.endpoint_url());
    let Some(name) = name else {
        for s in admin.schedules().await.map_err(CliError::failed)? {
            let when = s
                .every_ms
                .map_or("on demand".to_string(), |ms| format!("every {} s", ms / 1000));
            println!("{:<32} {:<20} → {} ({when})", s.name, s.expression, s.function);
        }
        return Ok(());
    };
    let run = admin.run_schedule(name).await.map_err(CliError::failed)?;
    println!("{:#}", serde_json::to_value(&run).map_err(CliError::failed)?);
    if run.function_error {
        return Err(CliError::failed(format!("schedule {name}: the function failed")));
    }
    Ok(())
}
