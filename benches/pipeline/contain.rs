//! Section 3: finding → verified move with Network Manager latency injected.

use super::*;

/// 3: finding → verified move with 50 ms per Network Manager call, against the calls that
/// must happen one after another.
pub async fn time_to_contain(cloud: &Cloud, incident: &Incident) {
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
    let (mut sequential, mut breakdown) = (0, BTreeMap::new());
    for i in 0..5 {
        let (ms, calls, time_per_service) = contain_once(cloud, &deployment, i).await;
        samples.push(ms);
        (sequential, breakdown) = (calls, time_per_service);
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

/// One High finding for a new spoke, delivered and timed until the journal says QUARANTINED:
/// the time (ms), the containment path's Network Manager calls (which must happen one after
/// another), and the gateway's time per service.
async fn contain_once(
    cloud: &Cloud,
    deployment: &cwq_localcloud::deploy::Deployment,
    i: u32,
) -> (f64, u64, BTreeMap<String, f64>) {
    let spoke = cloud
        .spoke(&format!("10.{}.0.0/16", 150 + i), &[("domain", "hub")])
        .await;
    let before = counters::<u64>(cloud, "calls");
    let before_ms = counters::<f64>(cloud, "total_ms");
    let event = high(&spoke, &format!("ttc{i}"));
    let started = Instant::now();
    cwq_localcloud::deploy::inject(&cloud.endpoint, deployment, &event)
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
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    // Network Manager calls of the containment path (enrich → decide → move → verify).
    let calls = delta(&counters::<u64>(cloud, "calls"), &before);
    let mut breakdown = BTreeMap::new();
    for (op, ms) in delta(&counters::<f64>(cloud, "total_ms"), &before_ms) {
        *breakdown
            .entry(op.split(':').next().unwrap_or(&op).to_string())
            .or_insert(0.0) += ms;
    }
    let sequential = [
        "ListAttachments",
        "GetVpcAttachment",
        "GetCoreNetworkPolicy",
        "ListTagsForResource",
        "TagResource",
    ]
    .iter()
    .map(|op| calls.get(&format!("networkmanager:{op}")).copied().unwrap_or(0))
    .sum::<u64>();
    (ms, sequential, breakdown)
}
