//! Opt-in: cwq against a real AWS account, never in the default test run.
//!
//!   cargo test --features real-account --test real_account -- --nocapture
//!
//! It quarantines one canary VPC of yours through the deployed stack, checks the journal and the
//! attachment's tags, releases it with `cwq release`, and checks the tags are back as they were.
//! The canary must be an instance in a VPC attached to the core network that nothing depends on.
//! Credentials and Region come from the SDK's default chain (AWS_PROFILE, AWS_REGION, …), as the
//! network account that owns the core network. docs/deploy.md describes the set-up.
//!
//! | variable | meaning |
//! |---|---|
//! | CWQ_REAL_STACK | the stack name (default `cwq`) |
//! | CWQ_REAL_CORE_NETWORK_ID | the core network the stack was deployed with |
//! | CWQ_REAL_POLICY | the response policy the stack runs (default policy/default.toml) |
//! | CWQ_REAL_CANARY_INSTANCE | the canary instance, `i-…` |
//! | CWQ_REAL_CANARY_VPC | its VPC, `vpc-…` |
//! | CWQ_REAL_CANARY_ACCOUNT | the canary's account (default: the caller's) |
//! | CWQ_REAL_CONFIRM | must equal CWQ_REAL_CANARY_VPC: the test moves that VPC's attachment |
#![cfg(feature = "real-account")]
#![allow(clippy::unwrap_used)]

mod common;

use aws_config::BehaviorVersion;
use common::{cwq, repo, text};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is required: see tests/real_account.rs"))
}

fn var_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// `cwq ARGS --stack STACK`, with the default credential chain.
fn operator(stack: &str, args: &[&str]) -> std::process::Output {
    let mut all = args.to_vec();
    all.extend(["--stack", stack]);
    cwq(&all)
}

async fn tags(nm: &aws_sdk_networkmanager::Client, attachment_arn: &str) -> Vec<(String, String)> {
    let out = nm
        .list_tags_for_resource()
        .resource_arn(attachment_arn)
        .send()
        .await
        .unwrap();
    let mut tags: Vec<_> = out
        .tag_list()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or("").to_string(),
                t.value().unwrap_or("").to_string(),
            )
        })
        .collect();
    tags.sort();
    tags
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_and_release_a_canary_vpc() {
    let stack = var_or("CWQ_REAL_STACK", "cwq");
    let core_network_id = var("CWQ_REAL_CORE_NETWORK_ID");
    let policy = var_or("CWQ_REAL_POLICY", repo("policy/default.toml").to_str().unwrap());
    let instance = var("CWQ_REAL_CANARY_INSTANCE");
    let vpc = var("CWQ_REAL_CANARY_VPC");
    assert_eq!(
        var("CWQ_REAL_CONFIRM"),
        vpc,
        "CWQ_REAL_CONFIRM must name the canary VPC"
    );
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let region = sdk
        .region()
        .expect("a Region (AWS_REGION or the profile's)")
        .to_string();
    let caller = aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
        .expect("credentials for the network account");
    let account = var_or("CWQ_REAL_CANARY_ACCOUNT", caller.account().unwrap());

    // The deployed policy and the live core network agree before anything moves.
    let out = operator(
        &stack,
        &[
            "policy",
            "check",
            "--policy",
            &policy,
            "--core-network-id",
            &core_network_id,
        ],
    );
    assert!(out.status.success(), "policy check: {}", text(&out));

    // Find the canary's attachment and remember its tags.
    let nm = aws_sdk_networkmanager::Client::new(&sdk);
    let attachments = nm
        .list_attachments()
        .core_network_id(&core_network_id)
        .attachment_type(aws_sdk_networkmanager::types::AttachmentType::Vpc)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let attachment = attachments
        .iter()
        .find(|a| {
            a.resource_arn()
                .is_some_and(|arn| arn.ends_with(&format!("vpc/{vpc}")))
        })
        .unwrap_or_else(|| panic!("{vpc} has no VPC attachment on {core_network_id}"));
    let attachment_id = attachment.attachment_id().unwrap().to_string();
    let owner = attachment.owner_account_id().unwrap();
    let attachment_arn = format!("arn:aws:networkmanager::{owner}:attachment/{attachment_id}");
    let tags_before = tags(&nm, &attachment_arn).await;

    // A GuardDuty High finding for the canary, as EventBridge delivers it.
    let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("examples/findings/bitcoin-tool-high.json")).unwrap(),
    )
    .unwrap();
    event["region"] = json!(region);
    event["account"] = json!(account);
    let detail = &mut event["detail"];
    detail["id"] = json!(format!("cwqrealaccounttest{started:0>14}"));
    detail["accountId"] = json!(account);
    detail["region"] = json!(region);
    detail["resource"]["instanceDetails"]["instanceId"] = json!(instance);
    detail["resource"]["instanceDetails"]["networkInterfaces"][0]["vpcId"] = json!(vpc);

    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let machine = format!(
        "arn:aws:states:{region}:{}:stateMachine:{stack}-quarantine",
        caller.account().unwrap()
    );
    let execution = sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name(format!("real-account-test-{started}"))
        .input(event.to_string())
        .send()
        .await
        .unwrap()
        .execution_arn()
        .to_string();
    eprintln!("started {execution}");
    let deadline = Instant::now() + Duration::from_secs(900);
    let status = loop {
        let out = sfn
            .describe_execution()
            .execution_arn(&execution)
            .send()
            .await
            .unwrap();
        let status = out.status().as_str().to_string();
        if status != "RUNNING" {
            break format!("{status} {:?} {:?}", out.error(), out.cause());
        }
        assert!(
            Instant::now() < deadline,
            "{execution} still running after 15 minutes"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    assert!(status.starts_with("SUCCEEDED"), "{execution}: {status}");

    let out = operator(&stack, &["status", "--output", "json", "--all"]);
    assert!(out.status.success(), "{}", text(&out));
    let records: Value = serde_json::from_slice(&out.stdout).unwrap();
    let record = records
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["attachment_id"] == attachment_id.as_str())
        .unwrap_or_else(|| panic!("no journal record for {attachment_id}: {records}"));
    assert_eq!(record["status"], "QUARANTINED", "{record}");
    assert_ne!(
        tags(&nm, &attachment_arn).await,
        tags_before,
        "the quarantine tag is missing"
    );
    eprintln!(
        "quarantined {attachment_id} in {} (snapshots {})",
        record["segment"], record["snapshots"]
    );

    let out = operator(
        &stack,
        &[
            "release",
            &vpc,
            "--reason",
            "cwq real-account test",
            "--yes",
            "--timeout",
            "15m",
        ],
    );
    assert!(out.status.success(), "release: {}", text(&out));
    assert_eq!(
        tags(&nm, &attachment_arn).await,
        tags_before,
        "tags not restored exactly"
    );
    // The snapshots are forensic evidence: kept, and named here for deletion by hand.
    eprintln!(
        "released; snapshots kept: {} (aws ec2 delete-snapshot --snapshot-id …)",
        record["snapshots"]
    );
}
