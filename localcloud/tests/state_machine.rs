//! Real ASL on the local cloud's Step Functions, calling a real Lambda binary of this workspace
//! through the gateway and the Lambda host: a Retry on a named error, then a Catch; a timeout
//! retried under either of its names.

#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use common::{admin, sdk_config, temp_dir};
use cwq_localcloud::admin::LambdaSettings;
use cwq_localcloud::cloudwan::Settings;
use cwq_localcloud::lambda_host::FunctionConfig;
use cwq_localcloud::stack::{self, StackConfig};
use cwq_localcloud::stepfunctions::TimeoutName;
use serde_json::json;
use std::time::Duration;

const DEFINITION: &str = r#"{
  "Comment": "Retry a Transient error, catch a PolicyViolation",
  "StartAt": "Call the probe",
  "States": {
    "Call the probe": {
      "Type": "Task",
      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:probe",
      "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1.0}],
      "Catch": [{"ErrorEquals": ["PolicyViolation"], "ResultPath": "$.error", "Next": "Caught"}],
      "End": true
    },
    "Caught": {"Type": "Pass", "Result": "caught", "ResultPath": "$.outcome", "End": true}
  }
}"#;

async fn run(
    sfn: &aws_sdk_sfn::Client,
    machine: &str,
    name: &str,
    input: serde_json::Value,
) -> (ExecutionStatus, String, Vec<HistoryEventType>) {
    let started = sfn
        .start_execution()
        .state_machine_arn(machine)
        .name(name)
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    let arn = started.execution_arn().to_string();
    for _ in 0..300 {
        let described = sfn.describe_execution().execution_arn(&arn).send().await.unwrap();
        if described.status() != &ExecutionStatus::Running {
            let history = sfn
                .get_execution_history()
                .execution_arn(&arn)
                .send()
                .await
                .unwrap();
            let events = history.events().iter().map(|e| e.r#type().clone()).collect();
            let output = described.output().unwrap_or_default().to_string();
            return (described.status().clone(), output, events);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("execution {name} did not finish in 30 s");
}

#[tokio::test]
async fn a_task_retries_a_named_error_and_catches_another() {
    let stack = stack::start(StackConfig {
        port: 0,
        state_dir: temp_dir("state-machine"),
        with_moto: true,
        cloudwan: Settings::default(),
    })
    .await
    .unwrap();
    let cloud = &stack.gateway;
    let probe = FunctionConfig::new("probe", env!("CARGO_BIN_EXE_cwq-probe"));
    admin(cloud).put_function(&probe).await.unwrap();
    let sfn = aws_sdk_sfn::Client::new(&sdk_config(cloud, "123456789012").await);
    let machine = sfn
        .create_state_machine()
        .name("probe-machine")
        .definition(DEFINITION)
        .role_arn("arn:aws:iam::123456789012:role/cwq-local")
        .send()
        .await
        .unwrap();
    let machine = machine.state_machine_arn();

    let (status, output, _) = run(&sfn, machine, "echo", json!({"echo": "hello"})).await;
    assert_eq!(status, ExecutionStatus::Succeeded);
    let output: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(output["echo"], "hello");

    // Fails twice with Transient, succeeds on the third attempt.
    let (status, output, events) = run(
        &sfn,
        machine,
        "retry",
        json!({"fail": "Transient", "times": 2, "key": "retry"}),
    )
    .await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{events:?}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&output).unwrap()["recovered_after"],
        2
    );
    let failed = events
        .iter()
        .filter(|e| **e == HistoryEventType::LambdaFunctionFailed)
        .count();
    let succeeded = events
        .iter()
        .filter(|e| **e == HistoryEventType::LambdaFunctionSucceeded)
        .count();
    assert_eq!((failed, succeeded), (2, 1), "{events:?}");

    // A PolicyViolation is not retried; the Catch takes it, with the error's name and cause.
    let (status, output, events) = run(&sfn, machine, "catch", json!({"fail": "PolicyViolation"})).await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{events:?}");
    let output: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(output["outcome"], "caught");
    assert_eq!(output["error"]["Error"], "PolicyViolation");
    assert!(
        output["error"]["Cause"]
            .as_str()
            .unwrap()
            .contains("probe failed as asked"),
        "{output}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == HistoryEventType::LambdaFunctionFailed)
            .count(),
        1
    );

    // An error nobody catches fails the execution.
    let (status, _, _) = run(&sfn, machine, "uncaught", json!({"fail": "Boom"})).await;
    assert_eq!(status, ExecutionStatus::Failed);

    // The Lambda host saw one cold start and kept the function's log.
    let functions = admin(cloud).functions().await.unwrap();
    let stats = &functions[0].stats;
    assert_eq!(stats.cold_start_init_ms.len(), 1, "{stats:?}");
    assert_eq!(stats.invocations, 6);
    stack.stop().await;
}

/// A Task whose function times out is retried by the deployed retrier whichever name the
/// timeout reaches Step Functions with: `Lambda.Unknown` (as Step Functions documents it) or
/// `Sandbox.Timedout` (Lambda's own errorType). The local Lambda host reports either.
#[tokio::test]
async fn a_timeout_is_retried_under_either_name_it_may_have() {
    let cloud = common::start(Settings::default(), None, "timeouts").await;
    let probe = FunctionConfig {
        timeout_seconds: 1,
        ..FunctionConfig::new("probe", env!("CARGO_BIN_EXE_cwq-probe"))
    };
    admin(&cloud).put_function(&probe).await.unwrap();
    // The deployed quarantine machine's retrier for crashes and timeouts, with short waits.
    let deployed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_file("statemachine/quarantine.asl.json")).unwrap(),
    )
    .unwrap();
    let crash_retrier = deployed["States"]["Enrich the finding"]["Retry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["ErrorEquals"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e == "Lambda.Unknown")
        })
        .unwrap()
        .clone();
    let definition = json!({
        "StartAt": "Call the probe",
        "States": {"Call the probe": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:probe",
            "Retry": [{"ErrorEquals": crash_retrier["ErrorEquals"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1.0}],
            "End": true
        }}
    });
    let sfn = aws_sdk_sfn::Client::new(&sdk_config(&cloud, "123456789012").await);
    let machine = sfn
        .create_state_machine()
        .name("timeouts")
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/cwq-local")
        .send()
        .await
        .unwrap();
    for (name, timeout_error) in [
        ("Lambda.Unknown", TimeoutName::LambdaUnknown),
        ("Sandbox.Timedout", TimeoutName::SandboxTimedout),
    ] {
        admin(&cloud)
            .set_lambda_settings(&LambdaSettings { timeout_error })
            .await
            .unwrap();
        let (status, _, events) = run(
            &sfn,
            machine.state_machine_arn(),
            &format!("slow-{}", name.replace('.', "-")),
            json!({"sleep_ms": 1500}),
        )
        .await;
        assert_eq!(status, ExecutionStatus::Failed, "{name}");
        let attempts = events
            .iter()
            .filter(|e| **e == HistoryEventType::LambdaFunctionFailed)
            .count();
        assert_eq!(
            attempts, 3,
            "{name}: the first attempt and two retries: {events:?}"
        );
        let described = sfn
            .list_executions()
            .state_machine_arn(machine.state_machine_arn())
            .send()
            .await
            .unwrap();
        let arn = described.executions()[0].execution_arn();
        let failed = sfn.describe_execution().execution_arn(arn).send().await.unwrap();
        assert_eq!(failed.error(), Some(name));
    }
    cloud.stop().await;
}
