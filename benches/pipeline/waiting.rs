//! Section "waiting": what verification costs when Cloud WAN takes minutes. A local cloud of its
//! own, deployed with the template's defaults (the first wait 5 s, doubling to 60 s), contains
//! three VPCs whose moves take 0 s, 1 min and 5 min, all at once; it runs in the background
//! while the other sections do (`start`, then `report`).

use super::*;
use cwq_localcloud::deploy::{Delivery, Deployment};

/// How long each VPC's segment move takes, in seconds.
const MOVES: [u64; 3] = [0, 60, 300];

pub struct Waiting {
    cloud: Cloud,
    /// The move's length and the execution containing it.
    runs: Vec<(u64, String)>,
}

/// Starts the three quarantines and returns without waiting for them.
pub async fn start() -> Waiting {
    let cloud = Cloud::start(
        "bench-waiting",
        OVERLAY_CORE,
        None,
        // The template's defaults, in place of the test kit's short ones.
        &[
            "VerifyIntervalSeconds=5",
            "VerifyMaxIntervalSeconds=60",
            "ReconcileTimeoutSeconds=1800",
        ],
    )
    .await;
    let deployment = Deployment::read(&cloud.state_dir).unwrap();
    let mut runs = Vec::new();
    for (i, seconds) in MOVES.into_iter().enumerate() {
        let spoke = cloud
            .spoke(&format!("10.{}.0.0/16", 190 + i), &[("domain", "hub")])
            .await;
        let id = spoke.attachment_id.clone();
        cloud
            .cloud_wan(|s| {
                s.transition_delay_ms_by_attachment.insert(id, seconds * 1000);
            })
            .await;
        let deliveries =
            cwq_localcloud::deploy::inject(&cloud.endpoint, &deployment, &high(&spoke, &format!("wait{i}")))
                .await
                .unwrap();
        let Some(Delivery::Started { execution_arn, .. }) = deliveries.into_iter().next() else {
            panic!("the finding was not delivered");
        };
        runs.push((seconds, execution_arn));
    }
    Waiting { cloud, runs }
}

/// Waits for the three executions and prints what each cost.
pub async fn report(waiting: Waiting) {
    let price: f64 = toml::from_str::<toml::Table>(include_str!("prices.toml")).unwrap()["transition"]
        .as_float()
        .unwrap();
    let cloud = &waiting.cloud;
    let sfn = cloud.step_functions();
    println!("## Waiting for Cloud WAN\n");
    println!(
        "One quarantine per row on a local cloud deployed with the template's defaults \
         (VerifyIntervalSeconds 5, doubling to VerifyMaxIntervalSeconds 60); Cloud WAN's segment \
         move takes the time given; the three run at once. Transitions: states entered (Step \
         Functions Standard bills each), at ${price} each. The seed sample never verifies: one \
         invocation, no state machine, whatever the move's length.\n"
    );
    println!(
        "| Cloud WAN move | outcome | state transitions | Reconcile invocations | transitions' cost | seed |"
    );
    println!("|---|---|---|---|---|---|");
    for (seconds, execution) in &waiting.runs {
        let status = loop {
            let described = sfn
                .describe_execution()
                .execution_arn(execution)
                .send()
                .await
                .unwrap();
            if described.status().as_str() != "RUNNING" {
                break described.status().as_str().to_string();
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        };
        let entered = states_entered(cloud, execution).await;
        let reconciles = entered.iter().filter(|n| *n == "Reconcile").count();
        println!(
            "| {} | {status} | {} | {reconciles} | ${:.6} | 0 transitions, $0 |",
            match seconds {
                0 => "instant".to_string(),
                s if s % 60 == 0 => format!("{} min", s / 60),
                s => format!("{s} s"),
            },
            entered.len(),
            entered.len() as f64 * price
        );
    }
    println!();
}
