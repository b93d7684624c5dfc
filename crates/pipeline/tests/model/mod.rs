//! The model: the real state machine definitions run by the in-process interpreter, the real
//! steps over the fake world, executions as tasks of the deterministic scheduler, and the
//! invariants of docs/lifecycle.md checked after every step and at quiescence.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use cwq_domain::decision::Expiry;
use cwq_domain::lifecycle::{AttachmentItem, AttachmentRef, Demand, Required};
use cwq_domain::response_policy::ResponsePolicy;
use cwq_domain::CoreNetworkPolicy;
use cwq_pipeline::contract::{ReleaseReason, ReleaseRequest};
use cwq_pipeline::events::EventKind;
use cwq_pipeline::fake::asl::{Ended, Interpreter, Resume};
use cwq_pipeline::fake::sim::{RunEnd, Sim};
use cwq_pipeline::fake::world::{BoxFuture, Call, Chaos, CloudWanBehaviour, World, OWNER};
use cwq_pipeline::ports::{Ports, Tags};
use cwq_pipeline::{PortError, Settings, Step};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Once};
use time::OffsetDateTime;

pub const WORKLOAD: &str = "222222222222";
pub const CORE: &str = "core-network-0a1b2c3d4e5f60718";
pub const KEY: &str = "quarantine";

pub fn repo(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn start() -> OffsetDateTime {
    time::macros::datetime!(2026-12-01 00:00 UTC)
}

/// A crash of the Lambda process, injected at a port call.
#[derive(Debug)]
pub struct Crash;

/// Silences the panic messages of injected crashes (and only those).
pub fn quiet_crashes() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<Crash>().is_none() {
                default(info);
            }
        }));
    });
}

/// Yields at every call; with `active`, fails some calls transiently and crashes some, each
/// within a budget, so that retries (six per Task) are never exhausted by chaos alone.
pub struct ModelChaos {
    pub sim: Sim,
    pub active: AtomicBool,
    pub crash_percent: u64,
    pub transient_percent: u64,
    pub crashes_left: AtomicU32,
    pub transients_left: AtomicU32,
    pub crashes: AtomicU32,
}

impl ModelChaos {
    pub fn new(sim: Sim, crash_percent: u64, transient_percent: u64) -> Self {
        Self {
            sim,
            active: AtomicBool::new(true),
            crash_percent,
            transient_percent,
            crashes_left: AtomicU32::new(3),
            transients_left: AtomicU32::new(6),
            crashes: AtomicU32::new(0),
        }
    }

    fn take(&self, budget: &AtomicU32, percent: u64) -> bool {
        self.active.load(Ordering::SeqCst)
            && percent > 0
            && self.sim.chance(percent)
            && budget
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
    }

    fn crash(&self) -> ! {
        self.crashes.fetch_add(1, Ordering::SeqCst);
        std::panic::panic_any(Crash)
    }
}

impl Chaos for ModelChaos {
    fn before(&self, call: Call) -> BoxFuture<'_, Option<PortError>> {
        Box::pin(async move {
            self.sim.yield_now().await;
            if self.take(&self.crashes_left, self.crash_percent) {
                self.crash();
            }
            if call.port != "states" && self.take(&self.transients_left, self.transient_percent) {
                return Some(PortError::Transient(format!(
                    "injected: {} {}",
                    call.port, call.operation
                )));
            }
            None
        })
    }

    fn after(&self, call: Call) {
        if call.mutates && self.take(&self.crashes_left, self.crash_percent) {
            self.crash();
        }
    }
}

/// One execution of either state machine.
#[derive(Debug, Clone)]
pub struct Execution {
    pub arn: String,
    pub machine: &'static str,
    pub input: Value,
    /// The incident whose demand a quarantine execution adds.
    pub incident: Option<String>,
    pub ended: Option<Ended>,
}

pub struct Model {
    pub sim: Sim,
    pub world: Arc<World>,
    pub chaos: Arc<ModelChaos>,
    pub ports: Ports,
    pub interpreter: Interpreter,
    pub quarantine: Arc<Value>,
    pub release: Arc<Value>,
    pub executions: Arc<Mutex<Vec<Execution>>>,
    pub initial: BTreeMap<String, (Tags, Option<String>)>,
    pub violations: Arc<Mutex<Vec<String>>>,
    /// The items as of the last check, to see each demand that goes.
    seen: Arc<Mutex<BTreeMap<String, AttachmentItem>>>,
    /// Every episode opened: (when, attachment).
    episodes: Arc<Mutex<BTreeSet<(OffsetDateTime, String)>>>,
}

