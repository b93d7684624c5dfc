//! `cwq status`: the attachments cwq holds (or held): which findings hold each (its demands,
//! until when), the segment they require and the one verified, and the items that are stuck;
//! then the approval requests that wait for a person (`--approvals`: only those).

use crate::error::CliError;
use crate::operator::{
    journal_failed, print_table, printable, short_arn, time_text, Connection, Deployed, Output,
};
use cwq_domain::decision::Expiry;
use cwq_domain::lifecycle::{AttachmentItem, Status};
use cwq_pipeline::approval::{ApprovalRequest, RequestKind};
use cwq_pipeline::ports::Journal;
use serde_json::{json, Value};

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
    /// Only the requests that wait for a person's answer (`cwq approve`, `cwq deny`).
    #[arg(long, conflicts_with_all = ["status", "all"])]
    approvals: bool,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatusFilter {
    Quarantining,
    Quarantined,
    Releasing,
    Released,
    Stuck,
}

impl StatusFilter {
    fn status(self) -> Status {
        match self {
            Self::Quarantining => Status::Quarantining,
            Self::Quarantined => Status::Quarantined,
            Self::Releasing => Status::Releasing,
            Self::Released => Status::Released,
            Self::Stuck => Status::Stuck,
        }
    }
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let deployed = Deployed::connect(&args.connection).await?;
    let mut waiting: Vec<ApprovalRequest> = deployed
        .journal()
        .approvals()
        .await
        .map_err(|e| journal_failed(&deployed, e))?
        .into_iter()
        .filter(ApprovalRequest::is_pending)
        .filter(|r| {
            let account = args.account.as_ref();
            let region = args.in_region.as_ref();
            r.legs
                .iter()
                .any(|l| account.is_none_or(|a| &l.account == a) && region.is_none_or(|g| &l.region == g))
        })
        .collect();
    waiting.sort_by_key(|r| r.requested_at);
    if args.approvals {
        return print_waiting(&waiting, args.output);
    }
    let mut items: Vec<AttachmentItem> = deployed
        .journal()
        .all_items()
        .await
        .map_err(|e| journal_failed(&deployed, e))?
        .into_iter()
        .filter(|i| match args.status {
            Some(wanted) => i.status() == wanted.status(),
            None => args.all || i.status() != Status::Released,
        })
        .filter(|i| {
            args.account
                .as_ref()
                .is_none_or(|a| &i.attachment.owner_account == a)
        })
        .filter(|i| {
            args.in_region
                .as_ref()
                .is_none_or(|r| &i.attachment.edge_location == r)
        })
        .collect();
    items.sort_by_key(|i| i.changed_at);

    if args.output == Output::Json {
        let json: Vec<Value> = items.iter().map(to_json).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json).map_err(CliError::failed)?
        );
        return Ok(());
    }
    if items.is_empty() {
        println!("No quarantines{}.", if args.all { "" } else { " in effect" });
    } else {
        print_items(&items);
    }
    if !waiting.is_empty() {
        println!("\nWaiting for approval:");
        print_waiting(&waiting, Output::Text)?;
    }
    Ok(())
}

/// The requests that wait: what for, for whom, since when, until when.
fn print_waiting(waiting: &[ApprovalRequest], output: Output) -> Result<(), CliError> {
    if output == Output::Json {
        let json = serde_json::to_string_pretty(waiting).map_err(CliError::failed)?;
        println!("{json}");
        return Ok(());
    }
    if waiting.is_empty() {
        println!("Nothing waits for approval.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = waiting
        .iter()
        .map(|r| {
            let vpcs: Vec<String> = r
                .legs
                .iter()
                .map(|l| match &l.segment {
                    Some(segment) if r.kind == RequestKind::Quarantine => format!("{} → {segment}", l.vpc_id),
                    _ => l.vpc_id.clone(),
                })
                .collect();
            let whom = match &r.requested_by {
                Some(by) if r.kind == RequestKind::Release => {
                    format!("a principal other than {}", short_arn(by))
                }
                _ => "any operator".to_string(),
            };
            vec![
                r.request_id.clone(),
                format!("{:?}", r.kind).to_lowercase(),
                vpcs.join(", "),
                whom,
                time_text(r.requested_at),
                r.timeout_at.map_or("-".to_string(), time_text),
                r.waiters.len().to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "REQUEST",
            "KIND",
            "MOVES",
            "WAITS FOR",
            "SINCE",
            "TIMES OUT",
            "EXECUTIONS",
        ],
        &rows,
    );
    Ok(())
}

/// One item as `cwq status --output json` gives it: the stored item with its status.
pub fn to_json(item: &AttachmentItem) -> Value {
    let mut value = serde_json::to_value(item).unwrap_or(Value::Null);
    value["status"] = json!(item.status());
    value["next_expiry"] = json!(item.next_expiry().map(time_text));
    value
}

/// The status table, shared with `cwq demo`.
pub fn print_items(items: &[AttachmentItem]) {
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    print_table(
        &[
            "VPC",
            "ATTACHMENT",
            "ACCOUNT",
            "REGION",
            "SEGMENT",
            "STATUS",
            "HELD BY",
            "UNTIL",
            "EXECUTION",
        ],
        &rows,
    );
}

pub fn expiry_text(expiry: Expiry) -> String {
    match expiry {
        Expiry::At(at) => time_text(at),
        Expiry::Manual => "manual".into(),
    }
}

/// `hub → blocked`, and where it was verified when that differs.
pub fn segment_text(item: &AttachmentItem) -> String {
    let before = item
        .episode
        .as_ref()
        .and_then(|e| e.original_segment.as_deref())
        .unwrap_or("(none)");
    let required = item.required_segment.as_deref().unwrap_or(before);
    let verified = item.applied.as_ref().and_then(|a| a.segment.as_deref());
    match verified {
        Some(now) if now != required || !item.is_reconciled() => {
            format!("{before} → {required} (verified: {now})")
        }
        _ => format!("{before} → {required}"),
    }
}

/// Which findings hold the attachment: the strictest's type, and how many more.
pub fn held_by(item: &AttachmentItem) -> String {
    let required = item.required_segment.as_deref();
    let strictest = item
        .demands
        .iter()
        .filter(|d| Some(d.segment.as_str()) == required)
        .max_by_key(|d| d.until)
        .or_else(|| item.demands.first());
    match (strictest, item.demands.len()) {
        (None, _) => "-".into(),
        (Some(d), 1) => printable(&d.finding_type),
        (Some(d), n) => format!("{} (+{} more)", printable(&d.finding_type), n - 1),
    }
}

/// When the last of an item's demands ends ("-": none).
pub fn held_until(item: &AttachmentItem) -> String {
    item.demands
        .iter()
        .map(|d| d.until)
        .max()
        .map_or("-".to_string(), expiry_text)
}

fn row(item: &AttachmentItem) -> Vec<String> {
    let a = &item.attachment;
    let until = held_until(item);
    vec![
        a.vpc_id.clone(),
        a.attachment_id.clone(),
        a.owner_account.clone(),
        a.edge_location.clone(),
        segment_text(item),
        item.status().to_string(),
        held_by(item),
        until,
        item.changed_by
            .as_deref()
            .map(short_arn)
            .unwrap_or("-")
            .to_string(),
    ]
}
