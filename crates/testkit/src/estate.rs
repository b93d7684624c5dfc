//! The core network and the spokes on it, created as their owners would create them on AWS:
//! the core network by its owner, a spoke's VPC, subnet and instance by the workload account
//! (through the role the pipeline also assumes), its attachment by the core network's owner.

use crate::{EstateError, OTHER_WORKLOAD, OWNER, REGION, WORKLOAD};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_networkmanager::types::Tag;
use aws_sdk_sts::config::Credentials;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Amazon Linux, by name: moto renders all of its ~1,300 images in 3–6 s when asked for every
/// one, and filters them by name in 0.3 s.
const AMAZON_LINUX: &str = "al2023-ami-*-x86_64";

/// A VPC with one instance, and its attachment once attached.
#[derive(Debug, Clone)]
pub struct Spoke {
    /// The VPC's account (the attachment's owner).
    pub account: String,
    pub region: String,
    pub vpc_id: String,
    pub subnet_id: String,
    pub instance_id: String,
    /// Empty until attached.
    pub attachment_id: String,
}

/// An attachment as Cloud WAN reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentView {
    pub state: String,
    pub segment: Option<String>,
    /// The segment a tag change proposes while it waits for acceptance.
    pub proposed_segment: Option<String>,
    pub tags: Vec<(String, String)>,
}

impl AttachmentView {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// The estate on one local cloud.
#[derive(Debug)]
pub struct Estate {
    endpoint: String,
    /// The core network owner's (cwq's) account, in the home Region.
    pub owner: SdkConfig,
    /// The workload account through its role, in the home Region.
    pub workload: SdkConfig,
    /// The second workload account through its role, in the home Region.
    pub other_workload: SdkConfig,
    pub core_network_id: String,
    /// Region → the image instances run, looked up once per Region.
    images: Mutex<BTreeMap<String, String>>,
}

/// The workload account's `cwq-workload` role, assumed as the pipeline assumes it.
async fn assume_workload_role(
    endpoint: &str,
    owner: &SdkConfig,
    account: &str,
) -> Result<SdkConfig, EstateError> {
    let assumed = aws_sdk_sts::Client::new(owner)
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/cwq-workload"))
        .role_session_name("cwq-estate")
        .send()
        .await
        .map_err(EstateError::sdk("AssumeRole"))?;
    let c = assumed
        .credentials()
        .ok_or_else(|| EstateError::new("AssumeRole", "no credentials returned"))?;
    let credentials = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "cwq-estate-workload",
    );
    Ok(local_sdk(endpoint, REGION, credentials).await)
}

/// The SDK for the local cloud at `endpoint`, in `region`, as `credentials`.
pub async fn local_sdk(endpoint: &str, region: &str, credentials: Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await
}

impl Estate {
    /// Connects as the owner and assumes the workload account's role, as the pipeline does.
    /// There is no core network until [`Estate::create_core_network`].
    pub async fn connect(endpoint: &str) -> Result<Self, EstateError> {
        let owner_credentials = Credentials::new(OWNER, "cwq-local", None, None, "cwq-estate");
        let owner = local_sdk(endpoint, REGION, owner_credentials).await;
        Ok(Self {
            endpoint: endpoint.to_string(),
            workload: assume_workload_role(endpoint, &owner, WORKLOAD).await?,
            other_workload: assume_workload_role(endpoint, &owner, OTHER_WORKLOAD).await?,
            owner,
            core_network_id: String::new(),
            images: Mutex::new(BTreeMap::new()),
        })
    }

    /// The SDK as `account` (the owner or a workload account) in `region`.
    pub fn sdk_as(&self, account: &str, region: &str) -> SdkConfig {
        let sdk = match account {
            OWNER => &self.owner,
            OTHER_WORKLOAD => &self.other_workload,
            _ => &self.workload,
        };
        sdk.to_builder().region(Region::new(region.to_string())).build()
    }

    /// A global network and a core network with `policy_document`; its id, also kept.
    pub async fn create_core_network(&mut self, policy_document: &str) -> Result<String, EstateError> {
        let nm = self.network_manager();
        let global = nm
            .create_global_network()
            .description("cwq estate")
            .send()
            .await
            .map_err(EstateError::sdk("CreateGlobalNetwork"))?;
        let global_id = global.global_network().and_then(|g| g.global_network_id());
        let core = nm
            .create_core_network()
            .set_global_network_id(global_id.map(str::to_string))
            .policy_document(policy_document)
            .send()
            .await
            .map_err(EstateError::sdk("CreateCoreNetwork"))?;
        self.core_network_id = core
            .core_network()
            .and_then(|c| c.core_network_id())
            .ok_or_else(|| EstateError::new("CreateCoreNetwork", "no core network id returned"))?
            .to_string();
        Ok(self.core_network_id.clone())
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn network_manager(&self) -> aws_sdk_networkmanager::Client {
        aws_sdk_networkmanager::Client::new(&self.owner)
    }

    /// EC2 as `account` (the owner's or a workload's) in `region`.
    pub fn ec2(&self, account: &str, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk_as(account, region))
    }

    /// A spoke in `account` and `region` attached with `tags`, once Cloud WAN has placed it.
    pub async fn spoke(
        &self,
        account: &str,
        region: &str,
        cidr: &str,
        tags: &[(&str, &str)],
    ) -> Result<Spoke, EstateError> {
        let mut spoke = self.vpc_with_instance(account, region, cidr).await?;
        self.attach(&mut spoke, tags).await?;
        Ok(spoke)
    }

