//! Section 6: cost per incident at AWS list prices (prices.toml), from the counts measured.

use super::*;

/// AWS list prices (prices.toml).
#[derive(serde::Deserialize)]
struct Prices {
    transition: f64,
    gb_second_arm64: f64,
    gb_second_x86_64: f64,
    request: f64,
    write_request_unit: f64,
    read_request_unit: f64,
}

/// 6: cost per incident at AWS list prices (us-east-1), from the counts measured above.
pub fn cost(incident: &Incident, warm_ms: &BTreeMap<String, f64>) {
    let price: Prices = toml::from_str(include_str!("prices.toml")).expect("benches/pipeline/prices.toml");
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
            incident.transitions as f64 * price.transition,
        ),
        (
            "Lambda requests",
            requests as f64,
            requests as f64 * price.request,
        ),
        (
            "Lambda GB-seconds (128 MB arm64, warm)",
            seconds * gb,
            seconds * gb * price.gb_second_arm64,
        ),
        (
            "DynamoDB write request units",
            writes,
            writes * price.write_request_unit,
        ),
        (
            "DynamoDB read request units",
            reads,
            reads * price.read_request_unit,
        ),
    ];
    let total: f64 = rows.iter().map(|r| r.2).sum();
    let seed_seconds = incident.baseline_warm_ms.ceil() / 1000.0;
    let seed = price.request + seed_seconds * gb * price.gb_second_x86_64;
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
