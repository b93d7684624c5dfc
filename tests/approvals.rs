//! Approval tiers end to end on the local cloud (AWS-like moves and conflicts): a finding whose
//! tier is `approve` waits on a Step Functions task token until `cwq approve` (any operator),
//! `cwq deny` or the policy's timeout answers it; a second finding for the same VPC joins the
//! waiting request; a Critical finding (tier auto) contains at once and settles what waited;
//! a manual-release quarantine under `two_person_release` is released only when a principal
//! other than the one who asked approves.

#![allow(clippy::unwrap_used)]

mod common;

use common::{finding, policy_variant, text, Cloud, OVERLAY_CORE};
use cwq_domain::decision::NoAction;
use cwq_pipeline::approval::{ApprovalRequest, RequestKind, RequestStatus};
use cwq_pipeline::audit::AuditEvent;
use cwq_pipeline::events::{EventKind, LegResult};
use cwq_pipeline::ports::Journal;
use std::process::Command;
use std::time::Duration;

/// The default policy with every unclassified move asking first (the built-in default), the
/// Critical band containing at once, and `edit` on top.
fn asking_policy(name: &str, timeout: &str, on_timeout: &str) -> String {
    policy_variant("policy/default.toml", name, |p| {
        p.replace("default_tier = \"auto\"", "default_tier = \"approve\"")
            .replace("timeout = \"1h\"", &format!("timeout = \"{timeout}\""))
            .replace(
                "on_timeout = \"leave\"",
                &format!("on_timeout = \"{on_timeout}\""),
            )
            .replace("release = \"manual\"", "release = \"manual\"\ntier = \"auto\"")
    })
}

/// The actions `function` called with its own credentials (`cwq local actions`).
fn actions_of(cloud: &Cloud, function: &str) -> Vec<String> {
    let used = cloud.actions().remove(&format!("cwq-{function}"));
    used.into_iter().flatten().collect()
}

