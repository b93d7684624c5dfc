//! The sweep Lambda: the step itself is `cwq_core::pipeline::sweep`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cwq_core::pipeline::run(cwq_core::pipeline::sweep).await
}
