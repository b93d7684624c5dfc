//! The Cloud WAN emulator driven by the real Rust SDK (aws-sdk-networkmanager): every
//! operation, pagination, the UPDATING and acceptance paths, faults, typed errors.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_networkmanager::error::ProvideErrorMetadata;
use aws_sdk_networkmanager::types::{AttachmentState, CoreNetworkPolicyAlias, Tag};
use aws_sdk_networkmanager::Client;
use common::{admin, network_manager, repo_file, start, OWNER, SPOKE};
use cwq_localcloud::admin::FaultSet;
use cwq_localcloud::cloudwan::Settings;
use cwq_localcloud::gateway::Running;
use cwq_localcloud::observe::FaultRule;

fn instant() -> Settings {
    Settings {
        transition_delay_ms: 0,
        ..Settings::default()
    }
}

async fn set_faults(cloud: &Running, rules: Vec<FaultRule>, seed: Option<u64>) {
    admin(cloud).set_faults(&FaultSet { rules, seed }).await.unwrap();
}

fn overlay_policy() -> String {
    std::fs::read_to_string(repo_file("examples/core-network-policy.json")).unwrap()
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

async fn core_network(nm: &Client, policy: &str) -> String {
    let global = nm
        .create_global_network()
        .description("test")
        .send()
        .await
        .unwrap();
    let global_id = global
        .global_network()
        .unwrap()
        .global_network_id()
        .unwrap()
        .to_string();
    let core = nm
        .create_core_network()
        .global_network_id(&global_id)
        .policy_document(policy)
        .send()
        .await
        .unwrap();
    core.core_network()
        .unwrap()
        .core_network_id()
        .unwrap()
        .to_string()
}

fn vpc_arn(account: &str, region: &str, n: u32) -> String {
    format!("arn:aws:ec2:{region}:{account}:vpc/vpc-{n:017x}")
}

async fn attach(nm: &Client, core: &str, vpc: &str, tags: &[(&str, &str)]) -> String {
    let subnet = vpc.replace(":vpc/vpc-", ":subnet/subnet-");
    let mut request = nm
        .create_vpc_attachment()
        .core_network_id(core)
        .vpc_arn(vpc)
        .subnet_arns(subnet);
    for (k, v) in tags {
        request = request.tags(tag(k, v));
    }
    let created = request.send().await.unwrap();
    created
        .vpc_attachment()
        .unwrap()
        .attachment()
        .unwrap()
        .attachment_id()
        .unwrap()
        .to_string()
}

async fn state_and_segment(nm: &Client, id: &str) -> (AttachmentState, Option<String>) {
    let got = nm.get_vpc_attachment().attachment_id(id).send().await.unwrap();
    let a = got.vpc_attachment().unwrap().attachment().unwrap();
    (a.state().unwrap().clone(), a.segment_name().map(str::to_string))
}

fn attachment_arn(account: &str, id: &str) -> String {
    format!("arn:aws:networkmanager::{account}:attachment/{id}")
}

#[tokio::test]
async fn every_operation_round_trips_through_the_sdk() {
    let cloud = start(instant(), None, "roundtrip").await;
    let nm = network_manager(&cloud, OWNER).await;
    let core = core_network(&nm, &overlay_policy()).await;

    let globals = nm.describe_global_networks().send().await.unwrap();
    assert_eq!(globals.global_networks().len(), 1);
    let listed = nm.list_core_networks().send().await.unwrap();
    assert_eq!(listed.core_networks()[0].owner_account_id(), Some(OWNER));
    let got = nm.get_core_network().core_network_id(&core).send().await.unwrap();
    let segments: Vec<&str> = got
        .core_network()
        .unwrap()
        .segments()
        .iter()
        .filter_map(|s| s.name())
        .collect();
    assert_eq!(segments, ["hub", "inspected", "onlyshared", "blocked", "shared"]);

    // The policy document comes back as a string; LIVE is version 1.
    let live = nm
        .get_core_network_policy()
        .core_network_id(&core)
        .alias(CoreNetworkPolicyAlias::Live)
        .send()
        .await
        .unwrap();
    let live = live.core_network_policy().unwrap();
    assert_eq!(live.policy_version_id(), Some(1));
    assert_eq!(live.policy_document(), Some(overlay_policy().as_str()));

    // A VPC attachment: CREATING, then AVAILABLE in hub (rule 200).
    let vpc = vpc_arn(SPOKE, "us-east-1", 1);
    let created = nm
        .create_vpc_attachment()
        .core_network_id(&core)
        .vpc_arn(&vpc)
        .subnet_arns(vpc.replace(":vpc/vpc-", ":subnet/subnet-"))
        .tags(tag("Name", "app"))
        .send()
        .await
        .unwrap();
    let attachment = created.vpc_attachment().unwrap().attachment().unwrap();
    assert_eq!(attachment.state(), Some(&AttachmentState::Creating));
    let id = attachment.attachment_id().unwrap().to_string();
    assert_eq!(attachment.owner_account_id(), Some(SPOKE));
    assert_eq!(attachment.resource_arn(), Some(vpc.as_str()));
    assert!(
        attachment.created_at().is_some(),
        "epoch-second timestamps decode"
    );
    let (state, segment) = state_and_segment(&nm, &id).await;
    assert_eq!(
        (state, segment.as_deref()),
        (AttachmentState::Available, Some("hub"))
    );

    // cwq's overlay tag: UPDATING, then blocked by rule 10.
    let arn = attachment_arn(SPOKE, &id);
    nm.tag_resource()
        .resource_arn(&arn)
        .tags(tag("quarantine", "blocked"))
        .send()
        .await
        .unwrap();
    let listed = nm.list_attachments().core_network_id(&core).send().await.unwrap();
    assert_eq!(
        listed.attachments()[0].state(),
        Some(&AttachmentState::Available),
        "a zero delay completes on the next call"
    );
    let got = nm.get_vpc_attachment().attachment_id(&id).send().await.unwrap();
    let attachment = got.vpc_attachment().unwrap().attachment().unwrap();
    assert_eq!(attachment.segment_name(), Some("blocked"));
    assert_eq!(attachment.attachment_policy_rule_number(), Some(10));
    let tags = nm
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = tags.tag_list().iter().filter_map(|t| t.key()).collect();
    assert_eq!(keys, ["Name", "quarantine"]);

    // Release: untag, back to hub.
    nm.untag_resource()
        .resource_arn(&arn)
        .tag_keys("quarantine")
        .send()
        .await
        .unwrap();
    let (_, segment) = state_and_segment(&nm, &id).await;
    assert_eq!(segment.as_deref(), Some("hub"));

    // A new policy version is LATEST until executed, then LIVE; attachments follow it.
    let v2 = overlay_policy().replace(r#""segment": "hub""#, r#""segment": "shared""#);
    let put = nm
        .put_core_network_policy()
        .core_network_id(&core)
        .policy_document(&v2)
        .send()
        .await
        .unwrap();
    assert_eq!(put.core_network_policy().unwrap().policy_version_id(), Some(2));
    let latest = nm
        .get_core_network_policy()
        .core_network_id(&core)
        .alias(CoreNetworkPolicyAlias::Latest)
        .send()
        .await
        .unwrap();
    assert_eq!(
        latest.core_network_policy().unwrap().alias(),
        Some(&CoreNetworkPolicyAlias::Latest)
    );
    nm.execute_core_network_change_set()
        .core_network_id(&core)
        .policy_version_id(2)
        .send()
        .await
        .unwrap();
    let live = nm
        .get_core_network_policy()
        .core_network_id(&core)
        .alias(CoreNetworkPolicyAlias::Live)
        .send()
        .await
        .unwrap();
    assert_eq!(live.core_network_policy().unwrap().policy_version_id(), Some(2));
    let (_, segment) = state_and_segment(&nm, &id).await;
    assert_eq!(segment.as_deref(), Some("shared"));

    // Delete: DELETING, then gone.
    let deleted = nm.delete_attachment().attachment_id(&id).send().await.unwrap();
    assert_eq!(
        deleted.attachment().unwrap().state(),
        Some(&AttachmentState::Deleting)
    );
    let err = nm
        .get_vpc_attachment()
        .attachment_id(&id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    // Tags on the core network itself.
    let core_arn = nm
        .get_core_network()
        .core_network_id(&core)
        .send()
        .await
        .unwrap()
        .core_network()
        .unwrap()
        .core_network_arn()
        .unwrap()
        .to_string();
    nm.tag_resource()
        .resource_arn(&core_arn)
        .tags(tag("team", "net"))
        .send()
        .await
        .unwrap();
    let tags = nm
        .list_tags_for_resource()
        .resource_arn(&core_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_list()[0].value(), Some("net"));

    // The log holds every mutating call and no read.
    let calls = admin(&cloud).calls().await.unwrap();
    let operations: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
    assert_eq!(
        operations,
        [
            "CreateGlobalNetwork",
            "CreateCoreNetwork",
            "CreateVpcAttachment",
            "TagResource",
            "UntagResource",
            "PutCoreNetworkPolicy",
            "ExecuteCoreNetworkChangeSet",
            "DeleteAttachment",
            "TagResource"
        ]
    );
    cloud.stop().await;
}

#[tokio::test]
async fn pagination_over_1000_attachments() {
    let cloud = start(instant(), None, "paging").await;
    let nm = network_manager(&cloud, OWNER).await;
    let core = core_network(&nm, &overlay_policy()).await;
    for n in 0..1000 {
        let region = if n % 4 == 0 { "eu-west-1" } else { "us-east-1" };
        attach(&nm, &core, &vpc_arn(SPOKE, region, n), &[]).await;
    }
    let mut pages = nm
        .list_attachments()
        .core_network_id(&core)
        .max_results(100)
        .into_paginator()
        .send();
    let mut ids = std::collections::BTreeSet::new();
    let mut page_count = 0;
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        page_count += 1;
        assert!(page.attachments().len() <= 100);
        ids.extend(
            page.attachments()
                .iter()
                .map(|a| a.attachment_id().unwrap().to_string()),
        );
    }
    assert_eq!((ids.len(), page_count), (1000, 10));

    let ireland: usize = nm
        .list_attachments()
        .core_network_id(&core)
        .edge_location("eu-west-1")
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .len();
    assert_eq!(ireland, 250);
    let err = nm
        .list_attachments()
        .max_results(501)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    cloud.stop().await;
}

#[tokio::test]
async fn acceptance_paths() {
    let cloud = start(instant(), None, "acceptance").await;
    let owner = network_manager(&cloud, OWNER).await;
    let spoke = network_manager(&cloud, SPOKE).await;
    let policy = overlay_policy().replace(
        r#"{"name": "blocked", "require-attachment-acceptance": false"#,
        r#"{"name": "blocked", "require-attachment-acceptance": true"#,
    );
    let core = core_network(&owner, &policy).await;
    let id = attach(&owner, &core, &vpc_arn(SPOKE, "us-east-1", 7), &[]).await;
    let arn = attachment_arn(SPOKE, &id);
    state_and_segment(&owner, &id).await;

    // Into an acceptance-required segment: PENDING_TAG_ACCEPTANCE with the proposal.
    owner
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("quarantine", "blocked"))
        .send()
        .await
        .unwrap();
    let got = owner
        .get_vpc_attachment()
        .attachment_id(&id)
        .send()
        .await
        .unwrap();
    let a = got.vpc_attachment().unwrap().attachment().unwrap();
    assert_eq!(a.state(), Some(&AttachmentState::PendingTagAcceptance));
    assert_eq!(a.segment_name(), Some("hub"), "the segment stays until accepted");
    let proposal = a.proposed_segment_change().unwrap();
    assert_eq!(
        (proposal.segment_name(), proposal.attachment_policy_rule_number()),
        (Some("blocked"), Some(10))
    );
    assert!(a.tags().is_empty(), "current tags are unchanged");

    // Only the core network owner may accept.
    let err = spoke
        .accept_attachment()
        .attachment_id(&id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_access_denied_exception(), "{err:?}");
    let accepted = owner.accept_attachment().attachment_id(&id).send().await.unwrap();
    assert_eq!(
        accepted.attachment().unwrap().state(),
        Some(&AttachmentState::Updating)
    );
    assert_eq!(
        state_and_segment(&owner, &id).await,
        (AttachmentState::Available, Some("blocked".into()))
    );

    // The other reading of RejectAttachment on a tag proposal (a switch; AWS does not say):
    // the attachment stays where it was.
    let mut other_reading = instant();
    other_reading.rejected_tag_change_detaches = false;
    admin(&cloud).set_cloudwan_settings(&other_reading).await.unwrap();
    owner
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("quarantine")
        .send()
        .await
        .unwrap();
    assert_eq!(state_and_segment(&owner, &id).await.1.as_deref(), Some("hub"));
    owner
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("quarantine", "blocked"))
        .send()
        .await
        .unwrap();
    owner.reject_attachment().attachment_id(&id).send().await.unwrap();
    assert_eq!(
        state_and_segment(&owner, &id).await,
        (AttachmentState::Available, Some("hub".into()))
    );

    // An owner-initiated change goes straight through when configured so.
    let mut settings = instant();
    settings.owner_changes_need_acceptance = false;
    admin(&cloud).set_cloudwan_settings(&settings).await.unwrap();
    owner
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("quarantine", "blocked"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        state_and_segment(&owner, &id).await,
        (AttachmentState::Available, Some("blocked".into()))
    );

    // A spoke's new attachment into an acceptance-required segment waits for the owner.
    let new = attach(
        &spoke,
        &core,
        &vpc_arn(SPOKE, "us-east-1", 8),
        &[("quarantine", "blocked")],
    )
    .await;
    assert_eq!(
        state_and_segment(&owner, &new).await.0,
        AttachmentState::PendingAttachmentAcceptance
    );
    owner
        .accept_attachment()
        .attachment_id(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(
        state_and_segment(&owner, &new).await,
        (AttachmentState::Available, Some("blocked".into()))
    );

    // The default, pessimistic reading (docs/aws-behaviour.md): rejecting a tag proposal
    // rejects the attachment, out of its segment.
    admin(&cloud).set_cloudwan_settings(&instant()).await.unwrap();
    let pessimistic = attach(&owner, &core, &vpc_arn(SPOKE, "us-east-1", 9), &[]).await;
    state_and_segment(&owner, &pessimistic).await;
    owner
        .tag_resource()
        .resource_arn(attachment_arn(SPOKE, &pessimistic))
        .tags(tag("quarantine", "blocked"))
        .send()
        .await
        .unwrap();
    owner
        .reject_attachment()
        .attachment_id(&pessimistic)
        .send()
        .await
        .unwrap();
    assert_eq!(
        state_and_segment(&owner, &pessimistic).await,
        (AttachmentState::Rejected, None)
    );
    cloud.stop().await;
}

#[tokio::test]
async fn transitions_conflicts_and_stuck_moves() {
    let slow = Settings {
        transition_delay_ms: 60_000,
        ..Settings::default()
    };
    let cloud = start(slow, None, "transitions").await;
    let nm = network_manager(&cloud, OWNER).await;
    let core = core_network(&nm, &overlay_policy()).await;
    let id = attach(&nm, &core, &vpc_arn(SPOKE, "us-east-1", 9), &[]).await;
    let arn = attachment_arn(SPOKE, &id);
    // CREATING for a minute: tagging now conflicts, and the SDK does not retry a conflict.
    let err = nm
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("quarantine", "blocked"))
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert!(err.is_conflict_exception(), "{err:?}");

    // Stuck: even a zero delay never completes until the fault is lifted.
    let mut settings = instant();
    settings.stuck_transitions = true;
    admin(&cloud).set_cloudwan_settings(&settings).await.unwrap();
    for _ in 0..3 {
        assert_eq!(state_and_segment(&nm, &id).await.0, AttachmentState::Creating);
    }
    settings.stuck_transitions = false;
    settings.conflict_during_transition = false;
    admin(&cloud).set_cloudwan_settings(&settings).await.unwrap();
    assert_eq!(
        state_and_segment(&nm, &id).await,
        (AttachmentState::Available, Some("hub".into()))
    );
    cloud.stop().await;
}

