//! Reading a SAM template: YAML with its short intrinsic tags as JSON, the parameters as
//! CloudFormation takes them (defaults, overrides, its checks), the binaries its Rust
//! functions build, and the placeholders a state machine definition leaves.

use super::DeployError;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

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

/// The template's parameters: defaults, then overrides; an override for no parameter is a
/// mistake, and what CloudFormation would refuse (sizes, types, patterns, ranges) is refused.
pub(super) fn parameters(
    doc: &Value,
    overrides: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, DeployError> {
    let declared = doc["Parameters"].as_object().cloned().unwrap_or_default();
    let mut parameters = BTreeMap::new();
    for (name, spec) in &declared {
        if let Some(default) = spec.get("Default") {
            parameters.insert(name.clone(), as_text(default));
        }
    }
    for (name, value) in overrides {
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
    for (name, value) in &parameters {
        crate::overrides::check_parameter(name, &declared[name], value).map_err(DeployError::Template)?;
    }
    Ok(parameters)
}

/// A scalar as CloudFormation passes it on: a string as it is, anything else as JSON.
pub(super) fn as_text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_string)
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

/// The binary a SAM Rust function builds: `Metadata.BuildProperties.Binary`, else the package
/// name in `<CodeUri>/Cargo.toml`.
pub(super) fn binary_name(
    template_dir: &Path,
    logical: &str,
    resource: &Value,
) -> Result<String, DeployError> {
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

/// The binaries the template's functions need, for building them first (each once).
pub fn function_binaries(template: &Path) -> Result<Vec<String>, DeployError> {
    let doc = load_template(template)?;
    let dir = template.parent().unwrap_or(Path::new("."));
    let mut names = Vec::new();
    for (logical, resource) in doc["Resources"].as_object().into_iter().flatten() {
        if resource["Type"] == "AWS::Serverless::Function" {
            names.push(binary_name(dir, logical, resource)?);
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}
