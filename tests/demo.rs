//! `cwq demo`, the README's main job, end to end: it must exit 0, move both VPCs to their
//! segments, release the expired one, contain the attack sequence as one incident, say so in
//! words, and leave nothing running.

#![allow(clippy::unwrap_used)]

mod common;

use common::{cwq, text};

#[test]
fn the_demo_contains_both_vpcs_releases_the_expired_one_and_stops_everything() {
    let binaries = std::path::Path::new(env!("CARGO_BIN_EXE_cwq")).parent().unwrap();
    let out = cwq(&[
        "demo",
        "--no-build",
        "--binary-dir",
        binaries.to_str().unwrap(),
        "--hold",
        "15s",
    ]);
    let report = text(&out);
    assert!(out.status.success(), "{report}");

    let line = |prefix: &str| {
        report
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting {prefix:?}:\n{report}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    // The before/after table: payments hub → blocked, analytics hub → inspected, tools untouched.
    let sections: Vec<&str> = report.split("\n== ").collect();
    let after = sections.iter().find(|s| s.starts_with("6.")).unwrap();
    let row = |name: &str| {
        after
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{after}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(row("payments")[3..6], ["hub", "blocked", "moved"]);
    assert_eq!(row("analytics")[3..6], ["hub", "inspected", "moved"]);
    assert_eq!(row("tools")[3..6], ["shared", "shared", "unchanged"]);

    // Evidence and the journal.
    let snapshots = sections.iter().find(|s| s.starts_with("7.")).unwrap();
    assert_eq!(snapshots.matches("snap-").count(), 2, "{snapshots}");
    for step in [
        "FindingReceived",
        "Decided",
        "DemandAdded",
        "Tagged",
        "Snapshotted",
        "Converged",
        "Quarantine Applied",
    ] {
        assert!(report.contains(step), "{step} missing:\n{report}");
    }

    // The expiry: analytics is back in hub with cwq's tag gone; payments still blocked.
    let release = sections.iter().find(|s| s.starts_with("9.")).unwrap();
    assert!(release.contains("journal RELEASED"), "{release}");
    let now = |name: &str| {
        release
            .lines()
            .find(|l| l.starts_with(name) && l.split_whitespace().nth(1) == Some("hub"))
            .unwrap_or_else(|| panic!("{name} row missing:\n{release}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(now("analytics")[1..], ["hub", "inspected", "hub"]);
    assert_eq!(
        now("payments")[1..],
        ["hub", "blocked", "blocked", "quarantine=blocked"]
    );
    assert!(
        release.contains("DemandsRemoved") && release.contains("verified in hub"),
        "{release}"
    );

    // The attack sequence: two accounts and Regions, one execution, one decision, two verified
    // moves, one outcome naming both VPCs.
    let sequence = sections.iter().find(|s| s.starts_with("10.")).unwrap();
    let vpc_of = |name: &str| {
        sequence
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("vpc-")))
            .unwrap_or_else(|| panic!("{name} missing:\n{sequence}"))
            .to_string()
    };
    let (east, west) = (vpc_of("web-east"), vpc_of("web-west"));
    assert!(
        sequence.contains("222222222222 us-east-1") && sequence.contains("333333333333 eu-west-1"),
        "{sequence}"
    );
    assert!(sequence.contains("sequence   execution  SUCCEEDED"), "{sequence}");
    assert_eq!(sequence.matches("FindingReceived").count(), 1, "{sequence}");
    assert_eq!(sequence.matches("Converged").count(), 2, "{sequence}");
    let outcome = sequence
        .lines()
        .find(|l| l.contains("Outcome"))
        .unwrap_or_else(|| panic!("{sequence}"));
    assert!(
        outcome.contains("Quarantine Applied") && outcome.contains(&east) && outcome.contains(&west),
        "{outcome}"
    );

    // Nothing left running: the port is free again.
    let up = line("Up at");
    let port: u16 = up[2].trim_start_matches("http://127.0.0.1:").parse().unwrap();
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "port {port} still bound"
    );
    assert!(report.contains("nothing is left running"), "{report}");
}
