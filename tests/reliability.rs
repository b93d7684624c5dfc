//! The bad days, end to end on the local cloud with its fault injection and AWS-like timing:
//! crashes right after a side effect, verification that never completes, acceptance, an
//! attachment deleted mid-flight, throttling, concurrency, the budget, dry runs, tampering
//! and hostile input. Each asserts the network, the journal, the published outcomes and the
//! emulator's log of mutating calls. docs/reliability.md lists each scenario with the
//! guarantee it proves.

#![allow(clippy::unwrap_used)]

mod common;

use common::{finding, repo, text, Cloud, OVERLAY_CORE};
use cwq_domain::decision::NoAction;
use cwq_domain::finding::parse_event;
use cwq_domain::lifecycle::Status;
use cwq_pipeline::audit::AuditEvent;
use cwq_pipeline::events::{EventKind, LegResult};
use cwq_testkit::{FargateTask, FindingEvent};
use serde_json::{json, Value};

/// The successful mutating Network Manager calls on an attachment, in order.
fn operations(calls: &[Value], attachment: &str) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c["service"] == "networkmanager" && c["status"].as_u64() < Some(400))
        .filter(|c| c["path"].as_str().unwrap_or_default().contains(attachment))
        .map(|c| c["operation"].as_str().unwrap().to_string())
        .collect()
}

