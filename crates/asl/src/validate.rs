//! What CreateStateMachine checks before it accepts a definition: the structure of the
//! States Language, and that everything in it is something this interpreter runs. A field it
//! does not run (Map, TimeoutSeconds, intrinsic functions…) is refused here, loudly, rather
//! than ignored at run time.

use crate::{choice, path};
use serde_json::Value;
use std::collections::BTreeSet;

const COMMON: [&str; 4] = ["Type", "Comment", "InputPath", "OutputPath"];

/// What a Task and a Parallel both take besides their own `Resource` or `Branches`.
const WORK: [&str; 7] = [
    "Next",
    "End",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Retry",
    "Catch",
];

/// The fields a state of `kind` may have; None: a type this interpreter does not run.
fn allowed(kind: &str) -> Option<Vec<&'static str>> {
    let mut fields: Vec<&str> = COMMON.to_vec();
    let extra: &[&str] = match kind {
        "Task" => &["Resource", "TimeoutSeconds", "TimeoutSecondsPath"],
        "Parallel" => &["Branches"],
        "Pass" => &["Next", "End", "Result", "ResultPath", "Parameters"],
        "Wait" => &[
            "Next",
            "End",
            "Seconds",
            "SecondsPath",
            "Timestamp",
            "TimestampPath",
        ],
        "Choice" => &["Choices", "Default"],
        "Succeed" => &[],
        "Fail" => &["Error", "Cause", "ErrorPath", "CausePath"],
        _ => return None,
    };
    if matches!(kind, "Task" | "Parallel") {
        fields.extend_from_slice(&WORK);
    }
    fields.extend_from_slice(extra);
    if kind == "Fail" {
        fields.retain(|f| !matches!(*f, "InputPath" | "OutputPath"));
    }
    Some(fields)
}

/// Every problem found in `definition` (empty: valid).
pub fn problems(definition: &Value) -> Vec<String> {
    let mut found = Vec::new();
    match definition.as_object() {
        None => found.push("the definition is not a JSON object".into()),
        Some(top) => {
            for key in top.keys() {
                if !matches!(key.as_str(), "StartAt" | "States" | "Comment" | "Version") {
                    found.push(format!(
                        "/{key}: not supported (TimeoutSeconds, QueryLanguage … are not emulated)"
                    ));
                }
            }
            machine(definition, "", &mut found);
        }
    }
    found
}

/// The problems of one state machine: the top level, or a Parallel branch at `at`.
fn machine(definition: &Value, at: &str, found: &mut Vec<String>) {
    let Some(states) = definition["States"].as_object() else {
        found.push(format!("{at}/States: missing or not an object"));
        return;
    };
    let names: BTreeSet<&str> = states.keys().map(String::as_str).collect();
    match definition["StartAt"].as_str() {
        Some(start) if names.contains(start) => {}
        Some(start) => found.push(format!("{at}/StartAt: no state named {start:?}")),
        None => found.push(format!("{at}/StartAt: missing")),
    }
    for (name, state) in states {
        let here = Here {
            at: format!("{at}/States/{name}"),
            names: &names,
        };
        state_problems(name, state, &here, found);
    }
}

/// A state's location, and the names a transition from it may go to.
struct Here<'a> {
    at: String,
    names: &'a BTreeSet<&'a str>,
}

impl Here<'_> {
    /// A transition (`what`: Next, Default, Catch/Next…) must name a state of the machine.
    fn target(&self, next: &str, what: &str, found: &mut Vec<String>) {
        if !self.names.contains(next) {
            found.push(format!("{}/{what}: no state named {next:?}", self.at));
        }
    }
}

/// The keys of `object` that `known` does not take.
fn unknown_keys<'v>(
    object: &'v Value,
    known: impl Fn(&str) -> bool + 'v,
) -> impl Iterator<Item = &'v String> {
    object
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .filter(move |k| !known(k))
}

fn state_problems(name: &str, state: &Value, here: &Here<'_>, found: &mut Vec<String>) {
    let at = &here.at;
    if name.is_empty() || name.chars().count() > 80 {
        found.push(format!("{at}: a state name has 1 to 80 characters"));
    }
    let kind = state["Type"].as_str().unwrap_or_default();
    let Some(fields) = allowed(kind) else {
        found.push(format!(
            "{at}/Type: {kind:?} is not a state type this interpreter runs"
        ));
        return;
    };
    for key in unknown_keys(state, |key| fields.contains(&key)) {
        found.push(format!(
            "{at}/{key}: not a field of a {kind} state (or not emulated)"
        ));
    }
    if fields.contains(&"Next") {
        match (state["Next"].as_str(), state["End"].as_bool()) {
            (Some(next), None) => here.target(next, "Next", found),
            (None, Some(true)) => {}
            _ => found.push(format!("{at}: exactly one of Next or End: true")),
        }
    }
    path_problems(state, at, found);
    retry_problems(state, at, found);
    catch_problems(state, here, found);
    match kind {
        "Task" if state["Resource"].as_str().is_none() => {
            found.push(format!("{at}/Resource: missing"));
        }
        // A timeout ends only the wait for a task token here; a Lambda's own timeout is Lambda's.
        "Task" if state["Resource"].as_str() != Some(crate::LAMBDA_WAIT_FOR_TOKEN) => {
            for key in ["TimeoutSeconds", "TimeoutSecondsPath"]
                .into_iter()
                .filter(|k| state.get(*k).is_some())
            {
                found.push(format!("{at}/{key}: emulated only on a waitForTaskToken Task"));
            }
        }
        "Parallel" => branch_problems(state, at, found),
        "Choice" => choice_problems(state, here, found),
        "Wait" => wait_problems(state, at, found),
        _ => {}
    }
    for key in ["Parameters", "ResultSelector"] {
        template_problems(&state[key], &format!("{at}/{key}"), found);
    }
}

