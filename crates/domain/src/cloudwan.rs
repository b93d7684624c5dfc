//! Cloud WAN core network policy documents and the evaluation of their `attachment-policies`
//! (docs/aws-behaviour.md, "Wire formats and policy evaluation"). The same evaluator decides cwq's PolicyViolation check, powers
//! `cwq policy check` and places attachments in the local Cloud WAN emulator.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The parts of a core network policy document that decide segment placement. Unknown fields
/// (routing, segment actions, network function groups' details…) are accepted and ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CoreNetworkPolicy {
    pub version: PolicyVersion,
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// Kept sorted by rule number.
    #[serde(default, rename = "attachment-policies")]
    pub attachment_policies: Vec<AttachmentPolicy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PolicyVersion {
    #[serde(rename = "2021.12")]
    V2021_12,
    #[serde(rename = "2025.11")]
    V2025_11,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Segment {
    pub name: String,
    /// Cloud WAN's default is true.
    #[serde(default = "yes")]
    pub require_attachment_acceptance: bool,
    #[serde(default)]
    pub isolate_attachments: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AttachmentPolicy {
    pub rule_number: u32,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub condition_logic: Option<ConditionLogic>,
    pub conditions: Vec<Condition>,
    pub action: RuleAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConditionLogic {
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawCondition")]
pub enum Condition {
    Any,
    ResourceId(Operator, String),
    /// `account-id` (2021.12) and `account` (2025.11).
    Account(Operator, String),
    Region(Operator, String),
    AttachmentType(Operator, String),
    TagExists(String),
    TagValue {
        key: String,
        operator: Operator,
        value: String,
    },
    /// A condition type this evaluator does not know (e.g. `tag-name`): it never matches.
    Unsupported(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operator {
    Equals,
    NotEquals,
    Contains,
    BeginsWith,
}

impl Operator {
    fn test(self, actual: &str, expected: &str) -> bool {
        match self {
            Self::Equals => actual == expected,
            Self::NotEquals => actual != expected,
            Self::Contains => actual.contains(expected),
            Self::BeginsWith => actual.starts_with(expected),
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Equals => "equals",
            Self::NotEquals => "not-equals",
            Self::Contains => "contains",
            Self::BeginsWith => "begins-with",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RuleAction {
    #[serde(default)]
    pub association_method: Option<AssociationMethod>,
    #[serde(default)]
    pub segment: Option<String>,
    #[serde(default)]
    pub tag_value_of_key: Option<String>,
    #[serde(default)]
    pub require_acceptance: Option<bool>,
    #[serde(default)]
    pub add_to_network_function_group: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssociationMethod {
    Constant,
    Tag,
}

#[derive(Debug, Deserialize)]
struct RawCondition {
    #[serde(rename = "type")]
    kind: String,
    operator: Option<Operator>,
    key: Option<String>,
    value: Option<String>,
}

impl TryFrom<RawCondition> for Condition {
    type Error = String;

    fn try_from(raw: RawCondition) -> Result<Self, String> {
        let kind = raw.kind.as_str();
        let need = |field: Option<String>, name: &str| {
            field.ok_or_else(|| format!("a `{kind}` condition needs `{name}`"))
        };
        let operator = || {
            raw.operator
                .ok_or_else(|| format!("a `{kind}` condition needs `operator`"))
        };
        Ok(match kind {
            "any" => Self::Any,
            "resource-id" => Self::ResourceId(operator()?, need(raw.value, "value")?),
            "account-id" | "account" => Self::Account(operator()?, need(raw.value, "value")?),
            "region" => Self::Region(operator()?, need(raw.value, "value")?),
            "attachment-type" => Self::AttachmentType(operator()?, need(raw.value, "value")?),
            "tag-exists" => Self::TagExists(need(raw.key, "key")?),
            "tag-value" => Self::TagValue {
                operator: operator()?,
                key: need(raw.key, "key")?,
                value: need(raw.value, "value")?,
            },
            other => Self::Unsupported(other.to_string()),
        })
    }
}

/// A policy document that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoreNetworkPolicyError {
    #[error("the core network policy is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the core network policy's `{path}` is invalid: {message}")]
    Invalid { path: String, message: String },
}

impl CoreNetworkPolicy {
    /// Parses a policy document, or a `GetCoreNetworkPolicy` response that carries one as the
    /// string `CoreNetworkPolicy.PolicyDocument`.
    pub fn from_json(json: &str) -> Result<Self, CoreNetworkPolicyError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| CoreNetworkPolicyError::MalformedJson(e.to_string()))?;
        if let Some(document) = value.pointer("/CoreNetworkPolicy/PolicyDocument") {
            let text = document.as_str().ok_or_else(|| CoreNetworkPolicyError::Invalid {
                path: "CoreNetworkPolicy.PolicyDocument".into(),
                message: "expected the policy document as a JSON string".into(),
            })?;
            return Self::from_json(text);
        }
        let mut policy: Self =
            serde_path_to_error::deserialize(value).map_err(|e| CoreNetworkPolicyError::Invalid {
                path: e.path().to_string(),
                message: e.into_inner().to_string(),
            })?;
        policy.validate()?;
        policy.attachment_policies.sort_by_key(|rule| rule.rule_number);
        Ok(policy)
    }

    /// What Cloud WAN itself refuses: rules it could not evaluate deterministically.
    fn validate(&self) -> Result<(), CoreNetworkPolicyError> {
        let invalid = |index: usize, message: String| CoreNetworkPolicyError::Invalid {
            path: format!("attachment-policies[{index}]"),
            message,
        };
        let mut seen = std::collections::BTreeSet::new();
        for (index, rule) in self.attachment_policies.iter().enumerate() {
            let number = rule.rule_number;
            if !(1..=65535).contains(&number) {
                return Err(invalid(index, format!("rule-number {number} is outside 1–65535")));
            }
            if !seen.insert(number) {
                return Err(invalid(index, format!("rule-number {number} is used twice")));
            }
            if rule.conditions.is_empty() {
                return Err(invalid(index, format!("rule {number} has no conditions")));
            }
            if rule.conditions.len() > 1 && rule.condition_logic.is_none() {
                return Err(invalid(
                    index,
                    format!("rule {number} has several conditions but no condition-logic"),
                ));
            }
            let action = &rule.action;
            let valid_action = match action.association_method {
                Some(AssociationMethod::Constant) => action.segment.is_some(),
                Some(AssociationMethod::Tag) => action.tag_value_of_key.is_some(),
                None => action.add_to_network_function_group.is_some(),
            };
            if !valid_action {
                return Err(invalid(
                    index,
                    format!(
                        "rule {number}'s action needs `segment` (constant), `tag-value-of-key` \
                         (tag) or `add-to-network-function-group`"
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn segment(&self, name: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.name == name)
    }

    /// Where Cloud WAN would place `attachment`, and why.
    pub fn evaluate(&self, attachment: &Attachment, options: EvaluationOptions) -> Evaluation {
        let mut skipped = Vec::new();
        for rule in &self.attachment_policies {
            let number = rule.rule_number;
            if let Err(why) = rule.conditions_match(attachment) {
                skipped.push(format!("rule {number}: {why}"));
                continue;
            }
            let action = &rule.action;
            let segment_name = match action.association_method {
                None => {
                    let group = action.add_to_network_function_group.clone().unwrap_or_default();
                    return Evaluation {
                        placement: Placement::NetworkFunctionGroup {
                            name: group,
                            rule_number: number,
                        },
                        skipped,
                    };
                }
                Some(AssociationMethod::Constant) => action.segment.clone().unwrap_or_default(),
                Some(AssociationMethod::Tag) => {
                    let key = action.tag_value_of_key.as_deref().unwrap_or_default();
                    match attachment.tags.get(key) {
                        Some(value) => value.clone(),
                        None => {
                            // The rule does not apply without the key (docs/aws-behaviour.md: inferred, unverified).
                            skipped.push(format!("rule {number}: no tag `{key}` to take the segment from"));
                            continue;
                        }
                    }
                }
            };
            let Some(segment) = self.segment(&segment_name) else {
                let why = format!("rule {number}: segment {segment_name:?} does not exist");
                match options.unknown_segment {
                    UnknownSegment::FallThrough => {
                        skipped.push(why);
                        continue;
                    }
                    UnknownSegment::Unassociated => {
                        return Evaluation {
                            placement: Placement::Unassociated { reason: why },
                            skipped,
                        }
                    }
                }
            };
            let acceptance_required =
                action.require_acceptance == Some(true) || segment.require_attachment_acceptance;
            return Evaluation {
                placement: Placement::Segment {
                    segment: segment.name.clone(),
                    rule_number: number,
                    acceptance_required,
                },
                skipped,
            };
        }
        let reason = if skipped.is_empty() {
            "the policy has no attachment-policies".to_string()
        } else {
            format!("no rule matched ({})", skipped.join("; "))
        };
        Evaluation {
            placement: Placement::Unassociated { reason },
            skipped,
        }
    }
}

impl AttachmentPolicy {
    /// Ok when the conditions hold; otherwise a short reason.
    fn conditions_match(&self, attachment: &Attachment) -> Result<(), String> {
        let results: Vec<Result<(), String>> = self
            .conditions
            .iter()
            .map(|condition| condition.check(attachment))
            .collect();
        match self.condition_logic.unwrap_or(ConditionLogic::And) {
            ConditionLogic::And => results.into_iter().collect::<Result<Vec<()>, _>>().map(drop),
            ConditionLogic::Or => {
                if results.iter().any(Result::is_ok) {
                    Ok(())
                } else {
                    let reasons: Vec<String> = results.into_iter().filter_map(Result::err).collect();
                    Err(reasons.join(" and "))
                }
            }
        }
    }
}

impl Condition {
    fn check(&self, attachment: &Attachment) -> Result<(), String> {
        let compare = |what: &str, operator: &Operator, expected: &str, actual: &str| {
            if operator.test(actual, expected) {
                Ok(())
            } else {
                Err(format!(
                    "{what} {actual:?} does not satisfy {operator} {expected:?}"
                ))
            }
        };
        match self {
            Self::Any => Ok(()),
            Self::ResourceId(op, value) => compare("resource-id", op, value, &attachment.resource_id),
            Self::Account(op, value) => compare("account", op, value, &attachment.owner_account),
            Self::Region(op, value) => compare("region", op, value, &attachment.edge_location),
            Self::AttachmentType(op, value) => {
                compare("attachment-type", op, value, &attachment.attachment_type)
            }
            Self::TagExists(key) => match attachment.tags.contains_key(key) {
                true => Ok(()),
                false => Err(format!("tag `{key}` is absent")),
            },
            Self::TagValue { key, operator, value } => match attachment.tags.get(key) {
                Some(actual) => compare(&format!("tag `{key}`"), operator, value, actual),
                None => Err(format!("tag `{key}` is absent")),
            },
            Self::Unsupported(kind) => Err(format!("condition type `{kind}` is not evaluated by cwq")),
        }
    }
}

/// What the attachment-policies look at (docs/aws-behaviour.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The policy's lower-case hyphenated form: `vpc`, `connect`, `site-to-site-vpn`…
    pub attachment_type: String,
    pub owner_account: String,
    pub edge_location: String,
    /// The attached resource's id, e.g. the VPC id.
    pub resource_id: String,
    pub tags: BTreeMap<String, String>,
}

impl Attachment {
    pub fn vpc(
        owner_account: &str,
        edge_location: &str,
        vpc_id: &str,
        tags: BTreeMap<String, String>,
    ) -> Self {
        Self {
            attachment_type: "vpc".into(),
            owner_account: owner_account.into(),
            edge_location: edge_location.into(),
            resource_id: vpc_id.into(),
            tags,
        }
    }

    /// The API's `AttachmentType` (`SITE_TO_SITE_VPN`) in the policy's form (`site-to-site-vpn`).
    pub fn policy_attachment_type(api_type: &str) -> String {
        api_type.to_ascii_lowercase().replace('_', "-")
    }
}

/// How to treat a tag that names a segment the policy does not have. AWS does not document
/// whether evaluation falls through to later rules (docs/aws-behaviour.md) [unverified].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownSegment {
    #[default]
    FallThrough,
    Unassociated,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvaluationOptions {
    pub unknown_segment: UnknownSegment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub placement: Placement,
    /// Rules passed over before the one that decided, each with why.
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Placement {
    Segment {
        segment: String,
        rule_number: u32,
        acceptance_required: bool,
    },
    NetworkFunctionGroup {
        name: String,
        rule_number: u32,
    },
    Unassociated {
        reason: String,
    },
}

impl Placement {
    pub fn segment(&self) -> Option<&str> {
        match self {
            Self::Segment { segment, .. } => Some(segment),
            _ => None,
        }
    }

    pub fn rule_number(&self) -> Option<u32> {
        match self {
            Self::Segment { rule_number, .. } | Self::NetworkFunctionGroup { rule_number, .. } => {
                Some(*rule_number)
            }
            Self::Unassociated { .. } => None,
        }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Segment {
                segment,
                rule_number,
                acceptance_required,
            } => {
                write!(f, "segment {segment} (rule {rule_number}")?;
                if *acceptance_required {
                    f.write_str(", needs acceptance")?;
                }
                f.write_str(")")
            }
            Self::NetworkFunctionGroup { name, rule_number } => {
                write!(f, "network function group {name} (rule {rule_number})")
            }
            Self::Unassociated { reason } => write!(f, "no segment: {reason}"),
        }
    }
}
