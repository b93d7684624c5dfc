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
    let described = ended(sfn, &arn).await;
    let history = sfn
        .get_execution_history()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();
    let events = history.events().iter().map(|e| e.r#type().clone()).collect();
    let output = described.output().unwrap_or_default().to_string();
    (described.status().clone(), output, events)
}

/// A local cloud with the probe function and a state machine `name` of `definition`: the
/// stack, a Step Functions client and the machine's ARN.
async fn probe_machine(
    state: &str,
    with_moto: bool,
    name: &str,
    definition: &str,
) -> (stack::Stack, aws_sdk_sfn::Client, String) {
    let stack = stack::start(StackConfig {
        port: 0,
        state_dir: temp_dir(state),
        with_moto,
        cloudwan: Settings::default(),
    })
    .await
    .unwrap();
    let probe = FunctionConfig::new("probe", env!("CARGO_BIN_EXE_cwq-probe"));
    admin(&stack.gateway).put_function(&probe).await.unwrap();
    let sfn = aws_sdk_sfn::Client::new(&sdk_config(&stack.gateway, "123456789012").await);
    let machine = sfn
        .create_state_machine()
        .name(name)
        .definition(definition)
        .role_arn("arn:aws:iam::123456789012:role/cwq-local")
        .send()
        .await
        .unwrap();
    let arn = machine.state_machine_arn().to_string();
    (stack, sfn, arn)
}

/// The execution once it is no longer running.
async fn ended(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
    for _ in 0..300 {
        let described = sfn.describe_execution().execution_arn(arn).send().await.unwrap();
        if described.status() != &ExecutionStatus::Running {
            return described;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("execution {arn} did not finish in 30 s");
}

#[tokio::test]
async fn a_task_retries_a_named_error_and_catches_another() {
    let (stack, sfn, machine) = probe_machine("state-machine", true, "probe-machine", DEFINITION).await;
    let cloud = &stack.gateway;
    let machine = machine.as_str();

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
    let crash_retrier = deployed["States"]["Decide"]["Retry"]
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

const WAITS_FOR_A_TOKEN: &str = r#"{
  "StartAt": "Ask",
  "States": {
    "Ask": {
      "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
      "Parameters": {
        "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:probe",
        "Payload": {"token.$": "$$.Task.Token", "asked.$": "$.asked"}
      },
      "TimeoutSecondsPath": "$.timeout",
      "ResultPath": "$.answer",
      "Catch": [{"ErrorEquals": ["States.Timeout", "Denied"], "ResultPath": "$.answer", "Next": "Answered"}],
      "Next": "Answered"
    },
    "Answered": {"Type": "Succeed"}
  }
}"#;

/// The token the execution's waiting Task issued (from its TaskScheduled event), once asked.
async fn token_of(sfn: &aws_sdk_sfn::Client, execution: &str) -> String {
    for _ in 0..300 {
        let history = sfn
            .get_execution_history()
            .execution_arn(execution)
            .send()
            .await
            .unwrap();
        let submitted = history
            .events()
            .iter()
            .any(|e| e.r#type() == &HistoryEventType::TaskSubmitted);
        let scheduled = history
            .events()
            .iter()
            .find_map(|e| e.task_scheduled_event_details());
        if let (true, Some(scheduled)) = (submitted, scheduled) {
            let parameters: serde_json::Value = serde_json::from_str(scheduled.parameters()).unwrap();
            return parameters["Payload"]["token"].as_str().unwrap().to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{execution} issued no task token in 30 s");
}

/// `lambda:invoke.waitForTaskToken`: the function gets `$$.Task.Token`; SendTaskSuccess's
/// output is the result, SendTaskFailure's error is caught by name, TimeoutSecondsPath ends
/// the wait with `States.Timeout`; a token answered (or timed out) is `TaskTimedOut`, a
/// made-up one `InvalidToken`.
#[tokio::test]
async fn a_task_waits_for_its_token() {
    let (stack, sfn, machine) = probe_machine("task-token", false, "asks", WAITS_FOR_A_TOKEN).await;
    let machine = machine.as_str();
    let start = |name: &'static str, timeout: u64| {
        let sfn = sfn.clone();
        let machine = machine.to_string();
        async move {
            let input = json!({"asked": name, "timeout": timeout});
            let started = sfn
                .start_execution()
                .state_machine_arn(machine)
                .name(name)
                .input(input.to_string());
            started.send().await.unwrap().execution_arn().to_string()
        }
    };
    let answered = |arn: String| {
        let sfn = sfn.clone();
        async move {
            let described = ended(&sfn, &arn).await;
            serde_json::from_str::<serde_json::Value>(described.output().unwrap_or("null")).unwrap()
        }
    };

    let approved = start("approved", 60).await;
    let token = token_of(&sfn, &approved).await;
    let answer = json!({"verdict": "approved"}).to_string();
    sfn.send_task_success()
        .task_token(&token)
        .output(&answer)
        .send()
        .await
        .unwrap();
    assert_eq!(answered(approved).await["answer"]["verdict"], "approved");
    let again = sfn
        .send_task_success()
        .task_token(&token)
        .output(&answer)
        .send()
        .await;
    let again = again.unwrap_err().into_service_error();
    assert!(again.is_task_timed_out(), "{again:?}");

    let denied = start("denied", 60).await;
    let token = token_of(&sfn, &denied).await;
    sfn.send_task_failure()
        .task_token(&token)
        .error("Denied")
        .cause("not now")
        .send()
        .await
        .unwrap();
    let output = answered(denied).await;
    assert_eq!(
        (
            output["answer"]["Error"].as_str(),
            output["answer"]["Cause"].as_str()
        ),
        (Some("Denied"), Some("not now"))
    );

    let timed_out = start("timed-out", 1).await;
    let token = token_of(&sfn, &timed_out).await;
    assert_eq!(answered(timed_out).await["answer"]["Error"], "States.Timeout");
    let late = sfn
        .send_task_success()
        .task_token(&token)
        .output(&answer)
        .send()
        .await;
    assert!(late.unwrap_err().into_service_error().is_task_timed_out());

    let made_up = sfn
        .send_task_success()
        .task_token("not-a-token")
        .output(&answer)
        .send()
        .await;
    assert!(made_up.unwrap_err().into_service_error().is_invalid_token());
    stack.stop().await;
}
