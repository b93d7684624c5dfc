//! The Security Hub port: cwq's note (and workflow status) on GuardDuty findings, with
//! BatchUpdateFindings in the finding's Region. A GuardDuty finding's id in Security Hub is
//! its ARN; its product is `arn:<partition>:securityhub:<region>::product/aws/guardduty`
//! (docs/aws-behaviour.md).

use crate::errors::{classify, first_match, Class};
use async_trait::async_trait;
use aws_sdk_securityhub::types::{AwsSecurityFindingIdentifier, NoteUpdate, WorkflowStatus, WorkflowUpdate};
use cwq_pipeline::ports::SecurityHub;
use cwq_pipeline::PortError;

#[derive(Debug, Clone)]
pub struct SecurityHubNotes {
    sdk: aws_config::SdkConfig,
}

impl SecurityHubNotes {
    pub fn new(sdk: aws_config::SdkConfig) -> Self {
        Self { sdk }
    }
}

#[async_trait]
impl SecurityHub for SecurityHubNotes {
    async fn note_findings(
        &self,
        region: &str,
        finding_arns: &[String],
        note: &str,
        workflow: Option<&str>,
    ) -> Result<Vec<String>, PortError> {
        let sdk = self
            .sdk
            .to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build();
        let client = aws_sdk_securityhub::Client::new(&sdk);
        let mut call = client
            .batch_update_findings()
            .note(NoteUpdate::builder().text(note).updated_by("cwq").build());
        for arn in finding_arns {
            let partition = arn.split(':').nth(1).unwrap_or("aws");
            let identifier = AwsSecurityFindingIdentifier::builder()
                .id(arn)
                .product_arn(format!(
                    "arn:{partition}:securityhub:{region}::product/aws/guardduty"
                ))
                .build();
            call = call.finding_identifiers(identifier);
        }
        if let Some(status) = workflow {
            call = call.workflow(
                WorkflowUpdate::builder()
                    .status(WorkflowStatus::from(status))
                    .build(),
            );
        }
        let answered = call.send().await.map_err(|e| {
            classify("securityhub BatchUpdateFindings", e, |e| {
                first_match([(
                    e.is_limit_exceeded_exception() || e.is_internal_exception(),
                    Class::Transient,
                )])
            })
        })?;
        Ok(answered
            .unprocessed_findings()
            .iter()
            .map(|u| {
                let id = u.finding_identifier().and_then(|f| f.id()).unwrap_or_default();
                let code = u.error_code().unwrap_or("unknown");
                format!("{id}: {code} {}", u.error_message().unwrap_or_default())
            })
            .collect())
    }
}
