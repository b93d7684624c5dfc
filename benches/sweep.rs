//! The sweep at scale, for docs/benchmarks.md (`scripts/bench-sweep`, run by `scripts/bench`,
//! runs this and writes the figures there): 10,000 live quarantines and 100,000 other journal items on the local cloud,
//! Network Manager answering each ListTagsForResource in 50 ms, the real sweep function run
//! by its schedule with its template's timeout. Figures, never assertions.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::{finding, Cloud, Spoke, OVERLAY_CORE, OWNER};
use cwq_domain::lifecycle::AttachmentItem;
use cwq_localcloud::admin::{AdminClient, FunctionEntry};
use cwq_pipeline::audit::{AuditEntry, AuditEvent};
use cwq_pipeline::ports::Journal;
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::Instant;

const LIVE: usize = 10_000;
const OTHER_ITEMS: usize = 100_000;
const NM_LATENCY_MS: u64 = 50;

fn count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The sweep function as the local Lambda host knows it: its `config` and `stats`.
async fn sweep_function(cloud: &Cloud) -> FunctionEntry {
    let functions = AdminClient::new(&cloud.endpoint).functions().await.unwrap();
    let sweep = functions
        .into_iter()
        .find(|f| f.config.name == "cwq-SweepFunction");
    sweep.expect("the sweep function is deployed")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let setup = Instant::now();
    let cloud = Cloud::start("sweep-bench", OVERLAY_CORE, None, &[]).await;
    // One real quarantine: its journal item is the template of the others.
    let real = cloud.own_account_spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let mut event = finding("bitcoin-tool-high", &real, "bench", None, None);
    event["detail"]["accountId"] = json!(OWNER);
    let report = cloud.inject(&event);
    assert!(report.contains("SUCCEEDED"), "{report}");
    let template = serde_json::to_value(cloud.item(&real.attachment_id).await.unwrap()).unwrap();
    cloud
        .cloud_wan(|s| {
            s.transition_delay_ms = 0;
            s.conflict_during_transition = false;
        })
        .await;

    contained_attachments(&cloud, &real, &template).await;
    other_items(&cloud).await;
    let journal = cloud.journal();
    let setup = setup.elapsed();
    // The sweep's first call, alone: the live index, every page.
    let listing = Instant::now();
    let listed = journal.live_items().await.unwrap().len();
    let listing = listing.elapsed();

    // Network Manager's control plane answers in tens of milliseconds.
    cloud.fault(&[
        "--service",
        "networkmanager",
        "--operation",
        "ListTagsForResource",
        "--latency-ms",
        &NM_LATENCY_MS.to_string(),
    ]);
    // What the sweep is given at the least: a 128 MB function (the template gives it 256).
    let mut config = sweep_function(&cloud).await.config;
    config.memory_mb = 128;
    AdminClient::new(&cloud.endpoint)
        .put_function(&config)
        .await
        .unwrap();
    println!(
        "{} live quarantines (each a contained attachment on the Cloud WAN emulator) and {} other journal items \
         (audit entries) on the local cloud; ListTagsForResource answers in {NM_LATENCY_MS} ms; the sweep function \
         as the template deploys it but with {} MB: timeout {} s, `CWQ_SWEEP_BUDGET_SECONDS` {}, {} checks \
         at once; quick profile (Cargo.toml). Setup took {:.0} s. Listing the live index alone (from the benchmark, {} \
         items): {:.1} s. Calls: what one run asked of each service (Query pages of the live index, \
         consistent GetItem of an item it may act on, ListTagsForResource per drift check, \
         StartExecution per release or repair).\n",
        count(LIVE),
        count(OTHER_ITEMS),
        config.memory_mb,
        config.timeout_seconds,
        config.environment.get("CWQ_SWEEP_BUDGET_SECONDS").map_or("40", String::as_str),
        config.environment.get("CWQ_SWEEP_CONCURRENCY").map_or("16", String::as_str),
        setup.as_secs_f64(),
        count(listed),
        listing.as_secs_f64()
    );
    runs(&cloud).await;
}

