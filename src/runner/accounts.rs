//! The scenario's provider accounts on a target's mocks: creating them from `providers:`,
//! carrying out `provider` steps and judging `provider_expect` steps. Everything goes through
//! [`Providers::with_mock`], so the in-memory and HTTP targets share this code.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{Value, json};
use transfersim_mock_providers::journal::{self, RateLimitCause as JournalCause};
use transfersim_mock_providers::{
    AccountOptions, AnotherAppUsage as MockAnotherApp, Budget as MockBudget, Credentials,
    FaultRule as MockFaultRule, JournalEntry, JournalOutcome, Matcher, Mock, RuleId,
    Verdict as MockVerdict,
};

use super::expect::{Mismatch, first_difference, render};
use super::target::Providers;
use super::template::Variables;
use crate::scenario::{
    Budget, CountRange, FaultRule, ProviderAccount, ProviderControl, ProviderExpect, ProviderKind,
    RateLimitCause, Records, Verdict,
};

/// One account the runner created for a scenario.
#[derive(Debug, Clone)]
pub struct Account {
    /// Which mock holds it.
    pub provider: ProviderKind,
    /// The base URL the target reaches the mock at.
    pub base_url: String,
    /// What the target configures a session with.
    pub credentials: Credentials,
    /// Installed fault rules by name, for `remove_fault`.
    pub faults: BTreeMap<String, RuleId>,
}

/// Creates every account of the scenario, seeds its records and installs its faults; answers
/// them by name. `seed` draws generated records.
pub fn create(
    providers: &mut dyn Providers,
    declared: &BTreeMap<String, ProviderAccount>,
) -> Result<BTreeMap<String, Account>, String> {
    let mut accounts = BTreeMap::new();
    for (name, spec) in declared {
        let options = AccountOptions {
            budget: spec.budget.map(|budget| match budget {
                Budget::Requests(count) => {
                    MockBudget::Requests(u32::try_from(count).unwrap_or(u32::MAX))
                }
                Budget::Unlimited(_) => MockBudget::Unlimited,
            }),
            token_lifetime_s: spec.token_lifetime.map(|d| d.as_millis() / 1000),
            page_size: spec.page_size,
            rotate_refresh_tokens: spec.rotation.then_some(true),
            latency_ms: spec.latency.map(|d| d.as_millis()),
            another_app: spec
                .another_app_usage
                .and_then(|usage| usage.every.map(|every| (usage.requests, every)))
                .map(|(requests, every)| MockAnotherApp {
                    requests: u32::try_from(requests).unwrap_or(u32::MAX),
                    every_ms: every.as_millis(),
                    offset_ms: 0,
                }),
            client_id: None,
            client_secret: None,
        };
        let mut outcome: Result<Credentials, String> = Err("not created".to_owned());
        providers.with_mock(spec.provider, &mut |mock, now| {
            outcome = mock
                .create_account(now, &options)
                .map_err(|error| error.to_string());
        });
        let credentials = outcome.map_err(|error| format!("providers.{name}: {error}"))?;
        let mut account = Account {
            provider: spec.provider,
            base_url: providers.base_url(spec.provider),
            credentials,
            faults: BTreeMap::new(),
        };
        for (object, records) in &spec.records {
            add_records(providers, &account, object, records)
                .map_err(|error| format!("providers.{name}.records.{object}: {error}"))?;
        }
        if let Some(usage) = spec.another_app_usage
            && usage.every.is_none()
        {
            another_app_once(providers, &account, usage.requests)
                .map_err(|error| format!("providers.{name}.another_app_usage: {error}"))?;
        }
        for (index, rule) in spec.faults.iter().enumerate() {
            install_fault(providers, &mut account, rule)
                .map_err(|error| format!("providers.{name}.faults[{index}]: {error}"))?;
        }
        accounts.insert(name.clone(), account);
    }
    Ok(accounts)
}

