//! GuardDuty findings as EventBridge delivers them (docs/aws-behaviour.md, "GuardDuty").
//!
//! [`parse_event`] takes the EventBridge envelope the Lambdas receive; [`parse_event_or_detail`]
//! also takes a bare `detail` object, the form several public samples (and `cwq simulate`) use.
//! Everything that cannot be acted on is a [`FindingError`] with a stable name; nothing panics.
//!
//! The finding's model is here; `parse` reads an event into it, with `raw` (the JSON as
//! GuardDuty writes it) and `ids` (what its identifiers look like); `error` names the refusals.

mod error;
mod ids;
mod parse;
mod raw;
mod resources;
#[cfg(test)]
mod tests;
mod workload;

pub use error::FindingError;
pub use ids::{is_aws_id, is_finding_type};
pub use parse::{from_value, parse_event, parse_event_or_detail};
pub use workload::{ResourceKind, Target, Workload};

use serde::{Deserialize, Serialize};
use std::fmt;

/// The facts of one GuardDuty finding that cwq decides on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: String,
    pub finding_type: String,
    pub severity: Severity,
    /// The member account the finding is in (`detail.accountId`; never the envelope's).
    pub account_id: Option<String>,
    pub region: Option<String>,
    /// `resource.resourceType`.
    pub kind: ResourceKind,
    /// What the finding names, each in its own account and Region, in the finding's order,
    /// no duplicates; at least one can be placed in a VPC.
    pub workloads: Vec<Workload>,
    pub resource_role: ResourceRole,
    /// Occurrences aggregated under this finding id (`service.count`).
    pub count: Option<u64>,
    /// Kept as GuardDuty wrote it, not as a time: with the id it names the incident, so it
    /// must compare equal to the very same text when the finding is sent again.
    pub updated_at: Option<String>,
    pub title: Option<String>,
    /// A GuardDuty-generated sample: `additionalInfo.sample` (flat or inside `value`),
    /// `i-99999999`, `GeneratedFinding…` placeholders or a `[SAMPLE]` title.
    pub sample: bool,
    pub archived: bool,
    /// The finding's ARN (`arn:aws:guardduty:…:detector/…/finding/…`), which is its id in
    /// Security Hub; None when the event carries none that looks like one.
    #[serde(default)]
    pub arn: Option<String>,
}

impl Finding {
    /// The EC2 instances it names (whose volumes Forensics snapshots), with where they run.
    pub fn instances(&self) -> impl Iterator<Item = (&Workload, &str)> {
        self.workloads.iter().filter_map(|w| match &w.target {
            Target::Instance { instance_id, .. } => Some((w, instance_id.as_str())),
            _ => None,
        })
    }

    /// Every VPC the finding itself names, first-seen order, no duplicates (Enrich looks up
    /// the others).
    pub fn vpc_ids(&self) -> Vec<&str> {
        let mut vpcs: Vec<&str> = Vec::new();
        for vpc in self.workloads.iter().flat_map(|w| w.target.known_vpcs()) {
            if !vpcs.contains(&vpc) {
                vpcs.push(vpc);
            }
        }
        vpcs
    }

    /// What the finding is about, in a few words: `instance i-…`, `attack sequence of 9
    /// resources`, `Lambda function …`.
    pub fn subject(&self) -> String {
        match (self.kind, self.workloads.as_slice()) {
            (ResourceKind::AttackSequence, all) => format!("attack sequence of {} resources", all.len()),
            (_, [one, ..]) => one.target.to_string(),
            (kind, []) => kind.to_string(),
        }
    }
}

/// A GuardDuty severity, checked to lie in 1.0–10.0.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Severity(f64);

impl Severity {
    pub const MIN: f64 = 1.0;
    pub const MAX: f64 = 10.0;

    pub fn new(value: f64) -> Result<Self, FindingError> {
        if (Self::MIN..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(FindingError::SeverityOutOfRange { value })
        }
    }

    pub fn value(self) -> f64 {
        self.0
    }

    /// GuardDuty's band: Low 1.0–3.9, Medium 4.0–6.9, High 7.0–8.9, Critical 9.0–10.0.
    pub fn band(self) -> SeverityBand {
        match self.0 {
            s if s < 4.0 => SeverityBand::Low,
            s if s < 7.0 => SeverityBand::Medium,
            s if s < 9.0 => SeverityBand::High,
            _ => SeverityBand::Critical,
        }
    }
}

impl TryFrom<f64> for Severity {
    type Error = FindingError;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Severity> for f64 {
    fn from(severity: Severity) -> f64 {
        severity.0
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SeverityBand {
    Low,
    Medium,
    High,
    Critical,
}

impl fmt::Display for SeverityBand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
            Self::Critical => "Critical",
        })
    }
}

/// `service.resourceRole`: ACTOR — the instance did it (mining, C&C); TARGET — it was attacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ResourceRole {
    Actor,
    Target,
    /// Absent, or a value this version does not know.
    Unknown,
}

impl fmt::Display for ResourceRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Actor => "ACTOR",
            Self::Target => "TARGET",
            Self::Unknown => "unknown",
        })
    }
}
