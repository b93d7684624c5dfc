//! The States Language semantics cwq depends on, each against a small definition: redrive
//! resumes where it stopped and re-runs only what did not succeed; what AWS makes terminal
//! (`States.Runtime`, `States.DataLimitExceeded`) no catcher sees; catchers, retriers and
//! paths as the developer guide describes them; what is not emulated is refused up front.

#![allow(clippy::unwrap_used)]

use cwq_asl::{validate, BoxFuture, Ended, Failure, Host, Interpreter, TaskError};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Tasks named by their resource; each answers from a script of results, and every call is
/// counted.
#[derive(Default)]
struct Scripted {
    answers: Mutex<BTreeMap<String, Vec<Result<Value, TaskError>>>>,
    calls: Mutex<Vec<String>>,
}

impl Scripted {
    fn answer(self, resource: &str, answers: Vec<Result<Value, TaskError>>) -> Self {
        self.answers.lock().unwrap().insert(resource.into(), answers);
        self
    }

    fn calls(&self, resource: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| *c == resource)
            .count()
    }
}

fn error(name: &str) -> Result<Value, TaskError> {
    Err(TaskError {
        error: name.into(),
        cause: format!("{name} as scripted"),
    })
}

impl Host for Scripted {
    fn invoke(&self, resource: &str, input: Value) -> BoxFuture<Result<Value, TaskError>> {
        self.calls.lock().unwrap().push(resource.to_string());
        let mut answers = self.answers.lock().unwrap();
        let queue = answers.entry(resource.to_string()).or_default();
        let answer = if queue.is_empty() {
            Ok(json!({"from": resource, "input": input}))
        } else {
            queue.remove(0)
        };
        Box::pin(async move { answer })
    }

    fn sleep(&self, _seconds: f64) -> BoxFuture<()> {
        Box::pin(async {})
    }

    fn spawn(&self, branch: BoxFuture<Result<Value, Failure>>) -> BoxFuture<Result<Value, Failure>> {
        Box::pin(async move { tokio::spawn(branch).await.unwrap() })
    }
}

fn interpreter(host: &Arc<Scripted>) -> Interpreter {
    Interpreter::new(
        host.clone(),
        json!({"Execution": {"Id": "arn:aws:states:::execution:m:e"}}),
    )
}

async fn start(host: &Arc<Scripted>, definition: &Value, input: Value) -> Ended {
    interpreter(host).start(definition, input, Arc::default()).await
}

fn failed(ended: Ended) -> Failure {
    match ended {
        Ended::Failed(failure) => failure,
        Ended::Succeeded(output) => panic!("succeeded with {output}"),
    }
}

#[tokio::test]
async fn a_redrive_reruns_only_the_branch_that_failed() {
    let definition = json!({
        "StartAt": "Both",
        "States": {
            "Both": {"Type": "Parallel", "Next": "After", "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Task", "Resource": "left", "End": true}}},
                {"StartAt": "Right", "States": {"Right": {"Type": "Task", "Resource": "right", "Next": "Right again"},
                                                "Right again": {"Type": "Task", "Resource": "right-again", "End": true}}}
            ]},
            "After": {"Type": "Task", "Resource": "after", "End": true}
        }
    });
    let host = Arc::new(Scripted::default().answer("right-again", vec![error("Boom")]));
    let failure = failed(start(&host, &definition, json!({"n": 1})).await);
    assert_eq!(
        (failure.error.as_str(), failure.resume.state.as_str()),
        ("Boom", "Both")
    );

    let resumed = interpreter(&host)
        .resume(&definition, *failure.resume, Arc::default())
        .await;
    let Ended::Succeeded(output) = resumed else {
        panic!("{resumed:?}")
    };
    assert_eq!(output["from"], "after");
    // Left and the first step of Right succeeded and were not run again.
    assert_eq!(
        (host.calls("left"), host.calls("right"), host.calls("right-again")),
        (1, 1, 2)
    );
}

#[tokio::test]
async fn a_redrive_of_a_fail_state_fails_there_again() {
    let definition = json!({
        "StartAt": "Work",
        "States": {
            "Work": {"Type": "Task", "Resource": "work", "ResultPath": "$.outcome", "Next": "Failed?"},
            "Failed?": {"Type": "Choice", "Choices": [{"Variable": "$.outcome.failed", "BooleanEquals": true, "Next": "Failed"}], "Default": "Done"},
            "Failed": {"Type": "Fail", "ErrorPath": "$.outcome.error", "CausePath": "$.outcome.cause"},
            "Done": {"Type": "Succeed"}
        }
    });
    let host = Arc::new(Scripted::default().answer(
        "work",
        vec![Ok(
            json!({"failed": true, "error": "VerificationTimeout", "cause": "too slow"}),
        )],
    ));
    let failure = failed(start(&host, &definition, json!({})).await);
    assert_eq!(
        (failure.error.as_str(), failure.cause.as_str()),
        ("VerificationTimeout", "too slow")
    );
    assert_eq!(failure.resume.state, "Failed");
    let again = failed(
        interpreter(&host)
            .resume(&definition, *failure.resume, Arc::default())
            .await,
    );
    assert_eq!(again.error, "VerificationTimeout");
    assert_eq!(host.calls("work"), 1);
}

