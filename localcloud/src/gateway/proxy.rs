//! Everything the gateway does not serve itself goes to moto, unchanged — unless a fault rule
//! says otherwise, in which case the error is in that service's own protocol (EC2's XML, the
//! query protocol's XML, or the JSON protocols' `__type`).

use super::observed::Call;
use super::scope::{proxied_operation, Caller};
use super::{request_id, LocalCloud};
use crate::api::ApiError;
use crate::http::{self, full, Body};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::http::request::Parts;
use hyper::{Request, Response};
use serde_json::{json, Value};

impl LocalCloud {
    pub(super) async fn proxy(
        &self,
        request: Request<hyper::body::Incoming>,
        service: &str,
        account: &str,
        caller: &Caller,
    ) -> (Response<Body>, bool) {
        let Some(moto) = &self.moto_url else {
            return (
                http::status(502, "moto is not running behind this gateway"),
                false,
            );
        };
        let (parts, body) = request.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => return (http::status(400, &format!("cannot read the request: {e}")), false),
        };
        let operation = proxied_operation(&parts.headers, &body);
        let path = parts.uri.path().to_string();
        let published = (service == "events" && operation == "PutEvents").then(|| published_events(&body));
        let call = Call {
            service,
            operation: &operation,
            account,
            path: &path,
            summary: published.as_deref(),
            caller: Some(caller),
            mutating: (service == "ec2" && is_mutating_ec2(&operation)) || published.is_some(),
        };
        let inject = |error: ApiError| protocol_error(service, &error);
        self.observed(call, inject, self.forward(moto, parts, body)).await
    }

    /// The request as moto's; Err: moto could not be asked.
    async fn forward(&self, moto: &str, parts: Parts, body: Bytes) -> Result<Response<Body>, Response<Body>> {
        let target = format!("{moto}{}", parts.uri.path_and_query().map_or("/", |p| p.as_str()));
        let mut builder = Request::builder().method(parts.method).uri(target);
        for (name, value) in &parts.headers {
            if name != "host" {
                builder = builder.header(name, value);
            }
        }
        let Ok(forward) = builder.body(full(body)) else {
            return Err(http::status(400, "cannot forward the request"));
        };
        match self.client.request(forward).await {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                Ok(Response::from_parts(parts, full(bytes)))
            }
            Err(e) => Err(http::status(502, &format!("moto did not answer: {e}"))),
        }
    }

    pub(super) async fn moto_healthy(&self) -> bool {
        let Some(moto) = &self.moto_url else { return false };
        let Ok(request) = Request::get(format!("{moto}/moto-api/config")).body(full(Bytes::new())) else {
            return false;
        };
        matches!(self.client.request(request).await, Ok(r) if r.status().is_success())
    }
}

/// The detail-types and details of a PutEvents request, for the call log.
fn published_events(body: &[u8]) -> String {
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    let entries: Vec<String> = request["Entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "{} {}",
                e["DetailType"].as_str().unwrap_or_default(),
                e["Detail"].as_str().unwrap_or_default()
            )
        })
        .collect();
    entries.join("\n")
}

fn is_mutating_ec2(operation: &str) -> bool {
    [
        "Create",
        "Delete",
        "Modify",
        "Attach",
        "Detach",
        "Associate",
        "Disassociate",
        "Run",
        "Terminate",
        "Stop",
        "Start",
    ]
    .iter()
    .any(|verb| operation.starts_with(verb))
}

/// An injected error in the service's own protocol: EC2's XML, the query protocol's XML, or
/// the JSON protocols' `__type`.
fn protocol_error(service: &str, error: &ApiError) -> Response<Body> {
    // (EC2 code, query-protocol code, JSON code, EC2 status, query status, JSON status)
    let (ec2, query, json_code, statuses) = match error.code {
        "ThrottlingException" => (
            "RequestLimitExceeded",
            "Throttling",
            "ThrottlingException",
            (503, 400, 400),
        ),
        "AccessDeniedException" => (
            "UnauthorizedOperation",
            "AccessDenied",
            "AccessDeniedException",
            (403, 403, 400),
        ),
        _ => (
            "InternalError",
            "InternalFailure",
            "InternalServerError",
            (500, 500, 500),
        ),
    };
    let (content_type, body, status) = match service {
        "ec2" => {
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{ec2}</Code>\
                 <Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
                error.message,
                request_id()
            );
            ("text/xml", xml, statuses.0)
        }
        "sts" | "iam" | "sns" | "sqs" => {
            let xml = format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{query}</Code><Message>{}</Message></Error>\
                 <RequestId>{}</RequestId></ErrorResponse>",
                error.message,
                request_id()
            );
            ("text/xml", xml, statuses.1)
        }
        _ => {
            let json = json!({"__type": json_code, "message": error.message}).to_string();
            ("application/x-amz-json-1.0", json, statuses.2)
        }
    };
    http::typed_status(status, content_type, body)
}
