//! The data flow through a state: InputPath selects the effective input, a template
//! (Parameters, ResultSelector) shapes it, ResultPath places the result in the state's input,
//! and OutputPath selects what goes on. A path that selects nothing is `States.Runtime`.

use crate::failure::runtime_at;
use crate::{path, Failure, Interpreter};
use serde_json::{json, Value};

/// What InputPath or OutputPath (`key`) of `state` selects from `value`: None when the key is
/// absent (all of it), `{}` for `null`.
fn selection(state: &Value, key: &str, value: &Value) -> Option<Result<Value, String>> {
    Some(match state.get(key)? {
        Value::Null => Ok(json!({})),
        Value::String(p) => path::read(value, p),
        other => Err(format!("{key} {other}")),
    })
}

impl Interpreter {
    /// InputPath, then `body` on the effective input, then OutputPath.
    pub(crate) fn paths(
        &self,
        name: &str,
        state: &Value,
        data: &Value,
        body: impl FnOnce(Value) -> Result<Value, Failure>,
    ) -> Result<Value, Failure> {
        let input = self.input_path(name, state, data)?;
        let result = body(input)?;
        self.output_path(name, state, result, data)
    }

    pub(crate) fn input_path(&self, name: &str, state: &Value, data: &Value) -> Result<Value, Failure> {
        selection(state, "InputPath", data)
            .unwrap_or_else(|| Ok(data.clone()))
            .map_err(runtime_at(name, data))
    }

    pub(crate) fn output_path(
        &self,
        name: &str,
        state: &Value,
        output: Value,
        data: &Value,
    ) -> Result<Value, Failure> {
        match selection(state, "OutputPath", &output) {
            None => Ok(output),
            Some(selected) => selected.map_err(runtime_at(name, data)),
        }
    }

    /// A payload template on `input` (absent: `input` as it is).
    pub(crate) fn fill(
        &self,
        name: &str,
        template: Option<&Value>,
        input: Value,
        data: &Value,
    ) -> Result<Value, Failure> {
        match template {
            None => Ok(input),
            Some(t) => path::fill(t, &input, &self.context).map_err(runtime_at(name, data)),
        }
    }

    /// `fill` with `$$.Task.Token` set to `token`.
    pub(crate) fn fill_with_token(
        &self,
        name: &str,
        template: Option<&Value>,
        input: Value,
        data: &Value,
        token: &str,
    ) -> Result<Value, Failure> {
        let mut context = self.context.clone();
        context["Task"] = serde_json::json!({ "Token": token });
        match template {
            None => Ok(input),
            Some(t) => path::fill(t, &input, &context).map_err(runtime_at(name, data)),
        }
    }

    /// ResultPath: absent or `$` replaces, `null` discards, a reference path places.
    pub(crate) fn result_path(
        &self,
        name: &str,
        holder: &Value,
        data: &Value,
        result: Value,
    ) -> Result<Value, Failure> {
        match holder.get("ResultPath") {
            None => Ok(result),
            Some(Value::Null) => Ok(data.clone()),
            Some(Value::String(p)) => path::place(data.clone(), p, result).map_err(runtime_at(name, data)),
            Some(other) => Err(runtime_at(name, data)(format!("ResultPath {other}"))),
        }
    }
}
