//! Hostile input never panics: arbitrary JSON and mutations of the real fixtures through the
//! finding parser; arbitrary text and mutations of the shipped policies through the loaders.
//! The evaluator is also checked against its definition: the first rule, by number, that
//! matches on its own decides.

#![allow(clippy::unwrap_used)] // a test that cannot read its input should stop there

mod common;

use common::{fixture, read, ERROR_NAMES};
use cwq_domain::cloudwan::{Attachment, CoreNetworkPolicy, EvaluationOptions, Placement};
use cwq_domain::finding::{is_aws_id, parse_event, parse_event_or_detail, Finding};
use cwq_domain::response_policy::ResponsePolicy;
use proptest::prelude::*;
use serde_json::{json, Value};

const FIXTURES: &[&str] = &[
    "ec2-backdoor-cc-dns-minimal.json",
    "ec2-backdoor-dos-tcp-actor.json",
    "ec2-canary-stateless-integtest.json",
    "ec2-cryptocurrency-bitcointool-b-dns.json",
    "ec2-rdp-bruteforce-real.json",
    "ec2-recon-portprobe-unprotectedport-real.json",
    "ec2-ssh-bruteforce.json",
    "ec2-torclient.json",
    "ec2-trojan-dgadomainrequest-b.json",
    "neg-accesskey-recon-maliciousipcaller-custom.json",
    "neg-s3-pentest-parrotlinux.json",
];

/// The fuzzing budget: 2,048 cases per property in the test suite (a few seconds);
/// `CWQ_FUZZ_CASES=200000 cargo test -p cwq-core --test robustness` for a long run.
fn fuzz_cases() -> u32 {
    std::env::var("CWQ_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048)
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        Just(json!("vpc-")),
        Just(json!("Instance")),
        Just(json!("x".repeat(100_000))),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    ".{0,12}",
                    Just("detail".to_string()),
                    Just("resource".to_string()),
                    Just("severity".to_string()),
                    Just("vpcId".to_string()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer in `value`.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            let child = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            out.push(child.clone());
            pointers(v, child, out);
        }),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| {
            let child = format!("{at}/{i}");
            out.push(child.clone());
            pointers(v, child, out);
        }),
        _ => {}
    }
}

