//! From the finding's `resource` (and, for an attack sequence, its `service.detection.sequence`)
//! to the [`Workload`]s it names. Each kind has its own reader; every id is checked, and a
//! GuardDuty placeholder (`GeneratedFinding…`) marks the finding a sample instead.

use super::ids::{is_account_id, is_aws_id};
use super::raw::{RawInstance, RawNetworkInterface, RawResource, RawResourceV2, RawService};
use super::workload::{ResourceKind, Target, Workload};
use super::FindingError;
use serde_json::Value;
use std::collections::BTreeMap;

pub(super) const PLACEHOLDER_PREFIX: &str = "GeneratedFinding";

/// Where the finding itself says it is: the default for every resource it names.
pub(super) struct Home<'a> {
    pub(super) id: &'a str,
    pub(super) finding_type: &'a str,
    pub(super) account: &'a str,
    pub(super) region: &'a str,
}

/// The workloads, and whether a placeholder id marked the finding a sample.
pub(super) struct Named {
    pub(super) workloads: Vec<Workload>,
    pub(super) placeholder: bool,
}

impl Named {
    fn push(&mut self, account: &str, region: &str, target: Target) {
        let workload = Workload {
            account: account.to_string(),
            region: region.to_string(),
            target,
        };
        if !self.workloads.contains(&workload) {
            self.workloads.push(workload);
        }
    }

    /// A VPC-like id: checked, unless it is a placeholder (then the finding is a sample).
    fn id(&mut self, value: String, prefix: &str, path: &str) -> Result<String, FindingError> {
        if value.starts_with(PLACEHOLDER_PREFIX) {
            self.placeholder = true;
        } else if !is_aws_id(&value, prefix) {
            return Err(FindingError::InvalidResourceId {
                path: path.to_string(),
                value,
            });
        }
        Ok(value)
    }
}

/// The kind of resource the finding is about; any other is [`FindingError::NotAWorkload`].
pub(super) fn kind_of(resource: &RawResource, home: &Home<'_>) -> Result<ResourceKind, FindingError> {
    let resource_type = resource
        .resource_type
        .as_deref()
        .ok_or(FindingError::MissingField("resource.resourceType"))?;
    ResourceKind::from_name(resource_type).ok_or_else(|| FindingError::NotAWorkload {
        id: home.id.to_string(),
        finding_type: home.finding_type.to_string(),
        resource_type: resource_type.to_string(),
    })
}

pub(super) fn workloads(
    kind: ResourceKind,
    resource: RawResource,
    service: &mut RawService,
    home: &Home<'_>,
) -> Result<Named, FindingError> {
    let mut named = Named {
        workloads: Vec::new(),
        placeholder: false,
    };
    match kind {
        ResourceKind::Instance => {
            let instance = resource
                .instance_details
                .ok_or(FindingError::MissingField("resource.instanceDetails"))?;
            instance_of(instance, home, &mut named)?;
        }
        ResourceKind::EksCluster => eks(resource, home, &mut named)?,
        ResourceKind::EcsCluster => ecs(resource, home, &mut named)?,
        ResourceKind::Lambda => lambda(resource, home, &mut named)?,
        ResourceKind::AttackSequence => sequence(service, home, &mut named)?,
    }
    if !named.workloads.iter().any(|w| w.target.is_networked()) {
        return Err(FindingError::NoWorkloadInAVpc {
            id: home.id.to_string(),
            finding_type: home.finding_type.to_string(),
            why: nothing_networked(kind, &named.workloads),
        });
    }
    Ok(named)
}

fn nothing_networked(kind: ResourceKind, workloads: &[Workload]) -> String {
    match kind {
        ResourceKind::Lambda => {
            "the Lambda function runs in no VPC (no lambdaDetails.vpcConfig.vpcId)".into()
        }
        ResourceKind::EcsCluster => "it names no task and no container instance of the cluster".into(),
        _ if workloads.is_empty() => "it names no resource".into(),
        _ => {
            let kinds: Vec<String> = workloads.iter().map(|w| w.target.to_string()).collect();
            format!("none of its resources is in a VPC ({})", kinds.join(", "))
        }
    }
}

