//! Where Cloud WAN places an attachment: the attachment-policies in rule-number order, the
//! first whose conditions hold and whose action names a segment (or a network function group)
//! decides; every rule passed over is kept with why, for `cwq policy check` and for people.

use super::{AssociationMethod, AttachmentPolicy, Condition, ConditionLogic, CoreNetworkPolicy, Operator};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

impl CoreNetworkPolicy {
    /// Where Cloud WAN would place `attachment`, and why.
    pub fn evaluate(&self, attachment: &Attachment, options: EvaluationOptions) -> Evaluation {
        let mut skipped = Vec::new();
        for rule in &self.attachment_policies {
            match self.rule_placement(rule, attachment, options) {
                Ok(placement) => return Evaluation { placement, skipped },
                Err(why) => skipped.push(why),
            }
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

    /// Where `rule` places the attachment; Err: the rule does not apply, and why.
    fn rule_placement(
        &self,
        rule: &AttachmentPolicy,
        attachment: &Attachment,
        options: EvaluationOptions,
    ) -> Result<Placement, String> {
        let number = rule.rule_number;
        rule.conditions_match(attachment)
            .map_err(|why| format!("rule {number}: {why}"))?;
        let action = &rule.action;
        let segment_name = match action.association_method {
            None => {
                let group = action.add_to_network_function_group.clone().unwrap_or_default();
                return Ok(Placement::NetworkFunctionGroup {
                    name: group,
                    rule_number: number,
                });
            }
            Some(AssociationMethod::Constant) => action.segment.clone().unwrap_or_default(),
            Some(AssociationMethod::Tag) => {
                let key = action.tag_value_of_key.as_deref().unwrap_or_default();
                // The rule does not apply without the key (docs/aws-behaviour.md: inferred, unverified).
                attachment
                    .tags
                    .get(key)
                    .cloned()
                    .ok_or_else(|| format!("rule {number}: no tag `{key}` to take the segment from"))?
            }
        };
        let Some(segment) = self.segment(&segment_name) else {
            let why = format!("rule {number}: segment {segment_name:?} does not exist");
            return match options.unknown_segment {
                UnknownSegment::FallThrough => Err(why),
                UnknownSegment::Unassociated => Ok(Placement::Unassociated { reason: why }),
            };
        };
        let acceptance_required =
            action.require_acceptance == Some(true) || segment.require_attachment_acceptance;
        Ok(Placement::Segment {
            segment: segment.name.clone(),
            rule_number: number,
            acceptance_required,
        })
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
/// whether evaluation falls through to later rules (docs/aws-behaviour.md) \[unverified\].
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
