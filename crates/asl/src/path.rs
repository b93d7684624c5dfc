//! JSONPath as the States Language uses it: `$`, `$.a.b`, `$.a[0]`, `$['a b']` to read;
//! reference paths (no wildcards) to place a result; `$$.` reads the context object.
//! A path that selects nothing is an error, as it is on AWS (`States.Runtime`).

use serde_json::{Map, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

fn parse(path: &str) -> Result<Vec<Segment>, String> {
    let rest = path
        .strip_prefix('$')
        .ok_or_else(|| format!("the path {path:?} does not start with $"))?;
    let mut segments = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                let mut key = String::new();
                while let Some(&next) = chars.peek() {
                    if next == '.' || next == '[' {
                        break;
                    }
                    key.push(next);
                    chars.next();
                }
                if key.is_empty() || key == "*" {
                    return Err(format!("the path {path:?} is not supported here"));
                }
                segments.push(Segment::Key(key));
            }
            '[' => {
                let mut inner = String::new();
                for next in chars.by_ref() {
                    if next == ']' {
                        break;
                    }
                    inner.push(next);
                }
                let quoted = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                match (quoted, inner.parse::<usize>()) {
                    (Some(key), _) => segments.push(Segment::Key(key.to_string())),
                    (None, Ok(index)) => segments.push(Segment::Index(index)),
                    _ => return Err(format!("the path {path:?} is not supported here")),
                }
            }
            _ => return Err(format!("the path {path:?} is not valid JSONPath")),
        }
    }
    Ok(segments)
}

/// Whether `path` is a path this interpreter reads (for the validator).
pub fn is_valid(path: &str) -> bool {
    let data_path = path
        .strip_prefix('$')
        .filter(|rest| rest.starts_with('$'))
        .unwrap_or(path);
    parse(data_path).is_ok()
}

/// What `path` selects in `data`; an error when it selects nothing.
pub fn read(data: &Value, path: &str) -> Result<Value, String> {
    let segments = parse(path)?;
    let mut current = data;
    for segment in &segments {
        let next = match segment {
            Segment::Key(key) => current.get(key.as_str()),
            Segment::Index(index) => current.get(*index),
        };
        current = next.ok_or_else(|| format!("Invalid path '{path}': no such field in the input"))?;
    }
    Ok(current.clone())
}

/// `$.x` from the data, `$$.x` from the context object.
pub fn read_either(data: &Value, context: &Value, path: &str) -> Result<Value, String> {
    match path.strip_prefix('$') {
        Some(rest) if rest.starts_with('$') => read(context, rest),
        _ => read(data, path),
    }
}

/// Places `result` at the reference path `path` in `data` (`$`: replaces it).
pub fn place(data: Value, path: &str, result: Value) -> Result<Value, String> {
    let segments = parse(path)?;
    if segments.is_empty() {
        return Ok(result);
    }
    let mut data = data;
    if !data.is_object() {
        return Err(format!(
            "Unable to apply ResultPath {path:?}: the input is not a JSON object"
        ));
    }
    let mut target = &mut data;
    for (i, segment) in segments.iter().enumerate() {
        let Segment::Key(key) = segment else {
            return Err(format!("ResultPath {path:?}: array positions are not supported"));
        };
        let last = i == segments.len() - 1;
        let map = target
            .as_object_mut()
            .ok_or_else(|| format!("Unable to apply ResultPath {path:?}: {key} is inside a non-object"))?;
        if last {
            map.insert(key.clone(), result);
            return Ok(data);
        }
        let entry = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        target = entry;
    }
    Ok(data)
}

/// A payload template (Parameters, ResultSelector): each `"key.$": "path"` becomes `"key":
/// <value at path>`; everything else is copied.
pub fn fill(template: &Value, data: &Value, context: &Value) -> Result<Value, String> {
    match template {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match (key.strip_suffix(".$"), value) {
                    (Some(name), Value::String(path)) => {
                        if path.starts_with("States.") {
                            return Err(format!("intrinsic functions ({path}) are not supported"));
                        }
                        out.insert(name.to_string(), read_either(data, context, path)?);
                    }
                    (Some(name), _) => return Err(format!("{name}.$ must be a path")),
                    (None, _) => {
                        out.insert(key.clone(), fill(value, data, context)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => Ok(Value::Array(
            items
                .iter()
                .map(|item| fill(item, data, context))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(other.clone()),
    }
}
