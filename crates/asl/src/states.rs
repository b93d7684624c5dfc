//! The states that move data or control but call nothing: Pass, Wait, Choice and Fail.

use crate::failure::{failure, runtime, runtime_at};
use crate::run::Step;
use crate::{choice, path, Failure, Interpreter};
use serde_json::Value;

impl Interpreter {
    pub(crate) fn pass(&self, name: &str, state: &Value, data: &Value) -> Result<Step, Failure> {
        let input = self.input_path(name, state, data)?;
        let result = match state.get("Result") {
            Some(result) => result.clone(),
            None => self.fill(name, state.get("Parameters"), input, data)?,
        };
        let placed = self.result_path(name, state, data, result)?;
        Ok(Step::Next(self.output_path(name, state, placed, data)?))
    }

    pub(crate) async fn wait(&self, name: &str, state: &Value, data: &Value) -> Result<Step, Failure> {
        let input = self.input_path(name, state, data)?;
        let seconds = match (state.get("Seconds"), state["SecondsPath"].as_str()) {
            (Some(seconds), _) => seconds.as_f64(),
            (None, Some(p)) => path::read(&input, p).map_err(runtime_at(name, data))?.as_f64(),
            (None, None) => None,
        };
        let seconds = seconds.filter(|s| *s >= 0.0).ok_or_else(|| {
            runtime(
                "States.Runtime",
                format!("{name}: the wait is not a non-negative number"),
                name,
                data,
            )
        })?;
        self.host.sleep(seconds).await;
        Ok(Step::Next(self.output_path(name, state, input, data)?))
    }

    /// The first rule that matches names the next state; else the Default.
    pub(crate) fn choose(&self, name: &str, state: &Value, data: &Value) -> Result<Step, Failure> {
        let input = self.input_path(name, state, data)?;
        for rule in state["Choices"].as_array().into_iter().flatten() {
            let matched = choice::matches(rule, &input, &self.context).map_err(runtime_at(name, data))?;
            if matched {
                let next = rule["Next"].as_str().unwrap_or_default();
                return self.chosen(name, state, input, data, next);
            }
        }
        match state["Default"].as_str() {
            Some(default) => self.chosen(name, state, input, data, default),
            None => Err(failure(
                "States.NoChoiceMatched",
                format!("no Choices rule of {name} matched and it has no Default"),
                name,
                data,
            )),
        }
    }

    /// Leaves the Choice `name` for `next`.
    fn chosen(
        &self,
        name: &str,
        state: &Value,
        input: Value,
        data: &Value,
        next: &str,
    ) -> Result<Step, Failure> {
        let output = self.output_path(name, state, input, data)?;
        self.exited("Choice", name, &output);
        Ok(Step::Goto(output, next.to_string()))
    }

    /// Error and Cause, each given or read from the input at `ErrorPath`/`CausePath`.
    pub(crate) fn fail(&self, name: &str, state: &Value, data: &Value) -> Failure {
        let text = |key: &str| {
            state[key]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    let p = state[format!("{key}Path")].as_str()?;
                    path::read(data, p).ok()?.as_str().map(str::to_string)
                })
                .unwrap_or_default()
        };
        failure(text("Error"), text("Cause"), name, data)
    }
}
