//! EventBridge rules of the template and the delivery of events to them, as EventBridge
//! delivers: a matching rule starts its state machine; throttling and service failures are
//! retried; what cannot be delivered goes to the rule's dead-letter queue with EventBridge's
//! attributes, or is dropped.

use super::{DeployError, Deployment};
use crate::control::{aws_json, AwsCallError};
use crate::defaults::{DEFAULT_ACCOUNT, DEFAULT_REGION};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

/// An EventBridge rule of the template: its pattern, what it starts, and what happens to an
/// event it cannot deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRule {
    pub name: String,
    /// The rule's ARN (its RuleName, or a name made from the stack's, as CloudFormation does).
    #[serde(default)]
    pub arn: String,
    pub pattern: Value,
    pub state_machine_arn: String,
    /// RetryPolicy.MaximumRetryAttempts (EventBridge's default: 185).
    #[serde(default = "default_retries")]
    pub maximum_retry_attempts: u32,
    /// DeadLetterConfig.Arn: an SQS queue.
    #[serde(default)]
    pub dead_letter_arn: Option<String>,
}

fn default_retries() -> u32 {
    185
}

/// What became of an event delivered to one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Started {
        rule: String,
        execution_arn: String,
    },
    /// StartExecution failed for good; the event is in the rule's dead-letter queue.
    DeadLettered {
        rule: String,
        error: String,
        queue: String,
    },
    /// StartExecution failed for good and the rule has no dead-letter queue: EventBridge drops it.
    Dropped {
        rule: String,
        error: String,
    },
}

/// The EventBridge rules among the state machine `logical`'s resolved events.
pub(super) fn rules_of(
    stack_name: &str,
    logical: &str,
    machine_arn: &str,
    properties: &Value,
) -> Vec<EventRule> {
    let events = properties["Events"].as_object().into_iter().flatten();
    events
        .filter(|(_, event)| {
            matches!(
                event["Type"].as_str(),
                Some("EventBridgeRule" | "CloudWatchEvent")
            )
        })
        .map(|(event_name, event)| {
            let properties = &event["Properties"];
            let rule_name = properties["RuleName"]
                .as_str()
                .map_or_else(|| format!("{stack_name}-{logical}{event_name}"), str::to_string);
            EventRule {
                arn: format!("arn:aws:events:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:rule/{rule_name}"),
                name: format!("{logical}.{event_name}"),
                pattern: properties["Pattern"].clone(),
                state_machine_arn: machine_arn.to_string(),
                maximum_retry_attempts: properties["RetryPolicy"]["MaximumRetryAttempts"]
                    .as_u64()
                    .map_or_else(default_retries, |n| n as u32),
                dead_letter_arn: properties["DeadLetterConfig"]["Arn"].as_str().map(str::to_string),
            }
        })
        .collect()
}

/// Delivers `event` as EventBridge would: to each rule whose pattern matches, by starting its
/// state machine with the event as input. A throttled or failing StartExecution is retried
/// (locally at most [`LOCAL_RETRIES`] times, a second apart at most, where EventBridge keeps
/// trying for up to 24 hours); an error no retry can fix (access denied, no such state
/// machine) is not retried. An event that could not be delivered goes to the rule's
/// dead-letter queue with EventBridge's message attributes, or is dropped without one.
pub async fn inject(
    endpoint: &str,
    deployment: &Deployment,
    event: &Value,
) -> Result<Vec<Delivery>, DeployError> {
    // GuardDuty's integration imports the finding into Security Hub (where cwq notes it).
    if let Err(why) = crate::securityhub::import_guardduty(endpoint, event).await {
        eprintln!("cwq local: the finding was not imported into the local Security Hub: {why}");
    }
    let mut deliveries = Vec::new();
    for rule in deployment
        .rules
        .iter()
        .filter(|r| crate::events::matches(&r.pattern, event))
    {
        deliveries.push(deliver(endpoint, rule, event).await?);
    }
    Ok(deliveries)
}

/// `event` to `rule`'s state machine, or, failing that, to its dead-letter queue.
async fn deliver(endpoint: &str, rule: &EventRule, event: &Value) -> Result<Delivery, DeployError> {
    let (error, attempts) = match start_execution(endpoint, rule, event).await {
        Ok(execution_arn) => {
            return Ok(Delivery::Started {
                rule: rule.name.clone(),
                execution_arn,
            })
        }
        Err(failure) => failure,
    };
    let shown = format!("{}: {}", error.code, error.message);
    let Some(queue_arn) = &rule.dead_letter_arn else {
        return Ok(Delivery::Dropped {
            rule: rule.name.clone(),
            error: shown,
        });
    };
    dead_letter(endpoint, queue_arn, rule, event, &error, attempts).await?;
    Ok(Delivery::DeadLettered {
        rule: rule.name.clone(),
        error: shown,
        queue: queue_arn.clone(),
    })
}

