//! The machinery both mocks share: accounts, grants and tokens, the budget pipeline, fault rules
//! and the journal. The wire dialects (`hubspot.rs`, `salesforce.rs`) add routes and bodies on top.
//!
//! One request goes through [`Mock::serve`] in plain phases:
//! 1. time: `now` never goes backwards for the provider (a clock read over HTTP may jitter);
//! 2. admin: `/__admin/...` goes to `admin.rs`, is not journaled and sees no faults;
//! 3. route and identity: which route, and which account/grant the credentials name;
//! 4. another app: its bursts due by `now` fill the account's window first;
//! 5. faults: the first matching rule that fires gives a verdict;
//! 6. processing (unless the verdict short-cuts it): budget, then auth, then the route's handler;
//! 7. finishing: usage headers, `Date`, `Content-Length`;
//! 8. journal.
//!
//! **Invariant:** a request counts against a window only through `RollingWindow::try_count`, so
//! no window ever holds more than the account's budget.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use compact_str::CompactString;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, DATE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::account::{
    AccessToken, Account, AccountOptions, Credentials, DEFAULT_LATENCY_MS, Grant, IdScheme,
    ObjectStore, Properties, PropertyValue, ProviderLimits, Record, RefreshTokenState,
    ResolvedOptions,
};
use crate::budget::{Origin, RollingWindow};
use crate::error::MockError;
use crate::faults::{
    FaultGuard, FaultRule, FaultRuleView, FaultRules, RequestFacts, RuleId, SharedFaultRules,
    Verdict, lock,
};
use crate::journal::{JournalEntry, JournalOutcome, RateLimitCause};
use crate::seam::{Millis, Outcome, ProviderRequest, ProviderResponse, Served};
use crate::{admin, hubspot, ids, salesforce, time};

/// Which real provider a mock imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    Hubspot,
    Salesforce,
}

impl Dialect {
    /// The provider's real defaults and limits.
    pub fn limits(self) -> ProviderLimits {
        match self {
            Dialect::Hubspot => ProviderLimits {
                budget: 100,
                window_ms: 10_000,
                token_lifetime_s: 1800,
                page_size_max: 100,
            },
            Dialect::Salesforce => ProviderLimits {
                budget: 15_000,
                window_ms: 86_400_000,
                token_lifetime_s: 7200,
                page_size_max: 2000,
            },
        }
    }

    /// The object types, as the provider names them.
    pub fn objects(self) -> &'static [&'static str] {
        match self {
            Dialect::Hubspot => &["contacts", "companies"],
            Dialect::Salesforce => &["Contact", "Account"],
        }
    }

    fn objects_text(self) -> &'static str {
        match self {
            Dialect::Hubspot => "contacts, companies",
            Dialect::Salesforce => "Contact, Account",
        }
    }

    /// The property that holds the target's external id.
    pub fn external_id_field(self) -> &'static str {
        match self {
            Dialect::Hubspot => hubspot::EXTERNAL_ID_PROPERTY,
            Dialect::Salesforce => salesforce::EXTERNAL_ID_FIELD,
        }
    }

    /// How record ids spell their numbers.
    pub(crate) fn id_scheme(self) -> IdScheme {
        match self {
            Dialect::Hubspot => IdScheme::Decimal,
            Dialect::Salesforce => IdScheme::Salesforce,
        }
    }

    /// `hubspot` or `salesforce`, the prefix of route names.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Hubspot => "hubspot",
            Dialect::Salesforce => "salesforce",
        }
    }
}

/// A request as the mock reads it.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Incoming {
    fn new(request: ProviderRequest) -> Self {
        let (parts, body) = request.into_parts();
        Self {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(ToOwned::to_owned),
            headers: parts.headers,
            body,
        }
    }

    /// Path with its query, as journaled.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// The query's pairs, decoded; an undecodable query reads as empty.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
            .unwrap_or_default()
    }

    /// The bearer token of the `Authorization` header (Salesforce also accepts `OAuth`).
    pub fn bearer(&self) -> Option<&str> {
        let value = self.headers.get(AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
            .then(|| token.trim())
    }

    /// The form body's pairs.
    pub fn form(&self) -> Option<BTreeMap<String, String>> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&self.body)
            .ok()
            .map(|pairs| pairs.into_iter().collect())
    }
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Token,
    Api(ApiRoute),
    NotFound,
    MethodNotAllowed,
}

/// An authenticated provider route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiRoute {
    HubspotList {
        object: String,
    },
    HubspotUpsert {
        object: String,
    },
    HubspotUpdate {
        object: String,
    },
    SalesforceQuery {
        version: String,
    },
    SalesforceQueryMore {
        version: String,
        locator: String,
    },
    SalesforceUpsert {
        version: String,
        object: String,
        field: String,
    },
    SalesforceUpdate {
        version: String,
    },
}

impl Route {
    /// A stable name for the journal: `hubspot.contacts.list`, `salesforce.token`, ...
    fn name(&self, dialect: Dialect) -> String {
        let provider = dialect.name();
        match self {
            Route::Token => format!("{provider}.token"),
            Route::NotFound => format!("{provider}.not_found"),
            Route::MethodNotAllowed => format!("{provider}.method_not_allowed"),
            Route::Api(api) => match api {
                ApiRoute::HubspotList { object } => format!("hubspot.{object}.list"),
                ApiRoute::HubspotUpsert { object } => format!("hubspot.{object}.upsert"),
                ApiRoute::HubspotUpdate { object } => format!("hubspot.{object}.update"),
                ApiRoute::SalesforceQuery { .. } => "salesforce.query".into(),
                ApiRoute::SalesforceQueryMore { .. } => "salesforce.query_more".into(),
                ApiRoute::SalesforceUpsert { object, .. } => format!("salesforce.{object}.upsert"),
                ApiRoute::SalesforceUpdate { .. } => "salesforce.update".into(),
            },
        }
    }
}

/// Who a request comes from, as far as its credentials say.
#[derive(Debug, Clone, Default)]
pub(crate) struct Who {
    pub account_id: Option<String>,
    pub grant_id: Option<String>,
    pub client_id: Option<String>,
}

/// What processing a request produced.
#[derive(Debug)]
pub(crate) struct Processed {
    pub response: ProviderResponse,
    pub counted: bool,
    pub acted: bool,
    pub rate_limit: Option<RateLimitCause>,
}