#[tokio::test]
async fn injected_faults_and_typed_errors() {
    let cloud = start(instant(), None, "faults").await;
    let nm = network_manager(&cloud, OWNER).await;
    let core = core_network(&nm, &overlay_policy()).await;
    let id = attach(&nm, &core, &vpc_arn(SPOKE, "us-east-1", 3), &[]).await;
    let arn = attachment_arn(SPOKE, &id);

    let throttle_tagging = FaultRule {
        service: "networkmanager".into(),
        operation: "TagResource".into(),
        throttle_rate: 1.0,
        ..FaultRule::default()
    };
    set_faults(&cloud, vec![throttle_tagging], None).await;
    let err = nm
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("quarantine", "blocked"))
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert!(err.is_throttling_exception(), "{err:?}");
    let counters = admin(&cloud).counters().await.unwrap();
    assert_eq!(
        counters["networkmanager:TagResource"].injected, 3,
        "the SDK's standard mode tries 3 times"
    );

    let fail_reads = FaultRule {
        operation: "GetVpcAttachment".into(),
        error_rate: 1.0,
        ..FaultRule::default()
    };
    set_faults(&cloud, vec![fail_reads], None).await;
    let err = nm
        .get_vpc_attachment()
        .attachment_id(&id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_internal_server_exception(), "{err:?}");

    // Half the calls throttled: the SDK's retries carry most calls through.
    let half_throttled = FaultRule {
        throttle_rate: 0.5,
        latency_ms: 1,
        ..FaultRule::default()
    };
    set_faults(&cloud, vec![half_throttled], Some(7)).await;
    let mut ok = 0;
    for _ in 0..10 {
        ok += usize::from(nm.get_vpc_attachment().attachment_id(&id).send().await.is_ok());
    }
    assert!(ok >= 7, "{ok} of 10 got through");
    admin(&cloud).clear_faults().await.unwrap();

    let err = nm
        .get_vpc_attachment()
        .attachment_id("attachment-00000000000000000")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let aws_sdk_networkmanager::operation::get_vpc_attachment::GetVpcAttachmentError::ResourceNotFoundException(not_found) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(not_found.resource_id(), "attachment-00000000000000000");
    assert_eq!(not_found.resource_type(), "attachment");

    // The attachment ARN carries the owner's account; the core network owner's form is
    // accepted only behind the switch.
    let err = nm
        .list_tags_for_resource()
        .resource_arn(attachment_arn(OWNER, &id))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let mut settings = instant();
    settings.accept_core_owner_arn = true;
    admin(&cloud).set_cloudwan_settings(&settings).await.unwrap();
    nm.list_tags_for_resource()
        .resource_arn(attachment_arn(OWNER, &id))
        .send()
        .await
        .unwrap();

    let err = nm
        .tag_resource()
        .resource_arn("not-an-arn")
        .tags(tag("k", "v"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    let err = nm
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag(&"k".repeat(129), "v"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");

    let err = nm
        .put_core_network_policy()
        .core_network_id(&core)
        .policy_document("{\"version\": \"1999\"}")
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert!(err.is_core_network_policy_exception(), "{err:?}");
    assert_eq!(err.code(), Some("CoreNetworkPolicyException"));
    cloud.stop().await;
}
