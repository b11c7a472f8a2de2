//! The scenario format as an author meets it: the suite parses, mistakes are refused with a
//! location and a reason, and the committed JSON Schema matches the types.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use transfersim::scenario::{self, Duration, Position, Scenario, ScenarioError, Step};

fn manifest_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A valid scenario's head, to which each test appends what it needs.
const HEAD: &str = "name: t\nrequirements: [SESSION-1]\nspan: 10m\nkeys: [main]\n";

fn refusal(text: &str) -> ScenarioError {
    match scenario::parse("scenarios/x.yaml", text) {
        Ok(parsed) => panic!("expected a refusal, got {parsed:?}"),
        Err(error) => error,
    }
}

#[test]
fn every_scenario_in_the_suite_parses() {
    let loaded =
        scenario::load_dir(&manifest_path("scenarios")).unwrap_or_else(|error| panic!("{error}"));
    assert!(
        loaded.len() >= 3,
        "the suite has at least the three example scenarios"
    );
    let paths: Vec<_> = loaded.iter().map(|(path, _)| path.clone()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "scenarios load in path order");
    let requirements =
        std::fs::read_to_string(manifest_path("spec/requirements.md")).unwrap_or_default();
    for (path, parsed) in &loaded {
        for id in &parsed.requirements {
            assert!(
                requirements.contains(&format!("- **{id}**")),
                "{} names {id}, which spec/requirements.md does not define",
                path.display()
            );
        }
    }
}

#[test]
fn a_misspelled_field_is_refused_at_its_line_and_column() {
    let text = format!(
        "{HEAD}steps:\n  - request:\n      method: GET\n      path: /api/integrations\n      expect:\n        stauts: 200\n"
    );
    let error = refusal(&text);
    assert_eq!(
        error.position(),
        Some(Position {
            line: 10,
            column: 9
        })
    );
    let message = error.to_string();
    assert!(
        message.starts_with("scenarios/x.yaml:10:9: unknown field `stauts`, expected one of"),
        "{message}"
    );
    assert!(message.contains("status"), "{message}");
}

#[test]
fn an_unknown_step_kind_lists_the_step_kinds() {
    let error = refusal(&format!("{HEAD}steps:\n  - advanse: 5m\n"));
    let message = error.to_string();
    assert!(
        message.starts_with("scenarios/x.yaml:6:5: unknown variant `advanse`"),
        "{message}"
    );
    assert!(
        message.contains("advance") && message.contains("webhooks_expect"),
        "{message}"
    );
}

#[test]
fn a_wrong_type_says_what_was_expected_and_what_was_found() {
    let error = refusal(&format!(
        "{HEAD}steps:\n  - request: {{method: GET, path: /a, expect: {{status: ok}}}}\n"
    ));
    assert_eq!(
        error.to_string(),
        "scenarios/x.yaml:6:55: expected u16, found `ok`"
    );

    let error = refusal("name: t\nrequirements: SESSION-1\nspan: 10m\nsteps: []\n");
    assert_eq!(
        error.to_string(),
        "scenarios/x.yaml:2:15: expected a sequence, found `SESSION-1`"
    );

    let error = refusal("name: t\nrequirements: [SESSION-1]\nspan: 300\nsteps: []\n");
    let message = error.to_string();
    assert!(
        message.starts_with("scenarios/x.yaml:3:7: invalid duration `300`"),
        "{message}"
    );
    assert!(
        message.contains("expected a number and a unit"),
        "{message}"
    );
}

#[test]
fn a_step_using_an_undeclared_key_is_refused_naming_the_step() {
    let text = format!(
        "{HEAD}steps:\n  - advance: 1s\n  - request: {{method: GET, path: /api/errors, key: other}}\n"
    );
    let message = refusal(&text).to_string();
    assert!(
        message.starts_with("scenarios/x.yaml: steps[1] (request): key `other` is not declared"),
        "{message}"
    );
}