/// The template variables of the accounts: `providers.NAME.base_url` and the credentials.
pub fn variables(accounts: &BTreeMap<String, Account>, variables: &mut Variables) {
    for (name, account) in accounts {
        let prefix = format!("providers.{name}");
        variables.set(format!("{prefix}.base_url"), json!(account.base_url));
        variables.set(
            format!("{prefix}.client_id"),
            json!(account.credentials.client_id),
        );
        variables.set(
            format!("{prefix}.client_secret"),
            json!(account.credentials.client_secret),
        );
        variables.set(
            format!("{prefix}.refresh_token"),
            json!(account.credentials.refresh_token),
        );
        variables.set(
            format!("{prefix}.account_id"),
            json!(account.credentials.account_id),
        );
    }
}

/// Runs `action` on the account's mock and maps a mock error to text.
fn on_mock<T>(
    providers: &mut dyn Providers,
    provider: ProviderKind,
    mut action: impl FnMut(&mut Mock, u64) -> Result<T, String>,
) -> Result<T, String> {
    let mut outcome: Option<Result<T, String>> = None;
    providers.with_mock(provider, &mut |mock, now| outcome = Some(action(mock, now)));
    outcome.unwrap_or_else(|| Err("the mock was not reached".to_owned()))
}

fn add_records(
    providers: &mut dyn Providers,
    account: &Account,
    object: &str,
    records: &Records,
) -> Result<(), String> {
    let id = account.credentials.account_id.clone();
    match records {
        Records::Generate(generate) => {
            let count = u32::try_from(generate.generate).map_err(|_| "too many records")?;
            on_mock(providers, account.provider, |mock, now| {
                mock.seed_records(now, &id, object, count)
                    .map(|_| ())
                    .map_err(|error| error.to_string())
            })
        }
        Records::List(list) => {
            let mut rows = Vec::with_capacity(list.len());
            for (index, record) in list.iter().enumerate() {
                let Value::Object(map) = record else {
                    return Err(format!("[{index}] is not a mapping of properties"));
                };
                rows.push(
                    map.iter()
                        .map(|(key, value)| (key.clone(), value.clone()))
                        .collect::<BTreeMap<_, _>>(),
                );
            }
            on_mock(providers, account.provider, |mock, now| {
                mock.insert_records(now, &id, object, rows.clone())
                    .map(|_| ())
                    .map_err(|error| error.to_string())
            })
        }
    }
}

fn another_app_once(
    providers: &mut dyn Providers,
    account: &Account,
    requests: u64,
) -> Result<(), String> {
    let id = account.credentials.account_id.clone();
    let requests = u32::try_from(requests).unwrap_or(u32::MAX);
    on_mock(providers, account.provider, |mock, now| {
        mock.another_app_uses(now, &id, requests)
            .map(|_| ())
            .map_err(|error| error.to_string())
    })
}

fn install_fault(
    providers: &mut dyn Providers,
    account: &mut Account,
    rule: &FaultRule,
) -> Result<(), String> {
    let mock_rule = mock_fault(account, rule)?;
    let id = on_mock(providers, account.provider, |mock, _| {
        mock.install_fault(mock_rule.clone())
            .map_err(|error| error.to_string())
    })?;
    if let Some(name) = &rule.name {
        account.faults.insert(name.clone(), id);
    }
    Ok(())
}

