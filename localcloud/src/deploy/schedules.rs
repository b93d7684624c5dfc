//! A function's schedules (`Schedule` and `ScheduleV2` events): run every
//! `schedule_every` by the local cloud when their expression is a `rate(…)`, on demand
//! otherwise (`cwq local schedule run`).

use crate::admin::Schedule;
use serde_json::Value;
use std::time::Duration;

/// The schedules among the function `logical`'s (named `physical`) resolved events.
pub(super) fn schedules_of(
    logical: &str,
    physical: &str,
    properties: &Value,
    schedule_every: Option<Duration>,
) -> Vec<Schedule> {
    let events = properties["Events"].as_object().into_iter().flatten();
    events
        .filter(|(_, event)| matches!(event["Type"].as_str(), Some("ScheduleV2" | "Schedule")))
        .map(|(event_name, event)| {
            let expression = event["Properties"]["ScheduleExpression"]
                .as_str()
                .or(event["Properties"]["Schedule"].as_str())
                .unwrap_or_default()
                .to_string();
            let every_ms = schedule_every
                .filter(|_| rate_seconds(&expression).is_some())
                .map(|d| d.as_millis() as u64);
            Schedule {
                name: format!("{logical}.{event_name}"),
                function: physical.to_string(),
                expression,
                every_ms,
                input: event["Properties"]["Input"].as_str().unwrap_or("{}").to_string(),
            }
        })
        .collect()
}

/// `rate(5 minutes)` → 300 s; cron expressions are run on demand only.
fn rate_seconds(expression: &str) -> Option<u64> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    Some(match unit.trim_end_matches('s') {
        "minute" => n * 60,
        "hour" => n * 3600,
        "day" => n * 86400,
        _ => return None,
    })
}
