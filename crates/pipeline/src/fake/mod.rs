//! Fakes of every port in one in-memory [`world::World`], a deterministic scheduler
//! ([`sim::Sim`]) and an interpreter of the real state machine definitions ([`asl`]): the
//! pipeline's steps run in process, and tests explore how executions interleave.

pub mod asl;
pub mod sim;
pub mod world;

use crate::ports::{Clock, Ports};
use crate::settings::Settings;
use std::sync::Arc;
use world::World;

/// Every port of `world`, with `settings`.
pub fn ports(world: &Arc<World>, clock: Arc<dyn Clock>, settings: Settings) -> Ports {
    Ports {
        cloud_wan: world.clone(),
        journal: world.clone(),
        workloads: world.clone(),
        organizations: world.clone(),
        events: world.clone(),
        executions: world.clone(),
        security_hub: world.clone(),
        clock,
        settings: Arc::new(settings),
        known: Default::default(),
    }
}
