//! Behaviours of AWS that cwq relies on where AWS is strict or silent (docs/aws-behaviour.md),
//! on the local cloud with its pessimistic defaults: a finding that cannot start an execution
//! is dead-lettered, never dropped; protection is read from the attachment's own tags and fails
//! closed; a segment that needs acceptance cwq may not give is refused before any tag changes,
//! so RejectAttachment is never needed.

#![allow(clippy::unwrap_used)]

mod common;

use common::{finding, repo, text, Cloud, OVERLAY_CORE};
use cwq_localcloud::control::aws_json;
use cwq_pipeline::audit::AuditEvent;
use cwq_pipeline::events::EventKind;
use serde_json::{json, Value};

async fn dead_letters(cloud: &Cloud) -> Vec<Value> {
    let url = aws_json(
        &cloud.endpoint,
        "sqs",
        "AmazonSQS.GetQueueUrl",
        &json!({"QueueName": "cwq-undelivered-findings"}),
    )
    .await
    .unwrap();
    let received = aws_json(
        &cloud.endpoint,
        "sqs",
        "AmazonSQS.ReceiveMessage",
        &json!({"QueueUrl": url["QueueUrl"], "MaxNumberOfMessages": 10, "MessageAttributeNames": ["All"]}),
    )
    .await
    .unwrap();
    received["Messages"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finding_that_cannot_start_an_execution_is_dead_lettered_not_dropped() {
    let cloud = Cloud::start("dlq", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;

    // Throttled twice: retried, then started.
    cloud.fault(&[
        "--service",
        "states",
        "--operation",
        "StartExecution",
        "--throttle-rate",
        "1",
        "--times",
        "2",
    ]);
    let report = cloud.inject(&finding("bitcoin-tool-high", &spoke, "dlq1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    cloud.clear_faults();

    // Denied (a missing permission is not retried): the event is in the dead-letter queue,
    // with EventBridge's attributes, and the operator is told.
    cloud.fault(&["--service", "states", "--operation", "StartExecution", "--denied"]);
    let event = finding("bitcoin-tool-high", &spoke, "dlq2", None, None);
    let report = cloud.inject(&event);
    assert!(report.contains("dead-letter queue"), "{report}");
    let messages = dead_letters(&cloud).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let body: Value = serde_json::from_str(messages[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(body["detail"]["id"], event["detail"]["id"]);
    let attributes = &messages[0]["MessageAttributes"];
    assert_eq!(attributes["ERROR_CODE"]["StringValue"], "NO_PERMISSIONS");
    assert!(attributes["RULE_ARN"]["StringValue"]
        .as_str()
        .unwrap()
        .ends_with(":rule/cwq-guardduty"));

    // The runbook's re-drive: the body is the event as the rule would have delivered it, so
    // an execution started with it decides on the finding (here: it joins the quarantine).
    cloud.clear_faults();
    let status = cloud.run("quarantine", "undelivered-dlq2", &body).await;
    assert!(status.starts_with("SUCCEEDED"), "{status}");
    let decided: Vec<String> = cloud
        .audit()
        .await
        .into_iter()
        .filter(|e| matches!(e.event, AuditEvent::Decided { .. }))
        .map(|e| e.incident_id)
        .collect();
    assert_eq!(decided.len(), 2, "{decided:?}");
    assert!(decided.iter().any(|id| id.contains("dlq2")), "{decided:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protection_is_read_from_the_attachments_tags_and_fails_closed() {
    let cloud = Cloud::start("protect", OVERLAY_CORE, None, &[]).await;
    // ListAttachments carries no tags here (undocumented on AWS): only ListTagsForResource
    // can see the protection tag.
    let protected = cloud
        .spoke(
            "10.1.0.0/16",
            &[("domain", "hub"), ("cwq:protected", "inspection VPC")],
        )
        .await;
    let (report, arn) = cloud.inject_execution(&finding("bitcoin-tool-high", &protected, "pr1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert_eq!(cloud.outcome(&arn).kind, EventKind::QuarantineNoAction);
    assert_eq!(cloud.tag_calls(&protected.attachment_id), 0);

    // When the tags cannot be read, nothing is moved: the finding fails, named.
    let open = cloud.spoke("10.2.0.0/16", &[("domain", "hub")]).await;
    cloud.fault(&[
        "--service",
        "networkmanager",
        "--operation",
        "ListTagsForResource",
        "--denied",
    ]);
    let (report, arn) = cloud.inject_execution(&finding("bitcoin-tool-high", &open, "pr2", None, None));
    assert!(report.contains("FAILED"), "{report}");
    cloud.clear_faults();
    assert_eq!(cloud.outcome(&arn).kind, EventKind::QuarantineFailed);
    assert_eq!(cloud.tag_calls(&open.attachment_id), 0);
    assert_eq!(cloud.attachment(&open).await.1.as_deref(), Some("hub"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_that_needs_acceptance_is_refused_before_any_tag_changes() {
    let mut core: Value =
        serde_json::from_str(&std::fs::read_to_string(repo(OVERLAY_CORE)).unwrap()).unwrap();
    for segment in core["segments"].as_array_mut().unwrap() {
        if segment["name"] == "blocked" {
            segment["require-attachment-acceptance"] = json!(true);
        }
    }
    let path = std::env::temp_dir().join(format!("cwq-reject-core-{}.json", std::process::id()));
    std::fs::write(&path, core.to_string()).unwrap();
    let cloud = Cloud::start(
        "reject",
        path.to_str().unwrap(),
        None,
        &["AcceptPendingTags=false"],
    )
    .await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;

    // cwq policy check says so before any finding arrives.
    let check = cloud.operator(&[
        "policy",
        "check",
        "--policy",
        repo("policy/default.toml").to_str().unwrap(),
        "--core-network-id",
        cloud.core_network_id(),
    ]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    assert!(
        text(&check).contains("requires attachment acceptance"),
        "{}",
        text(&check)
    );

    let (report, arn) = cloud.inject_execution(&finding("bitcoin-tool-high", &spoke, "rj1", None, None));
    assert!(report.contains("PolicyViolation"), "{report}");
    assert_eq!(cloud.outcome(&arn).kind, EventKind::QuarantineFailed);
    // Nothing was proposed, so nothing had to be withdrawn: no tag change, no RejectAttachment.
    let calls: Vec<String> = cloud
        .calls()
        .iter()
        .filter(|c| {
            c["path"]
                .as_str()
                .unwrap_or_default()
                .contains(&spoke.attachment_id)
        })
        .map(|c| c["operation"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(calls.is_empty(), "{calls:?}");
    assert_eq!(cloud.attachment(&spoke).await.0, "AVAILABLE");
}