/// The classic `instanceDetails`: the instance and its interfaces' VPCs.
fn instance_of(instance: RawInstance, home: &Home<'_>, named: &mut Named) -> Result<(), FindingError> {
    let instance_id = instance
        .instance_id
        .ok_or(FindingError::MissingField("resource.instanceDetails.instanceId"))?;
    if !is_aws_id(&instance_id, "i-") {
        return Err(FindingError::InvalidInstanceId(instance_id));
    }
    let vpc_ids = vpcs_of(instance.network_interfaces, named)?;
    named.push(
        home.account,
        home.region,
        Target::Instance { instance_id, vpc_ids },
    );
    Ok(())
}

/// Every interface's VPC, first-seen order, no duplicates.
fn vpcs_of(
    interfaces: Option<Vec<RawNetworkInterface>>,
    named: &mut Named,
) -> Result<Vec<String>, FindingError> {
    let mut vpc_ids: Vec<String> = Vec::new();
    for (index, eni) in interfaces.into_iter().flatten().enumerate() {
        let Some(vpc_id) = eni.vpc_id else { continue };
        if vpc_id.starts_with(PLACEHOLDER_PREFIX) {
            named.placeholder = true;
        } else if !is_aws_id(&vpc_id, "vpc-") {
            return Err(FindingError::InvalidVpcId { index, value: vpc_id });
        }
        if !vpc_ids.contains(&vpc_id) {
            vpc_ids.push(vpc_id);
        }
    }
    Ok(vpc_ids)
}

/// An EKS finding: the cluster's VPC, and the node when the finding names one.
fn eks(resource: RawResource, home: &Home<'_>, named: &mut Named) -> Result<(), FindingError> {
    let cluster = resource
        .eks_cluster_details
        .ok_or(FindingError::MissingField("resource.eksClusterDetails"))?;
    let name = cluster
        .name
        .ok_or(FindingError::MissingField("resource.eksClusterDetails.name"))?;
    let vpc_id = cluster
        .vpc_id
        .map(|v| named.id(v, "vpc-", "resource.eksClusterDetails.vpcId"))
        .transpose()?;
    named.push(home.account, home.region, Target::EksCluster { name, vpc_id });
    if let Some(node) = resource.instance_details.filter(|i| i.instance_id.is_some()) {
        instance_of(node, home, named)?;
    }
    Ok(())
}

/// An ECS finding: the task (Fargate or not), and the container instance when it has one.
fn ecs(resource: RawResource, home: &Home<'_>, named: &mut Named) -> Result<(), FindingError> {
    let cluster = resource
        .ecs_cluster_details
        .ok_or(FindingError::MissingField("resource.ecsClusterDetails"))?;
    let cluster_name = cluster
        .arn
        .or(cluster.name)
        .ok_or(FindingError::MissingField("resource.ecsClusterDetails.arn"))?;
    if let Some(task_arn) = cluster.task_details.and_then(|t| t.arn) {
        let target = Target::EcsTask {
            cluster: cluster_name,
            task_arn,
        };
        named.push(home.account, home.region, target);
    }
    if let Some(host) = resource.instance_details.filter(|i| i.instance_id.is_some()) {
        instance_of(host, home, named)?;
    }
    Ok(())
}

fn lambda(resource: RawResource, home: &Home<'_>, named: &mut Named) -> Result<(), FindingError> {
    let function = resource
        .lambda_details
        .ok_or(FindingError::MissingField("resource.lambdaDetails"))?;
    let name = function
        .function_name
        .ok_or(FindingError::MissingField("resource.lambdaDetails.functionName"))?;
    if let Some(vpc) = function.vpc_config.and_then(|c| c.vpc_id) {
        let vpc_id = named.id(vpc, "vpc-", "resource.lambdaDetails.vpcConfig.vpcId")?;
        named.push(home.account, home.region, Target::Lambda { name, vpc_id });
    }
    Ok(())
}

