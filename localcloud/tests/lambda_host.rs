//! Invoke against the Lambda host, the way the SDKs call it: Lambda's response shapes, function
//! errors, unknown functions, timeouts and cold starts.

#![allow(clippy::unwrap_used)]

mod common;

use common::{admin, start};
use cwq_localcloud::admin::AdminError;
use cwq_localcloud::cloudwan::Settings;
use cwq_localcloud::lambda_host::FunctionConfig;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

/// POST /2015-03-31/functions/{name}/invocations, signed for `lambda` (the signature itself is
/// not checked; the scope routes it).
async fn invoke(endpoint: &str, function: &str, payload: Value) -> (u16, Option<String>, Value) {
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let request = hyper::Request::post(format!("{endpoint}/2015-03-31/functions/{function}/invocations"))
        .header("authorization", "AWS4-HMAC-SHA256 Credential=123456789012/20261129/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0")
        .body(Full::new(bytes::Bytes::from(payload.to_string())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let error = response
        .headers()
        .get("x-amz-function-error")
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        error,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn invoke_answers_with_lambdas_shapes() {
    let cloud = start(Settings::default(), None, "lambda-host").await;
    let endpoint = cloud.endpoint_url();
    let probe = env!("CARGO_BIN_EXE_cwq-probe");
    let config = FunctionConfig {
        timeout_seconds: 2,
        ..FunctionConfig::new("probe", probe)
    };
    admin(&cloud).put_function(&config).await.unwrap();

    let (status, error, body) = invoke(&endpoint, "probe", json!({"echo": 42})).await;
    assert_eq!((status, error), (200, None));
    assert_eq!(body["echo"], 42);
    // The function sees the ARN it was invoked with, and the full ARN form is accepted.
    let arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aprobe";
    let (status, _, body) = invoke(&endpoint, arn, json!({"echo": "by arn"})).await;
    assert_eq!((status, body["echo"].as_str()), (200, Some("by arn")));

    // A function error: 200, X-Amz-Function-Error, {errorType, errorMessage}.
    let (status, error, body) = invoke(&endpoint, "probe", json!({"fail": "AttachmentNotFound"})).await;
    assert_eq!((status, error.as_deref()), (200, Some("Unhandled")));
    assert_eq!(body["errorType"], "AttachmentNotFound");
    assert!(body["errorMessage"]
        .as_str()
        .unwrap()
        .contains("probe failed as asked"));

    // A timeout kills the instance; the next call is a new cold start.
    let (_, error, body) = invoke(&endpoint, "probe", json!({"sleep_ms": 5000})).await;
    assert_eq!(
        (error.as_deref(), body["errorType"].as_str()),
        (Some("Unhandled"), Some("Sandbox.Timedout"))
    );
    let (status, error, _) = invoke(&endpoint, "probe", json!({"echo": "again"})).await;
    assert_eq!((status, error), (200, None));

    let (status, _, body) = invoke(&endpoint, "nope", json!({})).await;
    assert_eq!(status, 404);
    assert!(
        body["Message"].as_str().unwrap().contains("Function not found"),
        "{body}"
    );

    let functions = admin(&cloud).functions().await.unwrap();
    let stats = &functions[0].stats;
    assert_eq!(stats.cold_start_init_ms.len(), 2, "{stats:?}");
    assert_eq!(stats.invocations, 5);
    assert_eq!(stats.errors, 2);
    let log = std::fs::read_to_string(cloud.cloud.lambda.log_path("probe")).unwrap();
    assert!(log.is_empty() || !log.contains("panicked"), "{log}");

    // Registering a binary that does not exist is refused.
    let refused = admin(&cloud)
        .put_function(&FunctionConfig::new("x", "/no/such/bootstrap"))
        .await;
    assert!(
        matches!(refused, Err(AdminError::Refused { status: 400, .. })),
        "{refused:?}"
    );
    cloud.stop().await;
}
