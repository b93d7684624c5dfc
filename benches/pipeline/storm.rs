//! Section 5: a storm of findings through the deployed EventBridge rule.

use super::*;

/// 5: 1,000 findings over 100 VPCs delivered within a minute.
pub async fn storm(cloud: &Arc<Cloud>) {
    let vpcs = 100;
    let findings = 1000;
    let spokes = storm_spokes(cloud, vpcs).await;
    // AWS-like Cloud WAN for the storm: each move takes seconds, and a tag change while one is
    // applied is answered ConflictException.
    cloud
        .cloud_wan(|s| {
            s.transition_delay_ms = common::TRANSITION_MS;
            s.conflict_during_transition = true;
        })
        .await;
    let tags_before = tag_resource_calls(cloud);
    let started = Instant::now();
    let (executions, sent) = deliver(cloud, &spokes, findings).await;
    let delivered = started.elapsed();
    let (outcomes, peak) = drain(cloud, &executions).await;
    let drained = started.elapsed();
    cloud.cloud_wan(|s| s.transition_delay_ms = 0).await;
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
         evenly within one minute through the deployed EventBridge rule; Cloud WAN AWS-like: each \
         move takes {} s and a tag change during one is answered ConflictException.\n",
        common::TRANSITION_MS / 1000
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

/// `vpcs` spokes, set up ten at a time (moto serves them on one core).
async fn storm_spokes(cloud: &Arc<Cloud>, vpcs: usize) -> Vec<Spoke> {
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
    spokes
}

/// Delivers `findings` evenly over a minute, each at its due time without waiting for the ones
/// before it, as EventBridge delivers to its targets; the executions started, and how long
/// sending took.
async fn deliver(cloud: &Cloud, spokes: &[Spoke], findings: usize) -> (Vec<String>, Duration) {
    let vpcs = spokes.len();
    let deployment = Arc::new(cwq_localcloud::deploy::Deployment::read(&cloud.state_dir).unwrap());
    let started = Instant::now();
    let mut deliveries = tokio::task::JoinSet::new();
    for n in 0..findings {
        let due = Duration::from_millis(60_000 * n as u64 / findings as u64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        // Each VPC gets one severity, so its segment changes exactly once.
        let example = if (n % vpcs).is_multiple_of(2) {
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
    let executions = deliveries
        .join_all()
        .await
        .into_iter()
        .flatten()
        .filter_map(|delivery| match delivery {
            cwq_localcloud::deploy::Delivery::Started { execution_arn, .. } => Some(execution_arn),
            _ => None,
        })
        .collect();
    (executions, sent)
}

/// Waits for every execution to end: how many ended each way, and the local cloud's peak
/// memory (gateway + moto, KiB) meanwhile.
async fn drain(cloud: &Cloud, executions: &[String]) -> (BTreeMap<String, usize>, u64) {
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
    let usage = || -> u64 { pids.iter().map(|p| process_usage(*p as u32).0.unwrap_or(0)).sum() };
    let mut peak: u64 = 0;
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let sfn = cloud.step_functions();
    for arn in executions {
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
            peak = peak.max(usage());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    (outcomes, peak.max(usage()))
}