/// The mock's form of a scenario fault rule, limited to the account's requests.
fn mock_fault(account: &Account, rule: &FaultRule) -> Result<MockFaultRule, String> {
    let path = rule.matches.path.clone().unwrap_or_default();
    let matcher = match &rule.matches.method {
        Some(method) => {
            let method = http::Method::from_bytes(method.as_bytes())
                .map_err(|_| format!("`{method}` is not an HTTP method"))?;
            Matcher::prefix(method, path)
        }
        None => Matcher::any_method_prefix(path),
    }
    .for_account(account.credentials.account_id.clone());
    let verdict = match &rule.verdict {
        Verdict::Pass => MockVerdict::Pass,
        Verdict::Delay(delay) => MockVerdict::Delay {
            ms: delay.as_millis(),
        },
        Verdict::Status {
            code,
            body,
            headers,
        } => {
            if !headers.is_empty() {
                return Err(
                    "fault answers with extra headers are not supported by the mocks yet"
                        .to_owned(),
                );
            }
            match (code, body) {
                (429, None) => MockVerdict::RateLimit,
                (code, body) => MockVerdict::Answer {
                    status: *code,
                    body: Bytes::from(
                        body.clone()
                            .unwrap_or_else(|| usual_error_body(account.provider, *code))
                            .to_string(),
                    ),
                    content_type: None,
                },
            }
        }
        Verdict::TimeoutAfterActing => MockVerdict::TimeoutAfterActing,
        Verdict::TimeoutBeforeActing => MockVerdict::TimeoutBeforeActing,
        Verdict::Drop => MockVerdict::Drop,
    };
    let mut built = matcher.then(verdict);
    if let Some(count) = rule.count {
        built = built.times(u32::try_from(count).unwrap_or(u32::MAX));
    }
    if let Some(probability) = rule.probability {
        built = built.with_probability(probability);
    }
    Ok(built)
}

/// The provider's usual error body for a status, in its own dialect.
fn usual_error_body(provider: ProviderKind, code: u16) -> Value {
    let message = format!("injected {code}");
    match provider {
        ProviderKind::Hubspot => {
            json!({"status": "error", "message": message, "category": "INTERNAL_ERROR"})
        }
        ProviderKind::Salesforce => json!([{"errorCode": "UNKNOWN_EXCEPTION", "message": message}]),
    }
}

/// Carries out one `provider` step.
pub fn control(
    providers: &mut dyn Providers,
    accounts: &mut BTreeMap<String, Account>,
    step: &ProviderControl,
    variables: &Variables,
) -> Result<(), String> {
    let account = accounts
        .get_mut(&step.account)
        .ok_or_else(|| format!("unknown account `{}`", step.account))?;
    let id = account.credentials.account_id.clone();
    let provider = account.provider;
    if let Some(set) = &step.set_records {
        let object = set.object.clone();
        on_mock(providers, provider, |mock, now| {
            let existing = mock
                .records(&id, &object)
                .map_err(|error| error.to_string())?;
            for record in existing {
                mock.delete_record(now, &id, &object, &record.id)
                    .map_err(|error| error.to_string())?;
            }
            Ok(())
        })?;
        add_records(providers, account, &set.object, &set.records)?;
    }
    if let Some(update) = &step.update_record {
        let record_id = variables.text(&update.id)?;
        let properties: BTreeMap<String, Value> = update
            .properties
            .iter()
            .map(|(key, value)| Ok((key.clone(), variables.json(value)?)))
            .collect::<Result<_, String>>()?;
        on_mock(providers, provider, |mock, now| {
            mock.update_record(now, &id, &update.object, &record_id, properties.clone())
                .map(|_| ())
                .map_err(|error| error.to_string())
        })?;
    }
    if let Some(delete) = &step.delete_record {
        let record_id = variables.text(&delete.id)?;
        on_mock(providers, provider, |mock, now| {
            mock.delete_record(now, &id, &delete.object, &record_id)
                .map_err(|error| error.to_string())
        })?;
    }
    if let Some(rule) = &step.add_fault {
        install_fault(providers, account, rule)?;
    }
    if let Some(name) = &step.remove_fault {
        let rule = account
            .faults
            .remove(name)
            .ok_or_else(|| format!("no fault rule named `{name}` on `{}`", step.account))?;
        on_mock(providers, provider, |mock, _| {
            mock.remove_fault(rule).map_err(|error| error.to_string())
        })?;
    }
    if step.expire_tokens {
        on_mock(providers, provider, |mock, now| {
            mock.expire_tokens(now, &id)
                .map(|_| ())
                .map_err(|error| error.to_string())
        })?;
    }
    if step.revoke_grant {
        on_mock(providers, provider, |mock, _| {
            mock.revoke_grants(&id, None)
                .map(|_| ())
                .map_err(|error| error.to_string())
        })?;
    }
    if let Some(usage) = &step.another_app_usage {
        match usage.every {
            None => another_app_once(providers, account, usage.requests)?,
            Some(every) => {
                let options = AccountOptions {
                    another_app: Some(MockAnotherApp {
                        requests: u32::try_from(usage.requests).unwrap_or(u32::MAX),
                        every_ms: every.as_millis(),
                        offset_ms: 0,
                    }),
                    ..AccountOptions::default()
                };
                on_mock(providers, provider, |mock, _| {
                    mock.update_account(&id, &options)
                        .map(|_| ())
                        .map_err(|error| error.to_string())
                })?;
            }
        }
    }
    Ok(())
}