#[test]
fn a_key_inside_a_concurrent_branch_is_checked_too() {
    let text = format!(
        "{HEAD}steps:\n  - concurrently:\n      - - advance: 1s\n      - - request: {{method: GET, path: /a, key: ghost}}\n"
    );
    let message = refusal(&text).to_string();
    assert!(
        message.contains("steps[0].concurrently[1][0] (request): key `ghost`"),
        "{message}"
    );
}

#[test]
fn a_malformed_requirement_id_is_refused() {
    let message = refusal("name: t\nrequirements: [session-1]\nspan: 10m\nsteps: []\n").to_string();
    assert!(
        message.contains("requirements[0]: `session-1` is not a requirement ID"),
        "{message}"
    );
}

#[test]
fn a_zero_span_is_refused() {
    let message = refusal("name: t\nrequirements: [SESSION-1]\nspan: 0s\nsteps: []\n").to_string();
    assert!(
        message.contains("span: must be a positive duration"),
        "{message}"
    );
}

#[test]
fn more_than_ten_thousand_generated_items_are_refused() {
    let step = |count: u64| {
        format!(
            "{HEAD}steps:\n  - request:\n      method: POST\n      path: /api/push/transfer\n      body: {{session_id: s, endgrate_type: crm-contact, transfer_data: {{generate: {count}}}}}\n"
        )
    };
    assert!(scenario::parse("x.yaml", &step(10_000)).is_ok());
    let message = refusal(&step(10_001)).to_string();
    assert!(
        message.contains("steps[0] (request).body.transfer_data"),
        "{message}"
    );
    assert!(message.contains("N from 1 to 10000"), "{message}");
}

#[test]
fn more_than_a_thousand_steps_are_refused() {
    let text = format!("{HEAD}steps:\n{}", "  - advance: 1s\n".repeat(1_001));
    let message = refusal(&text).to_string();
    assert!(
        message.contains("steps[1000] (advance): a scenario has at most 1000 steps"),
        "{message}"
    );
}

#[test]
fn answered_after_must_name_an_earlier_label() {
    let text = format!(
        "{HEAD}steps:\n  - request: {{method: GET, path: /a, expect: {{answered_after: {{step: later, seconds: 300}}}}}}\n  - request: {{label: later, method: GET, path: /b}}\n"
    );
    let message = refusal(&text).to_string();
    assert!(
        message.contains("`answered_after.step` names `later`"),
        "{message}"
    );
}

#[test]
fn a_provider_step_needs_exactly_one_action_on_a_declared_account() {
    let head = format!("{HEAD}providers:\n  hub: {{provider: hubspot}}\nsteps:\n");
    let message = refusal(&format!(
        "{head}  - provider: {{account: sf, expire_tokens: true}}\n"
    ))
    .to_string();
    assert!(
        message.contains("provider account `sf` is not declared"),
        "{message}"
    );
    let message = refusal(&format!(
        "{head}  - provider: {{account: hub, expire_tokens: true, revoke_grant: true}}\n"
    ))
    .to_string();
    assert!(message.contains("expected exactly one action"), "{message}");
    assert!(
        scenario::parse(
            "x.yaml",
            &format!("{head}  - provider: {{account: hub, revoke_grant: true}}\n")
        )
        .is_ok()
    );
}

#[test]
fn durations_round_trip_through_their_text() {
    for text in ["1500ms", "300s", "10m", "72h", "3d", "1h30m"] {
        let parsed: Duration = text.parse().unwrap_or_else(|error| panic!("{error}"));
        let again: Duration = parsed
            .to_string()
            .parse()
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(parsed, again, "{text} renders as {parsed}");
    }
    assert_eq!(
        "72h".parse::<Duration>().map(Duration::as_millis),
        Ok(259_200_000)
    );
    assert_eq!("3d".parse::<Duration>(), "72h".parse::<Duration>());
}

#[test]
fn a_scenario_written_back_out_parses_to_the_same_scenario() {
    for (path, parsed) in
        scenario::load_dir(&manifest_path("scenarios")).unwrap_or_else(|error| panic!("{error}"))
    {
        let written = serde_saphyr::to_string(&parsed).unwrap_or_else(|error| panic!("{error}"));
        let again = scenario::parse(&path.display().to_string(), &written)
            .unwrap_or_else(|error| panic!("{error}\n{written}"));
        assert_eq!(parsed, again, "{}", path.display());
    }
}

