//! `cwq restart`: finish a failed execution, by whichever way can make it finish. A redrive
//! resumes at the state that failed, under the same ARN — the way when a step failed (a
//! journal or EventBridge outage outlasted the retries). But an execution that recorded its
//! outcome and then ended in the Fail state would only fail there again (a redrive re-runs
//! the unsuccessful step, and that step is the Fail state): it gets a new execution with the
//! same input, whose steps carry on from the journal, as do executions AWS will not redrive.

use crate::error::CliError;
use crate::operator::{confirm, sdk_failed, wait_for_execution, Connection, Deployed, Output, Progress};
use aws_sdk_sfn::error::ProvideErrorMetadata;
use serde_json::json;
use std::time::Duration;

/// Finish a failed, timed-out or aborted execution of cwq's state machines.
#[derive(Debug, clap::Args)]
pub struct Args {
    execution_arn: String,
    /// Do it without asking (required when standard input is not a terminal).
    #[arg(long)]
    yes: bool,
    /// Return once restarted, without waiting for the outcome.
    #[arg(long)]
    no_wait: bool,
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    connection: Connection,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub async fn run(args: Args) -> Result<(), CliError> {
    if !args.execution_arn.starts_with("arn:") || !args.execution_arn.contains(":execution:") {
        return Err(CliError::invalid(format!(
            "{:?} is not an execution ARN (arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME)",
            args.execution_arn
        )));
    }
    let deployed = Deployed::connect(&args.connection).await?;
    let sfn = deployed.step_functions();
    let described = sfn
        .describe_execution()
        .execution_arn(&args.execution_arn)
        .send()
        .await
        .map_err(|e| match e.code() {
            Some("ExecutionDoesNotExist") => {
                CliError::refused(format!("no execution {}", args.execution_arn))
            }
            _ => sdk_failed("states DescribeExecution", e),
        })?;
    let status = described.status().as_str().to_string();
    if !matches!(status.as_str(), "FAILED" | "TIMED_OUT" | "ABORTED") {
        return Err(CliError::refused(format!(
            "{} is {status}: only a failed, timed-out or aborted execution can be restarted",
            args.execution_arn
        )));
    }
    confirm(args.yes, &format!("Restart {} ({status})?", args.execution_arn))?;

    let failed_in = failed_state(&sfn, &args.execution_arn).await?;
    let redriven = match &failed_in {
        Some((state, true)) => Err(format!(
            "it ended in the Fail state {state:?}, which a redrive would enter again"
        )),
        _ => sfn
            .redrive_execution()
            .execution_arn(&args.execution_arn)
            .send()
            .await
            .map_err(|refusal| {
                refusal
                    .message()
                    .or(refusal.code())
                    .unwrap_or("redrive is not available")
                    .to_string()
            }),
    };
    let (how, execution) = match redriven {
        Ok(_) => (
            "redriven: Step Functions re-runs it from the state that failed".to_string(),
            args.execution_arn.clone(),
        ),
        Err(why) => {
            let machine = described.state_machine_arn();
            let name = restart_name(described.name().unwrap_or("execution"));
            let started = sfn
                .start_execution()
                .state_machine_arn(machine)
                .name(&name)
                .input(described.input().unwrap_or("{}"))
                .send()
                .await
                .map_err(|e| sdk_failed("states StartExecution", e))?;
            (
                format!(
                    "not redriven ({why}), so a new execution {name} started with the same input; \
                     its steps carry on from the journal"
                ),
                started.execution_arn().to_string(),
            )
        }
    };
    if args.output == Output::Text {
        println!("Restarted: {how}.\nExecution: {execution}");
    }
    if args.no_wait {
        if args.output == Output::Json {
            println!(
                "{:#}",
                json!({"how": how, "execution_arn": execution, "status": "RUNNING"})
            );
        }
        return Ok(());
    }
    let mut progress = Progress::new();
    let ended = wait_for_execution(&deployed, &execution, args.timeout, &mut progress, "restarted").await?;
    match args.output {
        Output::Json => println!(
            "{:#}",
            json!({"how": how, "execution_arn": execution, "status": ended.status, "error": ended.error, "cause": ended.cause})
        ),
        Output::Text => println!("Outcome: {}", ended.status),
    }
    if ended.status != "SUCCEEDED" {
        return Err(CliError::failed(format!(
            "the restarted execution ended {}: {}: {}",
            ended.status,
            ended.error.unwrap_or_default(),
            ended.cause.unwrap_or_default()
        )));
    }
    Ok(())
}

/// The last state the execution entered, and whether it is a Fail state (from its history,
/// newest first).
async fn failed_state(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> Result<Option<(String, bool)>, CliError> {
    let history = sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .reverse_order(true)
        .max_results(100)
        .include_execution_data(false)
        .send()
        .await
        .map_err(|e| sdk_failed("states GetExecutionHistory", e))?;
    Ok(history.events().iter().find_map(|event| {
        let kind = event.r#type().as_str();
        kind.ends_with("StateEntered").then(|| {
            let name = event
                .state_entered_event_details()
                .map(|d| d.name().to_string())
                .unwrap_or_default();
            (name, kind == "FailStateEntered")
        })
    }))
}

/// `NAME-restart-EPOCH`, within Step Functions' 80 characters.
fn restart_name(name: &str) -> String {
    let suffix = format!("-restart-{}", time::OffsetDateTime::now_utc().unix_timestamp());
    let base: String = name.chars().take(80 - suffix.len()).collect();
    format!("{base}{suffix}")
}
