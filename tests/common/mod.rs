//! The end-to-end harness: a local cloud started with `cwq local up`, template.yaml deployed
//! with `cwq local deploy`, an estate built with the real SDKs (a core network, spoke VPCs with
//! instances and volumes in a workload account), and findings delivered with `cwq local inject`.
#![allow(dead_code, clippy::unwrap_used)]

use aws_sdk_dynamodb::types::AttributeValue;
use cwq_aws::journal::DynamoJournal;
use cwq_domain::lifecycle::AttachmentItem;
use cwq_localcloud::admin::AdminClient;
use cwq_localcloud::cloudwan::Settings as CloudWanSettings;
use cwq_pipeline::audit::AuditEntry;
use cwq_pipeline::events::{EventKind, OutcomeEvent};
use cwq_pipeline::ports::Journal;
use cwq_testkit::{Estate, FindingEvent};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use cwq_testkit::{Spoke, OWNER, REGION, WORKLOAD};
pub const SEED_CORE: &str = "fixtures/cloudwan/nis342-guardduty-quarantine-segments.json";
pub const OVERLAY_CORE: &str = "examples/core-network-policy.json";
/// How long the emulated Cloud WAN takes to apply a change: four times the first wait.
pub const TRANSITION_MS: u64 = 4000;

pub fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The tag key a response policy file sets.
pub fn tag_key(policy: &str) -> String {
    let text = std::fs::read_to_string(repo(policy)).unwrap();
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    parsed["tags"]["key"].as_str().unwrap().to_string()
}