#[test]
fn invariants_take_no_list_or_a_list_of_checkers() {
    let parsed = scenario::parse(
        "x.yaml",
        &format!("{HEAD}tags: [in-memory-only]\nsteps:\n  - invariants:\n  - invariants: [fifo]\n"),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        parsed.steps,
        vec![
            Step::Invariants(None),
            Step::Invariants(Some(vec!["fifo".to_owned()]))
        ]
    );
}

#[test]
fn load_dir_recurses_into_regressions_and_refuses_duplicate_names() {
    let dir = std::env::temp_dir().join(format!(
        "transfersim-scenario-format-{}",
        std::process::id()
    ));
    let regressions = dir.join("regressions");
    std::fs::create_dir_all(&regressions).unwrap_or_else(|error| panic!("{error}"));
    let write = |path: PathBuf, name: &str| {
        std::fs::write(
            path,
            format!("name: {name}\nrequirements: [SESSION-1]\nspan: 1m\nsteps: []\n"),
        )
        .unwrap_or_else(|error| panic!("{error}"));
    };
    write(dir.join("b.yaml"), "b");
    write(dir.join("a.yml"), "a");
    write(regressions.join("c.yaml"), "c");
    std::fs::write(dir.join("notes.txt"), "not a scenario")
        .unwrap_or_else(|error| panic!("{error}"));
    let loaded = scenario::load_dir(&dir).map(|loaded| {
        loaded
            .into_iter()
            .map(|(_, parsed): (PathBuf, Scenario)| parsed.name)
            .collect::<Vec<_>>()
    });
    write(regressions.join("d.yaml"), "a");
    let duplicate = scenario::load_dir(&dir).map(|loaded| loaded.len());
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        loaded.ok(),
        Some(vec!["a".to_owned(), "b".to_owned(), "c".to_owned()])
    );
    let message = duplicate
        .err()
        .map(|error| error.to_string())
        .unwrap_or_default();
    assert!(
        message.contains("scenario name `a` is already used by"),
        "{message}"
    );
}

#[test]
fn the_committed_json_schema_is_current() {
    let path = manifest_path("spec/scenario.schema.json");
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&scenario::json_schema())
            .unwrap_or_else(|error| panic!("{error}"))
    );
    if std::env::var_os("TRANSFERSIM_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap_or_else(|error| panic!("{error}"));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "spec/scenario.schema.json is not what the scenario types generate; regenerate it with \
         `TRANSFERSIM_BLESS=1 cargo test --test scenario_format the_committed_json_schema_is_current`"
    );
}

proptest! {
    #[test]
    fn any_text_is_parsed_or_refused_without_panicking(text in "\\PC{0,200}") {
        let _ = scenario::parse("fuzz.yaml", &text);
    }

    #[test]
    fn any_yaml_shaped_steps_are_parsed_or_refused_without_panicking(
        lines in proptest::collection::vec("[ -~]{0,40}", 0..8)
    ) {
        let text = format!("{HEAD}steps:\n{}", lines.iter().map(|line| format!("  - {line}\n")).collect::<String>());
        let _ = scenario::parse("fuzz.yaml", &text);
    }
}

#[test]
fn invariants_need_the_in_memory_only_tag() {
    let message = refusal(&format!("{HEAD}steps:\n  - invariants:\n")).to_string();
    assert!(
        message
            .contains("tags: a scenario with an `invariants` step must be tagged `in-memory-only`"),
        "{message}"
    );
}

