//! The Cloud WAN emulator: Network Manager's restJson1 API for global networks, core networks,
//! their policies and VPC attachments, wire-exact per the service model (docs/aws-behaviour.md).
//!
//! [`model`] is the service's state and behaviour (with `attachments` and `tags`), usable
//! in-process as a fake; `wire`, `routes` and `views` are the HTTP API over it. Placement uses cwq-core's evaluator. Transitions are lazy: a tag change records
//! where the attachment is going and when it gets there, and every request first completes
//! the transitions that are due. A zero delay therefore shows UPDATING until the next request.

mod attachments;
pub mod model;
mod routes;
mod settings;
mod tags;
mod views;
mod wire;

pub use attachments::{NewVpcAttachment, VpcArn};
pub use model::{CloudWan, NewCoreNetwork, Resource, Tag};
pub use routes::is_mutating;
pub use settings::Settings;
