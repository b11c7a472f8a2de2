//! Provider accounts: their options, credentials and records.
//!
//! An account is one HubSpot portal or Salesforce org. It has its own budget window, records and
//! options. Its connections are grants: one grant per refresh-token family, each bound to an
//! OAuth client. A target reaches an account through a grant's refresh token at the token
//! endpoint, then through the access tokens the grant issues.

use std::collections::BTreeMap;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::budget::RollingWindow;
use crate::error::MockError;
use crate::seam::Millis;

/// An account's budget per rolling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// At most this many counted requests in any rolling window.
    Requests(u32),
    /// No limit (benchmarks). The usage headers then report `u32::MAX` as the limit.
    Unlimited,
}

impl Budget {
    /// The limit as the window takes it.
    pub fn limit(self) -> Option<u32> {
        match self {
            Budget::Requests(n) => Some(n),
            Budget::Unlimited => None,
        }
    }

    /// The limit as the usage headers report it.
    pub fn reported_limit(self) -> u32 {
        self.limit().unwrap_or(u32::MAX)
    }
}

impl Serialize for Budget {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Budget::Requests(n) => serializer.serialize_u32(*n),
            Budget::Unlimited => serializer.serialize_str("unlimited"),
        }
    }
}

impl<'de> Deserialize<'de> for Budget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Word {
            Unlimited,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Requests(u32),
            Word(Word),
        }
        match Raw::deserialize(deserializer) {
            Ok(Raw::Requests(n)) => Ok(Budget::Requests(n)),
            Ok(Raw::Word(Word::Unlimited)) => Ok(Budget::Unlimited),
            Err(_) => Err(serde::de::Error::custom(
                "budget must be a non-negative integer or \"unlimited\"",
            )),
        }
    }
}

/// Another app on the same account: every `every_ms`, starting `offset_ms` after the account was
/// created, it sends `requests` requests. They count in the window (those with room) and show in
/// the usage headers, but the target never sees them otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnotherAppUsage {
    pub requests: u32,
    pub every_ms: u64,
    #[serde(default)]
    pub offset_ms: u64,
}

/// Options for a new account; every field is optional and defaults to the real provider's
/// behaviour. The same shape patches an existing account (`PATCH /__admin/accounts/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountOptions {
    /// Requests per rolling window (HubSpot 100 per 10 s, Salesforce 15,000 per 24 h).
    pub budget: Option<Budget>,
    /// Access-token lifetime (HubSpot 1800 s, Salesforce's 2 h session).
    pub token_lifetime_s: Option<u64>,
    /// The largest page the account serves, at most the real maximum (HubSpot 100, Salesforce
    /// 2,000).
    pub page_size: Option<u32>,
    /// Whether each refresh issues a new refresh token and kills the old one.
    pub rotate_refresh_tokens: Option<bool>,
    /// Latency of every answer (default 50 ms).
    pub latency_ms: Option<u64>,
    /// Another app's usage of the same budget.
    pub another_app: Option<AnotherAppUsage>,
    /// Use this OAuth client instead of a new one (one app, many accounts).
    pub client_id: Option<String>,
    /// The client's secret; required with a `client_id` the mock has not seen.
    pub client_secret: Option<String>,
}

/// The options an account actually runs with, all defaults resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedOptions {
    pub budget: Budget,
    pub token_lifetime_s: u64,
    pub page_size: u32,
    pub rotate_refresh_tokens: bool,
    pub latency_ms: u64,
    pub another_app: Option<AnotherAppUsage>,
}

/// Default latency of every provider answer.
pub const DEFAULT_LATENCY_MS: u64 = 50;
/// At most this many bursts of another app can fall in one window, so that materialising them
/// stays bounded.
pub const ANOTHER_APP_BURSTS_PER_WINDOW_MAX: u64 = 100_000;
/// At most this many requests in one burst of another app.
pub const ANOTHER_APP_REQUESTS_MAX: u32 = 1_000_000;