/// A Salesforce query cursor: a snapshot of record numbers, served page by page.
#[derive(Debug, Clone)]
pub(crate) struct QueryCursor {
    pub account_id: String,
    pub object: String,
    pub fields: Vec<String>,
    pub numbers: Vec<u64>,
    pub page_size: u32,
}

/// At most this many query cursors are kept; the oldest is forgotten first (real Salesforce
/// limits open cursors too).
pub(crate) const CURSORS_MAX: usize = 1000;
/// Journal entries kept before the oldest half is dropped.
pub const JOURNAL_MAX: usize = 2_000_000;

/// One mock provider: many accounts, their records, credentials, budgets, fault rules and a
/// journal. `Hubspot` and `Salesforce` wrap it with their dialect fixed.
#[derive(Debug)]
pub struct Mock {
    pub(crate) dialect: Dialect,
    pub(crate) base_url: String,
    seed: u64,
    pub(crate) rng: ChaCha8Rng,
    last_now: Millis,
    pub(crate) accounts: BTreeMap<String, Account>,
    next_account: u64,
    apps: BTreeMap<String, String>,
    grants: BTreeMap<String, Grant>,
    next_grant: u64,
    refresh_tokens: BTreeMap<String, (String, RefreshTokenState)>,
    access_tokens: BTreeMap<String, AccessToken>,
    next_record: u64,
    pub(crate) cursors: BTreeMap<String, QueryCursor>,
    pub(crate) next_cursor: u64,
    faults: SharedFaultRules,
    journal: Vec<JournalEntry>,
    next_sequence: u64,
    /// Tests only: serve the API routes with the `Value`-based oracles (`hubspot/oracle.rs`,
    /// `salesforce/oracle.rs`) that the fast paths are compared with.
    #[cfg(test)]
    pub(crate) oracle: bool,
}

impl Mock {
    pub(crate) fn new(dialect: Dialect, base_url: String, seed: u64) -> Self {
        Self {
            dialect,
            base_url: trim_base(base_url),
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            last_now: 0,
            accounts: BTreeMap::new(),
            next_account: 1,
            apps: BTreeMap::new(),
            grants: BTreeMap::new(),
            next_grant: 1,
            refresh_tokens: BTreeMap::new(),
            access_tokens: BTreeMap::new(),
            next_record: 1,
            cursors: BTreeMap::new(),
            next_cursor: 1,
            faults: Arc::new(Mutex::new(FaultRules::new(seed))),
            journal: Vec::new(),
            next_sequence: 1,
            #[cfg(test)]
            oracle: false,
        }
    }

    /// Which provider this mock imitates.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The base URL the mock advertises (Salesforce's `instance_url`, HubSpot's paging links).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sets the advertised base URL, e.g. once an HTTP listener is bound. A trailing `/` is
    /// dropped.
    pub fn set_base_url(&mut self, base_url: impl Into<String>) {
        self.base_url = trim_base(base_url.into());
    }

    /// The path part of the base URL (`/salesforce` for `http://host:1/salesforce`), which
    /// Salesforce puts in front of `nextRecordsUrl` so that it resolves against `instance_url`.
    pub(crate) fn base_path(&self) -> &str {
        let after_scheme = self
            .base_url
            .split_once("://")
            .map_or(self.base_url.as_str(), |(_, rest)| rest);
        after_scheme.find('/').map_or("", |i| &after_scheme[i..])
    }

    /// Forgets everything except the base URL and seed: the state right after construction.
    /// Fault-rule ids keep counting, so a guard from before the reset removes nothing new.
    pub fn reset(&mut self) {
        let fresh = Mock::new(self.dialect, self.base_url.clone(), self.seed);
        let faults = self.faults.clone();
        lock(&faults).reset(self.seed);
        *self = Mock { faults, ..fresh };
    }

    // ---------------------------------------------------------------- accounts and credentials

    /// Creates an account with `options` (defaults: the real provider's) and one grant; answers
    /// the credentials a target configures a session with.
    pub fn create_account(
        &mut self,
        now: Millis,
        options: &AccountOptions,
    ) -> Result<Credentials, MockError> {
        let limits = self.dialect.limits();
        let resolved = ResolvedOptions::apply(&ResolvedOptions::defaults(limits), options, limits)?;
        let (client_id, client_secret) = self.client_for(options)?;
        let number = self.next_account;
        self.next_account += 1;
        let account_id = match self.dialect {
            Dialect::Hubspot => (1000 + number).to_string(),
            Dialect::Salesforce => ids::salesforce_id("00D", number),
        };
        let objects = self
            .dialect
            .objects()
            .iter()
            .map(|o| ((*o).to_owned(), ObjectStore::new(self.dialect.id_scheme())))
            .collect();
        self.accounts.insert(
            account_id.clone(),
            Account {
                id: account_id.clone(),
                number,
                created_at: now,
                options: resolved,
                window: RollingWindow::new(limits.window_ms),
                objects,
                another_app_next_burst: 0,
            },
        );
        self.apps.insert(client_id.clone(), client_secret.clone());
        Ok(self.new_grant(&account_id, &client_id, &client_secret))
    }

    /// A further grant on an existing account, for the same client or another one: a second
    /// connection that shares the account's budget.
    pub fn add_grant(
        &mut self,
        account_id: &str,
        client: &AccountOptions,
    ) -> Result<Credentials, MockError> {
        self.account(account_id)?;
        let (client_id, client_secret) = self.client_for(client)?;
        self.apps.insert(client_id.clone(), client_secret.clone());
        Ok(self.new_grant(account_id, &client_id, &client_secret))
    }

    fn client_for(&mut self, options: &AccountOptions) -> Result<(String, String), MockError> {
        match (&options.client_id, &options.client_secret) {
            (Some(id), secret)
                if id.is_empty() || secret.as_ref().is_some_and(String::is_empty) =>
            {
                let _ = (id, secret);
                Err(MockError::Invalid(
                    "client_id and client_secret must not be empty".into(),
                ))
            }
            (Some(id), secret) => match (self.apps.get(id), secret) {
                (Some(known), Some(secret)) if known != secret => Err(MockError::Invalid(format!(
                    "client {id:?} exists with another client_secret"
                ))),
                (Some(known), _) => Ok((id.clone(), known.clone())),
                (None, Some(secret)) => Ok((id.clone(), secret.clone())),
                (None, None) => Err(MockError::Invalid(format!(
                    "client_secret is required for the new client {id:?}"
                ))),
            },
            (None, Some(_)) => Err(MockError::Invalid(
                "client_secret given without client_id".into(),
            )),
            (None, None) => Ok(match self.dialect {
                Dialect::Hubspot => (ids::uuid(&mut self.rng), ids::uuid(&mut self.rng)),
                Dialect::Salesforce => (
                    format!("3MVG9{}", ids::alphanumeric(&mut self.rng, 80)),
                    ids::alphanumeric(&mut self.rng, 64),
                ),
            }),
        }
    }