/// Three sweep runs, one row each.
async fn runs(cloud: &Cloud) {
    println!("| run | examined | checked | deferred | failures | repairs | duration | peak RSS (of 128 MB) | calls |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for run in 1..=3 {
        let before = calls(cloud);
        let started = Instant::now();
        let out = cloud.sweep();
        let took = started.elapsed().as_secs_f64();
        let after = calls(cloud);
        let made: Vec<String> = after
            .iter()
            .filter_map(|(op, n)| {
                let grew = n - before.get(op).copied().unwrap_or(0);
                (grew > 0).then(|| format!("{op} {}", count(grew as usize)))
            })
            .collect();
        let reported: Value = serde_json::from_str(out.trim()).unwrap_or_else(|_| json!({"raw": out}));
        let stats = sweep_function(cloud).await.stats;
        let examined = reported["result"]["examined"].as_u64().unwrap_or(0);
        let deferred = reported["result"]["deferred"].as_u64().unwrap_or(0);
        println!(
            "| {run} | {} | {} | {} | {} | {} | {took:.1} s | {:.0} MiB | {} |",
            count(examined as usize),
            count((examined - deferred) as usize),
            count(deferred as usize),
            reported["result"]["failures"].as_array().map_or(0, Vec::len),
            reported["result"]["repairs"].as_array().map_or(0, Vec::len),
            stats.peak_rss_kib.unwrap_or(0) as f64 / 1024.0,
            made.join(", ")
        );
        if reported.get("raw").is_some() {
            let log = std::fs::read_to_string(cloud.state_dir.join("logs/cwq-SweepFunction.log"))
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(3).collect();
            eprintln!("run {run} answered: {out}\nsweep log: {tail:#?}");
        }
    }
    println!();
}

/// Calls per `service:Operation` the local cloud answered so far (the sweep's, in a run).
fn calls(cloud: &Cloud) -> std::collections::BTreeMap<String, u64> {
    let counters = cloud.counters();
    let counters = counters.as_object().unwrap().iter();
    counters
        .map(|(op, c)| (op.clone(), c["calls"].as_u64().unwrap_or(0)))
        .collect()
}

/// 10,000 contained attachments, as the real one is: cwq's tag and marker on each, and a
/// journal item copied from the real one's (`template`).
async fn contained_attachments(cloud: &Cloud, real: &Spoke, template: &Value) {
    let tags = cloud.attachment(real).await.2;
    let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let ids: Vec<String> = futures::stream::iter(0..LIVE)
        .map(|n| {
            let (tags, real) = (&tags, real);
            async move {
                let spoke = Spoke {
                    vpc_id: format!("vpc-{n:017x}"),
                    subnet_id: format!("subnet-{n:017x}"),
                    ..real.clone()
                };
                cloud.estate.create_attachment(&spoke, tags).await.unwrap()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let journal = cloud.journal();
    futures::stream::iter(ids.iter().enumerate())
        .map(|(n, id)| {
            let mut doc: Value = template.clone();
            doc["attachment"]["attachment_id"] = json!(id);
            doc["attachment"]["vpc_id"] = json!(format!("vpc-{n:017x}"));
            doc["version"] = json!(0);
            let item: AttachmentItem = serde_json::from_value(doc).unwrap();
            let journal = journal.clone();
            async move { journal.put_item(&item).await.unwrap() }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
}

/// 100,000 other items: incidents' audit trails (the journal's history).
async fn other_items(cloud: &Cloud) {
    let journal = cloud.journal();
    let at = time::OffsetDateTime::now_utc();
    futures::stream::iter(0..OTHER_ITEMS / 25)
        .map(|batch| {
            let journal = journal.clone();
            async move {
                let entries: Vec<AuditEntry> = (0..25)
                    .map(|i| AuditEntry {
                        incident_id: format!("bench-{batch}"),
                        at: at + time::Duration::milliseconds(i),
                        execution_arn: None,
                        event: AuditEvent::Superseded {
                            attachment_id: format!("attachment-bench-{batch}-{i}"),
                        },
                    })
                    .collect();
                journal.record(&entries).await.unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}
