//! `cwq local deploy`: reads a SAM template and creates on the local cloud what it declares
//! and the local cloud supports — DynamoDB tables, Rust functions (their bootstrap binaries),
//! state machines with DefinitionSubstitutions applied, EventBridge rules, schedules — so
//! local runs use the same template as AWS. Everything else is listed as not emulated.

use crate::control::{admin, aws_json, AwsCallError};
use crate::gateway::{DEFAULT_ACCOUNT, DEFAULT_REGION};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
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

/// An EventBridge rule of the template: its pattern and what it starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRule {
    pub name: String,
    pub pattern: Value,
    pub state_machine_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub name: String,
    pub function: String,
    pub expression: String,
    /// None: only on demand.
    pub every_ms: Option<u64>,
    pub input: String,
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
    Admin(#[from] crate::control::AdminError),
}

impl Deployment {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("deploy.json")
    }

    pub fn read(state_dir: &Path) -> Option<Self> {
        serde_json::from_str(&std::fs::read_to_string(Self::path(state_dir)).ok()?).ok()
    }

    pub fn write(&self, state_dir: &Path) -> std::io::Result<()> {
        std::fs::write(
            Self::path(state_dir),
            serde_json::to_string_pretty(self).map_err(std::io::Error::other)?,
        )
    }
}

