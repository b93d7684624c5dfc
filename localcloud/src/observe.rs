//! Fault injection and observation: per-operation throttling, server errors and latency, a
//! log of every mutating call (to prove that a dry run changed nothing) and call counters.

use crate::api::ApiError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// One fault: applies to `service` (e.g. `networkmanager`) and `operation` (e.g.
/// `TagResource`); `*` matches any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    #[serde(default = "any")]
    pub service: String,
    #[serde(default = "any")]
    pub operation: String,
    /// Share of calls answered ThrottlingException (0.0–1.0).
    #[serde(default)]
    pub throttle_rate: f64,
    /// Share of calls answered InternalServerException (0.0–1.0).
    #[serde(default)]
    pub error_rate: f64,
    /// Added to every matching call.
    #[serde(default)]
    pub latency_ms: u64,
    /// Answer access denied, as an IAM policy or an SCP would (in the service's own shape).
    #[serde(default)]
    pub denied: bool,
    /// The call is served, then the Lambda function that made it crashes before it sees the
    /// answer: a crash right after a side effect.
    #[serde(default)]
    pub crash_after: bool,
    /// Applies to the first N matching calls only (None: to every one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

fn any() -> String {
    "*".into()
}

/// A rule for every call that does nothing yet: set the fields that matter.
impl Default for FaultRule {
    fn default() -> Self {
        Self {
            service: any(),
            operation: any(),
            throttle_rate: 0.0,
            error_rate: 0.0,
            latency_ms: 0,
            denied: false,
            crash_after: false,
            times: None,
        }
    }
}

impl FaultRule {
    fn matches(&self, service: &str, operation: &str) -> bool {
        (self.service == "*" || self.service == service)
            && (self.operation == "*" || self.operation == operation)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    pub seq: u64,
    /// Seconds since the epoch.
    pub at: f64,
    pub service: String,
    pub operation: String,
    pub account: String,
    pub path: String,
    pub status: u16,
    /// What a published event was (`detail-type` of each entry of an EventBridge PutEvents),
    /// or the tag keys a TagResource/UntagResource named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The Lambda function that made the call, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
}

/// One call of any kind as the gateway received it: the timeline a benchmark reads to see what
/// happened before what (the call log above keeps only mutating calls, for as long as it runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedCall {
    /// When the call arrived, seconds since the epoch.
    pub at: f64,
    /// How long the gateway took to answer it (injected latency included), ms.
    pub took_ms: f64,
    pub service: String,
    pub operation: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
}

/// The timeline keeps the most recent calls only: a long `cwq local` session must not grow.
const TIMELINE_CALLS: usize = 20_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    pub calls: u64,
    pub errors: u64,
    pub injected: u64,
    /// Time spent answering these calls at the gateway (injected latency included), ms.
    #[serde(default)]
    pub total_ms: f64,
}

#[derive(Debug)]
pub struct Observer {
    rules: Vec<FaultRule>,
    rng: u64,
    calls: Vec<CallRecord>,
    counters: BTreeMap<String, Counter>,
    /// Per Lambda function, the `service:Operation`s it called with its own credentials: the
    /// IAM actions its role needs (calls through an assumed role are the other role's).
    actions: BTreeMap<String, BTreeSet<String>>,
    timeline: VecDeque<TimedCall>,
    seq: u64,
}

impl Default for Observer {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            rng: 0x2545_f491_4f6c_dd1d,
            calls: Vec::new(),
            counters: BTreeMap::new(),
            actions: BTreeMap::new(),
            timeline: VecDeque::new(),
            seq: 0,
        }
    }
}

/// What to do with a call before (and after) it is served.
#[derive(Debug, Default)]
pub struct Verdict {
    pub delay: Duration,
    pub error: Option<ApiError>,
    pub crash_after: bool,
}

impl Observer {
    pub fn set_rules(&mut self, rules: Vec<FaultRule>, seed: Option<u64>) {
        self.rules = rules;
        if let Some(seed) = seed {
            self.rng = seed.max(1);
        }
    }

    pub fn rules(&self) -> &[FaultRule] {
        &self.rules
    }

