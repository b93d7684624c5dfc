//! Steps over the in-memory ports, one situation each: the response policy a step runs with
//! (stored, checked, kept when the journal or the stored policy fails), and ARNs that keep
//! the partition cwq was given.

#![allow(clippy::unwrap_used)]

use cwq_domain::cloudwan::CoreNetworkPolicy;
use cwq_domain::lifecycle::AttachmentRef;
use cwq_domain::response_policy::ResponsePolicy;
use cwq_pipeline::fake::ports;
use cwq_pipeline::fake::world::{BoxFuture, Call, Chaos, ManualClock, World};
use cwq_pipeline::policy::{PolicyCache, StoredPolicy, DEFAULT_POLICY};
use cwq_pipeline::ports::Journal;
use cwq_pipeline::{PortError, Settings, Step, StepError};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use time::macros::datetime;

fn repo(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Fails every journal read while `down` is set (DynamoDB unreachable).
#[derive(Default)]
struct JournalOutage {
    down: AtomicBool,
}

impl Chaos for JournalOutage {
    fn before(&self, call: Call) -> BoxFuture<'_, Option<PortError>> {
        let fail = call.port == "journal" && self.down.load(Ordering::SeqCst);
        Box::pin(async move { fail.then(|| PortError::Transient("journal unreachable".into())) })
    }
    fn after(&self, _call: Call) {}
}

fn settings() -> Settings {
    let policy = ResponsePolicy::from_toml(DEFAULT_POLICY).unwrap();
    let mut settings = Settings::new("core-network-0123456789abcdef0", policy, "unused");
    settings.policy_refresh_seconds = 0;
    settings
}

#[test]
fn the_policy_in_use_is_the_last_good_one_and_never_a_crash() {
    futures::executor::block_on(policy_in_use());
}

async fn policy_in_use() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-03 10:00 UTC)));
    let outage = Arc::new(JournalOutage::default());
    let world = Arc::new(World::new(clock.clone(), outage.clone()));
    let base = ports(&world, clock.clone(), settings());
    let cache = PolicyCache::new(0);

    // Nothing applied: the built-in default.
    let default_version = ResponsePolicy::version_of(DEFAULT_POLICY);
    assert_eq!(
        cache.ports(&base).await.unwrap().settings.policy_version,
        default_version
    );

    // Applied: used from the next read on.
    let good = DEFAULT_POLICY.replace("max_moves = 10", "max_moves = 7");
    let at = datetime!(2026-12-03 10:01 UTC);
    world
        .apply_policy(&StoredPolicy::new(&good, at, "operator"))
        .await
        .unwrap();
    let used = cache.ports(&base).await.unwrap();
    assert_eq!(used.settings.policy_version, ResponsePolicy::version_of(&good));
    assert_eq!(used.settings.policy.budget.unwrap().max_moves, 7);

    // The journal down: the policy known to be good stays.
    outage.down.store(true, Ordering::SeqCst);
    let used = cache.ports(&base).await.unwrap();
    assert_eq!(used.settings.policy_version, ResponsePolicy::version_of(&good));
    // …but with nothing known, the step is retried (Transient), not run on a guess.
    let cold = PolicyCache::new(0);
    assert!(matches!(cold.ports(&base).await, Err(StepError::Transient(_))));
    outage.down.store(false, Ordering::SeqCst);

    // Overwritten by something invalid, or tagging with another key than the stack's: the
    // warm cache keeps the good one; a cold start refuses to decide (Configuration), and
    // neither panics.
    for bad in [
        "ladder = [".to_string(),
        DEFAULT_POLICY.replace("key = \"quarantine\"", "key = \"other\""),
    ] {
        world
            .apply_policy(&StoredPolicy::new(&bad, at, "by hand"))
            .await
            .unwrap();
        let used = cache.ports(&base).await.unwrap();
        assert_eq!(
            used.settings.policy_version,
            ResponsePolicy::version_of(&good),
            "{bad}"
        );
        let cold = PolicyCache::new(0);
        assert!(
            matches!(cold.ports(&base).await, Err(StepError::Configuration(_))),
            "{bad}"
        );
    }
    // A stored policy whose text does not hash to its version is refused too.
    let mut forged = StoredPolicy::new(&good, at, "by hand");
    forged.text = forged.text.replace("max_moves = 7", "max_moves = 70");
    world.apply_policy(&forged).await.unwrap();
    assert!(matches!(
        PolicyCache::new(0).ports(&base).await,
        Err(StepError::Configuration(_))
    ));
}

#[test]
fn arns_keep_the_partition_cwq_was_given() {
    futures::executor::block_on(partition());
}

async fn partition() {
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-03 10:00 UTC)));
    let world = Arc::new(World::new(clock.clone(), Arc::new(JournalOutage::default())));
    world.set_policy(CoreNetworkPolicy::from_json(&repo("examples/core-network-policy.json")).unwrap());
    let attachment = AttachmentRef {
        attachment_id: "attachment-0gov".into(),
        vpc_id: "vpc-00000001".into(),
        owner_account: "222222222222".into(),
        core_network_id: "core-network-0123456789abcdef0".into(),
        edge_location: "us-gov-west-1".into(),
        partition: "aws-us-gov".into(),
    };
    world.attach(
        attachment.clone(),
        [("domain".to_string(), "hub".to_string())].into(),
    );
    let p = ports(&world, clock.clone(), settings());

    let mut event: Value = serde_json::from_str(&repo("examples/findings/bitcoin-tool-high.json")).unwrap();
    event["region"] = json!("us-gov-west-1");
    let detail = &mut event["detail"];
    detail["accountId"] = json!("222222222222");
    detail["region"] = json!("us-gov-west-1");
    detail["resource"]["instanceDetails"]["networkInterfaces"][0]["vpcId"] = json!(attachment.vpc_id);
    let input = json!({"event": event, "execution_arn": "arn:aws-us-gov:states:us-gov-west-1:123456789012:execution:cwq-quarantine:gov"});
    let enriched = Step::Enrich.handle(&p, input).await.unwrap();
    let decided = Step::Decide.handle(&p, enriched).await.unwrap();
    let item = world.item(&attachment.attachment_id).await.unwrap().unwrap();
    assert_eq!(item.attachment.partition, "aws-us-gov");
    assert!(item
        .attachment
        .arn()
        .starts_with("arn:aws-us-gov:networkmanager::222222222222:attachment/"));
    assert_eq!(
        decided["legs"][0]["attachment"]["partition"], "aws-us-gov",
        "{decided}"
    );
}
