//! The Lambda Runtime API one function's instance talks to: `next` hands it the oldest
//! invocation whose caller still waits, `response` and `error` answer that caller, and
//! `init/error` ends a start that failed.

use super::instance::{Function, Outcome};
use crate::http::{self, full, Body};
use hyper::{Request, Response};
use serde_json::json;
use std::sync::Arc;

/// The Runtime API one function's instance talks to.
pub(super) async fn runtime_api(
    function: Arc<Function>,
    request: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["2018-06-01", "runtime", "invocation", "next"]) => next(&function).await,
        ("POST", ["2018-06-01", "runtime", "invocation", id, kind @ ("response" | "error")]) => {
            let error_type =
                http::header(request.headers(), "lambda-runtime-function-error-type").map(str::to_string);
            let body = http::collect(request).await.unwrap_or_default();
            let outcome = if *kind == "response" {
                Ok(body)
            } else {
                // The body is {errorType, errorMessage}; keep it as Lambda returns it.
                let name = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["errorType"].as_str().map(str::to_string))
                    .or(error_type)
                    .unwrap_or_else(|| "Unhandled".into());
                Err((name, body))
            };
            reply(&function, id, outcome)
        }
        ("POST", ["2018-06-01", "runtime", "init", "error"]) => {
            function.ready.notify_waiters();
            accepted()
        }
        _ => http::status(404, "not a Runtime API route"),
    }
}

/// `next`: the oldest invocation whose caller still waits, with Lambda's headers.
async fn next(function: &Function) -> Response<Body> {
    function.ready.notify_waiters();
    // Skip invocations whose caller already gave up (a crash failed them while queued).
    let invocation = loop {
        let Some(invocation) = function.receiver.lock().await.recv().await else {
            return http::status(410, "the function was replaced");
        };
        if function
            .pending
            .lock()
            .expect("lock")
            .contains_key(&invocation.id)
        {
            break invocation;
        }
    };
    let deadline_ms = (std::time::SystemTime::now() + invocation.timeout)
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let _ = invocation.picked.send(());
    let arn = format!(
        "arn:aws:lambda:local:000000000000:function:{}",
        function.config.name
    );
    Response::builder()
        .header("lambda-runtime-aws-request-id", &invocation.id)
        .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
        .header("lambda-runtime-invoked-function-arn", arn)
        .header(
            "lambda-runtime-trace-id",
            format!("Root=1-00000000-{}", invocation.id),
        )
        .header("content-type", "application/json")
        .body(full(invocation.payload))
        .unwrap_or_else(|_| http::status(500, "bad response"))
}

/// `response` or `error`: the outcome to the caller waiting for invocation `id`.
fn reply(function: &Function, id: &str, outcome: Outcome) -> Response<Body> {
    match function.pending.lock().expect("lock").remove(id) {
        Some(reply) => {
            let _ = reply.send(outcome);
            accepted()
        }
        None => http::json_status(
            400,
            &json!({"errorType": "InvalidRequestID", "errorMessage": "unknown request id"}),
        ),
    }
}

fn accepted() -> Response<Body> {
    http::json_status(202, &json!({"status": "OK"}))
}