    fn new_refresh_token(&mut self) -> String {
        match self.dialect {
            Dialect::Hubspot => format!("na1-{}", ids::uuid(&mut self.rng)),
            Dialect::Salesforce => format!("5Aep861{}", ids::alphanumeric(&mut self.rng, 80)),
        }
    }

    fn new_grant(&mut self, account_id: &str, client_id: &str, client_secret: &str) -> Credentials {
        let grant_id = format!("g{}", self.next_grant);
        self.next_grant += 1;
        let refresh_token = self.new_refresh_token();
        self.refresh_tokens.insert(
            refresh_token.clone(),
            (grant_id.clone(), RefreshTokenState::Current),
        );
        self.grants.insert(
            grant_id.clone(),
            Grant {
                id: grant_id.clone(),
                account_id: account_id.to_owned(),
                client_id: client_id.to_owned(),
                refresh_token: refresh_token.clone(),
                revoked: false,
            },
        );
        Credentials {
            account_id: account_id.to_owned(),
            grant_id,
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            refresh_token,
        }
    }

    /// Replaces some options of an account; fields left out keep their values.
    pub fn update_account(
        &mut self,
        account_id: &str,
        options: &AccountOptions,
    ) -> Result<ResolvedOptions, MockError> {
        if options.client_id.is_some() || options.client_secret.is_some() {
            return Err(MockError::Invalid(
                "an account's client cannot change; add a grant instead".into(),
            ));
        }
        let limits = self.dialect.limits();
        let account = self.account_mut(account_id)?;
        let resolved = ResolvedOptions::apply(&account.options, options, limits)?;
        account.options = resolved.clone();
        Ok(resolved)
    }

    pub(crate) fn account(&self, account_id: &str) -> Result<&Account, MockError> {
        self.accounts
            .get(account_id)
            .ok_or_else(|| MockError::UnknownAccount(account_id.to_owned()))
    }

    pub(crate) fn account_mut(&mut self, account_id: &str) -> Result<&mut Account, MockError> {
        self.accounts
            .get_mut(account_id)
            .ok_or_else(|| MockError::UnknownAccount(account_id.to_owned()))
    }

    /// The account ids, in order.
    pub fn account_ids(&self) -> Vec<String> {
        self.accounts.keys().cloned().collect()
    }

    /// An account's resolved options.
    pub fn account_options(&self, account_id: &str) -> Result<ResolvedOptions, MockError> {
        Ok(self.account(account_id)?.options.clone())
    }

    /// How many requests count in the account's window at `now` (every origin), as the usage
    /// headers would report it.
    pub fn usage(&mut self, now: Millis, account_id: &str) -> Result<u32, MockError> {
        self.apply_another_app(account_id, now);
        Ok(self.account_mut(account_id)?.window.used(now))
    }

    /// Expires every access token of the account; answers how many.
    pub fn expire_tokens(&mut self, now: Millis, account_id: &str) -> Result<u32, MockError> {
        self.account(account_id)?;
        let mut expired = 0;
        for token in self.access_tokens.values_mut() {
            if token.account_id == account_id && token.expires_at > now {
                token.expires_at = now;
                expired += 1;
            }
        }
        Ok(expired)
    }

    /// Revokes the account's grants (or only the one whose current refresh token is given):
    /// their refresh tokens answer invalid-grant and their access tokens answer 401.
    pub fn revoke_grants(
        &mut self,
        account_id: &str,
        refresh_token: Option<&str>,
    ) -> Result<u32, MockError> {
        self.account(account_id)?;
        let only = match refresh_token {
            Some(token) => Some(
                self.refresh_tokens
                    .get(token)
                    .map(|(grant, _)| grant.clone())
                    .ok_or_else(|| MockError::Invalid("unknown refresh_token".into()))?,
            ),
            None => None,
        };
        let targets: Vec<String> = self
            .grants
            .values()
            .filter(|g| g.account_id == account_id && !g.revoked)
            .filter(|g| only.as_ref().is_none_or(|o| *o == g.id))
            .map(|g| g.id.clone())
            .collect();
        for grant in &targets {
            self.revoke_grant(grant);
        }
        Ok(u32::try_from(targets.len()).unwrap_or(u32::MAX))
    }

    fn revoke_grant(&mut self, grant_id: &str) {
        if let Some(grant) = self.grants.get_mut(grant_id) {
            grant.revoked = true;
        }
        self.access_tokens.retain(|_, t| t.grant_id != grant_id);
    }

    /// Another app sends `requests` requests on the account at `now`; answers how many counted
    /// (the rest drew rate-limit answers, which the target never sees).
    pub fn another_app_uses(
        &mut self,
        now: Millis,
        account_id: &str,
        requests: u32,
    ) -> Result<u32, MockError> {
        self.account(account_id)?;
        let now = self.advance(now);
        self.apply_another_app(account_id, now);
        Ok(self.count_another_app(account_id, now, requests))
    }

    fn count_another_app(&mut self, account_id: &str, at: Millis, requests: u32) -> u32 {
        let Some(account) = self.accounts.get_mut(account_id) else {
            return 0;
        };
        let limit = account.options.budget.limit();
        let mut counted = 0u32;
        // Bounded by `requests`, and stops at the first refusal: the window is full at `at`.
        for _ in 0..requests {
            if !account.window.try_count(at, Origin::AnotherApp, limit) {
                break;
            }
            counted += 1;
        }
        let entry = JournalEntry {
            sequence: 0,
            at_ms: at,
            origin: Origin::AnotherApp,
            account_id: Some(account_id.to_owned()),
            client_id: None,
            grant_id: None,
            method: String::new(),
            path: String::new(),
            route: format!("{}.another_app", self.dialect.name()),
            outcome: JournalOutcome::Answer,
            status: None,
            counted: counted > 0,
            requests: counted,
            acted: counted > 0,
            rate_limit: None,
            latency_ms: 0,
            fault_rule: None,
        };
        self.push_journal(entry);
        counted
    }

