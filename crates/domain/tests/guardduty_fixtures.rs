//! Every GuardDuty fixture (real findings from public projects) parses into the facts written
//! here by hand, or is refused with the right named error. INDEX.json is cross-checked too.

#![allow(clippy::unwrap_used)] // a test that cannot read its input should stop there

mod common;

use common::fixture;
use cwq_domain::finding::{parse_event, parse_event_or_detail, ResourceKind, ResourceRole, SeverityBand};
use serde_json::Value;

struct Expected {
    file: &'static str,
    finding_type: &'static str,
    severity: f64,
    band: SeverityBand,
    instance: &'static str,
    vpcs: &'static [&'static str],
    role: ResourceRole,
    sample: bool,
    archived: bool,
    account: Option<&'static str>,
    region: Option<&'static str>,
    count: u64,
    updated_at: &'static str,
}

const EC2: &[Expected] = &[
    Expected {
        file: "ec2-backdoor-cc-dns-minimal.json",
        finding_type: "Backdoor:EC2/C&CActivity.B!DNS",
        severity: 5.0,
        band: SeverityBand::Medium,
        instance: "i-99999999",
        vpcs: &[], // no networkInterfaces: looked up from the instance later
        role: ResourceRole::Target,
        sample: true,
        archived: false,
        account: Some("883606788610"),
        region: Some("us-east-1"),
        count: 1,
        updated_at: "2017-12-08T15:32:49.865Z",
    },
    Expected {
        file: "ec2-backdoor-dos-tcp-actor.json",
        finding_type: "Backdoor:EC2/DenialOfService.Tcp",
        severity: 8.0,
        band: SeverityBand::High,
        instance: "i-99999999",
        vpcs: &["GeneratedFindingVPCId"],
        role: ResourceRole::Actor,
        sample: true,
        archived: false,
        account: Some("371522382791"),
        region: Some("us-west-2"),
        count: 21,
        updated_at: "2019-10-25T00:24:41.102Z",
    },
    Expected {
        file: "ec2-canary-stateless-integtest.json",
        finding_type: "Canary:EC2/Stateless.IntegTest",
        severity: 5.0,
        band: SeverityBand::Medium,
        instance: "i-05746eb48123455e0",
        vpcs: &["vpc-34865123"],
        role: ResourceRole::Target,
        sample: false,
        archived: false,
        account: Some("123456789012"),
        region: Some("us-east-1"),
        count: 1,
        updated_at: "2017-10-31T23:16:23.824Z",
    },
    Expected {
        file: "ec2-cryptocurrency-bitcointool-b-dns.json",
        finding_type: "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        severity: 8.0,
        band: SeverityBand::High,
        instance: "i-99999999",
        vpcs: &["GeneratedFindingVPCId"],
        role: ResourceRole::Target,
        sample: true,
        archived: false,
        account: Some("371522382791"),
        region: Some("us-west-2"),
        count: 21,
        updated_at: "2019-10-25T00:24:41.092Z",
    },
    Expected {
        file: "ec2-rdp-bruteforce-real.json",
        finding_type: "UnauthorizedAccess:EC2/RDPBruteForce",
        severity: 2.0,
        band: SeverityBand::Low,
        instance: "i-095aafabdd2d17d30",
        vpcs: &["vpc-35df7053"],
        role: ResourceRole::Target,
        sample: false,
        archived: false,
        account: Some("692406183521"),
        region: Some("us-west-2"),
        count: 3,
        updated_at: "2019-10-24T21:17:27.789Z",
    },
    Expected {
        file: "ec2-recon-portprobe-unprotectedport-real.json",
        finding_type: "Recon:EC2/PortProbeUnprotectedPort",
        severity: 2.0,
        band: SeverityBand::Low,
        instance: "i-0618726e20846a8dc",
        vpcs: &["vpc-7ba6241f"],
        role: ResourceRole::Target,
        sample: false,
        archived: false,
        account: Some("884003976652"),
        region: Some("us-west-2"),
        count: 13793,
        updated_at: "2019-10-24T21:23:59.078Z",
    },
    Expected {
        file: "ec2-torclient.json",
        finding_type: "UnauthorizedAccess:EC2/TorClient",
        severity: 8.0,
        band: SeverityBand::High,
        instance: "i-99999999",
        vpcs: &["GeneratedFindingVPCId"],
        role: ResourceRole::Target,
        sample: true, // additionalInfo.sample is the string "True"
        archived: false,
        account: Some("371522382791"),
        region: Some("us-west-2"),
        count: 21,
        updated_at: "2019-10-25T00:24:41.100Z",
    },
    Expected {
        file: "ec2-trojan-dgadomainrequest-b.json",
        finding_type: "Trojan:EC2/DGADomainRequest.B",
        severity: 8.0,
        band: SeverityBand::High,
        instance: "i-99999999",
        vpcs: &["GeneratedFindingVPCId"],
        role: ResourceRole::Actor,
        sample: true,
        archived: false,
        account: Some("371522382791"),
        region: Some("us-west-2"),
        count: 21,
        updated_at: "2019-10-25T00:24:41.094Z",
    },
];

