//! CloudFormation's intrinsic functions as `cwq local deploy` resolves them — `Ref`,
//! `Fn::GetAtt`, `Fn::Sub`, `Fn::If`, `Fn::Join`, the template's Conditions and
//! `AWS::NoValue` — against the parameters, the pseudo parameters and the physical names the
//! resources get locally.

use super::template::as_text;
use super::DeployError;
use crate::defaults::{DEFAULT_ACCOUNT, DEFAULT_REGION};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What `!Ref AWS::NoValue` resolves to until [`Resolver::resolve`] drops it.
const NO_VALUE: &str = "\u{0}cwq:no-value";

/// Resolves intrinsic functions against parameters and the physical names of resources.
#[derive(Debug)]
pub(super) struct Resolver {
    parameters: BTreeMap<String, String>,
    /// The template's Conditions, evaluated.
    conditions: BTreeMap<String, bool>,
    resources: BTreeMap<String, (String, String)>, // logical id → (type, physical name)
    stack_name: String,
}

/// The property that names a resource of type `kind`.
fn name_property(kind: &str) -> &'static str {
    match kind {
        "AWS::DynamoDB::Table" => "TableName",
        "AWS::Serverless::Function" => "FunctionName",
        "AWS::SNS::Topic" => "TopicName",
        "AWS::SQS::Queue" => "QueueName",
        _ => "Name",
    }
}

impl Resolver {
    /// The resolver of `doc` deployed as `stack_name`: its Conditions evaluated, and each
    /// resource's physical name known.
    pub(super) fn new(
        doc: &Value,
        resources: &Map<String, Value>,
        parameters: BTreeMap<String, String>,
        stack_name: &str,
    ) -> Result<Self, DeployError> {
        let mut resolver = Self {
            parameters,
            conditions: BTreeMap::new(),
            resources: BTreeMap::new(),
            stack_name: stack_name.to_string(),
        };
        resolver.evaluate_conditions(&doc["Conditions"])?;
        resolver.name_resources(resources)?;
        Ok(resolver)
    }

    /// Conditions may name each other: evaluate until none is left (a cycle is an error).
    fn evaluate_conditions(&mut self, conditions: &Value) -> Result<(), DeployError> {
        let mut pending: Vec<(String, Value)> = conditions
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut left = Vec::new();
            for (name, condition) in pending {
                match self.condition(&condition) {
                    Ok(holds) => {
                        self.conditions.insert(name, holds);
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
        Ok(())
    }

    /// Each resource's name: its name property, else `<stack>-<logical id>`; a computed name
    /// once the names it refers to are known.
    fn name_resources(&mut self, resources: &Map<String, Value>) -> Result<(), DeployError> {
        for (logical, resource) in resources {
            let kind = resource["Type"].as_str().unwrap_or_default().to_string();
            let name = match &resource["Properties"][name_property(&kind)] {
                Value::String(name) => name.clone(),
                // None, or a computed name: the default until the second pass.
                _ => format!("{}-{logical}", self.stack_name),
            };
            self.resources.insert(logical.clone(), (kind, name));
        }
        // Names computed from parameters (`!Sub "${AWS::StackName}-journal"`) resolve now.
        for (logical, resource) in resources {
            let (kind, _) = self.resources[logical].clone();
            // As this pass always has, it reads a topic's `Name`, not its TopicName: a computed
            // TopicName keeps the default name (topics are not emulated).
            let key = match kind.as_str() {
                "AWS::SNS::Topic" => "Name",
                other => name_property(other),
            };
            let property = &resource["Properties"][key];
            if property.is_object() {
                if let Value::String(name) = self.resolve(property)? {
                    self.resources.insert(logical.clone(), (kind, name));
                }
            }
        }
        Ok(())
    }

    /// The name the resource `logical` gets locally.
    pub(super) fn physical_name(&self, logical: &str) -> String {
        self.resources
            .get(logical)
            .map(|(_, name)| name.clone())
            .unwrap_or_default()
    }

    pub(super) fn arn(&self, logical: &str) -> Option<String> {
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
                Ok(as_text(&self.resolve(a)?) == as_text(&self.resolve(b)?))
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
    pub(super) fn resolve(&self, value: &Value) -> Result<Value, DeployError> {
        Ok(drop_no_value(self.resolve_inner(value)?))
    }

    fn resolve_inner(&self, value: &Value) -> Result<Value, DeployError> {
        match value {
            Value::Array(items) => items
                .iter()
                .map(|i| self.resolve_inner(i))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            Value::Object(map) => {
                if let (1, Some((key, argument))) = (map.len(), map.iter().next()) {
                    if let Some(resolved) = self.intrinsic(key, argument) {
                        return resolved;
                    }
                }
                map.iter()
                    .map(|(key, value)| Ok((key.clone(), self.resolve_inner(value)?)))
                    .collect::<Result<Map<_, _>, _>>()
                    .map(Value::Object)
            }
            other => Ok(other.clone()),
        }
    }

    /// The value of the intrinsic function `key`; None when `key` names none.
    fn intrinsic(&self, key: &str, argument: &Value) -> Option<Result<Value, DeployError>> {
        Some(match key {
            "Ref" => self
                .reference(argument.as_str().unwrap_or_default())
                .map(Value::String),
            "Fn::GetAtt" => self.get_att(argument).map(Value::String),
            "Fn::Sub" => self.substitute(argument).map(Value::String),
            "Fn::If" => self.fn_if(argument),
            "Fn::Join" => self.join(argument).map(Value::String),
            k if k.starts_with("Fn::") => Err(DeployError::Template(format!(
                "{k} is not supported by cwq local deploy"
            ))),
            _ => return None,
        })
    }

    /// `[Resource, Attribute]` or `"Resource.Attribute"`.
    fn get_att(&self, argument: &Value) -> Result<String, DeployError> {
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
        self.attribute(logical, attribute)
    }

    /// `[Condition, IfTrue, IfFalse]`: only the branch taken is resolved.
    fn fn_if(&self, argument: &Value) -> Result<Value, DeployError> {
        let (Some(name), Some(yes), Some(no)) = (argument[0].as_str(), argument.get(1), argument.get(2))
        else {
            return Err(DeployError::Template(format!("bad Fn::If {argument}")));
        };
        let holds = self
            .conditions
            .get(name)
            .copied()
            .ok_or_else(|| DeployError::Template(format!("Fn::If names no condition {name}")))?;
        self.resolve_inner(if holds { yes } else { no })
    }

    /// `[Separator, [Items]]`.
    fn join(&self, argument: &Value) -> Result<String, DeployError> {
        let (Some(separator), Some(items)) = (argument[0].as_str(), argument.get(1)) else {
            return Err(DeployError::Template(format!("bad Fn::Join {argument}")));
        };
        let items = self.resolve(items)?;
        let parts: Vec<String> = items.as_array().into_iter().flatten().map(as_text).collect();
        Ok(parts.join(separator))
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
