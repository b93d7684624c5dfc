//! Least privilege, proven by running the code: the local cloud records, per Lambda function,
//! every `service:Operation` it calls with its own credentials (`cwq local actions`). After
//! driving every path — quarantine through the workload role and in the function's own
//! account, the sweep's drift repair, expiry and stuck repair, a manual release — each
//! function's inline policy in template.yaml must hold exactly what it used, apart from the
//! exceptions listed below with their reasons.

#![allow(clippy::unwrap_used)]

mod common;

use common::{finding, policy_variant, repo, text, Cloud, OVERLAY_CORE, OWNER};
use cwq_localcloud::deploy::load_template;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Granted but not called in this test, and why that is right.
const NOT_CALLED_HERE: &[(&str, &str, &str)] = &[
    (
        "SnapshotFunction",
        "ec2:CreateTags",
        "CreateSnapshots with TagSpecifications is authorised as ec2:CreateTags too",
    ),
    (
        "DecideFunction",
        "ecs:DescribeTasks",
        "an ECS task in cwq's own account; tests/workloads.rs looks tasks up through the workload role",
    ),
    (
        "DecideFunction",
        "eks:DescribeCluster",
        "an EKS cluster in cwq's own account; tests/workloads.rs looks clusters up through the workload role",
    ),
    (
        "DecideFunction",
        "ec2:DescribeSubnets",
        "a task's or cluster's subnet in cwq's own account; tests/workloads.rs, through the workload role",
    ),
    (
        "DecideFunction",
        "ec2:DescribeNetworkInterfaces",
        "only for an instance or interface whose finding names no VPC (tests/restart.rs)",
    ),
    (
        "DecideFunction",
        "organizations:ListParents",
        "only when a scope rule names an OU (tests/workloads.rs, scope rules by OU)",
    ),
    (
        "DecideFunction",
        "events:PutEvents",
        "only when a move waits for a person (tests/approvals.rs checks the call)",
    ),
    (
        "DecideFunction",
        "states:SendTaskSuccess",
        "only when a finding contained at once settles a waiting request (tests/approvals.rs checks the call)",
    ),
    (
        "OutcomeFunction",
        "securityhub:BatchUpdateFindings",
        "only with SecurityHubFeedback=true (tests/approvals.rs checks the call)",
    ),
    (
        "ReconcileFunction",
        "networkmanager:AcceptAttachment",
        "only with AcceptPendingTags=true (tests/reliability.rs, acceptance)",
    ),
];

/// Calls authorised by other actions: a transaction's Puts are authorised as PutItem (the
/// DynamoDB developer guide, "Using IAM with DynamoDB transactions").
const AUTHORISED_AS: &[(&str, &str)] = &[("dynamodb:TransactWriteItems", "dynamodb:PutItem")];

/// Called, but needs no permission.
const ALWAYS_ALLOWED: &[&str] = &["sts:GetCallerIdentity"];

/// A statement, or the one an `!If` grants when its condition holds.
fn granted_when_true(statement: &Value) -> &Value {
    statement.get("Fn::If").map_or(statement, |branches| &branches[1])
}

/// The statements of a function's inline policies, `!If`s resolved to what they may grant.
fn statements<'a>(template: &'a Value, function: &str) -> Vec<&'a Value> {
    template["Resources"][function]["Properties"]["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["Statement"].as_array().into_iter().flatten())
        .map(granted_when_true)
        .collect()
}

/// The statement of `function` that grants `action`.
fn statement_for<'a>(template: &'a Value, function: &str, action: &str) -> &'a Value {
    statements(template, function)
        .into_iter()
        .find(|s| match &s["Action"] {
            Value::String(a) => a == action,
            Value::Array(list) => list.iter().any(|a| a == action),
            _ => false,
        })
        .unwrap_or_else(|| panic!("{function} has no statement for {action}"))
}

