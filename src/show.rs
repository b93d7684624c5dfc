//! `cwq show`: what cwq knows of a VPC, an attachment or an incident — the demands that hold
//! the attachment and until when, the segment they require and the one verified, and each
//! incident's timeline from the journal (finding, decision and why, every change, snapshots,
//! outcome).

use crate::error::CliError;
use crate::operator::{find, journal_failed, printable, time_text, Connection, Deployed, Output, Subject};
use crate::status::{expiry_text, segment_text, to_json};
use cwq_domain::decision::Expiry;
use cwq_domain::lifecycle::{AttachmentItem, Drift};
use cwq_pipeline::audit::{AuditEntry, AuditEvent};
use cwq_pipeline::ports::Journal;
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// vpc-…, attachment-… or an incident id.
    what: String,
    #[command(flatten)]
    connection: Connection,
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// What `cwq show` prints: the attachments and the incidents' trails and snapshots.
#[derive(Debug, Clone)]
pub struct Shown {
    pub items: Vec<AttachmentItem>,
    pub incidents: Vec<(String, Vec<AuditEntry>, Vec<String>)>,
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let deployed = Deployed::connect(&args.connection).await?;
    let shown = gather(&deployed, &args.what).await?;
    if args.output == Output::Json {
        let incidents: Vec<_> = shown
            .incidents
            .iter()
            .map(|(id, trail, snapshots)| json!({"incident": id, "timeline": trail, "snapshots": snapshots}))
            .collect();
        let items: Vec<_> = shown.items.iter().map(to_json).collect();
        println!("{:#}", json!({"attachments": items, "incidents": incidents}));
        return Ok(());
    }
    print(&shown);
    Ok(())
}

/// The attachment and its incidents (those whose demands hold it, and the one that opened its
/// episode), or the incident and the attachments it holds.
pub async fn gather(deployed: &Deployed, what: &str) -> Result<Shown, CliError> {
    let journal = deployed.journal();
    let fail = |e| journal_failed(deployed, e);
    let (items, ids) = match find(deployed, what).await? {
        Subject::Attachment(item) => {
            let mut ids: Vec<String> = item.demands.iter().map(|d| d.incident_id.clone()).collect();
            if let Some(episode) = &item.episode {
                if !ids.contains(&episode.started_by) {
                    ids.insert(0, episode.started_by.clone());
                }
            }
            (vec![*item], ids)
        }
        Subject::Incident(id) => {
            let items = journal
                .all_items()
                .await
                .map_err(fail)?
                .into_iter()
                .filter(|i| {
                    i.demand_of(&id).is_some() || i.episode.as_ref().is_some_and(|e| e.started_by == id)
                })
                .collect();
            (items, vec![id])
        }
    };
    let mut incidents = Vec::new();
    for id in ids {
        let trail = journal.trail(&id).await.map_err(fail)?;
        let snapshots = journal.snapshots(&id).await.map_err(fail)?;
        incidents.push((id, trail, snapshots));
    }
    Ok(Shown { items, incidents })
}

/// The human form, shared with `cwq demo`.
pub fn print(shown: &Shown) {
    for item in &shown.items {
        print_item(item);
    }
    for (id, trail, snapshots) in &shown.incidents {
        println!("Incident {}", printable(id));
        for entry in trail {
            println!(
                "    {}  {:<18} {}",
                time_text(entry.at),
                entry.event.name(),
                describe(&entry.event)
            );
        }
        if snapshots.is_empty() {
            println!("  snapshots   none");
        } else {
            println!("  snapshots   {}", snapshots.join(", "));
        }
    }
}

fn print_item(item: &AttachmentItem) {
    let a = &item.attachment;
    println!(
        "Attachment {} of {} (account {}, {}): {}, {}",
        a.attachment_id,
        a.vpc_id,
        a.owner_account,
        a.edge_location,
        segment_text(item),
        item.status()
    );
    if let Some(e) = &item.episode {
        let original = e
            .original_value
            .as_deref()
            .map_or("absent".to_string(), printable);
        let closed = e
            .closed_at
            .map(|c| format!(", ended {}", time_text(c)))
            .unwrap_or_default();
        println!(
            "  episode     since {}{closed}; {} was {original} before",
            time_text(e.started_at),
            item.tag_key
        );
    }
    if item.demands.is_empty() {
        println!("  demands     none");
    }
    for d in &item.demands {
        println!(
            "  demand      {} until {}: {} (severity {}), incident {}",
            d.segment,
            expiry_text(d.until),
            printable(&d.finding_type),
            d.severity,
            printable(&d.incident_id)
        );
    }
    if let Some(applied) = &item.applied {
        let reconciled = if item.is_reconciled() {
            ""
        } else {
            " — the demands changed since; converging"
        };
        println!(
            "  verified    {} at {}{reconciled}",
            applied.segment.as_deref().unwrap_or("no segment"),
            time_text(applied.at)
        );
    }
    if let Some(r) = item.repair.as_ref().filter(|r| r.generation == item.generation) {
        println!(
            "  repair      {:?} since {}, {} attempt(s), {}",
            r.reason,
            time_text(r.since),
            r.attempts,
            r.execution_arn.as_deref().unwrap_or("-")
        );
    }
}

