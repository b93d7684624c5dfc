//! The check of a response policy against a core network policy: every segment it names
//! exists, cwq's tag alone places an attachment there, each live attachment would land there,
//! and every protected VPC and attachment exists.

use super::Live;
use crate::error::CliError;
use crate::operator::Output;
use cwq_domain::cloudwan::{Attachment, CoreNetworkPolicy, EvaluationOptions, Placement};
use cwq_domain::response_policy::ResponsePolicy;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// What a check proved, what it found wrong, and what the operator should know.
#[derive(Debug, Default)]
pub(super) struct Report {
    proofs: Vec<String>,
    problems: Vec<String>,
    notes: Vec<String>,
}

/// What the checks of one target segment share.
struct Target<'a> {
    segment: &'a str,
    used_by: String,
    key: &'a str,
    options: EvaluationOptions,
}

impl Report {
    pub(super) fn new(
        policy: &ResponsePolicy,
        core: &CoreNetworkPolicy,
        live: Option<&[Live]>,
        accept_pending_tags: bool,
    ) -> Self {
        let mut report = Self::default();
        let options = EvaluationOptions {
            unknown_segment: policy.unknown_segment,
        };
        let mut targets: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (source, segment) in policy.target_segments() {
            targets.entry(segment).or_default().push(source);
        }
        for segment in &policy.ladder {
            targets.entry(segment.as_str()).or_default();
        }
        for (segment, sources) in &targets {
            let used_by = match sources.is_empty() {
                true => "the ladder".to_string(),
                false => sources.join(", "),
            };
            if core.segment(segment).is_none() {
                report.problems.push(format!(
                    "segment {segment} (named by {used_by}) does not exist in the core network policy"
                ));
                continue;
            }
            if sources.is_empty() {
                continue; // on the ladder only: cwq never tags toward it
            }
            let target = Target {
                segment,
                used_by,
                key: &policy.tags.key,
                options,
            };
            report.check_tag_places(core, &target, accept_pending_tags);
            for attachment in live.into_iter().flatten().filter(|a| !is_protected(policy, a)) {
                report.check_live_lands(core, &target, attachment);
            }
        }
        report.check_scopes(policy);
        match live {
            Some(attachments) => report.check_protected(policy, attachments),
            None if !policy.protected.vpcs.is_empty() || !policy.protected.attachments.is_empty() => {
                report.notes.push(
                    "protected VPCs and attachments are not checked offline: give --core-network-id".into(),
                )
            }
            None => {}
        }
        report
    }

    /// Scope rules that can never apply: an earlier rule matches every leg they would (the
    /// first match wins), or every VPC they list is protected (protection comes first).
    fn check_scopes(&mut self, policy: &ResponsePolicy) {
        for (i, rule) in policy.scopes.iter().enumerate() {
            if let Some(earlier) = policy.scopes[..i].iter().find(|e| rule.is_covered_by(e)) {
                self.problems.push(format!(
                    "scope rule {:?} can never match: the earlier rule {:?} matches every leg it would (the first match applies)",
                    rule.name, earlier.name
                ));
            } else if !rule.vpcs.is_empty() && rule.vpcs.iter().all(|v| policy.protected.vpcs.contains(v)) {
                self.problems.push(format!(
                    "scope rule {:?} can never apply: every VPC it lists is protected, and protection comes first",
                    rule.name
                ));
            } else {
                self.proofs.push(format!("scope rule {:?} can match", rule.name));
            }
        }
    }

