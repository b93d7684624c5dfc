//! `cwq`, the operator CLI. One module per verb; this file only dispatches.

mod error;
mod local;
mod simulate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

const EXIT_CODES: &str = "\
Exit codes:
  0  done (for simulate: a decision was made, including \"no action\")
  1  the operation failed
  2  invalid input: usage, an unreadable or invalid finding, response policy or core network policy";

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
    Simulate(simulate::Args),
    Local(local::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Simulate(args) => simulate::run(args),
        Command::Local(args) => local::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("cwq: {error}");
            error.exit_code()
        }
    }
}
