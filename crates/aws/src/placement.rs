//! Where a workload's network is, looked up in its own account and Region: an instance's
//! interfaces or an interface (DescribeNetworkInterfaces), an ECS task's
//! interface (ecs:DescribeTasks names its subnet, DescribeSubnets its VPC), an EKS cluster
//! (eks:DescribeCluster gives its VPC, or its subnets when the answer lacks it).

use crate::errors::{classify, first_match, Class};
use crate::workloads::{ec2_class, literal_filter, Ec2Workloads};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::operation::describe_network_interfaces::builders::DescribeNetworkInterfacesFluentBuilder as DescribeInterfaces;
use cwq_domain::finding::{Target, Workload};
use cwq_pipeline::PortError;

impl Ec2Workloads {
    pub(crate) async fn look_up_vpcs(&self, workload: &Workload) -> Result<Vec<String>, PortError> {
        let (account, region) = (workload.account.as_str(), workload.region.as_str());
        match &workload.target {
            Target::Instance { instance_id, .. } => self.instance_vpcs(account, region, instance_id).await,
            Target::NetworkInterface { eni_id, .. } => self.interface_vpc(account, region, eni_id).await,
            Target::EcsTask { cluster, task_arn } => self.task_vpc(account, region, cluster, task_arn).await,
            Target::EksCluster { name, .. } => self.cluster_vpc(account, region, name).await,
            other => Ok(other.known_vpcs().into_iter().map(str::to_string).collect()),
        }
    }

    /// The VPCs of the interfaces attached to the instance (its primary one's is the instance's
    /// VPC; a multi-VPC interface adds its own). DescribeNetworkInterfaces, not DescribeInstances:
    /// the same VPCs without an instance's whole description, whose parser was 0.23 MiB of the
    /// shipped binary (docs/benchmarks.md, "Build profile"), and one grant fewer.
    async fn instance_vpcs(
        &self,
        account: &str,
        region: &str,
        instance_id: &str,
    ) -> Result<Vec<String>, PortError> {
        let vpcs = self
            .interfaces_vpcs(account, region, |request| {
                request.filters(literal_filter("attachment.instance-id", instance_id))
            })
            .await?;
        match vpcs.is_empty() {
            // Gone, or terminated (its interfaces deleted with it): nothing of it to contain.
            true => Err(PortError::NotFound(format!(
                "no network interface is attached to {instance_id}"
            ))),
            false => Ok(vpcs),
        }
    }

    async fn interface_vpc(
        &self,
        account: &str,
        region: &str,
        eni_id: &str,
    ) -> Result<Vec<String>, PortError> {
        self.interfaces_vpcs(account, region, |request| request.network_interface_ids(eni_id))
            .await
    }

    /// The distinct VPCs of the interfaces that `select` picks out.
    async fn interfaces_vpcs(
        &self,
        account: &str,
        region: &str,
        select: impl FnOnce(DescribeInterfaces) -> DescribeInterfaces,
    ) -> Result<Vec<String>, PortError> {
        let request = self.ec2(account, region).await?.describe_network_interfaces();
        let described = select(request)
            .send()
            .await
            .map_err(|e| classify("ec2 DescribeNetworkInterfaces", e, |e| ec2_class(e.code())))?;
        Ok(distinct(
            described.network_interfaces().iter().filter_map(|n| n.vpc_id()),
        ))
    }

    async fn subnet_vpcs(
        &self,
        account: &str,
        region: &str,
        subnets: &[String],
    ) -> Result<Vec<String>, PortError> {
        let described = self
            .ec2(account, region)
            .await?
            .describe_subnets()
            .set_subnet_ids(Some(subnets.to_vec()))
            .send()
            .await
            .map_err(|e| classify("ec2 DescribeSubnets", e, |e| ec2_class(e.code())))?;
        Ok(distinct(described.subnets().iter().filter_map(|s| s.vpc_id())))
    }

    /// An awsvpc task (every Fargate task) has an interface of its own, in a subnet.
    async fn task_vpc(
        &self,
        account: &str,
        region: &str,
        cluster: &str,
        task_arn: &str,
    ) -> Result<Vec<String>, PortError> {
        let ecs = aws_sdk_ecs::Client::new(&self.sdk_for(account, region).await?);
        let described = ecs
            .describe_tasks()
            .cluster(cluster)
            .tasks(task_arn)
            .send()
            .await
            .map_err(|e| {
                classify("ecs DescribeTasks", e, |e| {
                    first_match([
                        (e.is_cluster_not_found_exception(), Class::NotFound),
                        (e.is_access_denied_exception(), Class::Denied),
                        (e.is_server_exception(), Class::Transient),
                    ])
                })
            })?;
        let Some(task) = described.tasks().first() else {
            let why = described
                .failures()
                .first()
                .and_then(|f| f.reason())
                .unwrap_or("MISSING");
            return Err(PortError::NotFound(format!("ECS task {task_arn}: {why}")));
        };
        let subnets: Vec<String> = task
            .attachments()
            .iter()
            .filter(|a| a.r#type() == Some("ElasticNetworkInterface"))
            .flat_map(|a| a.details())
            .filter(|d| d.name() == Some("subnetId"))
            .filter_map(|d| d.value().map(str::to_string))
            .collect();
        if subnets.is_empty() {
            let why =
                "it has no network interface of its own (not awsvpc): its container instance is named apart";
            return Err(PortError::NotFound(format!("ECS task {task_arn}: {why}")));
        }
        self.subnet_vpcs(account, region, &subnets).await
    }

    async fn cluster_vpc(&self, account: &str, region: &str, name: &str) -> Result<Vec<String>, PortError> {
        let eks = aws_sdk_eks::Client::new(&self.sdk_for(account, region).await?);
        let described = eks.describe_cluster().name(name).send().await.map_err(|e| {
            classify("eks DescribeCluster", e, |e| {
                first_match([
                    (e.is_resource_not_found_exception(), Class::NotFound),
                    (
                        e.is_server_exception() || e.is_service_unavailable_exception(),
                        Class::Transient,
                    ),
                ])
            })
        })?;
        let config = described.cluster().and_then(|c| c.resources_vpc_config());
        if let Some(vpc) = config.and_then(|c| c.vpc_id()) {
            return Ok(vec![vpc.to_string()]);
        }
        // The local cloud (moto) answers without vpcId; the cluster's subnets say it too.
        let subnets = config.map(|c| c.subnet_ids().to_vec()).unwrap_or_default();
        if subnets.is_empty() {
            return Err(PortError::NotFound(format!(
                "EKS cluster {name}: no VPC and no subnet in its answer"
            )));
        }
        self.subnet_vpcs(account, region, &subnets).await
    }
}

/// Each VPC once, in first-seen order.
fn distinct<'a>(vpcs: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for vpc in vpcs {
        if !seen.iter().any(|v| v == vpc) {
            seen.push(vpc.to_string());
        }
    }
    seen
}
