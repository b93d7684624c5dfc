//! The move-segment Lambda: the step itself is `cwq_core::pipeline::move_segment`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    cwq_core::pipeline::run(cwq_core::pipeline::move_segment).await
}
