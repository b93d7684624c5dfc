//! Every cwq Lambda function runs this one binary: the function's `Handler` (which
//! provided.al2023 passes as `_HANDLER`) names the `cwq_pipeline::Step` it runs. One binary
//! means one optimised link for all six functions (docs/deploy.md, "What ships").

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let handler = std::env::var("_HANDLER").unwrap_or_default();
    let Some(step) = cwq_pipeline::Step::from_name(&handler) else {
        let known: Vec<&str> = cwq_pipeline::Step::ALL.iter().map(|s| s.name()).collect();
        return Err(format!(
            "_HANDLER {handler:?} names no cwq step; the Handler must be one of {}",
            known.join(", ")
        )
        .into());
    };
    cwq_aws::lambda::run(step).await
}