/// Not about an EC2 instance, although two of them carry instanceDetails with a VPC.
const NOT_EC2: &[(&str, &str)] = &[
    ("neg-accesskey-recon-maliciousipcaller-custom.json", "AccessKey"),
    ("neg-attacksequence-iam-critical.json", "it names no resource"),
    ("neg-iamuser-tor-ipcaller.json", "AccessKey"),
    ("neg-s3-pentest-parrotlinux.json", "S3Bucket"),
    // Composed from the documented shapes (fixtures/SOURCES.md): a function outside any VPC.
    ("composed-lambda-not-in-vpc.json", "runs in no VPC"),
];

/// A workload the finding names, written as `Target`'s Display and the VPCs it says.
type Named = (&'static str, &'static str, &'static str, &'static [&'static str]);

/// Composed from the documented shapes (fixtures/SOURCES.md): every kind beyond EC2.
/// (file, kind, [(what, account, region, VPCs the finding itself names)])
const WORKLOADS: &[(&str, ResourceKind, &[Named])] = &[
    (
        "composed-attacksequence-ec2-compromisedinstancegroup.json",
        ResourceKind::AttackSequence,
        &[
            ("instance i-d267efd688dfff302", "222222222222", "us-east-1", &["vpc-3a90fff2ef7eaab3b"]),
            ("network interface eni-b6ed78137dd44b382", "222222222222", "us-east-1", &["vpc-3a90fff2ef7eaab3b"]),
            ("instance i-ac782343247a9f90e", "333333333333", "eu-west-1", &["vpc-21e43628f0abba89a"]),
            ("network interface eni-ab698e03dca6ae4d1", "333333333333", "eu-west-1", &["vpc-21e43628f0abba89a"]),
            ("instance i-ab87e69e7bfbefda1", "222222222222", "us-east-1", &["vpc-60dd9de933d1fd7d5"]),
            ("network interface eni-061b12157032b065c", "222222222222", "us-east-1", &["vpc-60dd9de933d1fd7d5"]),
            ("VPC vpc-3a90fff2ef7eaab3b", "222222222222", "us-east-1", &["vpc-3a90fff2ef7eaab3b"]),
            ("AUTOSCALING_AUTO_SCALING_GROUP arn:aws:autoscaling:us-east-1:222222222222:autoScalingGroup:75593b70-daf0-24c0-a11b-49451072285a:autoScalingGroupName/web-use1", "222222222222", "us-east-1", &[]),
            ("IAM_INSTANCE_PROFILE arn:aws:iam::222222222222:instance-profile/web-tier-instance-profile", "222222222222", "us-east-1", &[]),
        ],
    ),
    (
        "composed-attacksequence-ecs-compromisedcluster.json",
        ResourceKind::AttackSequence,
        &[
            ("ECS_CLUSTER arn:aws:ecs:us-east-1:222222222222:cluster/payments-prod", "222222222222", "us-east-1", &[]),
            ("ECS task f1a9e839391d222b03c675b0a8cce7fa", "222222222222", "us-east-1", &[]),
            ("CONTAINER f1a9e839391d222b03c675b0a8cce7fa-2752ea5db3", "222222222222", "us-east-1", &[]),
            ("network interface eni-41249b199603e5ba2", "222222222222", "us-east-1", &["vpc-a47803c31ae5fa616"]),
        ],
    ),
    (
        "composed-runtime-eks-node.json",
        ResourceKind::EksCluster,
        &[
            ("EKS cluster orders-prod", "444444444444", "eu-west-1", &["vpc-ef041196e58517cfb"]),
            ("instance i-a270ba425f03a58db", "444444444444", "eu-west-1", &["vpc-ef041196e58517cfb"]),
        ],
    ),
    (
        "composed-runtime-ecs-fargate.json",
        ResourceKind::EcsCluster,
        &[("ECS task 85bb9c6fb392badeb82e4f7343ac3c24", "222222222222", "us-east-1", &[])],
    ),
    (
        "composed-lambda-network-in-vpc.json",
        ResourceKind::Lambda,
        &[("Lambda function invoice-renderer-prod", "555555555555", "us-east-1", &["vpc-f04530458d02fe07c"])],
    ),
];

#[test]
fn every_workload_fixture_names_its_workloads_where_they_run() {
    for (file, kind, expected) in WORKLOADS {
        let f = parse_event(&fixture(&format!("guardduty/{file}"))).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(f.kind, *kind, "{file}");
        let named: Vec<(String, &str, &str, Vec<&str>)> = f
            .workloads
            .iter()
            .map(|w| {
                (
                    w.target.to_string(),
                    w.account.as_str(),
                    w.region.as_str(),
                    w.target.known_vpcs(),
                )
            })
            .collect();
        let expected: Vec<(String, &str, &str, Vec<&str>)> = expected
            .iter()
            .map(|(what, account, region, vpcs)| (what.to_string(), *account, *region, vpcs.to_vec()))
            .collect();
        assert_eq!(named, expected, "{file}");
        assert!(!f.sample, "{file}");
    }
}

#[test]
fn every_ec2_fixture_parses_into_the_expected_facts() {
    for e in EC2 {
        let f = parse_event_or_detail(&fixture(&format!("guardduty/{}", e.file)))
            .unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert_eq!(f.finding_type, e.finding_type, "{}", e.file);
        assert_eq!(f.severity.value(), e.severity, "{}", e.file);
        assert_eq!(f.severity.band(), e.band, "{}", e.file);
        let instances: Vec<&str> = f.instances().map(|(_, id)| id).collect();
        assert_eq!(instances, [e.instance], "{}", e.file);
        assert_eq!(f.kind, ResourceKind::Instance, "{}", e.file);
        assert_eq!(f.vpc_ids(), e.vpcs, "{}", e.file);
        assert_eq!(f.resource_role, e.role, "{}", e.file);
        assert_eq!(f.sample, e.sample, "{}", e.file);
        assert_eq!(f.archived, e.archived, "{}", e.file);
        assert_eq!(f.account_id.as_deref(), e.account, "{}", e.file);
        assert_eq!(f.region.as_deref(), e.region, "{}", e.file);
        assert_eq!(f.count, Some(e.count), "{}", e.file);
        assert_eq!(f.updated_at.as_deref(), Some(e.updated_at), "{}", e.file);
        assert_eq!(f.id.len(), 32, "{}: finding ids are 32 hex characters", e.file);
    }
}

/// EC2 findings refused by name (each has its own test below).
const REFUSED: &[&str] = &["ec2-ssh-bruteforce.json"];

/// The aws-samples WAF fixture's partial envelope names no account: cwq will not guess one (the
/// envelope's `account` is the receiving account, not the instance's).
#[test]
fn a_finding_without_its_account_is_refused() {
    let err = parse_event_or_detail(&fixture("guardduty/ec2-ssh-bruteforce.json")).unwrap_err();
    assert_eq!(err.to_string(), "the finding has no `accountId`");
    assert_eq!(err.name(), "MissingField");
}

#[test]
fn every_other_fixture_is_not_applicable() {
    for (file, resource_type) in NOT_EC2 {
        let err = parse_event_or_detail(&fixture(&format!("guardduty/{file}"))).unwrap_err();
        assert_eq!(err.name(), "NotApplicable", "{file}: {err}");
        assert!(err.to_string().contains(resource_type), "{file}: {err}");
    }
}

#[test]
fn the_fixtures_are_all_covered_and_agree_with_the_index() {
    let index: Value = serde_json::from_str(&fixture("INDEX.json")).unwrap();
    let entries = index["guardduty"].as_array().unwrap();
    assert_eq!(
        entries.len(),
        EC2.len() + NOT_EC2.len() + REFUSED.len() + WORKLOADS.len(),
        "a fixture has no expectation here"
    );
    for entry in entries {
        let file = entry["file"].as_str().unwrap().trim_start_matches("guardduty/");
        if let Some(e) = EC2.iter().find(|e| e.file == file) {
            assert_eq!(entry["type"], e.finding_type, "{file}");
            assert_eq!(entry["severity"].as_f64(), Some(e.severity), "{file}");
            assert_eq!(
                entry["band"].as_str(),
                Some(format!("{:?}", e.band).as_str()),
                "{file}"
            );
            assert_eq!(entry["instanceId"], e.instance, "{file}");
            let vpcs: Vec<&str> = entry["vpcIds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(vpcs, e.vpcs, "{file}");
            if entry["sampleFlag"] == Value::Bool(true) {
                assert!(e.sample, "{file}");
            }
        } else if let Some((_, kind, _)) = WORKLOADS.iter().find(|(f, ..)| *f == file) {
            assert_eq!(entry["resourceType"], kind.name(), "{file}");
            assert_eq!(entry["composed"], true, "{file}");
        } else if !REFUSED.contains(&file) {
            assert!(
                NOT_EC2.iter().any(|(f, _)| *f == file),
                "{file} has no expectation"
            );
            assert_ne!(entry["resourceType"], "Instance", "{file}");
        }
    }
}

#[test]
fn the_lambdas_take_the_envelope_and_refuse_a_bare_detail() {
    let index: Value = serde_json::from_str(&fixture("INDEX.json")).unwrap();
    for entry in index["guardduty"].as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        let form = entry["form"].as_str().unwrap();
        let result = parse_event(&fixture(file));
        if file.ends_with("ec2-ssh-bruteforce.json") {
            assert_eq!(result.unwrap_err().name(), "MissingField", "{file}: no accountId");
        } else if form == "detail-only" {
            assert_eq!(result.unwrap_err().name(), "NotAGuardDutyEvent", "{file}");
        } else if entry["resourceType"] == "Instance" || WORKLOADS.iter().any(|(f, ..)| file.ends_with(f)) {
            assert!(result.is_ok(), "{file}: {result:?}");
        } else {
            assert_eq!(result.unwrap_err().name(), "NotApplicable", "{file}");
        }
    }
}

#[test]
fn a_bare_detail_wrapped_in_an_envelope_gives_the_same_finding() {
    for e in EC2 {
        let text = fixture(&format!("guardduty/{}", e.file));
        let value: Value = serde_json::from_str(&text).unwrap();
        if value.get("detail").is_some() {
            continue;
        }
        let event = serde_json::json!({
            "version": "0", "id": "x", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
            "account": "111111111111", "region": "us-east-1", "detail": value,
        });
        let wrapped = parse_event(&event.to_string()).unwrap();
        let bare = parse_event_or_detail(&text).unwrap();
        assert_eq!(wrapped, bare, "{}", e.file);
    }
}
