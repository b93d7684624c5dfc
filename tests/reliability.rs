//! The bad days, end to end on the local cloud with its fault injection: crashes right after a
//! side effect, verification that never completes, acceptance, an attachment deleted
//! mid-flight. Each asserts the network, the journal and the emulator's log of mutating calls.
//! docs/reliability.md lists each scenario with the guarantee it proves.

#![allow(clippy::unwrap_used)]

mod common;

use common::{finding, repo, text, Cloud, OVERLAY_CORE};
use serde_json::{json, Value};

fn operations(calls: &[Value], attachment: &str) -> Vec<String> {
    calls
        .iter()
        .filter(|c| {
            c["service"] == "networkmanager" && c["path"].as_str().unwrap_or_default().contains(attachment)
        })
        .map(|c| c["operation"].as_str().unwrap().to_string())
        .collect()
}

async fn wait_segment(cloud: &Cloud, spoke: &common::Spoke, segment: &str) {
    for _ in 0..100 {
        let (state, now, _) = cloud.attachment(spoke).await;
        if state == "AVAILABLE" && now.as_deref() == Some(segment) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "{} never reached {segment}: {:?}",
        spoke.attachment_id,
        cloud.attachment(spoke).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_side_effect_fails_closed_and_a_restart_finishes_without_repeating_it() {
    let cloud = Cloud::start("crash", OVERLAY_CORE, None, &[]).await;

    // 1. The move function dies right after TagResource, before it journals the change.
    let tagged = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    cloud.fault(&[
        "--service",
        "networkmanager",
        "--operation",
        "TagResource",
        "--crash-after",
        "--times",
        "1",
    ]);
    let (report, failed) =
        cloud.inject_execution(&finding("bitcoin-tool-high", &tagged, "crash1", None, None));
    assert!(
        report.contains("FAILED") && report.contains("Runtime.ExitError"),
        "{report}"
    );
    let state = cloud.journal_state(&tagged.attachment_id).await.unwrap();
    assert_eq!(
        state["status"], "QUARANTINING",
        "fails closed, not compensated: {state}"
    );
    assert_eq!(state["previous_recorded"], true);
    wait_segment(&cloud, &tagged, "blocked").await; // the tag took effect: the VPC stays contained
    assert_eq!(operations(&cloud.calls(), &tagged.attachment_id), ["TagResource"]);

    let out = cloud.operator(&["restart", &failed, "--yes"]);
    assert!(out.status.success(), "{}{}", text(&out), cloud.logs());
    assert!(text(&out).contains("new execution"), "{}", text(&out));
    assert_eq!(
        cloud.journal_state(&tagged.attachment_id).await.unwrap()["status"],
        "QUARANTINED"
    );
    assert_eq!(
        operations(&cloud.calls(), &tagged.attachment_id),
        ["TagResource"],
        "no second tag change"
    );
    let snapshots: Vec<_> = cloud
        .snapshots()
        .await
        .into_iter()
        .filter(|(_, tags)| tags.contains(&("cwq:instance".into(), tagged.instance_id.clone())))
        .collect();
    assert_eq!(snapshots.len(), 1, "one snapshot set: {snapshots:?}");

    // 2. The snapshot function dies right after CreateSnapshots, before it journals the ids.
    let snapped = cloud.spoke("10.2.0.0/16", &[("domain", "hub")]).await;
    cloud.fault(&[
        "--service",
        "ec2",
        "--operation",
        "CreateSnapshots",
        "--crash-after",
        "--times",
        "1",
    ]);
    let (report, failed) =
        cloud.inject_execution(&finding("bitcoin-tool-high", &snapped, "crash2", None, None));
    assert!(
        report.contains("FAILED") && report.contains("Runtime.ExitError"),
        "{report}"
    );
    let mine = |all: Vec<(String, Vec<(String, String)>)>| -> Vec<String> {
        all.into_iter()
            .filter(|(_, tags)| tags.contains(&("cwq:instance".into(), snapped.instance_id.clone())))
            .map(|(id, _)| id)
            .collect()
    };
    let taken = mine(cloud.snapshots().await);
    assert_eq!(taken.len(), 1, "the set was taken before the crash");

    let out = cloud.operator(&["restart", &failed, "--yes"]);
    assert!(out.status.success(), "{}{}", text(&out), cloud.logs());
    assert_eq!(mine(cloud.snapshots().await), taken, "no second snapshot set");
    let state = cloud.journal_state(&snapped.attachment_id).await.unwrap();
    assert_eq!(state["status"], "QUARANTINED", "{state}");
    assert_eq!(
        operations(&cloud.calls(), &snapped.attachment_id),
        ["TagResource"]
    );
    let steps = cloud.audit_steps().await;
    assert!(
        steps.iter().any(|s| s["step"] == "Snapshotted"
            && s["detail"]["found_after_restart"] == true
            && s["detail"]["snapshots"] == json!(taken)),
        "the restart found and journaled the earlier set: {steps:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_that_never_completes_is_bounded_and_compensated() {
    let cloud = Cloud::start("stuck", OVERLAY_CORE, None, &["VerifyMaxAttempts=3"]).await;
    let spoke = cloud
        .spoke("10.1.0.0/16", &[("domain", "hub"), ("Name", "app")])
        .await;
    let (_, _, tags_before) = cloud.attachment(&spoke).await;
    cloud.settings(json!({"stuck_transitions": true}));

    let (report, _) = cloud.inject_execution(&finding("bitcoin-tool-high", &spoke, "stuck1", None, None));
    assert!(
        report.contains("FAILED") && report.contains("VerificationTimeout"),
        "{report}"
    );
    let state = cloud.journal_state(&spoke.attachment_id).await.unwrap();
    assert_eq!(state["status"], "FAILED", "{state}");
    assert!(
        state["reason"]
            .as_str()
            .unwrap()
            .starts_with("VerificationTimeout"),
        "{state}"
    );
    let (_, _, tags) = cloud.attachment(&spoke).await;
    assert_eq!(tags, tags_before, "compensation restored the tags exactly");
    assert_eq!(
        operations(&cloud.calls(), &spoke.attachment_id),
        ["TagResource", "UntagResource"]
    );
    let steps: Vec<String> = cloud
        .audit_steps()
        .await
        .iter()
        .map(|s| s["step"].as_str().unwrap().to_string())
        .collect();
    assert!(
        steps.contains(&"TagsRestored".into()) && steps.contains(&"Failed".into()),
        "{steps:?}"
    );
    assert!(
        cloud.counters()["events:PutEvents"]["calls"].as_u64().unwrap() >= 1,
        "Quarantine Failed published"
    );

    // Once Cloud WAN moves again, the attachment is back where it was.
    cloud.clear_faults();
    wait_segment(&cloud, &spoke, "hub").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_is_given_as_owner_or_refused_with_compensation() {
    // A core network whose blocked segment requires acceptance.
    let mut core: Value =
        serde_json::from_str(&std::fs::read_to_string(repo(OVERLAY_CORE)).unwrap()).unwrap();
    for segment in core["segments"].as_array_mut().unwrap() {
        if segment["name"] == "blocked" {
            segment["require-attachment-acceptance"] = json!(true);
        }
    }
    let path = std::env::temp_dir().join(format!("cwq-acceptance-core-{}.json", std::process::id()));
    std::fs::write(&path, core.to_string()).unwrap();
    let cloud = Cloud::start(
        "accept",
        path.to_str().unwrap(),
        None,
        &["AcceptPendingTags=true"],
    )
    .await;
    cloud.settings(json!({"owner_changes_need_acceptance": true}));

    let accepted = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let (report, _) = cloud.inject_execution(&finding("bitcoin-tool-high", &accepted, "acc1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}{}", cloud.logs());
    assert_eq!(cloud.attachment(&accepted).await.1.as_deref(), Some("blocked"));
    assert_eq!(
        operations(&cloud.calls(), &accepted.attachment_id),
        ["TagResource", "AcceptAttachment"]
    );

    // The same network, deployed not to accept: a named failure, and the tag taken back.
    cloud.deploy(None, &["AcceptPendingTags=false"]);
    let refused = cloud.spoke("10.2.0.0/16", &[("domain", "hub")]).await;
    let (report, _) = cloud.inject_execution(&finding("bitcoin-tool-high", &refused, "acc2", None, None));
    assert!(
        report.contains("FAILED") && report.contains("PolicyViolation"),
        "{report}"
    );
    let state = cloud.journal_state(&refused.attachment_id).await.unwrap();
    assert_eq!(state["status"], "FAILED");
    assert_eq!(
        operations(&cloud.calls(), &refused.attachment_id),
        ["TagResource", "RejectAttachment"],
        "the proposal is withdrawn, never accepted"
    );
    let (state, segment, tags) = cloud.attachment(&refused).await;
    assert_eq!((state.as_str(), segment.as_deref()), ("AVAILABLE", Some("hub")));
    assert!(!tags.iter().any(|(k, _)| k == "quarantine"), "{tags:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_deleted_mid_flight_is_a_named_failure_without_a_crash_loop() {
    let cloud = Cloud::start("deleted", OVERLAY_CORE, None, &[]).await;
    cloud.settings(json!({"transition_delay_ms": 4000}));
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let execution = cloud.deliver(&finding("bitcoin-tool-high", &spoke, "del1", None, None));
    for _ in 0..200 {
        if cloud.attachment(&spoke).await.0 == "UPDATING" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    cloud
        .network_manager()
        .delete_attachment()
        .attachment_id(&spoke.attachment_id)
        .send()
        .await
        .unwrap();
    let (status, error) = cloud.wait_execution(&execution).await;
    assert_eq!(
        (status.as_str(), error.as_str()),
        ("FAILED", "AttachmentNotFound"),
        "{}",
        cloud.logs()
    );
    let state = cloud.journal_state(&spoke.attachment_id).await.unwrap();
    assert_eq!(state["status"], "FAILED", "{state}");
    let invocations = cloud.counters()["lambda:Invoke"]["calls"].as_u64().unwrap();
    assert!(invocations < 20, "no crash loop: {invocations} invocations");
}