fn path_problems(state: &Value, at: &str, found: &mut Vec<String>) {
    for key in [
        "InputPath",
        "OutputPath",
        "ResultPath",
        "SecondsPath",
        "ErrorPath",
        "CausePath",
    ] {
        if let Some(p) = state[key].as_str() {
            if !path::is_valid(p) {
                found.push(format!("{at}/{key}: {p:?} is not a path this interpreter reads"));
            }
        }
    }
}

fn retry_problems(state: &Value, at: &str, found: &mut Vec<String>) {
    const RETRIER_FIELDS: [&str; 7] = [
        "ErrorEquals",
        "IntervalSeconds",
        "MaxAttempts",
        "BackoffRate",
        "MaxDelaySeconds",
        "JitterStrategy",
        "Comment",
    ];
    for retrier in state["Retry"].as_array().into_iter().flatten() {
        errors_list(&retrier["ErrorEquals"], &format!("{at}/Retry"), found);
        for key in unknown_keys(retrier, |key| RETRIER_FIELDS.contains(&key)) {
            found.push(format!("{at}/Retry/{key}: not a retrier field"));
        }
    }
}

fn catch_problems(state: &Value, here: &Here<'_>, found: &mut Vec<String>) {
    for catcher in state["Catch"].as_array().into_iter().flatten() {
        errors_list(&catcher["ErrorEquals"], &format!("{}/Catch", here.at), found);
        match catcher["Next"].as_str() {
            Some(next) => here.target(next, "Catch/Next", found),
            None => found.push(format!("{}/Catch: a catcher needs Next", here.at)),
        }
    }
}

/// Each branch of a Parallel is a state machine of its own.
fn branch_problems(state: &Value, at: &str, found: &mut Vec<String>) {
    match state["Branches"].as_array() {
        Some(branches) if !branches.is_empty() => {
            for (i, branch) in branches.iter().enumerate() {
                machine(branch, &format!("{at}/Branches/{i}"), found);
            }
        }
        _ => found.push(format!("{at}/Branches: at least one branch")),
    }
}

fn choice_problems(state: &Value, here: &Here<'_>, found: &mut Vec<String>) {
    let at = &here.at;
    match state["Choices"].as_array() {
        Some(rules) if !rules.is_empty() => {
            for rule in rules {
                match rule["Next"].as_str() {
                    Some(next) => here.target(next, "Choices/Next", found),
                    None => found.push(format!("{at}/Choices: a rule needs Next")),
                }
                rule_problems(rule, at, found);
            }
        }
        _ => found.push(format!("{at}/Choices: at least one rule")),
    }
    if let Some(default) = state["Default"].as_str() {
        here.target(default, "Default", found);
    }
}

fn wait_problems(state: &Value, at: &str, found: &mut Vec<String>) {
    let given = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
        .iter()
        .filter(|k| state.get(**k).is_some())
        .count();
    if given != 1 {
        found.push(format!(
            "{at}: exactly one of Seconds, SecondsPath, Timestamp, TimestampPath"
        ));
    }
    if state.get("Timestamp").is_some() || state.get("TimestampPath").is_some() {
        found.push(format!("{at}: Timestamp waits are not emulated"));
    }
}

fn errors_list(names: &Value, at: &str, found: &mut Vec<String>) {
    let Some(list) = names.as_array().filter(|l| !l.is_empty()) else {
        found.push(format!("{at}: ErrorEquals must list at least one error name"));
        return;
    };
    if list.len() > 1 && list.iter().any(|n| n == "States.ALL") {
        found.push(format!("{at}: States.ALL must appear alone"));
    }
}

fn rule_problems(rule: &Value, at: &str, found: &mut Vec<String>) {
    for nested in ["And", "Or"] {
        for r in rule[nested].as_array().into_iter().flatten() {
            rule_problems(r, at, found);
        }
    }
    if rule.get("Not").is_some() {
        rule_problems(&rule["Not"], at, found);
    }
    if rule.get("And").is_some() || rule.get("Or").is_some() || rule.get("Not").is_some() {
        return;
    }
    let operators = rule
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !matches!(k.as_str(), "Variable" | "Next" | "Comment"))
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>();
    match operators.as_slice() {
        [op] if choice::OPERATORS.contains(op) || *op == "IsString" || *op == "IsBoolean" => {}
        _ => found.push(format!(
            "{at}/Choices: a rule needs exactly one operator this interpreter runs, not {operators:?}"
        )),
    }
}

fn template_problems(template: &Value, at: &str, found: &mut Vec<String>) {
    match template {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.strip_suffix(".$"), value.as_str()) {
                    (Some(_), Some(p)) if p.starts_with("States.") => {
                        found.push(format!("{at}/{key}: intrinsic functions are not emulated"));
                    }
                    (Some(_), Some(p)) if !path::is_valid(p) => {
                        found.push(format!("{at}/{key}: {p:?} is not a path this interpreter reads"));
                    }
                    (Some(_), None) => found.push(format!("{at}/{key}: a .$ field takes a path")),
                    _ => template_problems(value, &format!("{at}/{key}"), found),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                template_problems(item, at, found);
            }
        }
        _ => {}
    }
}
