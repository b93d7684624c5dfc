//! `cwq simulate`, run as a user runs it: the real binary, the shipped policies, the seed's
//! core network policy and the examples.

#![allow(clippy::unwrap_used)] // a test that cannot read its input should stop there

use serde_json::Value;
use std::process::{Command, Output};

const SEED_CORE: &str = "fixtures/cloudwan/nis342-guardduty-quarantine-segments.json";
const OVERLAY_CORE: &str = "examples/core-network-policy.json";
const SEED_POLICY: &str = "policy/seed-compatible.toml";
const DEFAULT_POLICY: &str = "policy/default.toml";
const BITCOIN: &str = "examples/findings/bitcoin-tool-high.json";
const CALLER: &str = "examples/findings/malicious-ip-caller-medium.json";
const CRITICAL: &str = "examples/findings/metadata-dns-rebind-critical.json";

fn cwq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cwq"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cwq")
}

fn simulate_json(finding: &str, policy: &str, core: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "simulate",
        finding,
        "--policy",
        policy,
        "--core-network-policy",
        core,
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = cwq(&args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn seed_demonstration_with_the_seed_policy() {
    let bitcoin = simulate_json(BITCOIN, SEED_POLICY, SEED_CORE, &[]);
    assert_eq!(bitcoin["action"], "quarantine");
    assert_eq!(bitcoin["target_segment"], "blocked");
    assert_eq!(bitcoin["before_segment"], "hub");
    assert_eq!(bitcoin["after_segment"], "blocked");
    assert_eq!(bitcoin["after"]["rule_number"], 100);
    assert_eq!(bitcoin["tags_to_set"], serde_json::json!({"domain": "blocked"}));
    assert_eq!(bitcoin["release"], "automatic");

    let caller = simulate_json(CALLER, SEED_POLICY, SEED_CORE, &[]);
    assert_eq!(caller["action"], "quarantine");
    assert_eq!(caller["target_segment"], "onlyshared");
    assert_eq!(caller["finding"]["band"], "Medium");
}

#[test]
fn default_policy_in_overlay_mode() {
    let bitcoin = simulate_json(BITCOIN, DEFAULT_POLICY, OVERLAY_CORE, &[]);
    assert_eq!(bitcoin["target_segment"], "blocked");
    assert_eq!(bitcoin["after"]["rule_number"], 10);
    assert_eq!(
        bitcoin["tags_to_set"],
        serde_json::json!({"quarantine": "blocked"})
    );
    let fired = bitcoin["fired"].as_array().unwrap();
    assert!(
        fired
            .iter()
            .any(|f| f.as_str().unwrap().starts_with("override CryptoCurrency:*")),
        "{fired:?}"
    );

    let caller = simulate_json(CALLER, DEFAULT_POLICY, OVERLAY_CORE, &[]);
    assert_eq!(caller["target_segment"], "inspected");
    // The owner's own domain tag stays; the overlay rule 10 wins over rule 100.
    let tagged = simulate_json(
        CALLER,
        DEFAULT_POLICY,
        OVERLAY_CORE,
        &["--attachment-tags", "domain=hub,Name=app"],
    );
    assert_eq!(tagged["before"]["rule_number"], 100);
    assert_eq!(tagged["after_segment"], "inspected");
}

#[test]
fn severity_9_5_is_handled_with_no_automatic_release() {
    for (policy, core) in [(SEED_POLICY, SEED_CORE), (DEFAULT_POLICY, OVERLAY_CORE)] {
        let critical = simulate_json(CRITICAL, policy, core, &[]);
        assert_eq!(critical["action"], "quarantine", "{policy}");
        assert_eq!(critical["target_segment"], "blocked", "{policy}");
        assert_eq!(critical["release"], "manual", "{policy}");
        assert_eq!(critical["expires_at"], Value::Null, "{policy}");
        assert_eq!(critical["finding"]["band"], "Critical");
    }
}

#[test]
fn no_action_decisions_exit_0() {
    let s3 = simulate_json(
        "fixtures/guardduty/neg-s3-pentest-parrotlinux.json",
        DEFAULT_POLICY,
        OVERLAY_CORE,
        &[],
    );
    assert_eq!(s3["action"], "none");
    assert_eq!(s3["reason_code"], "NotApplicable");
    assert!(s3["reason"].as_str().unwrap().contains("S3Bucket"));

    let sample = simulate_json(
        "fixtures/guardduty/ec2-cryptocurrency-bitcointool-b-dns.json",
        DEFAULT_POLICY,
        OVERLAY_CORE,
        &[],
    );
    assert_eq!(sample["action"], "none");
    assert_eq!(sample["reason_code"], "IgnoredSample");

    // The owner keeps it in blocked: nothing for cwq to hold.
    let contained = simulate_json(
        CALLER,
        SEED_POLICY,
        SEED_CORE,
        &["--attachment-tags", "domain=blocked"],
    );
    assert_eq!(contained["reason_code"], "AlreadyContained");
    assert_eq!(contained["before_segment"], "blocked");
    assert_eq!(contained["after_segment"], "blocked");
    // Under cwq's own blocked quarantine the Medium finding's demand joins it and moves nothing.
    let joined = simulate_json(
        CALLER,
        SEED_POLICY,
        SEED_CORE,
        &[
            "--attachment-tags",
            "domain=blocked",
            "--quarantined-in",
            "blocked",
        ],
    );
    assert_eq!(joined["action"], "quarantine", "{joined}");
    assert_eq!(
        (joined["moves"].as_bool(), joined["new_episode"].as_bool()),
        (Some(false), Some(false))
    );

    // The default policy's overlay tag means nothing to the seed's core network policy.
    let violation = simulate_json(BITCOIN, DEFAULT_POLICY, SEED_CORE, &[]);
    assert_eq!(violation["reason_code"], "PolicyViolation");
}

#[test]
fn text_output_explains_the_decision() {
    let out = cwq(&[
        "simulate",
        BITCOIN,
        "--policy",
        SEED_POLICY,
        "--core-network-policy",
        SEED_CORE,
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "CryptoCurrency:EC2/BitcoinTool.B!DNS — severity 8.0 (High)",
        "QUARANTINE IN blocked",
        "band High [7.0, 9.0): blocked for 72h",
        "set domain=blocked (before: absent)",
        "before: segment hub (rule 200)",
        "after:  segment blocked (rule 100)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn invalid_input_exits_2_with_the_reason_on_stderr() {
    let dir = std::env::temp_dir().join(format!("cwq-simulate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{\"detail\": {").unwrap();
    let bad_vpc = dir.join("bad-vpc.json");
    let event = std::fs::read_to_string(format!("{}/{BITCOIN}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    std::fs::write(&bad_vpc, event.replace("vpc-0a1b2c3d4e5f60001", "")).unwrap();
    let bad_policy = dir.join("policy.toml");
    std::fs::write(
        &bad_policy,
        "ladder = []\n[tags]\nmode = \"overlay\"\n[[bands]]\nname = \"all\"\nfrom = 1.0\nto = 9.0\n",
    )
    .unwrap();

    let cases: [(Vec<&str>, &str); 6] = [
        (
            vec![
                "simulate",
                broken.to_str().unwrap(),
                "--policy",
                DEFAULT_POLICY,
                "--core-network-policy",
                OVERLAY_CORE,
            ],
            "MalformedJson",
        ),
        (
            vec![
                "simulate",
                bad_vpc.to_str().unwrap(),
                "--policy",
                DEFAULT_POLICY,
                "--core-network-policy",
                OVERLAY_CORE,
            ],
            "InvalidVpcId",
        ),
        (
            vec![
                "simulate",
                BITCOIN,
                "--policy",
                bad_policy.to_str().unwrap(),
                "--core-network-policy",
                OVERLAY_CORE,
            ],
            "9.0–10.0 are in no band",
        ),
        (
            vec![
                "simulate",
                BITCOIN,
                "--policy",
                DEFAULT_POLICY,
                "--core-network-policy",
                DEFAULT_POLICY,
            ],
            "not valid JSON",
        ),
        (
            vec![
                "simulate",
                "no/such/file.json",
                "--policy",
                DEFAULT_POLICY,
                "--core-network-policy",
                OVERLAY_CORE,
            ],
            "cannot read the finding",
        ),
        (
            vec![
                "simulate",
                BITCOIN,
                "--policy",
                DEFAULT_POLICY,
                "--core-network-policy",
                OVERLAY_CORE,
                "--vpc",
                "vpc-11111111",
            ],
            "not one of the finding's VPCs",
        ),
    ];
    for (args, expected) in cases {
        let out = cwq(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(out.stdout.is_empty(), "nothing on stdout for an error");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Some finding fields are chosen by an attacker: a terminal escape sequence in one is refused
/// with a named error, and the error shows it escaped, never obeyed by the operator's terminal.
#[test]
fn a_finding_carrying_a_terminal_escape_is_refused_and_shown_escaped() {
    let dir = std::env::temp_dir().join(format!("cwq-simulate-escape-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let event = std::fs::read_to_string(format!("{}/{BITCOIN}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let hostile = dir.join("escape.json");
    std::fs::write(
        &hostile,
        event.replace(
            "CryptoCurrency:EC2/BitcoinTool.B!DNS",
            "CryptoCurrency:EC2/X\\u001b]0;pwned\\u0007",
        ),
    )
    .unwrap();
    let out = cwq(&[
        "simulate",
        hostile.to_str().unwrap(),
        "--policy",
        DEFAULT_POLICY,
        "--core-network-policy",
        OVERLAY_CORE,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("InvalidFindingType"), "{stderr}");
    assert!(
        stderr.contains("\\u{1b}"),
        "the escape is shown escaped: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn help_documents_the_exit_codes() {
    let out = cwq(&["--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Exit codes:") && text.contains("2  invalid input"),
        "{text}"
    );
}

const SCOPED_POLICY: &str = "examples/scoped-policy.toml";

fn composed(name: &str) -> String {
    format!("fixtures/guardduty/composed-{name}.json")
}

/// Every kind of finding that names a workload in a VPC, each with what cwq must make of it,
/// written by hand from the fixture and policy/default.toml.
#[test]
fn every_kind_of_workload_finding_is_simulated() {
    // (fixture, kind, leg account, leg Region, VPC, segment, release)
    let cases = [
        (
            "attacksequence-ec2-compromisedinstancegroup",
            "AttackSequence",
            "222222222222",
            "us-east-1",
            "vpc-3a90fff2ef7eaab3b",
            "blocked",
            "manual",
        ),
        (
            "attacksequence-ecs-compromisedcluster",
            "AttackSequence",
            "222222222222",
            "us-east-1",
            "vpc-a47803c31ae5fa616",
            "blocked",
            "manual",
        ),
        (
            "runtime-eks-node",
            "EKSCluster",
            "444444444444",
            "eu-west-1",
            "vpc-ef041196e58517cfb",
            "blocked",
            "automatic",
        ),
        // The finding names the task only: its VPC is looked up at run time.
        (
            "runtime-ecs-fargate",
            "ECSCluster",
            "222222222222",
            "us-east-1",
            "vpc-unknown",
            "blocked",
            "automatic",
        ),
        (
            "lambda-network-in-vpc",
            "Lambda",
            "555555555555",
            "us-east-1",
            "vpc-f04530458d02fe07c",
            "blocked",
            "automatic",
        ),
    ];
    for (name, kind, account, region, vpc, segment, release) in cases {
        let out = simulate_json(&composed(name), DEFAULT_POLICY, OVERLAY_CORE, &[]);
        assert_eq!(out["action"], "quarantine", "{name}: {out:#}");
        assert_eq!(out["finding"]["kind"], kind, "{name}");
        assert_eq!(out["leg"]["account"], account, "{name}");
        assert_eq!(out["leg"]["region"], region, "{name}");
        assert_eq!(out["vpc_id"], vpc, "{name}");
        assert_eq!(out["target_segment"], segment, "{name}");
        assert_eq!(out["release"], release, "{name}");
    }
    // The attack sequence's other Region and account, by its VPC.
    let west = simulate_json(
        &composed("attacksequence-ec2-compromisedinstancegroup"),
        DEFAULT_POLICY,
        OVERLAY_CORE,
        &["--vpc", "vpc-21e43628f0abba89a"],
    );
    assert_eq!(
        west["leg"],
        serde_json::json!({"account": "333333333333", "region": "eu-west-1", "vpc_id": "vpc-21e43628f0abba89a"})
    );
    assert_eq!(
        west["finding"]["vpc_ids"],
        serde_json::json!([
            "vpc-3a90fff2ef7eaab3b",
            "vpc-21e43628f0abba89a",
            "vpc-60dd9de933d1fd7d5"
        ])
    );
    // A function outside any VPC: nothing network containment can do.
    let outside = simulate_json(&composed("lambda-not-in-vpc"), DEFAULT_POLICY, OVERLAY_CORE, &[]);
    assert_eq!(outside["reason_code"], "NotApplicable");
    assert!(
        outside["reason"].as_str().unwrap().contains("runs in no VPC"),
        "{outside}"
    );
}

#[test]
fn an_attacker_gets_no_button() {
    // An SSH brute force against the instance, even High: recorded, never moved.
    let dir = std::env::temp_dir().join(format!("cwq-simulate-button-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let event = std::fs::read_to_string(format!("{}/{BITCOIN}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut value: Value = serde_json::from_str(&event).unwrap();
    value["detail"]["type"] = "UnauthorizedAccess:EC2/SSHBruteForce".into();
    value["detail"]["service"]["resourceRole"] = "TARGET".into();
    let target = dir.join("target.json");
    std::fs::write(&target, value.to_string()).unwrap();
    let ignored = simulate_json(target.to_str().unwrap(), DEFAULT_POLICY, OVERLAY_CORE, &[]);
    assert_eq!(ignored["reason_code"], "IgnoredRole", "{ignored:#}");
    assert!(
        ignored["reason"].as_str().unwrap().contains("*BruteForce*"),
        "{ignored}"
    );
    // The same type with the instance as the ACTOR: it is brute-forcing others.
    value["detail"]["service"]["resourceRole"] = "ACTOR".into();
    std::fs::write(&target, value.to_string()).unwrap();
    let actor = simulate_json(target.to_str().unwrap(), DEFAULT_POLICY, OVERLAY_CORE, &[]);
    assert_eq!(actor["action"], "quarantine", "{actor:#}");
    // The policy may say otherwise.
    let policy = dir.join("buttons.toml");
    let text = std::fs::read_to_string(format!("{}/{DEFAULT_POLICY}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    std::fs::write(
        &policy,
        text.replace(
            r#"ignore_as_target = ["Recon:*", "*BruteForce*", "*PortProbe*"]"#,
            "ignore_as_target = []",
        ),
    )
    .unwrap();
    value["detail"]["service"]["resourceRole"] = "TARGET".into();
    std::fs::write(&target, value.to_string()).unwrap();
    let acted = simulate_json(
        target.to_str().unwrap(),
        policy.to_str().unwrap(),
        OVERLAY_CORE,
        &[],
    );
    assert_eq!(acted["action"], "quarantine", "{acted:#}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn scope_rules_say_which_rule_matched_and_why() {
    // A Medium finding in a production account: the first rule makes it a dry run.
    let production = simulate_json(CALLER, SCOPED_POLICY, OVERLAY_CORE, &[]);
    assert_eq!(production["reason_code"], "DryRun", "{production:#}");
    assert_eq!(
        production["scope_rule"],
        "scope \"production accounts: dry run for Medium\" (account 333333333333, band Medium): dry run"
    );
    assert!(
        production["reason"]
            .as_str()
            .unwrap()
            .starts_with("dry run (scope rule"),
        "{production}"
    );
    // High in the sandbox: the sandbox's response (manual release) instead of the band's 24 h.
    let sandbox = simulate_json(
        BITCOIN,
        SCOPED_POLICY,
        OVERLAY_CORE,
        &["--attachment-tags", "env=sandbox"],
    );
    assert_eq!(sandbox["action"], "quarantine", "{sandbox:#}");
    assert_eq!(sandbox["release"], "manual");
    assert_eq!(
        sandbox["scope_rule"],
        "scope \"sandbox: contain everything High and above\" (attachment tags env=sandbox, band High): contain in blocked until released by an operator"
    );
    // No rule matches: the bands as they are.
    let plain = simulate_json(BITCOIN, SCOPED_POLICY, OVERLAY_CORE, &[]);
    assert_eq!(plain["release"], "automatic");
    assert_eq!(plain["scope_rule"], Value::Null);
    // The lab's Region: ignored.
    let eks = simulate_json(&composed("runtime-eks-node"), SCOPED_POLICY, OVERLAY_CORE, &[]);
    assert_eq!(eks["scope_rule"], Value::Null, "eu-west-1 is not the lab's");
    // An account in the security tooling OU (as AWS Organizations would say): ignored.
    let tooling = simulate_json(
        BITCOIN,
        SCOPED_POLICY,
        OVERLAY_CORE,
        &["--account-ous", "ou-ab12-5ecur1ty,r-ab12"],
    );
    assert_eq!(tooling["reason_code"], "IgnoredByScope", "{tooling:#}");
    assert_eq!(
        tooling["scope_rule"],
        "scope \"security tooling OU\" (OU ou-ab12-5ecur1ty): ignore"
    );
}

#[test]
fn policy_check_reports_scope_rules_that_can_never_match() {
    let dir = std::env::temp_dir().join(format!("cwq-scopes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(format!("{}/{SCOPED_POLICY}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let shadowed = text.replace(
        "[protected]",
        "[[scopes]]\nname = \"never\"\naccounts = [\"333333333333\"]\nbands = [\"Medium\"]\ntypes = [\"Recon:*\"]\naction = \"ignore\"\n\n[protected]",
    );
    let policy = dir.join("shadowed.toml");
    std::fs::write(&policy, shadowed).unwrap();
    let out = cwq(&[
        "policy",
        "check",
        "--policy",
        policy.to_str().unwrap(),
        "--core-network-policy",
        OVERLAY_CORE,
    ]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("scope rule \"never\" can never match: the earlier rule \"production accounts: dry run for Medium\" matches every leg it would"),
        "{stdout}"
    );
    let good = cwq(&[
        "policy",
        "check",
        "--policy",
        SCOPED_POLICY,
        "--core-network-policy",
        OVERLAY_CORE,
    ]);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stdout));
    std::fs::remove_dir_all(&dir).ok();
}
