//! The lifecycle under AWS-like timing, end to end (docs/lifecycle.md): Cloud WAN takes four
//! times the first wait to apply a change and answers ConflictException meanwhile. Each test
//! is one of the situations in which the lock-per-incident model lost or undid containment;
//! each must end contained, verified, published once, and released to the original tags.

#![allow(clippy::unwrap_used)]

mod common;

use common::{finding, policy_variant, Cloud, Spoke, OVERLAY_CORE, TRANSITION_MS};
use cwq_domain::decision::NoAction;
use cwq_domain::lifecycle::Status;
use cwq_pipeline::events::{EventKind, LegResult};
use serde_json::json;
use std::time::Duration;

/// Releases the attachment with `cwq release` and checks the original tags are back exactly.
async fn release_to_original(cloud: &Cloud, spoke: &Spoke, before: &[(String, String)]) {
    let out = cloud.operator(&["release", &spoke.attachment_id, "--reason", "e2e", "--yes"]);
    assert!(out.status.success(), "{}{}", common::text(&out), cloud.logs());
    cloud.wait_status(&spoke.attachment_id, "RELEASED").await;
    assert_eq!(
        cloud.attachment(spoke).await.2,
        before,
        "the original tags, exactly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_high_findings_seconds_apart_are_both_applied_verified_and_published_once() {
    let cloud = Cloud::start("two-high", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let before = cloud.attachment(&spoke).await.2;

    let first = cloud.deliver(&finding("bitcoin-tool-high", &spoke, "twohigh1", None, None));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = cloud.deliver(&finding(
        "bitcoin-tool-high",
        &spoke,
        "twohigh2",
        None,
        Some("Backdoor:EC2/C&CActivity.B"),
    ));
    for arn in [&first, &second] {
        assert_eq!(cloud.wait_execution(arn).await.0, "SUCCEEDED", "{}", cloud.logs());
        assert_eq!(cloud.outcome(arn).kind, EventKind::QuarantineApplied);
    }
    let item = cloud.item(&spoke.attachment_id).await.unwrap();
    assert_eq!(
        (item.status(), item.demands.len()),
        (Status::Quarantined, 2),
        "{item:?}"
    );
    assert_eq!(cloud.attachment(&spoke).await.1.as_deref(), Some("blocked"));
    assert_eq!(cloud.tag_calls(&spoke.attachment_id), 1, "one tag change");
    // Verified only once Cloud WAN had moved it: never QUARANTINED before the move was seen.
    let tagged = cloud
        .calls()
        .iter()
        .find(|c| c["operation"] == "TagResource")
        .and_then(|c| c["at"].as_f64())
        .unwrap();
    let verified = item.applied.unwrap().at.unix_timestamp() as f64;
    assert!(
        verified + 1.0 >= tagged + TRANSITION_MS as f64 / 1000.0,
        "verified at {verified}, tagged at {tagged}"
    );

    release_to_original(&cloud, &spoke, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_escalation_keeps_the_medium_quarantine_that_is_still_valid() {
    let cloud = Cloud::start("escalation", OVERLAY_CORE, None, &["ReconcileTimeoutSeconds=60"]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let before = cloud.attachment(&spoke).await.2;
    let (report, _) =
        cloud.inject_execution(&finding("malicious-ip-caller-medium", &spoke, "esc1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert_eq!(cloud.attachment(&spoke).await.1.as_deref(), Some("inspected"));

    // Cloud WAN gets stuck applying the High finding's move: it is given up at the deadline.
    cloud.cloud_wan(|s| s.stuck_transitions = true).await;
    let high = cloud.deliver(&finding("bitcoin-tool-high", &spoke, "esc2", None, None));
    cloud
        .wait_item(&spoke.attachment_id, "held by both", |i| i.demands.len() == 2)
        .await;
    cloud
        .wait_item(&spoke.attachment_id, "held by the Medium demand alone", |i| {
            i.demands.len() == 1 && i.demands[0].segment == "inspected"
        })
        .await;
    cloud.clear_faults();
    let (status, error) = cloud.wait_execution(&high).await;
    assert_eq!(
        (status.as_str(), error.as_str()),
        ("FAILED", "VerificationTimeout"),
        "{}",
        cloud.logs()
    );
    let outcome = cloud.outcome(&high);
    assert_eq!(outcome.kind, EventKind::QuarantineFailed);
    assert!(
        outcome.legs[0]
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("VerificationTimeout"),
        "{outcome:?}"
    );
    assert_eq!(
        outcome.legs[0].segment.as_deref(),
        Some("inspected"),
        "compensated to the Medium quarantine"
    );

    let item = cloud.wait_status(&spoke.attachment_id, "QUARANTINED").await;
    assert_eq!(item.required_segment.as_deref(), Some("inspected"));
    cloud.wait_segment(&spoke, "inspected").await;
    release_to_original(&cloud, &spoke, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_that_always_fail_never_stop_containment() {
    let cloud = Cloud::start("forensics", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let before = cloud.attachment(&spoke).await.2;
    // The workload role denied CreateSnapshots (an SCP, a missing grant).
    cloud.fault(&["--service", "ec2", "--operation", "CreateSnapshots", "--denied"]);

    let (report, arn) = cloud.inject_execution(&finding("bitcoin-tool-high", &spoke, "snap1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert_eq!(cloud.outcome(&arn).kind, EventKind::QuarantineApplied);
    let forensics: Vec<_> = cloud
        .published()
        .into_iter()
        .filter(|e| e.kind == EventKind::ForensicsFailed)
        .collect();
    assert_eq!(forensics.len(), 1, "{forensics:#?}");
    assert!(
        forensics[0].reason.contains("access denied"),
        "{:?}",
        forensics[0]
    );
    assert!(cloud.steps().await.contains(&"ForensicsFailed".to_string()));
    assert_eq!(
        cloud.item(&spoke.attachment_id).await.unwrap().status(),
        Status::Quarantined
    );

    // A later finding for the VPC is handled, not lost behind a stuck record.
    let (report, later) = cloud.inject_execution(&finding(
        "bitcoin-tool-high",
        &spoke,
        "snap2",
        Some(9.5),
        Some("UnauthorizedAccess:EC2/MetadataDNSRebind"),
    ));
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert_eq!(cloud.outcome(&later).kind, EventKind::QuarantineApplied);
    cloud.clear_faults();
    release_to_original(&cloud, &spoke, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finding_while_the_owner_moves_the_attachment_waits_for_cloud_wan() {
    let cloud = Cloud::start("busy", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let before = cloud.attachment(&spoke).await.2;
    // Cloud WAN busy with the owner's own change for 45 s (ConflictException to any tag change).
    cloud.cloud_wan(|s| s.transition_delay_ms = 45_000).await;
    cloud
        .network_manager()
        .tag_resource()
        .resource_arn(format!(
            "arn:aws:networkmanager::{}:attachment/{}",
            spoke.account, spoke.attachment_id
        ))
        .tags(
            aws_sdk_networkmanager::types::Tag::builder()
                .key("Name")
                .value("app")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = cloud.deliver(&finding("bitcoin-tool-high", &spoke, "busy1", None, None));
    // Cloud WAN finishes the owner's change after 45 s; cwq's own move then takes 4 s.
    tokio::time::sleep(Duration::from_secs(30)).await;
    cloud
        .cloud_wan(|s| s.transition_delay_ms = 45_000 - 30_000 + TRANSITION_MS)
        .await;
    assert_eq!(
        cloud.wait_execution(&arn).await.0,
        "SUCCEEDED",
        "{}",
        cloud.logs()
    );
    assert_eq!(cloud.outcome(&arn).kind, EventKind::QuarantineApplied);
    assert_eq!(cloud.attachment(&spoke).await.1.as_deref(), Some("blocked"));
    let conflicts = cloud.counters()["networkmanager:TagResource"]["errors"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(conflicts, 0, "cwq waited instead of tagging into the conflict");

    let out = cloud.operator(&["release", &spoke.attachment_id, "--reason", "e2e", "--yes"]);
    assert!(out.status.success(), "{}", common::text(&out));
    cloud.wait_status(&spoke.attachment_id, "RELEASED").await;
    let mut tags = cloud.attachment(&spoke).await.2;
    tags.retain(|(k, _)| k != "Name");
    assert_eq!(tags, before, "cwq's tags are gone; the owner's change stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_in_two_vpcs_contains_the_attached_one_and_reports_the_other() {
    let cloud = Cloud::start("two-vpcs", OVERLAY_CORE, None, &[]).await;
    let attached = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let loose = cloud.unattached_spoke("10.2.0.0/16").await;
    let before = cloud.attachment(&attached).await.2;
    let mut event = finding("bitcoin-tool-high", &attached, "twovpc1", None, None);
    let mut second = event["detail"]["resource"]["instanceDetails"]["networkInterfaces"][0].clone();
    second["vpcId"] = json!(loose.vpc_id);
    second["networkInterfaceId"] = json!("eni-0b1c2d3e4f5a6b7c8");
    event["detail"]["resource"]["instanceDetails"]["networkInterfaces"]
        .as_array_mut()
        .unwrap()
        .push(second);

    let (report, arn) = cloud.inject_execution(&event);
    assert!(
        report.contains("FAILED"),
        "one VPC could not be contained: {report}"
    );
    assert_eq!(
        cloud.attachment(&attached).await.1.as_deref(),
        Some("blocked"),
        "the attached VPC is contained"
    );
    let outcome = cloud.outcome(&arn);
    assert_eq!(
        outcome.kind,
        EventKind::QuarantineFailed,
        "someone must hear of the other"
    );
    let results: Vec<(&str, LegResult)> = outcome
        .legs
        .iter()
        .map(|l| (l.vpc_id.as_str(), l.result))
        .collect();
    assert_eq!(
        results,
        [
            (attached.vpc_id.as_str(), LegResult::Applied),
            (loose.vpc_id.as_str(), LegResult::NotAttached)
        ]
    );
    release_to_original(&cloud, &attached, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_release_never_releases_a_newer_quarantine() {
    let cloud = Cloud::start("old-release", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let before = cloud.attachment(&spoke).await.2;
    assert!(cloud
        .inject(&finding("bitcoin-tool-high", &spoke, "old1", None, None))
        .contains("SUCCEEDED"));
    let out = cloud.operator(&[
        "release",
        &spoke.attachment_id,
        "--reason",
        "first",
        "--yes",
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{}", common::text(&out));
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let old = first["execution_arn"].as_str().unwrap().to_string();
    cloud.wait_status(&spoke.attachment_id, "RELEASED").await;

    // A new finding; then the old release again, by a new execution with its input (what the
    // console's "New execution" does) and by `cwq restart`: neither may touch the new one.
    assert!(cloud
        .inject(&finding("bitcoin-tool-high", &spoke, "old2", None, None))
        .contains("SUCCEEDED"));
    let input = cloud
        .step_functions()
        .describe_execution()
        .execution_arn(&old)
        .send()
        .await
        .unwrap()
        .input()
        .unwrap()
        .to_string();
    let replay = cloud
        .run(
            "release",
            "old-release-again",
            &serde_json::from_str(&input).unwrap(),
        )
        .await;
    assert!(replay.starts_with("SUCCEEDED"), "{replay}");
    let replayed = format!(
        "arn:aws:states:us-east-1:{}:execution:cwq-release:old-release-again",
        common::OWNER
    );
    assert_eq!(cloud.outcome(&replayed).kind, EventKind::QuarantineSuperseded);
    let item = cloud.item(&spoke.attachment_id).await.unwrap();
    assert_eq!(
        (item.status(), item.demands.len()),
        (Status::Quarantined, 1),
        "{item:?}"
    );
    assert_eq!(cloud.attachment(&spoke).await.1.as_deref(), Some("blocked"));
    release_to_original(&cloud, &spoke, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finding_during_cwqs_own_release_is_contained() {
    let cloud = Cloud::start("during-release", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let before = cloud.attachment(&spoke).await.2;
    assert!(cloud
        .inject(&finding("bitcoin-tool-high", &spoke, "dur1", None, None))
        .contains("SUCCEEDED"));
    let out = cloud.operator(&[
        "release",
        &spoke.attachment_id,
        "--reason",
        "done",
        "--yes",
        "--no-wait",
    ]);
    assert!(out.status.success(), "{}", common::text(&out));
    // The release is in flight (the VPC still in blocked for a moment) when the finding comes.
    cloud.wait_status(&spoke.attachment_id, "RELEASING").await;
    let (report, arn) = cloud.inject_execution(&finding("bitcoin-tool-high", &spoke, "dur2", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert_eq!(
        cloud.outcome(&arn).kind,
        EventKind::QuarantineApplied,
        "not AlreadyContained"
    );
    let item = cloud.wait_status(&spoke.attachment_id, "QUARANTINED").await;
    assert_eq!(item.demands.len(), 1);
    cloud.wait_segment(&spoke, "blocked").await;
    release_to_original(&cloud, &spoke, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_medium_hold_longer_than_the_high_one_holds_after_it_expires() {
    let short = policy_variant("policy/default.toml", "stepdown", |t| {
        t.replace("duration = \"24h\"", "duration = \"8s\"")
            .replace("duration = \"4h\"", "duration = \"10m\"")
    });
    let cloud = Cloud::start("stepdown", OVERLAY_CORE, Some(&short), &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let before = cloud.attachment(&spoke).await.2;
    let high = finding(
        "bitcoin-tool-high",
        &spoke,
        "step1",
        Some(8.0),
        Some("UnauthorizedAccess:EC2/TorClient"),
    );
    assert!(cloud.inject(&high).contains("SUCCEEDED"));
    let (report, medium) = cloud.inject_execution(&finding(
        "malicious-ip-caller-medium",
        &spoke,
        "step2",
        None,
        None,
    ));
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert_eq!(
        cloud.outcome(&medium).kind,
        EventKind::QuarantineApplied,
        "it joins the quarantine"
    );
    assert_eq!(cloud.attachment(&spoke).await.1.as_deref(), Some("blocked"));

    tokio::time::sleep(Duration::from_secs(9)).await;
    let swept = cloud.sweep();
    assert!(swept.contains("expire-"), "{swept}");
    cloud.wait_segment(&spoke, "inspected").await;
    let item = cloud.wait_status(&spoke.attachment_id, "QUARANTINED").await;
    assert_eq!(
        item.required_segment.as_deref(),
        Some("inspected"),
        "stepped down, not released"
    );
    let stepped = cloud.wait_published(EventKind::QuarantineSteppedDown).await;
    assert_eq!(stepped.len(), 1, "{stepped:#?}");
    release_to_original(&cloud, &spoke, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_tag_change_from_an_overtaken_execution_is_undone() {
    let cloud = Cloud::start("late-tag", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let before = cloud.attachment(&spoke).await.2;
    // The quarantine's TagResource is held up for 15 s on its way to Cloud WAN.
    cloud.fault(&[
        "--service",
        "networkmanager",
        "--operation",
        "TagResource",
        "--latency-ms",
        "15000",
        "--times",
        "1",
    ]);
    let arn = cloud.deliver(&finding("bitcoin-tool-high", &spoke, "late1", None, None));
    cloud
        .wait_item(&spoke.attachment_id, "with its demand", |i| !i.demands.is_empty())
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Meanwhile an operator releases it: the release sees nothing to undo yet and ends.
    let out = cloud.operator(&[
        "release",
        &spoke.attachment_id,
        "--reason",
        "false positive",
        "--yes",
    ]);
    assert!(out.status.success(), "{}", common::text(&out));
    // Then the late tag lands; the execution that sent it sees its demand gone and undoes it.
    assert_eq!(
        cloud.wait_execution(&arn).await.0,
        "SUCCEEDED",
        "{}",
        cloud.logs()
    );
    let removed_at = cloud
        .audit()
        .await
        .iter()
        .find(|e| e.event.name() == "DemandsRemoved")
        .map(|e| e.at.unix_timestamp() as f64)
        .unwrap();
    let tags: Vec<_> = cloud
        .calls()
        .into_iter()
        .filter(|c| c["operation"] == "TagResource")
        .collect();
    let late = tags
        .iter()
        .any(|c| c["status"] == 200 && c["at"].as_f64() > Some(removed_at + 1.0));
    assert!(
        late,
        "the tag change landed after the demand was released at {removed_at}: {tags:?}"
    );
    assert_eq!(cloud.outcome(&arn).kind, EventKind::QuarantineSuperseded);
    cloud.wait_segment(&spoke, "hub").await;
    assert_eq!(
        cloud.attachment(&spoke).await.2,
        before,
        "the late change is undone"
    );
    assert_eq!(
        cloud.item(&spoke.attachment_id).await.unwrap().status(),
        Status::Released
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_admits_concurrent_findings_atomically_and_an_escalation_spends_nothing() {
    let budget = policy_variant("policy/default.toml", "budget2", |t| {
        t.replace("max_moves = 10", "max_moves = 2")
    });
    let cloud = Cloud::start("budget-atomic", OVERLAY_CORE, Some(&budget), &[]).await;
    let mut spokes = Vec::new();
    for n in 1..=4 {
        spokes.push(cloud.spoke(&format!("10.{n}.0.0/16"), &[("domain", "hub")]).await);
    }
    // Four Medium findings at once: exactly two new quarantines.
    let arns: Vec<String> = spokes
        .iter()
        .enumerate()
        .map(|(n, s)| {
            cloud.deliver(&finding(
                "malicious-ip-caller-medium",
                s,
                &format!("bud{n}"),
                None,
                None,
            ))
        })
        .collect();
    let mut kinds = Vec::new();
    for arn in &arns {
        cloud.wait_execution(arn).await;
        kinds.push(cloud.outcome(arn).kind);
    }
    let applied = kinds
        .iter()
        .filter(|k| **k == EventKind::QuarantineApplied)
        .count();
    assert_eq!(applied, 2, "{kinds:?}");
    let refused: Vec<_> = cloud
        .published()
        .into_iter()
        .filter(|e| {
            e.kind == EventKind::QuarantineFailed
                && e.legs[0].result == LegResult::NoAction(NoAction::BudgetExceeded)
        })
        .collect();
    assert_eq!(refused.len(), 2, "{refused:#?}");

    // A High finding for a VPC already held escalates it without spending the budget.
    let held = spokes
        .iter()
        .find(|s| cloud.tag_calls(&s.attachment_id) > 0)
        .unwrap();
    let (report, escalated) =
        cloud.inject_execution(&finding("bitcoin-tool-high", held, "bud-high", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert_eq!(cloud.outcome(&escalated).kind, EventKind::QuarantineApplied);
    assert_eq!(cloud.attachment(held).await.1.as_deref(), Some("blocked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_repair_puts_containment_back_and_never_downgrades_a_stricter_value_set_by_hand() {
    let cloud = Cloud::start("drift-hand", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let before = cloud.attachment(&spoke).await.2;
    assert!(cloud
        .inject(&finding(
            "malicious-ip-caller-medium",
            &spoke,
            "hand1",
            None,
            None
        ))
        .contains("SUCCEEDED"));
    let nm = cloud.network_manager();
    let arn = format!(
        "arn:aws:networkmanager::{}:attachment/{}",
        spoke.account, spoke.attachment_id
    );
    let set = |value: &'static str| {
        nm.tag_resource()
            .resource_arn(&arn)
            .tags(
                aws_sdk_networkmanager::types::Tag::builder()
                    .key("quarantine")
                    .value(value)
                    .build(),
            )
            .send()
    };

    // An operator makes it stricter by hand: the sweep leaves it.
    set("blocked").await.unwrap();
    cloud.wait_segment(&spoke, "blocked").await;
    cloud.sweep();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cloud.attachment(&spoke).await.1.as_deref(),
        Some("blocked"),
        "not downgraded"
    );

    // Someone sets it laxer (or a workload frees itself): the sweep puts containment back.
    set("hub").await.unwrap();
    cloud.wait_segment(&spoke, "hub").await;
    let swept = cloud.sweep();
    assert!(swept.contains("repair-"), "{swept}");
    cloud.wait_segment(&spoke, "inspected").await;
    assert!(cloud
        .published()
        .iter()
        .any(|e| e.kind == EventKind::QuarantineDrift));
    release_to_original(&cloud, &spoke, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_left_unconverged_by_a_crash_is_reported_repaired_and_still_expires() {
    let short = policy_variant("policy/default.toml", "crash-expiry", |t| {
        t.replace("duration = \"24h\"", "duration = \"40s\"")
    });
    let cloud = Cloud::start("fail-closed", OVERLAY_CORE, Some(&short), &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let before = cloud.attachment(&spoke).await.2;
    // Every Reconcile dies as it looks at the attachment: the execution ends, its retries spent.
    cloud.fault(&[
        "--service",
        "networkmanager",
        "--operation",
        "GetVpcAttachment",
        "--crash-after",
    ]);
    let (report, arn) = cloud.inject_execution(&finding("bitcoin-tool-high", &spoke, "fc1", None, None));
    assert!(report.contains("FAILED"), "{report}");
    assert_eq!(
        cloud.outcome(&arn).kind,
        EventKind::QuarantineFailed,
        "interrupted, and said so"
    );
    let item = cloud.item(&spoke.attachment_id).await.unwrap();
    assert_eq!(
        item.status(),
        Status::Quarantining,
        "fail closed: the demand stands"
    );
    cloud.clear_faults();

    // The sweep finds nobody converging it: reports it stuck and repairs it.
    let swept = cloud.sweep();
    assert!(swept.contains("repair-"), "{swept}");
    assert!(cloud
        .published()
        .iter()
        .any(|e| e.kind == EventKind::QuarantineStuck));
    cloud.wait_status(&spoke.attachment_id, "QUARANTINED").await;
    cloud.wait_segment(&spoke, "blocked").await;

    // And its hold still expires.
    let until = item.demands[0].until;
    let cwq_domain::decision::Expiry::At(at) = until else {
        panic!("{until:?}")
    };
    let left = (at - time::OffsetDateTime::now_utc()).as_seconds_f64().max(0.0);
    tokio::time::sleep(Duration::from_secs_f64(left + 1.0)).await;
    assert!(cloud.sweep().contains("expire-"));
    cloud.wait_status(&spoke.attachment_id, "RELEASED").await;
    assert_eq!(cloud.attachment(&spoke).await.2, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_is_published_again_when_its_step_is_retried_after_the_journal_write() {
    let cloud = Cloud::start("republish", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    // The first PutEvents fails: the outcome was journaled; the retry publishes it.
    cloud.fault(&[
        "--service",
        "events",
        "--operation",
        "PutEvents",
        "--error-rate",
        "1",
        "--times",
        "1",
    ]);
    let (report, arn) = cloud.inject_execution(&finding("bitcoin-tool-high", &spoke, "rep1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    let outcome = cloud.outcome(&arn);
    assert_eq!(outcome.kind, EventKind::QuarantineApplied);
    assert!(cloud.counters()["events:PutEvents"]["injected"].as_u64() >= Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finding_whose_updated_at_is_a_journal_key_poisons_nothing() {
    let cloud = Cloud::start("poison", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    for (n, updated) in ["STATE", "LEDGER", "SNAPSHOTS", "OUTCOME"].iter().enumerate() {
        let mut event = finding("bitcoin-tool-high", &spoke, &format!("poison{n}"), None, None);
        event["detail"]["updatedAt"] = json!(updated);
        cloud.inject(&event);
    }
    let status = cloud.operator(&["status", "--output", "json"]);
    assert!(status.status.success(), "{}", common::text(&status));
    let swept = cloud.sweep();
    assert!(
        swept.contains("\"failures\":[]") || swept.contains("\"failures\": []"),
        "{swept}"
    );
    assert_eq!(
        cloud.item(&spoke.attachment_id).await.unwrap().status(),
        Status::Quarantined
    );
}
