//! The pipeline's figures for docs/benchmarks.md, on the local cloud with the release binaries
//! (`scripts/bench` builds them and runs this). Figures, never assertions: the machine is shared.
//!
//! Prints a markdown section per measurement: cold start and memory per function beside a
//! Python 3 + boto3 baseline in the seed sample's shape (benches/seed-baseline), warm latency and
//! CPU per incident, time to contain against its sequential-call limit, API calls per incident
//! and enrichment's growth with the core network, a storm of findings, and cost per incident.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "../tests/common/mod.rs"]
mod common;

use common::{finding, policy_variant, Cloud, Spoke, OVERLAY_CORE, OWNER, REGION, WORKLOAD};
use cwq_localcloud::control::{admin, invoke};
use cwq_localcloud::lambda_host::process_usage;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per Network Manager call, for time to contain (a realistic control-plane round trip).
const NM_LATENCY_MS: u64 = 50;
const FUNCTIONS: [&str; 7] = [
    "Enrich",
    "Decide",
    "Reconcile",
    "Snapshot",
    "Outcome",
    "Release",
    "Sweep",
];

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn env_python() -> String {
    std::env::var("CWQ_BENCH_PYTHON").expect("CWQ_BENCH_PYTHON: run scripts/bench")
}

/// The Lambda host's functions: name → (config, stats).
async fn functions(cloud: &Cloud) -> BTreeMap<String, (Value, Value)> {
    let list = admin(&cloud.endpoint, "GET", "functions", None).await.unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["config"]["name"].as_str().unwrap().to_string(),
                (f["config"].clone(), f["stats"].clone()),
            )
        })
        .collect()
}

/// Registers every function again: fresh statistics, and the next invocation is a cold start.
async fn recycle(cloud: &Cloud) {
    for (_, (config, _)) in functions(cloud).await {
        admin(&cloud.endpoint, "PUT", "functions", Some(&config))
            .await
            .unwrap();
    }
}

/// One field of the gateway's counters per `service:operation`: `calls`, or `total_ms` (the
/// time the gateway spent answering).
fn counters<T: serde::de::DeserializeOwned + Default>(cloud: &Cloud, field: &str) -> BTreeMap<String, T> {
    cloud
        .counters()
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::from_value(v[field].clone()).unwrap_or_default(),
            )
        })
        .collect()
}

/// What grew between two readings of `counters`.
fn delta<T>(after: &BTreeMap<String, T>, before: &BTreeMap<String, T>) -> BTreeMap<String, T>
where
    T: Copy + Default + PartialOrd + std::ops::Sub<Output = T>,
{
    after
        .iter()
        .map(|(k, v)| (k.clone(), *v - before.get(k).copied().unwrap_or_default()))
        .filter(|(_, v)| *v > T::default())
        .collect()
}

fn high(spoke: &Spoke, id: &str) -> Value {
    finding("bitcoin-tool-high", spoke, id, None, None)
}

/// Delivers a High finding for the spoke and waits; the execution's ARN.
async fn quarantine(cloud: &Cloud, spoke: &Spoke, id: &str) -> String {
    let (report, execution) = cloud.inject_execution(&high(spoke, id));
    assert!(report.contains("SUCCEEDED"), "{report}");
    execution
}

fn release(cloud: &Cloud, spoke: &Spoke) {
    let out = cloud.operator(&["release", &spoke.vpc_id, "--reason", "bench", "--yes"]);
    assert!(out.status.success(), "{}", common::text(&out));
}

struct Incident {
    /// Invocations per function for one quarantine.
    invocations: BTreeMap<String, u64>,
    calls: BTreeMap<String, u64>,
    /// Gateway time per operation over the incident, ms.
    call_ms: BTreeMap<String, f64>,
    transitions: usize,
    /// The Python baseline's warm invocation, ms.
    baseline_warm_ms: f64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let policy = policy_variant("policy/default.toml", "bench", |p| {
        p.replace("max_moves = 10", "max_moves = 100000")
            .replace("max_moves_per_account = 5", "max_moves_per_account = 100000")
    });
    let cloud =
        Arc::new(Cloud::start("bench", OVERLAY_CORE, Some(&policy), &["VerifyIntervalSeconds=1"]).await);
    cloud.settings(json!({"transition_delay_ms": 0}));

