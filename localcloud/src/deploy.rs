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

/// An EventBridge rule of the template: its pattern, what it starts, and what happens to an
/// event it cannot deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRule {
    pub name: String,
    /// The rule's ARN (its RuleName, or a name made from the stack's, as CloudFormation does).
    #[serde(default)]
    pub arn: String,
    pub pattern: Value,
    pub state_machine_arn: String,
    /// RetryPolicy.MaximumRetryAttempts (EventBridge's default: 185).
    #[serde(default = "default_retries")]
    pub maximum_retry_attempts: u32,
    /// DeadLetterConfig.Arn: an SQS queue.
    #[serde(default)]
    pub dead_letter_arn: Option<String>,
}

fn default_retries() -> u32 {
    185
}

/// What became of an event delivered to one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Started {
        rule: String,
        execution_arn: String,
    },
    /// StartExecution failed for good; the event is in the rule's dead-letter queue.
    DeadLettered {
        rule: String,
        error: String,
        queue: String,
    },
    /// StartExecution failed for good and the rule has no dead-letter queue: EventBridge drops it.
    Dropped {
        rule: String,
        error: String,
    },
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

/// What `!Ref AWS::NoValue` resolves to until [`Resolver::resolve`] drops it.
const NO_VALUE: &str = "\u{0}cwq:no-value";

/// Resolves intrinsic functions against parameters and the physical names of resources.
struct Resolver {
    parameters: BTreeMap<String, String>,
    /// The template's Conditions, evaluated.
    conditions: BTreeMap<String, bool>,
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
            "AWS::SQS::Queue" => format!("arn:aws:sqs:{region}:{account}:{name}"),
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
            "AWS::NoValue" => return Ok(NO_VALUE.into()),
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

    /// A Condition's value: Fn::Equals, Fn::Not, Fn::And, Fn::Or and other conditions.
    fn condition(&self, value: &Value) -> Result<bool, DeployError> {
        let bad = || DeployError::Template(format!("unsupported condition {value}"));
        if let Some(name) = value["Condition"].as_str() {
            return self.conditions.get(name).copied().ok_or_else(bad);
        }
        let (key, args) = value.as_object().and_then(|m| m.iter().next()).ok_or_else(bad)?;
        let args = args.as_array().ok_or_else(bad)?;
        match key.as_str() {
            "Fn::Equals" => {
                let [a, b] = args.as_slice() else {
                    return Err(bad());
                };
                let text = |v: Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
                Ok(text(self.resolve(a)?) == text(self.resolve(b)?))
            }
            "Fn::Not" => Ok(!self.condition(args.first().ok_or_else(bad)?)?),
            "Fn::And" => args.iter().try_fold(true, |all, a| Ok(all && self.condition(a)?)),
            "Fn::Or" => args
                .iter()
                .try_fold(false, |any, a| Ok(any || self.condition(a)?)),
            _ => Err(bad()),
        }
    }

    /// Intrinsics resolved, and `AWS::NoValue` removed where it stood.
    fn resolve(&self, value: &Value) -> Result<Value, DeployError> {
        Ok(drop_no_value(self.resolve_inner(value)?))
    }

