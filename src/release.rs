//! `cwq release` and `cwq extend`: an operator's changes to a quarantine. Release runs the
//! deployed release state machine (the same path as expiry), so the journal, the tags and
//! the published event are exactly those of an automatic release.

use crate::error::CliError;
use crate::operator::{
    confirm, find_attachment, journal_failed, sdk_failed, short_time, wait_for_execution, Connection,
    Deployed, Output, Progress,
};
use crate::status::status_name;
use cwq_core::decision::Expiry;
use cwq_core::incident::{ReleaseRequest, VerifyProgress};
use cwq_core::journal::Status;
use serde_json::{json, Value};
use std::time::Duration;

/// Release a quarantined VPC now: restore its tags and verify it is back where it was.
#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    /// vpc-… or attachment-….
    what: String,
    /// Why, for the journal (e.g. a ticket number).
    #[arg(long)]
    reason: String,
    /// Do it without asking (required when standard input is not a terminal).
    #[arg(long)]
    yes: bool,
    /// Start the release and return without waiting for it.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait for the release to be verified.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    connection: Connection,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// Keep a quarantine longer: its automatic expiry moves later by DURATION.
#[derive(Debug, clap::Args)]
pub struct ExtendArgs {
    /// vpc-… or attachment-….
    what: String,
    /// How much longer, e.g. 12h or 2d.
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    by: Duration,
    /// Do it without asking (required when standard input is not a terminal).
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    connection: Connection,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub async fn release(args: ReleaseArgs) -> Result<(), CliError> {
    if args.reason.trim().is_empty() {
        return Err(CliError::invalid(
            "--reason must say why (it goes into the journal)",
        ));
    }
    let deployed = Deployed::connect(&args.connection).await?;
    let record = find_attachment(&deployed, &args.what).await?;
    if !matches!(
        record.status,
        Status::Quarantined | Status::Quarantining | Status::Releasing
    ) {
        return Err(CliError::refused(format!(
            "{} ({}) is {}, not quarantined: nothing to release",
            record.vpc_id,
            record.attachment_id,
            status_name(record.status)
        )));
    }
    // A half-done quarantine may be released once its execution has stopped, never under it.
    if let (Status::Quarantining, Some(execution)) = (record.status, &record.execution_arn) {
        let running = deployed
            .step_functions()
            .describe_execution()
            .execution_arn(execution)
            .send()
            .await
            .map(|d| d.status().as_str() == "RUNNING")
            .unwrap_or(false);
        if running {
            return Err(CliError::refused(format!(
                "{} is being quarantined by {execution}, which is still running; wait for it to end",
                record.vpc_id
            )));
        }
    }
    let before = record.segment_before.as_deref().unwrap_or("no segment");
    confirm(
        args.yes,
        &format!(
            "Release {} ({}) from {} back to {before}?",
            record.vpc_id, record.attachment_id, record.segment
        ),
    )?;
    let (account, operator) = deployed.caller().await?;
    let request = ReleaseRequest {
        attachment_id: record.attachment_id.clone(),
        reason: "manual".into(),
        note: Some(format!("{} (by {operator})", args.reason.trim())),
        verify: VerifyProgress::default(),
        expected_segment: None,
    };
    let machine = deployed.state_machine_arn(&account, "release");
    let name = format!(
        "manual-{}-{}",
        record.attachment_id,
        time::OffsetDateTime::now_utc().unix_timestamp()
    );
    let started = deployed
        .step_functions()
        .start_execution()
        .state_machine_arn(&machine)
        .name(&name)
        .input(serde_json::to_string(&request).map_err(CliError::failed)?)
        .send()
        .await
        .map_err(|e| sdk_failed(&format!("states StartExecution {machine}"), e))?;
    let execution = started.execution_arn().to_string();
    if args.no_wait {
        match args.output {
            Output::Json => println!("{}", json!({"execution_arn": execution, "status": "RUNNING"})),
            Output::Text => println!("Release started: {execution}"),
        }
        return Ok(());
    }
    let mut progress = Progress::new();
    let what = format!("releasing {} from {}", record.vpc_id, record.segment);
    let ended = wait_for_execution(&deployed, &execution, args.timeout, &mut progress, &what).await?;
    let seconds = progress.elapsed().as_secs_f64();
    let output: Value = ended
        .output
        .as_deref()
        .and_then(|o| serde_json::from_str(o).ok())
        .unwrap_or(Value::Null);
    let segment = output["expected_segment"].as_str().map(str::to_string);
    if args.output == Output::Json {
        println!(
            "{:#}",
            json!({"execution_arn": execution, "status": ended.status, "attachment": record.attachment_id,
                   "vpc": record.vpc_id, "from": record.segment, "segment": segment, "seconds": seconds,
                   "error": ended.error, "cause": ended.cause})
        );
    }
    if ended.status != "SUCCEEDED" {
        return Err(CliError::failed(format!(
            "the release {} ended {}: {}: {}",
            execution,
            ended.status,
            ended.error.unwrap_or_default(),
            ended.cause.unwrap_or_default()
        )));
    }
    if args.output == Output::Text {
        println!(
            "Released {} ({}): {} → {} in {seconds:.1} s, verified.\nExecution: {execution}",
            record.vpc_id,
            record.attachment_id,
            record.segment,
            segment.as_deref().unwrap_or("no segment")
        );
    }
    Ok(())
}

pub async fn extend(args: ExtendArgs) -> Result<(), CliError> {
    let deployed = Deployed::connect(&args.connection).await?;
    let mut record = find_attachment(&deployed, &args.what).await?;
    if record.status != Status::Quarantined {
        return Err(CliError::refused(format!(
            "{} ({}) is {}, not quarantined: nothing to extend",
            record.vpc_id,
            record.attachment_id,
            status_name(record.status)
        )));
    }
    let Expiry::At(from) = record.expiry else {
        return Err(CliError::refused(format!(
            "{} is held until released manually: nothing to extend",
            record.vpc_id
        )));
    };
    let by = time::Duration::try_from(args.by).map_err(|_| {
        CliError::invalid(format!(
            "--for {} is too long",
            humantime::format_duration(args.by)
        ))
    })?;
    let to = from
        .checked_add(by)
        .ok_or_else(|| CliError::invalid("--for is too long"))?;
    let (from_text, to_text) = (Expiry::At(from).to_string(), Expiry::At(to).to_string());
    confirm(
        args.yes,
        &format!(
            "Keep {} ({}) in {} until {} instead of {}?",
            record.vpc_id,
            record.attachment_id,
            record.segment,
            short_time(&to_text),
            short_time(&from_text)
        ),
    )?;
    let (_, operator) = deployed.caller().await?;
    let journal = deployed.journal();
    record.expiry = Expiry::At(to);
    // The version check makes a concurrent release or escalation win; the operator retries.
    journal
        .put_state(&record, Some(record.version))
        .await
        .map_err(|e| match e {
            cwq_core::error::HandlerError::Conflict(_) => CliError::failed(format!(
                "{} changed while extending (a release or escalation is running); look again with `cwq show`",
                record.attachment_id
            )),
            other => journal_failed(&deployed, other),
        })?;
    journal
        .audit(
            &record.incident_id,
            "Extended",
            json!({"attachment": record.attachment_id, "from": from_text, "to": to_text, "operator": operator}),
        )
        .await
        .map_err(|e| journal_failed(&deployed, e))?;
    match args.output {
        Output::Json => println!(
            "{:#}",
            json!({"attachment": record.attachment_id, "vpc": record.vpc_id, "from": from_text, "to": to_text})
        ),
        Output::Text => println!(
            "{} ({}) stays in {} until {} (was {}).",
            record.vpc_id,
            record.attachment_id,
            record.segment,
            short_time(&to_text),
            short_time(&from_text)
        ),
    }
    Ok(())
}
