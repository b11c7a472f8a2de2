//! Budgets: however requests arrive, an account never accepts more than its budget in any rolling
//! window, and never refuses while its window has room. Rate-limit answers are attributed to
//! their cause.

use http::Method;
use proptest::prelude::*;
use transfersim_mock_providers::journal::{
    max_counted_from_target_in_window, max_counted_in_window, rate_limits_by_cause,
};
use transfersim_mock_providers::{
    AccountOptions, AnotherAppUsage, Budget, InProcessProvider, Matcher, Mock, RateLimitCause,
    Verdict,
};

use crate::support::*;

/// What one generated request does.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A valid API call.
    Valid,
    /// A call with a token no account has: not attributable, never counted.
    UnknownToken,
    /// A malformed write: answered 400, still counted.
    Malformed,
    /// A refresh: token requests never count.
    Refresh,
}

fn kinds() -> impl Strategy<Value = Kind> {
    prop_oneof![
        6 => Just(Kind::Valid),
        1 => Just(Kind::UnknownToken),
        2 => Just(Kind::Malformed),
        1 => Just(Kind::Refresh),
    ]
}

/// Every budget refusal happened with a full window, and no window held more than the budget.
fn assert_budget_kept(mock: &Mock, account_id: &str, budget: u32, window_ms: u64) {
    let journal = mock.journal();
    assert!(max_counted_in_window(journal, account_id, window_ms) <= budget);
    for refused in journal
        .iter()
        .filter(|e| e.rate_limit == Some(RateLimitCause::Budget))
    {
        let in_window: u32 = journal
            .iter()
            .filter(|e| e.counted && e.account_id.as_deref() == Some(account_id))
            .filter(|e| e.at_ms <= refused.at_ms && refused.at_ms < e.at_ms + window_ms)
            .map(|e| e.requests)
            .sum();
        assert_eq!(
            in_window, budget,
            "refused at {} with room in the window",
            refused.at_ms
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_hubspot_account_never_accepts_more_than_its_budget_in_any_rolling_10_s(
        budget in 1u32..20,
        requests in prop::collection::vec((0u64..1500, kinds()), 1..300),
    ) {
        let mut hubspot = hubspot();
        let options = AccountOptions { budget: Some(Budget::Requests(budget)), ..AccountOptions::default() };
        let (credentials, token) = hubspot_account(&mut hubspot, &options);
        let mut now = EPOCH;
        let mut answered_not_limited = 0u32;
        for (gap, kind) in requests {
            now += gap;
            let request = match kind {
                Kind::Valid => get("/crm/v3/objects/contacts", Some(&token)),
                Kind::UnknownToken => get("/crm/v3/objects/contacts", Some("unknown")),
                Kind::Malformed => request(Method::POST, "/crm/v3/objects/contacts/batch/upsert", Some(&token), None, "{"),
                Kind::Refresh => form(HUBSPOT_TOKEN, &refresh_form(&credentials, &credentials.refresh_token)),
            };
            let answer = answer(hubspot.handle(now, request));
            if matches!(kind, Kind::Valid | Kind::Malformed) && answer.status != 429 {
                answered_not_limited += 1;
            }
            let remaining: u32 = answer.header("x-hubspot-ratelimit-remaining").and_then(|v| v.parse().ok()).expect("a remaining header");
            // An unknown token names no account, so its answer shows the default budget.
            if !matches!(kind, Kind::UnknownToken) {
                prop_assert!(remaining <= budget);
            }
        }
        assert_budget_kept(&hubspot, &credentials.account_id, budget, 10_000);
        // A target counting every non-rate-limited answer never counts less than the mock.
        let counted = hubspot.journal().iter().filter(|e| e.counted).count() as u32;
        prop_assert_eq!(counted, answered_not_limited);
    }

    #[test]
    fn a_salesforce_account_never_accepts_more_than_its_quota_in_any_rolling_24_h(
        budget in 1u32..30,
        requests in prop::collection::vec((0u64..7_200_000, kinds()), 1..200),
    ) {
        let mut salesforce = salesforce();
        let options = AccountOptions {
            budget: Some(Budget::Requests(budget)),
            token_lifetime_s: Some(365 * 86_400),
            ..AccountOptions::default()
        };
        let (credentials, token) = salesforce_account(&mut salesforce, &options);
        let mut now = EPOCH;
        for (gap, kind) in requests {
            now += gap;
            let request = match kind {
                Kind::Valid => get(&format!("{SF}/query?q=SELECT+Id+FROM+Contact"), Some(&token)),
                Kind::UnknownToken => get(&format!("{SF}/query?q=SELECT+Id+FROM+Contact"), Some("unknown")),
                Kind::Malformed => request(Method::PATCH, &format!("{SF}/composite/sobjects"), Some(&token), None, "{"),
                Kind::Refresh => form(SALESFORCE_TOKEN, &refresh_form(&credentials, &credentials.refresh_token)),
            };
            let answer = answer(salesforce.handle(now, request));
            let usage = answer.header("sforce-limit-info").expect("a usage header").to_owned();
            let used: u32 = usage.trim_start_matches("api-usage=").split('/').next().and_then(|u| u.parse().ok()).expect("a usage count");
            prop_assert!(used <= budget, "{}", usage);
        }
        assert_budget_kept(&salesforce, &credentials.account_id, budget, 86_400_000);
    }
}

#[test]
fn a_request_refused_for_budget_is_accepted_exactly_one_window_after_the_oldest_counted() {
    let mut hubspot = hubspot();
    let options = AccountOptions {
        budget: Some(Budget::Requests(2)),
        ..AccountOptions::default()
    };
    let (_, token) = hubspot_account(&mut hubspot, &options);
    let list = || get("/crm/v3/objects/contacts", Some(&token));
    assert_eq!(send(&mut hubspot, EPOCH, list()).status, 200);
    assert_eq!(send(&mut hubspot, EPOCH + 5_000, list()).status, 200);
    assert_eq!(send(&mut hubspot, EPOCH + 9_999, list()).status, 429);
    let answer = send(&mut hubspot, EPOCH + 10_000, list());
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-hubspot-ratelimit-remaining"), Some("0"));
}

#[test]
fn rate_limit_answers_are_split_into_budget_injected_and_another_app() {
    let mut hubspot = hubspot();
    let options = AccountOptions {
        budget: Some(Budget::Requests(5)),
        ..AccountOptions::default()
    };
    let (credentials, token) = hubspot_account(&mut hubspot, &options);
    let account = credentials.account_id.clone();
    let list = || get("/crm/v3/objects/contacts", Some(&token));
    // Another app takes 4 of 5: the target gets one, then a refusal it could not foresee.
    assert_eq!(hubspot.another_app_uses(EPOCH, &account, 4), Ok(4));
    let first = send(&mut hubspot, EPOCH + 1, list());
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-hubspot-ratelimit-remaining"), Some("0"));
    assert_eq!(send(&mut hubspot, EPOCH + 2, list()).status, 429);
    // Once another app's usage has rolled out, the target fills the window itself.
    let later = EPOCH + 10_001;
    for i in 0..5 {
        assert_eq!(send(&mut hubspot, later + i, list()).status, 200);
    }
    assert_eq!(send(&mut hubspot, later + 6, list()).status, 429);
    // An injected storm.
    let guard = hubspot
        .scoped_fault(
            Matcher::any()
                .for_account(account.clone())
                .then(Verdict::RateLimit)
                .times(2),
        )
        .expect("room");
    assert_eq!(send(&mut hubspot, later + 20_000, list()).status, 429);
    drop(guard);
    let causes = rate_limits_by_cause(hubspot.journal(), Some(&account));
    assert_eq!(causes.get(&RateLimitCause::AnotherApp), Some(&1));
    assert_eq!(causes.get(&RateLimitCause::Budget), Some(&1));
    assert_eq!(causes.get(&RateLimitCause::Injected), Some(&1));
    assert_eq!(
        max_counted_in_window(hubspot.journal(), &account, 10_000),
        5
    );
    assert_eq!(
        max_counted_from_target_in_window(hubspot.journal(), &account, 10_000),
        5
    );
}

#[test]
fn a_periodic_other_app_fills_the_salesforce_quota_and_shows_in_the_usage_header() {
    let mut salesforce = salesforce();
    let options = AccountOptions {
        budget: Some(Budget::Requests(10)),
        another_app: Some(AnotherAppUsage {
            requests: 3,
            every_ms: 3_600_000,
            offset_ms: 0,
        }),
        token_lifetime_s: Some(86_400 * 2),
        ..AccountOptions::default()
    };
    let (credentials, token) = salesforce_account(&mut salesforce, &options);
    let query = get(
        &format!("{SF}/query?q=SELECT+Id+FROM+Account"),
        Some(&token),
    );
    // Bursts at 0 h, 1 h, 2 h, 3 h: 12 requests wanted, 10 counted; the target finds no room.
    let answer = send(&mut salesforce, EPOCH + 3 * 3_600_000, query);
    assert_eq!(answer.status, 403);
    assert_eq!(answer.header("sforce-limit-info"), Some("api-usage=10/10"));
    let causes = rate_limits_by_cause(salesforce.journal(), Some(&credentials.account_id));
    assert_eq!(causes.get(&RateLimitCause::AnotherApp), Some(&1));
}

#[test]
fn an_unlimited_account_never_refuses_and_reports_the_largest_limit() {
    let mut hubspot = hubspot();
    let options = AccountOptions {
        budget: Some(Budget::Unlimited),
        ..AccountOptions::default()
    };
    let (_, token) = hubspot_account(&mut hubspot, &options);
    for i in 0..500 {
        let answer = send(
            &mut hubspot,
            EPOCH + i,
            get("/crm/v3/objects/contacts", Some(&token)),
        );
        assert_eq!(answer.status, 200);
    }
    let answer = send(
        &mut hubspot,
        EPOCH + 500,
        get("/crm/v3/objects/contacts", Some(&token)),
    );
    assert_eq!(answer.header("x-hubspot-ratelimit-max"), Some("4294967295"));
}
