//! Deploying as the README says, and the response policy's way to the Lambdas: the README's
//! deploy lines run as written (the SAM CLI's own converter reads its `sam deploy` line, as it
//! reads every override case below); `cwq local deploy` parses overrides and samconfig.toml
//! as `sam deploy` does and refuses what CloudFormation and Lambda would; a policy (20 KB
//! too) is applied without a deploy, every decision journals its version, and an invalid one
//! never takes effect.

#![allow(clippy::unwrap_used)]

mod common;

use common::{cwq, finding, policy_variant, repo, text, Cloud, OVERLAY_CORE};
use cwq_domain::response_policy::ResponsePolicy;
use cwq_pipeline::audit::AuditEvent;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The SAM CLI's virtualenv (scripts/lint-template creates it before the tests run).
fn sam_python() -> PathBuf {
    let out = Command::new(repo("scripts/python-tools"))
        .arg("deploy-tools")
        .args(
            std::fs::read_to_string(repo("scripts/deploy-tools.txt"))
                .unwrap()
                .split_whitespace(),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Path::new(String::from_utf8_lossy(&out.stdout).trim()).join("bin/python")
}

/// What the SAM CLI's own `--parameter-overrides` converter makes of `items` (or its error).
fn sam_parses(python: &Path, items: &[String]) -> Result<Value, String> {
    let script = "import sys, json, click\n\
                  from samcli.cli.types import CfnParameterOverridesType as T\n\
                  try:\n    print(json.dumps(T().convert(tuple(sys.argv[1:]), None, None)))\n\
                  except click.exceptions.BadParameter as e:\n    print('ERROR ' + str(e))\n";
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(items)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    match stdout.strip_prefix("ERROR ") {
        Some(error) => Err(error.trim().to_string()),
        None => Ok(serde_json::from_str(&stdout).unwrap()),
    }
}

/// What `sam deploy` itself reads from a samconfig.toml: its own command-line parsing, with
/// the config file's callback, stopped before anything is deployed.
fn sam_reads_config(python: &Path, config: &Path, env: &str) -> Value {
    let script = "import sys, json\n\
                  from samcli.commands.deploy.command import cli\n\
                  ctx = cli.make_context('deploy', ['--config-file', sys.argv[1], '--config-env', sys.argv[2],\n\
                      '--region', 'us-east-1', '--template-file', sys.argv[3]])\n\
                  print(json.dumps({'stack_name': ctx.params['stack_name'], 'parameter_overrides': ctx.params['parameter_overrides']}))\n";
    let out = Command::new(python)
        .args([
            "-c",
            script,
            config.to_str().unwrap(),
            env,
            repo("template.yaml").to_str().unwrap(),
        ])
        .env("SAM_CLI_TELEMETRY", "0")
        .current_dir(config.parent().unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What `cwq local deploy` makes of them (`--show-parameters`: nothing is deployed).
fn cwq_parses(items: &[String], extra: &[&str]) -> Result<Value, String> {
    let mut args = vec![
        "local",
        "deploy",
        "--template",
        "template.yaml",
        "--show-parameters",
    ];
    args.extend_from_slice(extra);
    if !items.is_empty() {
        args.push("--parameter-overrides");
        args.extend(items.iter().map(String::as_str));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_cwq"))
        .args(&args)
        .current_dir(repo("."))
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(text(&out))
    }
}

/// A shell line split as the shell would (by Python's shlex, in the SAM CLI's virtualenv).
fn shell_words(python: &Path, line: &str) -> Vec<String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys, shlex, json; print(json.dumps(shlex.split(sys.argv[1])))",
            line,
        ])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The README's deploy commands: each `\`-continued line joined.
fn readme_deploy_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let start = readme.find("<!-- deploy-commands").unwrap();
    let end = readme.find("<!-- end deploy-commands -->").unwrap();
    let block = &readme[start..end];
    let body = &block[block.find("```sh").unwrap() + 5..block.rfind("```").unwrap()];
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in body.lines() {
        let line = line.split(" #").next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                commands.push(std::mem::take(&mut current));
            }
        }
    }
    commands
}

/// The items after `--parameter-overrides` up to the next option.
fn overrides_of(words: &[String]) -> Vec<String> {
    let at = words.iter().position(|w| w == "--parameter-overrides").unwrap();
    words[at + 1..]
        .iter()
        .take_while(|w| !w.starts_with("--"))
        .cloned()
        .collect()
}

