//! Pushed items exist exactly once.
//!
//! **Invariant:** for every push of a live, configured session, at its provider account:
//! - no external id is carried by two records (a push written twice);
//! - every item reported successful exists: its reported id names a record of the object;
//! - an item is identified by its `email` (the fuzzer gives every pushed contact a unique one):
//!   an item reported successful is carried by exactly one record, a failed item by at most one.
//!
//! Records removed by the scenario itself are out of scope: if the object lost a record after
//! the push started, "exactly one" relaxes to "at most one".

use std::collections::BTreeMap;

use transfersim_sim::engine::Direction;
use transfersim_sim::world::World;

use super::{Checker, account_of, object_of};

/// Successful items exist exactly once, failed ones at most once, no external id twice.
#[derive(Debug)]
pub struct PushExactlyOnce;

impl Checker for PushExactlyOnce {
    fn name(&self) -> &'static str {
        "push_exactly_once"
    }

    fn check(&self, world: &World) -> Result<(), String> {
        let engine = world.engine();
        let now = world.now();
        for transfer in engine.transfers() {
            if transfer.direction != Direction::Push {
                continue;
            }
            let Some(started) = transfer.started_at else {
                continue;
            };
            let Some(binding) = engine
                .session(now, &transfer.key, &transfer.session_id)
                .and_then(|session| session.binding.as_ref())
            else {
                continue;
            };
            let Some((mock, account)) = account_of(world, binding) else {
                continue;
            };
            if let Some(duplicate) = mock
                .duplicate_external_ids(&account)
                .ok()
                .and_then(|duplicates| duplicates.into_iter().next())
            {
                return Err(format!(
                    "external id {} is carried by {} records of {}: {:?}",
                    duplicate.external_id,
                    duplicate.record_ids.len(),
                    duplicate.object,
                    duplicate.record_ids
                ));
            }
            let object = object_of(binding.provider, transfer.endgrate_type);
            let Ok(records) = mock.records(&account, object) else {
                continue;
            };
            let removed_since = mock
                .last_removal_ms(&account, object)
                .is_some_and(|removed| removed >= started);
            let mut by_email: BTreeMap<String, u32> = BTreeMap::new();
            for record in &records {
                if let Some(email) = email_of(&record.properties) {
                    *by_email.entry(email).or_insert(0) += 1;
                }
            }
            for (index, (item, outcome)) in
                transfer.items.iter().zip(&transfer.outcomes).enumerate()
            {
                let Some(outcome) = outcome else {
                    continue;
                };
                let copies = item
                    .data
                    .get("email")
                    .map(|email| by_email.get(&email.to_lowercase()).copied().unwrap_or(0));
                if outcome.success {
                    let exists = outcome
                        .id
                        .as_ref()
                        .is_some_and(|id| records.iter().any(|record| *record.id == **id));
                    if !exists && !removed_since {
                        return Err(format!(
                            "push {} item {index} was reported written as {:?}, but {object} has no such record",
                            transfer.id, outcome.id
                        ));
                    }
                    if let Some(copies) = copies
                        && (copies > 1 || (copies == 0 && !removed_since))
                    {
                        return Err(format!(
                            "push {} item {index} was reported written once, but {copies} records of {object} carry it",
                            transfer.id
                        ));
                    }
                } else if let Some(copies) = copies
                    && copies > 1
                {
                    return Err(format!(
                        "push {} item {index} failed, yet {copies} records of {object} carry it",
                        transfer.id
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A record's email, whatever the provider calls the property (`email`, `Email`), lowercased.
fn email_of(properties: &BTreeMap<String, serde_json::Value>) -> Option<String> {
    properties
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("email"))
        .and_then(|(_, value)| value.as_str())
        .map(str::to_lowercase)
}
