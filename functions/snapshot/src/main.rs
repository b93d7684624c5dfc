//! The snapshot Lambda: the step is `cwq_pipeline::steps::snapshot`, run over the AWS adapters.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cwq_aws::lambda::run(cwq_pipeline::Step::Snapshot).await
}
