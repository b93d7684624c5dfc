//! `cwq restart`: finish a failed execution, by whichever way can make it finish. A redrive
//! resumes at the state that failed, under the same ARN — the way when a step failed (a
//! journal or EventBridge outage outlasted the retries). But an execution that recorded its
//! outcome and then ended in the Fail state would only fail there again (a redrive re-runs
//! the unsuccessful step, and that step is the Fail state): it gets a new execution with the
//! same input, whose steps carry on from the journal, as do executions AWS will not redrive.

use crate::error::CliError;
use crate::operator::{confirm, sdk_failed, wait_for_execution, Connection, Deployed, Output, Progress};
use aws_sdk_sfn::error::ProvideErrorMetadata;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
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
    let described = restartable(&sfn, &args.execution_arn).await?;
    confirm(
        args.yes,
        &format!(
            "Restart {} ({})?",
            args.execution_arn,
            described.status().as_str()
        ),
    )?;
    let (how, execution) = restart(&sfn, &described, &args.execution_arn).await?;
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

/// The execution, if it exists and ended in a way a restart can finish.
async fn restartable(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> Result<DescribeExecutionOutput, CliError> {
    let described = sfn
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .map_err(|e| match e.code() {
            Some("ExecutionDoesNotExist") => CliError::refused(format!("no execution {execution_arn}")),
            _ => sdk_failed("states DescribeExecution", e),
        })?;
    let status = described.status().as_str();
    if !matches!(status, "FAILED" | "TIMED_OUT" | "ABORTED") {
        return Err(CliError::refused(format!(
            "{execution_arn} is {status}: only a failed, timed-out or aborted execution can be restarted"
        )));
    }
    Ok(described)
}

/// Redrives the execution when Step Functions can; otherwise starts a new one with the same
/// input, whose steps carry on from the journal. Returns how, and the execution to follow.
async fn restart(
    sfn: &aws_sdk_sfn::Client,
    described: &DescribeExecutionOutput,
    execution_arn: &str,
) -> Result<(String, String), CliError> {
    let redriven = match failed_state(sfn, execution_arn).await? {
        Some((state, true)) => Err(format!(
            "it ended in the Fail state {state:?}, which a redrive would enter again"
        )),
        _ => sfn
            .redrive_execution()
            .execution_arn(execution_arn)
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
    let why = match redriven {
        Ok(_) => {
            let how = "redriven: Step Functions re-runs it from the state that failed";
            return Ok((how.to_string(), execution_arn.to_string()));
        }
        Err(why) => why,
    };
    let name = restart_name(described.name().unwrap_or("execution"));
    let started = sfn
        .start_execution()
        .state_machine_arn(described.state_machine_arn())
        .name(&name)
        .input(described.input().unwrap_or("{}"))
        .send()
        .await
        .map_err(|e| sdk_failed("states StartExecution", e))?;
    let how = format!(
        "not redriven ({why}), so a new execution {name} started with the same input; \
         its steps carry on from the journal"
    );
    Ok((how, started.execution_arn().to_string()))
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
