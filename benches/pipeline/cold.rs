//! Section 1: cold start, first invocation and peak memory per function, beside the Python
//! baseline in the seed sample's shape.

use super::*;
use cwq_localcloud::lambda_host::FunctionStats;

/// 1: cold start, first invocation and peak memory per function, five cold starts each, with
/// the binary the benches were built with (the `quick` profile) and the one that ships (the
/// release profile, `CWQ_BENCH_SHIPPED`), and the Python baseline through the same host.
pub async fn cold_starts_and_baseline(cloud: &Cloud) -> Incident {
    let rounds = 5;
    let (quick, incident) = cwq_cold_starts(cloud, rounds).await;
    let shipped_binary = std::env::var("CWQ_BENCH_SHIPPED").expect("CWQ_BENCH_SHIPPED: run scripts/bench");
    let quick_binary = run_functions_from(cloud, shipped_binary.as_ref()).await;
    let (shipped, _) = cwq_cold_starts(cloud, rounds).await;
    run_functions_from(cloud, &quick_binary).await;
    let python = env_python();
    let baseline = python_baseline(cloud, &python, rounds).await;
    let import = python_import_cost(&python);

    println!("## Cold start and memory per function\n");
    println!("Five cold starts of each function (the Lambda host restarted between rounds); medians. Each");
    println!("function runs the one Lambda binary (functions/), built twice: with the `quick` profile the");
    println!("benches use and with the release profile `scripts/package` ships (Cargo.toml). Baseline:");
    println!("`benches/seed-baseline` — Python 3 + boto3, the seed sample's calls (ListAttachments,");
    println!("TagResource), run by awslambdaric through the same Runtime API host.\n");
    println!("| function | start → first `next`: quick / shipped | first invocation (incl. start): quick / shipped | peak RSS: quick / shipped |");
    println!("|---|---|---|---|");
    let (mut inits, mut rss) = (Vec::new(), Vec::new());
    for name in FUNCTIONS {
        let key = format!("cwq-{name}Function");
        let (qi, qf, qr) = quick.medians(&key);
        let (si, sf, sr) = shipped.medians(&key);
        inits.push(si);
        rss.push(sr);
        println!(
            "| {name} | {qi:.1} / {si:.1} ms | {qf:.1} / {sf:.1} ms | {:.1} / {:.1} MiB |",
            qr / 1024.0,
            sr / 1024.0
        );
    }
    let (pi, pf, pr) = baseline.cold.medians("seed-baseline");
    println!(
        "| **baseline: Python + boto3** | {pi:.1} ms | {pf:.1} ms | {:.1} MiB |",
        pr / 1024.0
    );
    let (ri, rr) = (median(inits), median(rss));
    println!(
        "| ratio, baseline ÷ cwq shipped (median function) | {:.0}× | | {:.1}× |",
        pi / ri,
        pr / rr
    );
    println!(
        "\n`import boto3` + `boto3.client(\"networkmanager\")` alone: {import:.0} ms (median of 5, fresh interpreter).\n"
    );
    println!(
        "Python baseline warm invocation (ListAttachments + TagResource): {:.1} ms (median of {}).\n",
        median(baseline.warm.clone()),
        baseline.warm.len()
    );
    Incident {
        baseline_warm_ms: median(baseline.warm),
        ..incident
    }
}

/// Registers every cwq function again running `binary` (a cold start next); the binary they ran.
async fn run_functions_from(cloud: &Cloud, binary: &std::path::Path) -> std::path::PathBuf {
    let admin = AdminClient::new(&cloud.endpoint);
    let mut before = std::path::PathBuf::new();
    for (name, function) in functions(cloud).await {
        if name.starts_with("cwq-") {
            before = function.config.binary.clone();
            let config = FunctionConfig {
                binary: binary.to_path_buf(),
                ..function.config
            };
            admin.put_function(&config).await.unwrap();
        }
    }
    before
}

/// Each function's cold starts: start → first `next`, first invocation, peak RSS (KiB).
#[derive(Default)]
struct ColdStarts {
    init: BTreeMap<String, Vec<f64>>,
    first: BTreeMap<String, Vec<f64>>,
    rss: BTreeMap<String, Vec<f64>>,
}

impl ColdStarts {
    /// Records the first invocation of a function that cold-started since it was registered.
    fn record(&mut self, name: &str, stats: &FunctionStats) {
        let Some(&init) = stats.cold_start_init_ms.first() else {
            return;
        };
        self.init.entry(name.to_string()).or_default().push(init);
        let first = stats.durations_ms.first().copied().unwrap_or(0.0);
        self.first.entry(name.to_string()).or_default().push(first);
        let rss = stats.peak_rss_kib.unwrap_or(0) as f64;
        self.rss.entry(name.to_string()).or_default().push(rss);
    }

    fn medians(&self, name: &str) -> (f64, f64, f64) {
        let of = |m: &BTreeMap<String, Vec<f64>>| median(m.get(name).cloned().unwrap_or_default());
        (of(&self.init), of(&self.first), of(&self.rss))
    }
}

/// `rounds` quarantines, each after every function was registered again; the last one's
/// figures describe an incident.
async fn cwq_cold_starts(cloud: &Cloud, rounds: u32) -> (ColdStarts, Incident) {
    let mut cold = ColdStarts::default();
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
        for (name, function) in functions(cloud).await {
            cold.record(&name, &function.stats);
        }
        last = Some((quarantine_stats, calls, call_ms, execution));
    }
    let (stats, calls, call_ms, execution) = last.expect("at least one round");
    let invocations = stats
        .iter()
        .map(|(name, f)| (name.clone(), f.stats.invocations))
        .filter(|(_, n)| *n > 0)
        .collect();
    let incident = Incident {
        invocations,
        calls,
        call_ms,
        transitions: states_entered(cloud, &execution).await.len(),
        baseline_warm_ms: 0.0,
    };
    (cold, incident)
}

/// The seed sample's figures: its cold starts and its warm invocations (ms).
struct Baseline {
    cold: ColdStarts,
    warm: Vec<f64>,
}

/// The seed sample's calls in Python through the same Runtime API host: `rounds` cold starts,
/// each followed by 20 warm invocations.
async fn python_baseline(cloud: &Cloud, python: &str, rounds: u32) -> Baseline {
    let spoke = cloud.spoke("10.110.0.0/16", &[("domain", "hub")]).await;
    let mut event = high(&spoke, "seed");
    event["core_network_id"] = json!(cloud.core_network_id());
    let mut result = Baseline {
        cold: ColdStarts::default(),
        warm: Vec::new(),
    };
    for _ in 0..rounds {
        register_seed(cloud, python).await;
        let answer = invoke(&cloud.endpoint, OWNER, "seed-baseline", &event)
            .await
            .unwrap();
        assert_eq!(answer["attachment"], spoke.attachment_id.as_str(), "{answer}");
        for _ in 0..20 {
            invoke(&cloud.endpoint, OWNER, "seed-baseline", &event)
                .await
                .unwrap();
        }
        let stats = &functions(cloud).await["seed-baseline"].stats;
        result.cold.record("seed-baseline", stats);
        result.warm.extend_from_slice(&stats.durations_ms[1..]);
    }
    result
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
