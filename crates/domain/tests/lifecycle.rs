//! The quarantine lifecycle with hand-written expectations: demands, the required segment,
//! the original recorded once, removal by name, and reconcile's next action for what Cloud WAN
//! shows (docs/lifecycle.md).

use cwq_domain::decision::Expiry;
use cwq_domain::lifecycle::{
    next_action, Action, AttachmentItem, AttachmentRef, Change, Demand, Drift, FailReason, Ladder, LiveState,
    Observed, Required, WaitReason, MARKER_KEY,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-12-01 00:00 UTC);

struct Steps;

impl Ladder for Steps {
    fn rank(&self, segment: &str) -> Option<usize> {
        ["hub", "inspected", "onlyshared", "blocked"]
            .iter()
            .position(|s| *s == segment)
    }
}

fn item() -> AttachmentItem {
    let attachment = AttachmentRef {
        attachment_id: "attachment-0a1".into(),
        vpc_id: "vpc-0a1b2c3d".into(),
        owner_account: "222222222222".into(),
        core_network_id: "core-network-0a1b2c3d".into(),
        edge_location: "us-east-1".into(),
        partition: "aws".into(),
    };
    AttachmentItem::new(attachment, "quarantine", NOW)
}

fn demand(incident: &str, segment: &str, hours: Option<i64>) -> Demand {
    Demand {
        incident_id: incident.into(),
        segment: segment.into(),
        until: hours.map_or(Expiry::Manual, |h| Expiry::At(NOW + time::Duration::hours(h))),
        finding_id: incident.into(),
        finding_type: "Backdoor:EC2/C&CActivity.B".into(),
        severity: "8.0".into(),
        since: NOW,
        execution_arn: None,
        finding_arn: None,
    }
}

fn at(execution: &str) -> Change<'_, Steps> {
    Change {
        execution,
        now: NOW,
        ladder: &Steps,
    }
}

fn observed(state: LiveState, segment: &str, value: Option<&str>, marker: Option<&str>) -> Observed {
    Observed {
        state,
        segment: Some(segment.into()),
        tag_value: value.map(str::to_string),
        marker: marker.map(str::to_string),
    }
}

#[test]
fn the_strictest_demand_governs_and_a_longer_laxer_one_holds_after_it() {
    let mut item = item();
    assert!(item.add_demand(
        demand("high", "blocked", Some(24)),
        None,
        Some("hub".into()),
        at("q1")
    ));
    assert!(!item.add_demand(
        demand("medium", "inspected", Some(48)),
        Some("ignored".into()),
        None,
        at("q2")
    ));
    assert_eq!(
        item.required(&Steps),
        Required::Segment {
            segment: "blocked".into(),
            until: Expiry::At(NOW + time::Duration::hours(24))
        }
    );
    assert_eq!(item.required_segment.as_deref(), Some("blocked"));
    // The original was recorded once, by the first demand.
    assert_eq!(item.episode.as_ref().unwrap().original_value, None);

    // The High one expires: the Medium one holds, the VPC steps down instead of being released.
    let high = item.demand_of("high").unwrap().name();
    assert_eq!(item.remove_demands(&[high], at("expiry")).len(), 1);
    assert_eq!(
        item.required(&Steps),
        Required::Segment {
            segment: "inspected".into(),
            until: Expiry::At(NOW + time::Duration::hours(48))
        }
    );
    assert_eq!(item.last_removal_by("expiry").map(<[Demand]>::len), Some(1));
    assert_eq!(item.generation, 3);
}

#[test]
fn a_release_removes_only_what_it_names_as_named() {
    let mut item = item();
    item.add_demand(demand("a", "blocked", Some(24)), None, None, at("q1"));
    let named = item.demand_of("a").unwrap().name();
    // Extended since the release was asked for: the old name no longer matches.
    item.extend("blocked", Expiry::At(NOW + time::Duration::hours(30)));
    item.add_demand(demand("b", "inspected", Some(1)), None, None, at("q2"));
    assert!(item.remove_demands(&[named], at("old release")).is_empty());
    assert_eq!(item.demands.len(), 2);
    assert!(item.withdraw("b", at("q2")).is_some());
    assert_eq!(
        item.demands.len(),
        1,
        "compensation withdraws its own demand only"
    );
}

