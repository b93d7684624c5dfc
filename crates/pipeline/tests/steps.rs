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
    let decided = Step::Decide.handle(&p, input).await.unwrap();
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

/// An attack sequence naming three attached VPCs in two accounts and Regions is one plan: its
/// three new quarantines fit in the budget together or not at all, never in the order of its
/// legs; admitted, they are written with the ledger in one transaction.
#[test]
fn a_plan_is_admitted_by_the_budget_whole_or_not_at_all() {
    futures::executor::block_on(whole_plan(2, Plan::Refused));
    futures::executor::block_on(whole_plan(3, Plan::Admitted));
    futures::executor::block_on(whole_plan(3, Plan::OneLegInDryRun));
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    Refused,
    Admitted,
    /// A scope rule puts account 333333333333 in dry run: its leg spends nothing.
    OneLegInDryRun,
}

/// The VPCs of the composed EC2 attack sequence, each attached in hub as `attachment-0<prefix><n>`.
fn attach_the_sequence(world: &World, prefix: &str) {
    let legs = [
        ("vpc-3a90fff2ef7eaab3b", "222222222222", "us-east-1"),
        ("vpc-21e43628f0abba89a", "333333333333", "eu-west-1"),
        ("vpc-60dd9de933d1fd7d5", "222222222222", "us-east-1"),
    ];
    for (n, (vpc, account, region)) in legs.iter().enumerate() {
        let attachment = AttachmentRef {
            attachment_id: format!("attachment-0{prefix}{n}"),
            vpc_id: vpc.to_string(),
            owner_account: account.to_string(),
            core_network_id: "core-network-0123456789abcdef0".into(),
            edge_location: region.to_string(),
            partition: "aws".into(),
        };
        world.attach(attachment, [("domain".to_string(), "hub".to_string())].into());
    }
}

async fn whole_plan(max_moves: u32, plan: Plan) {
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-03 10:00 UTC)));
    let world = Arc::new(World::new(clock.clone(), Arc::new(JournalOutage::default())));
    world.set_policy(CoreNetworkPolicy::from_json(&repo("examples/core-network-policy.json")).unwrap());
    attach_the_sequence(&world, "seq");
    let mut settings = settings();
    if plan == Plan::OneLegInDryRun {
        let text = DEFAULT_POLICY.replace(
            "[protected]",
            "[[scopes]]\nname = \"eu in dry run\"\naccounts = [\"333333333333\"]\naction = \"dry_run\"\n\n[protected]",
        );
        settings.policy = ResponsePolicy::from_toml(&text).unwrap();
    }
    settings.policy.budget = settings.policy.budget.map(|mut b| {
        b.max_moves = max_moves;
        b.max_moves_per_account = None;
        b
    });
    let p = ports(&world, clock.clone(), settings);
    let event: Value = serde_json::from_str(&repo(
        "fixtures/guardduty/composed-attacksequence-ec2-compromisedinstancegroup.json",
    ))
    .unwrap();
    let input = json!({"event": event, "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:cwq-quarantine:seq"});
    let decided = Step::Decide.handle(&p, input).await.unwrap();
    assert_eq!(decided["legs"].as_array().unwrap().len(), 3, "{decided}");
    let verdicts: Vec<&str> = decided["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["decision"]["verdict"].as_str().unwrap())
        .collect();
    let ledger = world.budget().await.unwrap();
    if plan == Plan::OneLegInDryRun {
        assert_eq!(verdicts, ["Contain", "DryRun", "Contain"], "{decided}");
        let spent: Vec<&str> = ledger.moves.iter().map(|m| m.attachment_id.as_str()).collect();
        assert_eq!(
            spent,
            ["attachment-0seq0", "attachment-0seq2"],
            "a dry run spends nothing"
        );
    } else if plan == Plan::Admitted {
        assert_eq!(verdicts, ["Contain"; 3], "{decided}");
        assert_eq!(ledger.moves.len(), 3);
        assert_eq!(ledger.version, 1, "one transaction for the three and the ledger");
    } else {
        assert_eq!(verdicts, ["BudgetExceeded"; 3], "{decided}");
        let reason = decided["legs"][0]["decision"]["reason"].as_str().unwrap();
        assert!(reason.contains("the plan needs 3 new quarantine(s)"), "{reason}");
        assert!(ledger.moves.is_empty());
        for n in 0..3 {
            assert!(
                world
                    .item(&format!("attachment-0seq{n}"))
                    .await
                    .unwrap()
                    .is_none(),
                "nothing written"
            );
        }
    }
}