/// The policy the model runs: the shipped default with holds short enough to expire within a
/// schedule, and a budget of two new episodes an hour.
pub fn model_policy() -> ResponsePolicy {
    let text = repo("policy/default.toml")
        .replace("duration = \"4h\"", "duration = \"15m\"")
        .replace("duration = \"24h\"", "duration = \"40m\"")
        .replace("max_moves = 10", "max_moves = 2")
        .replace("max_moves_per_account = 5", "max_moves_per_account = 2");
    ResponsePolicy::from_toml(&text).expect("the model's policy")
}

pub fn model_settings(policy: ResponsePolicy) -> Settings {
    let mut settings = Settings::new(CORE, policy, "model");
    settings.reconcile_timeout_seconds = 600;
    // The model's sweeps finish: a deferred item is its own, separately tested behaviour.
    settings.sweep_budget_seconds = 86_400;
    settings
}

impl Model {
    pub fn new(seed: u64, behaviour: CloudWanBehaviour, chaos: (u64, u64), settings: Settings) -> Self {
        quiet_crashes();
        let sim = Sim::new(seed, start());
        let chaos = Arc::new(ModelChaos::new(sim.clone(), chaos.0, chaos.1));
        let world = Arc::new(World::new(Arc::new(sim.clone()), chaos.clone()));
        world.set_policy(CoreNetworkPolicy::from_json(&repo("examples/core-network-policy.json")).unwrap());
        world.state().behaviour = behaviour;
        let ports = cwq_pipeline::fake::ports(&world, Arc::new(sim.clone()), settings);
        let interpreter = Interpreter {
            sim: sim.clone(),
            ports: ports.clone(),
        };
        let model = Self {
            sim,
            world,
            chaos,
            ports,
            interpreter,
            quarantine: Arc::new(serde_json::from_str(&repo("statemachine/quarantine.asl.json")).unwrap()),
            release: Arc::new(serde_json::from_str(&repo("statemachine/release.asl.json")).unwrap()),
            executions: Arc::default(),
            initial: BTreeMap::new(),
            violations: Arc::default(),
            seen: Arc::default(),
            episodes: Arc::default(),
        };
        model.launch_releases();
        model
    }

    /// Release executions the sweep (or anyone) starts run as tasks of the scheduler.
    fn launch_releases(&self) {
        let runner = self.runner();
        self.world
            .on_release(Arc::new(move |arn: String, request: ReleaseRequest| {
                let input = serde_json::to_value(&request).unwrap();
                runner.run_execution(0.0, arn, "release", input, None, None);
            }));
    }

    /// Attaches `name`'s VPC with `tags` (plus `domain=hub`).
    pub fn attach(&mut self, name: &str, extra: &[(&str, &str)]) -> AttachmentRef {
        let n = self.initial.len() + 1;
        let attachment = AttachmentRef {
            attachment_id: format!("attachment-0{n}{name}"),
            vpc_id: format!("vpc-0000000{n}"),
            owner_account: WORKLOAD.into(),
            core_network_id: CORE.into(),
            edge_location: "us-east-1".into(),
            partition: "aws".into(),
        };
        let mut tags: Tags = [("domain".to_string(), "hub".to_string())].into();
        tags.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self.world.attach(attachment.clone(), tags.clone());
        let segment = self
            .world
            .attachment_now(&attachment.attachment_id)
            .unwrap()
            .segment;
        self.initial
            .insert(attachment.attachment_id.clone(), (tags, segment));
        attachment
    }

    /// A GuardDuty event for the attachment's VPC.
    pub fn event(&self, attachment: &AttachmentRef, id: &str, severity: f64, kind: &str) -> Value {
        let mut event: Value =
            serde_json::from_str(&repo("examples/findings/bitcoin-tool-high.json")).unwrap();
        event["time"] = json!("2026-12-01T00:00:00Z");
        let detail = &mut event["detail"];
        detail["id"] = json!(format!("{id:0>32}"));
        detail["accountId"] = json!(WORKLOAD);
        detail["severity"] = json!(severity);
        detail["type"] = json!(kind);
        detail["updatedAt"] = json!("2026-12-01T00:00:00.000Z");
        detail["resource"]["instanceDetails"]["networkInterfaces"][0]["vpcId"] = json!(attachment.vpc_id);
        event
    }