#[test]
fn with_no_demand_left_the_original_comes_back_and_the_episode_ends_when_verified() {
    let mut item = item();
    item.add_demand(
        demand("a", "blocked", Some(1)),
        Some("hub".into()),
        Some("hub".into()),
        at("q1"),
    );
    let name = item.demand_of("a").unwrap().name();
    item.remove_demands(&[name], at("release"));
    assert_eq!(
        item.required(&Steps),
        Required::Original {
            value: Some("hub".into())
        }
    );
    assert!(item.open_episode().is_some());
    item.mark_applied(Some("hub".into()), "release", NOW);
    assert!(item.open_episode().is_none());
    assert!(item.is_reconciled());
    // A closed episode still requires its original: a late change is undone.
    assert_eq!(
        item.required(&Steps),
        Required::Original {
            value: Some("hub".into())
        }
    );
    assert!(item.is_live(NOW + time::Duration::minutes(59)));
    assert!(!item.is_live(NOW + time::Duration::minutes(61)));
}

#[test]
fn a_new_episode_never_takes_cwqs_own_late_write_for_the_original() {
    let mut item = item();
    item.add_demand(demand("a", "blocked", Some(1)), None, None, at("q1"));
    let name = item.demand_of("a").unwrap().name();
    item.remove_demands(&[name], at("release"));
    item.mark_applied(Some("hub".into()), "release", NOW);
    let late: BTreeMap<String, String> = [
        ("quarantine", "blocked"),
        (MARKER_KEY, "blocked"),
        ("domain", "hub"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(item.original_for_new_episode(&late), None);
    let by_hand: BTreeMap<String, String> = [("quarantine".to_string(), "inspected".to_string())].into();
    assert_eq!(
        item.original_for_new_episode(&by_hand).as_deref(),
        Some("inspected")
    );
}

#[test]
fn reconcile_tags_waits_and_converges() {
    let mut item = item();
    item.add_demand(
        demand("a", "blocked", Some(1)),
        None,
        Some("hub".into()),
        at("q1"),
    );
    let required = item.required(&Steps);
    let act = |o: Observed| next_action(&item, &required, &o, &Steps, false, None);
    assert_eq!(
        act(observed(LiveState::Available, "hub", None, None)),
        Action::SetTag("blocked".into())
    );
    // Cloud WAN busy (the owner's own change): wait, do not tag into a ConflictException.
    assert_eq!(
        act(observed(LiveState::Busy, "hub", None, None)),
        Action::Wait(WaitReason::Busy)
    );
    assert_eq!(
        act(observed(LiveState::Busy, "hub", Some("blocked"), Some("blocked"))),
        Action::Wait(WaitReason::Busy)
    );
    assert_eq!(
        act(observed(
            LiveState::Available,
            "blocked",
            Some("blocked"),
            Some("blocked")
        )),
        Action::Converged {
            segment: Some("blocked".into()),
            drift: None
        }
    );
    assert_eq!(
        act(observed(LiveState::PendingTagAcceptance, "hub", None, None)),
        Action::Fail(FailReason::AcceptanceRefused)
    );
    assert_eq!(
        act(observed(LiveState::Gone, "hub", None, None)),
        Action::Fail(FailReason::AttachmentGone)
    );
}

#[test]
fn a_persons_value_is_never_a_way_out_and_a_stricter_one_is_left() {
    let mut item = item();
    item.add_demand(
        demand("a", "inspected", Some(1)),
        None,
        Some("hub".into()),
        at("q1"),
    );
    let required = item.required(&Steps);
    let act = |o: Observed| next_action(&item, &required, &o, &Steps, false, None);
    // Laxer by hand (or a compromised workload): containment is put back.
    assert_eq!(
        act(observed(
            LiveState::Available,
            "hub",
            Some("hub"),
            Some("inspected")
        )),
        Action::SetTag("inspected".into())
    );
    // A value on no ladder could place the attachment anywhere: overwritten too.
    assert_eq!(
        act(observed(
            LiveState::Available,
            "hub",
            Some("nowhere"),
            Some("inspected")
        )),
        Action::SetTag("inspected".into())
    );
    // Stricter by hand (the marker says cwq wrote something else): left, reported.
    assert_eq!(
        act(observed(
            LiveState::Available,
            "blocked",
            Some("blocked"),
            Some("inspected")
        )),
        Action::Converged {
            segment: Some("blocked".into()),
            drift: Some(Drift::StricterByHand {
                value: "blocked".into()
            })
        }
    );
    // Stricter, but cwq's own late write (the marker matches): put right.
    assert_eq!(
        act(observed(
            LiveState::Available,
            "blocked",
            Some("blocked"),
            Some("blocked")
        )),
        Action::SetTag("inspected".into())
    );
}

#[test]
fn release_restores_exactly_and_leaves_a_third_value() {
    let mut item = item();
    item.add_demand(
        demand("a", "blocked", Some(1)),
        None,
        Some("hub".into()),
        at("q1"),
    );
    let name = item.demand_of("a").unwrap().name();
    item.remove_demands(&[name], at("release"));
    let required = item.required(&Steps);
    let act = |o: Observed| next_action(&item, &required, &o, &Steps, false, Some("hub"));
    assert_eq!(
        act(observed(
            LiveState::Available,
            "blocked",
            Some("blocked"),
            Some("blocked")
        )),
        Action::RemoveTag
    );
    assert_eq!(
        act(observed(LiveState::Available, "hub", None, Some("blocked"))),
        Action::RemoveMarker
    );
    assert_eq!(
        act(observed(LiveState::Available, "hub", None, None)),
        Action::Converged {
            segment: Some("hub".into()),
            drift: None
        }
    );
    assert_eq!(
        act(observed(
            LiveState::Available,
            "onlyshared",
            Some("onlyshared"),
            Some("blocked")
        )),
        Action::RemoveMarker,
        "cwq's marker goes; the person's value stays"
    );
    assert_eq!(
        act(observed(
            LiveState::Available,
            "onlyshared",
            Some("onlyshared"),
            None
        )),
        Action::Converged {
            segment: Some("onlyshared".into()),
            drift: Some(Drift::ThirdValue {
                value: "onlyshared".into()
            })
        }
    );
}

fn arb_demand() -> impl Strategy<Value = Demand> {
    (0usize..4, proptest::option::of(1i64..100), 0u8..6).prop_map(|(segment, hours, incident)| {
        let segments = ["hub", "inspected", "onlyshared", "blocked"];
        demand(&format!("incident-{incident}"), segments[segment], hours)
    })
}

proptest! {
    /// Adding a demand never makes the required segment laxer.
    #[test]
    fn a_demand_never_lowers_what_is_required(demands in proptest::collection::vec(arb_demand(), 1..8), extra in arb_demand()) {
        let mut item = item();
        for d in demands {
            item.add_demand(d, None, None, at("q"));
        }
        let rank = |r: Required| match r {
            Required::Segment { segment, .. } => Steps.strictness(&segment),
            _ => 0,
        };
        let before = rank(item.required(&Steps));
        let fresh = !item.demands.iter().any(|d| d.incident_id == extra.incident_id);
        item.add_demand(extra, None, None, at("q"));
        if fresh {
            prop_assert!(rank(item.required(&Steps)) >= before);
        }
    }

    /// Removing demands by name removes exactly those, and the original never changes.
    #[test]
    fn removal_by_name_takes_nothing_else(demands in proptest::collection::vec(arb_demand(), 1..8), pick in any::<prop::sample::Index>()) {
        let mut item = item();
        for d in demands {
            item.add_demand(d, Some("hub".into()), None, at("q"));
        }
        let chosen = item.demands[pick.index(item.demands.len())].clone();
        let others: Vec<Demand> = item.demands.iter().filter(|d| **d != chosen).cloned().collect();
        let removed = item.remove_demands(&[chosen.name()], at("r"));
        prop_assert_eq!(removed, vec![chosen]);
        prop_assert_eq!(&item.demands, &others);
        prop_assert_eq!(item.episode.as_ref().unwrap().original_value.as_deref(), Some("hub"));
    }
}
