//! The pipeline's figures for docs/benchmarks.md, on the local cloud with the release binaries
//! (`scripts/bench` builds them and runs this). Figures, never assertions: the machine is shared.
//!
//! Prints a markdown section per measurement: cold start and memory per function beside a
//! Python 3 + boto3 baseline in the seed sample's shape (benches/seed-baseline), the time to the
//! first containing call and to verified containment beside the seed's, warm latency and CPU
//! per incident, API calls per incident and enrichment's growth with the core network, a storm
//! of findings, cost per incident, and what waiting for Cloud WAN moves of minutes costs.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod cold;
#[path = "../../tests/common/mod.rs"]
mod common;
mod cost;
mod first;
mod growth;
mod storm;
mod waiting;
mod warm;

use common::{finding, policy_variant, Cloud, Spoke, OVERLAY_CORE, OWNER, REGION, WORKLOAD};
use cwq_localcloud::admin::{AdminClient, FunctionEntry};
use cwq_localcloud::control::invoke;
use cwq_localcloud::lambda_host::process_usage;
use cwq_localcloud::lambda_host::FunctionConfig;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FUNCTIONS: [&str; 6] = ["Decide", "Reconcile", "Snapshot", "Outcome", "Release", "Sweep"];

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
async fn functions(cloud: &Cloud) -> BTreeMap<String, FunctionEntry> {
    let list = AdminClient::new(&cloud.endpoint).functions().await.unwrap();
    list.into_iter().map(|f| (f.config.name.clone(), f)).collect()
}

/// Registers every function again: fresh statistics, and the next invocation is a cold start.
async fn recycle(cloud: &Cloud) {
    let admin = AdminClient::new(&cloud.endpoint);
    for (_, function) in functions(cloud).await {
        admin.put_function(&function.config).await.unwrap();
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

/// The seed sample's handler (benches/seed-baseline) as a function of the Lambda host: its
/// next invocation is a cold start.
async fn register_seed(cloud: &Cloud, python: &str) {
    let bootstrap = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/seed-baseline/bootstrap");
    let config: FunctionConfig = serde_json::from_value(json!({"name": "seed-baseline", "binary": bootstrap,
                        "environment": {"CWQ_BENCH_PYTHON": python}, "memory_mb": 128}))
    .unwrap();
    AdminClient::new(&cloud.endpoint)
        .put_function(&config)
        .await
        .unwrap();
}

/// The names of the states an execution entered, in order: Step Functions Standard bills each
/// as a state transition.
async fn states_entered(cloud: &Cloud, execution: &str) -> Vec<String> {
    let history = cloud
        .step_functions()
        .get_execution_history()
        .execution_arn(execution)
        .max_results(1000)
        .send()
        .await
        .unwrap();
    history
        .events()
        .iter()
        .filter(|e| e.r#type().as_str().ends_with("StateEntered"))
        .filter_map(|e| e.state_entered_event_details().map(|d| d.name().to_string()))
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
    cloud.cloud_wan(|s| s.transition_delay_ms = 0).await;

    // `cargo bench --bench pipeline -- storm` runs the sections named (cold, first, warm, storm,
    // growth, cost, waiting); scripts/bench runs them all. The cold section runs whenever one
    // that needs the first incident's figures does (warm, growth, cost).
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |section: &str| only.is_empty() || only.iter().any(|o| o == section);
    // Five minutes of Cloud WAN moves on a cloud of its own, while the other sections run.
    let waiting = match wanted("waiting") {
        true => Some(waiting::start().await),
        false => None,
    };
    let needs_incident = ["cold", "warm", "growth", "cost"].into_iter().any(wanted);
    let incident = if needs_incident {
        Some(cold::cold_starts_and_baseline(&cloud).await)
    } else {
        None
    };
    // Before the warm section's spokes: the seed reads one page of attachments.
    if wanted("first") {
        first::first_containing_call(&cloud, &env_python()).await;
    }
    let warm = if wanted("warm") || wanted("cost") {
        Some(warm::warm_latency(&cloud).await)
    } else {
        None
    };
    // Before the growth section's 10,000 attachments, so that the peak memory is the storm's.
    if wanted("storm") {
        storm::storm(&cloud).await;
    }
    if let Some(incident) = &incident {
        if wanted("growth") {
            growth::calls_and_growth(&cloud, incident).await;
        }
        if let (true, Some(warm)) = (wanted("cost"), &warm) {
            cost::cost(incident, warm);
        }
    }
    if let Some(waiting) = waiting {
        waiting::report(waiting).await;
    }
}
