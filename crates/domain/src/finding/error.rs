//! Why a GuardDuty event cannot be acted on: one variant per reason, each with the stable
//! name a Lambda reports, so that callers can count and route refusals without parsing text.

/// Why an event cannot be acted on. [`FindingError::name`] is the stable name a Lambda reports.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FindingError {
    #[error("the event is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the event is not a GuardDuty finding: {0}")]
    NotAGuardDutyEvent(String),
    #[error("the finding has no `{0}`")]
    MissingField(&'static str),
    #[error("the finding's `{path}` is malformed: {message}")]
    WrongType { path: String, message: String },
    #[error(
        "finding {id} ({finding_type}) is about a resource of type {resource_type}, not a workload \
         in a VPC; cwq acts on Instance, AttackSequence, EKSCluster, ECSCluster and Lambda findings"
    )]
    NotAWorkload {
        id: String,
        finding_type: String,
        resource_type: String,
    },
    #[error("finding {id} ({finding_type}) names no workload in a VPC: {why}")]
    NoWorkloadInAVpc {
        id: String,
        finding_type: String,
        why: String,
    },
    #[error("severity {value} is outside GuardDuty's range 1.0–10.0")]
    SeverityOutOfRange { value: f64 },
    #[error("instance id {0:?} is not an EC2 instance id (i- and 8 or 17 hex digits)")]
    InvalidInstanceId(String),
    #[error("network interface {index} has VPC id {value:?}; a VPC id is vpc- and 8 or 17 hex digits")]
    InvalidVpcId { index: usize, value: String },
    #[error("`{path}` is {value:?}, which is not an id of that kind of resource")]
    InvalidResourceId { path: String, value: String },
    #[error("account id {0:?} is not a 12-digit AWS account id")]
    InvalidAccountId(String),
    #[error(
        "finding type {0:?} is not GuardDuty's ThreatPurpose:ResourceTypeAffected/ThreatFamilyName[.DetectionMechanism][!Artifact]"
    )]
    InvalidFindingType(String),
    /// GuardDuty's ids are short and alphanumeric; anything else would end up in the
    /// journal's keys and the execution's name.
    #[error("finding id {0:?} is not a GuardDuty finding id (1 to 300 letters, digits, `-` or `_`)")]
    InvalidFindingId(String),
}

impl FindingError {
    /// Not an error in the event: it is about something cwq does not contain.
    pub fn is_not_applicable(&self) -> bool {
        self.name() == "NotApplicable"
    }

    /// The error's stable name: `NotApplicable` for findings that name no workload in a VPC,
    /// otherwise the variant's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "MalformedJson",
            Self::NotAGuardDutyEvent(_) => "NotAGuardDutyEvent",
            Self::MissingField(_) => "MissingField",
            Self::WrongType { .. } => "WrongType",
            Self::NotAWorkload { .. } | Self::NoWorkloadInAVpc { .. } => "NotApplicable",
            Self::SeverityOutOfRange { .. } => "SeverityOutOfRange",
            Self::InvalidInstanceId(_) => "InvalidInstanceId",
            Self::InvalidVpcId { .. } => "InvalidVpcId",
            Self::InvalidResourceId { .. } => "InvalidResourceId",
            Self::InvalidAccountId(_) => "InvalidAccountId",
            Self::InvalidFindingId(_) => "InvalidFindingId",
            Self::InvalidFindingType(_) => "InvalidFindingType",
        }
    }
}