/// What a provider's defaults and limits are, for resolving options.
#[derive(Debug, Clone, Copy)]
pub struct ProviderLimits {
    pub budget: u32,
    pub window_ms: u64,
    pub token_lifetime_s: u64,
    pub page_size_max: u32,
}

impl ResolvedOptions {
    /// Applies `options` over `base` and checks them against the provider's limits.
    pub fn apply(
        base: &ResolvedOptions,
        options: &AccountOptions,
        limits: ProviderLimits,
    ) -> Result<ResolvedOptions, MockError> {
        let resolved = ResolvedOptions {
            budget: options.budget.unwrap_or(base.budget),
            token_lifetime_s: options.token_lifetime_s.unwrap_or(base.token_lifetime_s),
            page_size: options.page_size.unwrap_or(base.page_size),
            rotate_refresh_tokens: options
                .rotate_refresh_tokens
                .unwrap_or(base.rotate_refresh_tokens),
            latency_ms: options.latency_ms.unwrap_or(base.latency_ms),
            another_app: options.another_app.or(base.another_app),
        };
        if resolved.page_size == 0 || resolved.page_size > limits.page_size_max {
            return Err(MockError::Invalid(format!(
                "page_size must be in 1..={}",
                limits.page_size_max
            )));
        }
        if resolved.token_lifetime_s == 0 || resolved.token_lifetime_s > 365 * 86_400 {
            return Err(MockError::Invalid(
                "token_lifetime_s must be in 1..=31536000".into(),
            ));
        }
        if resolved.latency_ms > 3_600_000 {
            return Err(MockError::Invalid(
                "latency_ms must be at most 3600000".into(),
            ));
        }
        if let Some(app) = resolved.another_app {
            if app.every_ms == 0
                || limits.window_ms / app.every_ms > ANOTHER_APP_BURSTS_PER_WINDOW_MAX
            {
                return Err(MockError::Invalid(format!(
                    "another_app.every_ms must be at least {} for this provider's window",
                    (limits.window_ms / ANOTHER_APP_BURSTS_PER_WINDOW_MAX).max(1)
                )));
            }
            if app.requests > ANOTHER_APP_REQUESTS_MAX {
                return Err(MockError::Invalid(format!(
                    "another_app.requests must be at most {ANOTHER_APP_REQUESTS_MAX}"
                )));
            }
        }
        Ok(resolved)
    }

    /// The provider's defaults.
    pub fn defaults(limits: ProviderLimits) -> ResolvedOptions {
        ResolvedOptions {
            budget: Budget::Requests(limits.budget),
            token_lifetime_s: limits.token_lifetime_s,
            page_size: limits.page_size_max,
            rotate_refresh_tokens: false,
            latency_ms: DEFAULT_LATENCY_MS,
            another_app: None,
        }
    }
}

/// What a target needs to connect to an account, as `create_account` and the admin API return
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub account_id: String,
    pub grant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
}

/// A stored property value. A null is never stored: writing one removes the property.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue {
    /// A string, inline when it has at most 24 bytes.
    String(CompactString),
    /// Any other JSON value (a number, a boolean, an array or an object), as given. Never a
    /// string or a null.
    Json(Box<Value>),
}

impl PropertyValue {
    /// The stored form of `value`; `None` for a null.
    pub fn from_value(value: Value) -> Option<Self> {
        match value {
            Value::Null => None,
            Value::String(s) => Some(PropertyValue::String(CompactString::from(s))),
            other => Some(PropertyValue::Json(Box::new(other))),
        }
    }

    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PropertyValue::String(s) => Some(s.as_str()),
            PropertyValue::Json(_) => None,
        }
    }

    /// The value as JSON.
    pub fn to_value(&self) -> Value {
        match self {
            PropertyValue::String(s) => Value::String(s.as_str().to_owned()),
            PropertyValue::Json(v) => (**v).clone(),
        }
    }

    /// Writes the value as compact JSON, byte for byte as `to_value().to_string()` would.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            PropertyValue::String(s) => crate::wire::string(out, s),
            PropertyValue::Json(v) => crate::wire::value(out, v),
        }
    }
}