    /// Applies the bursts of the account's `another_app` option due by `now`, skipping those
    /// that no longer count. Called before every request of the account, so that entries enter
    /// the window in time order.
    fn apply_another_app(&mut self, account_id: &str, now: Millis) {
        let Some(account) = self.accounts.get(account_id) else {
            return;
        };
        let Some(app) = account.options.another_app else {
            return;
        };
        let first = account.created_at.saturating_add(app.offset_ms);
        let window = account.window.window_ms();
        let still_counting_from = if now >= first.saturating_add(window) {
            (now - window - first) / app.every_ms + 1
        } else {
            0
        };
        let mut burst = account.another_app_next_burst.max(still_counting_from);
        // Bounded: only bursts inside the last window are applied, at most
        // ANOTHER_APP_BURSTS_PER_WINDOW_MAX + 1 (checked when the option is set).
        loop {
            let at = first.saturating_add(burst.saturating_mul(app.every_ms));
            if at > now {
                break;
            }
            self.count_another_app(account_id, at, app.requests);
            burst += 1;
        }
        if let Some(account) = self.accounts.get_mut(account_id) {
            account.another_app_next_burst = burst;
        }
    }

    // ---------------------------------------------------------------- fault rules

    /// Installs a rule at the end of the list; answers its id for [`Mock::remove_fault`].
    pub fn install_fault(&mut self, rule: FaultRule) -> Result<RuleId, MockError> {
        lock(&self.faults).install(rule)
    }

    /// Installs a rule that lasts as long as the guard.
    pub fn scoped_fault(&mut self, rule: FaultRule) -> Result<FaultGuard, MockError> {
        let id = lock(&self.faults).install(rule)?;
        Ok(FaultGuard::new(self.faults.clone(), id))
    }

    /// Removes a rule.
    pub fn remove_fault(&mut self, id: RuleId) -> Result<(), MockError> {
        if lock(&self.faults).remove(id) {
            Ok(())
        } else {
            Err(MockError::UnknownRule(id))
        }
    }

    /// The installed rules, in order.
    pub fn faults(&self) -> Vec<FaultRuleView> {
        lock(&self.faults).views()
    }

    // ---------------------------------------------------------------- records

    pub(crate) fn check_object(&self, object: &str) -> Result<(), MockError> {
        if self.dialect.objects().contains(&object) {
            Ok(())
        } else {
            Err(MockError::UnknownObject(
                object.to_owned(),
                self.dialect.objects_text(),
            ))
        }
    }

    pub(crate) fn store(&self, account_id: &str, object: &str) -> Result<&ObjectStore, MockError> {
        self.check_object(object)?;
        self.account(account_id)?
            .objects
            .get(object)
            .ok_or_else(|| MockError::UnknownObject(object.to_owned(), self.dialect.objects_text()))
    }

    pub(crate) fn store_mut(
        &mut self,
        account_id: &str,
        object: &str,
    ) -> Result<&mut ObjectStore, MockError> {
        self.check_object(object)?;
        let objects_text = self.dialect.objects_text();
        self.account_mut(account_id)?
            .objects
            .get_mut(object)
            .ok_or_else(|| MockError::UnknownObject(object.to_owned(), objects_text))
    }

    /// Normalises a property value the way the provider stores it: HubSpot keeps strings only.
    pub(crate) fn normalise(&self, value: serde_json::Value) -> serde_json::Value {
        match (self.dialect, value) {
            (Dialect::Hubspot, serde_json::Value::Number(n)) => n.to_string().into(),
            (Dialect::Hubspot, serde_json::Value::Bool(b)) => b.to_string().into(),
            (_, other) => other,
        }
    }

    /// The stored form of a written value (`None` for a null, which removes a property).
    pub(crate) fn stored_value(&self, value: serde_json::Value) -> Option<PropertyValue> {
        PropertyValue::from_value(self.normalise(value))
    }

    /// Creates a record with the next id; answers the id.
    pub(crate) fn create_record(
        &mut self,
        now: Millis,
        account_id: &str,
        object: &str,
        properties: BTreeMap<String, serde_json::Value>,
    ) -> Result<String, MockError> {
        let properties = Properties::from_sorted(
            properties
                .into_iter()
                .filter_map(|(k, v)| Some((CompactString::from(k), self.stored_value(v)?)))
                .collect(),
        );
        Ok(self
            .create_stored(now, account_id, object, properties)?
            .id
            .to_string())
    }

    /// Creates a record with the next id from properties already in their stored form; answers
    /// the record.
    pub(crate) fn create_stored(
        &mut self,
        now: Millis,
        account_id: &str,
        object: &str,
        properties: Properties,
    ) -> Result<&Record, MockError> {
        Ok(self
            .writer(account_id, object)?
            .into_created(now, properties))
    }

