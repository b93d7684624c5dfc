//! The decision engine against hand-computed expectations, then its safety properties.

#![allow(clippy::unwrap_used)] // a test that cannot read its input should stop there

mod common;

use common::{fixture, read};
use cwq_domain::cloudwan::{Attachment, CoreNetworkPolicy, Placement};
use cwq_domain::decision::{decide, ActiveQuarantine, BudgetUsage, Decision, Expiry, NoAction, Situation};
use cwq_domain::finding::{
    parse_event_or_detail, Finding, ResourceKind, ResourceRole, Severity, Target, Workload,
};
use cwq_domain::response_policy::ResponsePolicy;
use proptest::prelude::*;
use std::collections::BTreeMap;
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-11-29 12:00:00 UTC);
const VPC: &str = "vpc-0a1b2c3d4e5f60001";
const ATTACHMENT: &str = "attachment-0123456789abcdef0";

fn default_policy() -> ResponsePolicy {
    ResponsePolicy::from_toml(&read("policy/default.toml")).unwrap()
}

fn seed_policy() -> ResponsePolicy {
    ResponsePolicy::from_toml(&read("policy/seed-compatible.toml")).unwrap()
}

fn overlay_core() -> CoreNetworkPolicy {
    CoreNetworkPolicy::from_json(&read("examples/core-network-policy.json")).unwrap()
}

fn seed_core() -> CoreNetworkPolicy {
    CoreNetworkPolicy::from_json(&fixture("cloudwan/nis342-guardduty-quarantine-segments.json")).unwrap()
}

fn finding(kind: &str, severity: f64) -> Finding {
    Finding {
        id: "5ec6a1b2c3d4e5f60718293a4b5c6d7e".into(),
        finding_type: kind.into(),
        severity: Severity::new(severity).unwrap(),
        account_id: Some("222222222222".into()),
        region: Some("us-east-1".into()),
        kind: ResourceKind::Instance,
        workloads: vec![Workload {
            account: "222222222222".into(),
            region: "us-east-1".into(),
            target: Target::Instance {
                instance_id: "i-02468ace13579bdf0".into(),
                vpc_ids: vec![VPC.into()],
            },
        }],
        resource_role: ResourceRole::Actor,
        count: Some(1),
        updated_at: None,
        title: None,
        sample: false,
        archived: false,
        arn: None,
    }
}

#[derive(Debug, Clone)]
struct Case {
    finding: Finding,
    tags: BTreeMap<String, String>,
    quarantine: Option<ActiveQuarantine>,
    budget: BudgetUsage,
}

impl Case {
    fn new(finding: Finding) -> Self {
        Self {
            finding,
            tags: BTreeMap::new(),
            quarantine: None,
            budget: BudgetUsage::default(),
        }
    }

    fn decide(&self, policy: &ResponsePolicy, core: &CoreNetworkPolicy) -> Decision {
        self.with_situation(core, |s| decide(s, policy, core))
    }

