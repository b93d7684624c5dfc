//! Unit tests of the parse: severities and bands, interfaces and their VPCs, the envelope,
//! the account, finding types, sample markers and EC2 ids.

use super::raw::marks_sample;
use super::*;

fn detail(severity: &str, vpcs: &[&str]) -> String {
    let enis: Vec<String> = vpcs
        .iter()
        .map(|v| format!(r#"{{"networkInterfaceId":"eni-0f1e2d3c","vpcId":"{v}"}}"#))
        .collect();
    format!(
        r#"{{"id":"f1","type":"CryptoCurrency:EC2/BitcoinTool.B!DNS","severity":{severity},
               "accountId":"222222222222","region":"us-east-1","updatedAt":"2026-09-30T03:02:20.903Z",
               "resource":{{"resourceType":"Instance","instanceDetails":{{"instanceId":"i-02468ace13579bdf0",
               "networkInterfaces":[{}]}}}},
               "service":{{"resourceRole":"ACTOR","count":12,"archived":false,"additionalInfo":{{"value":"{{}}","type":"default"}}}}}}"#,
        enis.join(",")
    )
}

#[test]
fn severity_written_as_integer_or_float_is_the_same() {
    let a = parse_event_or_detail(&detail("8", &["vpc-0abc1234def567890"])).unwrap();
    let b = parse_event_or_detail(&detail("8.0", &["vpc-0abc1234def567890"])).unwrap();
    assert_eq!(a.severity, b.severity);
    assert_eq!(a.severity.band(), SeverityBand::High);
    assert_eq!(a.resource_role, ResourceRole::Actor);
    assert_eq!(a.count, Some(12));
    assert!(!a.sample);
}

#[test]
fn band_edges() {
    let band = |s: f64| Severity::new(s).unwrap().band();
    assert_eq!(band(1.0), SeverityBand::Low);
    assert_eq!(band(3.9), SeverityBand::Low);
    assert_eq!(band(4.0), SeverityBand::Medium);
    assert_eq!(band(6.9), SeverityBand::Medium);
    assert_eq!(band(7.0), SeverityBand::High);
    assert_eq!(band(8.9), SeverityBand::High);
    assert_eq!(band(9.0), SeverityBand::Critical);
    assert_eq!(band(10.0), SeverityBand::Critical);
    assert!(Severity::new(0.9).is_err());
    assert!(Severity::new(10.1).is_err());
}

#[test]
fn every_interface_counts_once() {
    let f = parse_event_or_detail(&detail(
        "5",
        &["vpc-0abc1234def567890", "vpc-11111111", "vpc-0abc1234def567890"],
    ))
    .unwrap();
    assert_eq!(f.vpc_ids(), ["vpc-0abc1234def567890", "vpc-11111111"]);
}

#[test]
fn empty_or_malformed_vpc_ids_are_named_errors() {
    for bad in [
        "",
        "vpc-",
        "vpc-XYZ12345",
        "vpc-0abc1234def5678901",
        "subnet-11111111",
    ] {
        let err = parse_event_or_detail(&detail("5", &["vpc-11111111", bad])).unwrap_err();
        assert_eq!(
            err,
            FindingError::InvalidVpcId {
                index: 1,
                value: bad.into()
            },
            "{bad:?}"
        );
        assert_eq!(err.name(), "InvalidVpcId");
    }
}

#[test]
fn severity_outside_range_is_refused() {
    for s in ["0", "0.5", "10.5", "-8", "1e300"] {
        let err = parse_event_or_detail(&detail(s, &[])).unwrap_err();
        assert_eq!(err.name(), "SeverityOutOfRange", "{s}");
    }
    let err = parse_event_or_detail(&detail("\"8\"", &[])).unwrap_err();
    assert_eq!(err.name(), "WrongType");
    assert!(err.to_string().contains("detail.severity"), "{err}");
}

#[test]
fn envelope_must_come_from_guardduty() {
    let event = format!(
        r#"{{"source":"aws.ec2","detail-type":"GuardDuty Finding","detail":{}}}"#,
        detail("8", &[])
    );
    assert_eq!(parse_event(&event).unwrap_err().name(), "NotAGuardDutyEvent");
    assert_eq!(
        parse_event(&detail("8", &[])).unwrap_err().name(),
        "NotAGuardDutyEvent",
        "the Lambdas take the envelope only"
    );
    assert_eq!(parse_event("[1,2]").unwrap_err().name(), "NotAGuardDutyEvent");
    assert_eq!(parse_event("{").unwrap_err().name(), "MalformedJson");
}

#[test]
fn the_account_is_the_findings_own_never_the_envelopes() {
    let event = format!(
        r#"{{"account":"111111111111","region":"eu-west-1","detail":{}}}"#,
        detail("8", &[]).replace(r#""accountId":"222222222222","region":"us-east-1","#, "")
    );
    assert_eq!(
        parse_event(&event).unwrap_err(),
        FindingError::MissingField("accountId")
    );
    let event = format!(
        r#"{{"account":"111111111111","region":"eu-west-1","detail":{}}}"#,
        detail("8", &[]).replace(r#""region":"us-east-1","#, "")
    );
    let f = parse_event(&event).unwrap();
    assert_eq!(f.account_id.as_deref(), Some("222222222222"));
    assert_eq!(
        f.region.as_deref(),
        Some("eu-west-1"),
        "the Region may come from the envelope"
    );
}

#[test]
fn finding_types_follow_guardduty_s_format() {
    for good in [
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "Backdoor:EC2/C&CActivity.B",
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        "AttackSequence:EC2/CompromisedInstanceGroup",
        "Execution:Runtime/NewBinaryExecuted",
    ] {
        assert!(is_finding_type(good), "{good}");
    }
    for bad in [
        "",
        "Backdoor",
        "Backdoor:EC2",
        "Backdoor:EC2/",
        "Back door:EC2/X",
        "Backdoor:EC2/X\u{1b}[2J",
        "Backdoor:EC2/X!",
        "a:b/c\n",
    ] {
        assert!(!is_finding_type(bad), "{bad:?}");
    }
}

#[test]
fn sample_markers() {
    let info = |json: &str| marks_sample(&serde_json::from_str(json).unwrap());
    assert!(info(r#"{"sample":true}"#));
    assert!(info(r#"{"sample":"True"}"#));
    assert!(info(r#"{"value":"{\"sample\":true}","type":"default"}"#));
    assert!(!info(r#"{"value":"{}","type":"default"}"#));
    assert!(!info(r#"{"sample":false}"#));
    assert!(!info(r#"{"value":"not json"}"#));
}

#[test]
fn ids() {
    assert!(is_aws_id("vpc-0abc1234def567890", "vpc-"));
    assert!(is_aws_id("i-99999999", "i-"));
    assert!(!is_aws_id("vpc-0ABC1234", "vpc-"));
    assert!(!is_aws_id("i-9999999", "i-"));
}
