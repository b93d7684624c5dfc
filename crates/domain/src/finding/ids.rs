//! What the identifiers in a finding look like: GuardDuty's finding ids and types, EC2's
//! instance and VPC ids, AWS account ids. They end up in journal keys, execution names and
//! terminal text, so anything that does not look like one is refused rather than carried on.

/// The API model's FindingId is 1 to 300 characters; GuardDuty's are hex. Anything else
/// becomes journal keys and terminal text, so it is refused (docs/aws-behaviour.md).
pub(super) fn is_finding_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 300
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// GuardDuty's finding type format: `ThreatPurpose:ResourceTypeAffected/ThreatFamilyName`,
/// then optional `.DetectionMechanism` parts and a `!Artifact` (e.g.
/// `CryptoCurrency:EC2/BitcoinTool.B!DNS`, `Backdoor:EC2/C&CActivity.B`).
pub fn is_finding_type(text: &str) -> bool {
    let word = |w: &str, extra: &[u8]| {
        !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    };
    let Some((purpose, rest)) = text.split_once(':') else {
        return false;
    };
    let Some((resource, family)) = rest.split_once('/') else {
        return false;
    };
    let (family, artifact) = family.split_once('!').unwrap_or((family, "x"));
    // The API model's FindingType: 1 to 100 characters.
    text.len() <= 100
        && word(purpose, b"")
        && word(resource, b"")
        && word(artifact, b"")
        && family.split('.').all(|part| word(part, b"&-_"))
}

/// `prefix` followed by 8 or 17 lower-case hex digits, as EC2 ids are.
pub fn is_aws_id(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|hex| {
        matches!(hex.len(), 8 | 17) && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Twelve digits, as every AWS account id is.
pub(super) fn is_account_id(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}
