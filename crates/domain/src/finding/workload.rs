//! The workloads a finding names, each where it runs: what cwq must place in a VPC before it
//! can contain anything. An EC2 finding names one instance; an attack sequence names many
//! resources across accounts and Regions; a container or Lambda finding names a cluster, a
//! task or a function. What the finding already says (a VPC, a subnet) is kept; the rest is
//! looked up by Enrich through the workload role.

use serde::{Deserialize, Serialize};
use std::fmt;

/// `resource.resourceType`: the kinds of finding cwq acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResourceKind {
    Instance,
    AttackSequence,
    #[serde(rename = "EKSCluster")]
    EksCluster,
    #[serde(rename = "ECSCluster")]
    EcsCluster,
    Lambda,
}

impl ResourceKind {
    pub const ALL: [Self; 5] = [
        Self::Instance,
        Self::AttackSequence,
        Self::EksCluster,
        Self::EcsCluster,
        Self::Lambda,
    ];

    /// GuardDuty's own name, as `resource.resourceType` and the policy's scope rules write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Instance => "Instance",
            Self::AttackSequence => "AttackSequence",
            Self::EksCluster => "EKSCluster",
            Self::EcsCluster => "ECSCluster",
            Self::Lambda => "Lambda",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One resource the finding names, in its own account and Region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    pub account: String,
    pub region: String,
    pub target: Target,
}

/// What the resource is, with what the finding says of its network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    /// Its interfaces' VPCs when the finding lists them; else those of the interfaces
    /// attached to it (DescribeNetworkInterfaces).
    Instance {
        instance_id: String,
        vpc_ids: Vec<String>,
    },
    /// Its VPC when the finding says it; else DescribeNetworkInterfaces.
    NetworkInterface {
        eni_id: String,
        vpc_id: Option<String>,
    },
    Vpc {
        vpc_id: String,
    },
    /// A task's VPC: ecs:DescribeTasks names its interface, whose subnet is in the VPC.
    EcsTask {
        cluster: String,
        task_arn: String,
    },
    /// The cluster's VPC when the finding says it; else eks:DescribeCluster.
    EksCluster {
        name: String,
        vpc_id: Option<String>,
    },
    /// A function runs in a VPC only when the finding's `vpcConfig` names one.
    Lambda {
        name: String,
        vpc_id: String,
    },
    /// A resource that is not in a VPC of its own (an IAM user, an S3 bucket, an Auto
    /// Scaling group whose instances are listed apart, a container): reported, never moved.
    Other {
        kind: String,
        uid: String,
    },
}

impl Target {
    /// The VPCs the finding itself names for this resource (empty: looked up, or none).
    pub fn known_vpcs(&self) -> Vec<&str> {
        match self {
            Self::Instance { vpc_ids, .. } => vpc_ids.iter().map(String::as_str).collect(),
            Self::NetworkInterface { vpc_id, .. } | Self::EksCluster { vpc_id, .. } => {
                vpc_id.as_deref().into_iter().collect()
            }
            Self::Vpc { vpc_id } | Self::Lambda { vpc_id, .. } => vec![vpc_id],
            Self::EcsTask { .. } | Self::Other { .. } => Vec::new(),
        }
    }

    /// Whether cwq can place it in a VPC (directly or by a lookup).
    pub fn is_networked(&self) -> bool {
        !matches!(self, Self::Other { .. })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Instance { instance_id, .. } => write!(f, "instance {instance_id}"),
            Self::NetworkInterface { eni_id, .. } => write!(f, "network interface {eni_id}"),
            Self::Vpc { vpc_id } => write!(f, "VPC {vpc_id}"),
            Self::EcsTask { task_arn, .. } => {
                write!(f, "ECS task {}", task_arn.rsplit('/').next().unwrap_or(task_arn))
            }
            Self::EksCluster { name, .. } => write!(f, "EKS cluster {name}"),
            Self::Lambda { name, .. } => write!(f, "Lambda function {name}"),
            Self::Other { kind, uid } => write!(f, "{kind} {uid}"),
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {} {}", self.target, self.account, self.region)
    }
}
