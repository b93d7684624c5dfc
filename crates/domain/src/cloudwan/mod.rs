//! Cloud WAN core network policy documents and the evaluation of their `attachment-policies`
//! (docs/aws-behaviour.md, "Wire formats and policy evaluation"). The same evaluator decides
//! cwq's PolicyViolation check, powers `cwq policy check` and places attachments in the local
//! Cloud WAN emulator.
//!
//! The document model and its parse are here; `evaluate` places an attachment by the rules.

mod evaluate;

pub use evaluate::{Attachment, Evaluation, EvaluationOptions, Placement, UnknownSegment};

use serde::{Deserialize, Serialize};
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
}
