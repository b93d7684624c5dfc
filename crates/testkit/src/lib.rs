//! The estate cwq acts on, built on the local cloud through the real AWS SDK: a core network
//! from a policy file, spoke VPCs with an instance each in several accounts and Regions, their
//! attachments, ECS tasks and EKS clusters in them, and GuardDuty findings about them. One kit for the demo, the end-to-end tests
//! and the benchmarks, so that each builds the same estate the same way.

mod containers;
mod estate;
mod finding;
mod organization;

pub use containers::FargateTask;
pub use estate::{local_sdk, AttachmentView, Estate, Spoke};
pub use finding::FindingEvent;

/// The core network's owner: the account cwq is deployed in.
pub const OWNER: &str = "123456789012";
/// The account the spokes' workloads run in, reached through the `cwq-workload` role.
pub const WORKLOAD: &str = "222222222222";
/// A second workload account (an attack sequence spans accounts), through the same role name.
pub const OTHER_WORKLOAD: &str = "333333333333";
/// The Region cwq is deployed in, and the default one of a spoke.
pub const REGION: &str = "us-east-1";

/// A call the estate made that failed, named.
#[derive(Debug, thiserror::Error)]
#[error("{call}: {message}")]
pub struct EstateError {
    pub call: String,
    pub message: String,
}

impl EstateError {
    fn new(call: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            call: call.into(),
            message: message.to_string(),
        }
    }

    /// An SDK error with its cause.
    fn sdk<E: std::error::Error>(call: &'static str) -> impl Fn(E) -> Self {
        move |e| Self::new(call, aws_sdk_sts::error::DisplayErrorContext(e))
    }
}