/// One line per audit event, in words.
fn describe(event: &AuditEvent) -> String {
    match event {
        AuditEvent::FindingReceived {
            finding_type,
            severity,
            resource,
            account,
            first_sighting,
            unresolved,
            ..
        } => {
            let duplicate = if *first_sighting {
                ""
            } else {
                " (seen before: a duplicate)"
            };
            let unplaced = match unresolved.is_empty() {
                true => String::new(),
                false => format!("; not placed in a VPC: {}", printable(&unresolved.join("; "))),
            };
            format!(
                "{} severity {severity} on {resource} in {account}{duplicate}{unplaced}",
                printable(finding_type)
            )
        }
        AuditEvent::Decided {
            vpc_id,
            attachment_id,
            verdict,
            reason,
            segment,
            until,
            policy_version,
        } => format!(
            "{vpc_id} ({}): {}{}{} — {} [policy {}]",
            attachment_id.as_deref().unwrap_or("not attached"),
            verdict.name(),
            segment.as_deref().map(|s| format!(" → {s}")).unwrap_or_default(),
            until_text(*until),
            printable(reason),
            printable(policy_version)
        ),
        AuditEvent::DemandAdded {
            attachment_id,
            segment,
            until,
            new_episode,
            original_value,
        } => {
            let before = original_value.as_deref().map_or("absent".into(), printable);
            let episode = match new_episode {
                true => format!("; a new quarantine, the key was {before} before"),
                false => String::new(),
            };
            format!(
                "{attachment_id}: demand {segment} until {}{episode}",
                expiry_text(*until)
            )
        }
        AuditEvent::DemandsRemoved {
            attachment_id,
            reason,
            removed,
            requested_by,
            note,
        } => format!(
            "{attachment_id}: {reason:?} release removed {} demand(s){}{}",
            removed.len(),
            suffix(" for ", requested_by.as_deref()),
            suffix(" — ", note.as_deref())
        ),
        AuditEvent::Tagged {
            attachment_id,
            key,
            value,
        } => format!("{attachment_id}: set {key}={value}"),
        AuditEvent::Untagged { attachment_id, keys } => {
            format!("{attachment_id}: removed {}", keys.join(", "))
        }
        AuditEvent::Accepted { attachment_id } => {
            format!("{attachment_id}: accepted the tag change as core network owner")
        }
        AuditEvent::Converged {
            attachment_id,
            segment,
            generation,
        } => format!(
            "{attachment_id} verified in {} (generation {generation})",
            segment.as_deref().unwrap_or("no segment")
        ),
        AuditEvent::DriftFound { attachment_id, drift } => match drift {
            Drift::StricterByHand { value } => {
                format!(
                    "{attachment_id}: someone set the key to the stricter {}; left as it is",
                    printable(value)
                )
            }
            Drift::ThirdValue { value } => format!(
                "{attachment_id}: someone set the key to {}, which cwq never set; left as it is",
                printable(value)
            ),
        },
        AuditEvent::ContainmentFailed {
            attachment_id,
            failure,
        } => {
            format!("{attachment_id}: {failure}; this incident's demand is withdrawn")
        }
        AuditEvent::Superseded { attachment_id } => {
            format!("{attachment_id}: this incident's demand was released by someone else first")
        }
        AuditEvent::Stuck {
            attachment_id,
            reason,
        } => format!("{attachment_id}: {}", printable(reason)),
        AuditEvent::Snapshotted {
            instance_id,
            snapshots,
            found_after_restart,
        } => {
            let restart = if *found_after_restart {
                " (found after a restart)"
            } else {
                ""
            };
            format!("{instance_id}: {}{restart}", snapshots.join(", "))
        }
        AuditEvent::ForensicsFailed { instance_id, error } => {
            format!(
                "{instance_id}: no snapshot: {}; containment went on",
                printable(error)
            )
        }
        AuditEvent::Extended {
            attachment_id,
            until,
            by,
        } => format!(
            "{attachment_id}: held until {} by {}",
            expiry_text(*until),
            printable(by)
        ),
        AuditEvent::Outcome { detail_type, reason } => format!("{detail_type}: {}", printable(reason)),
        AuditEvent::ApprovalRequested {
            request_id,
            attachments,
            joined,
            reason,
        } => format!(
            "{} approval request {} for {}: {}",
            if *joined { "joined the" } else { "opened" },
            printable(request_id),
            attachments.join(", "),
            printable(reason)
        ),
        AuditEvent::ApprovalAnswered {
            request_id,
            status,
            by,
            note,
        } => format!(
            "approval request {} {status} by {}{}",
            printable(request_id),
            printable(by),
            suffix(": ", note.as_deref())
        ),
    }
}

/// ` until …` when there is an expiry.
fn until_text(until: Option<Expiry>) -> String {
    until
        .map(|u| format!(" until {}", expiry_text(u)))
        .unwrap_or_default()
}

/// `lead` and the printable text, when there is one.
fn suffix(lead: &str, text: Option<&str>) -> String {
    text.map(|t| format!("{lead}{}", printable(t)))
        .unwrap_or_default()
}