    /// xorshift64*: reproducible for a given seed, good enough for fault rates.
    fn roll(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn verdict(&mut self, service: &str, operation: &str) -> Verdict {
        let mut verdict = Verdict::default();
        let mut rules = Vec::new();
        for rule in self.rules.iter_mut().filter(|r| r.matches(service, operation)) {
            match &mut rule.times {
                Some(0) => continue,
                Some(n) => *n -= 1,
                None => {}
            }
            rules.push(rule.clone());
        }
        for rule in rules {
            verdict.crash_after |= rule.crash_after;
            verdict.delay += Duration::from_millis(rule.latency_ms);
            if verdict.error.is_none() && rule.denied {
                verdict.error = Some(ApiError::access_denied(
                    "denied by the local cloud's fault rule, as an IAM policy or an SCP would",
                ));
            }
            if verdict.error.is_none() && rule.throttle_rate > 0.0 && self.roll() < rule.throttle_rate {
                verdict.error = Some(ApiError::throttling());
            }
            if verdict.error.is_none() && rule.error_rate > 0.0 && self.roll() < rule.error_rate {
                verdict.error = Some(ApiError::internal());
            }
        }
        verdict
    }

    pub fn record(&mut self, call: CallInfo<'_>, status: u16, injected: bool, mutating: bool) {
        let counter = self
            .counters
            .entry(format!("{}:{}", call.service, call.operation))
            .or_default();
        counter.calls += 1;
        counter.total_ms += call.took.as_secs_f64() * 1000.0;
        if let (Some(function), true) = (call.caller, call.own_credentials) {
            self.actions
                .entry(function.to_string())
                .or_default()
                .insert(format!("{}:{}", call.service, call.operation));
        }
        if status >= 400 {
            counter.errors += 1;
        }
        let now = epoch_seconds();
        if self.timeline.len() == TIMELINE_CALLS {
            self.timeline.pop_front();
        }
        self.timeline.push_back(TimedCall {
            at: now - call.took.as_secs_f64(),
            took_ms: call.took.as_secs_f64() * 1000.0,
            service: call.service.into(),
            operation: call.operation.into(),
            status,
            caller: call.caller.map(str::to_string),
        });
        if injected {
            counter.injected += 1;
        }
        if mutating {
            self.seq += 1;
            self.calls.push(CallRecord {
                seq: self.seq,
                at: now,
                service: call.service.into(),
                operation: call.operation.into(),
                account: call.account.into(),
                path: call.path.into(),
                status,
                summary: call.summary.map(str::to_string),
                caller: call.caller.map(str::to_string),
            });
        }
    }

    pub fn calls(&self) -> &[CallRecord] {
        &self.calls
    }

    /// Every call of late, in the order they were answered.
    pub fn timeline(&self) -> &VecDeque<TimedCall> {
        &self.timeline
    }

    pub fn counters(&self) -> &BTreeMap<String, Counter> {
        &self.counters
    }

    pub fn actions(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.actions
    }

    pub fn reset(&mut self) {
        self.calls.clear();
        self.counters.clear();
        self.actions.clear();
        self.timeline.clear();
    }
}

fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[derive(Debug, Clone, Copy)]
pub struct CallInfo<'a> {
    pub service: &'a str,
    pub operation: &'a str,
    pub account: &'a str,
    pub path: &'a str,
    pub summary: Option<&'a str>,
    /// The Lambda function that made the call, and whether with its own credentials.
    pub caller: Option<&'a str>,
    pub own_credentials: bool,
    /// How long the gateway took to answer.
    pub took: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(operation: &str, took_ms: u64) -> CallInfo<'_> {
        CallInfo {
            service: "dynamodb",
            operation,
            account: "111111111111",
            path: "/",
            summary: None,
            caller: Some("Decide"),
            own_credentials: true,
            took: Duration::from_millis(took_ms),
        }
    }

    /// Every call goes into the timeline, stamped with when it arrived, and the timeline keeps
    /// the most recent ones only.
    #[test]
    fn the_timeline_keeps_every_recent_call_by_its_arrival() {
        let mut observer = Observer::default();
        let before = epoch_seconds();
        observer.record(call("GetItem", 0), 200, false, false);
        observer.record(call("TransactWriteItems", 400), 200, false, false);
        let timeline = observer.timeline();
        assert_eq!(timeline.len(), 2);
        assert_eq!(timeline[1].operation, "TransactWriteItems");
        assert_eq!(timeline[1].took_ms, 400.0);
        assert!(timeline[1].at < before, "arrived 400 ms before it was answered");
        assert_eq!(timeline[0].caller.as_deref(), Some("Decide"));
        assert!(
            observer.calls().is_empty(),
            "the call log keeps mutating calls only"
        );
        for _ in 0..TIMELINE_CALLS {
            observer.record(call("PutItem", 0), 200, false, false);
        }
        assert_eq!(observer.timeline().len(), TIMELINE_CALLS);
        assert!(observer.timeline().iter().all(|c| c.operation == "PutItem"));
    }
}
