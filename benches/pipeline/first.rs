//! Section "first": from the finding's delivery to the first containing call (TagResource),
//! cwq beside the seed sample's path, on one local cloud with the same latency added to every
//! service; the journal writes before the tag, and the time to verified containment beside it.

use super::*;
use cwq_localcloud::admin::FaultSet;
use cwq_localcloud::observe::{FaultRule, TimedCall};

/// Added to every call of each service (a realistic round trip for each): the same for cwq and
/// the seed.
const LATENCY_MS: [(&str, u64); 7] = [
    ("networkmanager", 50),
    ("dynamodb", 10),
    ("lambda", 20),
    ("states", 10),
    ("events", 10),
    ("sts", 10),
    ("ec2", 10),
];
const SAMPLES: u32 = 5;
const JOURNAL_WRITES: [&str; 5] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

/// One sample of cwq's path.
struct Sample {
    /// Delivery (StartExecution received) → TagResource received, ms.
    first_call_ms: f64,
    /// Delivery → Reconcile journals the verified move, ms.
    verified_ms: f64,
    /// What the local cloud received between delivery and the tag, in order.
    before_tag: Vec<TimedCall>,
}

pub async fn first_containing_call(cloud: &Cloud, python: &str) {
    let admin = AdminClient::new(&cloud.endpoint);
    let rules = LATENCY_MS
        .iter()
        .map(|(service, ms)| FaultRule {
            service: service.to_string(),
            latency_ms: *ms,
            ..FaultRule::default()
        })
        .collect();
    // VPCs attached before anything happens, as an estate's are: the warm function's first
    // scan sees them.
    let mut known = Vec::new();
    for i in 1..=SAMPLES {
        known.push(
            cloud
                .spoke(&format!("10.{}.0.0/16", 160 + i), &[("domain", "hub")])
                .await,
        );
    }
    admin.set_faults(&FaultSet { rules, seed: None }).await.unwrap();
    register_seed(cloud, python).await;
    let deployment = cwq_localcloud::deploy::Deployment::read(&cloud.state_dir).unwrap();
    // One of each first, so that every function is warm.
    let spoke = fresh_spoke(cloud, 170).await;
    cwq_once(cloud, &deployment, &spoke, "first0").await;
    seed_once(cloud, 0).await;
    let (mut cwq_known, mut cwq_new, mut cwq_listed, mut seed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, spoke) in (1..=SAMPLES).zip(&known) {
        cwq_known.push(cwq_once(cloud, &deployment, spoke, &format!("known{i}")).await);
        let spoke = fresh_spoke(cloud, 170 + i).await;
        cwq_new.push(cwq_once(cloud, &deployment, &spoke, &format!("first{i}")).await);
        // The other reading of ListAttachments (docs/aws-behaviour.md): its items carry tags.
        list_with_tags(&admin, true).await;
        let spoke = fresh_spoke(cloud, 200 + i).await;
        cwq_listed.push(cwq_once(cloud, &deployment, &spoke, &format!("listed{i}")).await);
        list_with_tags(&admin, false).await;
        seed.push(seed_once(cloud, i).await);
    }
    admin.clear_faults().await.unwrap();
    report(&[&cwq_known, &cwq_new, &cwq_listed], &seed);
}

async fn list_with_tags(admin: &AdminClient, on: bool) {
    let mut settings = admin.cloudwan_settings().await.unwrap();
    settings.list_attachments_include_tags = on;
    admin.set_cloudwan_settings(&settings).await.unwrap();
}

/// A VPC attached just now: no scan has seen it, the journal caches nothing for it.
async fn fresh_spoke(cloud: &Cloud, n: u32) -> Spoke {
    cloud.spoke(&format!("10.{n}.0.0/16"), &[("domain", "hub")]).await
}

