//! Choice rules: the comparison operators on a Variable (and their `…Path` forms), the type
//! tests, and `And`/`Or`/`Not`. A comparison whose Variable is absent is a `States.Runtime`
//! error, as on AWS; only `IsPresent` may test for absence.

use crate::path;
use serde_json::Value;
use std::cmp::Ordering;

/// The operators a rule may use (besides `Variable`, `Next`, `And`, `Or`, `Not`).
pub const OPERATORS: [&str; 26] = [
    "StringEquals",
    "StringEqualsPath",
    "StringLessThan",
    "StringLessThanPath",
    "StringGreaterThan",
    "StringGreaterThanPath",
    "StringLessThanEquals",
    "StringLessThanEqualsPath",
    "StringGreaterThanEquals",
    "StringGreaterThanEqualsPath",
    "StringMatches",
    "NumericEquals",
    "NumericEqualsPath",
    "NumericLessThan",
    "NumericLessThanPath",
    "NumericGreaterThan",
    "NumericGreaterThanPath",
    "NumericLessThanEquals",
    "NumericLessThanEqualsPath",
    "NumericGreaterThanEquals",
    "NumericGreaterThanEqualsPath",
    "BooleanEquals",
    "BooleanEqualsPath",
    "IsNull",
    "IsPresent",
    "IsNumeric",
];

/// Type tests, also operators.
pub const TYPE_TESTS: [&str; 3] = ["IsString", "IsBoolean", "IsTimestamp"];

/// Whether `rule` matches `data`.
pub fn matches(rule: &Value, data: &Value, context: &Value) -> Result<bool, String> {
    if let Some(combined) = combination(rule, data, context) {
        return combined;
    }
    let variable = rule["Variable"].as_str().unwrap_or("$");
    let value = path::read_either(data, context, variable).ok();
    let (operator, operand) = rule
        .as_object()
        .into_iter()
        .flatten()
        .find(|(k, _)| OPERATORS.contains(&k.as_str()) || TYPE_TESTS.contains(&k.as_str()))
        .ok_or_else(|| format!("a Choice rule has no operator: {rule}"))?;
    if operator == "IsPresent" {
        return Ok(value.is_some() == (operand == &Value::Bool(true)));
    }
    let value = value.ok_or_else(|| {
        format!("Invalid path '{variable}': The choice state's condition path references an invalid value.")
    })?;
    if let Some(tested) = type_test(operator, &value, operand == &Value::Bool(true)) {
        return tested;
    }
    let (base, operand) = match operator.strip_suffix("Path") {
        Some(base) => {
            let path = operand
                .as_str()
                .ok_or_else(|| format!("{operator} needs a path"))?;
            (base, path::read_either(data, context, path)?)
        }
        None => (operator.as_str(), operand.clone()),
    };
    compare(base, &value, &operand)
}

/// `And`, `Or` and `Not`, evaluated in order and no further than needed; None when the rule
/// is none of them.
fn combination(rule: &Value, data: &Value, context: &Value) -> Option<Result<bool, String>> {
    if let Some(all) = rule["And"].as_array() {
        return Some(any_is(false, all, data, context).map(|some_false| !some_false));
    }
    if let Some(any) = rule["Or"].as_array() {
        return Some(any_is(true, any, data, context));
    }
    if rule.get("Not").is_some() {
        return Some(matches(&rule["Not"], data, context).map(|matched| !matched));
    }
    None
}

/// Whether some rule of `rules` matches as `wanted`, stopping at the first that does.
fn any_is(wanted: bool, rules: &[Value], data: &Value, context: &Value) -> Result<bool, String> {
    for rule in rules {
        if matches(rule, data, context)? == wanted {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `IsNull`, `IsNumeric`, `IsString`, `IsBoolean` (`IsTimestamp` is refused); None for a
/// comparison.
fn type_test(operator: &str, value: &Value, wanted: bool) -> Option<Result<bool, String>> {
    Some(Ok(match operator {
        "IsNull" => value.is_null() == wanted,
        "IsNumeric" => value.is_number() == wanted,
        "IsString" => value.is_string() == wanted,
        "IsBoolean" => value.is_boolean() == wanted,
        "IsTimestamp" => return Some(Err("IsTimestamp is not supported by this interpreter".into())),
        _ => return None,
    }))
}

/// A comparison (`base` without its `Path` suffix) of `value` with `operand`.
fn compare(base: &str, value: &Value, operand: &Value) -> Result<bool, String> {
    if base == "StringMatches" {
        let (Some(text), Some(pattern)) = (value.as_str(), operand.as_str()) else {
            return Ok(false);
        };
        return Ok(glob(pattern, text));
    }
    if base == "BooleanEquals" {
        return Ok(value.is_boolean() && value == operand);
    }
    let ordering = if base.starts_with("String") {
        match (value.as_str(), operand.as_str()) {
            (Some(a), Some(b)) => Some(a.cmp(b)),
            _ => None,
        }
    } else {
        match (value.as_f64(), operand.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        }
    };
    // A value of the wrong type matches no comparison, as on AWS.
    let Some(ordering) = ordering else {
        return Ok(false);
    };
    let op = base.trim_start_matches("String").trim_start_matches("Numeric");
    Ok(match op {
        "Equals" => ordering == Ordering::Equal,
        "LessThan" => ordering == Ordering::Less,
        "GreaterThan" => ordering == Ordering::Greater,
        "LessThanEquals" => ordering != Ordering::Greater,
        "GreaterThanEquals" => ordering != Ordering::Less,
        other => return Err(format!("unknown comparison {other}")),
    })
}

/// `StringMatches`: `*` matches any run of characters; `\*` a literal star.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('\\', rest)) if rest.first().is_some_and(|c| *c == '*' || *c == '\\') => {
                !t.is_empty() && t.first() == rest.first() && go(&rest[1..], &t[1..])
            }
            Some(('*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((c, rest)) => !t.is_empty() && t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}