fn granted(template: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut all = BTreeMap::new();
    for (logical, resource) in template["Resources"].as_object().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let mut actions = BTreeSet::new();
        for policy in resource["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for statement in policy["Statement"]
                .as_array()
                .into_iter()
                .flatten()
                .map(granted_when_true)
            {
                match &statement["Action"] {
                    Value::String(a) => {
                        actions.insert(a.clone());
                    }
                    Value::Array(list) => {
                        actions.extend(list.iter().map(|a| a.as_str().unwrap().to_string()))
                    }
                    other => panic!("{logical}: Action {other}"),
                }
            }
        }
        all.insert(logical.clone(), actions);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_holds_exactly_the_actions_its_code_calls() {
    let policy = policy_variant("policy/default.toml", "iam", |p| {
        p.replace("duration = \"4h\"", "duration = \"2s\"")
    });
    let cloud = Cloud::start("iam", OVERLAY_CORE, Some(&policy), &[]).await;

    // Through the workload role: quarantine, tampering undone by the sweep, manual release.
    let workload = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let report = cloud.inject(&finding("bitcoin-tool-high", &workload, "iam1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    let arn = format!(
        "arn:aws:networkmanager::{}:attachment/{}",
        common::WORKLOAD,
        workload.attachment_id
    );
    cloud
        .network_manager()
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("quarantine")
        .send()
        .await
        .unwrap();
    cloud.wait_segment(&workload, "hub").await;
    let swept = cloud.sweep();
    assert!(
        swept.contains(&format!("repair-{}", workload.attachment_id)),
        "{swept}"
    );
    cloud.wait_segment(&workload, "blocked").await;
    let out = cloud.operator(&["release", &workload.vpc_id, "--reason", "iam", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    // A second finding for the VPC, without its interfaces: enrich reads its cached attachment
    // (GetItem, GetVpcAttachment) and asks EC2 for the VPCs through the workload role.
    let mut again = finding("bitcoin-tool-high", &workload, "iam1b", None, None);
    again["detail"]["resource"]["instanceDetails"]
        .as_object_mut()
        .unwrap()
        .remove("networkInterfaces");
    let report = cloud.inject(&again);
    assert!(report.contains("SUCCEEDED"), "{report}");

    // In cwq's own account (no role), without network interfaces in the finding: enrich asks
    // EC2; a Medium finding held 2 s expires and the sweep starts its release.
    let own = cloud.own_account_spoke("10.9.0.0/16", &[("domain", "hub")]).await;
    let mut event = finding("malicious-ip-caller-medium", &own, "iam2", None, None);
    event["detail"]["accountId"] = json!(OWNER);
    event["detail"]["resource"]["instanceDetails"]
        .as_object_mut()
        .unwrap()
        .remove("networkInterfaces");
    let report = cloud.inject(&event);
    assert!(report.contains("SUCCEEDED"), "{report}{}", cloud.logs());
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let swept = cloud.sweep();
    assert!(
        swept.contains(&format!("expire-{}", own.attachment_id)),
        "{swept}"
    );
    cloud.wait_status(&own.attachment_id, "RELEASED").await;

    // An execution that fails closed (and whose snapshots are denied): the sweep asks whether
    // it still runs, reports it stuck and repairs it.
    let stuck = cloud.spoke("10.3.0.0/16", &[("domain", "hub")]).await;
    cloud.fault(&["--service", "ec2", "--operation", "CreateSnapshots", "--denied"]);
    cloud.fault(&[
        "--service",
        "networkmanager",
        "--operation",
        "GetVpcAttachment",
        "--crash-after",
        "--times",
        "4",
    ]);
    let report = cloud.inject(&finding("bitcoin-tool-high", &stuck, "iam3", None, None));
    assert!(report.contains("FAILED"), "{report}");
    cloud.clear_faults();
    let swept = cloud.sweep();
    assert!(
        swept.contains(&format!("repair-{}", stuck.attachment_id)),
        "{swept}"
    );
    cloud.wait_status(&stuck.attachment_id, "QUARANTINED").await;

    let used = cloud.actions();
    let template = load_template(&repo("template.yaml")).unwrap();
    let mut problems = Vec::new();
    for (logical, granted) in granted(&template) {
        let called: BTreeSet<String> = used
            .get(&format!("cwq-{logical}"))
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| !ALWAYS_ALLOWED.contains(&a.as_str()))
            .map(|a| {
                AUTHORISED_AS
                    .iter()
                    .find(|(call, _)| *call == a)
                    .map_or(a.clone(), |(_, action)| action.to_string())
            })
            .collect();
        for action in called.difference(&granted) {
            problems.push(format!("{logical} calls {action} but its policy lacks it"));
        }
        for action in granted.difference(&called) {
            if !NOT_CALLED_HERE
                .iter()
                .any(|(f, a, _)| *f == logical && a == action)
            {
                problems.push(format!("{logical} holds {action} but never called it"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}\nused: {used:#?}");

    // Every tag key cwq's functions changed is one the aws:TagKeys condition allows.
    for call in cloud.calls() {
        let operation = call["operation"].as_str().unwrap_or_default();
        if call["caller"].is_string() && matches!(operation, "TagResource" | "UntagResource") {
            for key in call["summary"].as_str().unwrap_or_default().split(',') {
                assert!(matches!(key, "quarantine" | "cwq:applied"), "{call}");
            }
        }
    }
}

/// What the policies grant is bounded by resources and conditions, not only by action names
/// (the IAM facts they rely on: docs/aws-behaviour.md).
#[test]
fn each_grant_is_bounded_by_its_resource_and_conditions() {
    let template = load_template(&repo("template.yaml")).unwrap();
    let tagging = statement_for(&template, "ReconcileFunction", "networkmanager:TagResource");
    assert_eq!(
        tagging["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"],
        json!([{"Ref": "QuarantineTagKey"}, "cwq:applied"]),
        "{tagging}"
    );
    assert_eq!(tagging["Condition"]["Null"]["aws:TagKeys"], "false");
    assert!(tagging["Action"]
        .as_array()
        .unwrap()
        .contains(&json!("networkmanager:UntagResource")));
    assert!(tagging["Resource"]["Fn::Sub"]
        .as_str()
        .unwrap()
        .ends_with(":attachment/*"));
    // AcceptAttachment only in a stack that accepts tag changes.
    let accept = template["Resources"]["ReconcileFunction"]["Properties"]["Policies"][0]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s.get("Fn::If").is_some())
        .unwrap();
    assert_eq!(accept["Fn::If"][0], "AcceptsPendingTags");
    assert_eq!(accept["Fn::If"][1]["Action"], "networkmanager:AcceptAttachment");
    assert_eq!(accept["Fn::If"][2], json!({"Ref": "AWS::NoValue"}));

    // Snapshots: tags only on snapshots being created by CreateSnapshots; volumes and
    // instances of this account only (other accounts go through the workload role).
    let tags = statement_for(&template, "SnapshotFunction", "ec2:CreateTags");
    assert_eq!(
        tags["Condition"]["StringEquals"]["ec2:CreateAction"],
        "CreateSnapshots"
    );
    assert!(tags["Resource"]["Fn::Sub"]
        .as_str()
        .unwrap()
        .ends_with(":snapshot/*"));
    let create = statement_for(&template, "SnapshotFunction", "ec2:CreateSnapshots");
    for resource in create["Resource"].as_array().unwrap() {
        let text = resource["Fn::Sub"].as_str().unwrap();
        assert!(
            text.contains("${AWS::AccountId}") || text.ends_with(":snapshot/*"),
            "{text}"
        );
    }

    // The workload role trusts the roles of Decide (which enriches) and Snapshot alone: they,
    // and no other function, live under the path it names.
    let path = json!({"Fn::Sub": "/${AWS::StackName}/workload-callers/"});
    for (logical, resource) in template["Resources"].as_object().unwrap() {
        if resource["Type"] == "AWS::Serverless::Function" {
            let expected = matches!(logical.as_str(), "DecideFunction" | "SnapshotFunction");
            assert_eq!(resource["Properties"]["RolePath"] == path, expected, "{logical}");
        }
    }
    let workload = load_template(&repo("deploy/workload-role.yaml")).unwrap();
    let trust =
        &workload["Resources"]["WorkloadRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Condition"]["ArnLike"]["aws:PrincipalArn"]["Fn::Sub"],
        "arn:${AWS::Partition}:iam::${CwqAccountId}:role/${CwqStackName}/workload-callers/*"
    );
}
