//! Creating what a template declares, resource by resource: DynamoDB tables and SQS queues
//! through moto, functions registered with the Lambda host through the admin API, state
//! machines (DefinitionSubstitutions applied) on the local Step Functions; with each function
//! its schedules, with each state machine its EventBridge rules.

use super::intrinsics::Resolver;
use super::rules::rules_of;
use super::schedules::schedules_of;
use super::template::{as_text, binary_name, placeholders};
use super::{DeployError, DeployOptions, Deployment};
use crate::admin::AdminClient;
use crate::control::aws_json;
use crate::defaults::DEFAULT_ACCOUNT;
use crate::lambda_host::FunctionConfig;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lambda's limit on a function's environment variables, together.
pub const MAX_ENVIRONMENT_BYTES: usize = 4096;

/// What creating a resource needs: where the local cloud is, the options, the template's
/// directory and its resolved intrinsics, and `Globals.Function`.
#[derive(Debug)]
pub(super) struct Deployer<'a> {
    pub(super) endpoint: &'a str,
    pub(super) admin: AdminClient,
    pub(super) options: &'a DeployOptions,
    pub(super) template_dir: PathBuf,
    pub(super) resolver: Resolver,
    pub(super) globals: Value,
}

impl Deployer<'_> {
    /// Creates the emulated resource `logical` of type `kind`, named `physical`, from its
    /// resolved `properties`; its schedules and rules go into `deployment`.
    pub(super) async fn create(
        &self,
        logical: &str,
        kind: &str,
        resource: &Value,
        properties: &Value,
        physical: &str,
        deployment: &mut Deployment,
    ) -> Result<(), DeployError> {
        match kind {
            "AWS::DynamoDB::Table" => create_table(self.endpoint, physical, properties).await?,
            "AWS::SQS::Queue" => {
                let request = json!({"QueueName": physical});
                aws_json(self.endpoint, "sqs", "AmazonSQS.CreateQueue", &request).await?;
            }
            "AWS::Serverless::Function" => {
                self.register_function(logical, resource, properties, physical)
                    .await?;
                let every = self.options.schedule_every;
                deployment
                    .schedules
                    .extend(schedules_of(logical, physical, properties, every));
            }
            "AWS::Serverless::StateMachine" => {
                let arn = self.resolver.arn(logical).unwrap_or_default();
                let definition = state_machine_definition(&self.template_dir, logical, properties)?;
                create_state_machine(self.endpoint, physical, &arn, &definition).await?;
                let stack = &self.options.stack_name;
                deployment
                    .rules
                    .extend(rules_of(stack, logical, &arn, properties));
            }
            other => unreachable!("{other} is in EMULATED without a match arm"),
        }
        Ok(())
    }

    /// Registers the function's bootstrap binary with the Lambda host, with its environment,
    /// timeout and memory as Lambda would run it.
    async fn register_function(
        &self,
        logical: &str,
        resource: &Value,
        properties: &Value,
        physical: &str,
    ) -> Result<(), DeployError> {
        let binary = self
            .options
            .binary_dir
            .join(binary_name(&self.template_dir, logical, resource)?);
        let environment = self.function_environment(logical, properties)?;
        let number = |key: &str, default: u64| {
            properties[key]
                .as_u64()
                .or_else(|| self.globals[key].as_u64())
                .unwrap_or(default)
        };
        let memory = number("MemorySize", 128);
        let handler = properties["Handler"]
            .as_str()
            .or_else(|| self.globals["Handler"].as_str())
            .ok_or_else(|| DeployError::Template(format!("{logical}: no Handler")))?;
        let config = FunctionConfig {
            name: physical.to_string(),
            binary,
            handler: handler.to_string(),
            environment,
            timeout_seconds: number("Timeout", 3),
            memory_mb: u32::try_from(memory).map_err(|_| {
                DeployError::Template(format!("{logical}: MemorySize {memory} is out of range"))
            })?,
        };
        self.admin.put_function(&config).await?;
        Ok(())
    }

    /// The function's variables over `Globals`', within Lambda's limit, and what Lambda tells
    /// the runtime of its LoggingConfig.
    fn function_environment(
        &self,
        logical: &str,
        properties: &Value,
    ) -> Result<BTreeMap<String, String>, DeployError> {
        let mut environment: BTreeMap<String, String> = BTreeMap::new();
        for source in [
            self.resolver.resolve(&self.globals["Environment"]["Variables"])?,
            properties["Environment"]["Variables"].clone(),
        ] {
            for (k, v) in source.as_object().into_iter().flatten() {
                environment.insert(k.clone(), as_text(v));
            }
        }
        // Lambda's limit: 4 KB for all of a function's variables together (docs/aws-behaviour.md).
        let size: usize = environment.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_ENVIRONMENT_BYTES {
            return Err(DeployError::Template(format!(
                "{logical}: its environment variables are {size} bytes; Lambda allows {MAX_ENVIRONMENT_BYTES} in total"
            )));
        }
        // Lambda tells the runtime the function's LoggingConfig through these (outside
        // the 4 KB): with JSON, each log line is the JSON object the metric filters read.
        let logging = match properties["LoggingConfig"].is_object() {
            true => properties["LoggingConfig"].clone(),
            false => self.resolver.resolve(&self.globals["LoggingConfig"])?,
        };
        for (key, variable) in [
            ("LogFormat", "AWS_LAMBDA_LOG_FORMAT"),
            ("ApplicationLogLevel", "AWS_LAMBDA_LOG_LEVEL"),
        ] {
            if let Some(value) = logging[key].as_str() {
                environment.insert(variable.to_string(), value.to_string());
            }
        }
        Ok(environment)
    }
}

