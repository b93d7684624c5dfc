//! Containers in a spoke's VPC, created as their owners would: an ECS cluster running one
//! Fargate task (awsvpc: the task has an interface of its own in the spoke's subnet) and an EKS
//! cluster on the spoke's subnet.

use crate::{Estate, EstateError, Spoke};
use aws_sdk_ecs::types::{
    AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType, NetworkConfiguration, NetworkMode,
};
use aws_sdk_eks::types::VpcConfigRequest;

/// A running Fargate task and its cluster.
#[derive(Debug, Clone)]
pub struct FargateTask {
    pub cluster_arn: String,
    pub task_arn: String,
}

impl Estate {
    /// A cluster named `name` running one Fargate task in the spoke's subnet.
    pub async fn fargate_task(&self, spoke: &Spoke, name: &str) -> Result<FargateTask, EstateError> {
        let ecs = aws_sdk_ecs::Client::new(&self.sdk_as(&spoke.account, &spoke.region));
        let cluster = ecs
            .create_cluster()
            .cluster_name(name)
            .send()
            .await
            .map_err(EstateError::sdk("CreateCluster"))?;
        let cluster_arn = cluster
            .cluster()
            .and_then(|c| c.cluster_arn())
            .unwrap_or_default()
            .to_string();
        let container = ContainerDefinition::builder()
            .name("api")
            .image("public.ecr.aws/docker/library/busybox:latest")
            .memory(512)
            .build();
        ecs.register_task_definition()
            .family(name)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(container)
            .send()
            .await
            .map_err(EstateError::sdk("RegisterTaskDefinition"))?;
        // moto requires the security groups AWS would default, and DNS hostnames on the VPC
        // (it names the interface's private DNS name); Fargate VPCs usually have both.
        let ec2 = self.ec2(&spoke.account, &spoke.region);
        let on = aws_sdk_ec2::types::AttributeBooleanValue::builder()
            .value(true)
            .build();
        ec2.modify_vpc_attribute()
            .vpc_id(&spoke.vpc_id)
            .enable_dns_hostnames(on)
            .send()
            .await
            .map_err(EstateError::sdk("ModifyVpcAttribute"))?;
        let group = ec2
            .create_security_group()
            .group_name(format!("{name}-tasks"))
            .description("the task's interface")
            .vpc_id(&spoke.vpc_id)
            .send()
            .await
            .map_err(EstateError::sdk("CreateSecurityGroup"))?;
        let network = AwsVpcConfiguration::builder()
            .subnets(&spoke.subnet_id)
            .security_groups(group.group_id().unwrap_or_default())
            .build()
            .map_err(|e| EstateError::new("RunTask", e))?;
        let run = ecs
            .run_task()
            .cluster(&cluster_arn)
            .task_definition(name)
            .launch_type(LaunchType::Fargate)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(network)
                    .build(),
            )
            .send()
            .await
            .map_err(EstateError::sdk("RunTask"))?;
        let task_arn = run
            .tasks()
            .first()
            .and_then(|t| t.task_arn())
            .ok_or_else(|| EstateError::new("RunTask", "no task started"))?
            .to_string();
        Ok(FargateTask {
            cluster_arn,
            task_arn,
        })
    }

    /// An EKS cluster named `name` on the spoke's subnet; its name.
    pub async fn eks_cluster(&self, spoke: &Spoke, name: &str) -> Result<String, EstateError> {
        let eks = aws_sdk_eks::Client::new(&self.sdk_as(&spoke.account, &spoke.region));
        let role = format!("arn:aws:iam::{}:role/eks-cluster", spoke.account);
        eks.create_cluster()
            .name(name)
            .role_arn(role)
            .resources_vpc_config(VpcConfigRequest::builder().subnet_ids(&spoke.subnet_id).build())
            .send()
            .await
            .map_err(EstateError::sdk("CreateCluster"))?;
        Ok(name.to_string())
    }
}
