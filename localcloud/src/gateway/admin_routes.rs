//! The admin API under `/_cwq/`: health, the emulators' settings, fault rules, what the
//! observer saw (calls, actions, counters, timeline), functions, schedules and shutdown. Its bodies are
//! the types of [`crate::admin`], which the typed client reads; the routes, shapes and
//! statuses are the contract of `cwq local` (docs/lifecycle.md).

use super::LocalCloud;
use crate::admin::{FunctionEntry, Health, LambdaSettings, Schedule, ScheduleRun};
use crate::cloudwan::Settings;
use crate::http::{self, Body};
use crate::lambda_host::FunctionConfig;
use crate::observe::FaultRule;
use crate::stepfunctions::TimeoutName;
use bytes::Bytes;
use hyper::{Request, Response};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// 200 with `value` as JSON.
fn ok(value: &impl Serialize) -> Response<Body> {
    http::json_status(200, &json!(value))
}

impl LocalCloud {
    pub(super) async fn admin(self: &Arc<Self>, request: Request<hyper::body::Incoming>) -> Response<Body> {
        let method = request.method().to_string();
        let path = request.uri().path().trim_start_matches("/_cwq/").to_string();
        let body = http::collect(request).await.unwrap_or_default();
        match (method.as_str(), path.as_str()) {
            ("GET", "health") => ok(&self.health().await),
            ("GET", "lambda/settings") => ok(&LambdaSettings {
                timeout_error: self.states.timeout_name(),
            }),
            ("PUT", "lambda/settings") => self.put_lambda_settings(&body),
            ("GET", "cloudwan/settings") => ok(&self.cloudwan.lock().expect("lock").settings),
            ("PUT", "cloudwan/settings") => self.put_cloudwan_settings(&body),
            ("GET", "faults") => ok(&self.observer.lock().expect("lock").rules()),
            ("PUT", "faults") => self.put_faults(&body),
            ("DELETE", "faults") => {
                self.observer.lock().expect("lock").set_rules(Vec::new(), None);
                ok(&json!([]))
            }
            ("GET", "calls") => ok(&self.observer.lock().expect("lock").calls()),
            ("GET", "actions") => ok(&self.observer.lock().expect("lock").actions()),
            ("GET", "counters") => ok(&self.observer.lock().expect("lock").counters()),
            ("GET", "timeline") => ok(&self.observer.lock().expect("lock").timeline()),
            ("DELETE", "calls" | "counters") => {
                self.observer.lock().expect("lock").reset();
                ok(&json!({}))
            }
            ("GET", "functions") => ok(&self.functions()),
            ("PUT", "functions") => self.put_function(&body).await,
            ("GET", "schedules") => ok(&self.schedules()),
            ("PUT", "schedules") => self.put_schedules(&body),
            ("POST", run) if run.starts_with("schedules/") && run.ends_with("/run") => {
                let name = run.trim_start_matches("schedules/").trim_end_matches("/run");
                self.run_schedule_now(name).await
            }
            ("POST", "shutdown") => {
                self.shutdown.notify_one();
                ok(&json!({"stopping": true}))
            }
            _ => http::status(404, &format!("no admin route {method} /_cwq/{path}")),
        }
    }

    async fn health(&self) -> Health {
        let moto = if self.moto_url.is_none() {
            "not configured"
        } else if self.moto_healthy().await {
            "ok"
        } else {
            "down"
        };
        Health {
            gateway: "ok".into(),
            moto: moto.into(),
        }
    }

    fn put_lambda_settings(&self, body: &Bytes) -> Response<Body> {
        let parsed: Result<Value, _> = serde_json::from_slice(body);
        match parsed.map(|v| serde_json::from_value::<TimeoutName>(v["timeout_error"].clone())) {
            Ok(Ok(name)) => {
                self.states.set_timeout_name(name);
                ok(&LambdaSettings { timeout_error: name })
            }
            _ => http::status(
                400,
                "expected {\"timeout_error\": \"Lambda.Unknown\" | \"Sandbox.Timedout\"}",
            ),
        }
    }

    fn put_cloudwan_settings(&self, body: &Bytes) -> Response<Body> {
        match serde_json::from_slice::<Settings>(body) {
            Ok(settings) => {
                self.cloudwan.lock().expect("lock").settings = settings.clone();
                ok(&settings)
            }
            Err(e) => http::status(400, &format!("invalid settings: {e}")),
        }
    }

    /// `{"rules": [...], "seed": n}`; a missing `rules` clears them, a `seed` that is not a
    /// number is ignored.
    fn put_faults(&self, body: &Bytes) -> Response<Body> {
        let parsed = serde_json::from_slice::<Value>(body)
            .map_err(|e| e.to_string())
            .and_then(|v| {
                let seed = v.get("seed").and_then(Value::as_u64);
                let rules: Vec<FaultRule> =
                    serde_json::from_value(v.get("rules").cloned().unwrap_or(json!([])))
                        .map_err(|e| e.to_string())?;
                Ok((rules, seed))
            });
        match parsed {
            Ok((rules, seed)) => {
                self.observer.lock().expect("lock").set_rules(rules.clone(), seed);
                ok(&rules)
            }
            Err(e) => http::status(400, &format!("invalid faults: {e}")),
        }
    }

    fn functions(&self) -> Vec<FunctionEntry> {
        self.lambda
            .configs()
            .into_iter()
            .map(|(config, stats)| FunctionEntry { config, stats })
            .collect()
    }

    async fn put_function(&self, body: &Bytes) -> Response<Body> {
        match serde_json::from_slice::<FunctionConfig>(body) {
            Ok(config) => match self.lambda.register(config.clone()).await {
                Ok(()) => ok(&config),
                Err(e) => http::status(400, &e.to_string()),
            },
            Err(e) => http::status(400, &format!("invalid function: {e}")),
        }
    }

    fn put_schedules(self: &Arc<Self>, body: &Bytes) -> Response<Body> {
        match serde_json::from_slice::<Vec<Schedule>>(body) {
            Ok(schedules) => {
                self.replace_schedules(schedules.clone());
                ok(&schedules)
            }
            Err(e) => http::status(400, &format!("invalid schedules: {e}")),
        }
    }

    async fn run_schedule_now(&self, name: &str) -> Response<Body> {
        let Some(schedule) = self.schedule(name) else {
            return http::status(404, &format!("no schedule {name}"));
        };
        let response = self.run_schedule(&schedule).await;
        ok(&ScheduleRun {
            schedule: name.to_string(),
            function_error: response.headers.iter().any(|(k, _)| k == "x-amz-function-error"),
            result: serde_json::from_slice(&response.body).unwrap_or(Value::Null),
        })
    }
}
