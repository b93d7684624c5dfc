//! The gateway: one loopback port for every AWS call. It routes by the SigV4 credential
//! scope's service name — `networkmanager` to the Cloud WAN emulator, `lambda` to the Lambda
//! host, `states` to the local Step Functions, everything else to moto — and serves the
//! admin API under `/_cwq/`.

use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::cloudwan::{is_mutating, CloudWan, Settings};
use crate::deploy::Schedule;
use crate::http::{self, full, Body};
use crate::lambda_host::{FunctionConfig, HostSettings, LambdaHost};
use crate::observe::{CallInfo, FaultRule, Observer};
use crate::stepfunctions::{Invoker, StepFunctions};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Request, Response};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// The account of callers whose access key is not a 12-digit account id (moto's convention).
pub const DEFAULT_ACCOUNT: &str = "123456789012";
pub const DEFAULT_REGION: &str = "us-east-1";

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    /// moto's base URL, e.g. `http://127.0.0.1:4567`; None: other services answer 502.
    pub moto_url: Option<String>,
    pub log_dir: PathBuf,
    pub cloudwan: Settings,
}

#[derive(Debug)]
pub struct LocalCloud {
    pub cloudwan: Mutex<CloudWan>,
    pub observer: Mutex<Observer>,
    pub lambda: LambdaHost,
    pub states: StepFunctions,
    moto_url: Option<String>,
    client: Client<HttpConnector, Body>,
    shutdown: tokio::sync::Notify,
    /// Deployed schedules, each with the task that runs it, if it runs on its own.
    schedules: Mutex<Vec<(Schedule, Option<tokio::task::JoinHandle<()>>)>>,
}

/// A running gateway: its address and a handle to stop it.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub cloud: Arc<LocalCloud>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resolves when the admin API asks to shut down.
    pub async fn shutdown_requested(&self) {
        self.cloud.shutdown.notified().await;
    }

    pub async fn stop(self) {
        self.cloud.replace_schedules(Vec::new());
        self.cloud.lambda.stop_all().await;
        self.task.abort();
    }
}

/// Binds the gateway (127.0.0.1 only) and serves in the background.
pub async fn start(config: GatewayConfig) -> std::io::Result<Running> {
    if !config.listen.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the local cloud binds to loopback only",
        ));
    }
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let cloud = Arc::new_cyclic(|weak| LocalCloud {
        states: StepFunctions::new(
            Arc::new(GatewayInvoker(weak.clone())),
            DEFAULT_REGION,
            DEFAULT_ACCOUNT,
        ),
        cloudwan: Mutex::new(CloudWan::new(config.cloudwan)),
        observer: Mutex::new(Observer::default()),
        lambda: LambdaHost::new(HostSettings {
            endpoint_url: format!("http://{addr}"),
            region: DEFAULT_REGION.into(),
            account: DEFAULT_ACCOUNT.into(),
            log_dir: config.log_dir,
        }),
        moto_url: config.moto_url,
        client: Client::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
        shutdown: tokio::sync::Notify::new(),
        schedules: Mutex::new(Vec::new()),
    });
    let served = cloud.clone();
    let task = tokio::spawn(http::serve(listener, move |request| {
        let cloud = served.clone();
        async move { cloud.handle(request).await }
    }));
    Ok(Running { addr, cloud, task })
}

/// Step Functions' Tasks invoke through the gateway, so Lambda faults and counters apply.
struct GatewayInvoker(std::sync::Weak<LocalCloud>);

impl Invoker for GatewayInvoker {
    fn invoke(&self, function: &str, payload: Bytes) -> cwq_asl::BoxFuture<ApiResponse> {
        let cloud = self.0.upgrade();
        let path = format!("/2015-03-31/functions/{function}/invocations");
        Box::pin(async move {
            match cloud {
                Some(cloud) => cloud.lambda_call(&path, DEFAULT_ACCOUNT, None, payload).await,
                None => ApiError::internal().into_response(),
            }
        })
    }
}