/// A record's properties: sorted by name in byte order (as a `BTreeMap<String, _>` iterates),
/// each name once, no nulls. A sorted vector of inline strings: one allocation for a typical
/// record instead of a tree node plus two `String`s per property.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Properties(Vec<(CompactString, PropertyValue)>);

impl Properties {
    /// No properties.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// From a map's entries: nulls are dropped.
    pub fn from_map(map: BTreeMap<String, Value>) -> Self {
        Self(
            map.into_iter()
                .filter_map(|(k, v)| Some((CompactString::from(k), PropertyValue::from_value(v)?)))
                .collect(),
        )
    }

    /// From entries already sorted by name with each name once (checked in debug builds).
    pub(crate) fn from_sorted(entries: Vec<(CompactString, PropertyValue)>) -> Self {
        debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        Self(entries)
    }

    /// How many properties.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&PropertyValue> {
        self.position(name).ok().map(|i| &self.0[i].1)
    }

    /// [`Properties::get`], trying position `*hint` first and leaving there where `name` was
    /// found: records written alike keep their names at the same positions.
    pub(crate) fn get_hinted(&self, name: &str, hint: &mut usize) -> Option<&PropertyValue> {
        if let Some((k, v)) = self.0.get(*hint)
            && k.as_str() == name
        {
            return Some(v);
        }
        let i = self.position(name).ok()?;
        *hint = i;
        Some(&self.0[i].1)
    }

    /// The value of `name`, if it is a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(PropertyValue::as_str)
    }

    /// The properties in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &PropertyValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Sets `name` to `value`, or removes it when `value` is `None` (a null write).
    pub fn set(&mut self, name: &str, value: Option<PropertyValue>) {
        match (self.position(name), value) {
            (Ok(i), Some(value)) => self.0[i].1 = value,
            (Ok(i), None) => {
                self.0.remove(i);
            }
            (Err(i), Some(value)) => self.0.insert(i, (CompactString::from(name), value)),
            (Err(_), None) => {}
        }
    }

    /// As the map the Rust and admin APIs show.
    pub fn to_map(&self) -> BTreeMap<String, Value> {
        self.0
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_value()))
            .collect()
    }
}

/// One stored record. Its property names are provider-side (`firstname`, `LastName`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Creation counter: ascending number = ascending id, for both providers.
    pub number: u64,
    pub id: CompactString,
    pub properties: Properties,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// How a store's record ids spell their creation numbers, so that an id finds its record
/// without an index of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdScheme {
    /// HubSpot: the number in decimal.
    #[default]
    Decimal,
    /// Salesforce: the 18-character id of `ids::salesforce_id`.
    Salesforce,
}

impl IdScheme {
    /// The number an id of this scheme spells, if it spells one. Only a candidate: the caller
    /// checks that the record with this number has exactly this id.
    fn number(self, id: &str) -> Option<u64> {
        match self {
            IdScheme::Decimal => id.parse().ok(),
            IdScheme::Salesforce => crate::ids::salesforce_number(id),
        }
    }
}

/// The records of one object type in one account, in id order, with an index on the external id.
/// A record's provider id spells its number ([`IdScheme`]), so ids need no index.
#[derive(Debug, Clone, Default)]
pub struct ObjectStore {
    pub records: BTreeMap<u64, Record>,
    pub ids: IdScheme,
    pub by_external_id: BTreeMap<CompactString, u64>,
    /// When a record was last removed (a deletion leaves no record to carry a timestamp).
    pub last_removal_ms: Option<Millis>,
}

impl ObjectStore {
    /// An empty store whose ids follow `ids`.
    pub fn new(ids: IdScheme) -> Self {
        Self {
            ids,
            ..Self::default()
        }
    }

