//! The executions port: the release state machine's executions (started by the sweep),
//! whether an execution still runs, and the answer to an execution waiting on a task token.

use crate::errors::{classify, first_match, Class};
use async_trait::async_trait;
use aws_sdk_sfn::types::ExecutionStatus;
use cwq_pipeline::contract::ReleaseRequest;
use cwq_pipeline::ports::{Executions, Started};
use cwq_pipeline::PortError;

#[derive(Debug, Clone)]
pub struct StepFunctions {
    client: aws_sdk_sfn::Client,
    /// `CWQ_RELEASE_STATE_MACHINE_ARN`; None in functions that start nothing.
    release_machine: Option<String>,
}

impl StepFunctions {
    pub fn new(client: aws_sdk_sfn::Client, release_machine: Option<String>) -> Self {
        Self {
            client,
            release_machine,
        }
    }
}

#[async_trait]
impl Executions for StepFunctions {
    async fn start_release(&self, name: &str, request: &ReleaseRequest) -> Result<Started, PortError> {
        let machine = self.release_machine.as_deref().ok_or_else(|| {
            PortError::Failed("the environment variable CWQ_RELEASE_STATE_MACHINE_ARN is not set".into())
        })?;
        let input = serde_json::to_string(request).map_err(|e| PortError::Failed(e.to_string()))?;
        let arn = format!("{}:{name}", machine.replacen(":stateMachine:", ":execution:", 1));
        let started = self
            .client
            .start_execution()
            .state_machine_arn(machine)
            .name(name)
            .input(input)
            .send()
            .await
            .map_err(|e| {
                classify("states StartExecution", e, |e| {
                    first_match([
                        (e.is_execution_already_exists(), Class::AlreadyExists),
                        (e.is_execution_limit_exceeded(), Class::Transient),
                    ])
                })
            });
        match started {
            Ok(out) => Ok(Started::New(out.execution_arn().to_string())),
            Err(PortError::AlreadyExists(_)) => Ok(Started::Exists(arn)),
            Err(other) => Err(other),
        }
    }

    async fn is_running(&self, execution_arn: &str) -> Result<bool, PortError> {
        let described = self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| {
                classify("states DescribeExecution", e, |e| {
                    first_match([(e.is_execution_does_not_exist(), Class::NotFound)])
                })
            });
        match described {
            Ok(d) => Ok(matches!(
                d.status(),
                ExecutionStatus::Running | ExecutionStatus::PendingRedrive
            )),
            Err(PortError::NotFound(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    async fn answer_task(&self, token: &str, output: &str) -> Result<bool, PortError> {
        let sent = self
            .client
            .send_task_success()
            .task_token(token)
            .output(output)
            .send()
            .await
            .map_err(|e| {
                classify("states SendTaskSuccess", e, |e| {
                    let closed = e.is_task_timed_out() || e.is_task_does_not_exist() || e.is_invalid_token();
                    first_match([(closed, Class::NotFound)])
                })
            });
        match sent {
            Ok(_) => Ok(true),
            Err(PortError::NotFound(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }
}
