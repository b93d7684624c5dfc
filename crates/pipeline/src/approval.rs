//! Approval requests: a move the policy's `approve` tier holds until a person answers
//! (docs/policy.md, "Approval tiers"). The quarantine execution waits on a Step Functions task
//! token; the request is journaled with every waiting execution's token, so that a second
//! finding for the same attachments joins it instead of opening another, and `cwq approve` or
//! `cwq deny` answers them all at once. A release request (two-person release) waits for no
//! execution: the second principal's `cwq approve` starts the release.

use crate::error::PortError;
use crate::ports::Journal;
use cwq_domain::decision::Expiry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

/// The error `cwq deny` fails a waiting task with; its cause is a [`Denial`] as JSON.
pub const DENIED: &str = "cwq.Denied";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// The incident that opened it (for a release request, `release-<attachment>-<time>`).
    pub request_id: String,
    pub kind: RequestKind,
    pub status: RequestStatus,
    pub legs: Vec<AskedLeg>,
    /// What the policy said and why (`band High`, `scope rule "production"`, …).
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub requested_at: OffsetDateTime,
    /// Who asked: a release's first principal; none for a finding.
    #[serde(default)]
    pub requested_by: Option<String>,
    /// The executions waiting for the answer.
    #[serde(default)]
    pub waiters: Vec<Waiter>,
    /// The request ends by itself then (as the policy's `approvals.on_timeout` says).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub timeout_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub answered_by: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub answered_at: Option<OffsetDateTime>,
    /// A denial's reason, or how a timeout ended.
    #[serde(default)]
    pub answer_note: Option<String>,
    /// Optimistic concurrency, as on attachment items (0: not stored yet).
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// A finding's move waits for a person.
    Quarantine,
    /// A manual-release quarantine waits for a second principal.
    Release,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
    TimedOut,
}

impl std::fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::TimedOut => "timed out",
        })
    }
}

/// One attachment the request would move (or release).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AskedLeg {
    pub vpc_id: String,
    pub attachment_id: String,
    pub account: String,
    pub region: String,
    pub segment: Option<String>,
    pub until: Option<Expiry>,
}

/// An execution waiting on its task token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiter {
    pub incident_id: String,
    pub execution_arn: String,
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

impl ApprovalRequest {
    pub fn is_pending(&self) -> bool {
        self.status == RequestStatus::Pending
    }

    /// Whether the request moves every one of these attachments (so a finding for them may join).
    pub fn covers(&self, attachments: &[&str]) -> bool {
        attachments
            .iter()
            .all(|a| self.legs.iter().any(|l| l.attachment_id == *a))
    }

    /// Whether `incident` opened the request or waits on it.
    pub fn concerns(&self, incident: &str) -> bool {
        self.request_id == incident || self.waiters.iter().any(|w| w.incident_id == incident)
    }

    /// The request answered: by whom, when, with what note. Only a pending request is.
    pub fn answer(&mut self, status: RequestStatus, by: &str, at: OffsetDateTime, note: Option<String>) {
        self.status = status;
        self.answered_by = Some(by.to_string());
        self.answered_at = Some(at);
        self.answer_note = note;
    }
}

/// The request an attachment's move last waited on (answered or not), through its pointer.
pub async fn request_awaiting(
    journal: &dyn Journal,
    attachment_id: &str,
) -> Result<Option<ApprovalRequest>, PortError> {
    match journal.awaiting(attachment_id).await? {
        Some(id) => journal.approval(&id).await,
        None => Ok(None),
    }
}

/// What `cwq deny` says, as the waiting task's cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    pub by: String,
    pub reason: String,
}

/// What `cwq approve` sends a waiting task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub request_id: String,
    pub by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// How a wait ended, as the state machine hands it back to Decide: SendTaskSuccess's output,
/// or the error its Catch placed (`{"Error", "Cause"}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Approved { by: String },
    Denied(Denial),
    TimedOut,
}

impl Answer {
    /// None: not an answer cwq gives (the state machine placed something else).
    pub fn read(placed: &Value) -> Option<Self> {
        match placed["Error"].as_str() {
            Some("States.Timeout") => Some(Self::TimedOut),
            Some(DENIED) => {
                let cause = placed["Cause"].as_str().unwrap_or_default();
                let denial = serde_json::from_str(cause).unwrap_or_else(|_| Denial {
                    by: "unknown".into(),
                    reason: cause.to_string(),
                });
                Some(Self::Denied(denial))
            }
            Some(_) => None,
            None => {
                let approval: Approval = serde_json::from_value(placed.clone()).ok()?;
                Some(Self::Approved { by: approval.by })
            }
        }
    }
}
