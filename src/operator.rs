//! What the operator verbs share: where cwq runs (AWS or the local cloud) and its deployed
//! names, finding what a VPC / attachment / incident argument names in the journal,
//! confirmation of changes, and a progress line while an execution runs.

use crate::error::CliError;
use aws_config::BehaviorVersion;
use cwq_aws::journal::DynamoJournal;
use cwq_domain::lifecycle::AttachmentItem;
use cwq_pipeline::ports::Journal;
use cwq_pipeline::PortError;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where cwq is deployed. Without `--local` the AWS SDK's default chain decides (environment,
/// `--profile`, SSO, instance role), and `AWS_ENDPOINT_URL` is honoured.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// A named profile from the AWS config files.
    #[arg(long)]
    pub profile: Option<String>,
    /// The region cwq is deployed in (default: the profile's or AWS_REGION).
    #[arg(long)]
    pub region: Option<String>,
    /// Talk to the local cloud started by `cwq local up` instead of AWS.
    #[arg(long)]
    pub local: bool,
    /// The local cloud's state directory (with --local).
    #[arg(long, requires = "local")]
    pub state_dir: Option<PathBuf>,
    /// The stack name cwq was deployed as: the journal is STACK-journal, the state machines
    /// STACK-quarantine and STACK-release.
    #[arg(long, default_value = "cwq")]
    pub stack: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// The SDK pointed at the running local cloud: its endpoint, Region and account. With
/// `--profile`, the profile's credentials (e.g. a role assumed in the local cloud: another
/// principal, for approvals); else the local account's own.
#[cfg(feature = "local")]
fn local_cloud(
    loader: aws_config::ConfigLoader,
    state_dir: Option<PathBuf>,
    profile: bool,
) -> Result<aws_config::ConfigLoader, CliError> {
    let state_dir = state_dir.unwrap_or_else(crate::local::default_state_dir);
    let state = crate::local::require_running(&state_dir)?;
    let account = cwq_localcloud::gateway::DEFAULT_ACCOUNT;
    let loader = loader
        .endpoint_url(state.endpoint_url())
        .region(aws_config::Region::new(cwq_localcloud::gateway::DEFAULT_REGION));
    if profile {
        return Ok(loader);
    }
    Ok(loader.credentials_provider(aws_sdk_sts::config::Credentials::new(
        account,
        "cwq-local",
        None,
        None,
        "cwq-local",
    )))
}

#[cfg(not(feature = "local"))]
fn local_cloud(
    _: aws_config::ConfigLoader,
    _: Option<PathBuf>,
    _: bool,
) -> Result<aws_config::ConfigLoader, CliError> {
    Err(CliError::invalid(
        "--local: this cwq was built without the local cloud (cargo feature `local`)",
    ))
}

/// The deployed cwq: SDK configuration and the stack's names.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub sdk: aws_config::SdkConfig,
    pub stack: String,
}

impl Deployed {
    pub async fn connect(connection: &Connection) -> Result<Self, CliError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &connection.profile {
            loader = loader.profile_name(profile);
        }
        if connection.local {
            loader = local_cloud(loader, connection.state_dir.clone(), connection.profile.is_some())?;
        }
        if let Some(region) = &connection.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(CliError::invalid(
                "no AWS region: give --region, set AWS_REGION, or use a profile that has one",
            ));
        }
        Ok(Self {
            sdk,
            stack: connection.stack.clone(),
        })
    }

    pub fn journal(&self) -> DynamoJournal {
        DynamoJournal::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            format!("{}-journal", self.stack),
        )
    }

    pub fn step_functions(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(&self.sdk)
    }

    /// Who is calling: (account, principal ARN). Also the first proof the credentials work.
    pub async fn caller(&self) -> Result<(String, String), CliError> {
        let identity = aws_sdk_sts::Client::new(&self.sdk)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| sdk_failed("sts GetCallerIdentity", e))?;
        Ok((
            identity.account().unwrap_or_default().to_string(),
            identity.arn().unwrap_or_default().to_string(),
        ))
    }

    /// The ARN of the stack's `quarantine` or `release` state machine in the caller's account
    /// and partition (`aws`, `aws-us-gov`, `aws-cn`: read from the caller's ARN).
    pub fn state_machine_arn(&self, caller_arn: &str, account: &str, which: &str) -> String {
        let region = self.sdk.region().map(ToString::to_string).unwrap_or_default();
        let partition = caller_arn
            .split(':')
            .nth(1)
            .filter(|p| !p.is_empty())
            .unwrap_or("aws");
        format!(
            "arn:{partition}:states:{region}:{account}:stateMachine:{}-{which}",
            self.stack
        )
    }
}

/// An SDK error as one line with its cause, for exit code 1.
pub fn sdk_failed<E>(what: &str, error: E) -> CliError
where
    E: std::error::Error,
{
    CliError::failed(format!(
        "{what}: {}",
        aws_sdk_sts::error::DisplayErrorContext(error)
    ))
}

/// A journal error: the stack's table missing is the usual cause, so say which table.
pub fn journal_failed(deployed: &Deployed, error: PortError) -> CliError {
    CliError::failed(format!(
        "reading the journal {}-journal: {error} (is cwq deployed as stack `{}` in this account and region?)",
        deployed.stack, deployed.stack
    ))
}

/// What a VPC, attachment or incident argument names.
#[derive(Debug, Clone)]
pub enum Subject {
    Attachment(Box<AttachmentItem>),
    Incident(String),
}