#[tokio::test]
async fn a_path_that_selects_nothing_is_terminal_and_no_catcher_sees_it() {
    let definition = json!({
        "StartAt": "Work",
        "States": {
            "Work": {"Type": "Task", "Resource": "work", "InputPath": "$.missing",
                     "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true},
            "Caught": {"Type": "Succeed"}
        }
    });
    let host = Arc::new(Scripted::default());
    let failure = failed(start(&host, &definition, json!({"present": 1})).await);
    assert_eq!(failure.error, "States.Runtime");
    assert!(failure.terminal);
    assert_eq!(host.calls("work"), 0);

    // A Choice on an absent variable is the same error; IsPresent may test for it.
    let choice = json!({
        "StartAt": "Which",
        "States": {
            "Which": {"Type": "Choice", "Choices": [{"Variable": "$.flag", "BooleanEquals": true, "Next": "Yes"}], "Default": "Yes"},
            "Yes": {"Type": "Succeed"}
        }
    });
    assert_eq!(
        failed(start(&host, &choice, json!({})).await).error,
        "States.Runtime"
    );
    let present = json!({
        "StartAt": "Which",
        "States": {
            "Which": {"Type": "Choice", "Choices": [{"Variable": "$.flag", "IsPresent": false, "Next": "Yes"}]},
            "Yes": {"Type": "Succeed"}
        }
    });
    assert!(matches!(
        start(&host, &present, json!({})).await,
        Ended::Succeeded(_)
    ));
}

#[tokio::test]
async fn catchers_and_retriers_as_the_guide_describes_them() {
    let definition = json!({
        "StartAt": "Work",
        "States": {
            "Work": {"Type": "Task", "Resource": "work", "End": true,
                     "Retry": [{"ErrorEquals": ["Transient"], "MaxAttempts": 2},
                               {"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}],
                     "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Caught"}]},
            "Caught": {"Type": "Pass", "Result": "caught", "ResultPath": "$.outcome", "End": true}
        }
    });
    // Three Transient failures: the first retrier's two attempts are spent and the error goes
    // to the catcher (a later retrier that also matches does not get a turn), even though the
    // Task says End.
    let host = Arc::new(Scripted::default().answer(
        "work",
        vec![error("Transient"), error("Transient"), error("Transient")],
    ));
    let Ended::Succeeded(output) = start(&host, &definition, json!({"kept": true})).await else {
        panic!()
    };
    assert_eq!(host.calls("work"), 3);
    assert_eq!(output["outcome"], "caught");
    assert_eq!(output["kept"], true);
    assert_eq!(output["error"]["Error"], "Transient");
}

#[tokio::test]
async fn a_payload_over_256_kib_is_terminal() {
    let definition = json!({
        "StartAt": "Work",
        "States": {"Work": {"Type": "Task", "Resource": "work", "End": true,
                            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
                   "Caught": {"Type": "Succeed"}}
    });
    let big = "x".repeat(cwq_asl::MAX_PAYLOAD_BYTES);
    let host = Arc::new(Scripted::default().answer("work", vec![Ok(json!({"big": big}))]));
    let failure = failed(start(&host, &definition, json!({})).await);
    assert_eq!(failure.error, "States.DataLimitExceeded");
}

#[test]
fn what_is_not_emulated_is_refused_at_creation() {
    let refused = [
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true}}}),
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "TimeoutSeconds": 5, "End": true}}}),
        json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "States.Format('{}', $.a)"}, "End": true}}}),
        json!({"StartAt": "T", "TimeoutSeconds": 60, "States": {"T": {"Type": "Succeed"}}}),
        json!({"StartAt": "Nowhere", "States": {"T": {"Type": "Succeed"}}}),
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "Next": "Gone"}}}),
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true,
               "Retry": [{"ErrorEquals": ["States.ALL", "Other"]}]}}}),
    ];
    for definition in refused {
        assert!(!validate::problems(&definition).is_empty(), "{definition}");
    }
    for file in ["quarantine", "release"] {
        let path = format!(
            "{}/../../statemachine/{file}.asl.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let definition: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(validate::problems(&definition), Vec::<String>::new(), "{file}");
    }
}
