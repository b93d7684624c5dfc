//! A Lambda's main: structured logs, the configuration and clients built once per cold
//! start, the response policy re-read as it ages (cwq_pipeline::policy), then the Runtime API
//! loop; a step's error reaches Step Functions by its stable name.

use cwq_pipeline::policy::PolicyCache;
use cwq_pipeline::{Settings, Step, StepError};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;
use tracing::Instrument;

/// One JSON object per line (`fields`, `span`, `level`), which the stack's metric filters read,
/// unless the function's LoggingConfig says Text (docs/aws-behaviour.md, "Lambda logs"): the
/// runtime's default is text whenever Lambda does not say JSON. The level: AWS_LAMBDA_LOG_LEVEL,
/// else RUST_LOG, else INFO.
fn init_logs() {
    use tracing_subscriber::filter::LevelFilter;
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    // LoggingConfig's ApplicationLogLevel reaches the function as AWS_LAMBDA_LOG_LEVEL: a level,
    // never per-module directives, so no env filter (and its regex engine) is linked.
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let logs = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    match text {
        true => logs.init(),
        false => logs.json().init(),
    }
}

/// A step's error at the Lambda boundary: `error_type` is the name the ASL retries or catches.
#[derive(Debug)]
pub struct LambdaError(pub StepError);

impl From<LambdaError> for Diagnostic {
    fn from(error: LambdaError) -> Self {
        Self {
            error_type: error.0.name().to_string(),
            error_message: error.0.to_string(),
        }
    }
}

pub async fn run(step: Step) -> Result<(), lambda_runtime::Error> {
    init_logs();
    let settings = Settings::from_env()?;
    let resources = crate::Resources::from_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let policies = Arc::new(PolicyCache::new(settings.policy_refresh_seconds));
    let base = Arc::new(crate::ports(&sdk, &resources, settings));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (base, policies) = (base.clone(), policies.clone());
        // incident, attachment and execution: recorded by Step::handle once the input is read.
        let span = tracing::info_span!("step", step = step.name(), request = %event.context.request_id,
            incident = tracing::field::Empty, attachment = tracing::field::Empty, execution = tracing::field::Empty);
        async move {
            let ports = match step.uses_policy() {
                true => policies.ports(&base).await.map_err(LambdaError)?,
                false => (*base).clone(),
            };
            step.handle(&ports, event.payload).await.map_err(LambdaError)
        }
        .instrument(span)
    }))
    .await
}
