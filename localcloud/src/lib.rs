//! cwq's local cloud: everything the pipeline needs, on 127.0.0.1, offline.
//!
//! - [`gateway`]: one port; routes by the SigV4 service to the emulator, the Lambda host, Step Functions
//!   or moto;
//!   the admin API under `/_cwq/`.
//! - [`cloudwan`]: the Network Manager (Cloud WAN) emulator.
//! - [`lambda_host`]: real bootstrap binaries behind the Lambda Runtime API.
//! - [`stepfunctions`]: Standard workflows of the real ASL, with redrive.
//! - [`observe`]: fault injection, the log of mutating calls, counters.
//! - [`admin`]: the typed client of the admin API; [`control`]: the state file and untyped
//!   calls; [`deploy`]: `cwq local deploy`, a client of both.

pub mod admin;
pub mod api;
pub mod cloudwan;
pub mod control;
pub mod defaults;
pub mod deploy;
pub mod events;
pub mod gateway;
pub mod http;
pub mod lambda_host;
pub mod moto;
pub mod observe;
pub mod overrides;
pub mod securityhub;
pub mod stack;
pub mod stepfunctions;
mod transport;
