//! `cwq local deploy`: reads a SAM template and creates on the local cloud what it declares
//! and the local cloud supports — DynamoDB tables, Rust functions (their bootstrap binaries),
//! state machines with DefinitionSubstitutions applied, EventBridge rules, schedules — so
//! local runs use the same template as AWS. Everything else is listed as not emulated.
//!
//! `template` reads the template and its parameters, `intrinsics` resolves CloudFormation's
//! functions, `resources` creates each resource (a client of the admin API and of the AWS
//! APIs the gateway serves), `schedules` and `rules` are what the functions and state
//! machines bring, and how events reach the rules.

mod intrinsics;
mod resources;
mod rules;
mod schedules;
mod template;

pub use crate::admin::Schedule;
pub use resources::{state_machine_definition, MAX_ENVIRONMENT_BYTES};
pub use rules::{inject, wait_for, Delivery, EventRule, LOCAL_RETRIES};
pub use template::{function_binaries, load_template, placeholders};

use crate::admin::{AdminClient, AdminError};
use crate::control::{read_json, write_json, AwsCallError};
use intrinsics::Resolver;
use resources::Deployer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub template: PathBuf,
    pub parameter_overrides: BTreeMap<String, String>,
    pub stack_name: String,
    /// Where built binaries are: `<target>/debug/<binary>`.
    pub binary_dir: PathBuf,
    /// How often the local cloud runs scheduled functions; None: only on demand.
    pub schedule_every: Option<Duration>,
}

/// What a deploy did, and what the local cloud needs to deliver events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub stack_name: String,
    pub created: Vec<Created>,
    pub not_emulated: Vec<Created>,
    pub rules: Vec<EventRule>,
    pub schedules: Vec<Schedule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{0}")]
    Template(String),
    #[error(transparent)]
    Aws(#[from] AwsCallError),
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl Deployment {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("deploy.json")
    }

    pub fn read(state_dir: &Path) -> Option<Self> {
        read_json(&Self::path(state_dir))
    }

    pub fn write(&self, state_dir: &Path) -> std::io::Result<()> {
        write_json(&Self::path(state_dir), self)
    }
}

/// The resource types `deploy` creates; the others are listed as not emulated.
const EMULATED: [&str; 4] = [
    "AWS::DynamoDB::Table",
    "AWS::Serverless::Function",
    "AWS::Serverless::StateMachine",
    "AWS::SQS::Queue",
];

pub async fn deploy(endpoint: &str, options: &DeployOptions) -> Result<Deployment, DeployError> {
    let doc = load_template(&options.template)?;
    let resources = doc["Resources"]
        .as_object()
        .ok_or_else(|| DeployError::Template("the template has no Resources".into()))?;
    let parameters = template::parameters(&doc, &options.parameter_overrides)?;
    let deployer = Deployer {
        endpoint,
        admin: AdminClient::new(endpoint),
        options,
        template_dir: options.template.parent().unwrap_or(Path::new(".")).to_path_buf(),
        resolver: Resolver::new(&doc, resources, parameters, &options.stack_name)?,
        globals: doc["Globals"]["Function"].clone(),
    };
    let mut deployment = Deployment {
        stack_name: options.stack_name.clone(),
        ..Deployment::default()
    };
    for (logical, resource) in resources {
        let kind = resource["Type"].as_str().unwrap_or_default();
        let physical = deployer.resolver.physical_name(logical);
        let record = Created {
            logical_id: logical.clone(),
            resource_type: kind.to_string(),
            physical_id: physical.clone(),
        };
        // Alarms, log groups, dashboards…: listed, not resolved (they may use Fn::If).
        if !EMULATED.contains(&kind) {
            deployment.not_emulated.push(record);
            continue;
        }
        let properties = deployer.resolver.resolve(&resource["Properties"])?;
        deployer
            .create(logical, kind, resource, &properties, &physical, &mut deployment)
            .await?;
        deployment.created.push(record);
    }
    deployer.admin.put_schedules(&deployment.schedules).await?;
    Ok(deployment)
}
