//! The one wrapper every service route goes through: the fault rules' verdict on the call
//! (added latency, an injected error in the service's own protocol, a crash of the calling
//! function once its call is served), then the service, then the call recorded for the
//! counters, the log of mutating calls and the actions each function used.

use super::scope::Caller;
use super::LocalCloud;
use crate::api::{ApiError, ApiResponse};
use crate::http::Body;
use crate::observe::CallInfo;
use hyper::Response;
use std::future::Future;
use std::time::Instant;

/// A call as the observer sees it, known before it is served.
#[derive(Debug)]
pub(super) struct Call<'a> {
    pub(super) service: &'a str,
    pub(super) operation: &'a str,
    pub(super) account: &'a str,
    pub(super) path: &'a str,
    /// What the call log shows of it: the tag keys it names, the events it publishes.
    pub(super) summary: Option<&'a str>,
    /// None: the caller's actions are not recorded (Invoke).
    pub(super) caller: Option<&'a Caller>,
    /// Whether it goes into the log that proves a dry run changed nothing.
    pub(super) mutating: bool,
}

/// An answer whose status the observer records.
pub(super) trait Answer {
    fn status_code(&self) -> u16;
}

impl Answer for ApiResponse {
    fn status_code(&self) -> u16 {
        self.status
    }
}

impl Answer for Response<Body> {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

impl LocalCloud {
    /// Serves `call` with `serve` unless a fault rule answers it with `inject` (the error in
    /// the service's protocol). `serve` answers `Err` when the gateway could not reach the
    /// service: that answer is returned but not recorded. The flag: whether the caller is to
    /// crash now, its call served.
    pub(super) async fn observed<R: Answer>(
        &self,
        call: Call<'_>,
        inject: impl FnOnce(ApiError) -> R,
        serve: impl Future<Output = Result<R, R>>,
    ) -> (R, bool) {
        let started = Instant::now();
        let verdict = self
            .observer
            .lock()
            .expect("lock")
            .verdict(call.service, call.operation);
        if !verdict.delay.is_zero() {
            tokio::time::sleep(verdict.delay).await;
        }
        if let Some(error) = verdict.error {
            self.record(&call, error.status, true, started);
            return (inject(error), false);
        }
        match serve.await {
            Ok(response) => {
                self.record(&call, response.status_code(), false, started);
                (response, verdict.crash_after)
            }
            Err(unserved) => (unserved, false),
        }
    }

    fn record(&self, call: &Call<'_>, status: u16, injected: bool, started: Instant) {
        let info = CallInfo {
            service: call.service,
            operation: call.operation,
            account: call.account,
            path: call.path,
            summary: call.summary,
            caller: call.caller.and_then(|c| c.function.as_deref()),
            own_credentials: call.caller.is_some_and(|c| c.own_credentials),
            took: started.elapsed(),
        };
        self.observer
            .lock()
            .expect("lock")
            .record(info, status, injected, call.mutating);
    }

    /// A `crash_after` fault: the call was served; now its caller dies before the answer.
    pub(super) async fn crash_caller(&self, crash: bool, caller: Option<&str>) {
        if let (true, Some(function)) = (crash, caller) {
            if self.lambda.crash(function).await {
                eprintln!("fault: {function} crashed after its call was served");
            }
        }
    }
}
