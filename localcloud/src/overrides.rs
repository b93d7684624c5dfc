//! Template parameters exactly as `sam deploy` reads them, so that a command line or a
//! samconfig.toml that would break a real deploy breaks the local one first.
//!
//! `--parameter-overrides` follows the SAM CLI's converter: each argument is `file://…` (TOML or
//! YAML; JSON is not accepted) or text matched with SAM's regular expressions —
//! `ParameterKey=K,ParameterValue=V` pairs, else ` K=V` pairs, where a value is a quoted
//! string or a run of characters without spaces or quotes — and wrapping quotes are removed
//! at the end. An unquoted value therefore ends at its first space: `Key="$(cat file)"`
//! arrives as one argument but is cut at the file's first space (docs/aws-behaviour.md).
//! samconfig.toml's `[ENV.deploy.parameters]` (and `[ENV.global.parameters]`) give
//! `parameter_overrides` and `stack_name` when the command line does not.
//!
//! Then CloudFormation's own checks: a value is at most 4,096 bytes, and satisfies its
//! parameter's Type, AllowedValues, AllowedPattern, Min/MaxLength and Min/MaxValue.

use regex_lite::Regex;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// CloudFormation's limit on a parameter value (docs/aws-behaviour.md).
pub const MAX_PARAMETER_BYTES: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error(
        "{0} is not a valid format. It must look something like \
         'ParameterKey=KeyPairName,ParameterValue=MyKey ParameterKey=InstanceType,ParameterValue=t1.micro', \
         'KeyPairName=MyKey InstanceType=t1.micro', or 'file://MyParams.yaml'"
    )]
    Format(String),
    #[error("{0} was not found or is a directory")]
    NoFile(String),
    #[error("{0} uses an unsupported extension (the SAM CLI reads .toml, .yaml and .yml)")]
    Extension(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("Infinite recursion detected in file references: {0}")]
    Recursion(String),
    #[error("$include must be a string or list of strings")]
    Include,
}

/// SAM's two patterns: `ParameterKey=K,ParameterValue=V`, then ` K=V`.
fn patterns() -> &'static [Regex; 2] {
    static PATTERNS: OnceLock<[Regex; 2]> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let key = r#"([A-Za-z0-9"']+)"#;
        let value = r#"("(?:\\.|[^"\\]+)*"|'(?:\\.|[^'\\]+)*'|(?:\\.|[^ "\\]+)+)"#;
        [
            Regex::new(&format!("(?:ParameterKey={key},ParameterValue={value})"))
                .expect("SAM's first pattern"),
            Regex::new(&format!("(?:(?: ){key}={value})")).expect("SAM's second pattern"),
        ]
    })
}

/// Removes wrapping quotes and unescapes `\ `, `\"` and `\'` (SAM's `_unquote_wrapped_quotes`).
fn unquote(value: &str) -> String {
    let mut value = value;
    let bytes = value.as_bytes();
    if bytes.len() >= 2 && bytes[0] == bytes[bytes.len() - 1] && matches!(bytes[0], b'"' | b'\'') {
        value = &value[1..value.len() - 1];
    }
    value
        .replace("\\ ", " ")
        .replace("\\\"", "\"")
        .replace("\\'", "'")
}