    // `cargo bench --bench pipeline -- storm` runs the sections named (cold, warm, contain,
    // storm, growth, cost); scripts/bench runs them all. Every section but the storm needs the
    // first incident's figures, so cold starts always run.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |section: &str| only.is_empty() || only.iter().any(|o| o == section);
    let needs_incident = ["cold", "warm", "contain", "growth", "cost"]
        .into_iter()
        .any(wanted);
    let incident = if needs_incident {
        Some(cold_starts_and_baseline(&cloud).await)
    } else {
        None
    };
    let warm = if wanted("warm") || wanted("cost") {
        Some(warm_latency(&cloud).await)
    } else {
        None
    };
    if let Some(incident) = &incident {
        if wanted("contain") {
            time_to_contain(&cloud, incident).await;
        }
    }
    // Before the growth section's 10,000 attachments, so that the peak memory is the storm's.
    if wanted("storm") {
        storm(&cloud).await;
    }
    if let Some(incident) = &incident {
        if wanted("growth") {
            calls_and_growth(&cloud, incident).await;
        }
        if let (true, Some(warm)) = (wanted("cost"), &warm) {
            cost(incident, warm);
        }
    }
}

/// 1: cold start, first invocation and peak memory per function, five cold starts each, and
/// the Python baseline through the same host.
async fn cold_starts_and_baseline(cloud: &Cloud) -> Incident {
    let rounds = 5;
    let mut init: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut first: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut rss: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut last = None;
    for round in 0..rounds {
        recycle(cloud).await;
        let spoke = cloud
            .spoke(&format!("10.{}.0.0/16", 100 + round), &[("domain", "hub")])
            .await;
        let before = counters::<u64>(cloud, "calls");
        let before_ms = counters::<f64>(cloud, "total_ms");
        let execution = quarantine(cloud, &spoke, &format!("cold{round}")).await;
        let calls = delta(&counters::<u64>(cloud, "calls"), &before);
        let call_ms = delta(&counters::<f64>(cloud, "total_ms"), &before_ms);
        let quarantine_stats = functions(cloud).await;
        release(cloud, &spoke);
        let _ = cloud.sweep();
        for (name, (_, stats)) in functions(cloud).await {
            if let Some(ms) = stats["cold_start_init_ms"][0].as_f64() {
                init.entry(name.clone()).or_default().push(ms);
                first
                    .entry(name.clone())
                    .or_default()
                    .push(stats["durations_ms"][0].as_f64().unwrap());
                rss.entry(name)
                    .or_default()
                    .push(stats["peak_rss_kib"].as_f64().unwrap_or(0.0));
            }
        }
        last = Some((quarantine_stats, calls, call_ms, execution));
    }
    let (stats, calls, call_ms, execution) = last.unwrap();
    let invocations = stats
        .iter()
        .map(|(name, (_, s))| (name.clone(), s["invocations"].as_u64().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let history = cloud
        .step_functions()
        .get_execution_history()
        .execution_arn(&execution)
        .max_results(1000)
        .send()
        .await
        .unwrap();
    let transitions = history
        .events()
        .iter()
        .filter(|e| e.r#type().as_str().ends_with("StateEntered"))
        .count();

    // The baseline: the seed sample's calls in Python through the same Runtime API host.
    let python = env_python();
    let baseline = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/seed-baseline/bootstrap");
    let config = json!({"name": "seed-baseline", "binary": baseline,
                        "environment": {"CWQ_BENCH_PYTHON": python}, "memory_mb": 128});
    let spoke = cloud.spoke("10.110.0.0/16", &[("domain", "hub")]).await;
    let mut event = high(&spoke, "seed");
    event["core_network_id"] = json!(cloud.core_network_id);
    let mut py_init = Vec::new();
    let mut py_first = Vec::new();
    let mut py_rss = Vec::new();
    let mut py_warm = Vec::new();
    for _ in 0..rounds {
        admin(&cloud.endpoint, "PUT", "functions", Some(&config))
            .await
            .unwrap();
        let answer = invoke(&cloud.endpoint, OWNER, "seed-baseline", &event)
            .await
            .unwrap();
        assert_eq!(answer["attachment"], spoke.attachment_id.as_str(), "{answer}");
        for _ in 0..20 {
            invoke(&cloud.endpoint, OWNER, "seed-baseline", &event)
                .await
                .unwrap();
        }
        let stats = &functions(cloud).await["seed-baseline"].1;
        py_init.push(stats["cold_start_init_ms"][0].as_f64().unwrap());
        let durations: Vec<f64> = serde_json::from_value(stats["durations_ms"].clone()).unwrap();
        py_first.push(durations[0]);
        py_warm.extend_from_slice(&durations[1..]);
        py_rss.push(stats["peak_rss_kib"].as_f64().unwrap_or(0.0));
    }
    let import = python_import_cost(&python);

    println!("## Cold start and memory per function\n");
    println!("Five cold starts of each function (the Lambda host restarted between rounds); medians.");
    println!(
        "Baseline: `benches/seed-baseline` — Python 3 + boto3, the seed sample's calls (ListAttachments,"
    );
    println!("TagResource), run by awslambdaric through the same Runtime API host.\n");
    println!("| function | start → first `next` | first invocation (incl. start) | peak RSS |");
    println!("|---|---|---|---|");
    let mut rust_inits = Vec::new();
    let mut rust_rss = Vec::new();
    for name in FUNCTIONS {
        let key = format!("cwq-{name}Function");
        let (i, f, r) = (
            median(init.get(&key).cloned().unwrap_or_default()),
            median(first.get(&key).cloned().unwrap_or_default()),
            median(rss.get(&key).cloned().unwrap_or_default()),
        );
        rust_inits.push(i);
        rust_rss.push(r);
        println!("| {name} | {i:.1} ms | {f:.1} ms | {:.1} MiB |", r / 1024.0);
    }
    let (pi, pf, pr) = (median(py_init.clone()), median(py_first), median(py_rss));
    println!(
        "| **baseline: Python + boto3** | {pi:.1} ms | {pf:.1} ms | {:.1} MiB |",
        pr / 1024.0
    );
    let ri = median(rust_inits);
    let rr = median(rust_rss);
    println!(
        "| ratio, baseline ÷ cwq (median function) | {:.0}× | | {:.1}× |",
        pi / ri,
        pr / rr
    );
    println!(
        "\n`import boto3` + `boto3.client(\"networkmanager\")` alone: {import:.0} ms (median of 5, fresh interpreter).\n"
    );
    println!(
        "Python baseline warm invocation (ListAttachments + TagResource): {:.1} ms (median of {}).\n",
        median(py_warm.clone()),
        py_warm.len()
    );
    Incident {
        invocations,
        calls,
        call_ms,
        transitions,
        baseline_warm_ms: median(py_warm),
    }
}

fn python_import_cost(python: &str) -> f64 {
    let script = "import time; t = time.perf_counter(); import boto3; \
                  boto3.client('networkmanager', region_name='us-east-1'); \
                  print((time.perf_counter() - t) * 1000)";
    let samples = (0..5)
        .map(|_| {
            let out = std::process::Command::new(python)
                .args(["-c", script])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<f64>()
                .unwrap()
        })
        .collect();
    median(samples)
}

/// 2: warm latency per handler (emulator answering at once) and CPU time per incident; the
/// median warm duration per function.
async fn warm_latency(cloud: &Cloud) -> BTreeMap<String, f64> {
    let mut medians = BTreeMap::new();
    let n = 20;
    let mut spokes = Vec::new();
    for i in 0..n {
        spokes.push(
            cloud
                .spoke(&format!("10.{}.0.0/16", 120 + i), &[("domain", "hub")])
                .await,
        );
    }
    // Warm every function first; then statistics from a clean start.
    quarantine(cloud, &spokes[0], "warmup").await;
    release(cloud, &spokes[0]);
    recycle(cloud).await;
    quarantine(cloud, &spokes[1], "warmup2").await;
    let cpu_before: f64 = functions(cloud)
        .await
        .values()
        .filter_map(|(_, s)| s["cpu_ms"].as_f64())
        .sum();
    let skip: BTreeMap<String, usize> = functions(cloud)
        .await
        .into_iter()
        .map(|(k, (_, s))| (k, s["durations_ms"].as_array().map_or(0, Vec::len)))
        .collect();
    let started = Instant::now();
    for (i, spoke) in spokes.iter().enumerate().skip(2) {
        quarantine(cloud, spoke, &format!("warm{i}")).await;
    }
    let wall = started.elapsed().as_secs_f64() / (n - 2) as f64;
    let stats = functions(cloud).await;
    let cpu_after: f64 = stats.values().filter_map(|(_, s)| s["cpu_ms"].as_f64()).sum();
    println!("## Warm latency per handler\n");
    println!(
        "{} quarantines one after another, every function warm, the emulator answering at once \
         (transition delay 0); the host's queued → answered time per invocation.\n",
        n - 2
    );
    println!("| function | invocations | median | p90 |");
    println!("|---|---|---|---|");
    for name in FUNCTIONS {
        let key = format!("cwq-{name}Function");
        let Some((_, s)) = stats.get(&key) else { continue };
        let all: Vec<f64> = serde_json::from_value(s["durations_ms"].clone()).unwrap_or_default();
        let mut warm: Vec<f64> = all
            .into_iter()
            .skip(skip.get(&key).copied().unwrap_or(0))
            .collect();
        if warm.is_empty() {
            continue;
        }
        warm.sort_by(|a, b| a.total_cmp(b));
        let p90 = warm[(warm.len() * 9 / 10).min(warm.len() - 1)];
        println!(
            "| {name} | {} | {:.2} ms | {p90:.2} ms |",
            warm.len(),
            median(warm.clone())
        );
        medians.insert(key, median(warm));
    }
    println!(
        "\nCPU time of the Lambda processes per quarantine: {:.1} ms (user + system, /proc, {} incidents); \
         wall time per quarantine through the local Step Functions: {:.0} ms.\n",
        (cpu_after - cpu_before) / (n - 2) as f64,
        n - 2,
        wall * 1000.0
    );
    medians
}

/// 3: finding → verified move with 50 ms per Network Manager call, against the calls that
/// must happen one after another.
async fn time_to_contain(cloud: &Cloud, incident: &Incident) {
    let out = common::cwq(&[
        "local",
        "faults",
        "add",
        "--service",
        "networkmanager",
        "--latency-ms",
        &NM_LATENCY_MS.to_string(),
        "--state-dir",
        cloud.state(),
    ]);
    assert!(out.status.success(), "{}", common::text(&out));
    let deployment = cwq_localcloud::deploy::Deployment::read(&cloud.state_dir).unwrap();
    let mut samples = Vec::new();
    let mut sequential = 0;
    let mut breakdown: BTreeMap<String, f64> = BTreeMap::new();
    for i in 0..5 {
        let spoke = cloud
            .spoke(&format!("10.{}.0.0/16", 150 + i), &[("domain", "hub")])
            .await;
        let before = counters::<u64>(cloud, "calls");
        let before_ms = counters::<f64>(cloud, "total_ms");
        let event = high(&spoke, &format!("ttc{i}"));
        let started = Instant::now();
        cwq_localcloud::deploy::inject(&cloud.endpoint, &deployment, &event)
            .await
            .unwrap();
        loop {
            if let Some(item) = cloud.item(&spoke.attachment_id).await {
                if item.status() == cwq_domain::lifecycle::Status::Quarantined {
                    break;
                }
            }
            assert!(started.elapsed() < Duration::from_secs(60), "never contained");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        // Network Manager calls of the containment path (enrich → decide → move → verify).
        let calls = delta(&counters::<u64>(cloud, "calls"), &before);
        breakdown = BTreeMap::new();
        for (op, ms) in delta(&counters::<f64>(cloud, "total_ms"), &before_ms) {
            *breakdown
                .entry(op.split(':').next().unwrap().to_string())
                .or_insert(0.0) += ms;
        }
        sequential = [
            "ListAttachments",
            "GetVpcAttachment",
            "GetCoreNetworkPolicy",
            "ListTagsForResource",
            "TagResource",
        ]
        .iter()
        .map(|op| calls.get(&format!("networkmanager:{op}")).copied().unwrap_or(0))
        .sum::<u64>();
    }
    let _ = common::cwq(&["local", "faults", "clear", "--state-dir", cloud.state()]);
    let measured = median(samples);
    let limit = sequential as f64 * NM_LATENCY_MS as f64;
    println!("## Time to contain\n");
    println!(
        "Finding delivered → journal QUARANTINED (the verified move), {NM_LATENCY_MS} ms added to every \
         Network Manager call, Cloud WAN's segment move instant; median of 5.\n"
    );
    println!("| figure | value |\n|---|---|");
    println!("| measured | {measured:.0} ms |");
    println!(
        "| limit: {sequential} Network Manager calls in sequence × {NM_LATENCY_MS} ms | {limit:.0} ms |"
    );
    println!(
        "| overhead above the limit | {:.0} ms ({:.0}%) |",
        measured - limit,
        (measured / limit - 1.0) * 100.0
    );
    println!(
        "| state transitions in one quarantine execution | {} |\n",
        incident.transitions
    );
    println!("Where the time went in the last sample: the gateway's time answering each service (the");
    println!("snapshot branch runs beside move and verify, so these overlap; `lambda` is the");
    println!("functions' own time, including their calls).\n");
    println!("| service | time at the gateway |\n|---|---|");
    for (service, ms) in &breakdown {
        println!("| {service} | {ms:.0} ms |");
    }
    println!();
}

/// 4: calls per incident by operation, and enrichment against the size of the core network.
async fn calls_and_growth(cloud: &Cloud, incident: &Incident) {
    println!("## API calls per incident\n");
    println!("One High finding, first sighting of its VPC (the attachment not cached yet).\n");
    println!("| service:operation | calls | mean time at the gateway |\n|---|---|---|");
    for (op, n) in &incident.calls {
        let ms = incident.call_ms.get(op).copied().unwrap_or(0.0) / *n as f64;
        println!("| {op} | {n} | {ms:.1} ms |");
    }
    println!();

    println!("## Enrichment against the size of the core network\n");
    println!(
        "Filler VPC attachments in the finding's Region, the finding's VPC attached last (the end of \
         the listing); calls made by one quarantine, first sighting and again for the same VPC.\n"
    );
    println!("| attachments | first: ListAttachments | first: enrich | again: ListAttachments | again: GetVpcAttachment | again: enrich |");
    println!("|---|---|---|---|---|---|");
    let nm = cloud.network_manager();
    let mut filler = 0;
    // The core network already holds the spokes of the sections before.
    let existing = nm
        .list_attachments()
        .core_network_id(&cloud.core_network_id)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .len();
    for (i, size) in [10usize, 1_000, 10_000].into_iter().enumerate() {
        while existing + filler + 1 < size {
            nm.create_vpc_attachment()
                .core_network_id(&cloud.core_network_id)
                .vpc_arn(format!("arn:aws:ec2:{REGION}:{WORKLOAD}:vpc/vpc-f{filler:016x}"))
                .subnet_arns(format!(
                    "arn:aws:ec2:{REGION}:{WORKLOAD}:subnet/subnet-f{filler:016x}"
                ))
                .send()
                .await
                .unwrap();
            filler += 1;
        }
        let spoke = cloud
            .spoke(&format!("10.{}.0.0/16", 170 + i), &[("domain", "hub")])
            .await;
        let mut row = vec![format!("{}", existing + filler + 1)];
        for (round, id) in ["first", "again"].iter().enumerate() {
            let enrich_before = enrich_durations(cloud).await.len();
            let before = counters::<u64>(cloud, "calls");
            quarantine(cloud, &spoke, &format!("grow{size}{id}")).await;
            let calls = delta(&counters::<u64>(cloud, "calls"), &before);
            let enrich_ms = enrich_durations(cloud).await[enrich_before..].iter().sum::<f64>();
            row.push(
                calls
                    .get("networkmanager:ListAttachments")
                    .copied()
                    .unwrap_or(0)
                    .to_string(),
            );
            if round == 1 {
                row.push(
                    calls
                        .get("networkmanager:GetVpcAttachment")
                        .copied()
                        .unwrap_or(0)
                        .to_string(),
                );
            }
            row.push(format!("{enrich_ms:.1} ms"));
            release(cloud, &spoke);
        }
        println!("| {} |", row.join(" | "));
    }
    println!("\n(\"again: GetVpcAttachment\" counts verify's checks too; enrich's is one of them.)\n");
}

async fn enrich_durations(cloud: &Cloud) -> Vec<f64> {
    let stats = &functions(cloud).await["cwq-EnrichFunction"].1;
    serde_json::from_value(stats["durations_ms"].clone()).unwrap_or_default()
}

/// 6: cost per incident at AWS list prices (us-east-1), from the counts measured above.
fn cost(incident: &Incident, warm_ms: &BTreeMap<String, f64>) {
    const TRANSITION: f64 = 0.025 / 1000.0; // Step Functions Standard
    const GB_SECOND_ARM: f64 = 0.000_013_333_4; // Lambda arm64
    const GB_SECOND_X86: f64 = 0.000_016_666_7; // Lambda x86_64 (the seed sample's default)
    const REQUEST: f64 = 0.20 / 1e6;
    const WRITE: f64 = 0.625 / 1e6; // DynamoDB on demand, per write request unit (≤ 1 KB)
    const READ: f64 = 0.125 / 1e6; // per read request unit (≤ 4 KB, strongly consistent)
    let gb = 128.0 / 1024.0;
    let count = |ops: &[&str]| -> f64 {
        ops.iter()
            .map(|op| {
                incident
                    .calls
                    .get(&format!("dynamodb:{op}"))
                    .copied()
                    .unwrap_or(0)
            })
            .sum::<u64>() as f64
    };
    let (writes, reads) = (
        count(&["PutItem", "UpdateItem", "DeleteItem"]),
        count(&["GetItem", "Query", "Scan"]),
    );
    let requests: u64 = incident.invocations.values().sum();
    // Billed duration: each invocation's warm duration rounded up to the millisecond.
    let seconds: f64 = incident
        .invocations
        .iter()
        .map(|(name, n)| *n as f64 * warm_ms.get(name).copied().unwrap_or(0.0).ceil() / 1000.0)
        .sum();
    let rows = [
        (
            "Step Functions state transitions (Standard)",
            incident.transitions as f64,
            incident.transitions as f64 * TRANSITION,
        ),
        ("Lambda requests", requests as f64, requests as f64 * REQUEST),
        (
            "Lambda GB-seconds (128 MB arm64, warm)",
            seconds * gb,
            seconds * gb * GB_SECOND_ARM,
        ),
        ("DynamoDB write request units", writes, writes * WRITE),
        ("DynamoDB read request units", reads, reads * READ),
    ];
    let total: f64 = rows.iter().map(|r| r.2).sum();
    let seed_seconds = incident.baseline_warm_ms.ceil() / 1000.0;
    let seed = REQUEST + seed_seconds * gb * GB_SECOND_X86;
    println!(
        "## Cost per incident
"
    );
    println!("One quarantine (the execution of section 1), AWS list prices in us-east-1; Network Manager");
    println!(
        "and EventBridge custom events are left out (no charge per call; $1 per million events).
"
    );
    println!("| item | count | cost |\n|---|---|---|");
    for (item, n, dollars) in rows {
        println!("| {item} | {n:.3} | ${dollars:.8} |");
    }
    println!(
        "| **cwq, per incident** | | **${total:.6}** (${:.2} per 1,000) |",
        total * 1000.0
    );
    println!(
        "| seed sample: one 128 MB x86_64 invocation of {:.0} ms (the Python baseline, warm) | | ${seed:.8} |",
        incident.baseline_warm_ms
    );
    println!("| ratio, cwq ÷ seed | | {:.0}× |\n", total / seed);
}

/// 5: 1,000 findings over 100 VPCs delivered within a minute.
async fn storm(cloud: &Arc<Cloud>) {
    let vpcs = 100;
    let findings = 1000;
    // The spokes are set up ten at a time (moto serves them on one core).
    let mut spokes = Vec::new();
    for first in (0..vpcs).step_by(10) {
        let mut batch = tokio::task::JoinSet::new();
        for i in first..first + 10 {
            let cloud = cloud.clone();
            batch.spawn(async move {
                (
                    i,
                    cloud.spoke(&format!("11.{i}.0.0/16"), &[("domain", "hub")]).await,
                )
            });
        }
        let mut made = batch.join_all().await;
        made.sort_by_key(|(i, _)| *i);
        spokes.extend(made.into_iter().map(|(_, spoke)| spoke));
    }
    let tags_before = tag_resource_calls(cloud);
    let deployment = Arc::new(cwq_localcloud::deploy::Deployment::read(&cloud.state_dir).unwrap());
    // Each finding is delivered at its due time without waiting for the ones before it, as
    // EventBridge delivers to its targets.
    let started = Instant::now();
    let mut deliveries = tokio::task::JoinSet::new();
    for n in 0..findings {
        let due = Duration::from_millis(60_000 * n as u64 / findings as u64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        // Each VPC gets one severity, so its segment changes exactly once.
        let example = if (n % vpcs) % 2 == 0 {
            "bitcoin-tool-high"
        } else {
            "malicious-ip-caller-medium"
        };
        let event = finding(example, &spokes[n % vpcs], &format!("storm{n}"), None, None);
        let (endpoint, deployment) = (cloud.endpoint.clone(), deployment.clone());
        deliveries.spawn(async move {
            cwq_localcloud::deploy::inject(&endpoint, &deployment, &event)
                .await
                .unwrap()
        });
    }
    let sent = started.elapsed();
    let executions: Vec<String> = deliveries
        .join_all()
        .await
        .into_iter()
        .flatten()
        .filter_map(|delivery| match delivery {
            cwq_localcloud::deploy::Delivery::Started { execution_arn, .. } => Some(execution_arn),
            _ => None,
        })
        .collect();
    let delivered = started.elapsed();
    let status = common::cwq(&[
        "local",
        "status",
        "--output",
        "json",
        "--state-dir",
        cloud.state(),
    ]);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    let pids: Vec<u64> = [status["pid"].as_u64(), status["moto_pid"].as_u64()]
        .into_iter()
        .flatten()
        .collect();
    let mut peak: u64 = 0;
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let sfn = cloud.step_functions();
    for arn in &executions {
        loop {
            let d = sfn.describe_execution().execution_arn(arn).send().await.unwrap();
            if d.status().as_str() != "RUNNING" {
                let mut outcome = d.status().as_str().to_string();
                if let Some(error) = d.error() {
                    let cause: String = d.cause().unwrap_or_default().chars().take(160).collect();
                    outcome = format!("{outcome} ({error}: {})", cause.replace('|', "/"));
                }
                *outcomes.entry(outcome).or_default() += 1;
                break;
            }
            peak = peak.max(pids.iter().map(|p| process_usage(*p as u32).0.unwrap_or(0)).sum());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let drained = started.elapsed();
    peak = peak.max(pids.iter().map(|p| process_usage(*p as u32).0.unwrap_or(0)).sum());
    let tags = tag_resource_calls(cloud) - tags_before;
    let mut moved = 0;
    for spoke in &spokes {
        let (_, segment, _) = cloud.attachment(spoke).await;
        if segment.as_deref() != Some("hub") {
            moved += 1;
        }
    }
    println!("## Storm\n");
    println!(
        "{findings} findings over {vpcs} VPCs (ten each; half the VPCs High, half Medium) delivered \
         evenly within one minute through the deployed EventBridge rule.\n"
    );
    println!("| figure | value |\n|---|---|");
    println!("| executions started | {} |", executions.len());
    println!(
        "| outcomes | {} |",
        outcomes
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("| VPCs whose segment changed | {moved} |");
    println!("| successful TagResource calls | {tags} |");
    println!("| findings sent within | {:.1} s |", sent.as_secs_f64());
    println!(
        "| last execution started (StartExecution answered) after | {:.1} s |",
        delivered.as_secs_f64()
    );
    println!(
        "| drained (last execution ended) after | {:.1} s |",
        drained.as_secs_f64()
    );
    println!(
        "| peak memory of the local cloud (gateway + moto, VmHWM) | {:.0} MiB |\n",
        peak as f64 / 1024.0
    );
}

fn tag_resource_calls(cloud: &Cloud) -> usize {
    cloud
        .calls()
        .iter()
        .filter(|c| c["operation"] == "TagResource" && c["status"].as_u64().is_some_and(|s| s < 300))
        .count()
}
