//! The quarantine's first invocation: Enrich, Decide and Reconcile's first pass in one Lambda
//! (Decide's function), so that the first containing call waits for one invoke and one round
//! of reads. The lookups, the LIVE core network policy and the budget ledger are read at once;
//! then the demand, the one journal write before the tag; then the tag. What Enrich saw is
//! handed on in process, so nothing is read twice. Everything after the tag (the trail, the
//! sighting, the attachment hints, verification) is written after it or left to the loop.

use super::decide::{decide_with, Prefetched};
use super::enrich::{enrich, EnrichInput};
use super::reconcile::first_pass;
use crate::contract::Incident;
use crate::error::StepError;
use crate::ports::Ports;

pub async fn contain(p: &Ports, input: EnrichInput) -> Result<Incident, StepError> {
    // Read beside the lookups, before it is known whether a leg is attached or the plan
    // spends the budget: a wasted read when none is, one round trip fewer when one is.
    let policy = p.cloud_wan.live_policy(&p.settings.core_network_id);
    let ledger = async {
        match p.settings.policy.budget {
            Some(_) => Some(p.journal.budget().await),
            None => None,
        }
    };
    let (enriched, policy, ledger) = futures::join!(enrich(p, input), policy, ledger);
    let (incident, lookups) = enriched?;
    // Every log line from here on names the incident and its attachments.
    super::record(&incident);
    let read = Prefetched {
        policy: Some(policy),
        ledger,
        lookups,
    };
    let (mut incident, seen) = decide_with(p, incident, read).await?;
    if let Some(progress) = incident.reconcile.as_mut() {
        first_pass(p, progress, seen).await;
    }
    Ok(incident)
}