    /// One object store of one account to write, looked up once for a whole batch.
    pub(crate) fn writer<'m>(
        &'m mut self,
        account_id: &str,
        object: &str,
    ) -> Result<StoreWriter<'m>, MockError> {
        self.check_object(object)?;
        let dialect = self.dialect;
        let objects_text = dialect.objects_text();
        let account = self
            .accounts
            .get_mut(account_id)
            .ok_or_else(|| MockError::UnknownAccount(account_id.to_owned()))?;
        let store = account
            .objects
            .get_mut(object)
            .ok_or_else(|| MockError::UnknownObject(object.to_owned(), objects_text))?;
        Ok(StoreWriter {
            dialect,
            key_prefix: salesforce::key_prefix(object),
            store,
            next_record: &mut self.next_record,
        })
    }

    /// Merges `properties` into a record (`null` removes a property); answers the new record.
    pub(crate) fn merge_record(
        &mut self,
        now: Millis,
        account_id: &str,
        object: &str,
        id: &str,
        properties: BTreeMap<String, serde_json::Value>,
    ) -> Result<Record, MockError> {
        self.merge_fields(now, account_id, object, id, properties)
            .cloned()
    }

    /// [`Mock::merge_record`] without the copy of the record.
    pub(crate) fn merge_fields(
        &mut self,
        now: Millis,
        account_id: &str,
        object: &str,
        id: &str,
        properties: BTreeMap<String, serde_json::Value>,
    ) -> Result<&Record, MockError> {
        let number = self
            .store(account_id, object)?
            .get(id)
            .ok_or_else(|| MockError::UnknownRecord(id.to_owned()))?
            .number;
        let changes: Vec<(String, Option<PropertyValue>)> = properties
            .into_iter()
            .map(|(k, v)| {
                let v = self.stored_value(v);
                (k, v)
            })
            .collect();
        self.merge_stored_at(now, account_id, object, number, changes)
    }

    /// Applies changes in their stored form (`None` removes a property) to the record with
    /// creation number `number`; answers the record.
    pub(crate) fn merge_stored_at<N: AsRef<str>>(
        &mut self,
        now: Millis,
        account_id: &str,
        object: &str,
        number: u64,
        changes: impl IntoIterator<Item = (N, Option<PropertyValue>)>,
    ) -> Result<&Record, MockError> {
        self.writer(account_id, object)?
            .into_merged(now, number, changes)
            .ok_or_else(|| MockError::UnknownRecord(number.to_string()))
    }

    /// Seeds `count` deterministic records (same seed, account and position: same record).
    pub fn seed_records(
        &mut self,
        now: Millis,
        account_id: &str,
        object: &str,
        count: u32,
    ) -> Result<Vec<String>, MockError> {
        const SEED_MAX: u32 = 1_000_000;
        if count > SEED_MAX {
            return Err(MockError::Invalid(format!(
                "count must be at most {SEED_MAX}"
            )));
        }
        let offset = self.store(account_id, object)?.records.len() as u64;
        let account_number = self.account(account_id)?.number;
        let mut ids = Vec::with_capacity(count as usize);
        for i in 0..u64::from(count) {
            let properties = crate::seeding::generate(
                self.dialect,
                object,
                self.seed,
                account_number,
                offset + i,
            );
            ids.push(self.create_record(now, account_id, object, properties)?);
        }
        Ok(ids)
    }

    /// Inserts given records (provider-side property names); answers their ids.
    pub fn insert_records(
        &mut self,
        now: Millis,
        account_id: &str,
        object: &str,
        records: Vec<BTreeMap<String, serde_json::Value>>,
    ) -> Result<Vec<String>, MockError> {
        self.store(account_id, object)?;
        records
            .into_iter()
            .map(|properties| self.create_record(now, account_id, object, properties))
            .collect()
    }

    /// The account's records of one object type, in id order.
    pub fn records(&self, account_id: &str, object: &str) -> Result<Vec<RecordView>, MockError> {
        Ok(self
            .store(account_id, object)?
            .records
            .values()
            .map(|r| RecordView::of(r, object))
            .collect())
    }

    /// One record.
    pub fn record(
        &self,
        account_id: &str,
        object: &str,
        id: &str,
    ) -> Result<RecordView, MockError> {
        self.store(account_id, object)?
            .get(id)
            .map(|r| RecordView::of(r, object))
            .ok_or_else(|| MockError::UnknownRecord(id.to_owned()))
    }

    /// Merges properties into a record, as a change made in the provider's own UI would.
    pub fn update_record(
        &mut self,
        now: Millis,
        account_id: &str,
        object: &str,
        id: &str,
        properties: BTreeMap<String, serde_json::Value>,
    ) -> Result<RecordView, MockError> {
        let record = self.merge_record(now, account_id, object, id, properties)?;
        Ok(RecordView::of(&record, object))
    }

    /// Deletes a record, as a deletion in the provider's own UI would.
    /// `now` is kept as the object's last removal, so that checks can tell whether records
    /// changed during a pull.
    pub fn delete_record(
        &mut self,
        now: Millis,
        account_id: &str,
        object: &str,
        id: &str,
    ) -> Result<(), MockError> {
        let external = self.dialect.external_id_field();
        let store = self.store_mut(account_id, object)?;
        store
            .remove(id, external)
            .ok_or_else(|| MockError::UnknownRecord(id.to_owned()))?;
        store.last_removal_ms = Some(store.last_removal_ms.unwrap_or(0).max(now));
        Ok(())
    }

    /// When a record of `object` was last removed, if ever: with the records' own
    /// `created_at`/`updated_at`, it tells whether the object changed since an instant.
    pub fn last_removal_ms(&self, account_id: &str, object: &str) -> Option<Millis> {
        self.store(account_id, object)
            .ok()
            .and_then(|store| store.last_removal_ms)
    }

    /// Records that share an external id: each is a push written twice.
    pub fn duplicate_external_ids(
        &self,
        account_id: &str,
    ) -> Result<Vec<DuplicateExternalId>, MockError> {
        let field = self.dialect.external_id_field();
        let mut duplicates = Vec::new();
        for (object, store) in &self.account(account_id)?.objects {
            let mut by_external: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for record in store.records.values() {
                if let Some(ext) = record.properties.get_str(field) {
                    by_external
                        .entry(ext)
                        .or_default()
                        .push(record.id.to_string());
                }
            }
            duplicates.extend(
                by_external
                    .into_iter()
                    .filter(|(_, ids)| ids.len() > 1)
                    .map(|(ext, record_ids)| DuplicateExternalId {
                        object: object.clone(),
                        external_id: ext.to_owned(),
                        record_ids,
                    }),
            );
        }
        Ok(duplicates)
    }

    // ---------------------------------------------------------------- journal

    /// Every journaled request, oldest first (at most [`JOURNAL_MAX`]; older ones are dropped).
    pub fn journal(&self) -> &[JournalEntry] {
        &self.journal
    }

    fn push_journal(&mut self, mut entry: JournalEntry) {
        entry.sequence = self.next_sequence;
        self.next_sequence += 1;
        if self.journal.len() >= JOURNAL_MAX {
            self.journal.drain(..JOURNAL_MAX / 2);
        }
        self.journal.push(entry);
    }

    // ---------------------------------------------------------------- serving

    fn advance(&mut self, now: Millis) -> Millis {
        self.last_now = self.last_now.max(now);
        self.last_now
    }

    /// Serves one request at `now`; see the module map for the phases.
    pub(crate) fn serve(&mut self, now: Millis, request: ProviderRequest) -> Served {
        // 1. Time.
        let now = self.advance(now);
        let incoming = Incoming::new(request);

        // 2. Admin.
        if incoming.path == "/__admin" || incoming.path.starts_with("/__admin/") {
            let response = admin::handle(self, now, &incoming);
            return Served {
                outcome: Outcome::Answer(response),
                latency_ms: 0,
                acted: true,
            };
        }

        // 3. Route and identity.
        let route = match self.dialect {
            Dialect::Hubspot => hubspot::route(&incoming),
            Dialect::Salesforce => salesforce::route(&incoming),
        };
        let who = self.identify(&route, &incoming);

        // 4. Another app.
        if let Some(account_id) = &who.account_id {
            self.apply_another_app(account_id, now);
        }

        // 5. Faults.
        let decision = lock(&self.faults).decide(&RequestFacts {
            method: &incoming.method,
            path: &incoming.path,
            account_id: who.account_id.as_deref(),
        });
        let (verdict, fault_rule) = match decision {
            Some((id, verdict)) => (verdict, Some(id)),
            None => (Verdict::Pass, None),
        };
        let latency_ms = who
            .account_id
            .as_ref()
            .and_then(|a| self.accounts.get(a))
            .map_or(DEFAULT_LATENCY_MS, |a| a.options.latency_ms);

        // 6. Processing, as the verdict allows.
        let (outcome, latency_ms, processed) = match verdict {
            Verdict::TimeoutBeforeActing => (JournalOutcome::Timeout, 0, None),
            Verdict::Drop => (JournalOutcome::Dropped, latency_ms, None),
            Verdict::RateLimit => {
                let response = self.rate_limit_answer();
                let processed = Processed {
                    response,
                    counted: false,
                    acted: false,
                    rate_limit: Some(RateLimitCause::Injected),
                };
                (JournalOutcome::Answer, latency_ms, Some(processed))
            }
            Verdict::Answer {
                status,
                body,
                content_type,
            } => {
                let counts = matches!(route, Route::Api(_));
                let processed = self.injected_answer(now, &who, counts, status, body, content_type);
                (JournalOutcome::Answer, latency_ms, Some(processed))
            }
            Verdict::Pass => {
                let processed = self.process(now, &route, &incoming, &who);
                (JournalOutcome::Answer, latency_ms, Some(processed))
            }
            Verdict::Delay { ms } => {
                let processed = self.process(now, &route, &incoming, &who);
                (
                    JournalOutcome::Answer,
                    latency_ms.saturating_add(ms),
                    Some(processed),
                )
            }
            Verdict::TimeoutAfterActing => {
                let processed = self.process(now, &route, &incoming, &who);
                (JournalOutcome::Timeout, 0, Some(processed))
            }
        };

        // 7. Finishing.
        let (status, counted, acted, rate_limit, served_outcome) = match processed {
            Some(p) => {
                let response = self.finish(now, who.account_id.as_deref(), p.response);
                let status = response.status().as_u16();
                let served = match outcome {
                    JournalOutcome::Answer => Outcome::Answer(response),
                    JournalOutcome::Timeout => Outcome::Timeout,
                    JournalOutcome::Dropped => Outcome::Dropped,
                };
                let status = (outcome == JournalOutcome::Answer).then_some(status);
                (status, p.counted, p.acted, p.rate_limit, served)
            }
            None => {
                let served = match outcome {
                    JournalOutcome::Dropped => Outcome::Dropped,
                    JournalOutcome::Answer | JournalOutcome::Timeout => Outcome::Timeout,
                };
                (None, false, false, None, served)
            }
        };

        // 8. Journal.
        let entry = JournalEntry {
            sequence: 0,
            at_ms: now,
            origin: Origin::Target,
            account_id: who.account_id.clone(),
            client_id: who.client_id.clone(),
            grant_id: who.grant_id.clone(),
            method: incoming.method.to_string(),
            path: incoming.path_and_query(),
            route: route.name(self.dialect),
            outcome,
            status,
            counted,
            requests: 1,
            acted,
            rate_limit,
            latency_ms,
            fault_rule,
        };
        self.push_journal(entry);
        Served {
            outcome: served_outcome,
            latency_ms,
            acted,
        }
    }

    fn identify(&self, route: &Route, incoming: &Incoming) -> Who {
        let grant = match route {
            Route::Token => incoming
                .form()
                .and_then(|form| form.get("refresh_token").cloned())
                .and_then(|token| self.refresh_tokens.get(&token))
                .and_then(|(grant_id, _)| self.grants.get(grant_id)),
            Route::Api(_) | Route::NotFound | Route::MethodNotAllowed => incoming
                .bearer()
                .and_then(|token| self.access_tokens.get(token))
                .and_then(|token| self.grants.get(&token.grant_id)),
        };
        match grant {
            Some(grant) => Who {
                account_id: Some(grant.account_id.clone()),
                grant_id: Some(grant.id.clone()),
                client_id: Some(grant.client_id.clone()),
            },
            None => Who::default(),
        }
    }

    fn injected_answer(
        &mut self,
        now: Millis,
        who: &Who,
        counts: bool,
        status: u16,
        body: Bytes,
        content_type: Option<String>,
    ) -> Processed {
        let content_type = content_type.unwrap_or_else(|| {
            if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
                self.json_content_type().to_owned()
            } else {
                "text/plain;charset=utf-8".to_owned()
            }
        });
        let mut response = http::Response::new(body);
        *response.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Ok(value) = HeaderValue::from_str(&content_type) {
            response.headers_mut().insert(CONTENT_TYPE, value);
        }
        let is_rate_limit = match self.dialect {
            Dialect::Hubspot => status == 429,
            Dialect::Salesforce => {
                status == 429
                    || (status == 403
                        && response
                            .body()
                            .windows(b"REQUEST_LIMIT_EXCEEDED".len())
                            .any(|w| w == b"REQUEST_LIMIT_EXCEEDED"))
            }
        };
        if is_rate_limit {
            return Processed {
                response,
                counted: false,
                acted: false,
                rate_limit: Some(RateLimitCause::Injected),
            };
        }
        // Any other answer to an API call was processed: it counts, if the window has room.
        // Token requests never count.
        let counted = counts
            && who.account_id.as_deref().is_some_and(|account_id| {
                self.accounts.get_mut(account_id).is_some_and(|account| {
                    let limit = account.options.budget.limit();
                    account.window.try_count(now, Origin::Target, limit)
                })
            });
        Processed {
            response,
            counted,
            acted: counted,
            rate_limit: None,
        }
    }

    /// Budget, then auth, then the route's handler.
    fn process(&mut self, now: Millis, route: &Route, incoming: &Incoming, who: &Who) -> Processed {
        let api = match route {
            Route::Token => return self.serve_token(now, incoming),
            Route::NotFound => {
                return Self::uncounted(self.not_found_answer());
            }
            Route::MethodNotAllowed => {
                return Self::uncounted(self.method_not_allowed_answer(&incoming.method));
            }
            Route::Api(api) => api,
        };
        let Some(account_id) = who.account_id.as_deref() else {
            return Self::uncounted(self.unauthorized_answer());
        };
        // Budget.
        let Some(account) = self.accounts.get_mut(account_id) else {
            return Self::uncounted(self.unauthorized_answer());
        };
        let limit = account.options.budget.limit();
        if !account.window.try_count(now, Origin::Target, limit) {
            let own = account.window.used_by(now, Origin::Target);
            let cause = if limit.is_some_and(|l| own >= l) {
                RateLimitCause::Budget
            } else {
                RateLimitCause::AnotherApp
            };
            return Processed {
                response: self.rate_limit_answer(),
                counted: false,
                acted: false,
                rate_limit: Some(cause),
            };
        }
        // Auth.
        let valid = incoming
            .bearer()
            .and_then(|token| self.access_tokens.get(token))
            .is_some_and(|token| token.expires_at > now);
        if !valid {
            return Processed {
                response: self.unauthorized_answer(),
                counted: true,
                acted: true,
                rate_limit: None,
            };
        }
        // The route.
        let response = match self.dialect {
            #[cfg(test)]
            Dialect::Hubspot if self.oracle => {
                hubspot::oracle::handle(self, now, account_id, api, incoming)
            }
            Dialect::Hubspot => hubspot::handle(self, now, account_id, api, incoming),
            #[cfg(test)]
            Dialect::Salesforce if self.oracle => {
                salesforce::oracle::handle(self, now, account_id, api, incoming)
            }
            Dialect::Salesforce => salesforce::handle(self, now, account_id, api, incoming),
        };
        Processed {
            response,
            counted: true,
            acted: true,
            rate_limit: None,
        }
    }

    fn uncounted(response: ProviderResponse) -> Processed {
        Processed {
            response,
            counted: false,
            acted: false,
            rate_limit: None,
        }
    }

    /// The token endpoint: checks grant type and client, then the refresh token; rotates it if
    /// the account says so, and revokes the grant on reuse of a rotated-out token.
    fn serve_token(&mut self, now: Millis, incoming: &Incoming) -> Processed {
        let form = incoming.form().unwrap_or_default();
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
        if field("grant_type") != "refresh_token" {
            return Self::uncounted(self.token_error(TokenError::GrantType));
        }
        let Some(secret) = self.apps.get(field("client_id")) else {
            return Self::uncounted(self.token_error(TokenError::Client));
        };
        if secret != field("client_secret") {
            return Self::uncounted(self.token_error(TokenError::Secret));
        }
        let refresh_token = field("refresh_token").to_owned();
        let Some((grant_id, state)) = self.refresh_tokens.get(&refresh_token).cloned() else {
            return Self::uncounted(self.token_error(TokenError::RefreshToken));
        };
        let Some(grant) = self.grants.get(&grant_id).cloned() else {
            return Self::uncounted(self.token_error(TokenError::RefreshToken));
        };
        if grant.client_id != field("client_id") || grant.revoked {
            return Self::uncounted(self.token_error(TokenError::RefreshToken));
        }
        if state == RefreshTokenState::RotatedOut {
            // Reuse detection: the whole family dies, as with real rotating providers.
            self.revoke_grant(&grant_id);
            return Processed {
                response: self.token_error(TokenError::RefreshToken),
                counted: false,
                acted: true,
                rate_limit: None,
            };
        }
        let Some(account) = self.accounts.get(&grant.account_id) else {
            return Self::uncounted(self.token_error(TokenError::RefreshToken));
        };
        let options = account.options.clone();
        let account_number = account.number;
        let access_token = match self.dialect {
            Dialect::Hubspot => format!("CJ{}", ids::alphanumeric(&mut self.rng, 64)),
            Dialect::Salesforce => format!(
                "{}!AR{}",
                &grant.account_id[..15.min(grant.account_id.len())],
                ids::alphanumeric(&mut self.rng, 60)
            ),
        };
        self.access_tokens.insert(
            access_token.clone(),
            AccessToken {
                grant_id: grant_id.clone(),
                account_id: grant.account_id.clone(),
                expires_at: now.saturating_add(options.token_lifetime_s.saturating_mul(1000)),
            },
        );
        let new_refresh = if options.rotate_refresh_tokens {
            let fresh = self.new_refresh_token();
            self.refresh_tokens.insert(
                refresh_token.clone(),
                (grant_id.clone(), RefreshTokenState::RotatedOut),
            );
            self.refresh_tokens.insert(
                fresh.clone(),
                (grant_id.clone(), RefreshTokenState::Current),
            );
            if let Some(grant) = self.grants.get_mut(&grant_id) {
                grant.refresh_token = fresh.clone();
            }
            Some(fresh)
        } else {
            None
        };
        let response = match self.dialect {
            Dialect::Hubspot => hubspot::token_answer(
                self,
                &access_token,
                new_refresh.as_deref().unwrap_or(&refresh_token),
                options.token_lifetime_s,
            ),
            Dialect::Salesforce => salesforce::token_answer(
                self,
                now,
                &access_token,
                new_refresh.as_deref(),
                &grant.account_id,
                account_number,
            ),
        };
        Processed {
            response,
            counted: false,
            acted: true,
            rate_limit: None,
        }
    }

    // ---------------------------------------------------------------- dialect answers

    pub(crate) fn json_content_type(&self) -> &'static str {
        match self.dialect {
            Dialect::Hubspot => "application/json;charset=utf-8",
            Dialect::Salesforce => "application/json;charset=UTF-8",
        }
    }

    /// A JSON answer in the provider's content type.
    pub(crate) fn json(&self, status: u16, body: &serde_json::Value) -> ProviderResponse {
        json_response(status, body, self.json_content_type())
    }

    /// A JSON answer in the provider's content type, its body already written.
    pub(crate) fn json_bytes(&self, status: u16, body: Vec<u8>) -> ProviderResponse {
        bytes_response(status, Bytes::from(body), self.json_content_type())
    }

    fn rate_limit_answer(&mut self) -> ProviderResponse {
        match self.dialect {
            Dialect::Hubspot => hubspot::rate_limit_answer(self),
            Dialect::Salesforce => salesforce::rate_limit_answer(self),
        }
    }

    fn unauthorized_answer(&self) -> ProviderResponse {
        match self.dialect {
            Dialect::Hubspot => hubspot::unauthorized_answer(self),
            Dialect::Salesforce => salesforce::unauthorized_answer(self),
        }
    }

    fn not_found_answer(&mut self) -> ProviderResponse {
        match self.dialect {
            Dialect::Hubspot => hubspot::not_found_answer(self),
            Dialect::Salesforce => salesforce::not_found_answer(self),
        }
    }

    fn method_not_allowed_answer(&mut self, method: &Method) -> ProviderResponse {
        match self.dialect {
            Dialect::Hubspot => hubspot::method_not_allowed_answer(self, method),
            Dialect::Salesforce => salesforce::method_not_allowed_answer(self, method),
        }
    }

    fn token_error(&self, error: TokenError) -> ProviderResponse {
        match self.dialect {
            Dialect::Hubspot => hubspot::token_error(self, error),
            Dialect::Salesforce => salesforce::token_error(self, error),
        }
    }

    /// Adds the usage headers, `Date` and `Content-Length` to every provider answer.
    fn finish(
        &mut self,
        now: Millis,
        account_id: Option<&str>,
        mut response: ProviderResponse,
    ) -> ProviderResponse {
        let (used, limit) = match account_id.and_then(|a| self.accounts.get_mut(a)) {
            Some(account) => (
                account.window.used(now),
                account.options.budget.reported_limit(),
            ),
            None => (0, self.dialect.limits().budget),
        };
        let headers = response.headers_mut();
        match self.dialect {
            Dialect::Hubspot => {
                let window = self.dialect.limits().window_ms;
                headers.insert(
                    "x-hubspot-ratelimit-interval-milliseconds",
                    HeaderValue::from(window),
                );
                headers.insert("x-hubspot-ratelimit-max", HeaderValue::from(limit));
                headers.insert(
                    "x-hubspot-ratelimit-remaining",
                    HeaderValue::from(limit.saturating_sub(used)),
                );
            }
            Dialect::Salesforce => {
                if let Ok(value) = HeaderValue::from_str(&format!("api-usage={used}/{limit}")) {
                    headers.insert("sforce-limit-info", value);
                }
            }
        }
        stamp(&mut response, now);
        response
    }
}

