//! A small real Lambda for testing and measuring the local cloud itself: it echoes, fails with
//! a named error a given number of times (to exercise Retry and Catch), or sleeps.
//!
//! Input: `{"echo": …}`, `{"fail": "Transient", "times": 2, "key": "k"}` (omit `times` to
//! fail always), `{"sleep_ms": 100}`.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug)]
struct ProbeError {
    name: String,
    attempt: u64,
}

impl From<ProbeError> for Diagnostic {
    fn from(error: ProbeError) -> Self {
        Diagnostic {
            error_message: format!("probe failed as asked (attempt {})", error.attempt),
            error_type: error.name,
        }
    }
}

static ATTEMPTS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

async fn handle(event: LambdaEvent<Value>) -> Result<Value, ProbeError> {
    let input = event.payload;
    if let Some(ms) = input["sleep_ms"].as_u64() {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    if let Some(name) = input["fail"].as_str() {
        let key = input["key"].as_str().unwrap_or(name).to_string();
        let attempt = {
            let mut attempts = ATTEMPTS.lock().unwrap_or_else(|e| e.into_inner());
            let count = attempts.get_or_insert_with(HashMap::new).entry(key).or_insert(0);
            *count += 1;
            *count
        };
        let times = input["times"].as_u64();
        if times.is_none_or(|times| attempt <= times) {
            return Err(ProbeError {
                name: name.to_string(),
                attempt,
            });
        }
        return Ok(json!({"recovered_after": attempt - 1}));
    }
    Ok(json!({"echo": input["echo"], "function": event.context.invoked_function_arn}))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(handle)).await
}
