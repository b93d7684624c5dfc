//! `cwq`, the operator CLI. One module per verb; this file only dispatches.

mod approve;
#[cfg(feature = "local")]
mod demo;
mod error;
#[cfg(feature = "local")]
mod local;
mod operator;
mod policy_check;
mod release;
mod restart;
mod show;
mod simulate;
mod status;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

const EXIT_CODES: &str = "\
Where: without --local, the AWS SDK's default chain (environment, --profile, SSO, instance role)
and --region; AWS_ENDPOINT_URL is honoured. --stack names the deployment (default cwq).

Exit codes:
  0  done (for simulate: a decision was made, including \"no action\")
  1  the operation failed (AWS error, failed execution, policy check found problems, cancelled)
  2  invalid input: usage, an unreadable or invalid finding, response policy or core network
     policy, or a change without --yes when standard input is not a terminal
  3  nothing to act on: the VPC, attachment, incident or execution is unknown to cwq, or not in
     a state the command applies to (e.g. releasing what is not quarantined)";

#[derive(Debug, Parser)]
#[command(
    name = "cwq",
    version,
    about = "Automated network containment for AWS Cloud WAN",
    long_about = "cwq moves the Cloud WAN attachment of a VPC whose EC2 instance GuardDuty reports as \
                  compromised into a quarantine segment, verifies the move, preserves evidence and \
                  releases it later.",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The quarantines in effect (or all, with --all), and what waits for approval.
    Status(status::Args),
    /// An incident's timeline: finding, decision and why, each step, snapshots, release.
    Show(show::Args),
    /// Release a quarantined VPC now (runs the release state machine and waits).
    Release(release::ReleaseArgs),
    /// Approve a move that waits for a person (or a release another principal asked for).
    Approve(approve::ApproveArgs),
    /// Deny a move that waits for a person: nothing is changed.
    Deny(approve::DenyArgs),
    /// Keep a quarantined VPC longer.
    Extend(release::ExtendArgs),
    /// Finish a failed execution: redrive, or a new execution that resumes from the journal.
    Restart(restart::Args),
    /// Check a response policy against a core network policy.
    Policy(policy_check::Args),
    Simulate(simulate::Args),
    /// The whole pipeline on the local cloud, end to end, in about two minutes.
    #[cfg(feature = "local")]
    Demo(demo::Args),
    #[cfg(feature = "local")]
    Local(local::Args),
}

fn block_on(
    verb: impl std::future::Future<Output = Result<(), error::CliError>>,
) -> Result<(), error::CliError> {
    tokio::runtime::Runtime::new()
        .map_err(error::CliError::failed)?
        .block_on(verb)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate(args) => simulate::run(args),
        #[cfg(feature = "local")]
        Command::Local(args) => local::run(args),
        #[cfg(feature = "local")]
        Command::Demo(args) => demo::run(args),
        Command::Status(args) => block_on(status::run(args)),
        Command::Show(args) => block_on(show::run(args)),
        Command::Release(args) => block_on(release::release(args)),
        Command::Extend(args) => block_on(release::extend(args)),
        Command::Approve(args) => block_on(approve::approve(args)),
        Command::Deny(args) => block_on(approve::deny(args)),
        Command::Restart(args) => block_on(restart::run(args)),
        Command::Policy(args) => block_on(policy_check::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cwq: {error}");
            error.exit_code()
        }
    }
}