fn mutate(mut value: Value, pick: usize, replacement: Option<Value>) -> Value {
    let mut all = Vec::new();
    pointers(&value, String::new(), &mut all);
    let Some(pointer) = all.get(pick % all.len().max(1)) else {
        return value;
    };
    let (parent, key) = pointer.rsplit_once('/').unwrap_or_default();
    let key = key.replace("~1", "/").replace("~0", "~");
    if let Some(parent) = value.pointer_mut(parent) {
        match (parent, replacement) {
            (Value::Object(map), None) => {
                map.remove(&key);
            }
            (Value::Object(map), Some(new)) => {
                map.insert(key, new);
            }
            (Value::Array(items), new) => {
                let i: usize = key.parse().unwrap_or(0);
                if i < items.len() {
                    match new {
                        Some(new) => items[i] = new,
                        None => {
                            items.remove(i);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    value
}

/// What holds for any finding the parser accepts.
fn check_accepted(f: &Finding) -> Result<(), TestCaseError> {
    let s = f.severity.value();
    prop_assert!((1.0..=10.0).contains(&s));
    for (_, instance_id) in f.instances() {
        prop_assert!(is_aws_id(instance_id, "i-") || f.sample, "{instance_id}");
    }
    prop_assert!(f.workloads.iter().any(|w| w.target.is_networked()));
    let vpcs = f.vpc_ids();
    for vpc in &vpcs {
        prop_assert!(
            is_aws_id(vpc, "vpc-") || (f.sample && vpc.starts_with("GeneratedFinding")),
            "{vpc}"
        );
    }
    let mut unique = vpcs.clone();
    unique.sort_unstable();
    unique.dedup();
    prop_assert_eq!(unique.len(), vpcs.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(fuzz_cases()))]

    #[test]
    fn arbitrary_json_never_panics(value in arb_json()) {
        for result in [parse_event(&value.to_string()), parse_event_or_detail(&value.to_string())] {
            match result {
                Ok(f) => check_accepted(&f)?,
                Err(e) => prop_assert!(ERROR_NAMES.contains(&e.name()), "{e:?}"),
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let looks_like_an_object = text.trim_start().starts_with('{');
        prop_assert!(parse_event_or_detail(&text).is_err() || looks_like_an_object, "{}", text);
        let _ = ResponsePolicy::from_toml(&text);
        let _ = CoreNetworkPolicy::from_json(&text);
    }

    #[test]
    fn mutated_fixtures_parse_or_fail_by_name(
        file in 0..FIXTURES.len(),
        pick in any::<usize>(),
        replacement in proptest::option::of(arb_json()),
    ) {
        let original: Value = serde_json::from_str(&fixture(&format!("guardduty/{}", FIXTURES[file]))).unwrap();
        let mutated = mutate(original, pick, replacement);
        match parse_event_or_detail(&mutated.to_string()) {
            Ok(f) => check_accepted(&f)?,
            Err(e) => prop_assert!(ERROR_NAMES.contains(&e.name()), "{e:?}"),
        }
    }

    #[test]
    fn mutated_policies_load_or_fail_cleanly(line in any::<usize>(), junk in ".{0,30}", seed in any::<bool>()) {
        let path = if seed { "policy/seed-compatible.toml" } else { "policy/default.toml" };
        let mut lines: Vec<String> = read(path).lines().map(str::to_string).collect();
        let i = line % lines.len();
        lines[i] = junk;
        if let Err(e) = ResponsePolicy::from_toml(&lines.join("\n")) {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

// ---- the evaluator's first-match semantics ----------------------------------------------

const KEYS: &[&str] = &["domain", "quarantine", "env"];
const VALUES: &[&str] = &["hub", "blocked", "prod", "nosuchsegment", "blo"];

fn arb_condition() -> impl Strategy<Value = Value> {
    let op = prop_oneof![
        Just("equals"),
        Just("not-equals"),
        Just("contains"),
        Just("begins-with")
    ];
    prop_oneof![
        Just(json!({"type": "any"})),
        (0..KEYS.len()).prop_map(|k| json!({"type": "tag-exists", "key": KEYS[k]})),
        (0..KEYS.len(), op.clone(), 0..VALUES.len()).prop_map(
            |(k, op, v)| json!({"type": "tag-value", "key": KEYS[k], "operator": op, "value": VALUES[v]})
        ),
        (op.clone(), prop_oneof![Just("vpc"), Just("connect")])
            .prop_map(|(op, v)| json!({"type": "attachment-type", "operator": op, "value": v})),
        (op, prop_oneof![Just("us-east-1"), Just("eu")])
            .prop_map(|(op, v)| json!({"type": "region", "operator": op, "value": v})),
    ]
}

fn arb_rule() -> impl Strategy<Value = Value> {
    let action = prop_oneof![
        (0..VALUES.len()).prop_map(|v| json!({"association-method": "constant", "segment": VALUES[v]})),
        (0..KEYS.len()).prop_map(|k| json!({"association-method": "tag", "tag-value-of-key": KEYS[k]})),
        Just(json!({"add-to-network-function-group": "inspection"})),
    ];
    (1u32..=65535, prop::collection::vec(arb_condition(), 1..4), any::<bool>(), action).prop_map(
        |(number, conditions, and, action)| {
            json!({"rule-number": number, "condition-logic": if and { "and" } else { "or" }, "conditions": conditions, "action": action})
        },
    )
}

fn document(rules: &[Value]) -> String {
    json!({
        "version": "2021.12",
        "segments": [{"name": "hub"}, {"name": "blocked", "require-attachment-acceptance": false}, {"name": "prod"}],
        "attachment-policies": rules,
    })
    .to_string()
}

proptest! {
    #[test]
    fn the_first_rule_by_number_that_applies_decides(
        rules in prop::collection::btree_map(1u32..=65535, arb_rule(), 1..7),
        tags in prop::collection::btree_map(0..KEYS.len(), 0..VALUES.len(), 0..3),
        connect in any::<bool>(),
    ) {
        // Distinct rule numbers, listed in a scrambled order.
        let mut rules: Vec<Value> = rules.into_iter().map(|(n, mut r)| { r["rule-number"] = json!(n); r }).collect();
        rules.reverse();
        let policy = CoreNetworkPolicy::from_json(&document(&rules)).unwrap();
        let attachment = Attachment {
            attachment_type: if connect { "connect" } else { "vpc" }.into(),
            owner_account: "222222222222".into(),
            edge_location: "us-east-1".into(),
            resource_id: "vpc-11111111".into(),
            tags: tags.into_iter().map(|(k, v)| (KEYS[k].to_string(), VALUES[v].to_string())).collect(),
        };
        let options = EvaluationOptions::default();
        let whole = policy.evaluate(&attachment, options).placement;

        let mut by_number = rules.clone();
        by_number.sort_by_key(|r| r["rule-number"].as_u64());
        let first = by_number.iter().find_map(|rule| {
            let alone = CoreNetworkPolicy::from_json(&document(std::slice::from_ref(rule))).unwrap();
            match alone.evaluate(&attachment, options).placement {
                Placement::Unassociated { .. } => None,
                placement => Some(placement),
            }
        });
        match first {
            Some(expected) => prop_assert_eq!(whole, expected),
            None => prop_assert!(matches!(whole, Placement::Unassociated { .. }), "{whole:?}"),
        }
    }
}