/// Counts the calls each port receives.
#[derive(Default)]
struct Counted {
    /// Every call, in order.
    calls: std::sync::Mutex<Vec<(&'static str, &'static str)>>,
}

impl Chaos for Counted {
    fn before(&self, call: Call) -> BoxFuture<'_, Option<PortError>> {
        self.calls.lock().unwrap().push((call.port, call.operation));
        Box::pin(async { None })
    }
    fn after(&self, _call: Call) {}
}

/// A world on the example core network policy whose every call is counted.
fn counted_world() -> (Arc<ManualClock>, Arc<Counted>, Arc<World>) {
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-03 10:00 UTC)));
    let counted = Arc::new(Counted::default());
    let world = Arc::new(World::new(clock.clone(), counted.clone()));
    world.set_policy(CoreNetworkPolicy::from_json(&repo("examples/core-network-policy.json")).unwrap());
    (clock, counted, world)
}

/// An attack sequence naming `vpcs` (in account 222222222222, us-east-1), with its own finding id.
fn sequence_of_vpcs(finding_id: &str, vpcs: &[String]) -> Value {
    let mut event: Value = serde_json::from_str(&repo(
        "fixtures/guardduty/composed-attacksequence-ec2-compromisedinstancegroup.json",
    ))
    .unwrap();
    let resources: Vec<Value> = vpcs
        .iter()
        .map(|vpc| json!({"uid": vpc, "accountId": "222222222222", "region": "us-east-1", "resourceType": "EC2_VPC"}))
        .collect();
    event["detail"]["service"]["detection"]["sequence"]["resources"] = json!(resources);
    event["detail"]["id"] = json!(finding_id);
    event
}

fn attach_hub(world: &World, attachment_id: &str, vpc_id: &str) {
    world.attach(
        AttachmentRef {
            attachment_id: attachment_id.into(),
            vpc_id: vpc_id.into(),
            owner_account: "222222222222".into(),
            core_network_id: "core-network-0123456789abcdef0".into(),
            edge_location: "us-east-1".into(),
            partition: "aws".into(),
        },
        [("domain".to_string(), "hub".to_string())].into(),
    );
}

/// A warm process whose scan listed the Region whole looks a VPC it did not see up by listing
/// at once: one attached since is found and tagged, one never attached is reported; neither
/// reads the journal's cache first (the cache could only name what the listing finds).
#[test]
fn a_region_listed_whole_is_listed_again_without_the_cache_read_first() {
    futures::executor::block_on(listed_whole());
}

async fn listed_whole() {
    let (clock, counted, world) = counted_world();
    let p = ports(&world, clock.clone(), settings());
    let decide = |id: &str, vpc: &str| {
        let event = sequence_of_vpcs(id, &[vpc.to_string()]);
        let arn = format!("arn:aws:states:us-east-1:123456789012:execution:cwq-quarantine:{id}");
        Step::Decide.handle(&p, json!({"event": event, "execution_arn": arn}))
    };
    let calls_since = |start: usize| counted.calls.lock().unwrap()[start..].to_vec();
    let count = |calls: &[(&str, &str)], port: &str, operation: &str| {
        calls.iter().filter(|c| c.0 == port && c.1 == operation).count()
    };

    attach_hub(&world, "attachment-0first", "vpc-0000000000000000a");
    decide("first", "vpc-0000000000000000a").await.unwrap();
    let first = calls_since(0);
    assert_eq!(
        count(&first, "journal", "GetItem"),
        3,
        "a cold memory reads the cache (a miss) first; then the ledger and the item: {first:?}"
    );
    assert_eq!(count(&first, "cloudwan", "ListAttachments"), 1, "{first:?}");

    attach_hub(&world, "attachment-0since", "vpc-0000000000000000b");
    let start = counted.calls.lock().unwrap().len();
    let decided = decide("since", "vpc-0000000000000000b").await.unwrap();
    let since = calls_since(start);
    assert_eq!(
        decided["legs"][0]["attachment"]["attachment_id"],
        "attachment-0since"
    );
    assert_eq!(count(&since, "cloudwan", "ListAttachments"), 1, "{since:?}");
    assert_eq!(count(&since, "cloudwan", "TagResource"), 1, "{since:?}");
    assert_eq!(
        count(&since, "journal", "GetItem"),
        2,
        "the ledger and the new attachment's item, no cache read: {since:?}"
    );

    let start = counted.calls.lock().unwrap().len();
    let decided = decide("never", "vpc-0000000000000000c").await.unwrap();
    let never = calls_since(start);
    assert!(decided["legs"][0]["attachment"].is_null(), "{decided}");
    assert_eq!(count(&never, "cloudwan", "ListAttachments"), 1, "{never:?}");
    assert_eq!(
        count(&never, "journal", "GetItem"),
        1,
        "the ledger only: {never:?}"
    );
}

