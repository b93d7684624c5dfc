//! What the demo looks at while and after cwq acts: the attachments as Cloud WAN reports them,
//! the executions, the snapshots and the journal, printed as an operator would see them.

use super::{failed, sdk, Demo, Placements, Spoke};
use crate::error::CliError;
use crate::operator::Deployed;
use crate::status::print_items;
use cwq_domain::lifecycle::Status;
use cwq_pipeline::ports::Journal;
use cwq_testkit::WORKLOAD;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

impl Demo {
    /// (state, segment — or the one a tag change proposes —, cwq's tag) of a spoke's attachment.
    pub(super) async fn attachment(&self, spoke: &Spoke) -> Result<(String, String, String), CliError> {
        let now = self
            .estate
            .attachment(&spoke.attachment_id)
            .await
            .map_err(CliError::failed)?;
        let segment = now.segment.clone().or(now.proposed_segment.clone());
        let tag = now.tag("quarantine").map(|v| format!("quarantine={v}"));
        Ok((
            now.state,
            segment.unwrap_or("(none)".into()),
            tag.unwrap_or_default(),
        ))
    }

    pub(super) fn deployed(&self) -> Deployed {
        Deployed {
            sdk: self.estate.owner.clone(),
            stack: "cwq".into(),
        }
    }

    /// spoke name → (segment, cwq tag).
    pub(super) async fn placements(&self, spokes: &[Spoke]) -> Result<Placements, CliError> {
        let mut all = BTreeMap::new();
        for spoke in spokes {
            let (_, segment, tag) = self.attachment(spoke).await?;
            all.insert(spoke.name, (segment, tag));
        }
        Ok(all)
    }

    /// Prints each change of the attachments' state and of the executions until both end.
    pub(super) async fn watch(
        &self,
        spokes: &[Spoke],
        executions: &[(&str, String)],
    ) -> Result<(), CliError> {
        let sfn = aws_sdk_sfn::Client::new(&self.estate.owner);
        let started = Instant::now();
        let mut last: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let mut lines = Vec::new();
            for spoke in spokes {
                let (state, segment, _) = self.attachment(spoke).await?;
                lines.push((
                    spoke.name.to_string(),
                    format!("attachment {state:<23} segment {segment}"),
                ));
            }
            let mut running = 0;
            for (name, arn) in executions {
                let d = sfn
                    .describe_execution()
                    .execution_arn(arn)
                    .send()
                    .await
                    .map_err(sdk("DescribeExecution"))?;
                let status = d.status().as_str().to_string();
                if status == "RUNNING" {
                    running += 1;
                }
                let mut line = format!("execution  {status}");
                if let Some(error) = d.error() {
                    line.push_str(&format!(" {error}: {}", d.cause().unwrap_or_default()));
                }
                lines.push((format!("{name} "), line));
            }
            for (key, line) in lines {
                if last.get(&key) != Some(&line) {
                    println!(
                        "  {:>5.1} s  {:<10} {line}",
                        started.elapsed().as_secs_f64(),
                        key.trim()
                    );
                    last.insert(key, line);
                }
            }
            if running == 0 {
                break;
            }
            if started.elapsed() > Duration::from_secs(180) {
                return Err(CliError::failed(
                    "the quarantine executions did not end within 3 minutes",
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if last
            .values()
            .any(|line| line.starts_with("execution") && !line.contains("SUCCEEDED"))
        {
            return Err(CliError::failed("a quarantine execution did not succeed"));
        }
        Ok(())
    }

    pub(super) async fn snapshots(&self, spoke: &Spoke) -> Result<Vec<(String, String, String)>, CliError> {
        let described = self
            .estate
            .ec2(WORKLOAD, &spoke.region)
            .describe_snapshots()
            .owner_ids("self")
            .send()
            .await
            .map_err(sdk("DescribeSnapshots"))?;
        Ok(described
            .snapshots()
            .iter()
            .filter(|s| {
                s.tags()
                    .iter()
                    .any(|t| t.key() == Some("cwq:instance") && t.value() == Some(spoke.instance_id.as_str()))
            })
            .map(|s| {
                let incident = s
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some("cwq:incident"))
                    .and_then(|t| t.value())
                    .unwrap_or_default();
                (
                    s.snapshot_id().unwrap_or_default().to_string(),
                    s.volume_id().unwrap_or_default().to_string(),
                    incident.to_string(),
                )
            })
            .collect())
    }

    pub(super) async fn item(
        &self,
        spoke: &Spoke,
    ) -> Result<Option<cwq_domain::lifecycle::AttachmentItem>, CliError> {
        self.journal
            .item(&spoke.attachment_id)
            .await
            .map_err(|e| failed("journal")(&e))
    }

    /// What `cwq show` prints for the spoke (its incidents' timelines from step `from` on).
    pub(super) async fn show(&self, spoke: &Spoke, from: Option<&str>) -> Result<(), CliError> {
        let deployed = self.deployed();
        let mut shown = crate::show::gather(&deployed, &spoke.attachment_id).await?;
        if let Some(step) = from {
            for (_, trail, _) in &mut shown.incidents {
                let first = trail.iter().position(|e| e.event.name() == step).unwrap_or(0);
                trail.drain(..first);
            }
        }
        println!("$ cwq show {} --local   # {}", spoke.vpc_id, spoke.name);
        crate::show::print(&shown);
        Ok(())
    }

    pub(super) async fn status(&self) -> Result<(), CliError> {
        let mut items = self
            .journal
            .all_items()
            .await
            .map_err(|e| failed("journal")(&e))?;
        items.sort_by_key(|i| i.changed_at);
        println!("$ cwq status --local");
        print_items(&items);
        Ok(())
    }

    pub(super) async fn wait_for_release(&self, spoke: &Spoke, timeout: Duration) -> Result<(), CliError> {
        let started = Instant::now();
        let mut last = String::new();
        loop {
            let item = self.item(spoke).await?;
            let status = item.as_ref().map(|i| i.status().to_string()).unwrap_or_default();
            let (state, segment, _) = self.attachment(spoke).await?;
            let line = format!("journal {status:<12} attachment {state:<23} segment {segment}");
            if line != last {
                println!(
                    "  {:>5.1} s  {:<10} {line}",
                    started.elapsed().as_secs_f64(),
                    spoke.name
                );
                last = line;
            }
            if item.is_some_and(|i| i.status() == Status::Released) && state == "AVAILABLE" {
                return Ok(());
            }
            if started.elapsed() > timeout {
                return Err(CliError::failed(format!(
                    "{} was not released within {}",
                    spoke.name,
                    humantime::format_duration(timeout)
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
