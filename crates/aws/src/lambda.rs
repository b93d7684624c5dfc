//! A Lambda's main: structured logs, the configuration and clients built once per cold
//! start, the response policy re-read as it ages (cwq_pipeline::policy), then the Runtime API
//! loop; a step's error reaches Step Functions by its stable name.

use cwq_pipeline::policy::PolicyCache;
use cwq_pipeline::{Settings, Step, StepError};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;
use tracing::Instrument;

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
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let resources = crate::Resources::from_env()?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let policies = Arc::new(PolicyCache::new(settings.policy_refresh_seconds));
    let base = Arc::new(crate::ports(&sdk, &resources, settings));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (base, policies) = (base.clone(), policies.clone());
        let span = tracing::info_span!("step", step = step.name(), request = %event.context.request_id);
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