/// StartExecution with the event as input, retried while retrying may help: the execution's
/// ARN, or the last error and how many retries preceded it.
async fn start_execution(
    endpoint: &str,
    rule: &EventRule,
    event: &Value,
) -> Result<String, (AwsCallError, u32)> {
    let name = execution_name(event, &rule.name);
    let request =
        json!({"stateMachineArn": rule.state_machine_arn, "name": name, "input": event.to_string()});
    let mut attempt = 0u32;
    loop {
        match aws_json(endpoint, "states", "AWSStepFunctions.StartExecution", &request).await {
            Ok(response) => return Ok(response["executionArn"].as_str().unwrap_or_default().to_string()),
            Err(e) if retryable(&e.code) && attempt < rule.maximum_retry_attempts.min(LOCAL_RETRIES) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(10)))).await;
            }
            Err(e) => return Err((e, attempt)),
        }
    }
}

/// How many times the local cloud retries a delivery (EventBridge: up to 185, over a day).
pub const LOCAL_RETRIES: u32 = 5;

/// Errors EventBridge retries: throttling and the service's own failures. Missing
/// permissions and missing targets go to the dead-letter queue at once.
fn retryable(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "Throttling"
            | "TooManyRequestsException"
            | "ServiceUnavailable"
            | "InternalServerError"
            | "InternalFailure"
            | "Unreachable"
    )
}

/// An undeliverable event in the dead-letter queue, with the attributes EventBridge sets.
async fn dead_letter(
    endpoint: &str,
    queue_arn: &str,
    rule: &EventRule,
    event: &Value,
    error: &AwsCallError,
    attempts: u32,
) -> Result<(), DeployError> {
    let queue = queue_arn.rsplit(':').next().unwrap_or_default();
    let url = aws_json(
        endpoint,
        "sqs",
        "AmazonSQS.GetQueueUrl",
        &json!({"QueueName": queue}),
    )
    .await?;
    let code = match error.code.as_str() {
        "AccessDeniedException" | "AccessDenied" => "NO_PERMISSIONS",
        "StateMachineDoesNotExist" | "ResourceNotFoundException" => "NO_RESOURCE",
        c if retryable(c) => "THROTTLING",
        _ => "SDK_CLIENT_ERROR",
    };
    let attribute = |value: String| json!({"DataType": "String", "StringValue": value});
    let rule_arn = rule.arn.clone();
    let message = json!({
        "QueueUrl": url["QueueUrl"],
        "MessageBody": event.to_string(),
        "MessageAttributes": {
            "RULE_ARN": attribute(rule_arn),
            "TARGET_ARN": attribute(rule.state_machine_arn.clone()),
            "ERROR_CODE": attribute(code.into()),
            "ERROR_MESSAGE": attribute(format!("{}: {}", error.code, error.message)),
            "EXHAUSTED_RETRY_CONDITION": attribute(if retryable(&error.code) { "MaximumRetryAttempts" } else { "NotRetryable" }.into()),
            "RETRY_ATTEMPTS": attribute(attempts.to_string()),
        }
    });
    aws_json(endpoint, "sqs", "AmazonSQS.SendMessage", &message).await?;
    Ok(())
}

/// Executions need explicit names: the event id, or the finding id, and a clock tick so that a
/// re-sent event is a new execution (as EventBridge delivers it), 80 characters at most.
fn execution_name(event: &Value, rule: &str) -> String {
    let id = event["id"]
        .as_str()
        .or(event["detail"]["id"].as_str())
        .unwrap_or("event");
    let ticks = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let rule = rule.split('.').next().unwrap_or(rule);
    let clean = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect::<String>()
    };
    let mut name = format!("{}-{}-{ticks}", clean(rule), clean(id));
    name.truncate(80);
    name
}

/// The final status of an execution, polled until it is no longer RUNNING.
pub async fn wait_for(endpoint: &str, execution_arn: &str, timeout: Duration) -> Result<Value, DeployError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let described = aws_json(
            endpoint,
            "states",
            "AWSStepFunctions.DescribeExecution",
            &json!({"executionArn": execution_arn}),
        )
        .await?;
        if described["status"] != "RUNNING" || std::time::Instant::now() > deadline {
            return Ok(described);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
