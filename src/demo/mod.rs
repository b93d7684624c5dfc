//! `cwq demo`: the whole pipeline on the local cloud, as a newcomer's first five minutes.
//! It starts the local cloud, deploys template.yaml, builds a small estate with the real AWS
//! SDKs (a core network, three spoke VPCs with instances in two regions, in a workload
//! account reached through a role), delivers the two findings of the re:Inforce
//! demonstration as EventBridge would, and shows what cwq did: live progress, segments before
//! and after, the snapshots, the journal, then an expiry and its release; last, an attack
//! sequence across two accounts and Regions contained as one incident (`sequence`).

mod look;
mod sequence;

use crate::error::CliError;
use crate::local::{self, DeployArgs};
use crate::operator::print_table;
use crate::status::held_until;
use cwq_aws::journal::DynamoJournal;
use cwq_localcloud::admin::{AdminClient, AdminError};
use cwq_localcloud::deploy;
use cwq_testkit::{Estate, FindingEvent, WORKLOAD};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TABLE: &str = "cwq-journal";
/// How often the local scheduler runs the sweep.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// How long the emulated Cloud WAN takes to move an attachment (minutes in AWS), answering
/// ConflictException to a tag change meanwhile, as AWS does.
const TRANSITION_MS: u64 = 3000;

/// Run the whole pipeline on the local cloud and explain what happened.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Leave the local cloud running afterwards, to explore with `cwq status --local …`.
    #[arg(long)]
    keep: bool,
    /// The local cloud's port on 127.0.0.1 (default: a free one).
    #[arg(long)]
    port: Option<u16>,
    /// Where the local cloud keeps its state and logs (default: a new temporary directory).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// How long the Medium finding's quarantine lasts (4h in policy/default.toml).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    hold: Duration,
    /// Where the function binaries are (default: cargo's debug directory).
    #[arg(long)]
    binary_dir: Option<PathBuf>,
    /// Use the binaries as they are instead of running `cargo build` first.
    #[arg(long)]
    no_build: bool,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let repo = repo_root()?;
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("cwq-demo-{}", std::process::id())));
    let runtime = tokio::runtime::Runtime::new().map_err(CliError::failed)?;
    runtime.block_on(async {
        let result = Demo::run(&args, &repo, &state_dir).await;
        if args.keep {
            println!("\nThe local cloud keeps running (--keep). Look around, then stop it:");
            let dir = state_dir.display();
            println!("  cwq status --local --state-dir {dir} --all");
            println!("  eval \"$(cwq local env --state-dir {dir})\"; aws networkmanager list-attachments");
            println!("  cwq local down --state-dir {dir}");
            return result;
        }
        let stopped = local::stop(&state_dir).await;
        match &result {
            Ok(()) if args.state_dir.is_none() => {
                let _ = std::fs::remove_dir_all(&state_dir);
            }
            Ok(()) => {}
            Err(_) => eprintln!(
                "The local cloud is stopped; its logs are in {}",
                state_dir.join("logs").display()
            ),
        }
        result?;
        stopped?;
        println!("\nThe local cloud is stopped; nothing is left running.");
        Ok(())
    })
}

/// The repository (template.yaml, examples/): the current directory, else where cwq was built.
fn repo_root() -> Result<PathBuf, CliError> {
    let here = std::env::current_dir().map_err(CliError::failed)?;
    [here, PathBuf::from(env!("CARGO_MANIFEST_DIR"))]
        .into_iter()
        .find(|dir| dir.join("template.yaml").is_file() && dir.join("examples").is_dir())
        .ok_or_else(|| CliError::failed("run `cwq demo` from the cwq repository (template.yaml not found)"))
}

fn heading(text: &str) {
    println!("\n== {text}");
}

fn failed(what: &str) -> impl Fn(&dyn std::fmt::Display) -> CliError + '_ {
    move |e| CliError::failed(format!("{what}: {e}"))
}

/// An SDK error with its cause.
fn sdk<E: std::error::Error>(what: &str) -> impl Fn(E) -> CliError + '_ {
    move |e| CliError::failed(format!("{what}: {}", aws_sdk_sts::error::DisplayErrorContext(e)))
}

/// A spoke of the demo's estate, by the name the narration gives it.
#[derive(Debug, Clone)]
struct Spoke {
    name: &'static str,
    spoke: cwq_testkit::Spoke,
}

impl std::ops::Deref for Spoke {
    type Target = cwq_testkit::Spoke;
    fn deref(&self) -> &cwq_testkit::Spoke {
        &self.spoke
    }
}

/// Each spoke's (segment, value of cwq's tag).
type Placements = BTreeMap<&'static str, (String, String)>;