/// The ASL with DefinitionSubstitutions applied; every placeholder must be filled.
pub fn state_machine_definition(
    template_dir: &Path,
    logical: &str,
    properties: &Value,
) -> Result<String, DeployError> {
    let text = if let Some(uri) = properties["DefinitionUri"].as_str() {
        let path = template_dir.join(uri);
        std::fs::read_to_string(&path).map_err(|e| DeployError::Read {
            path,
            message: e.to_string(),
        })?
    } else if properties["Definition"].is_object() {
        properties["Definition"].to_string()
    } else {
        return Err(DeployError::Template(format!(
            "{logical}: no DefinitionUri or Definition"
        )));
    };
    let mut definition = text;
    for (key, value) in properties["DefinitionSubstitutions"]
        .as_object()
        .into_iter()
        .flatten()
    {
        definition = definition.replace(&format!("${{{key}}}"), &as_text(value));
    }
    let left = placeholders(&definition);
    if !left.is_empty() {
        return Err(DeployError::Template(format!(
            "{logical}: no DefinitionSubstitutions for {}",
            left.join(", ")
        )));
    }
    serde_json::from_str::<Value>(&definition).map_err(|e| {
        DeployError::Template(format!(
            "{logical}: the definition is not valid JSON after substitution: {e}"
        ))
    })?;
    Ok(definition)
}

async fn create_table(endpoint: &str, name: &str, properties: &Value) -> Result<(), DeployError> {
    let mut request = json!({
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": properties["BillingMode"].as_str().unwrap_or("PAY_PER_REQUEST"),
    });
    for key in [
        "GlobalSecondaryIndexes",
        "ProvisionedThroughput",
        "StreamSpecification",
    ] {
        if !properties[key].is_null() {
            request[key] = properties[key].clone();
        }
    }
    match aws_json(endpoint, "dynamodb", "DynamoDB_20120810.CreateTable", &request).await {
        Ok(_) => {}
        // Redeploying keeps the table and its items.
        Err(e) if e.code == "ResourceInUseException" => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(ttl) = properties["TimeToLiveSpecification"].as_object() {
        let request = json!({"TableName": name, "TimeToLiveSpecification": ttl});
        aws_json(
            endpoint,
            "dynamodb",
            "DynamoDB_20120810.UpdateTimeToLive",
            &request,
        )
        .await?;
    }
    Ok(())
}

async fn create_state_machine(
    endpoint: &str,
    name: &str,
    arn: &str,
    definition: &str,
) -> Result<(), DeployError> {
    let role = format!("arn:aws:iam::{DEFAULT_ACCOUNT}:role/{name}-role");
    let create = json!({"name": name, "definition": definition, "roleArn": role, "type": "STANDARD"});
    match aws_json(endpoint, "states", "AWSStepFunctions.CreateStateMachine", &create).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == "StateMachineAlreadyExists" => {
            let update = json!({"stateMachineArn": arn, "definition": definition, "roleArn": role});
            aws_json(endpoint, "states", "AWSStepFunctions.UpdateStateMachine", &update).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