    /// Delivers `event` after `delay` virtual seconds, as a new quarantine execution.
    pub fn deliver(&self, delay: f64, name: &str, event: Value) {
        let finding = cwq_domain::finding::parse_event(&event.to_string()).unwrap();
        let incident = cwq_pipeline::steps::incident_id(&finding);
        let arn = format!("arn:aws:states:us-east-1:{OWNER}:execution:cwq-quarantine:{name}");
        self.run_execution(delay, arn, "quarantine", event, Some(incident), None);
    }

    pub fn runner(&self) -> Runner {
        Runner {
            sim: self.sim.clone(),
            interpreter: self.interpreter.clone(),
            quarantine: self.quarantine.clone(),
            release: self.release.clone(),
            executions: self.executions.clone(),
            world: self.world.clone(),
        }
    }

    pub fn run_execution(
        &self,
        delay: f64,
        arn: String,
        machine: &'static str,
        input: Value,
        incident: Option<String>,
        from: Option<Resume>,
    ) {
        self.runner()
            .run_execution(delay, arn, machine, input, incident, from);
    }

    /// The sweep, every `every` seconds until `until`.
    pub fn sweeps(&self, every: f64, until: f64) {
        let (sim, ports) = (self.sim.clone(), self.ports.clone());
        let end = start() + time::Duration::seconds_f64(until);
        self.sim.spawn(async move {
            while sim.now() < end {
                sim.sleep(every).await;
                let _ = CatchUnwind::run(Step::Sweep.handle(&ports, json!({}))).await;
            }
        });
    }

    /// An operator's `cwq release` after `delay`: every demand on the attachment then.
    pub fn operator_release(&self, delay: f64, attachment: &AttachmentRef, name: &str) {
        let (sim, world, ports) = (self.sim.clone(), self.world.clone(), self.ports.clone());
        let (attachment_id, name) = (attachment.attachment_id.clone(), name.to_string());
        self.sim.spawn(async move {
            sim.sleep(delay).await;
            let item = world.state().items.get(&attachment_id).cloned();
            let Some(item) = item.filter(|i| !i.demands.is_empty()) else {
                return;
            };
            let request = ReleaseRequest {
                attachment_id,
                reason: ReleaseReason::Manual,
                demands: item.demands.iter().map(Demand::name).collect(),
                requested_by: Some("arn:aws:iam::123456789012:role/operator".into()),
                note: Some("model".into()),
            };
            let _ = CatchUnwind::run(ports.executions.start_release(&name, &request)).await;
        });
    }