/// Every step kind as `spec/scenario-format.md` shows it, so the documentation cannot drift
/// from what the parser accepts.
const EVERY_STEP_KIND: &str = r#"
name: every step kind
requirements: [SESSION-1]
tags: [in-memory-only]
span: 3d
keys: [main, other]
providers:
  hub:
    provider: hubspot
    budget: 100
    token_lifetime: 30m
    page_size: 100
    rotation: true
    latency: 50ms
    another_app_usage: {requests: 40, every: 10s}
    records:
      contacts:
        - {firstname: Ada, lastname: Lovelace, email: ada@example.com}
        - {id: "501", lastname: Hopper}
      companies: {generate: 300000}
    faults:
      - name: storm
        match: {method: GET, path: /crm/v3/objects/contacts}
        verdict: {status: {code: 429}}
        count: 35
      - {verdict: pass}
      - {verdict: {delay: 20s}, probability: 0.5}
      - verdict: {status: {code: 429, body: {status: error}, headers: {Retry-After: "30"}}}
      - {verdict: timeout_after_acting}
      - {verdict: timeout_before_acting}
      - {verdict: drop}
  sf:
    provider: salesforce
    budget: unlimited
    records:
      Contact: [{FirstName: Grace, LastName: Hopper}]
receivers:
  hooks:
    - respond: {status: 200}
  flaky:
    - {until: 1m, respond: {status: 500}}
    - {from: 1m, until: 2m, respond: down}
    - {from: 2m, respond: {status: 200, delay: 12s}}
  gone: down
steps:
  - request:
      label: trigger
      method: POST
      path: /api/pull/transfer
      query: {limit: "100"}
      body: {session_id: "{{session_id}}", endgrate_type: crm-contact, synchronous: true}
      key: other
      headers: {Content-Type: text/plain}
      omit_headers: [Authorization]
      capture: {transfer_id: /transfer_id}
      expect:
        status: 202
        json: {success: true, completed: false}
        paths: {/meta/count: 250}
        headers: {Retry-After: "60"}
        answered_after: {step: trigger, seconds: 300, tolerance: 1}
  - poll:
      label: wait
      request: {method: GET, path: /api/pull/data, query: {transfer_id: "{{transfer_id}}"}}
      every: 1s
      until: {status: 200, json: {completed: true}}
      deadline: 5m
  - concurrently:
      - - request: {method: POST, path: /api/pull/transfer, expect: {answered_after: {step: wait, seconds: 300}}}
      - - advance: 299s
        - advance: 2s
  - advance: 0s
  - provider: {account: hub, set_records: {object: contacts, records: [{lastname: Lamarr}]}}
  - provider: {account: hub, set_records: {object: contacts, records: {generate: 500}}}
  - provider: {account: hub, update_record: {object: contacts, id: "{{first_id}}", properties: {email: new@example.com}}}
  - provider: {account: hub, delete_record: {object: contacts, id: "{{first_id}}"}}
  - provider:
      account: hub
      add_fault: {name: down, match: {path: /crm}, verdict: {status: {code: 503}}, count: 3}
  - provider: {account: hub, remove_fault: down}
  - provider: {account: hub, expire_tokens: true}
  - provider: {account: hub, revoke_grant: true}
  - provider: {account: hub, another_app_usage: {requests: 90}}
  - provider_expect:
      account: hub
      object: contacts
      record_count: 250
      records_include: [{email: ada@example.com}]
      no_duplicates: true
      max_in_window: {window: 10s, at_most: 100}
      rate_limited_share: {cause: target, at_most: 0.01}
      refreshes: {min: 1, max: 2}
  - webhooks_expect:
      receiver: hooks
      type: completed
      payload: {transfer_id: "{{transfer_id}}", transfer_errors: false}
      count: 1
      signed: true
      within: 1m
  - webhooks_expect:
      receiver: hooks
      payload: {transfer_id: "{{transfer_id}}"}
      order: [data, data, data, completed]
  - webhooks_expect: {receiver: gone, none_within: 2h}
  - invariants:
  - invariants: [fifo_per_session, no_duplicate_writes]
"#;

#[test]
fn every_documented_step_kind_parses_and_round_trips() {
    let parsed =
        scenario::parse("every.yaml", EVERY_STEP_KIND).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(parsed.steps.len(), 19);
    let written = serde_saphyr::to_string(&parsed).unwrap_or_else(|error| panic!("{error}"));
    let again = scenario::parse("every.yaml", &written)
        .unwrap_or_else(|error| panic!("{error}\n{written}"));
    assert_eq!(parsed, again);
}
