//! Manual restart, as an operator does it from the Step Functions console (whose Redrive
//! button is boto3's `redrive_execution`) or with `cwq restart`, on the local cloud's Step
//! Functions, which redrives as AWS documents: the same execution ARN resumes at the state
//! that failed, with its input, and the states that succeeded do not run again. A redrive of
//! an execution that ended in the Fail state enters it again and fails; `cwq restart` starts
//! a new execution for those instead.

#![allow(clippy::unwrap_used)]

mod common;

use common::{finding, text, Cloud, Spoke, OVERLAY_CORE};
use cwq_pipeline::events::EventKind;
use std::process::Command;

/// boto3, from the local cloud's own virtualenv (moto depends on it): the console's call.
fn boto3_redrive(cloud: &Cloud, execution_arn: &str) -> Result<String, String> {
    let venv = cwq_localcloud::moto::venv_dir();
    let script = "import sys, boto3, botocore\n\
                  c = boto3.client('stepfunctions', endpoint_url=sys.argv[1], region_name='us-east-1',\n\
                      aws_access_key_id='123456789012', aws_secret_access_key='cwq-local')\n\
                  try:\n    print(c.redrive_execution(executionArn=sys.argv[2])['redriveDate'])\n\
                  except botocore.exceptions.ClientError as e:\n    print('ERROR ' + e.response['Error']['Code'])\n";
    let out = Command::new(cwq_localcloud::moto::python(&venv))
        .args(["-c", script, &cloud.endpoint, execution_arn])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match stdout.strip_prefix("ERROR ") {
        Some(code) => Err(code.to_string()),
        None => Ok(stdout),
    }
}

/// (status, redriveCount, the states entered, in order) of an execution.
async fn described(cloud: &Cloud, arn: &str) -> (String, i32, Vec<String>) {
    let sfn = cloud.step_functions();
    let d = sfn.describe_execution().execution_arn(arn).send().await.unwrap();
    let history = sfn
        .get_execution_history()
        .execution_arn(arn)
        .max_results(1000)
        .send()
        .await
        .unwrap();
    let entered = history
        .events()
        .iter()
        .filter_map(|e| e.state_entered_event_details().map(|d| d.name().to_string()))
        .collect();
    (
        d.status().as_str().to_string(),
        d.redrive_count().unwrap_or(0),
        entered,
    )
}

/// A finding whose execution fails at Record the outcome: publishing is denied (an SCP on
/// events:PutEvents, say), which no retry fixes.
async fn failed_at_the_outcome(cloud: &Cloud, spoke: &Spoke, id: &str) -> String {
    cloud.fault(&["--service", "events", "--operation", "PutEvents", "--denied"]);
    let (report, arn) = cloud.inject_execution(&finding("bitcoin-tool-high", spoke, id, None, None));
    assert!(report.contains("FAILED"), "{report}");
    cloud.clear_faults();
    let (_, _, entered) = described(cloud, &arn).await;
    assert_eq!(
        entered.last().map(String::as_str),
        Some("Record the outcome"),
        "{entered:?}"
    );
    arn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_resumes_the_failed_step_under_the_same_arn() {
    let cloud = Cloud::start("redrive", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let arn = failed_at_the_outcome(&cloud, &spoke, "rd1").await;
    cloud.wait_segment(&spoke, "blocked").await;

    // The console's Redrive button.
    boto3_redrive(&cloud, &arn).unwrap();
    let (status, _) = cloud.wait_execution(&arn).await;
    assert_eq!(status, "SUCCEEDED");
    let (_, redrives, entered) = described(&cloud, &arn).await;
    assert_eq!(redrives, 1);
    // Decide (which enriches) and the containment ran once; only Record the outcome ran again.
    assert_eq!(
        entered.iter().filter(|s| *s == "Decide").count(),
        1,
        "{entered:?}"
    );
    assert_eq!(
        entered.iter().filter(|s| *s == "Record the outcome").count(),
        2,
        "{entered:?}"
    );
    assert_eq!(cloud.outcome(&arn).kind, EventKind::QuarantineApplied);
    // A succeeded execution cannot be redriven.
    assert_eq!(boto3_redrive(&cloud, &arn), Err("ExecutionNotRedrivable".into()));

    // cwq restart takes the same way for the same kind of failure.
    let other = cloud.spoke("10.2.0.0/16", &[("domain", "hub")]).await;
    let arn = failed_at_the_outcome(&cloud, &other, "rd2").await;
    let out = cloud.operator(&["restart", &arn, "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("redriven"), "{}", text(&out));
    let (status, redrives, _) = described(&cloud, &arn).await;
    assert_eq!((status.as_str(), redrives), ("SUCCEEDED", 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_that_ended_in_the_fail_state_is_restarted_as_a_new_execution() {
    let cloud = Cloud::start("restart-new", OVERLAY_CORE, None, &[]).await;
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    // Decide must ask EC2 for the instance's VPCs, and may not: the execution records
    // Quarantine Failed and ends in its Fail state.
    cloud.fault(&[
        "--service",
        "ec2",
        "--operation",
        "DescribeNetworkInterfaces",
        "--denied",
    ]);
    let mut event = finding("bitcoin-tool-high", &spoke, "new1", None, None);
    event["detail"]["resource"]["instanceDetails"]
        .as_object_mut()
        .unwrap()
        .remove("networkInterfaces");
    let (report, arn) = cloud.inject_execution(&event);
    assert!(report.contains("FAILED"), "{report}");
    cloud.clear_faults();
    let (_, _, entered) = described(&cloud, &arn).await;
    assert_eq!(
        entered.last().map(String::as_str),
        Some("Containment failed"),
        "{entered:?}"
    );

    // What a redrive does with it: enters the Fail state again and fails at once.
    boto3_redrive(&cloud, &arn).unwrap();
    let (status, _) = cloud.wait_execution(&arn).await;
    assert_eq!(status, "FAILED");
    let (_, redrives, entered) = described(&cloud, &arn).await;
    assert_eq!(redrives, 1);
    assert_eq!(
        entered.iter().filter(|s| *s == "Decide").count(),
        1,
        "{entered:?}"
    );

    // cwq restart: a new execution with the same input, which finishes the containment.
    let out = cloud.operator(&["restart", &arn, "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("new execution"), "{}", text(&out));
    cloud.wait_segment(&spoke, "blocked").await;
    let (_, redrives, _) = described(&cloud, &arn).await;
    assert_eq!(redrives, 1, "restart did not redrive it again");
}
