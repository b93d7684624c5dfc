//! cwq's pipeline: the steps of the quarantine and release state machines, written against
//! small ports (Cloud WAN, the journal, EC2, events, executions, a clock) so that the same
//! code runs in the Lambdas over the AWS SDK (crate cwq-aws) and in process over fakes, where
//! a deterministic scheduler explores how executions interleave (tests/interleavings.rs).
//! docs/lifecycle.md describes the model the steps implement.

pub mod approval;
pub mod audit;
pub mod contract;
pub mod deferred;
pub mod error;
pub mod events;
pub mod known;
pub mod policy;
pub mod ports;
pub mod settings;
pub mod steps;

#[cfg(feature = "fake")]
pub mod fake;

pub use error::{PortError, StepError};
pub use ports::Ports;
pub use settings::Settings;
pub use steps::Step;
