//! The quarantine pipeline end to end on the local cloud: the real Lambda binaries, the real
//! ASL deployed from template.yaml with `cwq local deploy`, findings delivered with
//! `cwq local inject`, and the network, the snapshots and the journal checked afterwards.

#![allow(clippy::unwrap_used)]

mod common;

use common::{finding, policy_variant, repo, text, Cloud, OVERLAY_CORE, SEED_CORE};
use cwq_domain::decision::Expiry;
use cwq_domain::lifecycle::{AttachmentItem, Status};
use cwq_pipeline::audit::AuditEvent;
use cwq_pipeline::events::EventKind;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_demonstration_in_rewrite_mode() {
    let cloud = Cloud::start("seed", SEED_CORE, Some("policy/seed-compatible.toml"), &[]).await;
    let crypto = cloud.spoke("10.1.0.0/16", &[]).await;
    let caller = cloud.spoke("10.2.0.0/16", &[]).await;
    assert_eq!(cloud.attachment(&crypto).await.1.as_deref(), Some("hub"));

    let out = cloud.inject(&finding("bitcoin-tool-high", &crypto, "seed1", None, None));
    assert!(out.contains("SUCCEEDED"), "{out}");
    let out = cloud.inject(&finding(
        "malicious-ip-caller-medium",
        &caller,
        "seed2",
        None,
        None,
    ));
    assert!(out.contains("SUCCEEDED"), "{out}");

    let (state, segment, tags) = cloud.attachment(&crypto).await;
    assert_eq!(
        (state.as_str(), segment.as_deref()),
        ("AVAILABLE", Some("blocked"))
    );
    assert!(tags.contains(&("domain".into(), "blocked".into())), "{tags:?}");
    assert!(
        tags.contains(&("cwq:applied".into(), "blocked".into())),
        "cwq's marker: {tags:?}"
    );
    assert_eq!(cloud.attachment(&caller).await.1.as_deref(), Some("onlyshared"));

    let item = cloud.item(&crypto.attachment_id).await.unwrap();
    assert_eq!(item.status(), Status::Quarantined);
    assert!(matches!(item.demands[0].until, Expiry::At(_)), "{item:?}");
    assert_eq!(
        item.episode.unwrap().original_value,
        None,
        "domain was absent before"
    );

    let snapshots = cloud.snapshots().await;
    assert_eq!(snapshots.len(), 2, "one volume per instance: {snapshots:?}");
    let (_, tags) = &snapshots[0];
    for key in [
        "cwq:incident",
        "cwq:finding-id",
        "cwq:finding-type",
        "cwq:instance",
        "cwq:account",
        "cwq:acquired-at",
    ] {
        assert!(tags.iter().any(|(k, _)| k == key), "{key} missing: {tags:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_policy_in_overlay_mode() {
    let cloud = Cloud::start("overlay", OVERLAY_CORE, None, &[]).await;
    let crypto = cloud
        .spoke("10.1.0.0/16", &[("Name", "app"), ("domain", "hub")])
        .await;
    let caller = cloud.spoke("10.2.0.0/16", &[]).await;
    let critical = cloud.spoke("10.3.0.0/16", &[]).await;

    let bitcoin = finding("bitcoin-tool-high", &crypto, "ovl1", None, None);
    assert!(cloud.inject(&bitcoin).contains("SUCCEEDED"));
    let out = cloud.inject(&finding(
        "malicious-ip-caller-medium",
        &caller,
        "ovl2",
        None,
        None,
    ));
    assert!(out.contains("SUCCEEDED"), "{out}");
    let (_, segment, tags) = cloud.attachment(&crypto).await;
    assert_eq!(segment.as_deref(), Some("blocked"));
    for owned in [("Name", "app"), ("domain", "hub"), ("quarantine", "blocked")] {
        assert!(
            tags.contains(&(owned.0.into(), owned.1.into())),
            "{owned:?} in {tags:?}"
        );
    }
    assert_eq!(cloud.attachment(&caller).await.1.as_deref(), Some("inspected"));
    assert_eq!(cloud.tag_calls(&crypto.attachment_id), 1);

    // Severity 9.5: contained with no automatic expiry (the seed sample crashes here). This
    // finding lists no network interface: enrich asks EC2, through the workload role.
    let mut rebind = finding("metadata-dns-rebind-critical", &critical, "ovl3", None, None);
    rebind["detail"]["resource"]["instanceDetails"]["networkInterfaces"] = json!([]);
    let out = cloud.inject(&rebind);
    assert!(out.contains("SUCCEEDED"), "{out}");
    assert_eq!(cloud.attachment(&critical).await.1.as_deref(), Some("blocked"));
    let item = cloud.item(&critical.attachment_id).await.unwrap();
    assert_eq!(
        (item.status(), item.demands[0].until),
        (Status::Quarantined, Expiry::Manual)
    );

    // A Low finding after the High one changes nothing (its band moves nothing).
    let low = finding(
        "bitcoin-tool-high",
        &crypto,
        "ovl4",
        Some(2.0),
        Some("Recon:EC2/Portscan"),
    );
    assert!(cloud.inject(&low).contains("SUCCEEDED"));
    // The same finding delivered twice: one tag change, one snapshot set.
    assert!(cloud.inject(&bitcoin).contains("SUCCEEDED"));
    assert_eq!(cloud.attachment(&crypto).await.1.as_deref(), Some("blocked"));
    assert_eq!(cloud.tag_calls(&crypto.attachment_id), 1, "no second tag change");
    assert_eq!(cloud.snapshots().await.len(), 3, "one set per incident");
    let verdicts: Vec<String> = cloud
        .audit()
        .await
        .iter()
        .filter_map(|e| match &e.event {
            AuditEvent::Decided { verdict, .. } => Some(verdict.name()),
            _ => None,
        })
        .collect();
    assert_eq!(
        verdicts,
        ["Contain", "Contain", "Contain", "AlreadyContained", "Contain"],
        "the re-sent finding finds its own demand"
    );
    let applied: Vec<_> = cloud
        .published()
        .into_iter()
        .filter(|e| e.kind == EventKind::QuarantineApplied)
        .collect();
    assert_eq!(applied.len(), 4, "{applied:#?}");
    assert!(applied.iter().all(|e| e.time_to_contain_seconds.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_sample_and_non_ec2_findings_change_nothing() {
    let cloud = Cloud::start("protect", OVERLAY_CORE, None, &[]).await;
    let inspection = cloud.spoke("10.9.0.0/16", &[("domain", "hub")]).await;
    let vpc = inspection.vpc_id.clone();
    let policy = policy_variant("policy/default.toml", "protected", |t| {
        t.replace("vpcs = []", &format!("vpcs = [\"{vpc}\"]"))
    });
    cloud.deploy(Some(&policy), &[]);

    let out = cloud.inject(&finding(
        "bitcoin-tool-high",
        &inspection,
        "prot1",
        Some(9.9),
        None,
    ));
    assert!(out.contains("SUCCEEDED"), "{out}");
    let mut sample = finding("bitcoin-tool-high", &inspection, "prot2", None, None);
    sample["detail"]["service"]["additionalInfo"] = json!({"sample": true});
    assert!(cloud.inject(&sample).contains("SUCCEEDED"));
    // An S3 finding: the rule does not deliver it; started by hand, Decide records it.
    let s3: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("fixtures/guardduty/neg-iamuser-tor-ipcaller.json")).unwrap(),
    )
    .unwrap();
    assert!(cloud.inject(&s3).contains("No deployed rule matches"));
    assert!(cloud
        .run("quarantine", "by-hand-s3", &s3)
        .await
        .starts_with("SUCCEEDED"));

    assert_eq!(cloud.attachment(&inspection).await.1.as_deref(), Some("hub"));
    assert_eq!(cloud.tag_calls(&inspection.attachment_id), 0);
    assert!(cloud.snapshots().await.is_empty());
    let verdicts: Vec<String> = cloud
        .audit()
        .await
        .iter()
        .filter_map(|e| match &e.event {
            AuditEvent::Decided { verdict, .. } => Some(verdict.name()),
            _ => None,
        })
        .collect();
    assert!(verdicts.contains(&"Protected".to_string()), "{verdicts:?}");
    // Every execution published one outcome: no action for each (the sample, the S3 finding).
    let outcomes = cloud.published();
    assert_eq!(outcomes.len(), 3, "{outcomes:#?}");
    assert!(
        outcomes.iter().all(|e| e.kind == EventKind::QuarantineNoAction),
        "{outcomes:#?}"
    );
    assert!(
        outcomes.iter().any(|e| e.reason.starts_with("NotApplicable")),
        "{outcomes:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_and_manual_release_restore_the_tags_exactly() {
    // Overlay: Medium quarantines for 2 s; Critical waits for an operator.
    let short = policy_variant("policy/default.toml", "short", |t| {
        t.replace("duration = \"4h\"", "duration = \"2s\"")
    });
    let cloud = Cloud::start("expiry", OVERLAY_CORE, Some(&short), &[]).await;
    let spoke = cloud
        .spoke("10.1.0.0/16", &[("Name", "app"), ("domain", "hub")])
        .await;
    let manual = cloud.spoke("10.2.0.0/16", &[("Name", "db")]).await;
    let before = cloud.attachment(&spoke).await.2;
    let manual_before = cloud.attachment(&manual).await.2;
    assert!(cloud
        .inject(&finding("malicious-ip-caller-medium", &spoke, "exp1", None, None))
        .contains("SUCCEEDED"));
    assert!(cloud
        .inject(&finding(
            "metadata-dns-rebind-critical",
            &manual,
            "exp2",
            None,
            None
        ))
        .contains("SUCCEEDED"));
    assert_eq!(cloud.attachment(&spoke).await.1.as_deref(), Some("inspected"));

    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let swept = cloud.sweep();
    assert!(
        swept.contains(&format!("expire-{}", spoke.attachment_id)),
        "{swept}"
    );
    assert!(
        !swept.contains(&manual.attachment_id),
        "manual release never expires: {swept}"
    );
    let released = cloud.wait_status(&spoke.attachment_id, "RELEASED").await;
    assert_eq!(released.applied.unwrap().segment.as_deref(), Some("hub"));
    let (state, segment, tags) = cloud.attachment(&spoke).await;
    assert_eq!((state.as_str(), segment.as_deref()), ("AVAILABLE", Some("hub")));
    assert_eq!(
        tags, before,
        "exactly the tags from before, cwq's marker gone too"
    );
    // A second sweep starts nothing new.
    assert!(!cloud.sweep().contains(&format!("expire-{}", spoke.attachment_id)));

    // Manual release through the release state machine: it names the demands it removes.
    let demands: Vec<_> = cloud
        .item(&manual.attachment_id)
        .await
        .unwrap()
        .demands
        .iter()
        .map(|d| d.name())
        .collect();
    let request =
        json!({"attachment_id": manual.attachment_id, "reason": "manual", "note": "e2e", "demands": demands});
    assert!(cloud
        .run("release", "manual-1", &request)
        .await
        .starts_with("SUCCEEDED"));
    assert_eq!(
        cloud.item(&manual.attachment_id).await.unwrap().status(),
        Status::Released
    );
    assert_eq!(cloud.attachment(&manual).await.2, manual_before);
    // The same release again removes nothing and says so.
    let again = cloud.run("release", "manual-2", &request).await;
    assert!(again.starts_with("SUCCEEDED"), "{again}");
    let arn = format!(
        "arn:aws:states:us-east-1:{}:execution:cwq-release:manual-2",
        common::OWNER
    );
    assert_eq!(cloud.outcome(&arn).kind, EventKind::QuarantineSuperseded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_mode_puts_back_the_previous_value_or_its_absence() {
    let short = policy_variant("policy/seed-compatible.toml", "short-seed", |t| {
        t.replace("duration = \"24h\"", "duration = \"2s\"")
    });
    let cloud = Cloud::start("rewrite", SEED_CORE, Some(&short), &[]).await;
    let with_value = cloud
        .spoke("10.1.0.0/16", &[("domain", "hub"), ("Name", "web")])
        .await;
    let without = cloud.spoke("10.2.0.0/16", &[("Name", "api")]).await;
    let (before_with, before_without) = (
        cloud.attachment(&with_value).await.2,
        cloud.attachment(&without).await.2,
    );
    for (spoke, id) in [(&with_value, "rw1"), (&without, "rw2")] {
        let out = cloud.inject(&finding("malicious-ip-caller-medium", spoke, id, None, None));
        assert!(out.contains("SUCCEEDED"), "{out}");
        assert_eq!(cloud.attachment(spoke).await.1.as_deref(), Some("onlyshared"));
    }
    let original = |item: Option<AttachmentItem>| item.unwrap().episode.unwrap().original_value;
    assert_eq!(
        original(cloud.item(&with_value.attachment_id).await).as_deref(),
        Some("hub")
    );
    assert_eq!(original(cloud.item(&without.attachment_id).await), None);

    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    cloud.sweep();
    cloud.wait_status(&with_value.attachment_id, "RELEASED").await;
    cloud.wait_status(&without.attachment_id, "RELEASED").await;
    assert_eq!(
        cloud.attachment(&with_value).await.2,
        before_with,
        "domain=hub is back"
    );
    assert_eq!(
        cloud.attachment(&without).await.2,
        before_without,
        "domain is gone again"
    );
    assert_eq!(cloud.attachment(&without).await.1.as_deref(), Some("hub"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrich_reads_a_cached_attachment_and_scans_again_when_it_is_replaced() {
    let cloud = Cloud::start("cache", OVERLAY_CORE, None, &[]).await;
    let mut spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let scans = |cloud: &Cloud| {
        cloud.counters()["networkmanager:ListAttachments"]["calls"]
            .as_u64()
            .unwrap_or(0)
    };
    let quarantine_then_release = |id: &'static str, spoke: &common::Spoke| {
        let report = cloud.inject(&finding("bitcoin-tool-high", spoke, id, None, None));
        assert!(report.contains("SUCCEEDED"), "{report}");
        let out = cloud.operator(&["release", &spoke.vpc_id, "--reason", id, "--yes"]);
        assert!(out.status.success(), "{}", text(&out));
    };

    // First finding: a scan, and the answer cached.
    quarantine_then_release("cache1", &spoke);
    let after_first = scans(&cloud);
    assert!(after_first >= 1, "the first finding scans");

    // Same VPC again: the cached attachment, checked, no scan.
    quarantine_then_release("cache2", &spoke);
    assert_eq!(scans(&cloud), after_first, "a cached attachment costs no scan");

    // The attachment is deleted and the VPC attached again: the cache is stale, enrich scans
    // and finds the new attachment, never the one being deleted.
    let old = spoke.attachment_id.clone();
    cloud
        .network_manager()
        .delete_attachment()
        .attachment_id(&old)
        .send()
        .await
        .unwrap();
    cloud.attach(&mut spoke, &[("domain", "hub")]).await;
    assert_ne!(spoke.attachment_id, old);
    let report = cloud.inject(&finding("bitcoin-tool-high", &spoke, "cache3", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert!(
        scans(&cloud) > after_first,
        "a stale entry sends enrich to a scan"
    );
    let item = cloud.wait_status(&spoke.attachment_id, "QUARANTINED").await;
    assert_eq!(item.attachment.vpc_id, spoke.vpc_id);
    assert_eq!(
        cloud.item(&old).await.unwrap().status(),
        Status::Released,
        "the deleted attachment was not touched again"
    );
}

/// docs/events.schema.json is what SIEM and chat rules are written against: every event a
/// local cloud saw published is checked against it when the test's cloud stops (tests/common);
/// here, that the schema accepts docs/events.md's example and refuses what a consumer would
/// misread.
#[test]
fn the_events_schema_accepts_the_documented_example_and_refuses_a_misleading_event() {
    let doc = std::fs::read_to_string(repo("docs/events.md")).unwrap();
    let example = doc
        .split("## Example\n\n```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    let example: Value = serde_json::from_str(example).unwrap();
    assert_eq!(common::validate_events(&format!("{example}\n")), Ok(()));

    let mut wrong_kind = example.clone();
    wrong_kind["detail"]["kind"] = json!("QuarantineFailed");
    let mut no_execution = example.clone();
    no_execution["detail"]["execution_arn"] = Value::Null;
    let mut negative_time = example.clone();
    negative_time["detail"]["time_to_contain_seconds"] = json!(-1.0);
    let mut leg_without_result = example.clone();
    leg_without_result["detail"]["legs"][0]
        .as_object_mut()
        .unwrap()
        .remove("result");
    for (what, event) in [
        ("kind", wrong_kind),
        ("execution_arn", no_execution),
        ("time_to_contain_seconds", negative_time),
        ("result", leg_without_result),
    ] {
        let refused = common::validate_events(&format!("{event}\n"));
        assert!(refused.is_err(), "{what}: accepted {event}");
    }
}