    /// The record with this provider id.
    pub fn get(&self, id: &str) -> Option<&Record> {
        let number = self.ids.number(id)?;
        self.records.get(&number).filter(|r| r.id == id)
    }

    /// The record whose external id (a string in `external_id_field`) is `external_id`.
    pub fn get_by_external_id(&self, external_id: &str) -> Option<&Record> {
        self.by_external_id
            .get(external_id)
            .and_then(|n| self.records.get(n))
    }

    /// Points the external-id index at `number` for `external_id`.
    fn index_external_id(
        by_external_id: &mut BTreeMap<CompactString, u64>,
        external_id: &str,
        number: u64,
    ) {
        // One search; the key is inline (no allocation) up to 24 bytes.
        by_external_id.insert(CompactString::from(external_id), number);
    }

    /// Inserts a record with a number the store has not held yet; answers it.
    pub fn insert_new(&mut self, record: Record, external_id_field: &str) -> &Record {
        let number = record.number;
        debug_assert!(!self.records.contains_key(&number));
        debug_assert_eq!(self.ids.number(&record.id), Some(number));
        if let Some(ext) = record.properties.get_str(external_id_field) {
            Self::index_external_id(&mut self.by_external_id, ext, number);
        }
        self.records.entry(number).or_insert(record)
    }

    /// Applies `changes` to the record with provider id `id` in place (`None` removes a
    /// property), sets its `updated_at` and keeps the indexes in step; answers the record.
    ///
    /// The external-id index ends as a replace of the whole record always left it: the old
    /// external id stops naming this record if it changed, and the current one names it.
    pub fn merge<N: AsRef<str>>(
        &mut self,
        id: &str,
        now: Millis,
        external_id_field: &str,
        changes: impl IntoIterator<Item = (N, Option<PropertyValue>)>,
    ) -> Option<&Record> {
        let number = self.get(id)?.number;
        self.merge_at(number, now, external_id_field, changes)
    }

    /// [`ObjectStore::merge`] on the record with creation number `number`.
    pub fn merge_at<N: AsRef<str>>(
        &mut self,
        number: u64,
        now: Millis,
        external_id_field: &str,
        changes: impl IntoIterator<Item = (N, Option<PropertyValue>)>,
    ) -> Option<&Record> {
        let record = self.records.get_mut(&number)?;
        let old_ext = record
            .properties
            .get_str(external_id_field)
            .map(CompactString::from);
        for (name, value) in changes {
            record.properties.set(name.as_ref(), value);
        }
        record.updated_at = now;
        let new_ext = record.properties.get_str(external_id_field);
        if let Some(old) = old_ext.as_deref()
            && Some(old) != new_ext
            && self.by_external_id.get(old) == Some(&number)
        {
            self.by_external_id.remove(old);
        }
        if let Some(ext) = new_ext {
            Self::index_external_id(&mut self.by_external_id, ext, number);
        }
        Some(record)
    }

    /// Removes a record; answers it.
    pub fn remove(&mut self, id: &str, external_id_field: &str) -> Option<Record> {
        let number = self.get(id)?.number;
        let record = self.records.remove(&number)?;
        if let Some(ext) = record.properties.get_str(external_id_field)
            && self.by_external_id.get(ext) == Some(&number)
        {
            self.by_external_id.remove(ext);
        }
        Some(record)
    }
}

/// One account: options, window, records.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub number: u64,
    pub created_at: Millis,
    pub options: ResolvedOptions,
    pub window: RollingWindow,
    pub objects: BTreeMap<String, ObjectStore>,
    /// Index of the next burst of another app not yet applied.
    pub another_app_next_burst: u64,
}

/// One refresh-token family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: String,
    pub account_id: String,
    pub client_id: String,
    pub refresh_token: String,
    pub revoked: bool,
}

/// Whether a refresh token is the grant's current one or was rotated out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshTokenState {
    Current,
    RotatedOut,
}

/// An issued access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub grant_id: String,
    pub account_id: String,
    pub expires_at: Millis,
}
