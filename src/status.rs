//! `cwq status`: the attachments cwq holds (or held), from the journal's state items.

use crate::error::CliError;
use crate::operator::{journal_failed, print_table, short_arn, short_time, Connection, Deployed, Output};
use cwq_core::decision::Expiry;
use cwq_core::journal::{AttachmentRecord, Status};

/// Current quarantines: VPC, attachment, account, region, segment before → now, since,
/// expiry, reason and execution.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    connection: Connection,
    /// Only this account's attachments.
    #[arg(long)]
    account: Option<String>,
    /// Only attachments in this region (their Cloud WAN edge location).
    #[arg(long = "in-region", value_name = "REGION")]
    in_region: Option<String>,
    /// Only this status (default: everything but RELEASED).
    #[arg(long, value_enum)]
    status: Option<StatusFilter>,
    /// Include released attachments too.
    #[arg(long, conflicts_with = "status")]
    all: bool,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatusFilter {
    Quarantining,
    Quarantined,
    Releasing,
    Released,
    Failed,
}

impl StatusFilter {
    fn status(self) -> Status {
        match self {
            Self::Quarantining => Status::Quarantining,
            Self::Quarantined => Status::Quarantined,
            Self::Releasing => Status::Releasing,
            Self::Released => Status::Released,
            Self::Failed => Status::Failed,
        }
    }
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let deployed = Deployed::connect(&args.connection).await?;
    let mut records: Vec<AttachmentRecord> = deployed
        .journal()
        .states()
        .await
        .map_err(|e| journal_failed(&deployed, e))?
        .into_iter()
        .filter(|r| match args.status {
            Some(wanted) => r.status == wanted.status(),
            None => args.all || r.status != Status::Released,
        })
        .filter(|r| args.account.as_ref().is_none_or(|a| &r.owner_account == a))
        .filter(|r| args.in_region.as_ref().is_none_or(|a| &r.edge_location == a))
        .collect();
    records.sort_by(|a, b| a.since.cmp(&b.since));

    if args.output == Output::Json {
        let json = serde_json::to_string_pretty(&records).map_err(CliError::failed)?;
        println!("{json}");
        return Ok(());
    }
    if records.is_empty() {
        println!("No quarantines{}.", if args.all { "" } else { " in effect" });
        return Ok(());
    }
    print_records(&records);
    Ok(())
}

/// The status table, shared with `cwq demo`.
pub fn print_records(records: &[AttachmentRecord]) {
    let rows: Vec<Vec<String>> = records.iter().map(row).collect();
    print_table(
        &[
            "VPC",
            "ATTACHMENT",
            "ACCOUNT",
            "REGION",
            "SEGMENT",
            "STATUS",
            "SINCE",
            "EXPIRES",
            "REASON",
            "EXECUTION",
        ],
        &rows,
    );
}

pub fn status_name(status: Status) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn expiry_text(expiry: Expiry) -> String {
    match expiry {
        Expiry::At(_) => short_time(&expiry.to_string()),
        Expiry::Manual => "manual".into(),
    }
}

fn row(r: &AttachmentRecord) -> Vec<String> {
    let mut reason: String = r.reason.chars().take(48).collect();
    if r.reason.chars().count() > 48 {
        reason.push('…');
    }
    vec![
        r.vpc_id.clone(),
        r.attachment_id.clone(),
        r.owner_account.clone(),
        r.edge_location.clone(),
        format!(
            "{} → {}",
            r.segment_before.as_deref().unwrap_or("(none)"),
            r.segment
        ),
        status_name(r.status),
        short_time(&r.since),
        expiry_text(r.expiry),
        reason,
        r.execution_arn
            .as_deref()
            .map(short_arn)
            .unwrap_or("-")
            .to_string(),
    ]
}
