//! `cwq local faults` and what the local cloud observed (`calls`, `counters`, `actions`).

use super::{require_running, Output};
use crate::error::CliError;
use cwq_localcloud::admin::{AdminClient, FaultSet, LambdaSettings};
use cwq_localcloud::cloudwan::Settings;
use cwq_localcloud::observe::FaultRule;
use serde::Serialize;
use serde_json::Value;
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
    let admin = AdminClient::new(require_running(state_dir)?.endpoint_url());
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
            let mut rules = admin.faults().await.map_err(CliError::failed)?;
            rules.push(FaultRule {
                service,
                operation,
                throttle_rate,
                error_rate,
                latency_ms,
                denied,
                crash_after,
                times,
            });
            let set = FaultSet { rules, seed };
            admin.set_faults(&set).await.map_err(CliError::failed)?;
        }
        Faults::Clear => {
            admin.clear_faults().await.map_err(CliError::failed)?;
            change_cloud_wan(&admin, |s| s.stuck_transitions = false).await?;
        }
        Faults::Lambda { timeout_error } => {
            if let Some(name) = timeout_error {
                let timeout_error = serde_json::from_value(Value::String(name)).map_err(CliError::invalid)?;
                let settings = LambdaSettings { timeout_error };
                admin
                    .set_lambda_settings(&settings)
                    .await
                    .map_err(CliError::failed)?;
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
            change_cloud_wan(&admin, |s| {
                let set = |value: Option<bool>, field: &mut bool| *field = value.unwrap_or(*field);
                s.transition_delay_ms = transition_delay_ms.unwrap_or(s.transition_delay_ms);
                set(stuck, &mut s.stuck_transitions);
                set(conflict, &mut s.conflict_during_transition);
                set(accept_core_owner_arn, &mut s.accept_core_owner_arn);
                set(
                    owner_changes_need_acceptance,
                    &mut s.owner_changes_need_acceptance,
                );
                set(rejected_tag_change_detaches, &mut s.rejected_tag_change_detaches);
                set(
                    list_attachments_include_tags,
                    &mut s.list_attachments_include_tags,
                );
            })
            .await?;
        }
    }
    print_faults(&admin).await
}

/// Reads the Cloud WAN emulator's settings, changes them, and puts them back.
async fn change_cloud_wan(admin: &AdminClient, change: impl FnOnce(&mut Settings)) -> Result<(), CliError> {
    let mut settings = admin.cloudwan_settings().await.map_err(CliError::failed)?;
    change(&mut settings);
    admin
        .set_cloudwan_settings(&settings)
        .await
        .map_err(CliError::failed)?;
    Ok(())
}

/// The fault rules and the emulators' settings now.
async fn print_faults(admin: &AdminClient) -> Result<(), CliError> {
    let rules = admin.faults().await.map_err(CliError::failed)?;
    let settings = admin.cloudwan_settings().await.map_err(CliError::failed)?;
    let lambda = admin.lambda_settings().await.map_err(CliError::failed)?;
    match rules.is_empty() {
        true => println!("fault rules: none"),
        false => println!("fault rules: {}", pretty(&rules)?),
    }
    println!("cloudwan settings: {}", pretty(&settings)?);
    println!("lambda settings: {}", pretty(&lambda)?);
    Ok(())
}

fn pretty(value: &impl Serialize) -> Result<String, CliError> {
    serde_json::to_string_pretty(value).map_err(CliError::failed)
}

/// What the local cloud observed: the mutating `calls`, the `counters` per operation, or the
/// IAM `actions` each function used.
pub(super) async fn observe(state_dir: &Path, what: &'static str, output: Output) -> Result<(), CliError> {
    let admin = AdminClient::new(require_running(state_dir)?.endpoint_url());
    let failed = CliError::failed;
    match (output, what) {
        (Output::Json, "calls") => println!("{}", pretty(&admin.calls().await.map_err(failed)?)?),
        (Output::Json, "actions") => println!("{}", pretty(&admin.actions().await.map_err(failed)?)?),
        (Output::Json, _) => println!("{}", pretty(&admin.counters().await.map_err(failed)?)?),
        (Output::Text, "calls") => {
            let calls = admin.calls().await.map_err(failed)?;
            println!("{} mutating call(s)", calls.len());
            for c in calls {
                println!(
                    "{:>5}  {:<15} {:<28} {:<13} {}  {}",
                    c.seq, c.service, c.operation, c.account, c.status, c.path
                );
            }
        }
        (Output::Text, "actions") => {
            for (function, actions) in admin.actions().await.map_err(failed)? {
                let list: Vec<&str> = actions.iter().map(String::as_str).collect();
                println!("{function}: {}", list.join(", "));
            }
        }
        (Output::Text, _) => {
            for (operation, counter) in admin.counters().await.map_err(failed)? {
                println!(
                    "{operation:<44} calls {:>6}  errors {:>5}  injected {:>5}",
                    counter.calls, counter.errors, counter.injected
                );
            }
        }
    }
    Ok(())
}