    /// The tag alone, on an attachment with no other tags, places it in the target segment.
    fn check_tag_places(&mut self, core: &CoreNetworkPolicy, target: &Target, accept_pending_tags: bool) {
        let Target {
            segment,
            used_by,
            key,
            ..
        } = target;
        let alone = Attachment::vpc(
            "000000000000",
            "us-east-1",
            "vpc-0cwqcheck",
            [(key.to_string(), segment.to_string())].into(),
        );
        match core.evaluate(&alone, target.options).placement {
            Placement::Segment {
                segment: landed,
                rule_number,
                acceptance_required,
            } if landed == *segment => {
                self.proofs.push(format!(
                    "{key}={segment} places an attachment in {segment} (rule {rule_number})"
                ));
                match (acceptance_required, accept_pending_tags) {
                    (false, _) => {}
                    (true, true) => self.notes.push(format!(
                        "{segment} requires acceptance: cwq accepts each move as core network owner (AcceptPendingTags=true)"
                    )),
                    // Decide refuses these moves: withdrawing an unaccepted proposal with
                    // RejectAttachment may detach the VPC (docs/aws-behaviour.md).
                    (true, false) => self.problems.push(format!(
                        "{segment} (for {used_by}) requires attachment acceptance and the stack does not accept \
                         tag changes (AcceptPendingTags=false): cwq would refuse every move into it \
                         (PolicyViolation). Set AcceptPendingTags=true (and pass --accept-pending-tags), or drop \
                         require-attachment-acceptance from {segment}"
                    )),
                }
            }
            other => self.problems.push(format!(
                "{key}={segment} (for {used_by}) places an attachment in {other}"
            )),
        }
    }

    /// A live attachment, with its own tags and the target's, lands in the target segment.
    fn check_live_lands(&mut self, core: &CoreNetworkPolicy, target: &Target, attachment: &Live) {
        let (key, segment) = (target.key, target.segment);
        let mut tags = attachment.facts.tags.clone();
        tags.insert(key.to_string(), segment.to_string());
        let moved = Attachment {
            tags,
            ..attachment.facts.clone()
        };
        let placement = core.evaluate(&moved, target.options).placement;
        if placement.segment() != Some(segment) {
            self.problems.push(format!(
                "{} ({}): with {key}={segment} it would land in {placement}, not {segment}",
                attachment.attachment_id, attachment.facts.resource_id
            ));
        }
    }

    /// Every protected VPC and attachment exists on the core network (else: a typo).
    fn check_protected(&mut self, policy: &ResponsePolicy, attachments: &[Live]) {
        if self.problems.is_empty() {
            self.proofs.push(format!(
                "every one of the {} VPC attachments lands where cwq means it to",
                attachments.len()
            ));
        }
        let vpcs: BTreeSet<&str> = attachments.iter().map(|a| a.facts.resource_id.as_str()).collect();
        let ids: BTreeSet<&str> = attachments.iter().map(|a| a.attachment_id.as_str()).collect();
        for vpc in policy
            .protected
            .vpcs
            .iter()
            .filter(|v| !vpcs.contains(v.as_str()))
        {
            self.problems.push(format!(
                "protected VPC {vpc} is not attached to the core network (a typo?)"
            ));
        }
        for id in policy
            .protected
            .attachments
            .iter()
            .filter(|i| !ids.contains(i.as_str()))
        {
            self.problems.push(format!(
                "protected attachment {id} does not exist on the core network"
            ));
        }
    }

    pub(super) fn print(&self, output: Output, extra_notes: &[String]) {
        let notes: Vec<&String> = extra_notes.iter().chain(&self.notes).collect();
        match output {
            Output::Json => println!(
                "{:#}",
                json!({"ok": self.problems.is_empty(), "proofs": self.proofs, "problems": self.problems, "notes": notes})
            ),
            Output::Text => {
                for line in &self.proofs {
                    println!("ok    {line}");
                }
                for line in notes {
                    println!("note  {line}");
                }
                for line in &self.problems {
                    println!("FAIL  {line}");
                }
            }
        }
    }

    pub(super) fn verdict(&self) -> Result<(), CliError> {
        match self.problems.len() {
            0 => Ok(()),
            n => Err(CliError::failed(format!(
                "the response policy does not hold with this core network: {n} problem{}; nothing was changed",
                if n == 1 { "" } else { "s" }
            ))),
        }
    }
}

/// Protected attachments are never moved, so where cwq's tag would take them does not matter.
fn is_protected(policy: &ResponsePolicy, live: &Live) -> bool {
    let p = &policy.protected;
    p.vpcs.contains(&live.facts.resource_id)
        || p.attachments.contains(&live.attachment_id)
        || p.tag
            .as_ref()
            .is_some_and(|tag| live.facts.tags.contains_key(tag))
}