/// Why the token endpoint refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenError {
    GrantType,
    Client,
    Secret,
    RefreshToken,
}

/// One object store of one account, open for writing, with the mock's record counter: what a
/// batch needs, so that it looks the store up once, not once per record.
#[derive(Debug)]
pub(crate) struct StoreWriter<'m> {
    dialect: Dialect,
    /// Salesforce's id prefix for the object.
    key_prefix: &'static str,
    pub store: &'m mut ObjectStore,
    next_record: &'m mut u64,
}

impl<'m> StoreWriter<'m> {
    fn next_id(&mut self) -> (u64, CompactString) {
        let number = *self.next_record;
        *self.next_record += 1;
        let id = match self.dialect {
            Dialect::Hubspot => CompactString::from(itoa::Buffer::new().format(number)),
            Dialect::Salesforce => CompactString::from(ids::salesforce_id(self.key_prefix, number)),
        };
        (number, id)
    }

    fn record(number: u64, id: CompactString, now: Millis, properties: Properties) -> Record {
        Record {
            number,
            id,
            properties,
            created_at: now,
            updated_at: now,
        }
    }

    /// Creates a record with the next id from properties in their stored form; answers it.
    pub(crate) fn create(&mut self, now: Millis, properties: Properties) -> &Record {
        let (number, id) = self.next_id();
        let external = self.dialect.external_id_field();
        self.store
            .insert_new(Self::record(number, id, now, properties), external)
    }