#[test]
fn overrides_and_samconfig_are_read_as_sam_deploy_reads_them() {
    let python = sam_python();
    let policy = std::fs::read_to_string(repo("policy/default.toml")).unwrap();
    let cases: Vec<Vec<String>> = vec![
        // The old README line: one argument, cut at the policy's first space by SAM.
        vec!["CoreNetworkId=core-network-0abc".into(), format!("WorkloadRoleName={policy}")],
        vec!["CoreNetworkId=core-network-0abc WorkloadRoleName=cwq-workload".into()],
        vec!["ParameterKey=CoreNetworkId,ParameterValue=core-network-0abc ParameterKey=AcceptPendingTags,ParameterValue=true".into()],
        vec![r#"WorkloadRoleName="a role with spaces""#.into(), "EventBusName='quoted bus'".into()],
        vec![r"WorkloadRoleName=escaped\ space".into(), r#"EventBusName=say\"hi\""#.into()],
        vec!["SweepSchedule=rate(5 minutes)".into()],
        vec!["no equals sign here".into()],
    ];
    for items in &cases {
        let sam = sam_parses(&python, items);
        let ours = cwq_parses(items, &[]);
        match (&sam, &ours) {
            (Ok(sam), Ok(ours)) => assert_eq!(&ours["parameter_overrides"], sam, "{items:?}"),
            (Err(_), Err(ours)) => assert!(ours.contains("is not a valid format"), "{ours}"),
            _ => panic!("{items:?}: SAM {sam:?}, cwq {ours:?}"),
        }
    }
    // What that old line did to a multi-line value: it is `#`.
    let cut = cwq_parses(&cases[0], &[]).unwrap();
    assert_eq!(cut["parameter_overrides"]["WorkloadRoleName"], "#");

    // samconfig.toml, as `sam deploy` reads it: the environment's deploy parameters, in list
    // or string form (each list item parsed like an argument: a space ends an unquoted value).
    let dir = std::env::temp_dir().join(format!("cwq-samconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("samconfig.toml");
    std::fs::write(
        &config,
        r#"version = 0.1
[default.deploy.parameters]
stack_name = "cwq-from-config"
parameter_overrides = ["CoreNetworkId=core-network-0a1b2c3d4e5f67890", "SweepSchedule=rate(10 minutes)"]
[prod.deploy.parameters]
stack_name = "cwq-prod"
parameter_overrides = "CoreNetworkId=core-network-0fedcba987654321 AcceptPendingTags=true SweepSchedule=\"rate(10 minutes)\""
"#,
    )
    .unwrap();
    let path = config.to_str().unwrap();
    for env in ["default", "prod"] {
        let ours = cwq_parses(&[], &["--config-file", path, "--config-env", env]).unwrap();
        assert_eq!(ours, sam_reads_config(&python, &config, env), "{env}");
    }
    let default = cwq_parses(&[], &["--config-file", path]).unwrap();
    assert_eq!(default["parameter_overrides"]["SweepSchedule"], "rate(10");
    let prod = cwq_parses(&[], &["--config-file", path, "--config-env", "prod"]).unwrap();
    assert_eq!(prod["parameter_overrides"]["SweepSchedule"], "rate(10 minutes)");
    // The command line wins over the file.
    let cli = cwq_parses(&["WorkloadRoleName=x".into()], &["--config-file", path]).unwrap();
    assert_eq!(cli["parameter_overrides"], json!({"WorkloadRoleName": "x"}));

    // docs/deploy.md's worked samconfig.toml means what it says under both.
    let docs = std::fs::read_to_string(repo("docs/deploy.md")).unwrap();
    let start = docs.find("```toml\nversion = 0.1").unwrap() + "```toml\n".len();
    let worked = &docs[start..start + docs[start..].find("```").unwrap()];
    let documented = dir.join("documented.toml");
    std::fs::write(&documented, worked).unwrap();
    let ours = cwq_parses(&[], &["--config-file", documented.to_str().unwrap()]).unwrap();
    assert_eq!(ours, sam_reads_config(&python, &documented, "default"));
    assert_eq!(
        ours["parameter_overrides"]["SweepSchedule"], "rate(5 minutes)",
        "{ours}"
    );

    // A file of overrides, as SAM reads it (TOML or YAML; JSON is refused).
    let file = dir.join("params.yaml");
    std::fs::write(
        &file,
        "CoreNetworkId: core-network-0a1b2c3d4e5f67890\nAcceptPendingTags: false\n",
    )
    .unwrap();
    let item = format!("file://{}", file.display());
    let sam = sam_parses(&python, std::slice::from_ref(&item)).unwrap();
    assert_eq!(cwq_parses(&[item], &[]).unwrap()["parameter_overrides"], sam);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_deploy_commands_run_as_written() {
    let python = sam_python();
    let commands = readme_deploy_commands();
    let sam_line = commands.iter().find(|c| c.contains("sam deploy")).unwrap();
    let words = shell_words(&python, sam_line);
    let items = overrides_of(&words);
    // The SAM CLI reads the line as cwq local deploy does, and every value arrives whole.
    let sam = sam_parses(&python, &items).unwrap();
    assert_eq!(cwq_parses(&items, &[]).unwrap()["parameter_overrides"], sam);
    assert!(sam.get("ResponsePolicy").is_none(), "{sam}");

    // Then on the local cloud, with its core network in place of the README's.
    let cloud = Cloud::start("readme", OVERLAY_CORE, None, &[]).await;
    let placeholder = "core-network-0abc…";
    let local_items: Vec<String> = items
        .iter()
        .map(|i| i.replace(placeholder, cloud.core_network_id()))
        .collect();
    let binaries = Path::new(env!("CARGO_BIN_EXE_cwq")).parent().unwrap();
    let mut deploy = vec![
        "local",
        "deploy",
        "--template",
        "template.yaml",
        "--no-build",
        "--binary-dir",
        binaries.to_str().unwrap(),
        "--schedule-every",
        "0s",
        "--state-dir",
        cloud.state(),
        "--parameter-overrides",
    ];
    deploy.extend(local_items.iter().map(String::as_str));
    let out = Command::new(env!("CARGO_BIN_EXE_cwq"))
        .args(&deploy)
        .current_dir(repo("."))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    for command in commands.iter().filter(|c| c.starts_with("cwq policy")) {
        let mut args: Vec<String> = shell_words(&python, command)
            .into_iter()
            .skip(1)
            .map(|w| w.replace(placeholder, cloud.core_network_id()))
            .collect();
        if command.contains(" apply ") {
            args.push("--yes".into());
        }
        let out = Command::new(env!("CARGO_BIN_EXE_cwq"))
            .args(&args)
            .args(["--local", "--state-dir", cloud.state()])
            .current_dir(repo("."))
            .output()
            .unwrap();
        assert!(out.status.success(), "{command}: {}", text(&out));
    }
    let spoke = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let report = cloud.inject(&finding("bitcoin-tool-high", &spoke, "readme1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    let version = ResponsePolicy::version_of(&std::fs::read_to_string(repo("policy/default.toml")).unwrap());
    assert_eq!(decided_versions(&cloud).await, vec![version]);
}

/// The policy version of every decision in the journal, in order.
async fn decided_versions(cloud: &Cloud) -> Vec<String> {
    cloud
        .audit()
        .await
        .into_iter()
        .filter_map(|entry| match entry.event {
            AuditEvent::Decided { policy_version, .. } => Some(policy_version),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudformation_and_lambda_limits_fail_the_local_deploy() {
    let cloud = Cloud::start("limits", OVERLAY_CORE, None, &[]).await;
    let core = format!("CoreNetworkId={}", cloud.core_network_id());
    let attempt = |extra: &str| {
        cwq(&[
            "local",
            "deploy",
            "--template",
            repo("template.yaml").to_str().unwrap(),
            "--no-build",
            "--schedule-every",
            "0s",
            "--state-dir",
            cloud.state(),
            "--parameter-overrides",
            &core,
            extra,
        ])
    };
    let too_long = attempt(&format!("WorkloadRoleName={}", "r".repeat(4097)));
    assert_eq!(too_long.status.code(), Some(2), "{}", text(&too_long));
    assert!(
        text(&too_long).contains("CloudFormation allows 4096"),
        "{}",
        text(&too_long)
    );
    // Under 4,096 bytes, but it goes into every function's environment: over Lambda's 4 KB.
    let environment = attempt(&format!("WorkloadRoleName={}", "r".repeat(4000)));
    assert_eq!(environment.status.code(), Some(2), "{}", text(&environment));
    assert!(
        text(&environment).contains("Lambda allows 4096"),
        "{}",
        text(&environment)
    );
    let not_allowed = attempt("AcceptPendingTags=maybe");
    assert!(
        text(&not_allowed).contains("must be one of"),
        "{}",
        text(&not_allowed)
    );
    let below = attempt("ReconcileTimeoutSeconds=10");
    assert!(text(&below).contains("at least"), "{}", text(&below));
}

/// A policy of about 20 KB: the default with a few hundred finding-type overrides.
fn big_policy() -> String {
    policy_variant("policy/default.toml", "big", |text| {
        let mut big = text;
        for i in 0..220 {
            big.push_str(&format!(
                "\n[[overrides]]\ntypes = [\"Recon:EC2/CwqRehearsal{i:03}*\"]\nsegment = \"inspected\"\nduration = \"1h\"\n"
            ));
        }
        big
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_kilobyte_policy_changes_decisions_without_a_deploy() {
    let cloud = Cloud::start("bigpolicy", OVERLAY_CORE, None, &["PolicyRefreshSeconds=0"]).await;
    let first = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let report = cloud.inject(&finding("malicious-ip-caller-medium", &first, "pol1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    cloud.wait_segment(&first, "inspected").await;
    let default = ResponsePolicy::version_of(&std::fs::read_to_string(repo("policy/default.toml")).unwrap());

    let big = big_policy();
    let text = std::fs::read_to_string(&big).unwrap();
    assert!(text.len() > 20_000, "{} bytes", text.len());
    // Medium findings now go to onlyshared: the same template, no deploy.
    let stricter = policy_variant(&big, "big-onlyshared", |t| {
        t.replacen(
            "segment = \"inspected\"\nduration = \"4h\"",
            "segment = \"onlyshared\"\nduration = \"4h\"",
            1,
        )
    });
    cloud.apply_policy(&stricter);
    let version = ResponsePolicy::version_of(&std::fs::read_to_string(&stricter).unwrap());
    let second = cloud.spoke("10.2.0.0/16", &[("domain", "hub")]).await;
    let report = cloud.inject(&finding(
        "malicious-ip-caller-medium",
        &second,
        "pol2",
        None,
        None,
    ));
    assert!(report.contains("SUCCEEDED"), "{report}");
    cloud.wait_segment(&second, "onlyshared").await;
    assert_eq!(decided_versions(&cloud).await, vec![default, version.clone()]);
    let shown = cloud.operator(&["policy", "show"]);
    assert!(text_of(&shown).contains(&version), "{}", text_of(&shown));
}

fn text_of(out: &std::process::Output) -> String {
    text(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_policy_never_takes_effect_and_never_stops_a_lambda() {
    let cloud = Cloud::start("badpolicy", OVERLAY_CORE, None, &["PolicyRefreshSeconds=0"]).await;
    let core = cloud.core_network_id().to_string();
    let apply = |path: &str, extra: &[&str]| {
        let mut args = vec![
            "policy",
            "apply",
            "--policy",
            path,
            "--core-network-id",
            &core,
            "--yes",
        ];
        args.extend_from_slice(extra);
        cloud.operator(&args)
    };
    // Refused before anything is stored: malformed, another tag key than the stack's, a
    // segment the core network lacks.
    let malformed = policy_variant("policy/default.toml", "malformed-apply", |_| "ladder = [".into());
    let out = apply(&malformed, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let seed = repo("policy/seed-compatible.toml");
    let out = apply(seed.to_str().unwrap(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("QuarantineTagKey"), "{}", text(&out));
    let typo = policy_variant("policy/default.toml", "typo-apply", |t| {
        t.replace("\"blocked\"", "\"blokked\"")
    });
    let out = apply(&typo, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = cloud.operator(&["policy", "show"]);
    assert!(text(&shown).contains("the built-in default"), "{}", text(&shown));

    // A good policy, then the stored item overwritten by hand with one that is not: the
    // warm Lambdas keep deciding with the good one, and say so.
    let good = policy_variant("policy/default.toml", "good", |t| {
        t.replace("max_moves = 10", "max_moves = 9")
    });
    cloud.apply_policy(&good);
    let version = ResponsePolicy::version_of(&std::fs::read_to_string(&good).unwrap());
    let first = cloud.spoke("10.1.0.0/16", &[("domain", "hub")]).await;
    let report = cloud.inject(&finding("bitcoin-tool-high", &first, "bad1", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    let broken = "ladder = [\"hub\"]\n[tags]\nmode = \"sideways\"\n";
    let item = json!({
        "pk": {"S": "POLICY"}, "sk": {"S": "ACTIVE"}, "kind": {"S": "policy"},
        "doc": {"S": json!({"version": ResponsePolicy::version_of(broken), "text": broken,
                            "applied_at": "2026-12-03T10:00:00Z", "applied_by": "by hand"}).to_string()}
    });
    let put = cwq_localcloud::control::aws_json(
        &cloud.endpoint,
        "dynamodb",
        "DynamoDB_20120810.PutItem",
        &json!({"TableName": "cwq-journal", "Item": item}),
    )
    .await;
    assert!(put.is_ok(), "{put:?}");
    let second = cloud.spoke("10.2.0.0/16", &[("domain", "hub")]).await;
    let report = cloud.inject(&finding("bitcoin-tool-high", &second, "bad2", None, None));
    assert!(report.contains("SUCCEEDED"), "{report}");
    cloud.wait_segment(&second, "blocked").await;
    assert_eq!(decided_versions(&cloud).await, vec![version.clone(), version]);
    let logs = std::fs::read_to_string(cloud.state_dir.join("logs/cwq-DecideFunction.log")).unwrap();
    assert!(logs.contains("PolicyRefused"), "{logs}");
    // No crash: every decide invocation answered.
    let functions = cwq_localcloud::admin::AdminClient::new(&cloud.endpoint)
        .functions()
        .await
        .unwrap();
    let decide = functions
        .iter()
        .find(|f| f.config.name == "cwq-DecideFunction")
        .unwrap();
    assert_eq!(decide.stats.errors, 0, "{decide:?}");
}