    /// A VPC (`cidr`, a /16) with a subnet and one running instance; not attached.
    pub async fn vpc_with_instance(
        &self,
        account: &str,
        region: &str,
        cidr: &str,
    ) -> Result<Spoke, EstateError> {
        let ec2 = self.ec2(account, region);
        let vpc = ec2
            .create_vpc()
            .cidr_block(cidr)
            .send()
            .await
            .map_err(EstateError::sdk("CreateVpc"))?;
        let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap_or_default().to_string();
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(cidr.replace(".0.0/16", ".1.0/24"))
            .send()
            .await
            .map_err(EstateError::sdk("CreateSubnet"))?;
        let subnet_id = subnet
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap_or_default()
            .to_string();
        let run = ec2
            .run_instances()
            .image_id(self.image(&ec2, region).await?)
            .min_count(1)
            .max_count(1)
            .subnet_id(&subnet_id)
            .send()
            .await
            .map_err(EstateError::sdk("RunInstances"))?;
        let instance_id = run
            .instances()
            .first()
            .and_then(|i| i.instance_id())
            .unwrap_or_default();
        Ok(Spoke {
            account: account.to_string(),
            region: region.to_string(),
            vpc_id,
            subnet_id,
            instance_id: instance_id.to_string(),
            attachment_id: String::new(),
        })
    }

    async fn image(&self, ec2: &aws_sdk_ec2::Client, region: &str) -> Result<String, EstateError> {
        let mut images = self.images.lock().await;
        if let Some(image) = images.get(region) {
            return Ok(image.clone());
        }
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("name")
            .values(AMAZON_LINUX)
            .build();
        let found = ec2
            .describe_images()
            .owners("amazon")
            .filters(filter)
            .send()
            .await
            .map_err(EstateError::sdk("DescribeImages"))?;
        let image = found.images().first().and_then(|i| i.image_id()).ok_or_else(|| {
            EstateError::new("DescribeImages", format!("no {AMAZON_LINUX} image in {region}"))
        })?;
        images.insert(region.to_string(), image.to_string());
        Ok(image.to_string())
    }

    /// Attaches the spoke's VPC with `tags` and waits (up to 30 s) until it is AVAILABLE.
    pub async fn attach(&self, spoke: &mut Spoke, tags: &[(&str, &str)]) -> Result<(), EstateError> {
        spoke.attachment_id = self.create_attachment(spoke, tags).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.attachment(&spoke.attachment_id).await?.state != "AVAILABLE" {
            if Instant::now() > deadline {
                let id = &spoke.attachment_id;
                return Err(EstateError::new(
                    "GetVpcAttachment",
                    format!("{id} never became AVAILABLE"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Creates a VPC attachment for the spoke's VPC with `tags`, without waiting; its id.
    pub async fn create_attachment(
        &self,
        spoke: &Spoke,
        tags: &[(&str, &str)],
    ) -> Result<String, EstateError> {
        let (region, account) = (&spoke.region, &spoke.account);
        let mut create = self
            .network_manager()
            .create_vpc_attachment()
            .core_network_id(&self.core_network_id)
            .vpc_arn(format!("arn:aws:ec2:{region}:{account}:vpc/{}", spoke.vpc_id))
            .subnet_arns(format!(
                "arn:aws:ec2:{region}:{account}:subnet/{}",
                spoke.subnet_id
            ));
        for (key, value) in tags {
            create = create.tags(Tag::builder().key(*key).value(*value).build());
        }
        let created = create
            .send()
            .await
            .map_err(EstateError::sdk("CreateVpcAttachment"))?;
        let id = created
            .vpc_attachment()
            .and_then(|v| v.attachment())
            .and_then(|a| a.attachment_id())
            .ok_or_else(|| EstateError::new("CreateVpcAttachment", "no attachment id returned"))?;
        Ok(id.to_string())
    }

    /// The attachment as Cloud WAN reports it now.
    pub async fn attachment(&self, attachment_id: &str) -> Result<AttachmentView, EstateError> {
        let got = self
            .network_manager()
            .get_vpc_attachment()
            .attachment_id(attachment_id)
            .send()
            .await
            .map_err(EstateError::sdk("GetVpcAttachment"))?;
        let a = got
            .vpc_attachment()
            .and_then(|v| v.attachment())
            .ok_or_else(|| EstateError::new("GetVpcAttachment", "no attachment returned"))?;
        let tags = a.tags().iter().map(|t| {
            let (key, value) = (t.key().unwrap_or_default(), t.value().unwrap_or_default());
            (key.to_string(), value.to_string())
        });
        Ok(AttachmentView {
            state: a.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
            segment: a.segment_name().map(str::to_string),
            proposed_segment: a
                .proposed_segment_change()
                .and_then(|p| p.segment_name())
                .map(str::to_string),
            tags: tags.collect(),
        })
    }

    /// Waits until Cloud WAN has the attachment AVAILABLE in `segment`, up to `timeout`.
    pub async fn wait_segment(
        &self,
        attachment_id: &str,
        segment: &str,
        timeout: Duration,
    ) -> Result<(), EstateError> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.attachment(attachment_id).await?;
            if now.state == "AVAILABLE" && now.segment.as_deref() == Some(segment) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let why = format!("{attachment_id} never reached {segment} in {timeout:?}: {now:?}");
                return Err(EstateError::new("GetVpcAttachment", why));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