    /// [`StoreWriter::create`], for a caller done with the writer.
    pub(crate) fn into_created(mut self, now: Millis, properties: Properties) -> &'m Record {
        let (number, id) = self.next_id();
        let external = self.dialect.external_id_field();
        self.store
            .insert_new(Self::record(number, id, now, properties), external)
    }

    /// Applies changes in their stored form (`None` removes a property) to the record with
    /// creation number `number`; answers it.
    pub(crate) fn merge_at<N: AsRef<str>>(
        &mut self,
        now: Millis,
        number: u64,
        changes: impl IntoIterator<Item = (N, Option<PropertyValue>)>,
    ) -> Option<&Record> {
        self.store
            .merge_at(number, now, self.dialect.external_id_field(), changes)
    }

    /// [`StoreWriter::merge_at`], for a caller done with the writer.
    pub(crate) fn into_merged<N: AsRef<str>>(
        self,
        now: Millis,
        number: u64,
        changes: impl IntoIterator<Item = (N, Option<PropertyValue>)>,
    ) -> Option<&'m Record> {
        self.store
            .merge_at(number, now, self.dialect.external_id_field(), changes)
    }
}

/// A record as the Rust and admin APIs show it (provider-side property names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordView {
    pub id: String,
    pub object: String,
    pub properties: BTreeMap<String, serde_json::Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl RecordView {
    fn of(record: &Record, object: &str) -> Self {
        Self {
            id: record.id.to_string(),
            object: object.to_owned(),
            properties: record.properties.to_map(),
            created_at: time::rfc3339(record.created_at),
            updated_at: time::rfc3339(record.updated_at),
        }
    }
}