/// Judges one `provider_expect` step; answers every failed check.
pub fn expect(
    providers: &mut dyn Providers,
    accounts: &BTreeMap<String, Account>,
    step: &ProviderExpect,
    variables: &Variables,
) -> Result<Vec<Mismatch>, String> {
    let account = accounts
        .get(&step.account)
        .ok_or_else(|| format!("unknown account `{}`", step.account))?;
    let id = account.credentials.account_id.clone();
    let object = step.object.clone().unwrap_or_default();
    let needs_records =
        step.record_count.is_some() || !step.records_include.is_empty() || step.no_duplicates;
    let (records, duplicates, entries) = on_mock(providers, account.provider, |mock, _| {
        let records = if needs_records {
            mock.records(&id, &object)
                .map_err(|error| error.to_string())?
        } else {
            Vec::new()
        };
        let duplicates = mock
            .duplicate_external_ids(&id)
            .map_err(|error| error.to_string())?;
        let entries: Vec<JournalEntry> = mock
            .journal()
            .iter()
            .filter(|entry| entry.account_id.as_deref() == Some(id.as_str()))
            .cloned()
            .collect();
        Ok((records, duplicates, entries))
    })?;
    let mut mismatches = Vec::new();
    if let Some(count) = step.record_count
        && records.len() as u64 != count
    {
        mismatches.push(mismatch(
            format!("record_count of {object}"),
            count.to_string(),
            records.len().to_string(),
        ));
    }
    for (index, template) in step.records_include.iter().enumerate() {
        let wanted = variables.json(template)?;
        let found = records.iter().any(|record| {
            let properties: serde_json::Map<String, Value> = record
                .properties
                .iter()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            let mut whole = properties.clone();
            whole.insert("id".to_owned(), json!(record.id));
            first_difference(&wanted, &Value::Object(whole), String::new()).is_none()
        });
        if !found {
            mismatches.push(mismatch(
                format!("records_include[{index}]"),
                render(&wanted),
                format!("no such record among {}", records.len()),
            ));
        }
    }
    if step.no_duplicates {
        let in_object: Vec<_> = duplicates
            .iter()
            .filter(|duplicate| object.is_empty() || duplicate.object == object)
            .collect();
        if let Some(first) = in_object.first() {
            mismatches.push(mismatch(
                "no_duplicates",
                "no external id written twice",
                format!(
                    "{} external ids written more than once, e.g. {} as records {}",
                    in_object.len(),
                    first.external_id,
                    first.record_ids.join(", ")
                ),
            ));
        }
    }
    if let Some(bound) = step.max_in_window {
        let busiest = journal::max_counted_in_window(&entries, &id, bound.window.as_millis());
        if u64::from(busiest) > bound.at_most {
            mismatches.push(mismatch(
                format!("max_in_window {}", bound.window),
                format!("at most {}", bound.at_most),
                busiest.to_string(),
            ));
        }
    }
    if let Some(share) = step.rate_limited_share {
        let from_target: Vec<&JournalEntry> = entries
            .iter()
            .filter(|entry| entry.origin == transfersim_mock_providers::budget::Origin::Target)
            .collect();
        let limited = from_target
            .iter()
            .filter(|entry| match (entry.rate_limit, share.cause) {
                (None, _) => false,
                (Some(_), RateLimitCause::Any) => true,
                (Some(cause), RateLimitCause::Target) => cause == JournalCause::Budget,
                (Some(cause), RateLimitCause::AnotherApp) => cause == JournalCause::AnotherApp,
                (Some(cause), RateLimitCause::Fault) => cause == JournalCause::Injected,
            })
            .count();
        let actual = if from_target.is_empty() {
            0.0
        } else {
            limited as f64 / from_target.len() as f64
        };
        if actual > share.at_most {
            mismatches.push(mismatch(
                "rate_limited_share",
                format!("at most {}", share.at_most),
                format!("{actual:.4} ({limited} of {})", from_target.len()),
            ));
        }
        if let Some(least) = share.at_least
            && actual < least
        {
            mismatches.push(mismatch(
                "rate_limited_share",
                format!("at least {least}"),
                format!("{actual:.4} ({limited} of {})", from_target.len()),
            ));
        }
    }
    let from_target = || {
        entries
            .iter()
            .filter(|entry| entry.origin == transfersim_mock_providers::budget::Origin::Target)
    };
    if let Some(range) = step.requests {
        let sent = from_target().filter(|entry| !entry.is_refresh()).count() as u64;
        if let Some(found) = outside(range, sent) {
            mismatches.push(mismatch("requests", found, sent.to_string()));
        }
    }
    for (status, range) in &step.statuses {
        let answered = from_target()
            .filter(|entry| entry.status == Some(*status))
            .count() as u64;
        if let Some(found) = outside(*range, answered) {
            mismatches.push(mismatch(
                format!("statuses.{status}"),
                found,
                answered.to_string(),
            ));
        }
    }
    if let Some(bound) = step.max_in_flight {
        let api: Vec<&JournalEntry> = from_target().filter(|entry| !entry.is_refresh()).collect();
        let most = most_in_flight(&api);
        if most > bound {
            mismatches.push(mismatch(
                "max_in_flight",
                format!("at most {bound}"),
                most.to_string(),
            ));
        }
    }
    if let Some(range) = step.refreshes {
        let refreshes = entries.iter().filter(|entry| entry.is_refresh()).count() as u64;
        if let Some(expected) = outside(range, refreshes) {
            mismatches.push(mismatch("refreshes", expected, refreshes.to_string()));
        }
    }
    Ok(mismatches)
}

