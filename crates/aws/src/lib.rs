//! cwq's AWS adapters: each port of the pipeline implemented with the AWS SDK, the error of
//! each call classified from its operation's typed error, and the Lambdas' main loop.

pub mod cloud_wan;
mod errors;
pub mod events;
pub mod executions;
pub mod journal;
pub mod lambda;
pub mod organizations;
mod placement;
pub mod security_hub;
pub mod workloads;

use cwq_pipeline::ports::{Ports, SystemClock};
use cwq_pipeline::{Settings, StepError};
use std::sync::Arc;

/// Where the adapters find their resources, from the environment the template sets.
#[derive(Debug, Clone)]
pub struct Resources {
    /// `CWQ_TABLE`: the journal table.
    pub table: String,
    /// `CWQ_EVENT_BUS` (default `default`).
    pub event_bus: String,
    /// `CWQ_RELEASE_STATE_MACHINE_ARN`: what the sweep starts.
    pub release_state_machine: Option<String>,
    /// `CWQ_WORKLOAD_ROLE_NAME`: assumed in workload accounts for EC2; empty: none.
    pub workload_role: Option<String>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Resources {
    pub fn from_env() -> Result<Self, StepError> {
        Ok(Self {
            table: var("CWQ_TABLE").ok_or_else(|| {
                StepError::Configuration("the environment variable CWQ_TABLE is not set".into())
            })?,
            event_bus: var("CWQ_EVENT_BUS").unwrap_or_else(|| "default".into()),
            release_state_machine: var("CWQ_RELEASE_STATE_MACHINE_ARN"),
            workload_role: var("CWQ_WORKLOAD_ROLE_NAME"),
        })
    }
}

/// Every port over the SDK, with the wall clock.
pub fn ports(sdk: &aws_config::SdkConfig, resources: &Resources, settings: Settings) -> Ports {
    Ports {
        cloud_wan: Arc::new(cloud_wan::NetworkManager::new(
            aws_sdk_networkmanager::Client::new(sdk),
        )),
        journal: Arc::new(journal::DynamoJournal::new(
            aws_sdk_dynamodb::Client::new(sdk),
            &resources.table,
        )),
        workloads: Arc::new(workloads::Ec2Workloads::new(
            sdk.clone(),
            resources.workload_role.clone(),
        )),
        organizations: Arc::new(organizations::OrganizationsAncestry::new(
            aws_sdk_organizations::Client::new(sdk),
        )),
        events: Arc::new(events::EventBridge::new(
            aws_sdk_eventbridge::Client::new(sdk),
            &resources.event_bus,
        )),
        executions: Arc::new(executions::StepFunctions::new(
            aws_sdk_sfn::Client::new(sdk),
            resources.release_state_machine.clone(),
        )),
        security_hub: Arc::new(security_hub::SecurityHubNotes::new(sdk.clone())),
        clock: Arc::new(SystemClock),
        settings: Arc::new(settings),
        known: Default::default(),
    }
}