    /// After `delay`, a new execution with the input of the first release that ended, and a
    /// redrive of the first one that failed: an old release must not touch newer demands.
    pub fn replay_old_release(&self, delay: f64) {
        let (sim, executions, runner) = (self.sim.clone(), self.executions.clone(), self.runner());
        self.sim.spawn(async move {
            sim.sleep(delay).await;
            let old: Vec<Execution> = executions
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e.machine == "release" && e.ended.is_some())
                .cloned()
                .collect();
            if let Some(first) = old.first() {
                runner.run_execution(
                    0.0,
                    format!("{}-restart", first.arn),
                    "release",
                    first.input.clone(),
                    None,
                    None,
                );
            }
            for e in old {
                if let Some(Ended::Failed(failure)) = e.ended {
                    runner.run_execution(0.0, e.arn, "release", Value::Null, None, Some(*failure.resume));
                    break;
                }
            }
        });
    }

    /// Runs to quiescence, checking the invariants after every step.
    pub fn run(&self, max_steps: usize) -> RunEnd {
        let checker = self.checker();
        self.sim.run(max_steps, |sim| {
            checker.step(sim.now());
            // Now and then, time jumps: expiries and Cloud WAN transitions land anywhere.
            if sim.chance(2) {
                sim.below(120) as f64
            } else {
                0.0
            }
        })
    }

    fn checker(&self) -> Checker {
        Checker {
            world: self.world.clone(),
            executions: self.executions.clone(),
            violations: self.violations.clone(),
            seen: self.seen.clone(),
            episodes: self.episodes.clone(),
            policy: self.ports.settings.policy.clone(),
        }
    }

    pub fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }

    /// No more chaos, Cloud WAN unstuck: what follows must converge everything.
    pub fn calm(&self) {
        self.chaos.active.store(false, Ordering::SeqCst);
        let mut s = self.world.state();
        s.behaviour.stuck = false;
        s.behaviour.transition_seconds = s.behaviour.transition_seconds.min(120.0);
        s.snapshot_failure = None;
    }

    /// Sweeps until every live item is converged (or `rounds` run out).
    pub fn settle(&self, rounds: usize) {
        for _ in 0..rounds {
            let (sim, ports) = (self.sim.clone(), self.ports.clone());
            self.sim.spawn(async move {
                sim.sleep(300.0).await;
                let _ = CatchUnwind::run(Step::Sweep.handle(&ports, json!({}))).await;
            });
            self.run(200_000);
            let s = self.world.state();
            if s.items.values().all(AttachmentItem::is_reconciled)
                && s.executions.values().all(|running| !running)
            {
                break;
            }
        }
    }

    /// `settle`, after checking that every item left unconverged by the run (nobody converging
    /// it now) is reported stuck by the first sweep, or released by an expiry it started.
    pub fn settle_reporting_stuck(&self, rounds: usize) {
        let unconverged: Vec<String> = self
            .world
            .state()
            .items
            .values()
            .filter(|i| !i.is_reconciled())
            .map(|i| i.attachment.attachment_id.clone())
            .collect();
        let before = self.world.state().published.len();
        self.settle(rounds);
        let published = self.world.state().published[before..].to_vec();
        for id in unconverged {
            let reported = published.iter().any(|e| {
                e.kind == EventKind::QuarantineStuck
                    && e.legs
                        .iter()
                        .any(|l| l.attachment_id.as_deref() == Some(id.as_str()))
            });
            if !reported {
                self.violation(format!("{id} was left unconverged and never reported stuck"));
            }
        }
    }

    /// Every item converged, its attachment where its demands require, with cwq's value.
    pub fn check_converged(&self) {
        let now = self.sim.now();
        let ids: Vec<String> = self.world.state().items.keys().cloned().collect();
        for id in ids {
            let item = self.world.state().items.get(&id).cloned().unwrap();
            let live = self.world.attachment_now(&id).unwrap();
            let required = item.required(&self.ports.settings.policy);
            if !item.is_reconciled() {
                self.violation(format!("{id} is not reconciled at quiescence: {item:?}"));
            }
            match &required {
                Required::Segment { segment, .. } => {
                    if live.tags.get(KEY) != Some(segment) || live.segment.as_ref() != Some(segment) {
                        self.violation(format!(
                            "{id} must be in {segment} for its live demands at {now}, is in {:?} with {:?}",
                            live.segment, live.tags
                        ));
                    }
                }
                Required::Original { .. } | Required::Nothing => {
                    let (tags, segment) = &self.initial[&id];
                    if &live.tags != tags || &live.segment != segment {
                        self.violation(format!(
                            "{id} has no demand left and must be back to {tags:?} in {segment:?}, is {:?} in {:?}",
                            live.tags, live.segment
                        ));
                    }
                }
            }
        }
    }

    /// Every execution ended, with exactly one outcome (published, the same each time).
    pub fn check_outcomes(&self) {
        let executions = self.executions.lock().unwrap().clone();
        let published = self.world.state().published.clone();
        for e in &executions {
            if e.ended.is_none() {
                self.violation(format!("{} never ended", e.arn));
                continue;
            }
            let outcomes: Vec<_> = published
                .iter()
                .filter(|p| p.kind.is_outcome() && p.execution_arn.as_deref() == Some(e.arn.as_str()))
                .collect();
            let ids: BTreeSet<&str> = outcomes.iter().map(|p| p.id.as_str()).collect();
            let kinds: BTreeSet<String> = outcomes.iter().map(|p| format!("{:?}", p.kind)).collect();
            if ids.len() != 1 || kinds.len() != 1 {
                let ended = match &e.ended {
                    Some(Ended::Failed(f)) => {
                        format!("failed at {}: {}: {}", f.resume.state, f.error, f.cause)
                    }
                    other => format!("{:?}", other.as_ref().map(|_| "succeeded")),
                };
                self.violation(format!(
                    "{} published {} outcomes {kinds:?}; it {ended}",
                    e.arn,
                    ids.len()
                ));
            }
        }
    }

    /// Past every automatic hold, with the operator releasing what holds manually: every
    /// episode ends with the original tags back exactly.
    pub fn expire_everything(&self) {
        let far = self.sim.now() + time::Duration::days(2);
        self.sim.spawn({
            let sim = self.sim.clone();
            async move { sim.sleep((far - sim.now()).as_seconds_f64()).await }
        });
        self.run(200_000);
        let manual: Vec<String> = self
            .world
            .state()
            .items
            .values()
            .filter(|i| i.demands.iter().any(|d| d.until == Expiry::Manual))
            .map(|i| i.attachment.attachment_id.clone())
            .collect();
        for (n, id) in manual.iter().enumerate() {
            let attachment = self.world.state().items[id].attachment.clone();
            self.operator_release(0.0, &attachment, &format!("final-{n}"));
        }
        self.settle(12);
        let open: Vec<String> = self
            .world
            .state()
            .items
            .values()
            .filter(|i| i.open_episode().is_some())
            .map(|i| format!("{}: {:?}", i.attachment.attachment_id, i.demands))
            .collect();
        if !open.is_empty() {
            self.violation(format!("episodes still open after every hold passed: {open:?}"));
        }
        self.check_converged();
    }

    /// What happened, for a person replaying a failing seed (`CWQ_MODEL_TRACE=1`).
    pub fn trace(&self) {
        let s = self.world.state();
        println!("--- network calls");
        for (id, call) in &s.network_calls {
            println!("  {id}: {call}");
        }
        println!("--- audit");
        let mut audit = s.audit.clone();
        audit.sort_by_key(|e| e.at);
        for e in &audit {
            let exec = e
                .execution_arn
                .as_deref()
                .map_or("-", |a| a.rsplit(':').next().unwrap_or(a));
            println!(
                "  {} {} [{exec}] {}",
                e.at.time(),
                e.incident_id.get(28..34).unwrap_or(&e.incident_id),
                serde_json::to_string(&e.event).unwrap()
            );
        }
        println!("--- published");
        for p in &s.published {
            println!("  {} {:?} {} {}", p.at.time(), p.kind, p.id, p.reason);
        }
        println!("--- items");
        for item in s.items.values() {
            println!("  {}", serde_json::to_string(item).unwrap());
        }
        drop(s);
        println!("--- executions");
        for e in self.executions.lock().unwrap().iter() {
            let ended = match &e.ended {
                Some(Ended::Failed(f)) => format!("failed at {}: {}", f.resume.state, f.error),
                Some(Ended::Succeeded(_)) => "succeeded".into(),
                None => "running".into(),
            };
            println!(
                "  {} {ended} {}",
                e.arn.rsplit(':').next().unwrap(),
                e.input.to_string().chars().take(200).collect::<String>()
            );
        }
    }

    pub fn outcome_kinds(&self, arn_part: &str) -> Vec<EventKind> {
        self.world
            .state()
            .published
            .iter()
            .filter(|p| p.execution_arn.as_deref().is_some_and(|a| a.contains(arn_part)))
            .map(|p| p.kind)
            .collect()
    }
}