/// Finds `what` in the journal: `vpc-…` (its most recent record), `attachment-…`, or an
/// incident id.
pub async fn find(deployed: &Deployed, what: &str) -> Result<Subject, CliError> {
    let journal = deployed.journal();
    let fail = |e| journal_failed(deployed, e);
    if what.starts_with("vpc-") {
        let mut items: Vec<AttachmentItem> = journal
            .all_items()
            .await
            .map_err(fail)?
            .into_iter()
            .filter(|i| i.attachment.vpc_id == what)
            .collect();
        items.sort_by_key(|i| i.changed_at);
        return items
            .pop()
            .map(|r| Subject::Attachment(Box::new(r)))
            .ok_or_else(|| CliError::refused(format!("cwq has no record of {what}")));
    }
    if what.starts_with("attachment-") {
        return journal
            .item(what)
            .await
            .map_err(fail)?
            .map(|r| Subject::Attachment(Box::new(r)))
            .ok_or_else(|| CliError::refused(format!("cwq has no record of {what}")));
    }
    if what.trim().is_empty() || what.contains(char::is_whitespace) {
        return Err(CliError::invalid(format!(
            "{what:?} is not a VPC id, an attachment id or an incident id"
        )));
    }
    let trail = journal.trail(what).await.map_err(fail)?;
    if trail.is_empty() {
        return Err(CliError::refused(format!(
            "cwq has no record of {what} (expected vpc-…, attachment-… or an incident id)"
        )));
    }
    Ok(Subject::Incident(what.to_string()))
}

/// The attachment `what` names (a VPC or an attachment); an incident is refused.
pub async fn find_attachment(deployed: &Deployed, what: &str) -> Result<AttachmentItem, CliError> {
    match find(deployed, what).await? {
        Subject::Attachment(record) => Ok(*record),
        Subject::Incident(_) => Err(CliError::invalid(format!(
            "{what} is an incident; name its VPC or attachment"
        ))),
    }
}

/// A change needs `--yes`, or a "y" typed at a terminal.
pub fn confirm(yes: bool, question: &str) -> Result<(), CliError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::invalid(format!(
            "{question} — refusing without --yes, because standard input is not a terminal"
        )));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(CliError::failed)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(CliError::failed("cancelled; nothing was changed"))
    }
}

/// One status line on standard error: rewritten in place at a terminal, else printed when it
/// changes (so logs of CI runs stay readable).
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    terminal: bool,
    last: String,
    frame: usize,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            terminal: std::io::stderr().is_terminal(),
            last: String::new(),
            frame: 0,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn update(&mut self, message: &str) {
        const SPINNER: [char; 4] = ['|', '/', '-', '\\'];
        let seconds = self.started.elapsed().as_secs_f64();
        if self.terminal {
            self.frame += 1;
            eprint!("\r\x1b[2K{} {message} ({seconds:.1} s)", SPINNER[self.frame % 4]);
            let _ = std::io::stderr().flush();
        } else if message != self.last {
            eprintln!("  [{seconds:5.1} s] {message}");
        }
        self.last = message.to_string();
    }

    pub fn finish(&mut self) {
        if self.terminal && !self.last.is_empty() {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
        }
    }
}

/// The end of a Step Functions execution: (status, output, error, cause).
#[derive(Debug, Clone)]
pub struct Ended {
    pub status: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// Polls an execution until it ends, describing progress with `describe(status)`.
pub async fn wait_for_execution(
    deployed: &Deployed,
    execution_arn: &str,
    timeout: Duration,
    progress: &mut Progress,
    what: &str,
) -> Result<Ended, CliError> {
    let sfn = deployed.step_functions();
    loop {
        let d = sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| sdk_failed("states DescribeExecution", e))?;
        let status = d.status().as_str().to_string();
        if status != "RUNNING" {
            progress.finish();
            return Ok(Ended {
                status,
                output: d.output().map(str::to_string),
                error: d.error().map(str::to_string),
                cause: d.cause().map(str::to_string),
            });
        }
        if progress.elapsed() > timeout {
            progress.finish();
            return Err(CliError::failed(format!(
                "{execution_arn} is still running after {}; follow it in the Step Functions console",
                humantime::format_duration(timeout)
            )));
        }
        progress.update(&format!("{what}: RUNNING"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Text from an event or the journal as it is safe to print: control characters (a
/// terminal's escape sequences, a right-to-left override) are shown escaped, never obeyed.
/// Some finding fields are chosen by an attacker.
pub fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let hidden = c.is_control()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            let shown: Vec<char> = if hidden {
                c.escape_unicode().collect()
            } else {
                vec![c]
            };
            shown
        })
        .collect()
}

/// A time as `2026-11-29 17:40:01Z`.
pub fn time_text(at: time::OffsetDateTime) -> String {
    short_time(
        &at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    )
}

/// The last part of an ARN (an execution's name), for tables.
pub fn short_arn(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// Prints rows under headers, each column as wide as its widest cell.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A time as `2026-11-29 17:40:01Z` (whole seconds), for tables.
pub fn short_time(rfc3339: &str) -> String {
    let trimmed = rfc3339.split('.').next().unwrap_or(rfc3339).replace('T', " ");
    if trimmed.ends_with('Z') || rfc3339.len() == trimmed.len() {
        trimmed
    } else {
        format!("{trimmed}Z")
    }
}