/// An attack sequence: every resource in `service.detection.sequence.resources`, each in its
/// own account and Region. An instance's VPCs come from the sequence's interfaces it lists.
fn sequence(service: &mut RawService, home: &Home<'_>, named: &mut Named) -> Result<(), FindingError> {
    let Some(sequence) = service.detection.take().and_then(|d| d.sequence) else {
        // The one real attack-sequence event we hold (IAM) carries no sequence: one about
        // credentials or buckets names nothing in a VPC; any other is refused loudly rather
        // than left open (docs/aws-behaviour.md, "Attack sequences").
        return match home.finding_type.split(['/', ':']).nth(1) {
            Some("IAM" | "S3") => Ok(()),
            _ => Err(FindingError::MissingField("service.detection.sequence")),
        };
    };
    let resources = sequence.resources;
    let eni_vpcs = interface_vpcs(&resources);
    for (index, resource) in resources.into_iter().enumerate() {
        sequence_resource(index, resource, &eni_vpcs, home, named)?;
    }
    Ok(())
}

/// The VPC of each interface the sequence lists, by its id.
fn interface_vpcs(resources: &[RawResourceV2]) -> BTreeMap<String, String> {
    resources
        .iter()
        .filter(|r| r.resource_type.as_deref() == Some("EC2_NETWORK_INTERFACE"))
        .filter_map(|r| {
            let vpc = r.data["ec2NetworkInterface"]["vpcId"].as_str()?;
            Some((r.uid.clone()?, vpc.to_string()))
        })
        .collect()
}

fn sequence_resource(
    index: usize,
    resource: RawResourceV2,
    eni_vpcs: &BTreeMap<String, String>,
    home: &Home<'_>,
    named: &mut Named,
) -> Result<(), FindingError> {
    let at = format!("service.detection.sequence.resources[{index}]");
    let account = resource.account_id.as_deref().unwrap_or(home.account).to_string();
    if !is_account_id(&account) {
        return Err(FindingError::InvalidAccountId(account));
    }
    let region = resource.region.as_deref().unwrap_or(home.region).to_string();
    let kind = resource.resource_type.unwrap_or_default();
    let uid = resource.uid.ok_or(FindingError::MissingField(
        "service.detection.sequence.resources[].uid",
    ))?;
    let data = &resource.data;
    let text = |value: &Value| value.as_str().map(str::to_string);
    let target = match kind.as_str() {
        "EC2_INSTANCE" => {
            let instance_id = named.id(uid, "i-", &format!("{at}.uid"))?;
            let interfaces = data["ec2Instance"]["ec2NetworkInterfaceUids"].as_array();
            let mut vpc_ids: Vec<String> = Vec::new();
            for vpc in interfaces
                .into_iter()
                .flatten()
                .filter_map(|e| eni_vpcs.get(e.as_str()?))
            {
                if !vpc_ids.contains(vpc) {
                    vpc_ids.push(vpc.clone());
                }
            }
            Target::Instance { instance_id, vpc_ids }
        }
        "EC2_NETWORK_INTERFACE" => {
            let eni_id = named.id(uid, "eni-", &format!("{at}.uid"))?;
            let vpc_id = text(&data["ec2NetworkInterface"]["vpcId"])
                .map(|v| named.id(v, "vpc-", &format!("{at}.data.ec2NetworkInterface.vpcId")))
                .transpose()?;
            Target::NetworkInterface { eni_id, vpc_id }
        }
        "EC2_VPC" => Target::Vpc {
            vpc_id: named.id(uid, "vpc-", &format!("{at}.uid"))?,
        },
        "ECS_TASK" => Target::EcsTask {
            cluster: task_cluster(&uid),
            task_arn: uid,
        },
        "EKS_CLUSTER" => Target::EksCluster {
            name: uid.rsplit('/').next().unwrap_or(&uid).to_string(),
            vpc_id: text(&data["eksCluster"]["vpcId"])
                .map(|v| named.id(v, "vpc-", &format!("{at}.data.eksCluster.vpcId")))
                .transpose()?,
        },
        _ => Target::Other { kind, uid },
    };
    named.push(&account, &region, target);
    Ok(())
}

/// `arn:aws:ecs:region:account:task/CLUSTER/ID` names its cluster.
fn task_cluster(task_arn: &str) -> String {
    let path = task_arn.rsplit(':').next().unwrap_or_default();
    let mut parts = path.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("task"), Some(cluster), Some(_)) => cluster.to_string(),
        // The old ARN format names no cluster: ECS then looks in the default one.
        _ => "default".to_string(),
    }
}