/// Starts executions of either state machine as tasks (cloneable into other tasks).
#[derive(Clone)]
pub struct Runner {
    sim: Sim,
    interpreter: Interpreter,
    quarantine: Arc<Value>,
    release: Arc<Value>,
    executions: Arc<Mutex<Vec<Execution>>>,
    world: Arc<World>,
}

impl Runner {
    /// Starts an execution of `machine` after `delay`; `from` resumes at a state (redrive).
    pub fn run_execution(
        &self,
        delay: f64,
        arn: String,
        machine: &'static str,
        input: Value,
        incident: Option<String>,
        from: Option<Resume>,
    ) {
        let definition = if machine == "quarantine" {
            self.quarantine.clone()
        } else {
            self.release.clone()
        };
        let this = self.clone();
        self.sim.spawn(async move {
            this.sim.sleep(delay).await;
            if from.is_none() {
                this.executions.lock().unwrap().push(Execution {
                    arn: arn.clone(),
                    machine,
                    input: input.clone(),
                    incident,
                    ended: None,
                });
            }
            this.world.set_running(&arn, true);
            let ended = match from {
                Some(from) => this.interpreter.redrive(&definition, &arn, from).await,
                None => this.interpreter.execute(&definition, &arn, input).await,
            };
            this.world.set_running(&arn, false);
            record_end(&this.executions, &arn, ended);
        });
    }
}

fn record_end(executions: &Mutex<Vec<Execution>>, arn: &str, ended: Ended) {
    let mut all = executions.lock().unwrap();
    if let Some(e) = all.iter_mut().rev().find(|e| e.arn == arn) {
        e.ended = Some(ended);
    }
}

/// Runs a future, a crash inside it ending it quietly (the sweep is a Lambda too).
struct CatchUnwind;

