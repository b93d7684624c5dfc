//! What CreateStateMachine checks before it accepts a definition: the structure of the
//! States Language, and that everything in it is something this interpreter runs. A field it
//! does not run (Map, TimeoutSeconds, intrinsic functions…) is refused here, loudly, rather
//! than ignored at run time.

use crate::{choice, path};
use serde_json::Value;
use std::collections::BTreeSet;

const COMMON: [&str; 4] = ["Type", "Comment", "InputPath", "OutputPath"];

fn allowed(kind: &str) -> Option<Vec<&'static str>> {
    let mut fields: Vec<&str> = COMMON.to_vec();
    let extra: &[&str] = match kind {
        "Task" => &[
            "Next",
            "End",
            "Resource",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
        ],
        "Parallel" => &[
            "Next",
            "End",
            "Branches",
            "Parameters",
            "ResultSelector",
            "ResultPath",
            "Retry",
            "Catch",
        ],
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
        let here = format!("{at}/States/{name}");
        if name.is_empty() || name.chars().count() > 80 {
            found.push(format!("{here}: a state name has 1 to 80 characters"));
        }
        let kind = state["Type"].as_str().unwrap_or_default();
        let Some(fields) = allowed(kind) else {
            found.push(format!(
                "{here}/Type: {kind:?} is not a state type this interpreter runs"
            ));
            continue;
        };
        for key in state.as_object().into_iter().flatten().map(|(k, _)| k) {
            if !fields.contains(&key.as_str()) {
                found.push(format!(
                    "{here}/{key}: not a field of a {kind} state (or not emulated)"
                ));
            }
        }
        let target = |next: &str, found: &mut Vec<String>, what: &str| {
            if !names.contains(next) {
                found.push(format!("{here}/{what}: no state named {next:?}"));
            }
        };
        if fields.contains(&"Next") {
            match (state["Next"].as_str(), state["End"].as_bool()) {
                (Some(next), None) => target(next, found, "Next"),
                (None, Some(true)) => {}
                _ => found.push(format!("{here}: exactly one of Next or End: true")),
            }
        }
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
                    found.push(format!(
                        "{here}/{key}: {p:?} is not a path this interpreter reads"
                    ));
                }
            }
        }
        for retrier in state["Retry"].as_array().into_iter().flatten() {
            errors_list(&retrier["ErrorEquals"], &format!("{here}/Retry"), found);
            for key in retrier.as_object().into_iter().flatten().map(|(k, _)| k) {
                if !matches!(
                    key.as_str(),
                    "ErrorEquals"
                        | "IntervalSeconds"
                        | "MaxAttempts"
                        | "BackoffRate"
                        | "MaxDelaySeconds"
                        | "JitterStrategy"
                        | "Comment"
                ) {
                    found.push(format!("{here}/Retry/{key}: not a retrier field"));
                }
            }
        }
        for catcher in state["Catch"].as_array().into_iter().flatten() {
            errors_list(&catcher["ErrorEquals"], &format!("{here}/Catch"), found);
            match catcher["Next"].as_str() {
                Some(next) => target(next, found, "Catch/Next"),
                None => found.push(format!("{here}/Catch: a catcher needs Next")),
            }
        }
        match kind {
            "Task" if state["Resource"].as_str().is_none() => {
                found.push(format!("{here}/Resource: missing"));
            }
            "Parallel" => match state["Branches"].as_array() {
                Some(branches) if !branches.is_empty() => {
                    for (i, branch) in branches.iter().enumerate() {
                        machine(branch, &format!("{here}/Branches/{i}"), found);
                    }
                }
                _ => found.push(format!("{here}/Branches: at least one branch")),
            },
            "Choice" => {
                match state["Choices"].as_array() {
                    Some(rules) if !rules.is_empty() => {
                        for rule in rules {
                            match rule["Next"].as_str() {
                                Some(next) => target(next, found, "Choices/Next"),
                                None => found.push(format!("{here}/Choices: a rule needs Next")),
                            }
                            rule_problems(rule, &here, found);
                        }
                    }
                    _ => found.push(format!("{here}/Choices: at least one rule")),
                }
                if let Some(default) = state["Default"].as_str() {
                    target(default, found, "Default");
                }
            }
            "Wait" => {
                let given = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
                    .iter()
                    .filter(|k| state.get(**k).is_some())
                    .count();
                if given != 1 {
                    found.push(format!(
                        "{here}: exactly one of Seconds, SecondsPath, Timestamp, TimestampPath"
                    ));
                }
                if state.get("Timestamp").is_some() || state.get("TimestampPath").is_some() {
                    found.push(format!("{here}: Timestamp waits are not emulated"));
                }
            }
            _ => {}
        }
        for key in ["Parameters", "ResultSelector"] {
            template_problems(&state[key], &format!("{here}/{key}"), found);
        }
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
