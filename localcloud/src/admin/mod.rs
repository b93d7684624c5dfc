//! The local cloud's admin API (`/_cwq/…`), as its clients see it: the typed [`AdminClient`]
//! and the JSON bodies its routes exchange. The gateway serves these routes (its
//! `admin_routes` module) with the same types, so a client and the server cannot drift apart.

mod client;
mod shapes;

pub use client::{AdminClient, AdminError};
pub use shapes::{FaultSet, FunctionEntry, Health, LambdaSettings, Schedule, ScheduleRun};
