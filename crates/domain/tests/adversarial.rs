//! The adversarial corpus (fixtures/adversarial/corpus.jsonl, made by scripts/generate-corpus
//! from the real fixtures): every event is a named parse error, or a finding the decision
//! engine handles without panicking — and a protected VPC is never moved, whichever network
//! interface lists it. tests/reliability.rs sends the same corpus through the deployed pipeline.

#![allow(clippy::unwrap_used)]

mod common;

use common::{read, ERROR_NAMES};
use cwq_domain::cloudwan::{Attachment, CoreNetworkPolicy};
use cwq_domain::decision::{decide, BudgetUsage, NoAction, Outcome, Situation};
use cwq_domain::finding::parse_event;
use cwq_domain::response_policy::ResponsePolicy;
use serde_json::Value;

const SPOKE: &str = "vpc-0123456789abcdef0";
const PROTECTED: &str = "vpc-0fedcba9876543210";

/// The corpus with its placeholders filled in.
pub fn corpus() -> Vec<(String, String)> {
    read("fixtures/adversarial/corpus.jsonl")
        .lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).unwrap();
            let event = entry["event"]
                .to_string()
                .replace("{{SPOKE_VPC_PREFIX}}", &SPOKE[..SPOKE.len() - 3])
                .replace("{{SPOKE_VPC}}", SPOKE)
                .replace("{{PROTECTED_VPC}}", PROTECTED)
                .replace("{{INSTANCE}}", "i-0123456789abcdef0");
            (entry["name"].as_str().unwrap().to_string(), event)
        })
        .collect()
}

#[test]
fn every_adversarial_event_is_a_named_error_or_a_safe_decision() {
    let corpus = corpus();
    assert!(corpus.len() >= 200, "{} events", corpus.len());
    let policy_text = read("policy/default.toml").replace("vpcs = []", &format!("vpcs = [\"{PROTECTED}\"]"));
    let policy = ResponsePolicy::from_toml(&policy_text).unwrap();
    let core = CoreNetworkPolicy::from_json(&read("examples/core-network-policy.json")).unwrap();
    let (mut errors, mut decided) = (0, 0);
    for (name, event) in &corpus {
        let finding = match parse_event(event) {
            Err(error) => {
                assert!(
                    ERROR_NAMES.contains(&error.name()),
                    "{name}: unnamed error {error}"
                );
                errors += 1;
                continue;
            }
            Ok(finding) => finding,
        };
        for vpc in finding.vpc_ids() {
            // A sample's placeholder ids are allowed: samples are recognised and ignored.
            assert!(
                finding.sample || (vpc.starts_with("vpc-") && vpc.len() > 4),
                "{name}: {vpc:?} accepted"
            );
            let attachment = Attachment::vpc(
                "222222222222",
                "us-east-1",
                vpc,
                [("domain".into(), "hub".into())].into(),
            );
            let decision = decide(
                &Situation {
                    finding: &finding,
                    vpc_id: vpc,
                    attachment_id: "attachment-0123456789abcdef0",
                    attachment: &attachment,
                    current_segment: Some("hub"),
                    quarantine: None,
                    episode_open: false,
                    budget_used: BudgetUsage::default(),
                    account_ous: &[],
                    now: time::OffsetDateTime::now_utc(),
                },
                &policy,
                &core,
            );
            if vpc == PROTECTED {
                assert_eq!(
                    decision.no_action(),
                    Some(NoAction::Protected),
                    "{name}: {decision:?}"
                );
            }
            if matches!(decision.outcome, Outcome::Quarantine(_)) {
                assert_ne!(vpc, PROTECTED);
            }
            decided += 1;
        }
    }
    assert!(errors >= 100, "{errors} named errors");
    assert!(decided > 0, "some mutations stay valid findings");
}
