//! Behaviour tests of the engine, the API layer and the world: one binary, a module per
//! behaviour.

// Tables of checks and cases read best as tuples.
#![allow(clippy::type_complexity)]

mod behaviour;
mod connectors;
mod input;
mod providers;
mod spec;
mod support;

use behaviour::*;
use support::*;

fn pass(name: &str, check: fn(Option<Mutation>) -> Check) {
    assert_check(name, None, check(None));
}

#[test]
fn queued_transfer_starts_only_after_configuration() {
    pass("queued_until_configured", queued_until_configured);
}

#[test]
fn one_sessions_transfers_run_strictly_in_trigger_order() {
    pass("runs_in_trigger_order", runs_in_trigger_order);
}

#[test]
fn synchronous_trigger_completing_at_299_s_is_answered_200_then() {
    pass("sync_answered_at_completion", sync_answered_at_completion);
}

#[test]
fn synchronous_trigger_running_at_300_s_is_answered_202_exactly_then_and_completes() {
    pass("sync_capped_at_300_seconds", sync_capped_at_300_seconds);
}

#[test]
fn synchronous_completion_at_the_caps_instant_is_answered_200() {
    pass("sync_completion_wins_a_tie", sync_completion_wins_a_tie);
}

#[test]
fn synchronous_trigger_on_an_unconfigured_session_is_answered_202_at_300_s() {
    pass("sync_unconfigured_capped", sync_unconfigured_capped);
}

#[test]
fn synchronous_trigger_for_a_deleted_session_is_answered_404_at_once() {
    pass("sync_session_deleted", sync_session_deleted);
}

#[test]
fn pull_data_is_409_until_completion_then_pages_cover_every_record_once() {
    pass("pull_data_pages", pull_data_pages);
}

#[test]
fn another_api_key_gets_404_for_every_id_of_the_first() {
    pass("keys_are_isolated", keys_are_isolated);
}

#[test]
fn session_without_save_session_is_gone_at_72_h_with_transfers_cancelled() {
    pass("session_expires_at_72_hours", session_expires_at_72_hours);
}

#[test]
fn same_seed_gives_the_same_trace_hash() {
    let run = |seed: u64| {
        let mut world = world_with(seed, None, 500, 77, 100);
        let session = initiate(&mut world, serde_json::json!({})).expect("initiate");
        for _ in 0..3 {
            trigger_pull(&mut world, &session, false);
        }
        configure(&mut world, &session).expect("configure");
        trigger_pull(&mut world, &session, true);
        world.advance(3_600_000);
        (world.trace_hash(), world.trace().len())
    };
    let (first, lines) = run(42);
    assert!(
        lines > 20,
        "the trace is too short to prove anything: {lines} lines"
    );
    assert_eq!(first, run(42).0, "same seed, different trace");
    assert_ne!(
        first,
        run(43).0,
        "a different seed should mint different ids"
    );
}

/// Each mutation must make at least one of the checks above fail.
#[cfg(feature = "mutations")]
mod mutations_are_caught {
    use super::*;

    fn caught(mutation: Mutation, checks: &[(&str, fn(Option<Mutation>) -> Check)]) {
        let failed: Vec<String> = checks
            .iter()
            .filter_map(|(name, check)| {
                check(Some(mutation))
                    .err()
                    .map(|why| format!("{name}: {why}"))
            })
            .collect();
        let short: Vec<String> = failed
            .iter()
            .map(|line| line.chars().take(240).collect())
            .collect();
        eprintln!("mutation {mutation} caught by:\n  {}", short.join("\n  "));
        assert!(
            !failed.is_empty(),
            "mutation {mutation} passed every check: the tests cannot see it"
        );
    }

    const ALL: [(&str, fn(Option<Mutation>) -> Check); 10] = [
        ("queued_until_configured", queued_until_configured),
        ("runs_in_trigger_order", runs_in_trigger_order),
        ("sync_answered_at_completion", sync_answered_at_completion),
        ("sync_capped_at_300_seconds", sync_capped_at_300_seconds),
        ("sync_completion_wins_a_tie", sync_completion_wins_a_tie),
        ("sync_unconfigured_capped", sync_unconfigured_capped),
        ("sync_session_deleted", sync_session_deleted),
        ("pull_data_pages", pull_data_pages),
        ("keys_are_isolated", keys_are_isolated),
        ("session_expires_at_72_hours", session_expires_at_72_hours),
    ];

    #[test]
    fn queue_ignores_configuration_is_caught() {
        caught(Mutation::QueueIgnoresConfiguration, &ALL);
    }

    #[test]
    fn sync_ignores_cap_is_caught() {
        caught(Mutation::SyncIgnoresCap, &ALL);
    }

    #[test]
    fn data_before_complete_is_caught() {
        caught(Mutation::DataBeforeComplete, &ALL);
    }

    #[test]
    fn fifo_broken_is_caught() {
        caught(Mutation::FifoBroken, &ALL);
    }

    #[test]
    fn every_mutation_has_a_catching_test() {
        assert_eq!(
            Mutation::ALL.len(),
            4,
            "a new mutation needs its own `_is_caught` test above"
        );
    }
}
