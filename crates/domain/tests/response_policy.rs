//! The shipped response policies load; a broken one reports every problem with its place.

#![allow(clippy::unwrap_used)] // a test that cannot read its input should stop there

mod common;

use common::read;
use cwq_domain::finding::Severity;
use cwq_domain::response_policy::{Hold, OverrideAction, PolicyError, ResponsePolicy, TagMode};
use std::time::Duration;

const HOUR: u64 = 3600;

fn load(path: &str) -> ResponsePolicy {
    ResponsePolicy::from_toml(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn band_target(policy: &ResponsePolicy, severity: f64) -> Option<(String, Hold)> {
    let band = policy.band_for(Severity::new(severity).unwrap()).unwrap();
    band.response.as_ref().map(|r| (r.segment.clone(), r.hold))
}

#[test]
fn default_policy() {
    let p = load("policy/default.toml");
    assert_eq!(p.ladder, ["hub", "inspected", "onlyshared", "blocked"]);
    assert_eq!(p.tags.mode, TagMode::Overlay);
    assert_eq!(p.tags.key, "quarantine");
    assert!(!p.dry_run);
    assert!(!p.findings.act_on_samples && !p.findings.act_on_archived);
    assert_eq!(band_target(&p, 1.0), None);
    assert_eq!(band_target(&p, 3.9), None);
    assert_eq!(
        band_target(&p, 4.0),
        Some(("inspected".into(), Hold::For(Duration::from_secs(4 * HOUR))))
    );
    assert_eq!(
        band_target(&p, 8.9),
        Some(("blocked".into(), Hold::For(Duration::from_secs(24 * HOUR))))
    );
    assert_eq!(band_target(&p, 9.0), Some(("blocked".into(), Hold::Manual)));
    assert_eq!(band_target(&p, 10.0), Some(("blocked".into(), Hold::Manual)));
    let crypto = &p.overrides[0];
    for kind in [
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "Backdoor:EC2/C&CActivity.B",
        "Trojan:EC2/DropPoint",
    ] {
        assert!(
            crypto
                .pattern_matching(kind, cwq_domain::finding::ResourceRole::Target)
                .is_some(),
            "{kind}"
        );
    }
    assert!(matches!(&crypto.action, OverrideAction::AtLeast(r) if r.segment == "blocked"));
    assert_eq!(p.protected.tag.as_deref(), Some("cwq:protected"));
    let budget = p.budget.unwrap();
    assert_eq!((budget.max_moves, budget.max_moves_per_account), (10, Some(5)));
    assert_eq!(budget.window, Duration::from_secs(HOUR));
}

#[test]
fn seed_compatible_policy() {
    let p = load("policy/seed-compatible.toml");
    assert_eq!(p.tags.mode, TagMode::Rewrite);
    assert_eq!(p.tags.key, "domain");
    assert_eq!(band_target(&p, 2.0).unwrap().0, "inspected");
    assert_eq!(band_target(&p, 5.0).unwrap().0, "onlyshared");
    assert_eq!(band_target(&p, 8.0).unwrap().0, "blocked");
    assert_eq!(band_target(&p, 9.5), Some(("blocked".into(), Hold::Manual)));
}

#[test]
fn every_problem_is_reported_at_once_with_its_location() {
    let text = r#"
        ladder = ["hub", "blocked", "hub", "no-hyphens"]
        [tags]
        mode = "rewrite"
        [[bands]]
        name = "Low"
        from = 1.0
        to = 4.5
        segment = "quarantine"
        duration = "4h"
        [[bands]]
        name = "Medium"
        from = 4.0
        to = 7.0
        segment = "blocked"
        duration = "0s"
        [[bands]]
        name = "High"
        from = 7.5
        to = 9.9
        segment = "blocked"
        [[overrides]]
        types = ["Crypto[Currency]:*", ""]
        segment = "blocked"
        release = "never"
        [protected]
        vpcs = ["vpc-123"]
        attachments = ["attachment-xyz"]
        [budget]
        window = "soon"
        max_moves = 0
    "#;
    let PolicyError::Invalid(problems) = ResponsePolicy::from_toml(text).unwrap_err() else {
        panic!("expected the semantic problems");
    };
    let expected = [
        ("ladder[2]", "listed twice"),
        ("ladder[3]", "not a Cloud WAN segment name"),
        ("tags.key", "rewrite mode needs"),
        ("bands[0].segment", "\"quarantine\" is not on the ladder"),
        ("bands[1].duration", "zero length"),
        ("bands[2]", "say how long"),
        ("bands", "overlap on 4.0–4.5"),
        ("bands", "7.0–7.5 are in no band"),
        ("bands", "9.9–10.0 are in no band"),
        ("overrides[0].types[0]", "bad pattern"),
        ("overrides[0].types[1]", "empty"),
        ("overrides[0].release", "only release setting"),
        ("protected.vpcs[0]", "not a VPC id"),
        ("protected.attachments[0]", "not a Cloud WAN attachment id"),
        ("budget.window", "not a duration"),
        ("budget.max_moves", "dry_run"),
    ];
    for (location, words) in expected {
        assert!(
            problems
                .iter()
                .any(|p| p.location == location && p.message.contains(words)),
            "missing {location}: {words}\nall: {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
}

#[test]
fn unknown_settings_and_bad_toml_are_syntax_errors() {
    let base = read("policy/default.toml");
    let typo = base.replace("dry_run = false", "dryrun = false");
    let err = ResponsePolicy::from_toml(&typo).unwrap_err();
    assert!(matches!(err, PolicyError::Syntax(_)), "{err}");
    assert!(err.to_string().contains("dryrun"), "{err}");

    let err = ResponsePolicy::from_toml("ladder = [").unwrap_err();
    assert!(matches!(err, PolicyError::Syntax(_)), "{err}");
    assert!(err.to_string().contains("line 1"), "{err}");

    let wrong_type = base.replace("max_moves = 10", "max_moves = \"ten\"");
    assert!(matches!(
        ResponsePolicy::from_toml(&wrong_type).unwrap_err(),
        PolicyError::Syntax(_)
    ));
}

#[test]
fn a_band_without_a_segment_moves_nothing_and_needs_no_hold() {
    let text = read("policy/default.toml").replace(
        "name = \"Low\"\nfrom = 1.0\nto = 4.0\n",
        "name = \"Low\"\nfrom = 1.0\nto = 4.0\nduration = \"1h\"\n",
    );
    let err = ResponsePolicy::from_toml(&text).unwrap_err();
    assert!(
        err.to_string()
            .contains("bands[0]: `duration` and `release` need a `segment`"),
        "{err}"
    );
}

#[test]
fn the_scoped_example_loads_and_a_broken_scope_rule_is_reported_at_its_place() {
    let scoped = load("examples/scoped-policy.toml");
    let names: Vec<&str> = scoped.scopes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "production accounts: dry run for Medium",
            "sandbox: contain everything High and above",
            "ap-southeast-2 belongs to the lab",
            "security tooling OU"
        ]
    );
    assert!(scoped.names_organizational_units());
    assert!(!load("policy/default.toml").names_organizational_units());

    let broken = read("policy/default.toml").replace(
        "[protected]",
        r#"[[scopes]]
name = "x"
accounts = ["12345"]
organizational_units = ["ou-AB-1"]
vpcs = ["vpc-nothex!"]
kinds = ["S3Bucket"]
bands = ["Severe"]
action = "ignore"
segment = "blocked"

[[scopes]]
name = "x"
action = "contain"
segment = "nowhere"
duration = "1h"

[protected]"#,
    );
    let Err(PolicyError::Invalid(problems)) = ResponsePolicy::from_toml(&broken) else {
        panic!("a broken scope rule is refused");
    };
    let at: Vec<&str> = problems.iter().map(|p| p.location.as_str()).collect();
    for place in [
        "scopes[0].accounts[0]",
        "scopes[0].organizational_units[0]",
        "scopes[0].vpcs[0]",
        "scopes[0].kinds[0]",
        "scopes[0].bands[0]",
        "scopes[0]",
        "scopes[1].name",
    ] {
        assert!(at.contains(&place), "{place} not in {at:?}");
    }
    assert!(
        at.iter()
            .any(|a| a.starts_with("scopes[1]") && *a != "scopes[1].name"),
        "{at:?}"
    );
}

#[test]
fn a_scope_rule_covered_by_an_earlier_one_is_known() {
    let policy = |rules: &str| {
        ResponsePolicy::from_toml(
            &read("policy/default.toml").replace("[protected]", &format!("{rules}\n[protected]")),
        )
        .unwrap()
    };
    let p = policy(
        r#"[[scopes]]
name = "prod"
accounts = ["111111111111", "222222222222"]
action = "dry_run"

[[scopes]]
name = "prod medium"
accounts = ["222222222222"]
bands = ["Medium"]
action = "ignore"

[[scopes]]
name = "other medium"
accounts = ["333333333333"]
bands = ["Medium"]
action = "ignore"
"#,
    );
    assert!(p.scopes[1].is_covered_by(&p.scopes[0]));
    assert!(!p.scopes[2].is_covered_by(&p.scopes[0]));
    assert!(
        !p.scopes[0].is_covered_by(&p.scopes[1]),
        "the later rule is narrower"
    );
}