/// Python's `str()` of a scalar from a TOML or YAML file.
fn python_str(value: &Value) -> String {
    match value {
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// The overrides `values` (command-line arguments, or a config file's value) give, in order.
pub fn convert(
    values: &[Value],
    current_file: Option<&Path>,
) -> Result<BTreeMap<String, String>, OverrideError> {
    let mut seen = BTreeSet::new();
    let mut parameters = BTreeMap::new();
    convert_into(values, current_file, &mut seen, &mut parameters)?;
    Ok(parameters
        .into_iter()
        .map(|(k, v)| (unquote(&k), unquote(&v)))
        .collect())
}

fn flatten(values: &[Value], out: &mut Vec<Value>) {
    for value in values {
        match value {
            Value::Array(items) => flatten(items, out),
            other => out.push(other.clone()),
        }
    }
}

fn convert_into(
    values: &[Value],
    current_file: Option<&Path>,
    seen: &mut BTreeSet<PathBuf>,
    parameters: &mut BTreeMap<String, String>,
) -> Result<(), OverrideError> {
    let mut flat = Vec::new();
    flatten(values, &mut flat);
    for value in flat {
        match value {
            Value::String(text) if text.is_empty() && flat_is_trivial(values) => {}
            Value::String(text) => match text.strip_prefix("file://") {
                Some(file) => convert_file(file, &text, current_file, seen, parameters)?,
                None => convert_text(&text, parameters)?,
            },
            Value::Object(map) => convert_map(map, current_file, seen, parameters)?,
            Value::Null => {}
            other => return Err(OverrideError::Format(other.to_string())),
        }
    }
    Ok(())
}

/// `file://…`: the file's overrides, relative to the file that names it; a file that names
/// itself, directly or not, is an error.
fn convert_file(
    file: &str,
    text: &str,
    current_file: Option<&Path>,
    seen: &mut BTreeSet<PathBuf>,
    parameters: &mut BTreeMap<String, String>,
) -> Result<(), OverrideError> {
    let mut path = PathBuf::from(file);
    if path.is_relative() {
        if let Some(parent) = current_file.and_then(Path::parent) {
            path = parent.join(path);
        }
    }
    let path = path
        .canonicalize()
        .map_err(|_| OverrideError::NoFile(text.to_string()))?;
    if !path.is_file() {
        return Err(OverrideError::NoFile(text.to_string()));
    }
    let nested = read_file(&path, text)?;
    if !seen.insert(path.clone()) {
        return Err(OverrideError::Recursion(path.display().to_string()));
    }
    let result = convert_into(&[nested], Some(&path), seen, parameters);
    seen.remove(&path);
    result
}

/// Text matched with SAM's patterns: the first that matches anything gives every pair.
fn convert_text(text: &str, parameters: &mut BTreeMap<String, String>) -> Result<(), OverrideError> {
    let normalized = format!(" {}", text.trim());
    for pattern in patterns() {
        let mut any = false;
        for found in pattern.captures_iter(&normalized) {
            any = true;
            parameters.insert(found[1].to_string(), found[2].to_string());
        }
        if any {
            return Ok(());
        }
    }
    Err(OverrideError::Format(text.to_string()))
}

/// A file's mapping: scalars as Python's `str()` gives them, lists joined with commas, and
/// `$include` of more overrides.
fn convert_map(
    map: serde_json::Map<String, Value>,
    current_file: Option<&Path>,
    seen: &mut BTreeSet<PathBuf>,
    parameters: &mut BTreeMap<String, String>,
) -> Result<(), OverrideError> {
    for (key, v) in map {
        match v {
            Value::Null => {
                parameters.insert(key, String::new());
            }
            v if key == "$include" => {
                if !matches!(v, Value::String(_) | Value::Array(_)) {
                    return Err(OverrideError::Include);
                }
                convert_into(&[v], current_file, seen, parameters)?;
            }
            Value::Array(items) => {
                let joined: Vec<String> = items
                    .iter()
                    .filter(|x| !x.is_null() && x.as_str() != Some(""))
                    .map(|x| python_str(x).trim().to_string())
                    .collect();
                parameters.insert(key, joined.join(","));
            }
            other => {
                parameters.insert(key, python_str(&other));
            }
        }
    }
    Ok(())
}

/// SAM returns nothing for `("",)` or `""`.
fn flat_is_trivial(values: &[Value]) -> bool {
    values.len() == 1 && values[0].as_str() == Some("")
}

/// A parameters file as JSON: TOML or YAML by its extension (`shown`: the file as named).
fn read_file(path: &Path, shown: &str) -> Result<Value, OverrideError> {
    let text = read_text(path)?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => toml_as_json(path, &text),
        Some("yaml" | "yml") => {
            let yaml: serde_norway::Value = serde_norway::from_str(&text).map_err(file_error(path))?;
            serde_json::to_value(yaml).map_err(file_error(path))
        }
        _ => Err(OverrideError::Extension(shown.to_string())),
    }
}

/// What went wrong with the file at `path`.
fn file_error<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> OverrideError + '_ {
    move |e| OverrideError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn read_text(path: &Path) -> Result<String, OverrideError> {
    std::fs::read_to_string(path).map_err(file_error(path))
}

fn toml_as_json(path: &Path, text: &str) -> Result<Value, OverrideError> {
    let table: toml::Table = toml::from_str(text).map_err(file_error(path))?;
    serde_json::to_value(table).map_err(file_error(path))
}

/// What a samconfig.toml gives `sam deploy` for environment `env`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamConfig {
    pub parameter_overrides: Option<BTreeMap<String, String>>,
    pub stack_name: Option<String>,
}

/// Reads `[ENV.deploy.parameters]` over `[ENV.global.parameters]`.
pub fn samconfig(path: &Path, env: &str) -> Result<SamConfig, OverrideError> {
    let doc = toml_as_json(path, &read_text(path)?)?;
    let mut config = SamConfig::default();
    for command in ["global", "deploy"] {
        let section = &doc[env][command]["parameters"];
        if let Some(value) = section.get("parameter_overrides") {
            config.parameter_overrides = Some(convert(std::slice::from_ref(value), Some(path))?);
        }
        if let Some(name) = section["stack_name"].as_str() {
            config.stack_name = Some(name.to_string());
        }
    }
    Ok(config)
}

/// CloudFormation's checks of a value against its parameter's declaration; each problem named.
pub fn check_parameter(name: &str, spec: &Value, value: &str) -> Result<(), String> {
    if value.len() > MAX_PARAMETER_BYTES {
        return Err(format!(
            "parameter {name} is {} bytes; CloudFormation allows {MAX_PARAMETER_BYTES}",
            value.len()
        ));
    }
    if let Some(allowed) = spec["AllowedValues"].as_array() {
        let allowed: Vec<String> = allowed.iter().map(python_like).collect();
        if !allowed.iter().any(|a| a == value) {
            return Err(format!(
                "parameter {name} must be one of {allowed:?}, not {value:?}"
            ));
        }
    }
    if let Some(pattern) = spec["AllowedPattern"].as_str() {
        // CloudFormation matches the whole value.
        let whole = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| format!("parameter {name}: {e}"))?;
        if !whole.is_match(value) {
            return Err(format!("parameter {name} must match pattern {pattern}"));
        }
    }
    let length = value.chars().count() as f64;
    if spec["MinLength"].as_f64().is_some_and(|min| length < min)
        || spec["MaxLength"].as_f64().is_some_and(|max| length > max)
    {
        return Err(format!(
            "parameter {name}: its length {length} is outside MinLength/MaxLength"
        ));
    }
    if spec["Type"].as_str() == Some("Number") {
        let number: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("parameter {name} must be a number, not {value:?}"))?;
        if spec["MinValue"].as_f64().is_some_and(|min| number < min) {
            return Err(format!("parameter {name} must be at least {}", spec["MinValue"]));
        }
        if spec["MaxValue"].as_f64().is_some_and(|max| number > max) {
            return Err(format!("parameter {name} must be at most {}", spec["MaxValue"]));
        }
    }
    Ok(())
}

fn python_like(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_string)
}
