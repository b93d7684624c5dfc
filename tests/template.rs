//! template.yaml and the ASL agree: every `${Placeholder}` in a state machine definition has a
//! DefinitionSubstitution and every substitution is used; every Lambda placeholder names a
//! function of the template whose binary this workspace builds; every Task retries and the
//! quarantine machine compensates after a change.

#![allow(clippy::unwrap_used)] // a test that cannot read its input should stop there

use cwq_localcloud::deploy::{load_template, placeholders};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tasks<'a>(states: &'a Value, out: &mut Vec<(&'a str, &'a Value)>) {
    for (name, state) in states.as_object().unwrap() {
        if state["Type"] == "Task" {
            out.push((name, state));
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            tasks(&branch["States"], out);
        }
    }
}

#[test]
fn every_placeholder_has_a_substitution_and_every_lambda_a_binary() {
    let template = load_template(&root().join("template.yaml")).unwrap();
    let resources = template["Resources"].as_object().unwrap();
    let machines: Vec<(&String, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::StateMachine")
        .collect();
    assert_eq!(machines.len(), 2);
    let binaries = Path::new(env!("CARGO_BIN_EXE_cwq")).parent().unwrap();
    for (name, machine) in machines {
        let properties = &machine["Properties"];
        assert_eq!(properties["Type"], "STANDARD", "{name}");
        let text =
            std::fs::read_to_string(root().join(properties["DefinitionUri"].as_str().unwrap())).unwrap();
        let definition: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: the ASL is not JSON: {e}"));
        let used: BTreeSet<String> = placeholders(&text).into_iter().collect();
        let substitutions = properties["DefinitionSubstitutions"].as_object().unwrap();
        let given: BTreeSet<String> = substitutions.keys().cloned().collect();
        assert_eq!(
            used, given,
            "{name}: placeholders and DefinitionSubstitutions differ"
        );

        for (key, value) in substitutions {
            let target = value["Fn::GetAtt"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{name}.{key}: not a GetAtt"));
            let function = &resources[target];
            assert_eq!(function["Type"], "AWS::Serverless::Function", "{name}.{key}");
            // Every function runs the one Lambda binary; its Handler names the step, which
            // must be the step the placeholder is named after.
            let code_uri = function["Properties"]["CodeUri"].as_str().unwrap();
            let manifest = std::fs::read_to_string(root().join(code_uri).join("Cargo.toml")).unwrap();
            let package: toml::Value = toml::from_str(&manifest).unwrap();
            let binary = function["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap();
            assert_eq!(package["package"]["name"].as_str(), Some(binary), "{target}");
            assert!(
                binaries.join(binary).is_file(),
                "{name}.{key}: {binary} is not built by the workspace"
            );
            let step = cwq_pipeline::Step::from_placeholder(&format!("${{{key}}}"))
                .unwrap_or_else(|| panic!("{name}.{key}: names no step"));
            assert_eq!(function["Properties"]["Handler"], step.name(), "{target}");
            assert_eq!(cwq_pipeline::Step::from_name(step.name()), Some(step), "{target}");
            assert_eq!(
                function["Metadata"]["BuildMethod"], "rust-cargolambda",
                "{target}"
            );
        }

        let mut found = Vec::new();
        tasks(&definition["States"], &mut found);
        assert!(!found.is_empty());
        for (state, task) in found {
            let retried: Vec<&str> = task["Retry"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
                .filter_map(Value::as_str)
                .collect();
            // Timeouts and crashes reach Step Functions as Lambda.Unknown (its guide) or as
            // Lambda's own errorType: every name is retried (docs/aws-behaviour.md).
            for name_retried in [
                "Transient",
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
                "Lambda.TooManyRequestsException",
                "Lambda.ClientExecutionTimeoutException",
                "Lambda.Unknown",
                "Sandbox.Timedout",
                "Runtime.ExitError",
            ] {
                assert!(
                    retried.contains(&name_retried),
                    "{name}/{state}: {name_retried} not in {retried:?}"
                );
            }
        }
    }
    let quarantine: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("statemachine/quarantine.asl.json")).unwrap(),
    )
    .unwrap();
    // Whatever happens, an execution ends in Record the outcome: every catch leads there
    // (the forensics branch's own catches excepted: they end the branch, not the execution;
    // and the answers a wait for approval ends with, a denial or a timeout, go back to Decide).
    for machine in ["quarantine", "release"] {
        let definition: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join(format!("statemachine/{machine}.asl.json"))).unwrap(),
        )
        .unwrap();
        let states = definition["States"].as_object().unwrap();
        assert_eq!(
            states["Record the outcome"]["Resource"], "${OutcomeFunctionArn}",
            "{machine}"
        );
        for (name, state) in states {
            for catch in state["Catch"].as_array().into_iter().flatten() {
                let answer = json!(["States.Timeout", "cwq.Denied"]);
                if name == "Ask for approval" && catch["ErrorEquals"] == answer {
                    assert_eq!(catch["Next"], "Decide with the answer", "{machine}/{name}");
                    continue;
                }
                assert_eq!(catch["Next"], "Record the outcome", "{machine}/{name}");
            }
        }
    }
    let forensics = &quarantine["States"]["Contain and preserve"]["Branches"][1]["States"];
    assert_eq!(
        forensics["Snapshot the volumes"]["Catch"][0]["ErrorEquals"][0],
        "States.ALL"
    );
}

