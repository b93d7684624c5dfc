//! The demo's last act: one GuardDuty attack sequence naming instances in two accounts and two
//! Regions, contained as one incident.

use super::{failed, heading, short, Demo, Spoke};
use crate::error::CliError;
use cwq_localcloud::deploy;
use cwq_testkit::{FindingEvent, OTHER_WORKLOAD, WORKLOAD};
use std::path::Path;

impl Demo {
    /// One GuardDuty attack sequence naming instances in two accounts and two Regions: one
    /// incident, one decision, two verified moves, one outcome naming both.
    pub(super) async fn attack_sequence(
        &self,
        repo: &Path,
        deployment: &deploy::Deployment,
    ) -> Result<(), CliError> {
        heading("10. An attack sequence across two accounts and two Regions: one incident");
        let mut spokes = Vec::new();
        for (name, account, region, cidr) in [
            ("web-east", WORKLOAD, "us-east-1", "10.4.0.0/16"),
            ("web-west", OTHER_WORKLOAD, "eu-west-1", "10.5.0.0/16"),
        ] {
            let tags = [("domain", "hub"), ("Name", name)];
            let spoke = self
                .estate
                .spoke(account, region, cidr, &tags)
                .await
                .map_err(CliError::failed)?;
            println!(
                "  {name:<10} {account} {region:<10} {}  {}",
                spoke.vpc_id, spoke.attachment_id
            );
            spokes.push(Spoke { name, spoke });
        }
        let path = repo.join("fixtures/guardduty/composed-attacksequence-ec2-compromisedinstancegroup.json");
        let event = FindingEvent::example(&path)
            .map_err(CliError::failed)?
            .sequence(&[&spokes[0], &spokes[1]])
            .id("3")
            .at(time::OffsetDateTime::now_utc())
            .build();
        let started = deploy::inject(self.admin.endpoint(), deployment, &event)
            .await
            .map_err(|e| failed("inject")(&e))?;
        let Some(deploy::Delivery::Started { execution_arn, .. }) = started.into_iter().next() else {
            return Err(CliError::failed(
                "the GuardDuty rule did not deliver the attack sequence",
            ));
        };
        println!(
            "  AttackSequence:EC2/CompromisedInstanceGroup, severity 9.2, naming {} and {} → {}",
            spokes[0].instance_id,
            spokes[1].instance_id,
            short(&execution_arn)
        );
        println!("Watching Cloud WAN move both attachments (one execution):");
        self.watch(&spokes, &[("sequence", execution_arn)]).await?;
        for spoke in &spokes {
            let (_, segment, _) = self.attachment(spoke).await?;
            if segment != "blocked" {
                return Err(CliError::failed(format!(
                    "{} is in {segment}, not blocked",
                    spoke.name
                )));
            }
        }
        println!();
        self.show(&spokes[0], None).await
    }
}
