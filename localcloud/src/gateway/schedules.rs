//! The deployed schedules: replaced as a whole by each deploy; those with an interval run on
//! their own, every one runs on demand. A run is an Invoke through the gateway, so Lambda
//! faults and counters apply to it.

use super::{invocation_path, LocalCloud};
use crate::admin::Schedule;
use crate::api::ApiResponse;
use crate::defaults::DEFAULT_ACCOUNT;
use bytes::Bytes;
use std::sync::Arc;

impl LocalCloud {
    /// Replaces the deployed schedules; those with an interval run on their own.
    pub(super) fn replace_schedules(self: &Arc<Self>, schedules: Vec<Schedule>) {
        let mut current = self.schedules.lock().expect("lock");
        for (_, task) in current.drain(..) {
            if let Some(task) = task {
                task.abort();
            }
        }
        for schedule in schedules {
            let task = schedule
                .every_ms
                .filter(|ms| *ms > 0)
                .map(|ms| self.spawn_schedule(schedule.clone(), ms));
            current.push((schedule, task));
        }
    }

    /// Runs `schedule` every `ms` milliseconds (the first run one interval from now), until
    /// it is replaced or the local cloud is gone.
    fn spawn_schedule(self: &Arc<Self>, schedule: Schedule, ms: u64) -> tokio::task::JoinHandle<()> {
        let cloud = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(std::time::Duration::from_millis(ms));
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(cloud) = cloud.upgrade() else { return };
                cloud.run_schedule(&schedule).await;
            }
        })
    }

    pub(super) fn schedules(&self) -> Vec<Schedule> {
        let schedules = self.schedules.lock().expect("lock");
        schedules.iter().map(|(s, _)| s.clone()).collect()
    }

    pub(super) fn schedule(&self, name: &str) -> Option<Schedule> {
        let schedules = self.schedules.lock().expect("lock");
        schedules
            .iter()
            .find(|(s, _)| s.name == name)
            .map(|(s, _)| s.clone())
    }

    pub(super) async fn run_schedule(&self, schedule: &Schedule) -> ApiResponse {
        let payload = Bytes::from(schedule.input.clone());
        self.lambda_call(
            &invocation_path(&schedule.function),
            DEFAULT_ACCOUNT,
            None,
            payload,
        )
        .await
    }
}
