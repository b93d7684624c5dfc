//! The fake EC2 (the workloads and their snapshots), Organizations, EventBridge and Step
//! Functions.

use super::*;

#[async_trait]
impl Organizations for World {
    async fn ancestry(&self, account: &str) -> Result<Vec<String>, PortError> {
        let call = self.enter("organizations", "ListParents", false).await?;
        let ous = self.state().ous.get(account).cloned().unwrap_or_default();
        self.leave(call);
        Ok(ous)
    }
}

#[async_trait]
impl Workloads for World {
    async fn vpcs_of(&self, workload: &Workload) -> Result<Vec<String>, PortError> {
        let id = match &workload.target {
            Target::Instance { instance_id, .. } => instance_id,
            Target::NetworkInterface { eni_id, .. } => eni_id,
            Target::EcsTask { task_arn, .. } => task_arn,
            Target::EksCluster { name, .. } => name,
            other => return Ok(other.known_vpcs().into_iter().map(str::to_string).collect()),
        };
        let call = self.enter("ec2", "DescribeNetworkInterfaces", false).await?;
        let vpcs = self
            .state()
            .instances
            .get(id.as_str())
            .map(|(_, _, vpcs)| vpcs.clone())
            .ok_or_else(|| PortError::NotFound(format!("{}", workload.target)));
        self.leave(call);
        vpcs
    }

    async fn find_snapshots(
        &self,
        _account: &str,
        _region: &str,
        description: &str,
        incident_id: &str,
    ) -> Result<Vec<String>, PortError> {
        let call = self.enter("ec2", "DescribeSnapshots", false).await?;
        let ids = self
            .state()
            .snapshots_taken
            .iter()
            .filter(|(_, r)| {
                r.description == description
                    && r.tags.get("cwq:incident").map(String::as_str) == Some(incident_id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        self.leave(call);
        Ok(ids)
    }

    async fn create_snapshots(
        &self,
        _account: &str,
        _region: &str,
        request: &SnapshotRequest,
    ) -> Result<Vec<String>, PortError> {
        let call = self.enter("ec2", "CreateSnapshots", true).await?;
        let ids = {
            let mut s = self.state();
            if let Some(error) = s.snapshot_failure.clone() {
                return Err(error);
            }
            let id = format!("snap-{:08x}", s.snapshots_taken.len() + 1);
            s.snapshots_taken.push((id.clone(), request.clone()));
            vec![id]
        };
        self.leave(call);
        Ok(ids)
    }
}

#[async_trait]
impl Events for World {
    async fn publish(&self, event: &OutcomeEvent) -> Result<(), PortError> {
        let call = self.enter("events", "PutEvents", true).await?;
        self.state().published.push(event.clone());
        self.leave(call);
        Ok(())
    }
}

#[async_trait]
impl Executions for World {
    async fn start_release(&self, name: &str, request: &ReleaseRequest) -> Result<Started, PortError> {
        let call = self.enter("states", "StartExecution", true).await?;
        let arn = self.release_arn(name);
        let new = {
            let mut s = self.state();
            let new = !s.executions.contains_key(&arn);
            if new {
                s.executions.insert(arn.clone(), true);
                s.release_requests.push((arn.clone(), request.clone()));
            }
            new
        };
        if new {
            let launcher = lock(&self.launcher).clone();
            if let Some(launch) = launcher {
                launch(arn.clone(), request.clone());
            }
        }
        self.leave(call);
        Ok(if new {
            Started::New(arn)
        } else {
            Started::Exists(arn)
        })
    }

    async fn is_running(&self, execution_arn: &str) -> Result<bool, PortError> {
        let call = self.enter("states", "DescribeExecution", false).await?;
        let running = self
            .state()
            .executions
            .get(execution_arn)
            .copied()
            .unwrap_or(false);
        self.leave(call);
        Ok(running)
    }

    async fn answer_task(&self, token: &str, output: &str) -> Result<bool, PortError> {
        let call = self.enter("states", "SendTaskSuccess", true).await?;
        self.state()
            .answered_tasks
            .push((token.to_string(), output.to_string()));
        self.leave(call);
        Ok(true)
    }
}

#[async_trait]
impl SecurityHub for World {
    async fn note_findings(
        &self,
        region: &str,
        finding_arns: &[String],
        note: &str,
        workflow: Option<&str>,
    ) -> Result<Vec<String>, PortError> {
        let call = self.enter("securityhub", "BatchUpdateFindings", true).await?;
        let mut s = self.state();
        for arn in finding_arns {
            let status = workflow.map(str::to_string);
            s.security_hub_notes
                .push((region.to_string(), arn.clone(), note.to_string(), status));
        }
        drop(s);
        self.leave(call);
        Ok(Vec::new())
    }
}