/// The service and account a SigV4-signed request is for: `Credential=AKID/date/region/service/aws4_request`.
pub fn credential_scope(headers: &hyper::HeaderMap, query: &str) -> (Option<String>, String) {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let from_header = header
        .split("Credential=")
        .nth(1)
        .map(|rest| rest.split([',', ' ']).next().unwrap_or_default().to_string());
    let from_query = || {
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == "X-Amz-Credential").then(|| percent_decode_str(value).decode_utf8_lossy().to_string())
        })
    };
    let Some(credential) = from_header.or_else(from_query) else {
        return (None, DEFAULT_ACCOUNT.into());
    };
    let parts: Vec<&str> = credential.split('/').collect();
    let access_key = parts.first().copied().unwrap_or_default();
    let account = if access_key.len() == 12 && access_key.bytes().all(|b| b.is_ascii_digit()) {
        access_key.to_string()
    } else {
        DEFAULT_ACCOUNT.to_string()
    };
    (parts.get(3).map(|s| (*s).to_string()), account)
}

fn decode_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .to_string()
            };
            (decode(key), decode(value))
        })
        .collect()
}

fn to_hyper(response: ApiResponse) -> Response<Body> {
    let mut builder = Response::builder().status(response.status);
    let mut has_request_id = false;
    for (name, value) in &response.headers {
        has_request_id |= name.eq_ignore_ascii_case("x-amzn-requestid");
        builder = builder.header(name, value);
    }
    if !has_request_id {
        builder = builder.header("x-amzn-requestid", request_id());
    }
    builder
        .body(full(response.body))
        .unwrap_or_else(|_| http::status(500, "bad response"))
}

/// Who made a call: a Lambda function (or not), with its own keys or an assumed role's.
#[derive(Debug)]
struct Caller {
    function: Option<String>,
    own_credentials: bool,
}

/// The Lambda host gives functions an account id as access key; an assumed role's keys are
/// moto's (`ASIA…`).
fn own_credentials(headers: &hyper::HeaderMap, query: &str, account: &str) -> bool {
    let signed = |text: &str| {
        text.contains(&format!("Credential={account}/"))
            || text.contains(&format!("Credential%3D{account}%2F"))
    };
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    signed(header) || query.contains(&format!("X-Amz-Credential={account}%2F"))
}

/// The Lambda function that made a call: `app/<name>` in the SDK's user agent, which the
/// Lambda host sets through AWS_SDK_UA_APP_ID.
fn calling_function(headers: &hyper::HeaderMap) -> Option<String> {
    ["x-amz-user-agent", "user-agent"]
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .flat_map(str::split_whitespace)
        .find_map(|token| token.strip_prefix("app/"))
        .map(str::to_string)
}

