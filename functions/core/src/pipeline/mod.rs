//! The quarantine pipeline's steps, one module each; the Lambdas in functions/<step> are thin
//! mains around these. Every step is idempotent: re-running one whose effect is in place is a
//! no-op that returns the same result, which makes Step Functions' redrive and a new execution
//! with the same input both safe.

mod context;
mod decide;
mod enrich;
mod notify;
mod release;
mod snapshot;
mod sweep;
mod verify;

pub use context::{Context, Settings};
pub use decide::decide;
pub use enrich::enrich;
pub use release::release;
pub use snapshot::snapshot;
pub use sweep::sweep;
pub use verify::{move_segment, verify};

use crate::error::HandlerError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::future::Future;

fn input<T: DeserializeOwned>(value: Value, what: &str) -> Result<T, HandlerError> {
    serde_json::from_value(value).map_err(|e| HandlerError::InvalidInput(format!("{what}: {e}")))
}

fn output<T: Serialize>(value: &T) -> Result<Value, HandlerError> {
    serde_json::to_value(value).map_err(|e| HandlerError::Failed(e.to_string()))
}

/// A Lambda's main: structured logs, the context built once, then the Runtime API loop.
pub async fn run<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(std::sync::Arc<Context>, Value) -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, HandlerError>> + Send,
{
    lambda_runtime::tracing::init_default_subscriber();
    let context = std::sync::Arc::new(Context::from_env().await?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<Value>| handler(context.clone(), event.payload),
    ))
    .await
}
