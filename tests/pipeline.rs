//! The quarantine pipeline end to end on the local cloud: the real Lambda binaries, the real
//! ASL deployed from template.yaml with `cwq local deploy`, findings delivered with
//! `cwq local inject`, and the network, the snapshots and the journal checked afterwards.

#![allow(clippy::unwrap_used)]

mod common;

use common::{finding, Cloud, SEED_CORE};

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
    assert_eq!(cloud.attachment(&caller).await.1.as_deref(), Some("onlyshared"));

    let journal = cloud.journal_state(&crypto.attachment_id).await.unwrap();
    assert_eq!(journal["status"], "QUARANTINED");
    assert!(journal["expiry"]["at"].is_string(), "{journal}");
    assert_eq!(
        journal["previous_value"],
        serde_json::Value::Null,
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
