//! State machines: create (idempotent for the same definition and role, as on AWS), update,
//! describe, list, delete; a definition is checked as the States Language and for Task
//! resources the local cloud can run (Lambda function ARNs).

use super::{error, lock, no_machine, now, recreated, text, valid_name, SfnError, StepFunctions};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub(super) struct Machine {
    pub(super) arn: String,
    pub(super) name: String,
    pub(super) definition: String,
    pub(super) role_arn: String,
    pub(super) created: f64,
}

impl StepFunctions {
    fn machine_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{name}",
            self.region, self.account
        )
    }

    /// The definition parsed and checked: the States Language, and Task resources this local
    /// cloud can run (Lambda function ARNs).
    fn checked_definition(text: &str) -> Result<Value, SfnError> {
        let invalid = |why: String| {
            error(
                "InvalidDefinition",
                format!("Invalid State Machine Definition: '{why}'"),
            )
        };
        let definition: Value =
            serde_json::from_str(text).map_err(|e| invalid(format!("INVALID_JSON_DESCRIPTION: {e}")))?;
        let mut problems = cwq_asl::validate::problems(&definition);
        let mut resources = Vec::new();
        collect_resources(&definition, &mut resources);
        for resource in resources {
            if function_name(&resource).is_none() {
                problems.push(format!(
                    "Resource {resource:?}: only Lambda function ARNs run locally"
                ));
            }
        }
        if problems.is_empty() {
            Ok(definition)
        } else {
            Err(invalid(format!(
                "SCHEMA_VALIDATION_FAILED: {}",
                problems.join("; ")
            )))
        }
    }

    pub(super) fn create_state_machine(&self, request: &Value) -> Result<Value, SfnError> {
        let name = text(request, "name")?;
        let definition = text(request, "definition")?;
        let role_arn = text(request, "roleArn")?;
        if !valid_name(name) {
            return Err(error("InvalidName", format!("Invalid Name: '{name}'")));
        }
        if request["type"].as_str().is_some_and(|t| t != "STANDARD") {
            return Err(error(
                "ValidationException",
                "only STANDARD state machines run locally",
            ));
        }
        Self::checked_definition(definition)?;
        let arn = self.machine_arn(name);
        let mut state = lock(&self.state);
        if let Some(existing) = state.machines.get(&arn) {
            // Idempotent for the same definition and role, as on AWS.
            let same = existing.definition == definition && existing.role_arn == role_arn;
            let answer = json!({"stateMachineArn": arn, "creationDate": existing.created});
            let message = format!("State Machine Already Exists: '{arn}'");
            return recreated(same, answer, "StateMachineAlreadyExists", message);
        }
        let created = now();
        state.machines.insert(
            arn.clone(),
            Machine {
                arn: arn.clone(),
                name: name.into(),
                definition: definition.into(),
                role_arn: role_arn.into(),
                created,
            },
        );
        Ok(json!({"stateMachineArn": arn, "creationDate": created}))
    }

    pub(super) fn update_state_machine(&self, request: &Value) -> Result<Value, SfnError> {
        let arn = text(request, "stateMachineArn")?;
        if let Some(definition) = request["definition"].as_str() {
            Self::checked_definition(definition)?;
        }
        let mut state = lock(&self.state);
        let machine = state.machines.get_mut(arn).ok_or_else(|| no_machine(arn))?;
        if let Some(definition) = request["definition"].as_str() {
            machine.definition = definition.into();
        }
        if let Some(role) = request["roleArn"].as_str() {
            machine.role_arn = role.into();
        }
        Ok(json!({"updateDate": now()}))
    }

    pub(super) fn describe_state_machine(&self, request: &Value) -> Result<Value, SfnError> {
        let arn = text(request, "stateMachineArn")?;
        let state = lock(&self.state);
        let m = state.machines.get(arn).ok_or_else(|| no_machine(arn))?;
        Ok(
            json!({"stateMachineArn": m.arn, "name": m.name, "status": "ACTIVE", "definition": m.definition,
                  "roleArn": m.role_arn, "type": "STANDARD", "creationDate": m.created}),
        )
    }

    pub(super) fn list_state_machines(&self) -> Value {
        let state = lock(&self.state);
        let machines: Vec<Value> = state
            .machines
            .values()
            .map(|m| json!({"stateMachineArn": m.arn, "name": m.name, "type": "STANDARD", "creationDate": m.created}))
            .collect();
        json!({"stateMachines": machines})
    }

    pub(super) fn delete_state_machine(&self, request: &Value) -> Result<Value, SfnError> {
        let arn = text(request, "stateMachineArn")?;
        lock(&self.state).machines.remove(arn);
        Ok(json!({}))
    }
}

/// Every Task's `Resource` in a definition, branches included.
fn collect_resources(definition: &Value, out: &mut Vec<String>) {
    for state in definition["States"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, s)| s)
    {
        match state["Resource"].as_str() {
            // The integration invokes the function its Parameters name.
            Some(cwq_asl::LAMBDA_WAIT_FOR_TOKEN) => out.push(
                state["Parameters"]["FunctionName"]
                    .as_str()
                    .unwrap_or("(no FunctionName)")
                    .to_string(),
            ),
            Some(resource) => out.push(resource.to_string()),
            None => {}
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            collect_resources(branch, out);
        }
    }
}

/// `arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]` → the name.
pub(super) fn function_name(resource: &str) -> Option<String> {
    let parts: Vec<&str> = resource.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name] | ["arn", _, "lambda", _, _, "function", name, _] => {
            Some((*name).to_string())
        }
        _ => None,
    }
}