    fn resolve_inner(&self, value: &Value) -> Result<Value, DeployError> {
        let Value::Object(map) = value else {
            return match value {
                Value::Array(items) => Ok(Value::Array(
                    items
                        .iter()
                        .map(|i| self.resolve_inner(i))
                        .collect::<Result<_, _>>()?,
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
                "Fn::If" => {
                    let (Some(name), Some(yes), Some(no)) =
                        (argument[0].as_str(), argument.get(1), argument.get(2))
                    else {
                        return Err(DeployError::Template(format!("bad Fn::If {argument}")));
                    };
                    let holds =
                        self.conditions.get(name).copied().ok_or_else(|| {
                            DeployError::Template(format!("Fn::If names no condition {name}"))
                        })?;
                    return self.resolve_inner(if holds { yes } else { no });
                }
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
            out.insert(key.clone(), self.resolve_inner(value)?);
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

/// Removes what resolved to `AWS::NoValue`: the array element or object member.
fn drop_no_value(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .filter(|v| v.as_str() != Some(NO_VALUE))
                .map(drop_no_value)
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| v.as_str() != Some(NO_VALUE))
                .map(|(k, v)| (k, drop_no_value(v)))
                .collect(),
        ),
        other => other,
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

/// Lambda's limit on a function's environment variables, together.
pub const MAX_ENVIRONMENT_BYTES: usize = 4096;

/// The resource types `deploy` creates; the others are listed as not emulated.
const EMULATED: [&str; 4] = [
    "AWS::DynamoDB::Table",
    "AWS::Serverless::Function",
    "AWS::Serverless::StateMachine",
    "AWS::SQS::Queue",
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
    // What CloudFormation would refuse, refused here: sizes, types, patterns, ranges.
    for (name, value) in &parameters {
        crate::overrides::check_parameter(name, &declared[name], value).map_err(DeployError::Template)?;
    }

    let physical_name = |logical: &str, resource: &Value, key: &str| {
        resource["Properties"][key]
            .as_str()
            .map_or_else(|| format!("{}-{logical}", options.stack_name), str::to_string)
    };
    let mut resolver = Resolver {
        parameters,
        conditions: BTreeMap::new(),
        resources: BTreeMap::new(),
        stack_name: options.stack_name.clone(),
    };
    // Conditions may name each other: evaluate until none is left (a cycle is an error).
    let mut pending: Vec<(String, Value)> = doc["Conditions"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut left = Vec::new();
        for (name, condition) in pending {
            match resolver.condition(&condition) {
                Ok(holds) => {
                    resolver.conditions.insert(name, holds);
                }
                Err(_) => left.push((name, condition)),
            }
        }
        if left.len() == before {
            let names: Vec<&str> = left.iter().map(|(n, _)| n.as_str()).collect();
            return Err(DeployError::Template(format!(
                "conditions that cannot be evaluated: {}",
                names.join(", ")
            )));
        }
        pending = left;
    }
    for (logical, resource) in resources {
        let kind = resource["Type"].as_str().unwrap_or_default().to_string();
        let key = match kind.as_str() {
            "AWS::DynamoDB::Table" => "TableName",
            "AWS::Serverless::Function" => "FunctionName",
            "AWS::Serverless::StateMachine" => "Name",
            "AWS::SNS::Topic" => "TopicName",
            "AWS::SQS::Queue" => "QueueName",
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
        let key = match kind.as_str() {
            "AWS::DynamoDB::Table" => "TableName",
            "AWS::Serverless::Function" => "FunctionName",
            "AWS::SQS::Queue" => "QueueName",
            _ => "Name",
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
            "AWS::SQS::Queue" => {
                let request = json!({"QueueName": physical});
                aws_json(endpoint, "sqs", "AmazonSQS.CreateQueue", &request).await?;
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
                // Lambda: "4 KB, for all environment variables associated with the function".
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
                    false => resolver.resolve(&globals["LoggingConfig"])?,
                };
                for (key, variable) in [
                    ("LogFormat", "AWS_LAMBDA_LOG_FORMAT"),
                    ("ApplicationLogLevel", "AWS_LAMBDA_LOG_LEVEL"),
                ] {
                    if let Some(value) = logging[key].as_str() {
                        environment.insert(variable.to_string(), value.to_string());
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
                        let properties = &event["Properties"];
                        let rule_name = properties["RuleName"].as_str().map_or_else(
                            || format!("{}-{logical}{event_name}", options.stack_name),
                            str::to_string,
                        );
                        deployment.rules.push(EventRule {
                            arn: format!(
                                "arn:aws:events:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:rule/{rule_name}"
                            ),
                            name: format!("{logical}.{event_name}"),
                            pattern: properties["Pattern"].clone(),
                            state_machine_arn: arn.clone(),
                            maximum_retry_attempts: properties["RetryPolicy"]["MaximumRetryAttempts"]
                                .as_u64()
                                .map_or(185, |n| n as u32),
                            dead_letter_arn: properties["DeadLetterConfig"]["Arn"]
                                .as_str()
                                .map(str::to_string),
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
/// state machine with the event as input. A throttled or failing StartExecution is retried
/// (locally at most [`LOCAL_RETRIES`] times, a second apart at most, where EventBridge keeps
/// trying for up to 24 hours); an error no retry can fix (access denied, no such state
/// machine) is not retried. An event that could not be delivered goes to the rule's
/// dead-letter queue with EventBridge's message attributes, or is dropped without one.
pub async fn inject(
    endpoint: &str,
    deployment: &Deployment,
    event: &Value,
) -> Result<Vec<Delivery>, DeployError> {
    let mut deliveries = Vec::new();
    for rule in deployment
        .rules
        .iter()
        .filter(|r| crate::events::matches(&r.pattern, event))
    {
        let name = execution_name(event, &rule.name);
        let request =
            json!({"stateMachineArn": rule.state_machine_arn, "name": name, "input": event.to_string()});
        let mut attempt = 0u32;
        let failure = loop {
            match aws_json(endpoint, "states", "AWSStepFunctions.StartExecution", &request).await {
                Ok(response) => {
                    deliveries.push(Delivery::Started {
                        rule: rule.name.clone(),
                        execution_arn: response["executionArn"].as_str().unwrap_or_default().to_string(),
                    });
                    break None;
                }
                Err(e) if retryable(&e.code) && attempt < rule.maximum_retry_attempts.min(LOCAL_RETRIES) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(10)))).await;
                }
                Err(e) => break Some((e, attempt)),
            }
        };
        let Some((error, attempts)) = failure else {
            continue;
        };
        let shown = format!("{}: {}", error.code, error.message);
        match &rule.dead_letter_arn {
            Some(queue_arn) => {
                dead_letter(endpoint, queue_arn, rule, event, &error, attempts).await?;
                deliveries.push(Delivery::DeadLettered {
                    rule: rule.name.clone(),
                    error: shown,
                    queue: queue_arn.clone(),
                });
            }
            None => deliveries.push(Delivery::Dropped {
                rule: rule.name.clone(),
                error: shown,
            }),
        }
    }
    Ok(deliveries)
}

/// How many times the local cloud retries a delivery (EventBridge: up to 185, over a day).
pub const LOCAL_RETRIES: u32 = 5;

/// Errors EventBridge retries: throttling and the service's own failures. Missing
/// permissions and missing targets go to the dead-letter queue at once.
fn retryable(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "Throttling"
            | "TooManyRequestsException"
            | "ServiceUnavailable"
            | "InternalServerError"
            | "InternalFailure"
            | "Unreachable"
    )
}

/// An undeliverable event in the dead-letter queue, with the attributes EventBridge sets.
async fn dead_letter(
    endpoint: &str,
    queue_arn: &str,
    rule: &EventRule,
    event: &Value,
    error: &AwsCallError,
    attempts: u32,
) -> Result<(), DeployError> {
    let queue = queue_arn.rsplit(':').next().unwrap_or_default();
    let url = aws_json(
        endpoint,
        "sqs",
        "AmazonSQS.GetQueueUrl",
        &json!({"QueueName": queue}),
    )
    .await?;
    let code = match error.code.as_str() {
        "AccessDeniedException" | "AccessDenied" => "NO_PERMISSIONS",
        "StateMachineDoesNotExist" | "ResourceNotFoundException" => "NO_RESOURCE",
        c if retryable(c) => "THROTTLING",
        _ => "SDK_CLIENT_ERROR",
    };
    let attribute = |value: String| json!({"DataType": "String", "StringValue": value});
    let rule_arn = rule.arn.clone();
    let message = json!({
        "QueueUrl": url["QueueUrl"],
        "MessageBody": event.to_string(),
        "MessageAttributes": {
            "RULE_ARN": attribute(rule_arn),
            "TARGET_ARN": attribute(rule.state_machine_arn.clone()),
            "ERROR_CODE": attribute(code.into()),
            "ERROR_MESSAGE": attribute(format!("{}: {}", error.code, error.message)),
            "EXHAUSTED_RETRY_CONDITION": attribute(if retryable(&error.code) { "MaximumRetryAttempts" } else { "NotRetryable" }.into()),
            "RETRY_ATTEMPTS": attribute(attempts.to_string()),
        }
    });
    aws_json(endpoint, "sqs", "AmazonSQS.SendMessage", &message).await?;
    Ok(())
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