/// The operation of a call to a moto-served service: `X-Amz-Target` (JSON protocols) or the
/// `Action` of a query-protocol form body.
fn proxied_operation(headers: &hyper::HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_string();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or("Unknown")
        .to_string()
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
    let mut response = Response::new(full(Bytes::from(body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

fn request_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012x}")
}

impl LocalCloud {
    async fn handle(self: Arc<Self>, request: Request<hyper::body::Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        if path.starts_with("/_cwq/") {
            return self.admin(request).await;
        }
        let query = request.uri().query().unwrap_or_default().to_string();
        let (service, account) = credential_scope(request.headers(), &query);
        let caller = Caller {
            function: calling_function(request.headers()),
            own_credentials: own_credentials(request.headers(), &query, &account),
        };
        match service.as_deref() {
            Some("networkmanager") => {
                let method = request.method().to_string();
                let body = http::collect(request).await.unwrap_or_default();
                let api = ApiRequest {
                    method,
                    raw_path: path,
                    query: decode_query(&query),
                    body,
                    account,
                };
                let (response, crash) = self.network_manager(&api, &caller).await;
                self.crash_caller(crash, caller.function.as_deref()).await;
                to_hyper(response)
            }
            Some("states") => {
                let operation = proxied_operation(request.headers(), &[]);
                let body = http::collect(request).await.unwrap_or_default();
                let (response, crash) = self
                    .step_functions(&operation, &body, &account, &path, &caller)
                    .await;
                self.crash_caller(crash, caller.function.as_deref()).await;
                to_hyper(response)
            }
            Some("lambda") => {
                let invocation_type = request
                    .headers()
                    .get("x-amz-invocation-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = http::collect(request).await.unwrap_or_default();
                to_hyper(
                    self.lambda_call(&path, &account, invocation_type.as_deref(), body)
                        .await,
                )
            }
            other => {
                let service = other.unwrap_or("unknown").to_string();
                let (response, crash) = self.proxy(request, &service, &account, &caller).await;
                self.crash_caller(crash, caller.function.as_deref()).await;
                response
            }
        }
    }

    /// A `crash_after` fault: the call was served; now its caller dies before the answer.
    async fn crash_caller(&self, crash: bool, caller: Option<&str>) {
        if let (true, Some(function)) = (crash, caller) {
            if self.lambda.crash(function).await {
                eprintln!("fault: {function} crashed after its call was served");
            }
        }
    }

    async fn network_manager(&self, request: &ApiRequest, caller: &Caller) -> (ApiResponse, bool) {
        let started = std::time::Instant::now();
        let operation = CloudWan::operation_name(&request.method, &request.raw_path).unwrap_or("Unknown");
        let verdict = self
            .observer
            .lock()
            .expect("lock")
            .verdict("networkmanager", operation);
        if !verdict.delay.is_zero() {
            tokio::time::sleep(verdict.delay).await;
        }
        let injected = verdict.error.is_some();
        let response = match verdict.error {
            Some(error) => error.into_response(),
            None => self.cloudwan.lock().expect("lock").handle(request),
        };
        // The tag keys a tagging call names: what an `aws:TagKeys` condition would see.
        let keys = match operation {
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
        };
        let info = CallInfo {
            service: "networkmanager",
            operation,
            account: &request.account,
            path: &request.raw_path,
            summary: keys.as_deref(),
            caller: caller.function.as_deref(),
            own_credentials: caller.own_credentials,
            took: started.elapsed(),
        };
        self.observer
            .lock()
            .expect("lock")
            .record(info, response.status, injected, is_mutating(operation));
        (response, verdict.crash_after && !injected)
    }

    async fn step_functions(
        &self,
        operation: &str,
        body: &[u8],
        account: &str,
        path: &str,
        caller: &Caller,
    ) -> (ApiResponse, bool) {
        let started = std::time::Instant::now();
        let verdict = self.observer.lock().expect("lock").verdict("states", operation);
        if !verdict.delay.is_zero() {
            tokio::time::sleep(verdict.delay).await;
        }
        let injected = verdict.error.is_some();
        let response = match verdict.error {
            Some(error) => {
                // JSON 1.0: throttling and access denied are 400s, anything else a 500.
                let status = if error.status >= 500 { 500 } else { 400 };
                let mut response =
                    ApiResponse::json(status, &json!({"__type": error.code, "message": error.message}));
                response
                    .headers
                    .push(("x-amzn-errortype".into(), error.code.into()));
                response
            }
            None => self.states.handle(operation, body),
        };
        let info = CallInfo {
            service: "states",
            operation,
            account,
            path,
            summary: None,
            caller: caller.function.as_deref(),
            own_credentials: caller.own_credentials,
            took: started.elapsed(),
        };
        // The call log is of changes to the estate; starting an execution is not one.
        self.observer
            .lock()
            .expect("lock")
            .record(info, response.status, injected, false);
        (response, verdict.crash_after && !injected)
    }

    pub(crate) async fn lambda_call(
        &self,
        path: &str,
        account: &str,
        invocation_type: Option<&str>,
        body: Bytes,
    ) -> ApiResponse {
        let started = std::time::Instant::now();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let ["2015-03-31", "functions", name, "invocations"] = segments.as_slice() else {
            return ApiError::validation(
                "UnknownOperation",
                format!("the local Lambda host serves Invoke only, not {path}"),
            )
            .into_response();
        };
        let name = percent_decode_str(name).decode_utf8_lossy().to_string();
        let verdict = self.observer.lock().expect("lock").verdict("lambda", "Invoke");
        if !verdict.delay.is_zero() {
            tokio::time::sleep(verdict.delay).await;
        }
        let injected = verdict.error.is_some();
        let response = match verdict.error {
            Some(error) => error.into_response(),
            None => self.lambda.invoke(&name, invocation_type, body).await,
        };
        let info = CallInfo {
            service: "lambda",
            operation: "Invoke",
            account,
            path,
            summary: None,
            caller: None,
            own_credentials: false,
            took: started.elapsed(),
        };
        self.observer
            .lock()
            .expect("lock")
            .record(info, response.status, injected, false);
        response
    }

    /// Everything else goes to moto, unchanged — unless a fault rule says otherwise.
    async fn proxy(
        &self,
        request: Request<hyper::body::Incoming>,
        service: &str,
        account: &str,
        caller: &Caller,
    ) -> (Response<Body>, bool) {
        let started = std::time::Instant::now();
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
        let verdict = self.observer.lock().expect("lock").verdict(service, &operation);
        if !verdict.delay.is_zero() {
            tokio::time::sleep(verdict.delay).await;
        }
        let path = parts.uri.path().to_string();
        let published = (service == "events" && operation == "PutEvents").then(|| published_events(&body));
        let record = |status: u16, injected: bool| {
            let info = CallInfo {
                service,
                operation: &operation,
                account,
                path: &path,
                summary: published.as_deref(),
                caller: caller.function.as_deref(),
                own_credentials: caller.own_credentials,
                took: started.elapsed(),
            };
            let mutating = (service == "ec2" && is_mutating_ec2(&operation)) || published.is_some();
            self.observer
                .lock()
                .expect("lock")
                .record(info, status, injected, mutating);
        };
        if let Some(error) = verdict.error {
            record(error.status, true);
            return (protocol_error(service, &error), false);
        }
        let target = format!("{moto}{}", parts.uri.path_and_query().map_or("/", |p| p.as_str()));
        let mut builder = Request::builder().method(parts.method).uri(target);
        for (name, value) in &parts.headers {
            if name != "host" {
                builder = builder.header(name, value);
            }
        }
        let Ok(forward) = builder.body(full(body)) else {
            return (http::status(400, "cannot forward the request"), false);
        };
        match self.client.request(forward).await {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
                record(parts.status.as_u16(), false);
                (Response::from_parts(parts, full(bytes)), verdict.crash_after)
            }
            Err(e) => (http::status(502, &format!("moto did not answer: {e}")), false),
        }
    }

    async fn moto_healthy(&self) -> bool {
        let Some(moto) = &self.moto_url else { return false };
        let Ok(request) = Request::get(format!("{moto}/moto-api/config")).body(full(Bytes::new())) else {
            return false;
        };
        matches!(self.client.request(request).await, Ok(r) if r.status().is_success())
    }

    /// The admin API: health, Cloud WAN settings, faults, the call log, counters, functions.
    /// Replaces the deployed schedules; those with an interval run on their own.
    fn replace_schedules(self: &Arc<Self>, schedules: Vec<Schedule>) {
        let mut current = self.schedules.lock().expect("lock");
        for (_, task) in current.drain(..) {
            if let Some(task) = task {
                task.abort();
            }
        }
        for schedule in schedules {
            let task = schedule.every_ms.filter(|ms| *ms > 0).map(|ms| {
                let cloud = Arc::downgrade(self);
                let schedule = schedule.clone();
                tokio::spawn(async move {
                    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(ms));
                    ticks.tick().await;
                    loop {
                        ticks.tick().await;
                        let Some(cloud) = cloud.upgrade() else { return };
                        cloud.run_schedule(&schedule).await;
                    }
                })
            });
            current.push((schedule, task));
        }
    }

    async fn run_schedule(&self, schedule: &Schedule) -> ApiResponse {
        let payload = Bytes::from(schedule.input.clone());
        self.lambda_call(
            &format!("/2015-03-31/functions/{}/invocations", schedule.function),
            DEFAULT_ACCOUNT,
            None,
            payload,
        )
        .await
    }

    async fn admin(self: &Arc<Self>, request: Request<hyper::body::Incoming>) -> Response<Body> {
        let method = request.method().to_string();
        let path = request.uri().path().trim_start_matches("/_cwq/").to_string();
        let body = http::collect(request).await.unwrap_or_default();
        let parse = |body: &Bytes| serde_json::from_slice::<Value>(body);
        match (method.as_str(), path.as_str()) {
            ("GET", "health") => {
                let moto = if self.moto_url.is_none() {
                    "not configured"
                } else if self.moto_healthy().await {
                    "ok"
                } else {
                    "down"
                };
                http::json_status(200, &json!({"gateway": "ok", "moto": moto}))
            }
            ("GET", "lambda/settings") => {
                http::json_status(200, &json!({"timeout_error": self.states.timeout_name()}))
            }
            ("PUT", "lambda/settings") => {
                let parsed: Result<Value, _> = serde_json::from_slice(&body);
                match parsed.map(|v| {
                    serde_json::from_value::<crate::stepfunctions::TimeoutName>(v["timeout_error"].clone())
                }) {
                    Ok(Ok(name)) => {
                        self.states.set_timeout_name(name);
                        http::json_status(200, &json!({"timeout_error": name}))
                    }
                    _ => http::status(
                        400,
                        "expected {\"timeout_error\": \"Lambda.Unknown\" | \"Sandbox.Timedout\"}",
                    ),
                }
            }
            ("GET", "cloudwan/settings") => {
                http::json_status(200, &json!(self.cloudwan.lock().expect("lock").settings))
            }
            ("PUT", "cloudwan/settings") => match serde_json::from_slice::<Settings>(&body) {
                Ok(settings) => {
                    self.cloudwan.lock().expect("lock").settings = settings.clone();
                    http::json_status(200, &json!(settings))
                }
                Err(e) => http::status(400, &format!("invalid settings: {e}")),
            },
            ("GET", "faults") => http::json_status(200, &json!(self.observer.lock().expect("lock").rules())),
            ("PUT", "faults") => {
                let parsed = parse(&body).map_err(|e| e.to_string()).and_then(|v| {
                    let seed = v.get("seed").and_then(Value::as_u64);
                    let rules: Vec<FaultRule> =
                        serde_json::from_value(v.get("rules").cloned().unwrap_or(json!([])))
                            .map_err(|e| e.to_string())?;
                    Ok((rules, seed))
                });
                match parsed {
                    Ok((rules, seed)) => {
                        self.observer.lock().expect("lock").set_rules(rules.clone(), seed);
                        http::json_status(200, &json!(rules))
                    }
                    Err(e) => http::status(400, &format!("invalid faults: {e}")),
                }
            }
            ("DELETE", "faults") => {
                self.observer.lock().expect("lock").set_rules(Vec::new(), None);
                http::json_status(200, &json!([]))
            }
            ("GET", "calls") => http::json_status(200, &json!(self.observer.lock().expect("lock").calls())),
            ("GET", "actions") => {
                http::json_status(200, &json!(self.observer.lock().expect("lock").actions()))
            }
            ("GET", "counters") => {
                http::json_status(200, &json!(self.observer.lock().expect("lock").counters()))
            }
            ("DELETE", "calls" | "counters") => {
                self.observer.lock().expect("lock").reset();
                http::json_status(200, &json!({}))
            }
            ("GET", "functions") => {
                let functions: Vec<Value> = self
                    .lambda
                    .configs()
                    .into_iter()
                    .map(|(config, stats)| json!({"config": config, "stats": stats}))
                    .collect();
                http::json_status(200, &json!(functions))
            }
            ("PUT", "functions") => match serde_json::from_slice::<FunctionConfig>(&body) {
                Ok(config) => match self.lambda.register(config.clone()).await {
                    Ok(()) => http::json_status(200, &json!(config)),
                    Err(e) => http::status(400, &e.to_string()),
                },
                Err(e) => http::status(400, &format!("invalid function: {e}")),
            },
            ("GET", "schedules") => {
                let schedules: Vec<Schedule> = self
                    .schedules
                    .lock()
                    .expect("lock")
                    .iter()
                    .map(|(s, _)| s.clone())
                    .collect();
                http::json_status(200, &json!(schedules))
            }
            ("PUT", "schedules") => match serde_json::from_slice::<Vec<Schedule>>(&body) {
                Ok(schedules) => {
                    self.replace_schedules(schedules.clone());
                    http::json_status(200, &json!(schedules))
                }
                Err(e) => http::status(400, &format!("invalid schedules: {e}")),
            },
            ("POST", run) if run.starts_with("schedules/") && run.ends_with("/run") => {
                let name = run.trim_start_matches("schedules/").trim_end_matches("/run");
                let schedule = self
                    .schedules
                    .lock()
                    .expect("lock")
                    .iter()
                    .find(|(s, _)| s.name == name)
                    .map(|(s, _)| s.clone());
                match schedule {
                    Some(schedule) => {
                        let response = self.run_schedule(&schedule).await;
                        let result: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
                        let failed = response.headers.iter().any(|(k, _)| k == "x-amz-function-error");
                        http::json_status(
                            200,
                            &json!({"schedule": name, "function_error": failed, "result": result}),
                        )
                    }
                    None => http::status(404, &format!("no schedule {name}")),
                }
            }
            ("POST", "shutdown") => {
                self.shutdown.notify_one();
                http::json_status(200, &json!({"stopping": true}))
            }
            _ => http::status(404, &format!("no admin route {method} /_cwq/{path}")),
        }
    }
}
