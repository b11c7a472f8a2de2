//! `transfersim check` as users and CI meet it: the embedded suite passes in memory, results do
//! not depend on `--jobs`, bad files are located errors, reports parse, coverage is listed, and a
//! failure says how to replay it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn transfersim(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_transfersim"))
        .args(args)
        .env("NO_COLOR", "1")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the transfersim binary runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A fresh folder of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("transfersim-check-tests")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn suite_scenario(file: &str) -> String {
    text(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(file),
    )
}

/// A copy of a suite scenario whose `answered_after` expects 200 s instead of 300 s.
fn broken_scenario(dir: &Path) {
    let broken = suite_scenario("sync_trigger_answered_202_at_300_seconds.yaml")
        .replace("seconds: 300, tolerance: 1", "seconds: 200, tolerance: 1")
        .replacen(
            "name: sync trigger answered 202 at 300 seconds, then polled until complete",
            "name: a deliberately broken copy",
            1,
        );
    std::fs::write(dir.join("broken.yaml"), broken).expect("write");
}

#[test]
fn the_embedded_suite_passes_in_memory_from_any_folder() {
    let run = transfersim(&["check"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(" 0 failed"), "{}", run.stdout);
    assert!(run.stdout.contains("requirement"), "{}", run.stdout);
}

/// Name, result and trace hash of each scenario, from a JSON report.
fn outcomes(report: &Value) -> Vec<(String, String, String)> {
    report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .map(|scenario| {
            (
                scenario["name"].as_str().unwrap_or_default().to_owned(),
                scenario["result"].as_str().unwrap_or_default().to_owned(),
                scenario["trace_hash"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

#[test]
fn four_jobs_give_the_same_results_and_traces_as_one() {
    let dir = scratch("jobs");
    let one = dir.join("one.json");
    let four = dir.join("four.json");
    let first = transfersim(&["check", "--jobs", "1", "--json", one.to_str().unwrap_or("")]);
    let second = transfersim(&[
        "check",
        "--jobs",
        "4",
        "--json",
        four.to_str().unwrap_or(""),
    ]);
    assert_eq!(first.code, 0, "{}", first.stdout);
    assert_eq!(second.code, 0, "{}", second.stdout);
    let one: Value = serde_json::from_str(&text(&one)).expect("json report");
    let four: Value = serde_json::from_str(&text(&four)).expect("json report");
    assert!(outcomes(&one).len() >= 3);
    assert_eq!(outcomes(&one), outcomes(&four));
}

#[test]
fn a_malformed_scenario_file_is_a_located_error_and_exit_2() {
    let dir = scratch("malformed");
    std::fs::write(
        dir.join("bad.yaml"),
        "name: bad\nrequirements: [SESSION-1]\nspan: 10m\nsteps:\n  - request:\n      method: GET\n      path: /api/integrations\n      expect: {stauts: 200}\n",
    )
    .expect("write");
    let run = transfersim(&["check", "--scenarios", dir.to_str().unwrap_or("")]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("bad.yaml:8:"), "{}", run.stderr);
    assert!(run.stderr.contains("stauts"), "{}", run.stderr);
}

#[test]
fn the_junit_report_is_xml_with_one_testcase_per_scenario() {
    let dir = scratch("junit");
    let path = dir.join("report.xml");
    let run = transfersim(&["check", "--junit", path.to_str().unwrap_or("")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let listed = transfersim(&["check", "--list"]).stdout.lines().count();
    let xml = text(&path);
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut testcases = 0;
    let mut testsuites = 0;
    // Bounded by the document: each turn consumes one event.
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(element))
            | Ok(quick_xml::events::Event::Empty(element)) => match element.name().as_ref() {
                "testcase" => testcases += 1,
                "testsuites" => testsuites += 1,
                _ => {}
            },
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(error) => panic!("the JUnit report is not XML: {error}\n{xml}"),
        }
    }
    assert_eq!(testsuites, 1, "{xml}");
    assert_eq!(testcases, listed, "{xml}");
}

#[test]
fn coverage_lists_every_requirement_with_its_scenarios_or_named_test() {
    let run = transfersim(&["check", "--coverage"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .lines()
            .any(|line| line.starts_with("SYNCHRONOUS-2") && line.contains("sync trigger")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("test: "), "{}", run.stdout);
    assert!(run.stdout.contains("requirements:"), "{}", run.stdout);
}

/// Issue 6's acceptance: the embedded suite and named tests cover every requirement.
#[test]
fn the_embedded_suite_covers_every_requirement() {
    let run = transfersim(&["check", "--coverage", "--require-full-coverage"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("GAP"), "{}", run.stdout);
    assert!(run.stdout.contains(", 0 gaps"), "{}", run.stdout);
}

#[test]
fn require_full_coverage_fails_on_a_gap() {
    let dir = scratch("coverage");
    std::fs::write(
        dir.join("one.yaml"),
        suite_scenario("sync_push_answered_at_completion.yaml"),
    )
    .expect("write");
    let run = transfersim(&[
        "check",
        "--coverage",
        "--require-full-coverage",
        "--scenarios",
        dir.to_str().unwrap_or(""),
    ]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("GAP"), "{}", run.stdout);
}

#[test]
fn a_failing_scenario_shows_expected_against_actual_the_trace_and_the_replay_command() {
    let dir = scratch("failing");
    broken_scenario(&dir);
    let folder = dir.to_str().unwrap_or("");
    let run = transfersim(&["check", "--scenarios", folder]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let replay = format!(
        "transfersim check --filter 'a deliberately broken copy' --seed 3 --scenarios '{folder}'"
    );
    assert!(run.stdout.contains(&replay), "{}", run.stdout);
    assert!(
        run.stdout.contains("expected: 200 s ± 1 s"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("actual:   300 s"), "{}", run.stdout);
    assert!(run.stdout.contains("last 30 trace lines"), "{}", run.stdout);
    assert!(
        run.stdout.contains("steps[2].concurrently[0][0] (request)"),
        "{}",
        run.stdout
    );
}

/// A scenario whose session sends its configuration webhook to `hooks`, then runs `expect`.
fn webhook_scenario(expect: &str) -> String {
    format!(
        "name: hooks\nrequirements: [WEBHOOK-4]\nspan: 1h\nkeys: [main]\nproviders:\n  hub: {{provider: hubspot}}\n\
         receivers:\n  hooks:\n    - {{until: 1m, respond: {{status: 503}}}}\n    - respond: {{status: 200}}\nsteps:\n\
         \x20 - request:\n      method: POST\n      path: /api/push/initiate\n\
         \x20     body: {{schema: [{{endgrate_type: crm-contact}}], configuration_webhook: {{endpoint: \"{{{{receivers.hooks.url}}}}\", metadata: {{m: 1}}}}}}\n\
         \x20     capture: {{session_id: /session_id}}\n\
         \x20 - request:\n      method: POST\n      path: /api/test_helpers/session/configure\n\
         \x20     body: {{session_id: \"{{{{session_id}}}}\", provider: hubspot, provider_base_url: \"{{{{providers.hub.base_url}}}}\",\
         \x20 credentials: {{refresh_token: \"{{{{providers.hub.refresh_token}}}}\", client_id: \"{{{{providers.hub.client_id}}}}\", client_secret: \"{{{{providers.hub.client_secret}}}}\"}}}}\n\
         \x20     expect: {{status: 200}}\n{expect}"
    )
}

#[test]
fn a_webhook_expectation_passes_when_the_receiver_got_the_webhook() {
    let dir = scratch("webhooks-pass");
    std::fs::write(
        dir.join("hooks.yaml"),
        webhook_scenario(
            "  - webhooks_expect: {receiver: hooks, none_within: 1m}\n\
             \x20 - webhooks_expect: {receiver: hooks, type: configuration, payload: {session_id: \"{{session_id}}\", metadata: {m: 1}}, count: 1, attempts: 4, signed: true, within: 2m}\n",
        ),
    )
    .expect("write");
    let run = transfersim(&["check", "--scenarios", dir.to_str().unwrap_or("")]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("1 passed, 0 failed, 0 skipped"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_failed_webhook_expectation_shows_expected_against_actual() {
    let dir = scratch("webhooks-fail");
    // The receiver fails for a minute, so within 30 s nothing is delivered: count 1 fails.
    std::fs::write(
        dir.join("hooks.yaml"),
        webhook_scenario(
            "  - webhooks_expect: {receiver: hooks, type: configuration, count: 1, within: 30s}\n",
        ),
    )
    .expect("write");
    let run = transfersim(&["check", "--scenarios", dir.to_str().unwrap_or("")]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("steps[2] (webhooks_expect)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("within 30s"), "{}", run.stdout);
    assert!(run.stdout.contains("expected: 1"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("actual:   0 (2 undelivered attempts of matching webhooks)"),
        "{}",
        run.stdout
    );

    // A wrong `order` and a `none_within` that sees a delivery fail too, with what came.
    std::fs::write(
        dir.join("hooks.yaml"),
        webhook_scenario("  - webhooks_expect: {receiver: hooks, none_within: 5m}\n"),
    )
    .expect("write");
    let run = transfersim(&["check", "--scenarios", dir.to_str().unwrap_or("")]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("none_within"), "{}", run.stdout);
    assert!(
        run.stdout.contains("1: [configuration at 155 s]"),
        "{}",
        run.stdout
    );
}

#[test]
fn nested_concurrently_lists_run_side_by_side_and_the_span_is_enforced() {
    let dir = scratch("nested");
    std::fs::write(
        dir.join("nested.yaml"),
        "name: nested\nrequirements: [SESSION-1]\nspan: 1h\nsteps:\n  - concurrently:\n      - - concurrently:\n            - - advance: 1s\n            - - advance: 2s\n      - - advance: 1s\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("long.yaml"),
        "name: too long\nrequirements: [SESSION-1]\nspan: 1h\nsteps:\n  - advance: 2h\n",
    )
    .expect("write");
    let path = dir.join("report.json");
    let run = transfersim(&[
        "check",
        "--scenarios",
        dir.to_str().unwrap_or(""),
        "--json",
        path.to_str().unwrap_or(""),
    ]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(&text(&path)).expect("json report");
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    let nested = scenarios
        .iter()
        .find(|scenario| scenario["name"] == "nested")
        .expect("nested ran");
    assert_eq!(nested["result"], "passed", "{nested}");
    assert_eq!(nested["scenario_ms"], 2000, "{nested}");
    assert!(
        run.stdout.contains("would run past its span of 1h"),
        "{}",
        run.stdout
    );
}

#[test]
fn filter_and_tag_choose_scenarios() {
    let listed = transfersim(&["check", "--list", "--filter", "sync push"]);
    assert_eq!(listed.stdout.lines().count(), 1, "{}", listed.stdout);
    let tagged = transfersim(&["check", "--list", "--tag", "in-memory-only"]);
    assert!(
        tagged
            .stdout
            .lines()
            .all(|line| !line.contains("sync push answered")),
        "{}",
        tagged.stdout
    );
}

#[test]
fn seed_overrides_every_scenarios_seed_and_appears_in_the_replay_command() {
    let dir = scratch("seed");
    let path = dir.join("report.json");
    let run = transfersim(&[
        "check",
        "--filter",
        "sync push",
        "--seed",
        "42",
        "--json",
        path.to_str().unwrap_or(""),
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(&text(&path)).expect("json report");
    assert_eq!(report["scenarios"][0]["seed"], 42);
    assert_eq!(
        report["scenarios"][0]["replay"],
        "transfersim check --filter 'sync push answered at completion' --seed 42"
    );
}

/// Random, valid scenarios built from a small vocabulary of steps never make the runner or the
/// world panic: whatever happens is a pass, a located failure or a skip.
mod robustness {
    use proptest::prelude::*;
    use transfersim::runner::{self, MemoryTarget, RunOptions, SuiteScenario, Verdict};
    use transfersim::scenario;

    const STEPS: [&str; 16] = [
        "{request: {method: POST, path: /api/pull/initiate, body: {schema: [{endgrate_type: crm-contact}]}, capture: {session_id: /session_id}}}",
        "{request: {method: POST, path: /api/test_helpers/session/configure, body: {session_id: '{{session_id}}', provider: hubspot, provider_base_url: '{{providers.hub.base_url}}', credentials: {refresh_token: '{{providers.hub.refresh_token}}', client_id: '{{providers.hub.client_id}}', client_secret: '{{providers.hub.client_secret}}'}}}}",
        "{request: {method: POST, path: /api/pull/transfer, body: {session_id: '{{session_id}}', endgrate_type: crm-contact, synchronous: true}, capture: {transfer_id: /transfer_id}}}",
        "{request: {method: POST, path: /api/pull/transfer, body: {session_id: '{{session_id}}', endgrate_type: crm-contact}, capture: {transfer_id: /transfer_id}}}",
        "{request: {method: GET, path: /api/statistics, query: {transfer_id: '{{transfer_id}}'}, expect: {status: 200}}}",
        "{request: {method: GET, path: /api/pull/data, query: {transfer_id: '{{transfer_id}}', limit: '0'}}}",
        "{request: {method: DELETE, path: /nowhere, omit_headers: [Authorization]}}",
        "{poll: {request: {method: GET, path: /api/integrations}, every: 1s, until: {status: 200}, deadline: 10s}}",
        "{advance: 0s}",
        "{advance: 30s}",
        "{advance: 6m}",
        "{provider: {account: hub, expire_tokens: true}}",
        "{provider: {account: hub, revoke_grant: true}}",
        "{provider: {account: hub, add_fault: {verdict: {status: {code: 503}}, count: 3}}}",
        "{provider: {account: hub, add_fault: {verdict: timeout_after_acting, count: 2}}}",
        "{provider_expect: {account: hub, object: contacts, record_count: 20, no_duplicates: true}}",
    ];

    fn step() -> impl Strategy<Value = String> {
        let leaf = (0..STEPS.len()).prop_map(|index| STEPS[index].to_owned());
        prop_oneof![
            4 => leaf.clone(),
            1 => (leaf.clone(), leaf).prop_map(|(left, right)| format!("{{concurrently: [[{left}], [{right}, {{advance: 5s}}]]}}")),
            1 => Just("{invariants: ~}".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn random_valid_scenarios_never_panic(steps in proptest::collection::vec(step(), 1..12), seed in 0u64..1000) {
            let mut text = format!(
                "name: random\nrequirements: [SESSION-1]\ntags: [in-memory-only]\nseed: {seed}\nspan: 30m\nkeys: [main]\nproviders:\n  hub:\n    provider: hubspot\n    records:\n      contacts: {{generate: 20}}\nsteps:\n"
            );
            // Every scenario starts with a session and a queued transfer, so later steps' variables
            // exist and the random part goes deep rather than failing at its first template.
            for step in [STEPS[0], STEPS[3]].into_iter().chain(steps.iter().map(String::as_str)) {
                text.push_str(&format!("  - {step}\n"));
            }
            let parsed = scenario::parse("random.yaml", &text);
            prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed.err(), text);
            let item = SuiteScenario { source: "random.yaml".to_owned(), scenario: parsed.unwrap_or_else(|_| unreachable!()) };
            let result = runner::run_one(&mut MemoryTarget::default(), &item, &RunOptions::default());
            if let Verdict::Failed { step, message, .. } = &result.verdict {
                prop_assert!(step != "(the target panicked)", "{message}\n{text}");
            }
        }
    }
}

#[cfg(feature = "mutations")]
mod mutations {
    use super::*;

    fn failed_scenarios(mutation: &str) -> Vec<String> {
        let dir = scratch(&format!("mutation-{mutation}"));
        let path = dir.join("report.json");
        let run = transfersim(&[
            "check",
            "--mutation",
            mutation,
            "--json",
            path.to_str().unwrap_or(""),
        ]);
        assert_eq!(run.code, 1, "{mutation}: {}{}", run.stdout, run.stderr);
        let report: Value = serde_json::from_str(&text(&path)).expect("json report");
        outcomes(&report)
            .into_iter()
            .filter(|(_, result, _)| result == "failed")
            .map(|(name, _, _)| name)
            .collect()
    }

    #[test]
    fn the_synchronous_cap_scenario_fails_when_the_engine_ignores_the_cap() {
        let failed = failed_scenarios("sync-ignores-cap");
        assert!(
            failed
                .iter()
                .any(|name| name.contains("202 at 300 seconds")),
            "{failed:?}"
        );
    }

    #[test]
    fn the_queuing_scenario_fails_when_the_queue_ignores_configuration() {
        let failed = failed_scenarios("queue-ignores-configuration");
        assert!(
            failed
                .iter()
                .any(|name| name.contains("triggered before configuration")),
            "{failed:?}"
        );
    }

    #[test]
    fn the_rate_limit_scenarios_fail_when_a_rate_limit_answer_fails_the_transfer() {
        let failed = failed_scenarios("fail-on-rate-limit");
        for wanted in [
            "a push through a storm of injected 429s",
            "salesforce usage by another app is counted",
        ] {
            assert!(
                failed.iter().any(|name| name.starts_with(wanted)),
                "{wanted}: {failed:?}"
            );
        }
    }

    /// The 50,000-item scenario alone does not catch this mutation: an unpaced target that still
    /// waits for room after each 429 draws about one 429 per 100-request window, just under 1 %.
    /// A smaller budget and another app's usage make the difference visible.
    #[test]
    fn the_budget_scenarios_fail_when_the_target_does_not_pace_itself() {
        let failed = failed_scenarios("no-pacing");
        for wanted in [
            "sessions sharing a connection share one budget",
            "salesforce usage by another app is counted",
        ] {
            assert!(
                failed.iter().any(|name| name.starts_with(wanted)),
                "{wanted}: {failed:?}"
            );
        }
    }

    #[test]
    fn the_async_polling_scenario_fails_when_data_comes_before_completion() {
        let failed = failed_scenarios("data-before-complete");
        assert!(
            failed.iter().any(|name| name.contains("async pull")),
            "{failed:?}"
        );
    }

    #[test]
    fn an_unknown_mutation_is_bad_input() {
        let run = transfersim(&["check", "--mutation", "no-such-bug"]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("unknown mutation"), "{}", run.stderr);
    }
}

/// Golden traces: each suite scenario's in-memory trace, as an insta snapshot per file. Ids are
/// redacted to their order of appearance, so a change in how ids are drawn does not touch every
/// snapshot, while any change in what happens when does. Long traces are summarised: runs of
/// repeating lines (a push's hundred batches) keep their first and last block and a count.
mod golden {
    use std::collections::BTreeMap;

    use transfersim::runner::{self, MemoryTarget, RunOptions, SuiteScenario, Target, Verdict};
    use transfersim::scenario;

    /// Replaces every 24-hex id (and `sk_test_` key) by `<id N>`, numbered by first appearance.
    fn redact(trace: &[String]) -> String {
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut out = String::new();
        for line in trace {
            let mut rest = line.as_str();
            // Bounded by the line: each turn consumes at least one character.
            while !rest.is_empty() {
                let candidate: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
                    .collect();
                if candidate.len() == 24 {
                    let next = names.len() + 1;
                    let number = *names.entry(candidate.clone()).or_insert(next);
                    out.push_str(&format!("<id {number}>"));
                    rest = &rest[candidate.len()..];
                } else {
                    let skip = candidate.len().max(1);
                    let cut = rest
                        .char_indices()
                        .nth(skip)
                        .map_or(rest.len(), |(index, _)| index);
                    out.push_str(&rest[..cut]);
                    rest = &rest[cut..];
                }
            }
            out.push('\n');
        }
        summarise(&out)
    }

    /// Traces longer than this are summarised.
    const SUMMARY_FROM_LINES: usize = 200;

    /// A long trace (a 10,000-item push is a hundred batches) with each run of a repeating
    /// block of 1 to 4 lines (alike but for their numbers) kept as its first and last block
    /// around one line saying how many were left out; short traces are kept whole.
    fn summarise(trace: &str) -> String {
        let lines: Vec<&str> = trace.lines().collect();
        if lines.len() <= SUMMARY_FROM_LINES {
            return trace.to_owned();
        }
        let shapes: Vec<String> = lines
            .iter()
            .map(|line| {
                let mut shape = String::new();
                for c in line.chars() {
                    if c.is_ascii_digit() {
                        if !shape.ends_with('#') {
                            shape.push('#');
                        }
                    } else {
                        shape.push(c);
                    }
                }
                shape
            })
            .collect();
        let mut out = String::new();
        let mut index = 0;
        // Bounded by the trace: each turn moves `index` forward by at least one line.
        while index < lines.len() {
            let mut collapsed = false;
            for period in 1..=4 {
                let block = |start: usize| &shapes[start..start + period];
                let mut repeats = 1;
                while index + (repeats + 1) * period <= lines.len()
                    && block(index + repeats * period) == block(index)
                {
                    repeats += 1;
                }
                if repeats >= 4 {
                    let last = index + (repeats - 1) * period;
                    for line in &lines[index..index + period] {
                        out.push_str(line);
                        out.push('\n');
                    }
                    out.push_str(&format!(
                        "    … {} more of the {period} line(s) above …\n",
                        repeats - 2
                    ));
                    for line in &lines[last..last + period] {
                        out.push_str(line);
                        out.push('\n');
                    }
                    index = last + period;
                    collapsed = true;
                    break;
                }
            }
            if !collapsed {
                out.push_str(lines[index]);
                out.push('\n');
                index += 1;
            }
        }
        out
    }

    #[test]
    fn each_scenario_has_its_golden_in_memory_trace() {
        insta::glob!("../scenarios", "**/*.yaml", |path| {
            let source = path.display().to_string();
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let parsed = scenario::parse(&source, &text).unwrap_or_else(|error| panic!("{error}"));
            let item = SuiteScenario {
                source,
                scenario: parsed,
            };
            let mut target = MemoryTarget::default();
            let result = runner::run_one(&mut target, &item, &RunOptions::default());
            assert_eq!(result.verdict, Verdict::Passed, "{}", item.scenario.name);
            insta::assert_snapshot!(redact(&target.trace()));
        });
    }
}

/// Every `(verified by test: NAME)` in `spec/requirements.md` names a test function that exists
/// in the workspace's sources: a renamed or imagined test would otherwise count as coverage.
#[test]
fn every_named_test_in_the_spec_exists() {
    fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && name != ".git" && name != "snapshots" {
                    sources(&path, found);
                }
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", "sim", "mock-providers"] {
        sources(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} source files", files.len());
    let text: String = files.iter().map(|path| text(path)).collect();
    let requirements =
        transfersim::runner::suite::requirements(transfersim::runner::suite::REQUIREMENTS_MD);
    let named: Vec<(String, String)> = requirements
        .iter()
        .filter_map(|r| r.verified_by_test.clone().map(|test| (r.id.clone(), test)))
        .collect();
    assert!(!named.is_empty(), "the spec names no tests at all");
    let missing: Vec<String> = named
        .iter()
        .filter(|(_, test)| {
            !text.contains(&format!("fn {test}(")) && !text.contains(&format!("fn {test}<"))
        })
        .map(|(id, test)| format!("{id}: {test}"))
        .collect();
    assert!(
        missing.is_empty(),
        "{} named tests do not exist:\n{}",
        missing.len(),
        missing.join("\n")
    );
}
