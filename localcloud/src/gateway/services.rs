//! The services the gateway answers itself — the Cloud WAN emulator, the local Step
//! Functions, the local Security Hub and the Lambda host — each behind the observation wrapper.

use super::observed::Call;
use super::scope::Caller;
use super::LocalCloud;
use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::cloudwan::{is_mutating, CloudWan};
use bytes::Bytes;
use percent_encoding::percent_decode_str;

impl LocalCloud {
    pub(super) async fn network_manager(&self, request: &ApiRequest, caller: &Caller) -> (ApiResponse, bool) {
        let operation = CloudWan::operation_name(&request.method, &request.raw_path).unwrap_or("Unknown");
        let keys = tag_keys(operation, request);
        let call = Call {
            service: "networkmanager",
            operation,
            account: &request.account,
            path: &request.raw_path,
            summary: keys.as_deref(),
            caller: Some(caller),
            mutating: is_mutating(operation),
        };
        let serve = async { Ok(self.cloudwan.lock().expect("lock").handle(request)) };
        self.observed(call, ApiError::into_response, serve).await
    }

    pub(super) async fn step_functions(
        &self,
        operation: &str,
        body: &[u8],
        account: &str,
        path: &str,
        caller: &Caller,
    ) -> (ApiResponse, bool) {
        let call = Call {
            service: "states",
            operation,
            account,
            path,
            summary: None,
            caller: Some(caller),
            // The call log is of changes to the estate; starting an execution is not one.
            mutating: false,
        };
        let serve = async { Ok(self.states.handle(operation, body)) };
        self.observed(call, states_error, serve).await
    }

    pub(super) async fn security_hub(&self, request: &ApiRequest, caller: &Caller) -> (ApiResponse, bool) {
        let operation = crate::securityhub::SecurityHub::operation_name(&request.method, &request.raw_path);
        let call = Call {
            service: "securityhub",
            operation,
            account: &request.account,
            path: &request.raw_path,
            summary: None,
            caller: Some(caller),
            mutating: false,
        };
        let serve = async { Ok(self.security_hub.handle(request)) };
        self.observed(call, ApiError::into_response, serve).await
    }

    /// Lambda's Invoke. Its caller is not recorded, and a crash fault on it crashes no one.
    pub(crate) async fn lambda_call(
        &self,
        path: &str,
        account: &str,
        invocation_type: Option<&str>,
        body: Bytes,
    ) -> ApiResponse {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let ["2015-03-31", "functions", name, "invocations"] = segments.as_slice() else {
            return ApiError::validation(
                "UnknownOperation",
                format!("the local Lambda host serves Invoke only, not {path}"),
            )
            .into_response();
        };
        let name = percent_decode_str(name).decode_utf8_lossy().to_string();
        let call = Call {
            service: "lambda",
            operation: "Invoke",
            account,
            path,
            summary: None,
            caller: None,
            mutating: false,
        };
        let serve = async { Ok(self.lambda.invoke(&name, invocation_type, body).await) };
        self.observed(call, ApiError::into_response, serve).await.0
    }
}

/// An injected Step Functions error. JSON 1.0: throttling and access denied are 400s,
/// anything else a 500.
fn states_error(error: ApiError) -> ApiResponse {
    let status = if error.status >= 500 { 500 } else { 400 };
    ApiResponse::json10_error(status, error.code, &error.message)
}

/// The tag keys a tagging call names: what an `aws:TagKeys` condition would see.
fn tag_keys(operation: &str, request: &ApiRequest) -> Option<String> {
    match operation {
        "TagResource" => request.json().ok().map(|body| {
            let keys: Vec<&str> = body["Tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["Key"].as_str())
                .collect();
            keys.join(",")
        }),
        "UntagResource" => Some(request.query_values("tagKeys").join(",")),
        _ => None,
    }
}
