//! Every core network policy fixture parses, and its evaluation matches expectations worked
//! out by hand from the documents (docs/aws-behaviour.md), not from the evaluator.

#![allow(clippy::unwrap_used)] // a test that cannot read its input should stop there

mod common;

use common::fixture;
use cwq_domain::cloudwan::{
    Attachment, CoreNetworkPolicy, CoreNetworkPolicyError, EvaluationOptions, Placement, PolicyVersion,
    UnknownSegment,
};
use std::collections::BTreeMap;

fn policy(name: &str) -> CoreNetworkPolicy {
    CoreNetworkPolicy::from_json(&fixture(&format!("cloudwan/{name}")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn attachment(kind: &str, account: &str, region: &str, resource: &str, tags: &[(&str, &str)]) -> Attachment {
    Attachment {
        attachment_type: kind.into(),
        owner_account: account.into(),
        edge_location: region.into(),
        resource_id: resource.into(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn vpc(tags: &[(&str, &str)]) -> Attachment {
    attachment("vpc", "222222222222", "us-east-1", "vpc-0a1b2c3d4e5f60001", tags)
}

fn place(policy: &CoreNetworkPolicy, attachment: &Attachment) -> Placement {
    policy
        .evaluate(attachment, EvaluationOptions::default())
        .placement
}

fn segment(name: &str, rule_number: u32, acceptance_required: bool) -> Placement {
    Placement::Segment {
        segment: name.into(),
        rule_number,
        acceptance_required,
    }
}

fn unassociated(placement: &Placement) -> bool {
    matches!(placement, Placement::Unassociated { .. })
}

#[test]
fn seed_policy_nis342() {
    let p = policy("nis342-guardduty-quarantine-segments.json");
    assert_eq!(p.version, PolicyVersion::V2021_12);
    let names: Vec<&str> = p.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "hub",
            "inspected",
            "onlyshared",
            "blocked",
            "shared",
            "inspectionireland",
            "inspectionnvirginia",
            "inspectionohio"
        ]
    );
    // No domain tag: rule 100 needs it, rule 200 takes every VPC to hub.
    assert_eq!(place(&p, &vpc(&[])), segment("hub", 200, false));
    // The seed's quarantine: domain=<segment>.
    for target in ["inspected", "onlyshared", "blocked"] {
        assert_eq!(
            place(&p, &vpc(&[("domain", target)])),
            segment(target, 100, false)
        );
    }
    // A misspelt segment falls through to rule 200 by default, or stays unassociated.
    assert_eq!(
        place(&p, &vpc(&[("domain", "blokced")])),
        segment("hub", 200, false)
    );
    let strict = EvaluationOptions {
        unknown_segment: UnknownSegment::Unassociated,
    };
    assert!(unassociated(
        &p.evaluate(&vpc(&[("domain", "blokced")]), strict).placement
    ));
    // Not a VPC and no tag: nothing matches, and the reason names both rules.
    let vpn = attachment("site-to-site-vpn", "222222222222", "us-east-1", "vpn-1", &[]);
    match place(&p, &vpn) {
        Placement::Unassociated { reason } => {
            assert!(
                reason.contains("rule 100") && reason.contains("rule 200"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn blueprints_simple_architecture() {
    let p = policy("blueprints-simple-architecture.json");
    assert_eq!(
        place(&p, &vpc(&[("domain", "production")])),
        segment("production", 100, false)
    );
    assert_eq!(
        place(&p, &vpc(&[("domain", "development")])),
        segment("development", 100, false)
    );
    // "sharedservice" is no segment: rule 100 falls through to rule 200's constant "shared".
    assert_eq!(
        place(&p, &vpc(&[("domain", "sharedservice")])),
        segment("shared", 200, false)
    );
    // Rule 100 is an AND with attachment-type vpc.
    let connect = attachment(
        "connect",
        "222222222222",
        "us-east-1",
        "x",
        &[("domain", "production")],
    );
    assert!(unassociated(&place(&p, &connect)));
    assert!(unassociated(&place(&p, &vpc(&[]))));
}

#[test]
fn blueprints_multi_account() {
    let p = policy("blueprints-multi-account.json");
    let in_account = attachment(
        "vpc",
        "225963075789",
        "us-east-1",
        "vpc-1",
        &[("domain", "production")],
    );
    assert_eq!(place(&p, &in_account), segment("production", 100, false));
    let other_account = attachment(
        "vpc",
        "111111111111",
        "us-east-1",
        "vpc-1",
        &[("domain", "production")],
    );
    assert!(unassociated(&place(&p, &other_account)));
}

#[test]
fn traffic_inspection_network_function_group() {
    let p = policy("traffic-inspection-centralized-outbound.json");
    assert_eq!(
        place(&p, &vpc(&[("inspection", "true"), ("domain", "production")])),
        Placement::NetworkFunctionGroup {
            name: "inspectionVpcs".into(),
            rule_number: 100
        }
    );
    assert_eq!(
        place(&p, &vpc(&[("inspection", "false"), ("domain", "production")])),
        segment("production", 200, false)
    );
}

#[test]
fn aws_ia_reference_global_network_acceptance() {
    let p = policy("aws-ia-reference-global-network.json");
    assert_eq!(
        place(&p, &vpc(&[("env", "shared")])),
        segment("shared", 100, false)
    );
    // prod says require-attachment-acceptance: true.
    assert_eq!(place(&p, &vpc(&[("env", "prod")])), segment("prod", 200, true));
    assert!(unassociated(&place(&p, &vpc(&[("env", "dev")]))));
}

#[test]
fn terraform_provider_document_rule_order_and_operators() {
    let p = policy("tfprovider-policy-document-basic-expected.json");
    // The file lists rule 72 before 71; evaluation goes by number.
    let numbers: Vec<u32> = p.attachment_policies.iter().map(|r| r.rule_number).collect();
    assert_eq!(numbers, [1, 64, 71, 72]);

    // Rule 1 (and): resource-id != one, region eu-west-1, connect, account contains "one",
    // tag-a exists, tag-b contains "one"; its segment comes from the tag `segment`.
    let all = attachment(
        "connect",
        "someone",
        "eu-west-1",
        "r-2",
        &[("tag-a", ""), ("tag-b", "xoney"), ("segment", "b")],
    );
    assert_eq!(place(&p, &all), segment("b", 1, true));
    // The same without `segment`: rule 1 cannot take a segment, rule 64 (or) matches and
    // its require-acceptance forces acceptance.
    let no_segment_tag = attachment(
        "connect",
        "someone",
        "eu-west-1",
        "r-2",
        &[("tag-a", ""), ("tag-b", "xoney")],
    );
    assert_eq!(
        place(&p, &no_segment_tag),
        segment("GoodSegmentSpecification", 64, true)
    );
    // Resource "one", us-east-1, connect, no tags, account without "one": every condition of
    // rule 64 fails, rule 71 wants eu-west-1, rule 72 matches anything.
    let nothing = attachment("connect", "123456789012", "us-east-1", "one", &[]);
    assert_eq!(place(&p, &nothing), segment("GoodSegmentSpecification", 72, true));
    // Rule 71 (region eu-west-1) never decides: rule 64 has the same condition among its
    // or-conditions and comes first.
    let ireland = attachment("site-to-site-vpn", "123456789012", "eu-west-1", "one", &[]);
    assert_eq!(place(&p, &ireland), segment("GoodSegmentSpecification", 64, true));
}

#[test]
fn every_fixture_policy_parses() {
    let index: serde_json::Value = serde_json::from_str(&fixture("INDEX.json")).unwrap();
    let entries = index["cloudwan"].as_array().unwrap();
    assert_eq!(entries.len(), 6);
    for entry in entries {
        let file = entry["file"].as_str().unwrap();
        let p = CoreNetworkPolicy::from_json(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let segments: Vec<&str> = entry["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let parsed: Vec<&str> = p.segments.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(parsed, segments, "{file}");
        assert_eq!(
            p.attachment_policies.len(),
            entry["attachment_rules"].as_array().unwrap().len(),
            "{file}"
        );
    }
}

#[test]
fn version_2025_11_with_account_condition_and_unknown_fields() {
    let doc = r#"{
      "version": "2025.11",
      "core-network-configuration": {"asn-ranges": ["64512-65534"], "edge-locations": [{"location": "us-east-1"}]},
      "segments": [{"name": "prod"}, {"name": "quarantine", "require-attachment-acceptance": false}],
      "routing-policies": [{"routing-policy-name": "x", "routing-policy-direction": "inbound"}],
      "attachment-policies": [
        {"rule-number": 5, "conditions": [{"type": "tag-name", "key": "x"}], "action": {"association-method": "constant", "segment": "prod"}},
        {"rule-number": 10, "condition-logic": "and",
         "conditions": [{"type": "account", "operator": "begins-with", "value": "2222"}, {"type": "tag-value", "key": "q", "operator": "equals", "value": "yes"}],
         "action": {"association-method": "constant", "segment": "quarantine", "future-field": 1}},
        {"rule-number": 20, "conditions": [{"type": "any"}], "action": {"association-method": "constant", "segment": "prod"}}
      ]
    }"#;
    let p = CoreNetworkPolicy::from_json(doc).unwrap();
    assert_eq!(p.version, PolicyVersion::V2025_11);
    assert_eq!(place(&p, &vpc(&[("q", "yes")])), segment("quarantine", 10, false));
    // prod has no require-attachment-acceptance: Cloud WAN's default is true.
    assert_eq!(place(&p, &vpc(&[("q", "no")])), segment("prod", 20, true));
    // The unsupported `tag-name` condition of rule 5 never matches, and says so.
    let evaluation = p.evaluate(&vpc(&[("x", "1")]), EvaluationOptions::default());
    assert!(
        evaluation.skipped[0].contains("tag-name"),
        "{:?}",
        evaluation.skipped
    );
}

#[test]
fn get_core_network_policy_output_is_accepted() {
    let document = fixture("cloudwan/nis342-guardduty-quarantine-segments.json");
    let response = serde_json::json!({"CoreNetworkPolicy": {
        "CoreNetworkId": "core-network-0a1b2c3d4e5f60718", "PolicyVersionId": 3, "Alias": "LIVE",
        "ChangeSetState": "EXECUTION_SUCCEEDED", "PolicyDocument": document}});
    let from_response = CoreNetworkPolicy::from_json(&response.to_string()).unwrap();
    assert_eq!(from_response, CoreNetworkPolicy::from_json(&document).unwrap());
}

#[test]
fn unusable_documents_are_named_errors() {
    let cases = [
        ("{", "not valid JSON"),
        (r#"{"version": "2019.01", "segments": []}"#, "version"),
        (r#"{"segments": []}"#, "version"),
        (
            r#"{"version": "2021.12", "attachment-policies": [{"rule-number": 1, "conditions": [{"type": "any"}, {"type": "any"}], "action": {"association-method": "constant", "segment": "a"}}]}"#,
            "condition-logic",
        ),
        (
            r#"{"version": "2021.12", "attachment-policies": [{"rule-number": 1, "conditions": [], "action": {"association-method": "constant", "segment": "a"}}]}"#,
            "no conditions",
        ),
        (
            r#"{"version": "2021.12", "attachment-policies": [{"rule-number": 1, "conditions": [{"type": "any"}], "action": {"association-method": "tag"}}]}"#,
            "tag-value-of-key",
        ),
        (
            r#"{"version": "2021.12", "attachment-policies": [{"rule-number": 1, "conditions": [{"type": "tag-value", "key": "k", "value": "v"}], "action": {"association-method": "tag", "tag-value-of-key": "k"}}]}"#,
            "operator",
        ),
        (
            r#"{"version": "2021.12", "attachment-policies": [{"rule-number": 1, "conditions": [{"type": "region", "operator": "matches", "value": "v"}], "action": {"association-method": "constant", "segment": "a"}}]}"#,
            "matches",
        ),
        (
            r#"{"version": "2021.12", "attachment-policies": [{"rule-number": 7, "conditions": [{"type": "any"}], "action": {"association-method": "constant", "segment": "a"}}, {"rule-number": 7, "conditions": [{"type": "any"}], "action": {"association-method": "constant", "segment": "a"}}]}"#,
            "used twice",
        ),
        (
            r#"{"version": "2021.12", "attachment-policies": [{"rule-number": 70000, "conditions": [{"type": "any"}], "action": {"association-method": "constant", "segment": "a"}}]}"#,
            "65535",
        ),
        (
            r#"{"CoreNetworkPolicy": {"PolicyDocument": {"version": "2021.12"}}}"#,
            "JSON string",
        ),
    ];
    for (doc, expected) in cases {
        let err = CoreNetworkPolicy::from_json(doc).unwrap_err();
        assert!(
            matches!(
                err,
                CoreNetworkPolicyError::MalformedJson(_) | CoreNetworkPolicyError::Invalid { .. }
            ),
            "{doc}"
        );
        assert!(err.to_string().contains(expected), "{doc}: {err}");
    }
}
