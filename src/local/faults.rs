//! `cwq local faults` and what the local cloud observed (`calls`, `counters`, `actions`).

use super::{require_running, Output};
use crate::error::CliError;
use cwq_localcloud::control::admin;
use serde_json::{json, Value};
use std::path::Path;

#[derive(Debug, clap::Subcommand)]
pub(super) enum Faults {
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

pub(super) async fn faults(state_dir: &Path, command: Faults) -> Result<(), CliError> {
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

pub(super) async fn observe(state_dir: &Path, what: &'static str, output: Output) -> Result<(), CliError> {
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