/// A 40-VPC attack sequence is one decision: one read of the live policy and of the budget,
/// one scan of the attachments (what it saw is remembered: the other 39 are checked with one
/// GetVpcAttachment each, their item read beside it and their tags taken from it), each item
/// read once, and the 40 new quarantines written with the ledger in one transaction, the only
/// write before the tags.
#[test]
fn a_forty_vpc_plan_is_one_decision() {
    futures::executor::block_on(forty());
}

async fn forty() {
    let (clock, counted, world) = counted_world();
    let vpcs: Vec<String> = (0..40).map(|n| format!("vpc-{n:0>17x}")).collect();
    for (n, vpc) in vpcs.iter().enumerate() {
        attach_hub(&world, &format!("attachment-0forty{n}"), vpc);
    }
    let event = sequence_of_vpcs("forty", &vpcs);
    let mut settings = settings();
    settings.policy.budget = settings.policy.budget.map(|mut b| {
        b.max_moves = 50;
        b.max_moves_per_account = None;
        b
    });
    let p = ports(&world, clock.clone(), settings);
    let input = json!({"event": event, "execution_arn": "arn:aws:states:us-east-1:123456789012:execution:cwq-quarantine:forty"});
    let decided = Step::Decide.handle(&p, input).await.unwrap();
    assert_eq!(decided["legs"].as_array().unwrap().len(), 40);
    assert!(decided["legs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["decision"]["verdict"] == "Contain"));
    let calls = counted.calls.lock().unwrap().clone();
    let first_tag = calls.iter().position(|c| c.1 == "TagResource").unwrap();
    let count = |port, operation| calls.iter().filter(|c| **c == (port, operation)).count();
    let before_tag = |port, operation| {
        calls[..first_tag]
            .iter()
            .filter(|c| **c == (port, operation))
            .count()
    };
    assert_eq!(count("cloudwan", "GetCoreNetworkPolicy"), 1, "{calls:?}");
    assert_eq!(count("cloudwan", "ListAttachments"), 1, "{calls:?}");
    assert_eq!(count("cloudwan", "GetVpcAttachment"), 39, "{calls:?}");
    assert_eq!(
        count("cloudwan", "ListTagsForResource"),
        1,
        "only the scanned one's tags are read apart: {calls:?}"
    );
    assert_eq!(count("cloudwan", "TagResource"), 40, "{calls:?}");
    assert_eq!(count("journal", "TransactWriteItems"), 1, "{calls:?}");
    assert_eq!(
        count("journal", "GetItem"),
        42,
        "the first VPC's cached attachment, each attachment's item, and the ledger once: {calls:?}"
    );
    for write in ["PutItem", "BatchWriteItem", "TransactWriteItems"] {
        let expected = usize::from(write == "TransactWriteItems");
        assert_eq!(
            before_tag("journal", write),
            expected,
            "the demands are the only write before the tag: {calls:?}"
        );
    }
    assert_eq!(
        count("journal", "BatchWriteItem"),
        1,
        "the trail, after the tags: {calls:?}"
    );
    // The trail rides in the execution's state until it is written: well within Step
    // Functions' 256 KiB per state, even for 40 legs.
    let size = decided.to_string().len();
    assert!(size < 128 * 1024, "{size} bytes of state for 40 legs");
    assert_eq!(world.budget().await.unwrap().moves.len(), 40);
}

/// The tier `approve`: Decide writes nothing and asks; Ask journals one request with the
/// execution's token and publishes it once; a second finding for the same attachments joins
/// it; a timeout under `on_timeout = "leave"` ends that execution's wait with nothing written
/// (the request stays open for the finding that still waits); an approval admits the plan as
/// any decision would.
#[test]
fn a_move_that_asks_writes_nothing_until_it_is_answered() {
    futures::executor::block_on(asks());
}

async fn asks() {
    use cwq_pipeline::approval::RequestStatus;
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-03 10:00 UTC)));
    let world = Arc::new(World::new(clock.clone(), Arc::new(JournalOutage::default())));
    world.set_policy(CoreNetworkPolicy::from_json(&repo("examples/core-network-policy.json")).unwrap());
    attach_the_sequence(&world, "ask");
    let mut settings = settings();
    let text = DEFAULT_POLICY.replace("default_tier = \"auto\"", "default_tier = \"approve\"");
    settings.policy = ResponsePolicy::from_toml(&text).unwrap();
    let p = ports(&world, clock.clone(), settings);
    let mut event: Value = serde_json::from_str(&repo(
        "fixtures/guardduty/composed-attacksequence-ec2-compromisedinstancegroup.json",
    ))
    .unwrap();
    let decide = |event: Value, execution: &'static str| {
        let p = p.clone();
        async move {
            let arn = format!("arn:aws:states:us-east-1:123456789012:execution:cwq-quarantine:{execution}");
            Step::Decide
                .handle(&p, json!({"event": event, "execution_arn": arn}))
                .await
                .unwrap()
        }
    };
    let verdicts = |decided: &Value| -> Vec<String> {
        let legs = decided["legs"].as_array().unwrap().iter();
        legs.map(|l| l["decision"]["verdict"].as_str().unwrap().to_string())
            .collect()
    };

    let first = decide(event.clone(), "first").await;
    assert_eq!(first["asking"], true, "{first}");
    assert_eq!(verdicts(&first), ["AwaitingApproval"; 3]);
    assert_eq!(first["ask"]["legs"].as_array().unwrap().len(), 3);
    assert_eq!(first["ask"]["timeout_seconds"], 3600);
    assert!(
        world.item("attachment-0ask0").await.unwrap().is_none(),
        "nothing written before the answer"
    );
    let asked = Step::Decide
        .handle(&p, json!({"ask": first.clone(), "token": "token-1"}))
        .await
        .unwrap();
    assert_eq!(asked["joined"], false);

    event["detail"]["updatedAt"] = json!("2026-12-03T10:05:00.000Z");
    let second = decide(event, "second").await;
    let joined = Step::Decide
        .handle(&p, json!({"ask": second.clone(), "token": "token-2"}))
        .await
        .unwrap();
    assert_eq!(joined["joined"], true, "the same attachments: the same request");
    let requests = world.approvals().await.unwrap();
    assert_eq!(requests.len(), 1);
    let tokens: Vec<&str> = requests[0].waiters.iter().map(|w| w.token.as_str()).collect();
    assert_eq!(tokens, ["token-1", "token-2"]);
    let published = world
        .state()
        .published
        .iter()
        .filter(|e| e.commands.len() == 2)
        .count();
    assert_eq!(published, 1, "one request, one event");

    // The first wait times out; the policy leaves the attachments where they are.
    let mut timed_out = first;
    timed_out["approval"] = json!({"Error": "States.Timeout", "Cause": "no answer"});
    let decided = Step::Decide.handle(&p, timed_out).await.unwrap();
    assert_eq!(verdicts(&decided), ["ApprovalTimedOut"; 3], "{decided}");
    assert_eq!(decided["asking"], false);
    let request = world.approvals().await.unwrap().remove(0);
    assert_eq!(
        request.status,
        RequestStatus::Pending,
        "the second finding still waits on it"
    );
    assert_eq!(request.waiters.len(), 1);
    assert!(world.item("attachment-0ask0").await.unwrap().is_none());

    // The second is approved: contained, admitted by the budget as one plan.
    let mut approved = second;
    approved["approval"] = json!({"request_id": "r", "by": "arn:aws:iam::111111111111:user/alice", "at": "2026-12-03T10:06:00Z"});
    let decided = Step::Decide.handle(&p, approved).await.unwrap();
    assert_eq!(verdicts(&decided), ["Contain"; 3], "{decided}");
    let reason = decided["legs"][0]["decision"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("approved by arn:aws:iam::111111111111:user/alice"),
        "{reason}"
    );
    assert_eq!(world.budget().await.unwrap().moves.len(), 3);
}

