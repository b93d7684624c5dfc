//! EventBridge event patterns, matched as EventBridge does, so that `cwq local inject`
//! delivers only what the deployed rule would: literal values (any of a list), `prefix`,
//! `suffix`, `numeric`, `exists`, `anything-but`, nested objects, and arrays in the event
//! matching when any element matches.

use serde_json::Value;

/// Whether `event` matches `pattern`. An invalid pattern matches nothing.
pub fn matches(pattern: &Value, event: &Value) -> bool {
    let Value::Object(fields) = pattern else {
        return false;
    };
    fields.iter().all(|(key, expected)| {
        let actual = event.get(key);
        match expected {
            Value::Object(_) => actual.is_some_and(|a| matches(expected, a)),
            Value::Array(alternatives) => alternatives.iter().any(|alt| matches_value(alt, actual)),
            _ => false,
        }
    })
}

/// One alternative of a leaf's list against the event's value (or values, for an array).
fn matches_value(alternative: &Value, actual: Option<&Value>) -> bool {
    if let Value::Object(rule) = alternative {
        if let Some(Value::Bool(wanted)) = rule.get("exists") {
            return actual.is_some() == *wanted;
        }
    }
    let values: Vec<&Value> = match actual {
        None => return false,
        Some(Value::Array(items)) => items.iter().collect(),
        Some(value) => vec![value],
    };
    values.into_iter().any(|value| matches_one(alternative, value))
}

fn matches_one(alternative: &Value, value: &Value) -> bool {
    let Value::Object(rule) = alternative else {
        // A literal: equal JSON values; numbers compare numerically (8 matches 8.0).
        return match (alternative, value) {
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            _ => alternative == value,
        };
    };
    let Some((operator, operand)) = rule.iter().next() else {
        return false;
    };
    let text = value.as_str();
    match (operator.as_str(), operand) {
        ("prefix", Value::String(p)) => text.is_some_and(|t| t.starts_with(p.as_str())),
        ("suffix", Value::String(s)) => text.is_some_and(|t| t.ends_with(s.as_str())),
        ("numeric", Value::Array(conditions)) => value.as_f64().is_some_and(|n| numeric(conditions, n)),
        ("anything-but", Value::Array(excluded)) => !excluded.iter().any(|e| matches_one(e, value)),
        ("anything-but", Value::Object(_)) => !matches_one(operand, value),
        ("anything-but", single) => !matches_one(single, value),
        _ => false,
    }
}

/// `[">=", 7, "<", 9]`: every comparison holds.
fn numeric(conditions: &[Value], n: f64) -> bool {
    conditions.chunks(2).all(|pair| {
        let (Some(op), Some(bound)) = (
            pair.first().and_then(Value::as_str),
            pair.get(1).and_then(Value::as_f64),
        ) else {
            return false;
        };
        match op {
            "=" => n == bound,
            "<" => n < bound,
            "<=" => n <= bound,
            ">" => n > bound,
            ">=" => n >= bound,
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn finding(resource_type: &str, severity: f64) -> Value {
        json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding",
               "detail": {"severity": severity, "type": "CryptoCurrency:EC2/BitcoinTool.B!DNS",
                          "resource": {"resourceType": resource_type}}})
    }

    #[test]
    fn the_guardduty_rule() {
        let pattern = json!({"source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"],
                             "detail": {"resource": {"resourceType": ["Instance"]}}});
        assert!(matches(&pattern, &finding("Instance", 8.0)));
        assert!(!matches(&pattern, &finding("S3Bucket", 8.0)));
        assert!(!matches(&pattern, &json!({"source": "aws.guardduty"})));
    }

    #[test]
    fn operators() {
        let high = json!({"detail": {"severity": [{"numeric": [">=", 7, "<", 9]}]}});
        assert!(matches(&high, &finding("Instance", 8.0)));
        assert!(!matches(&high, &finding("Instance", 9.5)));
        let crypto = json!({"detail": {"type": [{"prefix": "CryptoCurrency:"}]}});
        assert!(matches(&crypto, &finding("Instance", 2.0)));
        let not_s3 = json!({"detail": {"resource": {"resourceType": [{"anything-but": ["S3Bucket"]}]}}});
        assert!(matches(&not_s3, &finding("Instance", 2.0)));
        assert!(!matches(&not_s3, &finding("S3Bucket", 2.0)));
        let exists = json!({"detail": {"archived": [{"exists": false}]}});
        assert!(matches(&exists, &finding("Instance", 2.0)));
        let literal_number = json!({"detail": {"severity": [8]}});
        assert!(matches(&literal_number, &finding("Instance", 8.0)));
        let any_of_array = json!({"resources": ["arn:b"]});
        assert!(matches(&any_of_array, &json!({"resources": ["arn:a", "arn:b"]})));
    }
}