/// Waits until the journal holds a request for which `ready` holds.
async fn wait_request(cloud: &Cloud, ready: impl Fn(&ApprovalRequest) -> bool) -> ApprovalRequest {
    for _ in 0..600 {
        let all = cloud.journal().approvals().await.unwrap();
        if let Some(found) = all.into_iter().find(|r| ready(r)) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no such approval request in 60 s:\n{}", cloud.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_move_is_joined_approved_once_and_contained() {
    let policy = asking_policy("approve", "10m", "leave");
    let cloud = Cloud::start("approve", OVERLAY_CORE, Some(&policy), &[]).await;
    let spoke = cloud.spoke("10.70.0.0/16", &[("domain", "hub")]).await;

    let first = cloud.deliver(&finding("bitcoin-tool-high", &spoke, "wait1", None, None));
    let request = wait_request(&cloud, |r| r.waiters.len() == 1).await;
    assert_eq!(
        (request.kind, request.status),
        (RequestKind::Quarantine, RequestStatus::Pending)
    );
    assert_eq!(request.legs[0].segment.as_deref(), Some("blocked"));
    assert!(
        request.reason.contains("approvals.default_tier"),
        "{}",
        request.reason
    );
    let asked = cloud.wait_published(EventKind::QuarantineApprovalRequested).await;
    let id = &request.request_id;
    assert_eq!(
        asked[0].commands,
        [
            format!("cwq approve {id}"),
            format!("cwq deny {id} --reason TEXT")
        ]
    );
    assert_eq!(
        asked[0].legs[0].result,
        LegResult::NoAction(NoAction::AwaitingApproval)
    );

    // A second finding for the same VPC joins the request: one request, two waiting executions,
    // one event.
    let second = cloud.deliver(&finding("bitcoin-tool-high", &spoke, "wait2", Some(8.0), None));
    let joined = wait_request(&cloud, |r| r.waiters.len() == 2).await;
    assert_eq!(&joined.request_id, id);
    let status = text(&cloud.operator(&["status"]));
    assert!(
        status.contains("Waiting for approval") && status.contains(id.as_str()),
        "{status}"
    );
    assert!(status.contains("any operator"), "{status}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cloud.attachment(&spoke).await.1.as_deref(),
        Some("hub"),
        "nothing moves before the answer"
    );
    assert_eq!(
        cloud
            .published()
            .iter()
            .filter(|e| e.kind == EventKind::QuarantineApprovalRequested)
            .count(),
        1
    );

    // Approved by naming the joined incident: both executions go on and contain.
    let joined_incident = joined.waiters[1].incident_id.clone();
    let approved = cloud.operator(&["approve", &joined_incident]);
    assert!(approved.status.success(), "{}", text(&approved));
    for arn in [&first, &second] {
        assert_eq!(cloud.wait_execution(arn).await.0, "SUCCEEDED");
        let outcome = cloud.outcome(arn);
        assert_eq!(outcome.legs[0].result, LegResult::Applied, "{outcome:#?}");
    }
    cloud.wait_segment(&spoke, "blocked").await;
    let answered = cloud.journal().approval(id).await.unwrap().unwrap();
    assert_eq!(answered.status, RequestStatus::Approved);
    let by = answered.answered_by.clone().unwrap();
    assert!(by.starts_with("arn:aws:"), "the caller's ARN: {by}");
    let audit = cloud.audit().await;
    let answers = audit
        .iter()
        .filter(|e| matches!(&e.event, AuditEvent::ApprovalAnswered { by: b, status: RequestStatus::Approved, .. } if *b == by))
        .count();
    assert_eq!(answers, 2, "journaled in both incidents' trails");
    let decided_by = audit.iter().any(|e| {
        matches!(&e.event, AuditEvent::Decided { reason, .. } if reason.contains(&format!("approved by {by}")))
    });
    assert!(decided_by, "{audit:#?}");

    // A second approval changes nothing and says who answered.
    let again = cloud.operator(&["approve", id]);
    assert_eq!(again.status.code(), Some(3), "{}", text(&again));
    assert!(text(&again).contains("approved already by"), "{}", text(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_changes_nothing_a_timeout_does_as_the_policy_says_and_critical_does_not_wait() {
    let policy = asking_policy("deny", "8s", "contain");
    let cloud = Cloud::start("deny", OVERLAY_CORE, Some(&policy), &[]).await;
    let denied = cloud.spoke("10.71.0.0/16", &[("domain", "hub")]).await;
    let unanswered = cloud.spoke("10.72.0.0/16", &[("domain", "hub")]).await;
    let upgraded = cloud.spoke("10.73.0.0/16", &[("domain", "hub")]).await;

    let arn = cloud.deliver(&finding("bitcoin-tool-high", &denied, "deny1", None, None));
    let request = wait_request(&cloud, |r| r.legs[0].vpc_id == denied.vpc_id).await;
    let out = cloud.operator(&["deny", &request.request_id, "--reason", "change freeze CHG-7"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(cloud.wait_execution(&arn).await.0, "SUCCEEDED");
    let outcome = cloud.outcome(&arn);
    assert_eq!(outcome.kind, EventKind::QuarantineNoAction);
    assert_eq!(
        outcome.legs[0].result,
        LegResult::NoAction(NoAction::Denied),
        "{outcome:#?}"
    );
    assert!(
        outcome.reason.contains("change freeze CHG-7"),
        "{}",
        outcome.reason
    );
    assert_eq!(cloud.attachment(&denied).await.1.as_deref(), Some("hub"));
    let stored = cloud
        .journal()
        .approval(&request.request_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.status, stored.answer_note.as_deref()),
        (RequestStatus::Denied, Some("change freeze CHG-7"))
    );

    // Nobody answers: after 8 s the policy's on_timeout (contain) decides.
    let arn = cloud.deliver(&finding("bitcoin-tool-high", &unanswered, "timeout1", None, None));
    assert_eq!(cloud.wait_execution(&arn).await.0, "SUCCEEDED");
    assert_eq!(cloud.outcome(&arn).legs[0].result, LegResult::Applied);
    cloud.wait_segment(&unanswered, "blocked").await;
    let request = wait_request(&cloud, |r| r.legs[0].vpc_id == unanswered.vpc_id).await;
    assert_eq!(request.status, RequestStatus::TimedOut);

    // A High finding waits; a Critical one for the same VPC (its band's tier is auto) contains at
    // once and settles the request, so the waiting execution goes on without anyone answering.
    let waiting = cloud.deliver(&finding("bitcoin-tool-high", &upgraded, "up1", None, None));
    let request = wait_request(&cloud, |r| r.legs[0].vpc_id == upgraded.vpc_id).await;
    let critical = cloud.deliver(&finding("bitcoin-tool-high", &upgraded, "up2", Some(9.5), None));
    for arn in [&critical, &waiting] {
        assert_eq!(cloud.wait_execution(arn).await.0, "SUCCEEDED");
        assert_eq!(cloud.outcome(arn).legs[0].result, LegResult::Applied, "{arn}");
    }
    let settled = cloud
        .journal()
        .approval(&request.request_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(settled.status, RequestStatus::Approved);
    assert!(settled.answered_by.unwrap().contains("tier auto"));
    cloud.wait_segment(&upgraded, "blocked").await;
    // What tests/least_privilege.rs leaves to this test: the Decide function publishes the
    // request and settles it, with the grants template.yaml gives it for that.
    let decide = actions_of(&cloud, "DecideFunction");
    for action in ["events:PutEvents", "states:SendTaskSuccess"] {
        assert!(decide.iter().any(|a| a == action), "{decide:?}");
    }
}

/// Credentials of a role assumed in the local cloud, as a named profile in `dir`.
async fn principal(cloud: &Cloud, dir: &std::path::Path, name: &str) {
    let sts = aws_sdk_sts::Client::new(cloud.sdk());
    let assumed = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{}:role/{name}", common::OWNER))
        .role_session_name(name)
        .send()
        .await
        .unwrap();
    let c = assumed.credentials().unwrap();
    let mut credentials = std::fs::read_to_string(dir.join("credentials")).unwrap_or_default();
    credentials += &format!(
        "[{name}]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
        c.access_key_id(),
        c.secret_access_key(),
        c.session_token()
    );
    std::fs::write(dir.join("credentials"), credentials).unwrap();
    let mut config = std::fs::read_to_string(dir.join("config")).unwrap_or_default();
    config += &format!("[profile {name}]\nregion = us-east-1\n");
    std::fs::write(dir.join("config"), config).unwrap();
}

/// `cwq ARGS --profile NAME --local …` with the profiles in `dir`.
fn as_principal(cloud: &Cloud, dir: &std::path::Path, name: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cwq"))
        .args(args)
        .args(["--profile", name, "--local", "--state-dir", cloud.state()])
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_person_release_needs_a_second_principal() {
    let policy = policy_variant("policy/default.toml", "two-person", |p| {
        p.replace(
            "on_timeout = \"leave\"",
            "on_timeout = \"leave\"\ntwo_person_release = true",
        )
    });
    let cloud = Cloud::start("two-person", OVERLAY_CORE, Some(&policy), &[]).await;
    let spoke = cloud.spoke("10.74.0.0/16", &[("domain", "hub")]).await;
    let (report, _) = cloud.inject_execution(&finding("bitcoin-tool-high", &spoke, "crit1", Some(9.5), None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    cloud.wait_segment(&spoke, "blocked").await;

    let dir = std::env::temp_dir().join(format!("cwq-principals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    principal(&cloud, &dir, "alice").await;
    principal(&cloud, &dir, "bob").await;

    let asked = as_principal(
        &cloud,
        &dir,
        "alice",
        &["release", &spoke.vpc_id, "--reason", "INC-42 closed", "--yes"],
    );
    assert!(asked.status.success(), "{}", text(&asked));
    assert!(
        text(&asked).contains("A different principal carries it out"),
        "{}",
        text(&asked)
    );
    let request = wait_request(&cloud, |r| r.kind == RequestKind::Release).await;
    assert!(
        request.requested_by.as_deref().unwrap().contains("alice"),
        "{request:#?}"
    );
    let status = text(&cloud.operator(&["status", "--approvals"]));
    assert!(
        status.contains("a principal other than") && status.contains("alice"),
        "{status}"
    );

    // The same principal may not approve its own request; nothing changes.
    let own = as_principal(&cloud, &dir, "alice", &["approve", &spoke.vpc_id]);
    assert_eq!(own.status.code(), Some(3), "{}", text(&own));
    assert!(text(&own).contains("two-person release"), "{}", text(&own));
    assert_eq!(cloud.attachment(&spoke).await.1.as_deref(), Some("blocked"));

    // Another principal carries it out: released and verified back in hub.
    let other = as_principal(&cloud, &dir, "bob", &["approve", &spoke.vpc_id]);
    assert!(other.status.success(), "{}", text(&other));
    cloud.wait_segment(&spoke, "hub").await;
    let answered = cloud
        .journal()
        .approval(&request.request_id)
        .await
        .unwrap()
        .unwrap();
    assert!(answered.answered_by.unwrap().contains("bob"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The finding's workflow status and cwq's note, as Security Hub holds them.
async fn in_security_hub(cloud: &Cloud, arn: &str) -> (Option<String>, Option<String>) {
    let hub = aws_sdk_securityhub::Client::new(cloud.sdk());
    let filter = aws_sdk_securityhub::types::StringFilter::builder()
        .value(arn)
        .comparison(aws_sdk_securityhub::types::StringFilterComparison::Equals)
        .build();
    let filters = aws_sdk_securityhub::types::AwsSecurityFindingFilters::builder()
        .id(filter)
        .build();
    let found = hub.get_findings().filters(filters).send().await.unwrap();
    let finding = found
        .findings()
        .first()
        .unwrap_or_else(|| panic!("{arn} is not in Security Hub"));
    let status = finding
        .workflow()
        .and_then(|w| w.status())
        .map(|s| s.as_str().to_string());
    (status, finding.note().and_then(|n| n.text()).map(str::to_string))
}

/// With SecurityHubFeedback, the GuardDuty finding in Security Hub (imported on delivery, as
/// GuardDuty's integration does) says what cwq did: NOTIFIED with a note naming the incident
/// and the segment on containment, a note on release.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_finding_in_security_hub_says_what_cwq_did() {
    let cloud = Cloud::start("security-hub", OVERLAY_CORE, None, &["SecurityHubFeedback=true"]).await;
    let spoke = cloud.spoke("10.75.0.0/16", &[("domain", "hub")]).await;
    let event = finding("bitcoin-tool-high", &spoke, "hub1", None, None);
    let arn = event["detail"]["arn"].as_str().unwrap().to_string();
    let (report, execution) = cloud.inject_execution(&event);
    assert!(report.contains("SUCCEEDED"), "{report}");
    let incident = cloud.outcome(&execution).incident_id.unwrap();

    let (status, note) = in_security_hub(&cloud, &arn).await;
    assert_eq!(status.as_deref(), Some("NOTIFIED"));
    let note = note.unwrap();
    assert!(note.starts_with("cwq contained"), "{note}");
    assert!(
        note.contains(&spoke.vpc_id) && note.contains("in blocked") && note.contains(&incident),
        "{note}"
    );
    let calls = cloud.counters();
    assert_eq!(calls["securityhub:BatchUpdateFindings"]["calls"], 1, "{calls:#}");
    let outcome = actions_of(&cloud, "OutcomeFunction");
    assert!(
        outcome.iter().any(|a| a == "securityhub:BatchUpdateFindings"),
        "{outcome:?}"
    );

    let out = cloud.operator(&["release", &spoke.vpc_id, "--reason", "INC-7 closed", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let (status, note) = in_security_hub(&cloud, &arn).await;
    assert_eq!(
        status.as_deref(),
        Some("NOTIFIED"),
        "a release notes, the analyst resolves"
    );
    let note = note.unwrap();
    assert!(
        note.starts_with("cwq released") && note.contains(&spoke.vpc_id),
        "{note}"
    );
}
