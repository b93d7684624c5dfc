//! The workloads port: EC2 (and, in `placement`, ECS and EKS) in the workload's account,
//! through the workload role when that is another account than cwq's own. cwq's account is looked up once per cold start; a failure
//! to look it up is transient (never a guess that the instance is in cwq's account).

use crate::errors::{classify, Class};
use async_trait::async_trait;
use aws_sdk_ec2::config::Credentials;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    CopyTagsFromSource, Filter, InstanceSpecification, ResourceType, Tag, TagSpecification,
};
use cwq_domain::finding::Workload;
use cwq_pipeline::ports::{SnapshotRequest, Workloads};
use cwq_pipeline::PortError;
use tokio::sync::OnceCell;

#[derive(Debug)]
pub struct Ec2Workloads {
    sdk: aws_config::SdkConfig,
    /// `CWQ_WORKLOAD_ROLE_NAME`: assumed in other accounts; None: EC2 with cwq's own credentials.
    role_name: Option<String>,
    /// (account, partition) of cwq's own credentials.
    identity: OnceCell<(String, String)>,
    /// The workload role's credentials per account, while they last: an attack sequence's
    /// lookups and snapshots in one account assume the role once.
    assumed: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, Credentials)>>,
}

/// Credentials of a role assumed for 900 s are used for 600 s at most.
const ASSUMED_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// EC2 models no error shapes: its codes are its own, read per call.
pub(crate) fn ec2_class(code: Option<&str>) -> Class {
    match code {
        Some(c) if c.ends_with(".NotFound") || c.ends_with(".Malformed") => Class::NotFound,
        Some("RequestLimitExceeded" | "InternalError" | "ServiceUnavailable" | "Unavailable") => {
            Class::Transient
        }
        Some("UnauthorizedOperation" | "AuthFailure" | "AccessDenied" | "OptInRequired") => Class::Denied,
        _ => Class::Failed,
    }
}

impl Ec2Workloads {
    pub fn new(sdk: aws_config::SdkConfig, role_name: Option<String>) -> Self {
        Self {
            sdk,
            role_name,
            identity: OnceCell::new(),
            assumed: Default::default(),
        }
    }

    async fn identity(&self) -> Result<&(String, String), PortError> {
        self.identity
            .get_or_try_init(|| async {
                let got = aws_sdk_sts::Client::new(&self.sdk)
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| {
                        PortError::Transient(format!(
                            "sts GetCallerIdentity: {}",
                            aws_sdk_sts::error::DisplayErrorContext(e)
                        ))
                    })?;
                let account = got.account().unwrap_or_default().to_string();
                let partition = got
                    .arn()
                    .and_then(|a| a.split(':').nth(1))
                    .unwrap_or("aws")
                    .to_string();
                Ok((account, partition))
            })
            .await
    }

    /// The SDK's configuration for `account`'s `region`: through the workload role when it is
    /// not cwq's account.
    pub(crate) async fn sdk_for(
        &self,
        account: &str,
        region: &str,
    ) -> Result<aws_config::SdkConfig, PortError> {
        let mut config = self
            .sdk
            .to_builder()
            .region(aws_config::Region::new(region.to_string()));
        let (own, partition) = self.identity().await?;
        if let Some(role) = self.role_name.as_ref().filter(|_| own != account) {
            let credentials = self.workload_credentials(account, partition, role).await?;
            config =
                config.credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(credentials));
        }
        Ok(config.build())
    }

    /// The workload role's credentials in `account`: kept, or assumed now.
    async fn workload_credentials(
        &self,
        account: &str,
        partition: &str,
        role: &str,
    ) -> Result<Credentials, PortError> {
        let kept = {
            let assumed = self.assumed.lock().unwrap_or_else(|e| e.into_inner());
            assumed
                .get(account)
                .filter(|(at, _)| at.elapsed() < ASSUMED_FOR)
                .map(|(_, c)| c.clone())
        };
        if let Some(credentials) = kept {
            return Ok(credentials);
        }
        let role_arn = format!("arn:{partition}:iam::{account}:role/{role}");
        let assumed = aws_sdk_sts::Client::new(&self.sdk)
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("cwq")
            .duration_seconds(900)
            .send()
            .await
            .map_err(|e| {
                classify(&format!("sts AssumeRole {role_arn}"), e, |e| match e.code() {
                    Some("AccessDenied") => Class::Denied,
                    Some("RegionDisabledException") => Class::Denied,
                    _ => Class::Failed,
                })
            })?;
        let c = assumed
            .credentials()
            .ok_or_else(|| PortError::Failed(format!("AssumeRole {role_arn} returned no credentials")))?;
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "cwq-workload-role",
        );
        let mut kept = self.assumed.lock().unwrap_or_else(|e| e.into_inner());
        kept.insert(
            account.to_string(),
            (std::time::Instant::now(), credentials.clone()),
        );
        Ok(credentials)
    }

    pub(crate) async fn ec2(&self, account: &str, region: &str) -> Result<aws_sdk_ec2::Client, PortError> {
        Ok(aws_sdk_ec2::Client::new(&self.sdk_for(account, region).await?))
    }
}

/// The ids of `items` that have one (DescribeSnapshots and CreateSnapshots return different
/// shapes, both with an optional id).
fn ids<T>(items: &[T], id: impl Fn(&T) -> Option<&str>) -> Vec<String> {
    items
        .iter()
        .filter_map(|item| id(item).map(str::to_string))
        .collect()
}

/// EC2 filter values take `*` and `?` as wildcards: a value must match only itself.
pub(crate) fn literal_filter(name: &str, value: &str) -> Filter {
    let literal = value
        .replace('\\', "\\\\")
        .replace('*', "\\*")
        .replace('?', "\\?");
    Filter::builder().name(name).values(literal).build()
}

#[async_trait]
impl Workloads for Ec2Workloads {
    async fn vpcs_of(&self, workload: &Workload) -> Result<Vec<String>, PortError> {
        self.look_up_vpcs(workload).await
    }

    async fn find_snapshots(
        &self,
        account: &str,
        region: &str,
        description: &str,
        incident_id: &str,
    ) -> Result<Vec<String>, PortError> {
        // The description narrows the set before the tag is read: the local cloud (moto)
        // applies filters in order and looks up every candidate snapshot's tags one by one.
        let described = self
            .ec2(account, region)
            .await?
            .describe_snapshots()
            .owner_ids("self")
            .filters(literal_filter("description", description))
            .filters(literal_filter("tag:cwq:incident", incident_id))
            .send()
            .await
            .map_err(|e| classify("ec2 DescribeSnapshots", e, |e| ec2_class(e.code())))?;
        Ok(ids(described.snapshots(), |s| s.snapshot_id()))
    }

    async fn create_snapshots(
        &self,
        account: &str,
        region: &str,
        request: &SnapshotRequest,
    ) -> Result<Vec<String>, PortError> {
        let mut tags = TagSpecification::builder().resource_type(ResourceType::Snapshot);
        for (key, value) in &request.tags {
            tags = tags.tags(Tag::builder().key(key).value(value).build());
        }
        let created = self
            .ec2(account, region)
            .await?
            .create_snapshots()
            .instance_specification(
                InstanceSpecification::builder()
                    .instance_id(&request.instance_id)
                    .build(),
            )
            .description(&request.description)
            .tag_specifications(tags.build())
            .copy_tags_from_source(CopyTagsFromSource::Volume)
            .send()
            .await
            .map_err(|e| classify("ec2 CreateSnapshots", e, |e| ec2_class(e.code())))?;
        Ok(ids(created.snapshots(), |s| s.snapshot_id()))
    }
}
