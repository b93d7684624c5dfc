//! The operator verbs — status, show, release, extend, restart, policy check — run as the
//! `cwq` binary against the local cloud with the pipeline deployed, including their error
//! paths and exit codes (0 done, 1 failed, 2 invalid input, 3 nothing to act on).

#![allow(clippy::unwrap_used)]

mod common;

use common::{cwq, finding, policy_variant, text, Cloud, OVERLAY_CORE, SEED_CORE};
use cwq_domain::lifecycle::Status;
use serde_json::Value;

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_show_extend_and_release_a_quarantine() {
    let cloud = Cloud::start("operator", OVERLAY_CORE, None, &[]).await;

    let out = cloud.operator(&["status"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(text(&out).contains("No quarantines in effect"), "{}", text(&out));
    assert_eq!(
        json(&cloud.operator(&["status", "--output", "json"])),
        Value::Array(vec![])
    );
    let out = cloud.operator(&["show", "vpc-0123456789abcdef0"]);
    assert_eq!(code(&out), 3, "unknown VPC: {}", text(&out));
    assert!(
        text(&out).contains("no record of vpc-0123456789abcdef0"),
        "{}",
        text(&out)
    );
    let out = cloud.operator(&["show", "not an id"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let out = cloud.operator(&["release", "vpc-0123456789abcdef0", "--reason", "x", "--yes"]);
    assert_eq!(code(&out), 3, "{}", text(&out));

    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let out = cloud.inject(&finding("bitcoin-tool-high", &spoke, "op1", None, None));
    assert!(out.contains("SUCCEEDED"), "{out}");

    // status: the table and its JSON, and the filters.
    let out = cloud.operator(&["status"]);
    let table = text(&out);
    assert_eq!(code(&out), 0, "{table}");
    for expected in [
        spoke.vpc_id.as_str(),
        &spoke.attachment_id,
        "222222222222",
        "us-east-1",
        "hub → blocked",
        "QUARANTINED",
        "CryptoCurrency",
    ] {
        assert!(table.contains(expected), "{expected} missing:\n{table}");
    }
    let records = json(&cloud.operator(&["status", "--output", "json"]));
    assert_eq!(records.as_array().unwrap().len(), 1, "{records}");
    let record = &records[0];
    assert_eq!(record["status"], "QUARANTINED");
    assert_eq!(record["required_segment"], "blocked");
    assert_eq!(record["episode"]["original_segment"], "hub");
    assert_eq!(
        record["demands"][0]["finding_type"],
        "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    );
    let execution = record["changed_by"].as_str().unwrap();
    assert!(execution.contains(":execution:cwq-quarantine:"), "{execution}");
    assert!(table.contains(execution.rsplit(':').next().unwrap()), "{table}");
    for filter in [
        &["--account", "999999999999"][..],
        &["--in-region", "eu-west-1"],
        &["--status", "released"],
    ] {
        let mut args = vec!["status", "--output", "json"];
        args.extend_from_slice(filter);
        assert_eq!(json(&cloud.operator(&args)), Value::Array(vec![]), "{filter:?}");
    }
    let mut args = vec![
        "status",
        "--output",
        "json",
        "--account",
        "222222222222",
        "--in-region",
        "us-east-1",
    ];
    args.extend(["--status", "quarantined"]);
    assert_eq!(json(&cloud.operator(&args)).as_array().unwrap().len(), 1);

    // Without --local, the SDK's default chain and AWS_ENDPOINT_URL decide where cwq looks.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cwq"))
        .args(["status", "--output", "json"])
        .env("AWS_ENDPOINT_URL", &cloud.endpoint)
        .env("AWS_ACCESS_KEY_ID", "123456789012")
        .env("AWS_SECRET_ACCESS_KEY", "cwq-local")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert_eq!(json(&out), records, "{}", text(&out));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cwq"))
        .args(["status", "--stack", "elsewhere"])
        .env("AWS_ENDPOINT_URL", &cloud.endpoint)
        .env("AWS_ACCESS_KEY_ID", "123456789012")
        .env("AWS_SECRET_ACCESS_KEY", "cwq-local")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("elsewhere-journal"), "{}", text(&out));

    // show: by VPC, by attachment and by incident, as text and JSON.
    let out = cloud.operator(&["show", &spoke.vpc_id]);
    let timeline = text(&out);
    assert_eq!(code(&out), 0, "{timeline}");
    for expected in [
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "demand      blocked until",
        "FindingReceived",
        "Decided",
        "DemandAdded",
        "Tagged",
        "Snapshotted",
        "Converged",
        "Quarantine Applied",
        "set quarantine=blocked",
        "snap-",
    ] {
        assert!(timeline.contains(expected), "{expected} missing:\n{timeline}");
    }
    let shown = json(&cloud.operator(&["show", &spoke.attachment_id, "--output", "json"]));
    let incident = shown["incidents"][0]["incident"].as_str().unwrap().to_string();
    assert_eq!(
        shown["attachments"][0]["attachment"]["attachment_id"],
        spoke.attachment_id.as_str()
    );
    assert_eq!(
        shown["incidents"][0]["snapshots"].as_array().unwrap().len(),
        1,
        "{shown}"
    );
    let steps: Vec<&str> = shown["incidents"][0]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps.first(), Some(&"FindingReceived"), "{steps:?}");
    assert_eq!(steps.last(), Some(&"Outcome"), "{steps:?}");
    let by_incident = json(&cloud.operator(&["show", &incident, "--output", "json"]));
    assert_eq!(
        by_incident["incidents"][0]["timeline"],
        shown["incidents"][0]["timeline"]
    );

    // extend: refused without --yes when stdin is not a terminal; then 12 hours later.
    let before = cloud.item(&spoke.attachment_id).await.unwrap();
    let out = cloud.operator(&["extend", &spoke.vpc_id, "--for", "12h"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(text(&out).contains("--yes"), "{}", text(&out));
    assert_eq!(cloud.item(&spoke.attachment_id).await.unwrap(), before);
    let out = cloud.operator(&[
        "extend",
        &spoke.vpc_id,
        "--for",
        "12h",
        "--yes",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let extended = json(&out);
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert_eq!(
        parse(&extended["to"]) - parse(&extended["from"]),
        time::Duration::hours(12)
    );
    let after = cloud.item(&spoke.attachment_id).await.unwrap();
    assert_eq!(
        after.demands[0].until,
        cwq_domain::decision::Expiry::At(parse(&extended["to"])),
        "{after:?}"
    );
    let out = cloud.operator(&["show", &spoke.vpc_id]);
    assert!(text(&out).contains("Extended"), "{}", text(&out));

    // release: refused without --yes or a reason; then done, verified and journaled.
    let tag_calls = cloud.tag_calls(&spoke.attachment_id);
    let out = cloud.operator(&["release", &spoke.vpc_id, "--reason", "SEC-42 cleaned"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let out = cloud.operator(&["release", &spoke.vpc_id, "--reason", " ", "--yes"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert_eq!(
        cloud.tag_calls(&spoke.attachment_id),
        tag_calls,
        "nothing changed"
    );
    assert_eq!(
        cloud.item(&spoke.attachment_id).await.unwrap().status(),
        Status::Quarantined
    );
    let out = cloud.operator(&["release", &spoke.vpc_id, "--reason", "SEC-42 cleaned", "--yes"]);
    let report = text(&out);
    assert_eq!(code(&out), 0, "{report}{}", cloud.logs());
    assert!(report.contains("Quarantine Released"), "{report}");
    assert!(report.contains("verified in hub"), "{report}");
    assert!(report.contains(":execution:cwq-release:manual-"), "{report}");
    let (state, segment, tags) = cloud.attachment(&spoke).await;
    assert_eq!((state.as_str(), segment.as_deref()), ("AVAILABLE", Some("hub")));
    assert!(
        !tags.iter().any(|(k, _)| k == "quarantine" || k == "cwq:applied"),
        "{tags:?}"
    );
    assert_eq!(
        cloud.item(&spoke.attachment_id).await.unwrap().status(),
        Status::Released
    );
    let out = cloud.operator(&["show", &spoke.vpc_id]);
    assert!(text(&out).contains("for arn:aws:"), "{}", text(&out));
    assert!(text(&out).contains("SEC-42 cleaned"), "{}", text(&out));
    assert!(text(&out).contains("verified in hub"), "{}", text(&out));

    // Nothing left to release or extend.
    let out = cloud.operator(&["release", &spoke.vpc_id, "--reason", "again", "--yes"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("nothing to release"), "{}", text(&out));
    let out = cloud.operator(&["extend", &spoke.attachment_id, "--for", "1h", "--yes"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let out = cloud.operator(&["status"]);
    assert!(text(&out).contains("No quarantines in effect"), "{}", text(&out));
    let all = json(&cloud.operator(&["status", "--all", "--output", "json"]));
    assert_eq!(all[0]["status"], "RELEASED", "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_finishes_a_failed_execution_and_policy_check_reads_the_live_network() {
    let cloud = Cloud::start("restart", OVERLAY_CORE, None, &[]).await;

    // A finding for a VPC Cloud WAN does not know yet: the execution fails, and says why.
    let mut spoke = cloud.unattached_spoke("10.1.0.0/16").await;
    let out = cloud.inject(&finding("bitcoin-tool-high", &spoke, "rs1", None, None));
    assert!(out.contains("FAILED") && out.contains("NotAttached"), "{out}");
    let failed = out
        .split_whitespace()
        .find(|w| w.contains(":execution:"))
        .unwrap()
        .to_string();

    let out = cloud.operator(&["restart", "not-an-arn", "--yes"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let unknown = failed.replace("rs1", "nothing-like-it");
    let out = cloud.operator(&["restart", &unknown, "--yes"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let out = cloud.operator(&["restart", &failed]);
    assert_eq!(code(&out), 2, "without --yes: {}", text(&out));

    // Once the attachment exists, the restart contains the VPC.
    cloud.attach(&mut spoke, &[("domain", "hub")]).await;
    let out = cloud.operator(&["restart", &failed, "--yes"]);
    let report = text(&out);
    assert_eq!(code(&out), 0, "{report}{}", cloud.logs());
    // It ended in the Fail state after recording its outcome: a redrive would only fail there
    // again, so restart starts a new execution.
    assert!(
        report.contains("not redriven") && report.contains("Fail state"),
        "{report}"
    );
    assert!(report.contains("new execution"), "{report}");
    assert!(report.contains("Outcome: SUCCEEDED"), "{report}");
    assert_eq!(cloud.attachment(&spoke).await.1.as_deref(), Some("blocked"));
    let restarted = report
        .lines()
        .find_map(|l| l.strip_prefix("Execution: "))
        .unwrap()
        .to_string();
    let out = cloud.operator(&["restart", &restarted, "--yes"]);
    assert_eq!(code(&out), 3, "a succeeded execution: {}", text(&out));
    assert!(text(&out).contains("SUCCEEDED"), "{}", text(&out));

    // A Critical finding holds until released by hand: there is no expiry to extend.
    let critical = cloud.spoke("10.2.0.0/16", &[("domain", "hub")]).await;
    let out = cloud.inject(&finding(
        "malicious-ip-caller-medium",
        &critical,
        "rs2",
        Some(9.5),
        None,
    ));
    assert!(out.contains("SUCCEEDED"), "{out}");
    let out = cloud.operator(&["extend", &critical.vpc_id, "--for", "1h", "--yes"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(text(&out).contains("released manually"), "{}", text(&out));

    // policy check against the live core network: its attachments and protected resources.
    let out = cloud.operator(&[
        "policy",
        "check",
        "--policy",
        "policy/default.toml",
        "--core-network-id",
        cloud.core_network_id(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("every one of the 2 VPC attachments"),
        "{}",
        text(&out)
    );
    let typo = policy_variant("policy/default.toml", "typo", |p| {
        p.replace("vpcs = []", "vpcs = [\"vpc-0fedcba9876543210\"]")
    });
    let out = cloud.operator(&[
        "policy",
        "check",
        "--policy",
        &typo,
        "--core-network-id",
        cloud.core_network_id(),
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["ok"], false);
    assert!(
        report["problems"][0]
            .as_str()
            .unwrap()
            .contains("vpc-0fedcba9876543210"),
        "{report}"
    );
}

#[test]
fn policy_check_offline_and_errors_without_a_cloud() {
    let ok = cwq(&[
        "policy",
        "check",
        "--policy",
        "policy/default.toml",
        "--core-network-policy",
        OVERLAY_CORE,
    ]);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    assert!(text(&ok).contains("quarantine=blocked places an attachment in blocked (rule 10)"));

    // The seed's core network has no overlay rule: cwq's tag would change nothing.
    let out = cwq(&[
        "policy",
        "check",
        "--policy",
        "policy/default.toml",
        "--core-network-policy",
        SEED_CORE,
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["ok"], false);
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("quarantine=blocked")),
        "{report}"
    );
    let out = cwq(&[
        "policy",
        "check",
        "--policy",
        "policy/seed-compatible.toml",
        "--core-network-policy",
        SEED_CORE,
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));

    let missing = policy_variant("policy/default.toml", "missing", |p| {
        p.replace("segment = \"inspected\"", "segment = \"quarantinezone\"")
            .replace("ladder = [\"hub\",", "ladder = [\"hub\", \"quarantinezone\",")
    });
    let out = cwq(&[
        "policy",
        "check",
        "--policy",
        &missing,
        "--core-network-policy",
        OVERLAY_CORE,
    ]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("segment quarantinezone (named by"),
        "{}",
        text(&out)
    );

    let malformed = policy_variant("policy/default.toml", "malformed", |_| "ladder = [".into());
    let out = cwq(&[
        "policy",
        "check",
        "--policy",
        &malformed,
        "--core-network-policy",
        OVERLAY_CORE,
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    let out = cwq(&["policy", "check", "--policy", "policy/default.toml"]);
    assert_eq!(code(&out), 2, "needs a core network: {}", text(&out));

    // Operator verbs with --local and no local cloud: exit 1, no stack trace.
    let nowhere = std::env::temp_dir().join(format!("cwq-no-cloud-{}", std::process::id()));
    for verb in [
        &["status"][..],
        &["show", "vpc-0123"],
        &["release", "vpc-0123", "--reason", "x", "--yes"],
    ] {
        let mut args = verb.to_vec();
        args.extend(["--local", "--state-dir", nowhere.to_str().unwrap()]);
        let out = cwq(&args);
        assert_eq!(code(&out), 1, "{verb:?}: {}", text(&out));
        assert!(
            text(&out).contains("the local cloud is not running"),
            "{}",
            text(&out)
        );
        assert!(!text(&out).contains("panicked"), "{}", text(&out));
    }
}
