//! cwq's domain: GuardDuty findings, Cloud WAN core network policies and their evaluation, the
//! response policy, decisions, and the quarantine lifecycle (demands, the required segment,
//! what reconciling must do next). Pure: no AWS SDK, no I/O; the CLI's `simulate` and
//! `policy check`, the pipeline and the local cloud's Cloud WAN emulator all build on it.

pub mod budget;
pub mod cloudwan;
pub mod decision;
pub mod finding;
pub mod glob;
pub mod lifecycle;
pub mod response_policy;

pub use cloudwan::{Attachment, CoreNetworkPolicy, EvaluationOptions, Placement};
pub use decision::{decide, Decision, NoAction, Outcome, Situation};
pub use finding::{parse_event, parse_event_or_detail, Finding, FindingError};
pub use response_policy::ResponsePolicy;

impl lifecycle::Ladder for ResponsePolicy {
    fn rank(&self, segment: &str) -> Option<usize> {
        ResponsePolicy::rank(self, segment)
    }
}