/// The most requests open at once, each from its sending until its outcome (the 30 s caller
/// timeout for a timeout, and at most that for a slow answer); half-open, so a request sent at
/// the instant the previous one's answer came does not overlap it.
fn most_in_flight(entries: &[&JournalEntry]) -> u64 {
    let mut events: Vec<(u64, i8)> = entries
        .iter()
        .flat_map(|entry| {
            let span = match entry.outcome {
                JournalOutcome::Timeout => journal::TIMEOUT_IN_FLIGHT_MS,
                JournalOutcome::Answer | JournalOutcome::Dropped => {
                    entry.latency_ms.clamp(1, journal::TIMEOUT_IN_FLIGHT_MS)
                }
            };
            [(entry.at_ms, 1i8), (entry.at_ms.saturating_add(span), -1i8)]
        })
        .collect();
    events.sort_unstable();
    let mut open = 0i64;
    let mut most = 0i64;
    for (_, delta) in events {
        open += i64::from(delta);
        most = most.max(open);
    }
    u64::try_from(most).unwrap_or(0)
}

/// The range as expected text when `count` lies outside it.
fn outside(range: CountRange, count: u64) -> Option<String> {
    let low = range.min.unwrap_or(0);
    let high = range.max.unwrap_or(u64::MAX);
    (count < low || count > high).then(|| {
        format!(
            "{}..={}",
            low,
            range.max.map_or("∞".to_owned(), |max| max.to_string())
        )
    })
}

fn mismatch(
    what: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> Mismatch {
    Mismatch {
        what: what.into(),
        expected: expected.into(),
        actual: actual.into(),
    }
}
