//! Model-checked interleavings (docs/lifecycle.md, "What is proven"): the real ASL and the
//! real steps over the fakes, with a deterministic scheduler choosing, at every port call,
//! which execution goes next. Each schedule runs findings of three bands on one VPC (Medium,
//! High, and High again seconds later or Critical), findings for two more VPCs and a protected one, the sweep every five
//! minutes (expiry, repair), an operator's release, a restart and a redrive of an old
//! release, the owner moving the attachment, crashes and transient errors at any call,
//! snapshots that fail, and Cloud WAN moves that take from 20 s to 15 min, conflict while
//! UPDATING and sometimes get stuck. The invariants are checked after every step and at
//! quiescence; a failing schedule prints its seed, and `CWQ_MODEL_SEED=<seed>
//! CWQ_MODEL_SCHEDULES=1` replays it exactly. `CWQ_MODEL_SCHEDULES` explores more.

mod model;

use cwq_pipeline::fake::sim::{Rng, RunEnd};
use cwq_pipeline::fake::world::CloudWanBehaviour;
use model::{model_policy, model_settings, Model};
use std::time::Instant;

const DEFAULT_SCHEDULES: u64 = 10_000;

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() {
    let schedules = env("CWQ_MODEL_SCHEDULES").unwrap_or(DEFAULT_SCHEDULES);
    let first = env("CWQ_MODEL_SEED").unwrap_or(1);
    let started = Instant::now();
    let mut failed = Vec::new();
    let mut explored = 0;
    for seed in first..first + schedules {
        explored += 1;
        let violations = schedule(seed);
        if !violations.is_empty() {
            failed.push((seed, violations));
            if failed.len() >= 3 {
                break;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "interleavings: explored {explored} schedules (seeds {first}..{}) in {seconds:.1} s, {} with a violation",
        first + explored - 1,
        failed.len()
    );
    for (seed, violations) in &failed {
        println!("\nschedule {seed} violates (replay: CWQ_MODEL_SEED={seed} CWQ_MODEL_SCHEDULES=1):");
        for v in violations.iter().take(10) {
            println!("  - {v}");
        }
    }
    if failed.is_empty() {
        println!("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {seconds:.2}s");
    } else {
        println!("test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in {seconds:.2}s");
        std::process::exit(1);
    }
}

/// One schedule: the scenario's shape from the seed, then the run, the invariants checked.
fn schedule(seed: u64) -> Vec<String> {
    let mut shape = Rng::new(seed ^ 0x5eed_5eed);
    let mut between = |from: u64, to: u64| (from + shape.below(to - from)) as f64;
    let transition = [20.0, 90.0, 240.0, 900.0][(seed % 4) as usize];
    let behaviour = CloudWanBehaviour {
        transition_seconds: transition,
        conflict_while_updating: true,
        stuck: seed.is_multiple_of(7),
    };
    let mut m = Model::new(seed, behaviour, (1, 2), model_settings(model_policy()));
    let a = m.attach("a", &[]);
    let b = m.attach("b", &[]);
    let c = m.attach("c", &[]);
    let p = m.attach("protected", &[("cwq:protected", "yes")]);
    if seed.is_multiple_of(5) {
        m.world.state().snapshot_failure = Some(cwq_pipeline::PortError::Denied("no workload role".into()));
    }

    let high = between(0, 300);
    m.deliver(
        between(0, 300),
        "medium-a",
        m.event(&a, "a1", 5.0, "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom"),
    );
    m.deliver(
        high,
        "high-a",
        m.event(&a, "a2", 8.0, "Backdoor:EC2/C&CActivity.B"),
    );
    m.deliver(
        high + between(0, 5),
        "high-a-again",
        m.event(&a, "a3", 8.0, "Trojan:EC2/DropPoint"),
    );
    m.deliver(
        between(0, 600),
        "high-b",
        m.event(&b, "b1", 8.0, "Backdoor:EC2/C&CActivity.B"),
    );
    m.deliver(
        between(0, 600),
        "high-c",
        m.event(&c, "c1", 8.0, "Backdoor:EC2/C&CActivity.B"),
    );
    m.deliver(
        between(0, 600),
        "critical-p",
        m.event(&p, "p1", 9.5, "Backdoor:EC2/C&CActivity.B"),
    );
    if seed.is_multiple_of(2) {
        let (sim, world, id, at) = (
            m.sim.clone(),
            m.world.clone(),
            a.attachment_id.clone(),
            between(0, 120),
        );
        m.sim.spawn(async move {
            sim.sleep(at).await;
            world.owner_sets_tag(&id, "domain", Some("hub"));
        });
    }
    if behaviour_stuck(&m) {
        let (sim, world, at) = (m.sim.clone(), m.world.clone(), between(600, 1800));
        m.sim.spawn(async move {
            sim.sleep(at).await;
            world.state().behaviour.stuck = false;
        });
    }
    m.sweeps(300.0, 4000.0);
    m.operator_release(between(200, 2500), &a, "manual-a");
    m.replay_old_release(between(1500, 3500));

    if m.run(500_000) == RunEnd::OutOfSteps {
        m.violation("the schedule did not reach quiescence in 500,000 steps".into());
    }
    m.calm();
    m.settle_reporting_stuck(12);
    m.check_converged();
    m.check_outcomes();
    m.expire_everything();
    m.check_outcomes();
    let violations = m
        .violations
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    if !violations.is_empty() && std::env::var_os("CWQ_MODEL_TRACE").is_some() {
        m.trace();
    }
    m.world.forget_launcher();
    violations
}

fn behaviour_stuck(m: &Model) -> bool {
    m.world.state().behaviour.stuck
}
