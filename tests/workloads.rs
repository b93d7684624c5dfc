//! Every kind of finding that names a workload in a VPC, end to end on the local cloud (AWS-like
//! moves and conflicts): an attack sequence across two accounts, two Regions and a VPC on no
//! core network is one incident; an ECS Fargate task (moto's ECS), an EKS cluster (moto's EKS,
//! which answers without the cluster's vpcId: cwq reads its subnets) and a Lambda function are
//! each placed in their VPC, through the workload role, and contained; a scope rule by OU reads
//! AWS Organizations (moto's).

#![allow(clippy::unwrap_used)]

mod common;

use common::{finding, policy_variant, repo, Cloud, OVERLAY_CORE, OWNER, REGION, WORKLOAD};
use cwq_domain::decision::NoAction;
use cwq_pipeline::audit::AuditEvent;
use cwq_pipeline::contract::Verdict;
use cwq_pipeline::events::{EventKind, LegResult};
use cwq_pipeline::ports::Journal;
use cwq_testkit::{FindingEvent, OTHER_WORKLOAD};
use serde_json::json;

fn composed(name: &str) -> FindingEvent {
    FindingEvent::example(&repo(&format!("fixtures/guardduty/{name}.json"))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attack_sequence_across_accounts_and_regions_is_one_incident() {
    let cloud = Cloud::start("sequence", OVERLAY_CORE, None, &[]).await;
    let east = cloud.spoke("10.20.0.0/16", &[("domain", "hub")]).await;
    let west = cloud
        .estate
        .spoke(OTHER_WORKLOAD, "eu-west-1", "10.40.0.0/16", &[("domain", "hub")])
        .await
        .unwrap();
    let loose = cloud.unattached_spoke("10.60.0.0/16").await;
    let event = composed("composed-attacksequence-ec2-compromisedinstancegroup")
        .sequence(&[&east, &west, &loose])
        .id("sequence1")
        .build();

    let (report, arn) = cloud.inject_execution(&event);
    // The VPC on no core network is a refusal someone must hear of: the execution fails after
    // containing the other two.
    assert!(report.contains("FAILED"), "{report}");
    cloud.wait_segment(&east, "blocked").await;
    cloud.wait_segment(&west, "blocked").await;

    let outcome = cloud.outcome(&arn);
    assert_eq!(outcome.kind, EventKind::QuarantineFailed, "{outcome:#?}");
    let result = |vpc: &str| {
        outcome
            .legs
            .iter()
            .find(|l| l.vpc_id == vpc)
            .map(|l| (l.account.clone(), l.region.clone(), l.result))
    };
    assert_eq!(
        result(&east.vpc_id),
        Some((WORKLOAD.into(), REGION.into(), LegResult::Applied))
    );
    assert_eq!(
        result(&west.vpc_id),
        Some((OTHER_WORKLOAD.into(), "eu-west-1".into(), LegResult::Applied))
    );
    assert_eq!(
        result(&loose.vpc_id),
        Some((WORKLOAD.into(), REGION.into(), LegResult::NotAttached))
    );
    assert_eq!(outcome.legs.len(), 3, "one leg per VPC: {outcome:#?}");

    // One decision: one finding received, three legs decided, both new quarantines admitted
    // by the budget together.
    let audit = cloud.audit().await;
    let received = audit
        .iter()
        .filter(|e| matches!(e.event, AuditEvent::FindingReceived { .. }))
        .count();
    assert_eq!(received, 1);
    let verdicts: Vec<Verdict> = audit
        .iter()
        .filter_map(|e| match &e.event {
            AuditEvent::Decided { verdict, .. } => Some(*verdict),
            _ => None,
        })
        .collect();
    assert_eq!(
        verdicts,
        [Verdict::Contain, Verdict::Contain, Verdict::NotAttached]
    );
    let ledger = cloud.journal().budget().await.unwrap();
    let spent: Vec<&str> = ledger.moves.iter().map(|m| m.attachment_id.as_str()).collect();
    assert_eq!(spent, [east.attachment_id.as_str(), west.attachment_id.as_str()]);
    // Evidence from each instance, in its own account and Region.
    let snapshotted: Vec<String> = audit
        .iter()
        .filter_map(|e| match &e.event {
            AuditEvent::Snapshotted { instance_id, .. } => Some(instance_id.clone()),
            _ => None,
        })
        .collect();
    for spoke in [&east, &west, &loose] {
        assert!(snapshotted.contains(&spoke.instance_id), "{snapshotted:?}");
    }
}

/// What a finding about a container or a function led to: its outcome's legs.
fn contained_leg(cloud: &Cloud, arn: &str) -> (String, LegResult) {
    let outcome = cloud.outcome(arn);
    assert_eq!(outcome.kind, EventKind::QuarantineApplied, "{outcome:#?}");
    assert_eq!(outcome.legs.len(), 1, "{outcome:#?}");
    (outcome.legs[0].vpc_id.clone(), outcome.legs[0].result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_and_functions_are_placed_in_their_vpc_and_contained() {
    let cloud = Cloud::start("containers", OVERLAY_CORE, None, &[]).await;
    let tasks = cloud.spoke("10.21.0.0/16", &[("domain", "hub")]).await;
    let kube = cloud.spoke("10.22.0.0/16", &[("domain", "hub")]).await;
    let functions = cloud.spoke("10.23.0.0/16", &[("domain", "hub")]).await;

    // ECS on Fargate: the finding names the task only; ecs:DescribeTasks names its subnet.
    let task = cloud.estate.fargate_task(&tasks, "payments-prod").await.unwrap();
    let ecs = composed("composed-runtime-ecs-fargate")
        .on_task(&tasks, &task)
        .id("ecs1")
        .severity(8.0);
    let (report, arn) = cloud.inject_execution(&ecs.build());
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert_eq!(
        contained_leg(&cloud, &arn),
        (tasks.vpc_id.clone(), LegResult::Applied)
    );
    cloud.wait_segment(&tasks, "blocked").await;

    // EKS: the cluster (looked up) and its node (named) are in the same VPC: one leg.
    let cluster = cloud.estate.eks_cluster(&kube, "orders-prod").await.unwrap();
    let eks = composed("composed-runtime-eks-node")
        .on_eks(&kube, &cluster)
        .id("eks1");
    let (report, arn) = cloud.inject_execution(&eks.build());
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert_eq!(
        contained_leg(&cloud, &arn),
        (kube.vpc_id.clone(), LegResult::Applied)
    );
    cloud.wait_segment(&kube, "blocked").await;

    // Lambda in a VPC: its vpcConfig names the VPC.
    let lambda = composed("composed-lambda-network-in-vpc")
        .on_lambda(&functions, "invoice-renderer-prod")
        .id("lambda1");
    let (report, arn) = cloud.inject_execution(&lambda.build());
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert_eq!(
        contained_leg(&cloud, &arn),
        (functions.vpc_id.clone(), LegResult::Applied)
    );
    cloud.wait_segment(&functions, "blocked").await;

    // A task that is gone: reported by name, nothing moved.
    let gone = composed("composed-runtime-ecs-fargate")
        .on_task(
            &tasks,
            &cwq_testkit::FargateTask {
                cluster_arn: task.cluster_arn.clone(),
                task_arn: format!(
                    "{}/0000000000000000000000000000dead",
                    task.cluster_arn.replace(":cluster/", ":task/")
                ),
            },
        )
        .id("ecs2")
        .severity(8.0)
        .build();
    let (_, arn) = cloud.inject_execution(&gone);
    let outcome = cloud.outcome(&arn);
    assert!(outcome.legs.is_empty(), "{outcome:#?}");
    assert!(
        outcome.reason.contains("0000000000000000000000000000dead"),
        "{}",
        outcome.reason
    );
    let journaled = cloud.audit().await.into_iter().any(|e| match &e.event {
        AuditEvent::FindingReceived { unresolved, .. } => unresolved.iter().any(|u| u.contains("dead")),
        _ => false,
    });
    assert!(
        journaled,
        "the workload that could not be placed is in the journal"
    );
}

/// A scope rule by organizational unit: Decide reads where the VPC's account sits in AWS
/// Organizations (moto's), and the rule applies there only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_rule_by_organizational_unit_applies_to_the_accounts_in_it() {
    let cloud = Cloud::start("ou", OVERLAY_CORE, None, &[]).await;
    let ou = cloud.estate.owner_in_new_ou("network").await.unwrap();
    let policy = policy_variant("policy/default.toml", "ou", |p| {
        let rule = format!(
            "[[scopes]]\nname = \"network OU: dry run\"\norganizational_units = [\"{ou}\"]\naction = \"dry_run\"\n\n[protected]"
        );
        p.replace("[protected]", &rule)
    });
    cloud.deploy(Some(&policy), &[]);
    let inside = cloud
        .own_account_spoke("10.31.0.0/16", &[("domain", "hub")])
        .await;
    let outside = cloud.spoke("10.32.0.0/16", &[("domain", "hub")]).await;

    let mut event = finding("bitcoin-tool-high", &inside, "ou1", None, None);
    event["detail"]["accountId"] = json!(OWNER);
    let (report, arn) = cloud.inject_execution(&event);
    assert!(report.contains("SUCCEEDED"), "{report}");
    let outcome = cloud.outcome(&arn);
    assert_eq!(
        outcome.legs[0].result,
        LegResult::NoAction(NoAction::DryRun),
        "{outcome:#?}"
    );
    assert!(
        outcome.reason.contains("scope rule \"network OU: dry run\""),
        "{}",
        outcome.reason
    );
    assert_eq!(cloud.attachment(&inside).await.1.as_deref(), Some("hub"));

    // The workload account is in no OU of the organization: contained as the bands say.
    let (report, arn) = cloud.inject_execution(&finding("bitcoin-tool-high", &outside, "ou2", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    assert_eq!(cloud.outcome(&arn).legs[0].result, LegResult::Applied);
    cloud.wait_segment(&outside, "blocked").await;
}