    fn with_situation<T>(&self, core: &CoreNetworkPolicy, then: impl FnOnce(&Situation<'_>) -> T) -> T {
        let attachment = Attachment::vpc("222222222222", "us-east-1", VPC, self.tags.clone());
        let current = core.evaluate(&attachment, Default::default()).placement;
        then(&Situation {
            finding: &self.finding,
            vpc_id: VPC,
            attachment_id: ATTACHMENT,
            attachment: &attachment,
            current_segment: current.segment(),
            quarantine: self.quarantine.as_ref(),
            episode_open: self.quarantine.is_some(),
            budget_used: self.budget,
            account_ous: &[],
            now: NOW,
        })
    }
}

fn target(decision: &Decision) -> Option<(&str, Expiry)> {
    decision.plan().map(|p| (p.target_segment.as_str(), p.expiry))
}

#[test]
fn the_seed_demonstration_in_rewrite_mode() {
    let (policy, core) = (seed_policy(), seed_core());
    let bitcoin = Case::new(finding("CryptoCurrency:EC2/BitcoinTool.B!DNS", 8.0)).decide(&policy, &core);
    assert_eq!(
        target(&bitcoin),
        Some(("blocked", Expiry::At(datetime!(2026-12-02 12:00:00 UTC))))
    );
    let plan = bitcoin.plan().unwrap();
    assert_eq!(
        plan.tags,
        BTreeMap::from([("domain".to_string(), "blocked".to_string())])
    );
    assert_eq!(
        plan.placement,
        Placement::Segment {
            segment: "blocked".into(),
            rule_number: 100,
            acceptance_required: false
        }
    );

    let caller =
        Case::new(finding("UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", 5.0)).decide(&policy, &core);
    assert_eq!(
        target(&caller),
        Some(("onlyshared", Expiry::At(datetime!(2026-11-30 12:00:00 UTC))))
    );
}

#[test]
fn the_default_policy_in_overlay_mode() {
    let (policy, core) = (default_policy(), overlay_core());
    let bitcoin = Case::new(finding("CryptoCurrency:EC2/BitcoinTool.B!DNS", 8.0)).decide(&policy, &core);
    assert_eq!(
        target(&bitcoin),
        Some(("blocked", Expiry::At(datetime!(2026-11-30 12:00:00 UTC))))
    );
    assert_eq!(
        bitcoin.plan().unwrap().tags,
        BTreeMap::from([("quarantine".to_string(), "blocked".to_string())])
    );
    assert_eq!(bitcoin.fired.len(), 2, "band and override: {:?}", bitcoin.fired);

    let caller =
        Case::new(finding("UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", 5.0)).decide(&policy, &core);
    assert_eq!(
        target(&caller),
        Some(("inspected", Expiry::At(datetime!(2026-11-29 16:00:00 UTC))))
    );

    // A Medium crypto finding is lifted to blocked by the override, for the override's 24h.
    let medium_crypto = Case::new(finding("CryptoCurrency:EC2/BitcoinTool.B", 5.0)).decide(&policy, &core);
    assert_eq!(
        target(&medium_crypto),
        Some(("blocked", Expiry::At(datetime!(2026-11-30 12:00:00 UTC))))
    );

    // Critical: blocked with no automatic expiry; with a crypto override, manual still wins.
    for kind in [
        "UnauthorizedAccess:EC2/MetadataDNSRebind",
        "CryptoCurrency:EC2/BitcoinTool.B",
    ] {
        let critical = Case::new(finding(kind, 9.5)).decide(&policy, &core);
        assert_eq!(target(&critical), Some(("blocked", Expiry::Manual)), "{kind}");
    }
    let low = Case::new(finding("Recon:EC2/Portscan", 2.0)).decide(&policy, &core);
    assert_eq!(low.no_action(), Some(NoAction::BelowThreshold));
}

#[test]
fn a_lower_finding_never_downgrades() {
    let (policy, core) = (seed_policy(), seed_core());
    let mut low = Case::new(finding("Recon:EC2/Portscan", 2.0));
    low.tags.insert("domain".into(), "blocked".into());
    low.quarantine = Some(ActiveQuarantine {
        segment: "blocked".into(),
        expiry: Expiry::At(datetime!(2026-11-30 12:00:00 UTC)),
    });
    // Under cwq's quarantine the Low finding (inspected in this policy) joins as a demand that
    // moves nothing: the strictest demand governs.
    let joined = low.decide(&policy, &core);
    assert_eq!(target(&joined).map(|t| t.0), Some("inspected"));
    assert!(!joined.plan().unwrap().moves);
    // Blocked by someone else (no cwq quarantine): nothing to do.
    low.quarantine = None;
    assert_eq!(
        low.decide(&policy, &core).no_action(),
        Some(NoAction::AlreadyContained)
    );
}

/// Under cwq's quarantine a finding's demand joins it: stricter, it moves the attachment;
/// otherwise it holds, and counts when the stricter demand ends. No budget is spent either way.
#[test]
fn a_stricter_or_longer_finding_escalates_or_joins() {
    let (policy, core) = (default_policy(), overlay_core());
    let mut case = Case::new(finding("UnauthorizedAccess:EC2/TorClient", 8.0));
    case.tags.insert("quarantine".into(), "inspected".into());
    case.quarantine = Some(ActiveQuarantine {
        segment: "inspected".into(),
        expiry: Expiry::At(datetime!(2026-11-29 16:00:00 UTC)),
    });
    let escalation = case.decide(&policy, &core);
    assert_eq!(target(&escalation).unwrap().0, "blocked");
    let plan = escalation.plan().unwrap();
    assert!(plan.moves && !plan.new_episode, "{plan:?}");

    // Already blocked for 24h; a Critical finding wants manual release: keep it, longer.
    case.tags.insert("quarantine".into(), "blocked".into());
    case.quarantine = Some(ActiveQuarantine {
        segment: "blocked".into(),
        expiry: Expiry::At(datetime!(2026-11-30 12:00:00 UTC)),
    });
    case.finding = finding("UnauthorizedAccess:EC2/MetadataDNSRebind", 9.5);
    let extension = case.decide(&policy, &core);
    assert_eq!(target(&extension), Some(("blocked", Expiry::Manual)));
    let plan = extension.plan().unwrap();
    assert!(!plan.moves && !plan.new_episode, "{plan:?}");

    // A Medium finding under the blocked quarantine: a demand for inspected that holds once
    // the High one ends (its hold is longer), without moving anything now.
    case.finding = finding("UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", 5.0);
    let medium = case.decide(&policy, &core);
    assert_eq!(target(&medium).unwrap().0, "inspected");
    assert!(!medium.plan().unwrap().moves);
}

#[test]
fn protected_sample_archived_and_role_are_not_moved() {
    let core = overlay_core();
    let mut policy = default_policy();
    policy.protected.vpcs.push(VPC.into());
    let crypto = finding("CryptoCurrency:EC2/BitcoinTool.B!DNS", 9.9);
    assert_eq!(
        Case::new(crypto.clone()).decide(&policy, &core).no_action(),
        Some(NoAction::Protected)
    );

    let mut policy = default_policy();
    policy.protected.attachments.push(ATTACHMENT.into());
    assert_eq!(
        Case::new(crypto.clone()).decide(&policy, &core).no_action(),
        Some(NoAction::Protected)
    );

    let policy = default_policy();
    let mut tagged = Case::new(crypto.clone());
    tagged
        .tags
        .insert("cwq:protected".into(), "inspection VPC".into());
    assert_eq!(
        tagged.decide(&policy, &core).no_action(),
        Some(NoAction::Protected)
    );

    let mut sample = crypto.clone();
    sample.sample = true;
    assert_eq!(
        Case::new(sample).decide(&policy, &core).no_action(),
        Some(NoAction::IgnoredSample)
    );
    let mut archived = crypto.clone();
    archived.archived = true;
    assert_eq!(
        Case::new(archived).decide(&policy, &core).no_action(),
        Some(NoAction::IgnoredArchived)
    );

    let mut actor_only = default_policy();
    actor_only.findings.act_on_target_role = false;
    let mut target_role = crypto.clone();
    target_role.resource_role = ResourceRole::Target;
    assert_eq!(
        Case::new(target_role).decide(&actor_only, &core).no_action(),
        Some(NoAction::IgnoredRole)
    );
    assert!(Case::new(crypto).decide(&actor_only, &core).plan().is_some());
}

#[test]
fn the_core_network_policy_must_place_the_attachment_in_the_target() {
    // The seed's core network policy has no rule for cwq's overlay tag: the default policy
    // would set quarantine=blocked and Cloud WAN would leave the VPC in hub.
    let decision = Case::new(finding("CryptoCurrency:EC2/BitcoinTool.B!DNS", 8.0))
        .decide(&default_policy(), &seed_core());
    assert_eq!(decision.no_action(), Some(NoAction::PolicyViolation));
    assert!(decision.reason.contains("segment hub"), "{}", decision.reason);

    // A target segment missing from the core network policy.
    let aws_ia =
        CoreNetworkPolicy::from_json(&fixture("cloudwan/aws-ia-reference-global-network.json")).unwrap();
    let decision =
        Case::new(finding("CryptoCurrency:EC2/BitcoinTool.B!DNS", 8.0)).decide(&seed_policy(), &aws_ia);
    assert_eq!(decision.no_action(), Some(NoAction::PolicyViolation));
    assert!(decision.reason.contains("does not exist"), "{}", decision.reason);
}

#[test]
fn budget_and_dry_run() {
    let (policy, core) = (default_policy(), overlay_core());
    let mut case = Case::new(finding("CryptoCurrency:EC2/BitcoinTool.B!DNS", 8.0));
    case.budget = BudgetUsage {
        overall: 10,
        account: 0,
    };
    assert_eq!(
        case.decide(&policy, &core).no_action(),
        Some(NoAction::BudgetExceeded)
    );
    case.budget = BudgetUsage {
        overall: 9,
        account: 5,
    };
    let per_account = case.decide(&policy, &core);
    assert_eq!(per_account.no_action(), Some(NoAction::BudgetExceeded));
    assert!(
        per_account.reason.contains("222222222222"),
        "{}",
        per_account.reason
    );
    case.budget = BudgetUsage {
        overall: 9,
        account: 4,
    };
    assert!(case.decide(&policy, &core).plan().is_some());

    let mut dry = default_policy();
    dry.dry_run = true;
    let decision = case.decide(&dry, &core);
    assert_eq!(decision.no_action(), Some(NoAction::DryRun));
    assert!(
        decision.reason.contains("would move") && decision.reason.contains("blocked"),
        "{}",
        decision.reason
    );
}

#[test]
fn suppressed_types_are_recorded_not_moved() {
    let text = read("policy/default.toml") + "\n[[overrides]]\ntypes = [\"Canary:*\"]\nsuppress = true\n";
    let policy = ResponsePolicy::from_toml(&text).unwrap();
    let canary = parse_event_or_detail(&fixture("guardduty/ec2-canary-stateless-integtest.json")).unwrap();
    let decision = Case::new(canary).decide(&policy, &overlay_core());
    assert_eq!(decision.no_action(), Some(NoAction::Suppressed));
}

// ---- properties -------------------------------------------------------------------------

const TYPES: &[&str] = &[
    "CryptoCurrency:EC2/BitcoinTool.B!DNS",
    "Backdoor:EC2/C&CActivity.B",
    "Trojan:EC2/DropPoint",
    "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom",
    "Recon:EC2/Portscan",
    "UnauthorizedAccess:EC2/SSHBruteForce",
];
const SEGMENTS: &[&str] = &["hub", "inspected", "onlyshared", "blocked"];

fn arb_finding() -> impl Strategy<Value = Finding> {
    (
        0..TYPES.len(),
        10u32..=100,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(kind, tenths, sample, archived, actor)| {
            let mut f = finding(TYPES[kind], f64::from(tenths) / 10.0);
            f.sample = sample;
            f.archived = archived;
            f.resource_role = if actor {
                ResourceRole::Actor
            } else {
                ResourceRole::Target
            };
            f
        })
}

fn arb_quarantine() -> impl Strategy<Value = Option<ActiveQuarantine>> {
    proptest::option::of(
        (1..SEGMENTS.len(), proptest::option::of(0i64..200)).prop_map(|(segment, hours)| ActiveQuarantine {
            segment: SEGMENTS[segment].into(),
            expiry: hours.map_or(Expiry::Manual, |h| Expiry::At(NOW + time::Duration::hours(h))),
        }),
    )
}

fn arb_case() -> impl Strategy<Value = (Case, bool)> {
    (arb_finding(), arb_quarantine(), 0u32..12, 0u32..6, any::<bool>()).prop_map(
        |(finding, quarantine, overall, account, seed)| {
            let mut case = Case::new(finding);
            if let Some(q) = &quarantine {
                let key = if seed { "domain" } else { "quarantine" };
                case.tags.insert(key.into(), q.segment.clone());
            }
            case.quarantine = quarantine;
            case.budget = BudgetUsage { overall, account };
            (case, seed)
        },
    )
}

fn policies(seed: bool) -> (ResponsePolicy, CoreNetworkPolicy) {
    if seed {
        (seed_policy(), seed_core())
    } else {
        (default_policy(), overlay_core())
    }
}

proptest! {
    #[test]
    fn never_downgrades((case, seed) in arb_case()) {
        let (policy, core) = policies(seed);
        let decision = case.decide(&policy, &core);
        // A demand under cwq's quarantine moves the attachment only to a stricter segment.
        if let (Some(plan), Some(q)) = (decision.plan(), &case.quarantine) {
            let (to, from) = (policy.rank(&plan.target_segment), policy.rank(&q.segment));
            prop_assert_eq!(plan.moves, to > from, "{:?} over {:?}", decision, q);
            prop_assert!(!plan.new_episode);
        }
    }

    #[test]
    fn protected_is_never_moved((case, seed) in arb_case(), how in 0..3) {
        let (mut policy, core) = policies(seed);
        let mut case = case;
        match how {
            0 => policy.protected.vpcs.push(VPC.into()),
            1 => policy.protected.attachments.push(ATTACHMENT.into()),
            _ => { case.tags.insert("cwq:protected".into(), String::new()); }
        }
        let decision = case.decide(&policy, &core);
        prop_assert!(decision.plan().is_none());
        prop_assert_eq!(decision.no_action(), Some(NoAction::Protected));
    }

    #[test]
    fn critical_is_always_handled((case, seed) in arb_case(), tenths in 90u32..=100) {
        let (policy, core) = policies(seed);
        let mut case = case;
        case.finding.severity = Severity::new(f64::from(tenths) / 10.0).unwrap();
        let decision = case.decide(&policy, &core);
        // Unless the workload is only the target of recon or brute force (no attacker button).
        let button = policy.findings.ignored_as_target(&case.finding.finding_type, case.finding.resource_role).is_some();
        match decision.no_action() {
            None => prop_assert_eq!(decision.plan().unwrap().expiry, Expiry::Manual),
            Some(NoAction::IgnoredRole) => prop_assert!(button, "{decision:?}"),
            Some(reason) => prop_assert!(
                matches!(reason, NoAction::AlreadyContained | NoAction::BudgetExceeded | NoAction::IgnoredSample | NoAction::IgnoredArchived),
                "{decision:?}"
            ),
        }
        // Only an attachment the owner already keeps in blocked, outside cwq's quarantines.
        if decision.no_action() == Some(NoAction::AlreadyContained) {
            prop_assert!(case.quarantine.is_none());
            prop_assert_eq!(case.tags.get("domain").or(case.tags.get("quarantine")).map(String::as_str), Some("blocked"));
        }
    }

    /// decide reads the budget only when the decision without it may spend it: that must
    /// give the decision the budget would have given.
    #[test]
    fn the_budget_changes_only_decisions_that_may_spend_it((case, seed) in arb_case(), dry_run in any::<bool>()) {
        let (mut policy, core) = policies(seed);
        policy.dry_run = dry_run;
        let with_budget = case.decide(&policy, &core);
        let mut unread = case.clone();
        unread.budget = BudgetUsage::default();
        let decision = unread.decide(&policy, &core);
        if !unread.with_situation(&core, |s| decision.may_spend_budget(s)) {
            let unread = decision;
            prop_assert_eq!(unread, with_budget);
        }
    }

    #[test]
    fn the_same_input_gives_the_same_decision((case, seed) in arb_case()) {
        let (policy, core) = policies(seed);
        prop_assert_eq!(case.decide(&policy, &core), case.decide(&policy, &core));
    }
}