/// The template as JSON, with YAML's short intrinsic tags (`!Ref`, `!GetAtt`, `!Sub` …) in
/// their long form.
pub fn load_template(path: &Path) -> Result<Value, DeployError> {
    let text = std::fs::read_to_string(path).map_err(|e| DeployError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let yaml: serde_norway::Value = serde_norway::from_str(&text)
        .map_err(|e| DeployError::Template(format!("{}: not valid YAML: {e}", path.display())))?;
    Ok(yaml_to_json(yaml))
}

fn yaml_to_json(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    (
                        k.as_str().map_or_else(|| format!("{k:?}"), str::to_string),
                        yaml_to_json(v),
                    )
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let name = tagged.tag.to_string();
            let name = name.trim_start_matches('!');
            let inner = yaml_to_json(tagged.value);
            match (name, inner) {
                ("Ref", inner) => json!({"Ref": inner}),
                ("GetAtt", Value::String(s)) => {
                    let (resource, attribute) = s.split_once('.').unwrap_or((&s, ""));
                    json!({"Fn::GetAtt": [resource, attribute]})
                }
                (other, inner) => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

/// Resolves intrinsic functions against parameters and the physical names of resources.
struct Resolver {
    parameters: BTreeMap<String, String>,
    resources: BTreeMap<String, (String, String)>, // logical id → (type, physical name)
    stack_name: String,
}

impl Resolver {
    fn arn(&self, logical: &str) -> Option<String> {
        let (kind, name) = self.resources.get(logical)?;
        let (region, account) = (DEFAULT_REGION, DEFAULT_ACCOUNT);
        Some(match kind.as_str() {
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                format!("arn:aws:lambda:{region}:{account}:function:{name}")
            }
            "AWS::DynamoDB::Table" => format!("arn:aws:dynamodb:{region}:{account}:table/{name}"),
            "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine" => {
                format!("arn:aws:states:{region}:{account}:stateMachine:{name}")
            }
            "AWS::SNS::Topic" => format!("arn:aws:sns:{region}:{account}:{name}"),
            "AWS::IAM::Role" => format!("arn:aws:iam::{account}:role/{name}"),
            "AWS::Events::EventBus" => format!("arn:aws:events:{region}:{account}:event-bus/{name}"),
            _ => format!("arn:aws:cloudformation:{region}:{account}:local/{name}"),
        })
    }

    fn reference(&self, name: &str) -> Result<String, DeployError> {
        match name {
            "AWS::Region" => return Ok(DEFAULT_REGION.into()),
            "AWS::AccountId" => return Ok(DEFAULT_ACCOUNT.into()),
            "AWS::StackName" => return Ok(self.stack_name.clone()),
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            "AWS::NoValue" => return Ok(String::new()),
            _ => {}
        }
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        let (kind, physical) = self
            .resources
            .get(name)
            .ok_or_else(|| DeployError::Template(format!("!Ref {name}: no such parameter or resource")))?;
        // Ref of a state machine or topic is its ARN; of most others, the name.
        if kind.contains("StateMachine") || kind == "AWS::SNS::Topic" {
            return Ok(self.arn(name).unwrap_or_default());
        }
        Ok(physical.clone())
    }

    fn attribute(&self, logical: &str, attribute: &str) -> Result<String, DeployError> {
        match attribute {
            "Arn" => self.arn(logical),
            "Name" | "TopicName" => self.resources.get(logical).map(|(_, name)| name.clone()),
            _ => None,
        }
        .ok_or_else(|| {
            DeployError::Template(format!("!GetAtt {logical}.{attribute} is not available locally"))
        })
    }

    fn resolve(&self, value: &Value) -> Result<Value, DeployError> {
        let Value::Object(map) = value else {
            return match value {
                Value::Array(items) => Ok(Value::Array(
                    items.iter().map(|i| self.resolve(i)).collect::<Result<_, _>>()?,
                )),
                other => Ok(other.clone()),
            };
        };
        if map.len() == 1 {
            let (key, argument) = map.iter().next().expect("one entry");
            match key.as_str() {
                "Ref" => {
                    return Ok(Value::String(
                        self.reference(argument.as_str().unwrap_or_default())?,
                    ))
                }
                "Fn::GetAtt" => {
                    let parts: Vec<String> = match argument {
                        Value::Array(parts) => parts
                            .iter()
                            .filter_map(|p| p.as_str().map(str::to_string))
                            .collect(),
                        Value::String(s) => s.splitn(2, '.').map(str::to_string).collect(),
                        _ => Vec::new(),
                    };
                    let [logical, attribute] = parts.as_slice() else {
                        return Err(DeployError::Template(format!("bad Fn::GetAtt {argument}")));
                    };
                    return Ok(Value::String(self.attribute(logical, attribute)?));
                }
                "Fn::Sub" => return self.substitute(argument).map(Value::String),
                "Fn::Join" => {
                    let (Some(separator), Some(items)) = (argument[0].as_str(), argument.get(1)) else {
                        return Err(DeployError::Template(format!("bad Fn::Join {argument}")));
                    };
                    let items = self.resolve(items)?;
                    let parts: Vec<String> = items
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                        .collect();
                    return Ok(Value::String(parts.join(separator)));
                }
                k if k.starts_with("Fn::") => {
                    return Err(DeployError::Template(format!(
                        "{k} is not supported by cwq local deploy"
                    )));
                }
                _ => {}
            }
        }
        let mut out = Map::new();
        for (key, value) in map {
            out.insert(key.clone(), self.resolve(value)?);
        }
        Ok(Value::Object(out))
    }

    /// `${Name}`, `${Resource.Attr}`, `${AWS::Region}`; `${!Literal}` stays `${Literal}`.
    fn substitute(&self, argument: &Value) -> Result<String, DeployError> {
        let (text, vars) = match argument {
            Value::String(s) => (s.clone(), Map::new()),
            Value::Array(parts) => (
                parts
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                parts
                    .get(1)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            ),
            _ => return Err(DeployError::Template(format!("bad Fn::Sub {argument}"))),
        };
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| DeployError::Template(format!("unclosed ${{ in {text}")))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str(&format!("${{{literal}}}"));
            } else if let Some(value) = vars.get(name) {
                out.push_str(self.resolve(value)?.as_str().unwrap_or_default());
            } else if let Some((logical, attribute)) =
                name.split_once('.').filter(|_| !name.starts_with("AWS::"))
            {
                out.push_str(&self.attribute(logical, attribute)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The `${Placeholders}` left in a definition after substitution.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        found.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    found
}

/// `rate(5 minutes)` → 300 s; cron expressions are run on demand only.
fn rate_seconds(expression: &str) -> Option<u64> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    Some(match unit.trim_end_matches('s') {
        "minute" => n * 60,
        "hour" => n * 3600,
        "day" => n * 86400,
        _ => return None,
    })
}

/// The binary a SAM Rust function builds: `Metadata.BuildProperties.Binary`, else the package
/// name in `<CodeUri>/Cargo.toml`.
fn binary_name(template_dir: &Path, logical: &str, resource: &Value) -> Result<String, DeployError> {
    if let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() {
        return Ok(binary.to_string());
    }
    let code_uri = resource["Properties"]["CodeUri"]
        .as_str()
        .ok_or_else(|| DeployError::Template(format!("{logical}: no CodeUri")))?;
    let manifest = template_dir.join(code_uri).join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| DeployError::Read {
        path: manifest.clone(),
        message: e.to_string(),
    })?;
    let cargo: toml::Value =
        toml::from_str(&text).map_err(|e| DeployError::Template(format!("{}: {e}", manifest.display())))?;
    cargo["package"]["name"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| DeployError::Template(format!("{}: no [package] name", manifest.display())))
}

/// The binaries the template's functions need, for building them first.
pub fn function_binaries(template: &Path) -> Result<Vec<String>, DeployError> {
    let doc = load_template(template)?;
    let dir = template.parent().unwrap_or(Path::new("."));
    let mut names = Vec::new();
    for (logical, resource) in doc["Resources"].as_object().into_iter().flatten() {
        if resource["Type"] == "AWS::Serverless::Function" {
            names.push(binary_name(dir, logical, resource)?);
        }
    }
    Ok(names)
}

/// The resource types `deploy` creates; the others are listed as not emulated.
const EMULATED: [&str; 3] = [
    "AWS::DynamoDB::Table",
    "AWS::Serverless::Function",
    "AWS::Serverless::StateMachine",
];

pub async fn deploy(endpoint: &str, options: &DeployOptions) -> Result<Deployment, DeployError> {
    let doc = load_template(&options.template)?;
    let template_dir = options.template.parent().unwrap_or(Path::new(".")).to_path_buf();
    let resources = doc["Resources"]
        .as_object()
        .ok_or_else(|| DeployError::Template("the template has no Resources".into()))?;

    // Parameters: defaults, then overrides; an override for no parameter is a mistake.
    let declared = doc["Parameters"].as_object().cloned().unwrap_or_default();
    let mut parameters = BTreeMap::new();
    for (name, spec) in &declared {
        if let Some(default) = spec.get("Default") {
            parameters.insert(
                name.clone(),
                default
                    .as_str()
                    .map_or_else(|| default.to_string(), str::to_string),
            );
        }
    }
    for (name, value) in &options.parameter_overrides {
        if !declared.contains_key(name) {
            return Err(DeployError::Template(format!(
                "--parameter-overrides {name}: the template has no such parameter"
            )));
        }
        parameters.insert(name.clone(), value.clone());
    }
    if let Some(missing) = declared.keys().find(|name| !parameters.contains_key(*name)) {
        return Err(DeployError::Template(format!(
            "parameter {missing} has no default: give it with --parameter-overrides"
        )));
    }

    let physical_name = |logical: &str, resource: &Value, key: &str| {
        resource["Properties"][key]
            .as_str()
            .map_or_else(|| format!("{}-{logical}", options.stack_name), str::to_string)
    };
    let mut resolver = Resolver {
        parameters,
        resources: BTreeMap::new(),
        stack_name: options.stack_name.clone(),
    };
    for (logical, resource) in resources {
        let kind = resource["Type"].as_str().unwrap_or_default().to_string();
        let key = match kind.as_str() {
            "AWS::DynamoDB::Table" => "TableName",
            "AWS::Serverless::Function" => "FunctionName",
            "AWS::Serverless::StateMachine" => "Name",
            "AWS::SNS::Topic" => "TopicName",
            _ => "Name",
        };
        let name = match &resource["Properties"][key] {
            Value::String(_) | Value::Null => physical_name(logical, resource, key),
            // A computed name: resolved once the names it refers to are known.
            _ => format!("{}-{logical}", options.stack_name),
        };
        resolver.resources.insert(logical.clone(), (kind, name));
    }

    // Names computed from parameters (`!Sub "${AWS::StackName}-journal"`) resolve now.
    for (logical, resource) in resources {
        let (kind, _) = resolver.resources[logical].clone();
        let key = if kind == "AWS::DynamoDB::Table" {
            "TableName"
        } else if kind == "AWS::Serverless::Function" {
            "FunctionName"
        } else {
            "Name"
        };
        let property = &resource["Properties"][key];
        if property.is_object() {
            if let Value::String(name) = resolver.resolve(property)? {
                resolver.resources.insert(logical.clone(), (kind, name));
            }
        }
    }

    let globals = doc["Globals"]["Function"].clone();
    let mut deployment = Deployment {
        stack_name: options.stack_name.clone(),
        ..Deployment::default()
    };
    for (logical, resource) in resources {
        let kind = resource["Type"].as_str().unwrap_or_default();
        let physical = resolver.resources[logical].1.clone();
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
        let properties = resolver.resolve(&resource["Properties"])?;
        match kind {
            "AWS::DynamoDB::Table" => {
                create_table(endpoint, &physical, &properties).await?;
                deployment.created.push(record);
            }
            "AWS::Serverless::Function" => {
                let binary = options
                    .binary_dir
                    .join(binary_name(&template_dir, logical, resource)?);
                let mut environment: BTreeMap<String, String> = BTreeMap::new();
                for source in [
                    resolver.resolve(&globals["Environment"]["Variables"])?,
                    properties["Environment"]["Variables"].clone(),
                ] {
                    for (k, v) in source.as_object().into_iter().flatten() {
                        environment.insert(
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_string),
                        );
                    }
                }
                let number = |key: &str, default: u64| {
                    properties[key]
                        .as_u64()
                        .or_else(|| globals[key].as_u64())
                        .unwrap_or(default)
                };
                let config = json!({"name": physical, "binary": binary, "environment": environment,
                                    "timeout_seconds": number("Timeout", 3), "memory_mb": number("MemorySize", 128)});
                admin(endpoint, "PUT", "functions", Some(&config)).await?;
                for (event_name, event) in properties["Events"].as_object().into_iter().flatten() {
                    if matches!(event["Type"].as_str(), Some("ScheduleV2" | "Schedule")) {
                        let expression = event["Properties"]["ScheduleExpression"]
                            .as_str()
                            .or(event["Properties"]["Schedule"].as_str())
                            .unwrap_or_default()
                            .to_string();
                        let every_ms = options
                            .schedule_every
                            .filter(|_| rate_seconds(&expression).is_some())
                            .map(|d| d.as_millis() as u64);
                        deployment.schedules.push(Schedule {
                            name: format!("{logical}.{event_name}"),
                            function: physical.clone(),
                            expression,
                            every_ms,
                            input: event["Properties"]["Input"].as_str().unwrap_or("{}").to_string(),
                        });
                    }
                }
                deployment.created.push(record);
            }
            "AWS::Serverless::StateMachine" => {
                let arn = resolver.arn(logical).unwrap_or_default();
                let definition = state_machine_definition(&template_dir, logical, &properties)?;
                create_state_machine(endpoint, &physical, &arn, &definition).await?;
                for (event_name, event) in properties["Events"].as_object().into_iter().flatten() {
                    if matches!(
                        event["Type"].as_str(),
                        Some("EventBridgeRule" | "CloudWatchEvent")
                    ) {
                        deployment.rules.push(EventRule {
                            name: format!("{logical}.{event_name}"),
                            pattern: event["Properties"]["Pattern"].clone(),
                            state_machine_arn: arn.clone(),
                        });
                    }
                }
                deployment.created.push(record);
            }
            other => unreachable!("{other} is in EMULATED without a match arm"),
        }
    }
    let schedules: Vec<Value> = deployment.schedules.iter().map(|s| json!(s)).collect();
    admin(endpoint, "PUT", "schedules", Some(&Value::Array(schedules))).await?;
    Ok(deployment)
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
        let value = value.as_str().map_or_else(|| value.to_string(), str::to_string);
        definition = definition.replace(&format!("${{{key}}}"), &value);
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

/// Delivers `event` as EventBridge would: to each rule whose pattern matches, by starting its
/// state machine with the event as input. Returns the execution ARNs.
pub async fn inject(
    endpoint: &str,
    deployment: &Deployment,
    event: &Value,
) -> Result<Vec<(String, String)>, DeployError> {
    let mut started = Vec::new();
    for rule in deployment
        .rules
        .iter()
        .filter(|r| crate::events::matches(&r.pattern, event))
    {
        let name = execution_name(event, &rule.name);
        let request =
            json!({"stateMachineArn": rule.state_machine_arn, "name": name, "input": event.to_string()});
        let response = aws_json(endpoint, "states", "AWSStepFunctions.StartExecution", &request).await?;
        started.push((
            rule.name.clone(),
            response["executionArn"].as_str().unwrap_or_default().to_string(),
        ));
    }
    Ok(started)
}

/// Executions need explicit names: the event id, or the finding id, and a clock tick so that a
/// re-sent event is a new execution (as EventBridge delivers it), 80 characters at most.
fn execution_name(event: &Value, rule: &str) -> String {
    let id = event["id"]
        .as_str()
        .or(event["detail"]["id"].as_str())
        .unwrap_or("event");
    let ticks = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let rule = rule.split('.').next().unwrap_or(rule);
    let clean = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect::<String>()
    };
    let mut name = format!("{}-{}-{ticks}", clean(rule), clean(id));
    name.truncate(80);
    name
}

/// The final status of an execution, polled until it is no longer RUNNING.
pub async fn wait_for(endpoint: &str, execution_arn: &str, timeout: Duration) -> Result<Value, DeployError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let described = aws_json(
            endpoint,
            "states",
            "AWSStepFunctions.DescribeExecution",
            &json!({"executionArn": execution_arn}),
        )
        .await?;
        if described["status"] != "RUNNING" || std::time::Instant::now() > deadline {
            return Ok(described);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
