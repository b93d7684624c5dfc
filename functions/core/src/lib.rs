//! cwq's shared core: the domain (GuardDuty findings, Cloud WAN core network policies, the
//! response policy, decisions) used by the Lambdas, the CLI and the local cloud.

pub mod cloudwan;
pub mod decision;
pub mod error;
pub mod finding;
pub mod glob;
pub mod incident;
pub mod journal;
pub mod pipeline;
pub mod response_policy;

pub use cloudwan::{Attachment, CoreNetworkPolicy, EvaluationOptions, Placement};
pub use decision::{decide, Decision, NoAction, Outcome, Situation};
pub use finding::{parse_event, parse_event_or_detail, Finding, FindingError};
pub use response_policy::ResponsePolicy;
