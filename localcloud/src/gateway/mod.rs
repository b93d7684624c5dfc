//! The gateway: one loopback port for every AWS call. It routes by the SigV4 credential
//! scope's service name — `networkmanager` to the Cloud WAN emulator, `lambda` to the Lambda
//! host, `states` to the local Step Functions, `securityhub` to the local Security Hub,
//! everything else to moto — and serves the admin API under `/_cwq/`.
//!
//! Every service route goes through one wrapper, [`LocalCloud::observed`](observed), which
//! applies the fault rules and records the call. `scope` reads who calls what, `services`
//! and `proxy` serve the calls, `admin_routes` the admin API, `schedules` the deployed
//! schedules.

mod admin_routes;
mod observed;
mod proxy;
mod schedules;
mod scope;
mod services;

pub use crate::defaults::{DEFAULT_ACCOUNT, DEFAULT_REGION};
pub use scope::credential_scope;

use crate::admin::Schedule;
use crate::api::{ApiError, ApiRequest, ApiResponse};
use crate::cloudwan::{CloudWan, Settings};
use crate::http::{self, full, Body};
use crate::lambda_host::{HostSettings, LambdaHost};
use crate::observe::Observer;
use crate::stepfunctions::{Invoker, StepFunctions};
use bytes::Bytes;
use hyper::{Request, Response};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use scope::{decode_query, proxied_operation, Caller};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

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
    pub security_hub: crate::securityhub::SecurityHub,
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
        security_hub: crate::securityhub::SecurityHub::default(),
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
        let path = invocation_path(function);
        Box::pin(async move {
            match cloud {
                Some(cloud) => cloud.lambda_call(&path, DEFAULT_ACCOUNT, None, payload).await,
                None => ApiError::internal().into_response(),
            }
        })
    }
}

/// Lambda's Invoke route for `function`.
fn invocation_path(function: &str) -> String {
    format!("/2015-03-31/functions/{function}/invocations")
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

fn request_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// A REST-JSON call (Network Manager, Security Hub) as the services the gateway answers read it.
async fn rest_request(
    request: Request<hyper::body::Incoming>,
    path: String,
    query: &str,
    account: String,
) -> ApiRequest {
    let method = request.method().to_string();
    let body = http::collect(request).await.unwrap_or_default();
    ApiRequest {
        method,
        raw_path: path,
        query: decode_query(query),
        body,
        account,
    }
}

impl LocalCloud {
    /// Routes a request by the service its credential names; a crash fault then crashes the
    /// calling function, once its call has been served.
    async fn handle(self: Arc<Self>, request: Request<hyper::body::Incoming>) -> Response<Body> {
        let path = request.uri().path().to_string();
        if path.starts_with("/_cwq/") {
            return self.admin(request).await;
        }
        let query = request.uri().query().unwrap_or_default().to_string();
        let (service, account) = credential_scope(request.headers(), &query);
        let caller = Caller::of(request.headers(), &query, &account);
        let (response, crash) = match service.as_deref() {
            Some("networkmanager") => {
                let api = rest_request(request, path, &query, account).await;
                let (response, crash) = self.network_manager(&api, &caller).await;
                (to_hyper(response), crash)
            }
            Some("states") => {
                let operation = proxied_operation(request.headers(), &[]);
                let body = http::collect(request).await.unwrap_or_default();
                let (response, crash) = self
                    .step_functions(&operation, &body, &account, &path, &caller)
                    .await;
                (to_hyper(response), crash)
            }
            Some("securityhub") => {
                let api = rest_request(request, path, &query, account).await;
                let (response, crash) = self.security_hub(&api, &caller).await;
                (to_hyper(response), crash)
            }
            Some("lambda") => {
                let invocation_type =
                    http::header(request.headers(), "x-amz-invocation-type").map(str::to_string);
                let body = http::collect(request).await.unwrap_or_default();
                let response = self
                    .lambda_call(&path, &account, invocation_type.as_deref(), body)
                    .await;
                (to_hyper(response), false)
            }
            other => {
                let service = other.unwrap_or("unknown").to_string();
                self.proxy(request, &service, &account, &caller).await
            }
        };
        self.crash_caller(crash, caller.function.as_deref()).await;
        response
    }
}