#[test]
fn every_function_has_its_own_role_and_no_wildcard_action() {
    let template = load_template(&root().join("template.yaml")).unwrap();
    for (name, resource) in template["Resources"].as_object().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let statements = resource["Properties"]["Policies"][0]["Statement"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no inline policy"));
        // An `!If` statement: what it grants when its condition holds.
        for statement in statements.iter().map(|s| s.get("Fn::If").map_or(s, |b| &b[1])) {
            let actions: Vec<&str> = match &statement["Action"] {
                Value::String(a) => vec![a.as_str()],
                Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                _ => panic!("{name}: no Action"),
            };
            assert!(
                actions.iter().all(|a| *a != "*" && !a.ends_with(":*")),
                "{name}: {actions:?}"
            );
            if statement["Resource"] == "*" {
                // States.SendTaskSuccess has no resource type (a task token is not an ARN):
                // the Service Authorization Reference leaves "*" as its only resource.
                let on_any_resource = [
                    "states:SendTaskSuccess",
                    "networkmanager:ListAttachments",
                    "ec2:DescribeSnapshots",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSubnets",
                ];
                assert!(
                    actions.iter().all(|a| on_any_resource.contains(a)),
                    "{name}: a mutating action on *: {actions:?}"
                );
            }
            if actions.iter().any(|a| {
                a.starts_with("networkmanager:TagResource") || a.starts_with("networkmanager:UntagResource")
            }) {
                let resource = serde_json::to_string(&statement["Resource"]).unwrap();
                assert!(
                    resource.contains(":attachment/*"),
                    "{name}: tagging beyond attachments: {resource}"
                );
            }
        }
    }
}

/// Nothing that reaches the stack is silently lost: the sweep's schedule sends `{}` (the
/// default payload is undocumented), the GuardDuty rule retries and dead-letters what it
/// cannot deliver, and every way a finding or a sweep can fail has an alarm.
#[test]
fn no_finding_and_no_sweep_is_silently_lost() {
    let template = load_template(&root().join("template.yaml")).unwrap();
    let resources = &template["Resources"];
    let sweep = &resources["SweepFunction"]["Properties"]["Events"]["Sweep"];
    assert_eq!(sweep["Type"], "ScheduleV2");
    assert_eq!(sweep["Properties"]["Input"], "{}");

    let rule = &resources["QuarantineStateMachine"]["Properties"]["Events"]["GuardDutyFinding"]["Properties"];
    assert_eq!(
        rule["RuleName"],
        json!({"Fn::Sub": "${AWS::StackName}-guardduty"})
    );
    assert_eq!(rule["RetryPolicy"]["MaximumRetryAttempts"], 185);
    assert_eq!(rule["RetryPolicy"]["MaximumEventAgeInSeconds"], 86400);
    assert_eq!(
        rule["DeadLetterConfig"]["Arn"],
        json!({"Fn::GetAtt": ["FindingDeadLetterQueue", "Arn"]})
    );
    let queue_policy =
        &resources["FindingDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(queue_policy["Principal"]["Service"], "events.amazonaws.com");
    assert!(queue_policy["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
        .as_str()
        .unwrap()
        .ends_with(":rule/${AWS::StackName}-guardduty"));

    for (alarm, metric) in [
        ("UndeliveredFindingAlarm", "ApproximateNumberOfMessagesVisible"),
        ("SweepItemFailedAlarm", "SweepItemsFailed"),
        ("PolicyRefusedAlarm", "PolicyRefused"),
        ("StuckAlarm", "QuarantinesStuck"),
        ("BudgetExceededAlarm", "BudgetExceeded"),
    ] {
        assert_eq!(resources[alarm]["Properties"]["MetricName"], metric, "{alarm}");
    }

    // The response policy is not a parameter (docs/aws-behaviour.md: SAM's override parser,
    // CloudFormation's 4,096 bytes, Lambda's 4 KB of environment).
    assert!(template["Parameters"].get("ResponsePolicy").is_none());
    let variables = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert!(variables.get("CWQ_POLICY").is_none());
    assert_eq!(variables["CWQ_TAG_KEY"], json!({"Ref": "QuarantineTagKey"}));
}