/// The required segment of a quarantined spoke's item and when its last demand ends.
fn held(item: Option<cwq_domain::lifecycle::AttachmentItem>) -> Result<(String, String), CliError> {
    let item = item.ok_or_else(|| CliError::failed("a quarantined spoke has no journal item"))?;
    let until = held_until(&item);
    Ok((item.required_segment.unwrap_or_default(), until))
}

struct Demo {
    admin: AdminClient,
    estate: Estate,
    journal: DynamoJournal,
    started: Instant,
}

impl Demo {
    /// The demonstration, one narrated step after another.
    async fn run(args: &Args, repo: &Path, state_dir: &Path) -> Result<(), CliError> {
        println!("cwq demo: GuardDuty reports two compromised EC2 instances in a Cloud WAN estate;");
        println!("cwq moves their VPCs into quarantine segments, proves it, keeps evidence, and lets go.");
        let mut demo = Demo::start(args.port, state_dir).await?;
        let core_network_id = demo.create_core_network(repo).await?;
        let deployment = demo.deploy(args, repo, state_dir, &core_network_id).await?;
        let spokes = demo.build_estate().await?;
        let before = demo.placements(&spokes).await?;
        let (payments, analytics) = (spokes[0].clone(), spokes[1].clone());
        demo.report_findings(repo, &deployment, &payments, &analytics)
            .await?;
        let after = demo.segments_before_and_after(&spokes, &before).await?;
        demo.evidence(&[&payments, &analytics]).await?;
        demo.show_journal(&[&payments, &analytics]).await?;
        demo.expiry(args.hold, &spokes, &before, &after).await?;
        demo.attack_sequence(repo, &deployment).await?;
        heading("Done");
        println!(
            "In {:.0} s: two VPCs contained and verified, their instances' volumes snapshotted, every step \
             journaled, and the expired quarantine released exactly (the owner's tags were never touched); \
             then an attack sequence across two accounts and Regions contained as one incident. payments, \
             web-east and web-west stay in blocked until an operator runs `cwq release` or an expiry passes.",
            demo.started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    async fn start(port: Option<u16>, state_dir: &Path) -> Result<Self, CliError> {
        heading("1. The local cloud (Cloud WAN emulator, Lambda host, moto) on 127.0.0.1");
        let port = match port {
            Some(port) => port,
            None => free_port()?,
        };
        let (endpoint, took) = local::start(state_dir, port).await?;
        println!("Up at {endpoint} in {:.1} s.", took.as_secs_f64());
        let admin = AdminClient::new(&endpoint);
        let cloud_wan_settings = |e: AdminError| failed("Cloud WAN settings")(&e);
        let mut settings = admin.cloudwan_settings().await.map_err(cloud_wan_settings)?;
        settings.transition_delay_ms = TRANSITION_MS;
        settings.conflict_during_transition = true;
        admin
            .set_cloudwan_settings(&settings)
            .await
            .map_err(cloud_wan_settings)?;
        let estate = Estate::connect(&endpoint).await.map_err(CliError::failed)?;
        let journal = DynamoJournal::new(aws_sdk_dynamodb::Client::new(&estate.owner), TABLE);
        Ok(Demo {
            admin,
            estate,
            journal,
            started: Instant::now(),
        })
    }

    async fn create_core_network(&mut self, repo: &Path) -> Result<String, CliError> {
        heading("2. A core network with the segments hub, inspected, onlyshared, blocked, shared");
        let document = std::fs::read_to_string(repo.join("examples/core-network-policy.json"))
            .map_err(|e| failed("examples/core-network-policy.json")(&e))?;
        let core_network_id = self
            .estate
            .create_core_network(&document)
            .await
            .map_err(CliError::failed)?;
        println!("{core_network_id}: policy examples/core-network-policy.json, whose rule 10 maps cwq's");
        println!("tag quarantine=<segment> to that segment ahead of the owners' `domain` tags (rule 100).");
        Ok(core_network_id)
    }

    /// template.yaml as `sam deploy` would, then the demo's response policy as `cwq policy apply`.
    async fn deploy(
        &self,
        args: &Args,
        repo: &Path,
        state_dir: &Path,
        core_network_id: &str,
    ) -> Result<deploy::Deployment, CliError> {
        heading("3. Deploy template.yaml: 6 Lambdas, 2 state machines, the journal, the rule, the sweep");
        let deployment = local::deploy_stack(
            state_dir,
            &DeployArgs {
                template: repo.join("template.yaml"),
                parameter_overrides: vec![
                    format!("CoreNetworkId={core_network_id}"),
                    "VerifyIntervalSeconds=1".into(),
                    "VerifyMaxIntervalSeconds=2".into(),
                ],
                stack_name: Some("cwq".into()),
                config_file: None,
                config_env: "default".into(),
                show_parameters: false,
                binary_dir: args.binary_dir.clone(),
                no_build: args.no_build,
                schedule_every: SWEEP_EVERY,
            },
        )
        .await?;
        println!(
            "Deployed {} resources; the GuardDuty rule starts cwq-quarantine; the sweep runs every {} s.",
            deployment.created.len(),
            SWEEP_EVERY.as_secs()
        );
        let policy = demo_policy(args.hold)?;
        println!(
            "cwq policy apply: policy/default.toml with Medium findings held {} instead of 4h, checked against",
            humantime::format_duration(args.hold)
        );
        println!("the live core network, then stored in the journal, where the Lambdas read it:");
        let deployed = self.deployed();
        let apply = crate::policy_check::Apply {
            text: &policy,
            source: "the demo's policy",
            core_network_id,
            quarantine_tag_key: "quarantine",
            accept_pending_tags: false,
            yes: true,
            output: crate::operator::Output::Text,
        };
        crate::policy_check::apply_policy(&deployed, &apply).await?;
        Ok(deployment)
    }

    async fn build_estate(&self) -> Result<Vec<Spoke>, CliError> {
        heading("4. The estate: three spoke VPCs with an instance each, in account 222222222222");
        let mut spokes = Vec::new();
        for (name, region, cidr, domain) in [
            ("payments", "us-east-1", "10.1.0.0/16", "hub"),
            ("analytics", "eu-west-1", "10.2.0.0/16", "hub"),
            ("tools", "us-east-1", "10.3.0.0/16", "shared"),
        ] {
            let tags = [("domain", domain), ("Name", name)];
            let spoke = self
                .estate
                .spoke(WORKLOAD, region, cidr, &tags)
                .await
                .map_err(CliError::failed)?;
            println!(
                "  {name:<10} {region:<10} {}  {}  {}  domain={domain}",
                spoke.vpc_id, spoke.instance_id, spoke.attachment_id
            );
            spokes.push(Spoke { name, spoke });
        }
        Ok(spokes)
    }

    /// The two findings delivered as EventBridge would, then Cloud WAN watched as it moves.
    async fn report_findings(
        &self,
        repo: &Path,
        deployment: &deploy::Deployment,
        payments: &Spoke,
        analytics: &Spoke,
    ) -> Result<(), CliError> {
        heading("5. GuardDuty reports two findings (the re:Inforce demonstration's)");
        let findings = [
            (
                "bitcoin-tool-high",
                payments,
                "CryptoCurrency:EC2/BitcoinTool.B!DNS, severity 8",
            ),
            (
                "malicious-ip-caller-medium",
                analytics,
                "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom, severity 5",
            ),
        ];
        let mut executions = Vec::new();
        for (i, (example, spoke, what)) in findings.iter().enumerate() {
            let event = finding_event(repo, example, spoke, i + 1)?;
            let started = deploy::inject(self.admin.endpoint(), deployment, &event)
                .await
                .map_err(|e| failed("inject")(&e))?;
            let execution = match started.into_iter().next() {
                Some(deploy::Delivery::Started { execution_arn, .. }) => execution_arn,
                Some(other) => {
                    return Err(CliError::failed(format!(
                        "the finding was not delivered: {other:?}"
                    )))
                }
                None => return Err(CliError::failed("the GuardDuty rule did not match the finding")),
            };
            println!(
                "  {what} on {} ({}) → {}",
                spoke.instance_id,
                spoke.name,
                short(&execution)
            );
            executions.push((spoke.name, execution));
        }
        println!("Watching Cloud WAN move the attachments:");
        self.watch(&[payments.clone(), analytics.clone()], &executions)
            .await
    }

    async fn segments_before_and_after(
        &self,
        spokes: &[Spoke],
        before: &Placements,
    ) -> Result<Placements, CliError> {
        heading("6. Segments before and after");
        let after = self.placements(spokes).await?;
        let rows: Vec<Vec<String>> = spokes
            .iter()
            .map(|s| {
                let (b, a) = (&before[s.name], &after[s.name]);
                let moved = if a.0 == b.0 { "unchanged" } else { "moved" };
                let (region, vpc) = (s.region.to_string(), s.vpc_id.clone());
                vec![
                    s.name.to_string(),
                    region,
                    vpc,
                    b.0.clone(),
                    a.0.clone(),
                    moved.into(),
                    a.1.clone(),
                ]
            })
            .collect();
        print_table(
            &["SPOKE", "REGION", "VPC", "BEFORE", "AFTER", "", "CWQ TAG"],
            &rows,
        );
        for (spoke, wanted) in [("payments", "blocked"), ("analytics", "inspected")] {
            if after[spoke].0 != wanted {
                return Err(CliError::failed(format!(
                    "{spoke} is in {}, not {wanted}",
                    after[spoke].0
                )));
            }
        }
        Ok(after)
    }

    async fn evidence(&self, spokes: &[&Spoke]) -> Result<(), CliError> {
        heading("7. Evidence: EBS snapshots of the instances' volumes, tagged with the incident");
        let mut rows = Vec::new();
        for spoke in spokes {
            for (id, volume, incident) in self.snapshots(spoke).await? {
                rows.push(vec![
                    spoke.name.to_string(),
                    spoke.region.to_string(),
                    id,
                    volume,
                    incident,
                ]);
            }
        }
        print_table(&["SPOKE", "REGION", "SNAPSHOT", "VOLUME", "INCIDENT"], &rows);
        Ok(())
    }

    async fn show_journal(&self, spokes: &[&Spoke]) -> Result<(), CliError> {
        heading("8. The journal (what `cwq show` prints)");
        for spoke in spokes {
            self.show(spoke, None).await?;
            println!();
        }
        println!("What `cwq status` prints:");
        self.status().await
    }

    /// The Medium quarantine's hold passes; the sweep's release puts the original tags back.
    async fn expiry(
        &self,
        hold: Duration,
        spokes: &[Spoke],
        before: &Placements,
        after: &Placements,
    ) -> Result<(), CliError> {
        heading("9. The Medium quarantine expires; the scheduled sweep releases it");
        let (payments, analytics) = (&spokes[0], &spokes[1]);
        let (segment, until) = held(self.item(analytics).await?)?;
        let (_, payments_until) = held(self.item(payments).await?)?;
        println!(
            "analytics is held in {segment} until {until}; payments stays in blocked until {payments_until}."
        );
        self.wait_for_release(analytics, hold + Duration::from_secs(180))
            .await?;
        let released = self.placements(spokes).await?;
        let rows: Vec<Vec<String>> = spokes
            .iter()
            .map(|s| {
                let now = &released[s.name];
                vec![
                    s.name.to_string(),
                    before[s.name].0.clone(),
                    after[s.name].0.clone(),
                    now.0.clone(),
                    now.1.clone(),
                ]
            })
            .collect();
        print_table(&["SPOKE", "BEFORE", "QUARANTINED", "NOW", "CWQ TAG"], &rows);
        if released["analytics"].0 != before["analytics"].0 || !released["analytics"].1.is_empty() {
            return Err(CliError::failed("analytics was not restored exactly"));
        }
        println!();
        self.show(analytics, Some("DemandsRemoved")).await
    }
}

fn free_port() -> Result<u16, CliError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(CliError::failed)?;
    Ok(listener.local_addr().map_err(CliError::failed)?.port())
}

fn short(arn: &str) -> &str {
    crate::operator::short_arn(arn)
}

/// policy/default.toml with the Medium band held `hold`, so that the demo sees an expiry.
fn demo_policy(hold: Duration) -> Result<String, CliError> {
    const DEFAULT: &str = include_str!("../../policy/default.toml");
    let mut policy: toml::Table = toml::from_str(DEFAULT).map_err(CliError::failed)?;
    let bands = policy
        .get_mut("bands")
        .and_then(toml::Value::as_array_mut)
        .ok_or_else(|| CliError::failed("policy/default.toml has no bands"))?;
    for band in bands.iter_mut().filter_map(toml::Value::as_table_mut) {
        if band.get("name").and_then(toml::Value::as_str) == Some("Medium") {
            let text = humantime::format_duration(hold).to_string().replace(' ', "");
            band.insert("duration".into(), toml::Value::String(text));
        }
    }
    let text = toml::to_string(&policy).map_err(CliError::failed)?;
    cwq_domain::response_policy::ResponsePolicy::from_toml(&text)
        .map_err(|e| CliError::invalid(format!("--hold {}: {e}", humantime::format_duration(hold))))?;
    Ok(text)
}

/// A GuardDuty event for the spoke's instance, from one of the example findings, found now.
fn finding_event(repo: &Path, example: &str, spoke: &Spoke, n: usize) -> Result<Value, CliError> {
    let path = repo.join(format!("examples/findings/{example}.json"));
    let event = FindingEvent::example(&path).map_err(CliError::failed)?;
    let event = event
        .on(spoke)
        .id(&n.to_string())
        .at(time::OffsetDateTime::now_utc());
    Ok(event.build())
}
