//! `cwq show`: an incident's timeline from the journal — the finding, the decision and why,
//! each step with its time, the snapshots, the release.

use crate::error::CliError;
use crate::operator::{find, journal_failed, short_time, Connection, Deployed, Output, Subject};
use crate::status::{expiry_text, status_name};
use cwq_core::journal::{AttachmentRecord, AuditEntry};
use serde_json::{json, Value};

/// The timeline of the incident behind a VPC, an attachment or an incident id.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// vpc-…, attachment-… or an incident id.
    what: String,
    #[command(flatten)]
    connection: Connection,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let deployed = Deployed::connect(&args.connection).await?;
    let journal = deployed.journal();
    let fail = |e| journal_failed(&deployed, e);
    let (incident, records) = match find(&deployed, &args.what).await? {
        Subject::Attachment(record) => (record.incident_id.clone(), vec![*record]),
        Subject::Incident(id) => {
            let records = journal
                .states()
                .await
                .map_err(fail)?
                .into_iter()
                .filter(|r| r.incident_id == id)
                .collect();
            (id, records)
        }
    };
    let trail = journal.trail(&incident).await.map_err(fail)?;
    let snapshots = journal.snapshots(&incident).await.map_err(fail)?;

    if args.output == Output::Json {
        let json =
            json!({"incident": incident, "attachments": records, "timeline": trail, "snapshots": snapshots});
        println!("{json:#}");
        return Ok(());
    }
    print_incident(&incident, &records, &trail, &snapshots);
    Ok(())
}

/// The human form, shared with `cwq demo`.
pub fn print_incident(
    incident: &str,
    records: &[AttachmentRecord],
    trail: &[AuditEntry],
    snapshots: &[String],
) {
    println!("Incident {incident}");
    if let Some(received) = trail.iter().find(|e| e.step == "FindingReceived") {
        let d = &received.detail;
        println!(
            "  finding     {} (severity {}) on {} in account {}",
            text(&d["type"]),
            text(&d["severity"]),
            text(&d["instance"]),
            text(&d["account"])
        );
    }
    for r in records {
        println!(
            "  attachment  {} of {}: {} → {}, {} since {}, expires {}",
            r.attachment_id,
            r.vpc_id,
            r.segment_before.as_deref().unwrap_or("(none)"),
            r.segment,
            status_name(r.status),
            short_time(&r.since),
            expiry_text(r.expiry)
        );
        if let Some(execution) = &r.execution_arn {
            println!("  execution   {execution}");
        }
    }
    println!("  timeline");
    for entry in trail {
        println!(
            "    {}  {:<16} {}",
            short_time(&entry.at),
            entry.step,
            describe(&entry.step, &entry.detail)
        );
    }
    if snapshots.is_empty() {
        println!("  snapshots   none");
    } else {
        println!("  snapshots   {}", snapshots.join(", "));
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// One line per audit step, in words.
fn describe(step: &str, d: &Value) -> String {
    match step {
        "FindingReceived" => format!(
            "{} severity {} on {}{}",
            text(&d["type"]),
            text(&d["severity"]),
            text(&d["instance"]),
            if d["first_sighting"] == false {
                " (seen before: a duplicate)"
            } else {
                ""
            }
        ),
        "Decided" => {
            let target = d["target_segment"]
                .as_str()
                .map(|s| format!(" → {s}"))
                .unwrap_or_default();
            format!("{}{target}: {}", text(&d["decision"]), text(&d["reason"]))
        }
        "TagsRecorded" => format!(
            "{}: before the change {} was {}",
            text(&d["attachment"]),
            text(&d["key"]),
            d["previous_value"].as_str().unwrap_or("absent")
        ),
        "Tagged" => format!(
            "{}: set {}={}",
            text(&d["attachment"]),
            text(&d["key"]),
            text(&d["value"])
        ),
        "Snapshotted" => {
            let ids: Vec<String> = d["snapshots"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            format!("{}: {}", text(&d["instance"]), ids.join(", "))
        }
        "Quarantined" => format!(
            "{} is in {}{}",
            text(&d["attachment"]),
            text(&d["segment"]),
            d["time_to_contain_seconds"]
                .as_f64()
                .map(|s| format!(" ({s:.1} s after the finding)"))
                .unwrap_or_default()
        ),
        "ReleaseStarted" => format!(
            "{}: {}{}",
            text(&d["attachment"]),
            text(&d["reason"]),
            d["note"].as_str().map(|n| format!(" — {n}")).unwrap_or_default()
        ),
        "TagsRestored" => format!(
            "{}: {} {}",
            text(&d["attachment"]),
            text(&d["key"]),
            d["value"]
                .as_str()
                .map_or("removed".to_string(), |v| format!("restored to {v}"))
        ),
        "Released" => format!("{} is back in {}", text(&d["attachment"]), text(&d["segment"])),
        "Extended" => format!(
            "{}: expiry {} → {} by {}",
            text(&d["attachment"]),
            text(&d["from"]),
            text(&d["to"]),
            text(&d["operator"])
        ),
        "Failed" => format!(
            "{}: {} (restored to {})",
            text(&d["attachment"]),
            text(&d["reason"]),
            text(&d["restored_segment"])
        ),
        _ => d.to_string(),
    }
}