/// Every call in order, and a crash (a panic, as the interleavings' chaos does) right after the
/// first TagResource took effect.
#[derive(Default)]
struct CrashAfterTag {
    calls: std::sync::Mutex<Vec<Call>>,
    crashed: AtomicBool,
}

impl Chaos for CrashAfterTag {
    fn before(&self, call: Call) -> BoxFuture<'_, Option<PortError>> {
        self.calls.lock().unwrap().push(call);
        Box::pin(async { None })
    }
    fn after(&self, call: Call) {
        if call.operation == "TagResource" && !self.crashed.swap(true, Ordering::SeqCst) {
            panic!("the function crashed after its TagResource");
        }
    }
}

/// Before the first containing call the journal gets one write, the demands (with the budget,
/// in one transaction); the finding's sighting, the attachment hints and the audit entries are
/// written, batched, after it. Decide's first invocation crashes right after its first
/// TagResource and is run again with the same input, as Step Functions retries it: it finds its
/// demands held and says so as it did (the same DemandAdded entries), tags the rest, and the
/// trail is then complete, each entry once.
#[test]
fn one_journal_write_before_the_tag_and_a_trail_that_survives_a_crash() {
    futures::executor::block_on(crash_after_tag());
}

async fn crash_after_tag() {
    use futures::FutureExt;
    let clock = Arc::new(ManualClock::new(datetime!(2026-12-03 10:00 UTC)));
    let chaos = Arc::new(CrashAfterTag::default());
    let world = Arc::new(World::new(clock.clone(), chaos.clone()));
    world.set_policy(CoreNetworkPolicy::from_json(&repo("examples/core-network-policy.json")).unwrap());
    attach_the_sequence(&world, "crash");
    let p = ports(&world, clock.clone(), settings());
    let event: Value = serde_json::from_str(&repo(
        "fixtures/guardduty/composed-attacksequence-ec2-compromisedinstancegroup.json",
    ))
    .unwrap();
    let arn = "arn:aws:states:us-east-1:123456789012:execution:cwq-quarantine:crash";
    let input = json!({"event": event, "execution_arn": arn});
    let crashed = std::panic::AssertUnwindSafe(Step::Decide.handle(&p, input.clone()))
        .catch_unwind()
        .await;
    assert!(crashed.is_err(), "the first try crashes after its tag");
    let writes_before_tag: Vec<&str> = {
        let calls = chaos.calls.lock().unwrap();
        let tag = calls.iter().position(|c| c.operation == "TagResource").unwrap();
        calls[..tag]
            .iter()
            .filter(|c| c.port == "journal" && c.mutates)
            .map(|c| c.operation)
            .collect()
    };
    assert_eq!(
        writes_before_tag,
        ["TransactWriteItems"],
        "the demands, nothing else"
    );
    let decided = Step::Decide.handle(&p, input).await.unwrap();
    let incident_id = decided["incident_id"].as_str().unwrap().to_string();
    let progress = decided["reconcile"].clone();

    // The Reconcile loop; Cloud WAN finishes the move.
    let mut progress = Step::Reconcile.handle(&p, progress).await.unwrap();
    while progress["status"] != "done" {
        clock.advance(60.0);
        progress = Step::Reconcile.handle(&p, progress).await.unwrap();
    }
    assert!(
        progress.get("journal").is_none(),
        "written and emptied: {progress}"
    );
    let mut data = decided.clone();
    data["results"] = json!([{"reconcile": progress}, {}]);
    Step::Outcome
        .handle(&p, json!({"execution_arn": arn, "data": data}))
        .await
        .unwrap();

    let trail = world.trail(&incident_id).await.unwrap();
    let steps: Vec<&str> = trail.iter().map(|e| e.event.name()).collect();
    let count = |step: &str| steps.iter().filter(|s| **s == step).count();
    assert_eq!(count("FindingReceived"), 1, "{steps:?}");
    assert_eq!(count("Decided"), 3, "{steps:?}");
    assert_eq!(count("DemandAdded"), 3, "{steps:?}");
    assert_eq!(count("Converged"), 3, "{steps:?}");
    assert_eq!(count("Outcome"), 1, "{steps:?}");
    let first = trail
        .iter()
        .find_map(|e| match &e.event {
            cwq_pipeline::audit::AuditEvent::FindingReceived { first_sighting, .. } => Some(*first_sighting),
            _ => None,
        })
        .unwrap();
    assert!(
        first,
        "this execution's own sighting, retried, is still the first"
    );
    assert!(world
        .cached_attachment(
            "core-network-0123456789abcdef0",
            "us-east-1",
            "vpc-3a90fff2ef7eaab3b"
        )
        .await
        .unwrap()
        .is_some());
}
