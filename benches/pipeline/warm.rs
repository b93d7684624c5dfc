//! Section 2: warm latency per handler and CPU time per incident.

use super::*;

/// 2: warm latency per handler (emulator answering at once) and CPU time per incident; the
/// median warm duration per function.
pub async fn warm_latency(cloud: &Cloud) -> BTreeMap<String, f64> {
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
    let before = functions(cloud).await;
    let cpu_before: f64 = before.values().filter_map(|f| f.stats.cpu_ms).sum();
    let skip: BTreeMap<String, usize> = before
        .into_iter()
        .map(|(k, f)| (k, f.stats.durations_ms.len()))
        .collect();
    let started = Instant::now();
    for (i, spoke) in spokes.iter().enumerate().skip(2) {
        quarantine(cloud, spoke, &format!("warm{i}")).await;
    }
    let wall = started.elapsed().as_secs_f64() / (n - 2) as f64;
    let stats = functions(cloud).await;
    let cpu_after: f64 = stats.values().filter_map(|f| f.stats.cpu_ms).sum();
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
        let Some(f) = stats.get(&key) else { continue };
        let mut warm: Vec<f64> = (f.stats.durations_ms.iter().copied())
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