/// `series`: a VPC seen before, a first sighting, a first sighting with tags in the listing.
fn report(series: &[&[Sample]; 3], seed: &[f64]) {
    let [known, new, listed] = *series;
    let first = |samples: &[Sample]| median(samples.iter().map(|s| s.first_call_ms).collect());
    let verified = median(known.iter().map(|s| s.verified_ms).collect());
    let seed_first = median(seed.to_vec());
    let latencies: Vec<String> = LATENCY_MS
        .iter()
        .map(|(service, ms)| format!("{service} {ms} ms"))
        .collect();
    println!("## Time to the first containing call\n");
    println!(
        "Delivery (the target receives the finding: StartExecution for cwq, Invoke for the seed) → \
         TagResource received by Network Manager, every function warm, the same latency added to \
         every call of each service ({}); Cloud WAN's move instant; median of {SAMPLES}, cwq (a \
         VPC attached before the function's last scan; one attached just now; one attached just \
         now with ListAttachments carrying tags, the reading the local cloud does not take by \
         default) and the seed alternating.\n",
        latencies.join(", ")
    );
    println!("| figure | cwq | seed (benches/seed-baseline) | ratio |\n|---|---|---|---|");
    for (what, samples) in [
        ("a VPC the warm function's scan has seen", known),
        ("first sighting: a VPC attached just now", new),
        (
            "first sighting, ListAttachments carrying tags (the other reading)",
            listed,
        ),
    ] {
        let ms = first(samples);
        println!(
            "| delivery → first containing call, {what} | {ms:.0} ms | {seed_first:.0} ms | {:.2}× |",
            ms / seed_first
        );
    }
    println!(
        "| delivery → verified containment (Reconcile journals it), a VPC seen before | {verified:.0} ms | not verified | |"
    );
    let writes: Vec<usize> = series
        .iter()
        .flat_map(|samples| samples.iter())
        .map(|s| journal_writes(&s.before_tag).len())
        .collect();
    println!(
        "| journal writes on the containment path before the tag (most in one sample) | {} | 0 | |\n",
        writes.iter().max().copied().unwrap_or(0)
    );
    for (what, samples) in [("a VPC seen before", known), ("first sighting", new)] {
        let Some(last) = samples.last() else { continue };
        println!("cwq's calls between delivery and the tag in the last sample, {what}, in order (arrival, ms after delivery):\n");
        println!("| ms | service:operation | by | took |\n|---|---|---|---|");
        let start = last.before_tag.first().map_or(0.0, |c| c.at);
        for call in &last.before_tag {
            println!(
                "| {:.0} | {}:{} | {} | {:.0} ms |",
                (call.at - start) * 1000.0,
                call.service,
                call.operation,
                call.caller.as_deref().unwrap_or("Step Functions"),
                call.took_ms
            );
        }
        println!();
    }
}

/// The journal writes of the containment path (Decide, Reconcile): the snapshot branch runs
/// beside Reconcile and writes its own.
fn journal_writes(calls: &[TimedCall]) -> Vec<&TimedCall> {
    calls
        .iter()
        .filter(|c| c.service == "dynamodb" && JOURNAL_WRITES.contains(&c.operation.as_str()))
        .filter(|c| {
            let caller = c.caller.as_deref().unwrap_or_default();
            ["Decide", "Reconcile"]
                .iter()
                .any(|f| caller == format!("cwq-{f}Function"))
        })
        .collect()
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

async fn timeline_since(cloud: &Cloud, since: f64) -> Vec<TimedCall> {
    let mut calls = AdminClient::new(&cloud.endpoint).timeline().await.unwrap();
    calls.retain(|c| c.at >= since);
    calls.sort_by(|a, b| a.at.total_cmp(&b.at));
    calls
}

/// The first call of `service:operation` in `calls`, as an index.
fn position(calls: &[TimedCall], service: &str, operation: &str) -> usize {
    calls
        .iter()
        .position(|c| c.service == service && c.operation == operation)
        .unwrap_or_else(|| panic!("no {service}:{operation} in {calls:?}"))
}

async fn cwq_once(
    cloud: &Cloud,
    deployment: &cwq_localcloud::deploy::Deployment,
    spoke: &Spoke,
    id: &str,
) -> Sample {
    let event = high(spoke, id);
    let sent = now();
    let deliveries = cwq_localcloud::deploy::inject(&cloud.endpoint, deployment, &event)
        .await
        .unwrap();
    let Some(cwq_localcloud::deploy::Delivery::Started { execution_arn, .. }) = deliveries.into_iter().next()
    else {
        panic!("the finding was not delivered");
    };
    // Waits on the execution, not on the journal: polling the journal would load the
    // DynamoDB stand-in the pipeline is using.
    let sfn = cloud.step_functions();
    while sfn
        .describe_execution()
        .execution_arn(&execution_arn)
        .send()
        .await
        .unwrap()
        .status()
        .as_str()
        == "RUNNING"
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = timeline_since(cloud, sent).await;
    let delivered = position(&calls, "states", "StartExecution");
    let tag = position(&calls, "networkmanager", "TagResource");
    // Verified: Reconcile's conditional write of the verified segment, its last PutItem.
    let verified = calls
        .iter()
        .rev()
        .find(|c| c.caller.as_deref() == Some("cwq-ReconcileFunction") && c.operation == "PutItem")
        .expect("the verified move is journaled");
    let at = calls[delivered].at;
    Sample {
        first_call_ms: (calls[tag].at - at) * 1000.0,
        verified_ms: (verified.at - at) * 1000.0,
        before_tag: calls[delivered..tag]
            .iter()
            .filter(|c| c.operation != "DescribeExecution")
            .cloned()
            .collect(),
    }
}

async fn seed_once(cloud: &Cloud, i: u32) -> f64 {
    let spoke = cloud
        .spoke(&format!("10.{}.0.0/16", 180 + i), &[("domain", "hub")])
        .await;
    let mut event = high(&spoke, &format!("seed-first{i}"));
    event["core_network_id"] = json!(cloud.core_network_id());
    let sent = now();
    let answer = invoke(&cloud.endpoint, OWNER, "seed-baseline", &event)
        .await
        .unwrap();
    assert_eq!(answer["attachment"], spoke.attachment_id.as_str(), "{answer}");
    let calls = timeline_since(cloud, sent).await;
    let delivered = position(&calls, "lambda", "Invoke");
    let tag = position(&calls, "networkmanager", "TagResource");
    (calls[tag].at - calls[delivered].at) * 1000.0
}
