//! A GuardDuty finding event about a spoke's workload — its instance, an ECS task, an EKS
//! cluster, a Lambda function, or several spokes in an attack sequence — from one of the example
//! findings (examples/findings/*.json, real events' shape; fixtures/guardduty for the composed
//! kinds), as EventBridge delivers it.

use crate::{EstateError, FargateTask, Spoke};
use serde_json::{json, Value};
use std::path::Path;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Builds a finding event: `FindingEvent::example(path)?.on(&spoke).id("x").build()`.
#[derive(Debug, Clone)]
pub struct FindingEvent(Value);

impl FindingEvent {
    /// The example event in `path`, unchanged until a builder method says otherwise.
    pub fn example(path: &Path) -> Result<Self, EstateError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| EstateError::new(&name, e))?;
        let event = serde_json::from_str(&text).map_err(|e| EstateError::new(&name, e))?;
        Ok(Self(event))
    }

    /// An event already read (a fixture, or one a test built).
    pub fn from_value(event: Value) -> Self {
        Self(event)
    }

    /// About `spoke`'s instance in its VPC, account and Region.
    pub fn on(mut self, spoke: &Spoke) -> Self {
        self.0["region"] = json!(spoke.region);
        let detail = &mut self.0["detail"];
        detail["accountId"] = json!(spoke.account);
        detail["region"] = json!(spoke.region);
        let instance = &mut detail["resource"]["instanceDetails"];
        instance["instanceId"] = json!(spoke.instance_id);
        instance["networkInterfaces"][0]["vpcId"] = json!(spoke.vpc_id);
        self
    }

    /// In `spoke`'s account and Region (the finding's own, and the envelope's Region).
    fn in_account_of(mut self, spoke: &Spoke) -> Self {
        self.0["region"] = json!(spoke.region);
        self.0["detail"]["accountId"] = json!(spoke.account);
        self.0["detail"]["region"] = json!(spoke.region);
        self
    }

    /// An ECS finding (`ecsClusterDetails`) about `task`, running in `spoke`'s VPC.
    pub fn on_task(self, spoke: &Spoke, task: &FargateTask) -> Self {
        let mut event = self.in_account_of(spoke);
        let cluster = &mut event.0["detail"]["resource"]["ecsClusterDetails"];
        cluster["arn"] = json!(task.cluster_arn);
        cluster["name"] = json!(task.cluster_arn.rsplit('/').next().unwrap_or_default());
        cluster["taskDetails"]["arn"] = json!(task.task_arn);
        event
    }

    /// An EKS finding about `cluster` in `spoke`'s VPC, its node the spoke's instance. The
    /// cluster's `vpcId` is left out: cwq asks EKS.
    pub fn on_eks(self, spoke: &Spoke, cluster: &str) -> Self {
        let mut event = self.in_account_of(spoke);
        let resource = &mut event.0["detail"]["resource"];
        resource["eksClusterDetails"]["name"] = json!(cluster);
        if let Some(details) = resource["eksClusterDetails"].as_object_mut() {
            details.remove("vpcId");
        }
        resource["instanceDetails"]["instanceId"] = json!(spoke.instance_id);
        resource["instanceDetails"]["networkInterfaces"][0]["vpcId"] = json!(spoke.vpc_id);
        event
    }

    /// A Lambda finding about `function`, running in `spoke`'s VPC.
    pub fn on_lambda(self, spoke: &Spoke, function: &str) -> Self {
        let mut event = self.in_account_of(spoke);
        let lambda = &mut event.0["detail"]["resource"]["lambdaDetails"];
        lambda["functionName"] = json!(function);
        lambda["vpcConfig"]["vpcId"] = json!(spoke.vpc_id);
        lambda["vpcConfig"]["subnetIds"] = json!([spoke.subnet_id]);
        event
    }

    /// An attack sequence about `spokes`' instances, in order, each in its own account and
    /// Region: the example's instances and their interfaces take the spokes' ids (pairs beyond
    /// the spokes are dropped), and its VPC resource is the first spoke's.
    pub fn sequence(mut self, spokes: &[&Spoke]) -> Self {
        if let Some(first) = spokes.first() {
            self = self.in_account_of(first);
        }
        let resources = &mut self.0["detail"]["service"]["detection"]["sequence"]["resources"];
        let Some(list) = resources.as_array_mut() else {
            return self;
        };
        let (mut instances, mut interfaces) = (0, 0);
        list.retain_mut(|r| {
            let kind = r["resourceType"].as_str().unwrap_or_default().to_string();
            let spoke = match kind.as_str() {
                "EC2_INSTANCE" => spokes.get(post_increment(&mut instances)),
                "EC2_NETWORK_INTERFACE" => spokes.get(post_increment(&mut interfaces)),
                "EC2_VPC" => spokes.first(),
                _ => return true,
            };
            let Some(spoke) = spoke else { return false };
            r["accountId"] = json!(spoke.account);
            r["region"] = json!(spoke.region);
            let eni = format!("eni-{:0>17}", spoke.vpc_id.trim_start_matches("vpc-"));
            match kind.as_str() {
                "EC2_INSTANCE" => {
                    r["uid"] = json!(spoke.instance_id);
                    r["data"]["ec2Instance"]["ec2NetworkInterfaceUids"] = json!([eni]);
                }
                "EC2_NETWORK_INTERFACE" => {
                    r["uid"] = json!(eni);
                    r["data"]["ec2NetworkInterface"]["vpcId"] = json!(spoke.vpc_id);
                    r["data"]["ec2NetworkInterface"]["subNetId"] = json!(spoke.subnet_id);
                }
                _ => r["uid"] = json!(spoke.vpc_id),
            }
            true
        });
        self
    }

    /// The event's id `event-{id}` and the finding's id, `id` padded to GuardDuty's 32 characters.
    pub fn id(mut self, id: &str) -> Self {
        self.0["id"] = json!(format!("event-{id}"));
        self.0["detail"]["id"] = json!(format!("{id:0>32}"));
        self
    }

    pub fn severity(mut self, severity: f64) -> Self {
        self.0["detail"]["severity"] = json!(severity);
        self
    }

    pub fn finding_type(mut self, finding_type: &str) -> Self {
        self.0["detail"]["type"] = json!(finding_type);
        self
    }

    /// Delivered and last updated at `at`.
    pub fn at(mut self, at: OffsetDateTime) -> Self {
        let whole = at.replace_nanosecond(0).unwrap_or(at);
        let text = whole.format(&Rfc3339).unwrap_or_default();
        self.0["time"] = json!(text);
        self.0["detail"]["updatedAt"] = json!(text);
        self
    }

    /// The event; a finding ARN it carries names the finding's Region, account and id (as
    /// GuardDuty's does), whatever they were changed to.
    pub fn build(mut self) -> Value {
        let detail = &self.0["detail"];
        let arn = detail["arn"].as_str().and_then(|arn| {
            let detector = arn.split("detector/").nth(1)?.split('/').next()?;
            let (region, account, id) = (
                detail["region"].as_str()?,
                detail["accountId"].as_str()?,
                detail["id"].as_str()?,
            );
            Some(format!(
                "arn:aws:guardduty:{region}:{account}:detector/{detector}/finding/{id}"
            ))
        });
        if let Some(arn) = arn {
            self.0["detail"]["arn"] = json!(arn);
        }
        self.0
    }
}

fn post_increment(counter: &mut usize) -> usize {
    *counter += 1;
    *counter - 1
}
