//! `transfersim fuzz`: seeds pass on the real engine, runs are deterministic, replay prints a
//! trace, shrunk scenarios round-trip through YAML and `check`, and (mutation builds) the fuzzer
//! catches each deliberate engine bug and shrinks it to a short scenario.

use std::collections::BTreeSet;
use std::process::Command;

use transfersim::fuzz::workload::ReceiverPlan;
use transfersim::fuzz::{self, FuzzConfig};
use transfersim_sim::engine::EngineConfig;

fn config(from: u64, seeds: u64) -> FuzzConfig {
    FuzzConfig {
        from,
        seeds,
        time_limit: None,
        shard: (0, 1),
        check_determinism: false,
        regressions: None,
        engine: EngineConfig::default(),
        mutation: None,
    }
}

fn failures_of(summary: &fuzz::Summary) -> String {
    summary
        .failures
        .iter()
        .map(|failure| {
            format!(
                "seed {}: {}: {}",
                failure.seed, failure.failure.invariant, failure.failure.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn three_hundred_seeds_pass_on_the_real_engine() {
    let summary = fuzz::fuzz(&config(0, 300), &mut |_| {});
    assert_eq!(summary.simulations, 300);
    assert!(summary.events > 0, "the workloads did nothing");
    assert!(summary.failures.is_empty(), "{}", failures_of(&summary));
}

#[test]
fn twenty_seeds_run_twice_give_the_same_trace_hashes() {
    let mut checked = config(1_000, 20);
    checked.check_determinism = true;
    let summary = fuzz::fuzz(&checked, &mut |_| {});
    assert_eq!(summary.simulations, 40);
    assert!(summary.failures.is_empty(), "{}", failures_of(&summary));
}

#[test]
fn shards_split_the_seeds_without_overlap() {
    let mut seen = Vec::new();
    for index in 0..3 {
        let mut shard = config(10, 20);
        shard.shard = (index, 3);
        seen.extend(fuzz::seeds_of(&shard));
    }
    seen.sort_unstable();
    assert_eq!(seen, (10..30).collect::<Vec<_>>());
}

#[test]
fn replay_prints_the_full_trace_and_the_verdict() {
    let output = Command::new(env!("CARGO_BIN_EXE_transfersim"))
        .args(["fuzz", "--replay", "7"])
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("api POST /api/session/initiate"), "{text}");
    assert!(text.contains("trace hash "), "{text}");
    assert!(text.contains("seed 7 passed"), "{text}");
    let again = Command::new(env!("CARGO_BIN_EXE_transfersim"))
        .args(["fuzz", "--replay", "7"])
        .output()
        .expect("the binary runs");
    assert_eq!(output.stdout, again.stdout, "a replay is byte-identical");
}

#[test]
fn the_fuzz_command_prints_rates_and_exits_zero_when_all_pass() {
    let output = Command::new(env!("CARGO_BIN_EXE_transfersim"))
        .args(["fuzz", "--seeds", "10", "--shard", "1/2", "--no-shrink"])
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("5 simulations in"), "{text}");
    assert!(text.contains("simulations/s"), "{text}");
    assert!(text.contains("events/s"), "{text}");
    assert!(text.contains("0 failures"), "{text}");
}

#[test]
fn a_generated_scenario_round_trips_through_yaml_and_passes_check() {
    let dir =
        std::env::temp_dir().join(format!("transfersim-fuzz-roundtrip-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // A seed whose sessions send webhooks, so the file carries receivers and their URLs.
    let seed = (0..100)
        .find(|&seed| {
            fuzz::workload_for(seed)
                .sessions
                .iter()
                .any(|session| session.receiver.is_some())
        })
        .expect("some workload sends webhooks");
    let workload = fuzz::workload_for(seed);
    let scenario = workload.to_scenario("ignored", seed);
    let shrunk = fuzz::shrink::Shrunk {
        seed,
        invariant: "example".to_owned(),
        workload,
        steps: scenario.steps.len(),
        scenario,
        path: None,
    };
    let path = fuzz::shrink::write(&dir, &shrunk, None).expect("written");
    let text = std::fs::read_to_string(&path).expect("readable");
    assert!(text.contains("- invariants:"), "{text}");
    assert!(text.contains("in-memory-only"), "{text}");
    assert!(text.contains("receivers:"), "{text}");
    assert!(text.contains("completed_webhook:"), "{text}");
    assert!(text.contains("{{receivers.r"), "{text}");
    let output = Command::new(env!("CARGO_BIN_EXE_transfersim"))
        .args(["check", "--scenarios"])
        .arg(&dir)
        .output()
        .expect("the binary runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("1 passed"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn workloads_have_every_kind_of_receiver_both_delivery_modes_and_round_trip() {
    let mut kinds = BTreeSet::new();
    let mut modes = BTreeSet::new();
    for seed in 0..100 {
        let workload = fuzz::workload_for(seed);
        for receiver in &workload.receivers {
            kinds.insert(match receiver {
                ReceiverPlan::Fast { delay_ms } => {
                    assert!(*delay_ms <= 10_000, "seed {seed}: {receiver:?}");
                    "fast"
                }
                ReceiverPlan::Slow { delay_ms, .. } => {
                    assert!(*delay_ms > 10_000, "seed {seed}: {receiver:?}");
                    "slow"
                }
                ReceiverPlan::Failing { status, .. } => {
                    assert!((500..600).contains(status), "seed {seed}: {receiver:?}");
                    "failing"
                }
                ReceiverPlan::Down { window } => {
                    assert!(window.length_ms > 0, "seed {seed}: {receiver:?}");
                    "down"
                }
            });
        }
        for session in &workload.sessions {
            if session.receiver.is_some() {
                modes.insert(session.webhook_concurrency);
            }
        }
        let scenario = workload.to_scenario(&format!("fuzz seed {seed}"), seed);
        assert_eq!(scenario.receivers.len(), workload.receivers.len());
        let shrunk = fuzz::shrink::Shrunk {
            seed,
            invariant: "example".to_owned(),
            steps: scenario.steps.len(),
            workload,
            scenario: scenario.clone(),
            path: None,
        };
        let text = fuzz::shrink::to_yaml(&shrunk, None).expect("serialises");
        let parsed = transfersim::scenario::parse("generated.yaml", &text)
            .unwrap_or_else(|error| panic!("seed {seed} does not parse back: {error}\n{text}"));
        assert_eq!(parsed, scenario, "seed {seed} does not round-trip:\n{text}");
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["down", "failing", "fast", "slow"]
    );
    assert_eq!(modes.into_iter().collect::<Vec<_>>(), [false, true]);
}

/// The proof that the fuzzer finds bugs: each mutation is caught within 200 seeds and shrunk
/// to a scenario of at most 10 steps that fails on the mutated build and passes on the real one.
#[cfg(feature = "mutations")]
mod mutations {
    use std::process::Command;

    use transfersim::fuzz::workload::{
        AccountPlan, Op, ReceiverPlan, SessionPlan, Window, Workload,
    };
    use transfersim::fuzz::{self, shrink};
    use transfersim::scenario::ProviderKind;
    use transfersim_sim::engine::EngineConfig;
    use transfersim_sim::mutations::Mutation;

    /// The most seeds the proof may need.
    const SEEDS_MAX: u64 = 200;
    /// The most steps a shrunk scenario may have.
    const STEPS_MAX: usize = 10;

    fn caught(mutation: Mutation) {
        let engine = EngineConfig {
            mutation: Some(mutation),
            ..EngineConfig::default()
        };
        let (seed, failure) = (0..SEEDS_MAX)
            .find_map(|seed| {
                fuzz::run_seed(seed, &engine)
                    .failure
                    .map(|failure| (seed, failure))
            })
            .unwrap_or_else(|| panic!("{mutation} was not caught within {SEEDS_MAX} seeds"));
        let shrunk = shrink::shrink(seed, &engine, &failure.invariant);
        assert!(
            shrunk.steps <= STEPS_MAX,
            "{mutation}: seed {seed} ({}) shrank only to {} steps",
            failure.invariant,
            shrunk.steps
        );
        let dir = std::env::temp_dir().join(format!(
            "transfersim-fuzz-{mutation}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        shrink::write(&dir, &shrunk, Some(mutation.name())).expect("written");
        let check = |with_mutation: bool| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_transfersim"));
            command.args(["check", "--scenarios"]).arg(&dir);
            if with_mutation {
                command.args(["--mutation", mutation.name()]);
            }
            command.output().expect("the binary runs")
        };
        let mutated = check(true);
        let real = check(false);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            mutated.status.code(),
            Some(1),
            "{mutation}: the shrunk scenario passes on the mutated build:\n{}",
            String::from_utf8_lossy(&mutated.stdout)
        );
        assert!(
            real.status.success(),
            "{mutation}: the shrunk scenario fails on the real engine:\n{}",
            String::from_utf8_lossy(&real.stdout)
        );
    }

    #[test]
    fn fuzz_catches_fifo_broken() {
        caught(Mutation::FifoBroken);
    }

    #[test]
    fn fuzz_catches_queue_ignores_configuration() {
        caught(Mutation::QueueIgnoresConfiguration);
    }

    #[test]
    fn fuzz_catches_key_leak() {
        caught(Mutation::KeyLeak);
    }

    #[test]
    fn fuzz_catches_refresh_per_request() {
        caught(Mutation::RefreshPerRequest);
    }

    #[test]
    fn fuzz_catches_resend_as_create() {
        caught(Mutation::ResendAsCreate);
    }

    #[test]
    fn fuzz_catches_sync_ignores_cap() {
        caught(Mutation::SyncIgnoresCap);
    }

    #[test]
    fn fuzz_catches_sync_answers_early() {
        caught(Mutation::SyncAnswersEarly);
    }

    #[test]
    fn fuzz_catches_page_skips_record() {
        caught(Mutation::PageSkipsRecord);
    }

    #[test]
    fn fuzz_catches_completed_before_data() {
        caught(Mutation::CompletedBeforeData);
    }

    /// Beyond the issue's list: the proof that `serial_webhooks_in_order` can fail.
    #[test]
    fn fuzz_catches_webhook_unordered() {
        caught(Mutation::WebhookUnordered);
    }

    /// `completed_webhook_delivered` (checked only once settled) fails when a failed webhook
    /// is never retried: a concurrent-mode session whose receiver answers 503 for its first
    /// minute gets no completed webhook under `webhook-no-retry`, and gets it on a retry on the
    /// real engine.
    #[test]
    fn completed_webhook_delivered_catches_a_webhook_that_is_never_retried() {
        let workload = Workload {
            accounts: vec![AccountPlan {
                provider: ProviderKind::Hubspot,
                budget: None,
                page_size: 5,
                contacts: 3,
                companies: 0,
                token_lifetime_s: None,
                rotation: false,
            }],
            sessions: vec![SessionPlan {
                account: 0,
                other_key: false,
                sync: false,
                configure_after: Some(0),
                receiver: Some(0),
                webhook_concurrency: true,
            }],
            receivers: vec![ReceiverPlan::Failing {
                status: 503,
                window: Some(Window {
                    from_ms: 0,
                    length_ms: 60_000,
                }),
            }],
            ops: vec![Op::Pull {
                session: 0,
                companies: false,
                synchronous: false,
            }],
        };
        let scenario = workload.to_scenario("completed webhook never retried", 1);
        let real = fuzz::run_scenario(&scenario, EngineConfig::default());
        assert_eq!(real.failure, None, "the real engine retries and delivers");
        assert!(
            real.trace
                .iter()
                .any(|line| line.contains("data attempt 2")),
            "the data webhook is retried, holding the completed one: {:#?}",
            real.trace
        );
        let mutated = fuzz::run_scenario(
            &scenario,
            EngineConfig {
                mutation: Some(Mutation::WebhookNoRetry),
                ..EngineConfig::default()
            },
        );
        let failure = mutated.failure.expect("the mutated engine is caught");
        assert_eq!(
            failure.invariant, "completed_webhook_delivered",
            "{failure:?}"
        );
        assert!(
            failure.message.contains("delivered 0 times in 1 attempts"),
            "{failure:?}"
        );
    }
}