impl CatchUnwind {
    async fn run<F: std::future::Future>(future: F) -> Option<F::Output> {
        let mut future = Box::pin(future);
        std::future::poll_fn(move |cx| {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Some(v)),
                Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
                Err(_) => std::task::Poll::Ready(None),
            }
        })
        .await
    }
}

/// The invariants that hold after every step.
struct Checker {
    world: Arc<World>,
    executions: Arc<Mutex<Vec<Execution>>>,
    violations: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<BTreeMap<String, AttachmentItem>>>,
    episodes: Arc<Mutex<BTreeSet<(OffsetDateTime, String)>>>,
    policy: ResponsePolicy,
}

impl Checker {
    fn step(&self, now: OffsetDateTime) {
        let s = self.world.state();
        let mut violations = Vec::new();
        // A protected attachment is never tagged.
        if let Some((id, call)) = s.network_calls.iter().find(|(id, _)| id.ends_with("protected")) {
            violations.push(format!("protected {id} was changed: {call}"));
        }
        // The budget is never exceeded: counted from the episodes the items open, not from
        // the ledger the code keeps.
        let mut episodes = self.episodes.lock().unwrap();
        for item in s.items.values() {
            if let Some(e) = item.open_episode() {
                episodes.insert((e.started_at, item.attachment.attachment_id.clone()));
            }
        }
        if let Some(budget) = self.policy.budget {
            let window = time::Duration::try_from(budget.window).unwrap();
            for (at, _) in episodes.iter() {
                let inside = episodes
                    .iter()
                    .filter(|(o, _)| *o <= *at && *o > *at - window)
                    .count();
                if inside as u32 > budget.max_moves {
                    violations.push(format!(
                        "{inside} new episodes within {:?} of {at}",
                        budget.window
                    ));
                }
            }
        }
        drop(episodes);
        // Demands go only by name; the original is recorded once per episode.
        let mut seen = self.seen.lock().unwrap();
        let executions = self.executions.lock().unwrap();
        let requests: BTreeMap<String, ReleaseRequest> = s.release_requests.iter().cloned().collect();
        for (id, item) in &s.items {
            if let Some(before) = seen.get(id) {
                if let (Some(a), Some(b)) = (before.open_episode(), item.open_episode()) {
                    if a.started_at == b.started_at && a.original_value != b.original_value {
                        violations.push(format!("{id}: the original value changed within an episode"));
                    }
                }
                for gone in before.demands.iter().filter(|d| {
                    !item
                        .demands
                        .iter()
                        .any(|x| x.incident_id == d.incident_id && x.until == d.until)
                }) {
                    if item.demands.iter().any(|x| x.incident_id == gone.incident_id) {
                        continue; // the same incident's demand, replaced (a retried decision)
                    }
                    if let Some(why) = unnamed_removal(gone, item, &executions, &requests, now) {
                        violations.push(format!("{id}: demand of {} removed {why}", gone.incident_id));
                    }
                }
            }
            seen.insert(id.clone(), item.clone());
        }
        drop(s);
        if !violations.is_empty() {
            self.violations.lock().unwrap().extend(violations);
        }
    }
}

/// The request a release execution was started with.
fn request_of(
    by: &str,
    executions: &[Execution],
    requests: &BTreeMap<String, ReleaseRequest>,
) -> Option<ReleaseRequest> {
    requests.get(by).cloned().or_else(|| {
        executions
            .iter()
            .find(|e| e.arn == by && e.machine == "release")
            .and_then(|e| serde_json::from_value(e.input.clone()).ok())
    })
}

/// Why removing `gone` was not by its name, if it was not.
fn unnamed_removal(
    gone: &Demand,
    item: &AttachmentItem,
    executions: &[Execution],
    requests: &BTreeMap<String, ReleaseRequest>,
    now: OffsetDateTime,
) -> Option<String> {
    let Some(removal) = item.last_removal.as_ref().filter(|r| r.removed.contains(gone)) else {
        return Some("without a recorded removal".into());
    };
    let by = &removal.execution_arn;
    if let Some(request) = request_of(by, executions, requests) {
        let named = request.demands.contains(&gone.name());
        return match request.reason {
            ReleaseReason::Manual if named => None,
            ReleaseReason::Expired if named && gone.expired(now) => None,
            reason => Some(format!(
                "by {by}, which did not name it as removable ({reason:?})"
            )),
        };
    }
    let own = executions
        .iter()
        .any(|e| &e.arn == by && e.incident.as_deref() == Some(gone.incident_id.as_str()));
    (!own).then(|| format!("by {by}, which is neither a release naming it nor its own incident"))
}
