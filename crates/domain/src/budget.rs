//! The blast-radius budget's ledger: the VPCs newly cut off in the rolling window. A new
//! quarantine episode is admitted by adding its move here, in the same transaction as its
//! demand, so that concurrent findings can never exceed the budget together. An escalation of
//! a VPC already held is not a new move and spends nothing.

use crate::decision::BudgetUsage;
use crate::response_policy::{short_duration, Budget};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetLedger {
    /// The optimistic lock (0: never written).
    pub version: u64,
    pub moves: Vec<Move>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub account: String,
    pub attachment_id: String,
    pub incident_id: String,
}

fn window_of(budget: &Budget) -> time::Duration {
    time::Duration::try_from(budget.window).unwrap_or(time::Duration::HOUR)
}

impl BudgetLedger {
    /// Moves in the window ending `now`, overall and in `account`.
    pub fn usage(&self, budget: &Budget, account: &str, now: OffsetDateTime) -> BudgetUsage {
        let since = now - window_of(budget);
        let recent = self.moves.iter().filter(|m| m.at > since);
        let (mut overall, mut in_account) = (0, 0);
        for m in recent {
            overall += 1;
            in_account += u32::from(m.account == account);
        }
        BudgetUsage {
            overall,
            account: in_account,
        }
    }

    /// Whether this incident's move of this attachment is in the ledger already (a retried
    /// decision must not spend twice).
    pub fn has(&self, incident_id: &str, attachment_id: &str) -> bool {
        self.moves
            .iter()
            .any(|m| m.incident_id == incident_id && m.attachment_id == attachment_id)
    }

    /// Adds a move, dropping the ones the window has left behind. The caller decided with
    /// [`Self::usage`] that the budget allows it.
    pub fn spend(&mut self, budget: &Budget, m: Move) {
        let since = m.at - window_of(budget);
        self.moves.retain(|old| old.at > since);
        if !self.has(&m.incident_id, &m.attachment_id) {
            self.moves.push(m);
        }
    }

    /// Whether one plan's new episodes fit in the budget together: all of them or none, so
    /// that an attack sequence is never half contained by the order of its legs. Moves this
    /// ledger has already (a retried decision) count once. Err: the sentence that says why not.
    pub fn admit_plan(&self, budget: &Budget, moves: &[Move], now: OffsetDateTime) -> Result<(), String> {
        let new: Vec<&Move> = moves
            .iter()
            .filter(|m| !self.has(&m.incident_id, &m.attachment_id))
            .collect();
        let window = short_duration(budget.window);
        let needs = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let used = self.usage(budget, "", now).overall;
        if used.saturating_add(needs(new.len())) > budget.max_moves {
            return Err(format!(
                "the plan needs {} new quarantine(s), and {used} moves in the last {window} leave room for {} of the budget's {}",
                new.len(),
                budget.max_moves.saturating_sub(used),
                budget.max_moves
            ));
        }
        let Some(max) = budget.max_moves_per_account else {
            return Ok(());
        };
        for account in new.iter().map(|m| m.account.as_str()) {
            let used = self.usage(budget, account, now).account;
            let here = needs(new.iter().filter(|m| m.account == account).count());
            if used.saturating_add(here) > max {
                return Err(format!(
                    "the plan needs {here} new quarantine(s) in account {account}, and {used} moves there in the last {window} leave room for {} of the per-account budget's {max}",
                    max.saturating_sub(used)
                ));
            }
        }
        Ok(())
    }
}