/// Records of one object type that share an external id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DuplicateExternalId {
    pub object: String,
    pub external_id: String,
    pub record_ids: Vec<String>,
}

/// A JSON answer.
pub(crate) fn json_response(
    status: u16,
    body: &serde_json::Value,
    content_type: &'static str,
) -> ProviderResponse {
    bytes_response(status, Bytes::from(body.to_string()), content_type)
}

/// An answer with `body` in `content_type`.
pub(crate) fn bytes_response(
    status: u16,
    body: Bytes,
    content_type: &'static str,
) -> ProviderResponse {
    let mut response = http::Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).expect("the mocks only answer valid status codes");
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Sets `Date` from `now` and `Content-Length` from the body, so that an answer served over HTTP
/// carries exactly the headers of the in-process one.
pub(crate) fn stamp(response: &mut ProviderResponse, now: Millis) {
    let length = response.body().len();
    let headers = response.headers_mut();
    if let Ok(date) = HeaderValue::from_str(&time::http_date(now)) {
        headers.insert(DATE, date);
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
}

fn trim_base(base_url: String) -> String {
    base_url.trim_end_matches('/').to_owned()
}

/// A grant as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantView {
    pub grant_id: String,
    pub client_id: String,
    pub refresh_token: String,
    pub revoked: bool,
}

impl Mock {
    /// The account's grants, in creation order of their ids.
    pub fn grants_of(&self, account_id: &str) -> Result<Vec<GrantView>, MockError> {
        self.account(account_id)?;
        Ok(self
            .grants
            .values()
            .filter(|g| g.account_id == account_id)
            .map(|g| GrantView {
                grant_id: g.id.clone(),
                client_id: g.client_id.clone(),
                refresh_token: g.refresh_token.clone(),
                revoked: g.revoked,
            })
            .collect())
    }
}