/// A response policy derived from a shipped one, written to a temporary file.
pub fn policy_variant(base: &str, name: &str, edit: impl Fn(String) -> String) -> String {
    let text = edit(std::fs::read_to_string(repo(base)).unwrap());
    let path = std::env::temp_dir().join(format!("cwq-policy-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

pub fn cwq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cwq"))
        .args(args)
        .output()
        .expect("run cwq")
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A local cloud of the test's own, stopped when dropped.
pub struct Cloud {
    pub state_dir: PathBuf,
    pub endpoint: String,
    /// The core network and its spokes (the testkit the demo and the benchmarks use too).
    pub estate: Estate,
}

/// Every test that starts a local cloud also checks, at its end, each event cwq published there
/// against docs/events.schema.json.
impl Drop for Cloud {
    fn drop(&mut self) {
        let checked = match std::thread::panicking() {
            true => Ok(()),
            false => self.published_events_match_the_schema(),
        };
        if std::env::var_os("CWQ_E2E_KEEP").is_some() {
            eprintln!("keeping the local cloud in {}", self.state_dir.display());
        } else {
            let _ = cwq(&["local", "down", "--state-dir", self.state_dir.to_str().unwrap()]);
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
        if let Err(problems) = checked {
            panic!("published events outside docs/events.schema.json:\n{problems}");
        }
    }
}

/// Python's jsonschema, the reference validator, in its own virtualenv (scripts/python-tools).
fn schema_validator() -> &'static Path {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = std::process::Command::new(repo("scripts/python-tools"))
            .args(["schema-tools", "jsonschema==4.26.0"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Path::new(String::from_utf8_lossy(&out.stdout).trim()).join("bin/python")
    })
}

/// Validates each JSON line of `events` against docs/events.schema.json: the problems, if any.
pub fn validate_events(events: &str) -> Result<(), String> {
    use std::io::Write;
    let script = "import json, sys\n\
                  from jsonschema import Draft202012Validator as V\n\
                  schema = json.load(open(sys.argv[1]))\n\
                  V.check_schema(schema)\n\
                  for n, line in enumerate(sys.stdin):\n    event = json.loads(line)\n    \
                  for e in V(schema).iter_errors(event):\n        \
                  print(f\"event {n} ({event.get('detail-type')}) at /{'/'.join(map(str, e.path))}: {e.message}\")\n";
    let mut child = std::process::Command::new(schema_validator())
        .arg("-c")
        .arg(script)
        .arg(repo("docs/events.schema.json"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(events.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let problems = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.success() && problems.trim().is_empty() {
        true => Ok(()),
        false => Err(problems),
    }
}

impl Cloud {
    /// Starts a local cloud, creates a core network with `core_policy` (a file in the repo) and
    /// deploys template.yaml with `policy` (a response policy file; None: the default).
    pub async fn start(name: &str, core_policy: &str, policy: Option<&str>, extra: &[&str]) -> Self {
        let state_dir = std::env::temp_dir().join(format!("cwq-e2e-{name}-{}", std::process::id()));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string();
        let up = cwq(&[
            "local",
            "up",
            "--port",
            &port,
            "--state-dir",
            state_dir.to_str().unwrap(),
        ]);
        assert!(up.status.success(), "{}", text(&up));
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut estate = Estate::connect(&endpoint).await.unwrap();
        let document = std::fs::read_to_string(repo(core_policy)).unwrap();
        estate.create_core_network(&document).await.unwrap();
        let cloud = Self {
            state_dir,
            endpoint,
            estate,
        };
        // AWS-like: a move takes several times the first wait between checks, and Cloud WAN
        // answers ConflictException to a tag change while it is UPDATING.
        cloud
            .cloud_wan(|s| {
                s.transition_delay_ms = TRANSITION_MS;
                s.conflict_during_transition = true;
            })
            .await;
        cloud.deploy(policy, extra);
        cloud
    }

    /// The core network owner's (cwq's) account.
    pub fn sdk(&self) -> &aws_config::SdkConfig {
        &self.estate.owner
    }

    pub fn core_network_id(&self) -> &str {
        &self.estate.core_network_id
    }

    pub fn state(&self) -> &str {
        self.state_dir.to_str().unwrap()
    }

    pub fn deploy(&self, policy: Option<&str>, extra: &[&str]) {
        let core = format!("CoreNetworkId={}", self.core_network_id());
        let template = repo("template.yaml");
        let binaries = Path::new(env!("CARGO_BIN_EXE_cwq"))
            .parent()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let mut args = vec![
            "local",
            "deploy",
            "--template",
            template.to_str().unwrap(),
            "--no-build",
            "--binary-dir",
            &binaries,
            "--schedule-every",
            "0s",
            "--state-dir",
            self.state(),
            "--parameter-overrides",
            &core,
            "VerifyIntervalSeconds=1",
            "VerifyMaxIntervalSeconds=2",
            "ReconcileTimeoutSeconds=120",
        ];
        // The stack's tag key is the policy's (seed-compatible rewrites `domain`).
        let key = policy.map(tag_key).unwrap_or_else(|| "quarantine".into());
        let key_override = format!("QuarantineTagKey={key}");
        args.push(&key_override);
        args.extend_from_slice(extra);
        let out = cwq(&args);
        assert!(out.status.success(), "deploy: {}", text(&out));
        if let Some(policy) = policy {
            self.apply_policy(policy);
        }
    }

    /// `cwq policy apply` of a response policy file (checked, then stored in the journal).
    pub fn apply_policy(&self, policy: &str) {
        let path = repo(policy);
        let key = tag_key(policy);
        let out = cwq(&[
            "policy",
            "apply",
            "--policy",
            path.to_str().unwrap(),
            "--core-network-id",
            self.core_network_id(),
            "--quarantine-tag-key",
            &key,
            "--yes",
            "--local",
            "--state-dir",
            self.state(),
        ]);
        assert!(out.status.success(), "policy apply: {}", text(&out));
    }

    /// The Cloud WAN emulator's settings (merged into the current ones).
    /// Changes how the Cloud WAN emulator behaves, through the local cloud's admin API.
    pub async fn cloud_wan(&self, change: impl FnOnce(&mut CloudWanSettings)) {
        let admin = AdminClient::new(&self.endpoint);
        let mut settings = admin.cloudwan_settings().await.unwrap();
        change(&mut settings);
        admin.set_cloudwan_settings(&settings).await.unwrap();
    }

    pub fn network_manager(&self) -> aws_sdk_networkmanager::Client {
        aws_sdk_networkmanager::Client::new(self.sdk())
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(self.sdk())
    }

    /// A spoke: a VPC with an instance (and its volume) in the workload account, attached to
    /// the core network with `tags`; waits until Cloud WAN has placed it.
    pub async fn spoke(&self, cidr: &str, tags: &[(&str, &str)]) -> Spoke {
        self.estate.spoke(WORKLOAD, REGION, cidr, tags).await.unwrap()
    }

    /// A VPC with an instance in the workload account, not attached to the core network yet.
    pub async fn unattached_spoke(&self, cidr: &str) -> Spoke {
        self.estate
            .vpc_with_instance(WORKLOAD, REGION, cidr)
            .await
            .unwrap()
    }

    /// A spoke in the core network owner's own account (cwq's), attached with `tags`.
    pub async fn own_account_spoke(&self, cidr: &str, tags: &[(&str, &str)]) -> Spoke {
        self.estate.spoke(OWNER, REGION, cidr, tags).await.unwrap()
    }

    /// Attaches the spoke's VPC with `tags` and waits until Cloud WAN has placed it.
    pub async fn attach(&self, spoke: &mut Spoke, tags: &[(&str, &str)]) {
        self.estate.attach(spoke, tags).await.unwrap();
    }

    /// (state, segment, tags) of a spoke's attachment.
    pub async fn attachment(&self, spoke: &Spoke) -> (String, Option<String>, Vec<(String, String)>) {
        let now = self.estate.attachment(&spoke.attachment_id).await.unwrap();
        (now.state, now.segment, now.tags)
    }

    /// The event written to a file in the state directory, for `cwq local inject`.
    fn event_file(&self, event: &Value) -> PathBuf {
        let path = self
            .state_dir
            .join(format!("event-{}.json", event["id"].as_str().unwrap_or("x")));
        std::fs::write(&path, event.to_string()).unwrap();
        path
    }

    /// Writes the event to a file and delivers it with `cwq local inject --wait`.
    pub fn inject(&self, event: &Value) -> String {
        let path = self.event_file(event);
        let out = cwq(&[
            "local",
            "inject",
            path.to_str().unwrap(),
            "--wait",
            "--state-dir",
            self.state(),
        ]);
        let mut report = text(&out);
        if !report.contains("SUCCEEDED") {
            report.push_str(&self.logs());
        }
        report
    }

    /// The log lines the stack's metric filter `filter` (its logical id in template.yaml) counts:
    /// the lines of its log group's function (JSON, as `LoggingConfig: {LogFormat: JSON}` makes
    /// them) whose `$.fields.<name>` equals the pattern's value.
    pub fn metric_filter_matches(&self, filter: &str) -> Vec<Value> {
        let template = cwq_localcloud::deploy::load_template(&repo("template.yaml")).unwrap();
        let resources = &template["Resources"];
        let properties = &resources[filter]["Properties"];
        let group = properties["LogGroupName"]["Ref"].as_str().unwrap();
        let group_name = resources[group]["Properties"]["LogGroupName"]["Fn::Sub"]
            .as_str()
            .unwrap();
        let function = group_name
            .strip_prefix("/aws/lambda/${")
            .and_then(|f| f.strip_suffix('}'))
            .unwrap();
        // Only the form the template uses: `{ $.fields.NAME = "VALUE" }`.
        let pattern = properties["FilterPattern"].as_str().unwrap();
        let (path, value) = pattern
            .strip_prefix("{ $.")
            .and_then(|p| p.strip_suffix(" }"))
            .and_then(|p| p.split_once(" = "))
            .unwrap_or_else(|| panic!("{filter}: a filter pattern this helper cannot read: {pattern}"));
        let pointer = format!("/{}", path.replace('.', "/"));
        let value = value.trim_matches('"');
        let log = std::fs::read_to_string(self.state_dir.join(format!("logs/cwq-{function}.log")))
            .unwrap_or_default();
        log.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line.pointer(&pointer).and_then(Value::as_str) == Some(value))
            .collect()
    }

    /// Every function's log, for a failure's message.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(self.state_dir.join("logs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with("cwq-") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                all.push_str(&format!(
                    "\n--- {name}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
        }
        all
    }

    pub fn journal(&self) -> DynamoJournal {
        DynamoJournal::new(self.dynamodb(), "cwq-journal")
    }

    /// The journal's item of an attachment.
    pub async fn item(&self, attachment_id: &str) -> Option<AttachmentItem> {
        self.journal().item(attachment_id).await.unwrap()
    }

    /// Waits until the attachment's item satisfies `ready`.
    pub async fn wait_item(
        &self,
        attachment_id: &str,
        what: &str,
        ready: impl Fn(&AttachmentItem) -> bool,
    ) -> AttachmentItem {
        for _ in 0..1200 {
            if let Some(item) = self.item(attachment_id).await.filter(|i| ready(i)) {
                return item;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "{attachment_id} never became {what}: {:?}\n{}",
            self.item(attachment_id).await,
            self.logs()
        );
    }

    /// Waits until the journal shows `status` (QUARANTINED, RELEASED, …) for the attachment.
    pub async fn wait_status(&self, attachment_id: &str, status: &str) -> AttachmentItem {
        self.wait_item(attachment_id, status, |i| i.status().to_string() == status)
            .await
    }

    /// Waits until Cloud WAN has the attachment AVAILABLE in `segment`.
    pub async fn wait_segment(&self, spoke: &Spoke, segment: &str) {
        let timeout = std::time::Duration::from_secs(60);
        self.estate
            .wait_segment(&spoke.attachment_id, segment, timeout)
            .await
            .unwrap();
    }

    /// Every event EventBridge accepted here (from the local cloud's log of PutEvents), in
    /// order: its detail-type and its detail.
    fn published_entries(&self) -> Vec<(String, Value)> {
        self.calls()
            .iter()
            .filter(|c| c["operation"] == "PutEvents" && c["status"].as_u64() < Some(400))
            .filter_map(|c| c["summary"].as_str().map(str::to_string))
            .flat_map(|summary| {
                summary
                    .lines()
                    .filter_map(|line| line.split_once(" {"))
                    .map(|(kind, json)| {
                        let json = format!("{{{json}");
                        let detail = serde_json::from_str(&json).unwrap_or(Value::String(json));
                        (kind.to_string(), detail)
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every event published here, as EventBridge received it, checked against the schema.
    pub fn published_events_match_the_schema(&self) -> Result<(), String> {
        let lines: String = self
            .published_entries()
            .into_iter()
            .map(|(kind, detail)| format!("{}\n", json!({"detail-type": kind, "detail": detail})))
            .collect();
        validate_events(&lines)
    }

    /// Every event cwq published, in order.
    pub fn published(&self) -> Vec<OutcomeEvent> {
        self.published_entries()
            .into_iter()
            .filter_map(|(_, detail)| serde_json::from_value(detail).ok())
            .collect()
    }

    /// Waits until an event of `kind` has been published; returns every one so far.
    pub async fn wait_published(&self, kind: EventKind) -> Vec<OutcomeEvent> {
        for _ in 0..600 {
            let found: Vec<OutcomeEvent> = self.published().into_iter().filter(|e| e.kind == kind).collect();
            if !found.is_empty() {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no {kind:?} published: {:#?}\n{}", self.published(), self.logs());
    }

    /// The outcomes an execution published (each retry publishes the same one again).
    pub fn outcomes(&self, execution_arn: &str) -> Vec<OutcomeEvent> {
        self.published()
            .into_iter()
            .filter(|e| e.kind.is_outcome() && e.execution_arn.as_deref() == Some(execution_arn))
            .collect()
    }

    /// The one outcome an execution published: exactly one id, the same kind every time.
    pub fn outcome(&self, execution_arn: &str) -> OutcomeEvent {
        let all = self.outcomes(execution_arn);
        let ids: std::collections::BTreeSet<&str> = all.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), 1, "one outcome for {execution_arn}: {all:#?}");
        assert!(all.windows(2).all(|w| w[0].kind == w[1].kind), "{all:#?}");
        all[0].clone()
    }

    /// Every audit entry of the journal, oldest first.
    pub async fn audit(&self) -> Vec<AuditEntry> {
        let scanned: Vec<_> = self
            .dynamodb()
            .scan()
            .table_name("cwq-journal")
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .unwrap();
        let mut entries: Vec<AuditEntry> = scanned
            .iter()
            .filter(|item| item.get("kind").and_then(|k| k.as_s().ok()).map(String::as_str) == Some("audit"))
            .map(|item| serde_json::from_str(item["doc"].as_s().unwrap()).unwrap())
            .collect();
        entries.sort_by_key(|e| e.at);
        entries
    }

    /// The names of the audit steps, oldest first.
    pub async fn steps(&self) -> Vec<String> {
        self.audit()
            .await
            .iter()
            .map(|e| e.event.name().to_string())
            .collect()
    }

    /// The snapshots in the workload account that carry `cwq:incident`.
    pub async fn snapshots(&self) -> Vec<(String, Vec<(String, String)>)> {
        let described = self
            .estate
            .ec2(WORKLOAD, REGION)
            .describe_snapshots()
            .owner_ids("self")
            .send()
            .await
            .unwrap();
        described
            .snapshots()
            .iter()
            .filter(|s| s.tags().iter().any(|t| t.key() == Some("cwq:incident")))
            .map(|s| {
                let tags = s
                    .tags()
                    .iter()
                    .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
                    .collect();
                (s.snapshot_id().unwrap().to_string(), tags)
            })
            .collect()
    }

    pub fn step_functions(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(self.sdk())
    }

    /// Starts an execution of a deployed state machine directly and waits for its status.
    pub async fn run(&self, machine: &str, name: &str, input: &Value) -> String {
        let sfn = self.step_functions();
        let arn = format!("arn:aws:states:{REGION}:{OWNER}:stateMachine:cwq-{machine}");
        let started = sfn
            .start_execution()
            .state_machine_arn(arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .unwrap();
        for _ in 0..600 {
            let d = sfn
                .describe_execution()
                .execution_arn(started.execution_arn())
                .send()
                .await
                .unwrap();
            if d.status().as_str() != "RUNNING" {
                return format!(
                    "{} {} {}",
                    d.status().as_str(),
                    d.error().unwrap_or_default(),
                    d.cause().unwrap_or_default()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("execution {name} still running after 60 s");
    }

    /// The mutating Network Manager calls the emulator logged for an attachment.
    pub fn tag_calls(&self, attachment_id: &str) -> usize {
        let out = cwq(&["local", "calls", "--output", "json", "--state-dir", self.state()]);
        let calls: Value = serde_json::from_slice(&out.stdout).unwrap();
        calls
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                matches!(c["operation"].as_str(), Some("TagResource" | "UntagResource"))
                    && c["path"].as_str().unwrap_or_default().contains(attachment_id)
            })
            .count()
    }

    /// Runs an operator verb against this local cloud: `cwq ARGS --local --state-dir DIR`.
    pub fn operator(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--local", "--state-dir", self.state()]);
        cwq(&all)
    }

    /// The actions each function called with its own credentials (`cwq local actions`), by
    /// function name (`cwq-DecideFunction`).
    pub fn actions(&self) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
        let out = cwq(&[
            "local",
            "actions",
            "--output",
            "json",
            "--state-dir",
            self.state(),
        ]);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Adds a fault rule: `cwq local faults add ARGS`.
    pub fn fault(&self, args: &[&str]) {
        let mut all = vec!["local", "faults", "add"];
        all.extend_from_slice(args);
        all.extend(["--state-dir", self.state()]);
        let out = cwq(&all);
        assert!(out.status.success(), "{}", text(&out));
    }

    pub fn clear_faults(&self) {
        let out = cwq(&["local", "faults", "clear", "--state-dir", self.state()]);
        assert!(out.status.success(), "{}", text(&out));
    }

    /// Delivers the event and waits; returns the report and the execution ARN.
    pub fn inject_execution(&self, event: &Value) -> (String, String) {
        let report = self.inject(event);
        let arn = report
            .split_whitespace()
            .find(|w| w.contains(":execution:"))
            .unwrap_or_else(|| panic!("no execution in: {report}"))
            .to_string();
        (report, arn)
    }

    /// Delivers the event without waiting; returns the execution ARN.
    pub fn deliver(&self, event: &Value) -> String {
        let path = self.event_file(event);
        let out = cwq(&[
            "local",
            "inject",
            path.to_str().unwrap(),
            "--state-dir",
            self.state(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        text(&out)
            .split_whitespace()
            .find(|w| w.contains(":execution:"))
            .unwrap()
            .to_string()
    }

    /// Waits for an execution to end: (status, error).
    pub async fn wait_execution(&self, arn: &str) -> (String, String) {
        let sfn = self.step_functions();
        for _ in 0..1200 {
            let d = sfn.describe_execution().execution_arn(arn).send().await.unwrap();
            if d.status().as_str() != "RUNNING" {
                return (
                    d.status().as_str().to_string(),
                    d.error().unwrap_or_default().to_string(),
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{arn} still running after 120 s");
    }

    /// The emulator's log of mutating calls.
    pub fn calls(&self) -> Vec<Value> {
        let out = cwq(&["local", "calls", "--output", "json", "--state-dir", self.state()]);
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Calls per `service:operation`: {calls, errors, injected}.
    pub fn counters(&self) -> Value {
        let out = cwq(&[
            "local",
            "counters",
            "--output",
            "json",
            "--state-dir",
            self.state(),
        ]);
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Runs the deployed sweep schedule now.
    pub fn sweep(&self) -> String {
        text(&cwq(&[
            "local",
            "schedule",
            "SweepFunction.Sweep",
            "--state-dir",
            self.state(),
        ]))
    }
}

fn attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!(s),
        AttributeValue::N(n) => n.parse::<f64>().map_or(Value::Null, |f| json!(f)),
        AttributeValue::Bool(b) => json!(b),
        AttributeValue::L(items) => Value::Array(items.iter().map(attribute).collect()),
        AttributeValue::M(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), attribute(v))).collect()),
        _ => Value::Null,
    }
}

/// A GuardDuty event for `spoke`'s instance, from one of the example findings.
pub fn finding(example: &str, spoke: &Spoke, id: &str, severity: Option<f64>, kind: Option<&str>) -> Value {
    let path = repo(&format!("examples/findings/{example}.json"));
    let mut event = FindingEvent::example(&path).unwrap().on(spoke).id(id);
    if let Some(severity) = severity {
        event = event.severity(severity);
    }
    if let Some(kind) = kind {
        event = event.finding_type(kind);
    }
    event.build()
}