/// The verdicts Decide journaled, in order.
async fn verdicts(cloud: &Cloud) -> Vec<String> {
    cloud
        .audit()
        .await
        .iter()
        .filter_map(|e| match &e.event {
            AuditEvent::Decided { verdict, .. } => Some(verdict.name()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_side_effect_is_retried_without_repeating_it_and_a_restart_finishes_a_failed_execution(
) {
    let cloud = Cloud::start("crash", OVERLAY_CORE, None, &[]).await;

    // 1. Reconcile dies right after TagResource, before it journals the change: retried, it
    // finds the tag in place (cwq's marker on it) and does not tag again.
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
    let (report, arn) = cloud.inject_execution(&finding("bitcoin-tool-high", &tagged, "crash1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert_eq!(cloud.outcome(&arn).kind, EventKind::QuarantineApplied);
    assert_eq!(
        operations(&cloud.calls(), &tagged.attachment_id),
        ["TagResource"],
        "no second tag change"
    );

    // 2. Snapshot dies right after CreateSnapshots: retried, it finds the set it took.
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
    let (report, _) = cloud.inject_execution(&finding("bitcoin-tool-high", &snapped, "crash2", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    let mine: Vec<String> = cloud
        .snapshots()
        .await
        .into_iter()
        .filter(|(_, tags)| tags.contains(&("cwq:instance".into(), snapped.instance_id.clone())))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(mine.len(), 1, "one snapshot set: {mine:?}");
    assert!(cloud.audit().await.iter().any(|e| matches!(
        &e.event,
        AuditEvent::Snapshotted { found_after_restart: true, snapshots, .. } if *snapshots == mine
    )));

    // 3. Every Reconcile dies: the execution fails closed (the demand stands) and says so;
    // `cwq restart` starts a new execution with the same input, which resumes from the journal.
    let failing = cloud.spoke("10.3.0.0/16", &[("domain", "hub")]).await;
    cloud.fault(&[
        "--service",
        "networkmanager",
        "--operation",
        "GetVpcAttachment",
        "--crash-after",
        "--times",
        "4",
    ]);
    let (report, failed) =
        cloud.inject_execution(&finding("bitcoin-tool-high", &failing, "crash3", None, None));
    assert!(report.contains("FAILED"), "{report}");
    assert_eq!(cloud.outcome(&failed).kind, EventKind::QuarantineFailed);
    assert_eq!(
        cloud.item(&failing.attachment_id).await.unwrap().status(),
        Status::Quarantining
    );
    let out = cloud.operator(&["restart", &failed, "--yes"]);
    assert!(out.status.success(), "{}{}", text(&out), cloud.logs());
    assert!(text(&out).contains("new execution"), "{}", text(&out));
    assert_eq!(
        cloud.item(&failing.attachment_id).await.unwrap().status(),
        Status::Quarantined
    );
    assert_eq!(
        operations(&cloud.calls(), &failing.attachment_id),
        ["TagResource"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_that_never_completes_is_bounded_and_compensated() {
    let cloud = Cloud::start("stuck", OVERLAY_CORE, None, &["ReconcileTimeoutSeconds=60"]).await;
    let spoke = cloud
        .spoke("10.1.0.0/16", &[("domain", "hub"), ("Name", "app")])
        .await;
    let (_, _, tags_before) = cloud.attachment(&spoke).await;
    cloud.cloud_wan(|s| s.stuck_transitions = true).await;

    let execution = cloud.deliver(&finding("bitcoin-tool-high", &spoke, "stuck1", None, None));
    // At the deadline the demand is withdrawn; Cloud WAN moves again later.
    cloud
        .wait_item(&spoke.attachment_id, "with its demand withdrawn", |i| {
            i.demands.is_empty() && i.episode.is_some()
        })
        .await;
    cloud.clear_faults();
    let (status, error) = cloud.wait_execution(&execution).await;
    assert_eq!(
        (status.as_str(), error.as_str()),
        ("FAILED", "VerificationTimeout"),
        "{}",
        cloud.logs()
    );
    assert_eq!(cloud.outcome(&execution).kind, EventKind::QuarantineFailed);
    cloud.wait_segment(&spoke, "hub").await;
    let (_, _, tags) = cloud.attachment(&spoke).await;
    assert_eq!(tags, tags_before, "compensation restored the tags exactly");
    assert_eq!(
        operations(&cloud.calls(), &spoke.attachment_id),
        ["TagResource", "UntagResource"]
    );
    assert_eq!(
        cloud.item(&spoke.attachment_id).await.unwrap().status(),
        Status::Released
    );
    let steps = cloud.steps().await;
    assert!(steps.contains(&"ContainmentFailed".to_string()), "{steps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acceptance_is_given_as_owner_or_refused_before_any_change() {
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
    cloud.cloud_wan(|s| s.owner_changes_need_acceptance = true).await;

    let accepted = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let (report, _) = cloud.inject_execution(&finding("bitcoin-tool-high", &accepted, "acc1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}{}", cloud.logs());
    assert_eq!(cloud.attachment(&accepted).await.1.as_deref(), Some("blocked"));
    assert_eq!(
        operations(&cloud.calls(), &accepted.attachment_id),
        ["TagResource", "AcceptAttachment"]
    );

    // The same network, deployed not to accept: refused before anything changes, and said so.
    cloud.deploy(None, &["AcceptPendingTags=false"]);
    let refused = cloud.spoke("10.2.0.0/16", &[("domain", "hub")]).await;
    let (report, arn) = cloud.inject_execution(&finding("bitcoin-tool-high", &refused, "acc2", None, None));
    assert!(
        report.contains("FAILED") && report.contains("PolicyViolation"),
        "{report}"
    );
    assert_eq!(cloud.outcome(&arn).kind, EventKind::QuarantineFailed);
    assert!(
        operations(&cloud.calls(), &refused.attachment_id).is_empty(),
        "never proposed, never rejected"
    );
    assert!(cloud
        .item(&refused.attachment_id)
        .await
        .is_none_or(|i| i.demands.is_empty()));
    assert_eq!(cloud.attachment(&refused).await.1.as_deref(), Some("hub"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_deleted_mid_flight_ends_its_episode_without_a_crash_loop() {
    let cloud = Cloud::start("deleted", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    // The tag change is on its way when the attachment is deleted (Cloud WAN refuses to
    // delete an attachment while it is UPDATING, so it goes first).
    cloud.fault(&[
        "--service",
        "networkmanager",
        "--operation",
        "TagResource",
        "--latency-ms",
        "3000",
        "--times",
        "1",
    ]);
    let execution = cloud.deliver(&finding("bitcoin-tool-high", &spoke, "del1", None, None));
    cloud
        .wait_item(&spoke.attachment_id, "with its demand", |i| !i.demands.is_empty())
        .await;
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
        ("FAILED", "AttachmentGone"),
        "{}",
        cloud.logs()
    );
    assert_eq!(cloud.outcome(&execution).kind, EventKind::QuarantineFailed);
    let item = cloud.item(&spoke.attachment_id).await.unwrap();
    assert!(
        item.demands.is_empty() && item.open_episode().is_none(),
        "{item:?}"
    );
    let invocations = cloud.counters()["lambda:Invoke"]["calls"].as_u64().unwrap();
    assert!(invocations < 30, "no crash loop: {invocations} invocations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_of_half_the_calls_delays_but_never_breaks_containment() {
    let cloud = Cloud::start("throttle", OVERLAY_CORE, None, &[]).await;
    let mut spokes = Vec::new();
    for n in 1..=3 {
        spokes.push(cloud.spoke(&format!("10.{n}.0.0/16"), &[("domain", "hub")]).await);
    }
    cloud.fault(&[
        "--service",
        "networkmanager",
        "--throttle-rate",
        "0.5",
        "--seed",
        "7",
    ]);
    cloud.fault(&["--service", "ec2", "--throttle-rate", "0.5"]);
    for (n, spoke) in spokes.iter().enumerate() {
        let report = cloud.inject(&finding(
            "bitcoin-tool-high",
            spoke,
            &format!("thr{n}"),
            None,
            None,
        ));
        assert!(report.contains("SUCCEEDED"), "{report}");
    }
    let counters = cloud.counters();
    cloud.clear_faults();
    let injected = |key: &str| counters[key]["injected"].as_u64().unwrap_or(0);
    assert!(
        injected("networkmanager:TagResource") + injected("networkmanager:GetVpcAttachment") > 0,
        "{counters:#}"
    );
    assert!(
        injected("ec2:CreateSnapshots") + injected("ec2:DescribeSnapshots") > 0,
        "{counters:#}"
    );
    for spoke in &spokes {
        assert_eq!(cloud.attachment(spoke).await.1.as_deref(), Some("blocked"));
        assert_eq!(
            cloud.item(&spoke.attachment_id).await.unwrap().status(),
            Status::Quarantined
        );
        assert_eq!(
            operations(&cloud.calls(), &spoke.attachment_id),
            ["TagResource"],
            "one tag change"
        );
    }
    assert_eq!(cloud.snapshots().await.len(), 3, "one set per instance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_findings_for_one_vpc_hold_it_at_the_strictest_segment() {
    let cloud = Cloud::start("concurrent", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let severities = [2.0, 4.5, 5.0, 6.0, 7.5, 8.0, 3.0, 5.5, 7.0, 4.0];
    let executions: Vec<String> = severities
        .iter()
        .enumerate()
        .map(|(n, severity)| {
            cloud.deliver(&finding(
                "malicious-ip-caller-medium",
                &spoke,
                &format!("conc{n}"),
                Some(*severity),
                None,
            ))
        })
        .collect();
    for execution in &executions {
        let (status, error) = cloud.wait_execution(execution).await;
        assert_eq!(status, "SUCCEEDED", "{execution}: {error}{}", cloud.logs());
        assert_eq!(
            cloud
                .outcomes(execution)
                .iter()
                .map(|e| &e.id)
                .collect::<std::collections::BTreeSet<_>>()
                .len(),
            1
        );
    }
    let item = cloud.item(&spoke.attachment_id).await.unwrap();
    assert_eq!(
        (item.status(), item.required_segment.as_deref()),
        (Status::Quarantined, Some("blocked")),
        "{item:?}"
    );
    // Every finding whose band moves something holds the VPC: the Medium ones hold it after
    // the High ones end. The Low ones move nothing.
    assert_eq!(item.demands.len(), 8, "{item:?}");
    assert_eq!(cloud.attachment(&spoke).await.1.as_deref(), Some("blocked"));
    let decided = verdicts(&cloud).await;
    assert_eq!(
        decided.len(),
        10,
        "every finding decided and journaled: {decided:?}"
    );
    assert!(
        decided
            .iter()
            .all(|d| ["Contain", "BelowThreshold", "AlreadyContained"].contains(&d.as_str())),
        "{decided:?}"
    );
    let moves = operations(&cloud.calls(), &spoke.attachment_id);
    assert!(
        !moves.is_empty() && moves.iter().all(|o| o == "TagResource") && moves.len() <= 3,
        "{moves:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blast_radius_budget_stops_the_fourth_move_and_says_so() {
    let policy = common::policy_variant("policy/default.toml", "budget3", |p| {
        p.replace("max_moves = 10", "max_moves = 3")
    });
    let cloud = Cloud::start("budget", OVERLAY_CORE, Some(&policy), &[]).await;
    let mut spokes = Vec::new();
    for n in 1..=5 {
        spokes.push(cloud.spoke(&format!("10.{n}.0.0/16"), &[("domain", "hub")]).await);
    }
    for (n, spoke) in spokes.iter().enumerate() {
        cloud.inject(&finding(
            "bitcoin-tool-high",
            spoke,
            &format!("bud{n}"),
            None,
            None,
        ));
    }
    let mut quarantined = 0;
    for spoke in &spokes {
        match cloud.item(&spoke.attachment_id).await {
            Some(item) => {
                assert_eq!(item.status(), Status::Quarantined);
                assert_eq!(cloud.attachment(spoke).await.1.as_deref(), Some("blocked"));
                quarantined += 1;
            }
            None => {
                assert_eq!(cloud.attachment(spoke).await.1.as_deref(), Some("hub"));
                assert!(operations(&cloud.calls(), &spoke.attachment_id).is_empty());
            }
        }
    }
    assert_eq!(quarantined, 3);
    let refused: Vec<String> = verdicts(&cloud)
        .await
        .into_iter()
        .filter(|d| d == "BudgetExceeded")
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    let failures: Vec<_> = cloud
        .published()
        .into_iter()
        .filter(|e| {
            e.kind == EventKind::QuarantineFailed
                && e.legs[0].result == LegResult::NoAction(NoAction::BudgetExceeded)
        })
        .collect();
    assert_eq!(failures.len(), 2, "two Quarantine Failed events: {failures:#?}");

    // The stack's alarms see it: its metric filters count these lines of the functions' JSON
    // logs, and every line names its incident, attachment and execution.
    let budget = cloud.metric_filter_matches("BudgetExceededMetric");
    assert_eq!(budget.len(), 2, "{}", cloud.logs());
    for line in &budget {
        for field in ["incident", "attachment", "execution"] {
            assert!(line["span"][field].is_string(), "{field} in {line}");
        }
        assert_eq!(line["level"], "WARN", "{line}");
    }
    let applied = cloud.metric_filter_matches("AppliedMetric");
    assert_eq!(applied.len(), 3, "{}", cloud.logs());
    for line in &applied {
        let seconds = line["fields"]["time_to_contain_seconds"].as_f64();
        assert!(seconds.is_some_and(|s| s >= 0.0), "TimeToContain reads {line}");
        assert!(line["span"]["execution"].is_string(), "{line}");
    }
    assert_eq!(cloud.metric_filter_matches("FailedMetric").len(), 2);
}

/// A fixture as an EventBridge event; the workloads it names are pointed at the spoke's (an ECS
/// finding at `task`, which runs there).
fn fixture_event(name: &str, spoke: &common::Spoke, task: &FargateTask) -> Value {
    let text = std::fs::read_to_string(repo(&format!("fixtures/guardduty/{name}"))).unwrap();
    let parsed: Value = serde_json::from_str(&text).unwrap();
    let mut event = if parsed.get("detail").is_some() {
        parsed
    } else {
        json!({"version": "0", "id": format!("fixture-{name}"), "detail-type": "GuardDuty Finding",
               "source": "aws.guardduty", "account": common::OWNER, "region": common::REGION,
               "time": "2026-11-29T00:00:00Z", "resources": [], "detail": parsed})
    };
    event["id"] = json!(format!("fixture-{name}"));
    // Some fixtures carry a partial envelope: complete it as EventBridge would.
    for (key, value) in [("source", "aws.guardduty"), ("detail-type", "GuardDuty Finding")] {
        if event.get(key).is_none() {
            event[key] = json!(value);
        }
    }
    let composed = FindingEvent::from_value(event.clone());
    let event = match event["detail"]["resource"]["resourceType"]
        .as_str()
        .unwrap_or_default()
    {
        "AttackSequence" if event["detail"]["service"]["detection"].is_object() => {
            composed.sequence(&[spoke]).build()
        }
        "EKSCluster" => composed.on_eks(spoke, "fixture-cluster").build(),
        "ECSCluster" => composed.on_task(spoke, task).build(),
        "Lambda" if event["detail"]["resource"]["lambdaDetails"]["vpcConfig"].is_object() => {
            composed.on_lambda(spoke, "fixture-function").build()
        }
        _ => event,
    };
    let mut event = event;
    let detail = &mut event["detail"];
    if detail["resource"]["resourceType"] == "Instance" {
        detail["accountId"] = json!(common::WORKLOAD);
        detail["region"] = json!(common::REGION);
        let instance = &mut detail["resource"]["instanceDetails"];
        instance["instanceId"] = json!(spoke.instance_id);
        for interface in instance["networkInterfaces"].as_array_mut().into_iter().flatten() {
            interface["vpcId"] = json!(spoke.vpc_id);
        }
    }
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_over_every_fixture_changes_nothing_and_journals_every_decision() {
    let policy = common::policy_variant("policy/default.toml", "dryrun", |p| {
        // Samples too: every fixture is decided, none is acted on.
        p.replace("dry_run = false", "dry_run = true")
            .replace("act_on_samples = false", "act_on_samples = true")
    });
    let cloud = Cloud::start("dryrun", OVERLAY_CORE, Some(&policy), &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let task = cloud.estate.fargate_task(&spoke, "dryrun").await.unwrap();
    let before = cloud.calls().len();
    let mut names: Vec<String> = std::fs::read_dir(repo("fixtures/guardduty"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    let (mut delivered, mut decided) = (0, 0);
    for name in &names {
        let event = fixture_event(name, &spoke, &task);
        let report = cloud.inject(&event);
        if report.contains("No deployed rule matches") {
            continue; // names no workload in a VPC: the rule does not deliver it
        }
        assert!(report.contains("SUCCEEDED"), "{name}: {report}");
        delivered += 1;
        // A finding that names nothing in a VPC (a function outside any) is decided by no leg.
        if !parse_event(&event.to_string()).is_err_and(|e| e.is_not_applicable()) {
            decided += 1;
        }
    }
    assert!(delivered >= 13, "{delivered} workload fixtures delivered");
    let changed: Vec<Value> = cloud.calls()[before..]
        .iter()
        .filter(|c| c["service"] != "events")
        .cloned()
        .collect();
    assert!(changed.is_empty(), "a dry run made mutating calls: {changed:?}");
    assert!(cloud.snapshots().await.is_empty());
    assert!(
        cloud.item(&spoke.attachment_id).await.is_none(),
        "no demand written"
    );
    let decisions = verdicts(&cloud).await;
    assert_eq!(decisions.len(), decided, "{decisions:?}");
    assert!(
        decisions.iter().filter(|d| *d == "DryRun").count() >= 5,
        "{decisions:?}"
    );
    // Brute force and port probes aimed at the instance move nothing (no attacker button).
    assert!(
        decisions
            .iter()
            .all(|d| ["DryRun", "BelowThreshold", "IgnoredRole"].contains(&d.as_str())),
        "{decisions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_account_ec2_through_the_role_and_cloud_wan_as_the_core_network_owner() {
    let cloud = Cloud::start("xacct", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let report = cloud.inject(&finding("bitcoin-tool-high", &spoke, "xa1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    let tag = cloud
        .calls()
        .into_iter()
        .find(|c| c["operation"] == "TagResource")
        .unwrap();
    assert_eq!(
        tag["account"],
        common::OWNER,
        "Cloud WAN is changed as the core network owner"
    );
    let path = percent_decode(tag["path"].as_str().unwrap());
    assert!(
        path.contains(&format!(
            "arn:aws:networkmanager::{}:attachment/{}",
            common::WORKLOAD,
            spoke.attachment_id
        )),
        "the attachment ARN carries its owner's account: {path}"
    );
    assert_eq!(
        cloud.snapshots().await.len(),
        1,
        "the snapshot is in the workload account"
    );
    let own = aws_sdk_ec2::Client::new(cloud.sdk())
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .unwrap();
    let cwq_tagged = own
        .snapshots()
        .iter()
        .filter(|s| s.tags().iter().any(|t| t.key() == Some("cwq:incident")))
        .count();
    assert_eq!(cwq_tagged, 0, "nothing in the network account");
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_undone_by_the_sweep_and_drift_at_release_is_reported_not_overwritten() {
    let cloud = Cloud::start("drift", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let report = cloud.inject(&finding("bitcoin-tool-high", &spoke, "drift1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    cloud.wait_segment(&spoke, "blocked").await;
    let arn = format!(
        "arn:aws:networkmanager::{}:attachment/{}",
        common::WORKLOAD,
        spoke.attachment_id
    );
    let nm = cloud.network_manager();

    // Someone removes cwq's tag: the VPC drifts back to hub; the sweep puts it back.
    nm.untag_resource()
        .resource_arn(&arn)
        .tag_keys("quarantine")
        .send()
        .await
        .unwrap();
    cloud.wait_segment(&spoke, "hub").await;
    let swept = cloud.sweep();
    assert!(
        swept.contains(&format!("repair-{}", spoke.attachment_id)),
        "{swept}"
    );
    cloud.wait_segment(&spoke, "blocked").await;
    assert_eq!(
        operations(&cloud.calls(), &spoke.attachment_id),
        ["TagResource", "UntagResource", "TagResource"]
    );
    let published = |kind: EventKind| cloud.published().iter().filter(|e| e.kind == kind).count();
    assert_eq!(published(EventKind::QuarantineDrift), 1);
    // The repair's own outcome (and nothing more from a second sweep).
    cloud.wait_published(EventKind::QuarantineApplied).await;
    cloud.sweep();
    assert_eq!(
        operations(&cloud.calls(), &spoke.attachment_id).len(),
        3,
        "a second sweep changes nothing"
    );

    // Someone sets a third value; a release reports it and leaves their choice alone.
    nm.tag_resource()
        .resource_arn(&arn)
        .tags(
            aws_sdk_networkmanager::types::Tag::builder()
                .key("quarantine")
                .value("inspected")
                .build(),
        )
        .send()
        .await
        .unwrap();
    cloud.wait_segment(&spoke, "inspected").await;
    // (Laxer than blocked: the sweep would put containment back; the release comes first.)
    let out = cloud.operator(&["release", &spoke.vpc_id, "--reason", "drift test", "--yes"]);
    assert!(out.status.success(), "{}{}", text(&out), cloud.logs());
    let (_, segment, tags) = cloud.attachment(&spoke).await;
    assert_eq!(
        segment.as_deref(),
        Some("inspected"),
        "the release did not overwrite the third value"
    );
    assert!(tags.contains(&("quarantine".into(), "inspected".into())));
    assert!(cloud
        .audit()
        .await
        .iter()
        .any(|e| matches!(e.event, AuditEvent::DriftFound { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adversarial_corpus_through_the_pipeline_changes_nothing() {
    let cloud = Cloud::start("corpus", OVERLAY_CORE, None, &[]).await;
    let attached = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let protected = cloud.spoke("10.2.0.0/16", &[("domain", "hub")]).await;
    let policy = common::policy_variant("policy/default.toml", "corpus", |p| {
        p.replace("vpcs = []", &format!("vpcs = [\"{}\"]", protected.vpc_id))
    });
    cloud.deploy(Some(&policy), &[]);
    let before = cloud.calls().len();

    let sfn = cloud.step_functions();
    let machine = format!(
        "arn:aws:states:{}:{}:stateMachine:cwq-quarantine",
        common::REGION,
        common::OWNER
    );
    let corpus = std::fs::read_to_string(repo("fixtures/adversarial/corpus.jsonl")).unwrap();
    let mut executions = Vec::new();
    for (n, line) in corpus.lines().enumerate() {
        let entry: Value = serde_json::from_str(line).unwrap();
        let event = entry["event"]
            .to_string()
            .replace(
                "{{SPOKE_VPC_PREFIX}}",
                &attached.vpc_id[..attached.vpc_id.len() - 3],
            )
            .replace("{{SPOKE_VPC}}", &attached.vpc_id)
            .replace("{{PROTECTED_VPC}}", &protected.vpc_id)
            .replace("{{INSTANCE}}", &protected.instance_id);
        let started = sfn
            .start_execution()
            .state_machine_arn(&machine)
            .name(format!("adversarial-{n}"))
            .input(event)
            .send()
            .await
            .unwrap();
        executions.push((
            entry["name"].as_str().unwrap().to_string(),
            started.execution_arn().to_string(),
        ));
    }
    assert!(executions.len() >= 200);
    let named = ["InvalidInput", "NotAttached"];
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for (name, arn) in &executions {
        let (status, error) = cloud.wait_execution(arn).await;
        assert!(
            status == "SUCCEEDED" || (status == "FAILED" && named.contains(&error.as_str())),
            "{}: {status} {error}",
            name.chars().take(120).collect::<String>()
        );
        *outcomes.entry(format!("{status} {error}")).or_default() += 1;
    }
    let changed: Vec<Value> = cloud.calls()[before..]
        .iter()
        .filter(|c| c["service"] != "events")
        .cloned()
        .collect();
    assert!(changed.is_empty(), "the corpus changed something: {changed:?}");
    assert!(cloud.item(&attached.attachment_id).await.is_none());
    assert!(cloud.item(&protected.attachment_id).await.is_none());
    let protected_decisions = verdicts(&cloud)
        .await
        .iter()
        .filter(|d| *d == "Protected")
        .count();
    assert!(protected_decisions >= 2, "{outcomes:?}");
    eprintln!("corpus outcomes: {outcomes:?}");
}
