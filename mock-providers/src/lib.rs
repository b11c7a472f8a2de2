//! Hubspot and Salesforce mock providers: one pure definition per provider, served in-process on
//! virtual time or, behind the `http` feature, as an axum router on wall time.
//!
//! Map:
//! - [`seam`]: the HTTP-shaped types shared with the engine (`Served`, `Outcome`, ...).
//! - [`mock`]: the machinery both providers share: accounts, grants and tokens, the request
//!   pipeline, records, journal ([`Mock`]).
//! - `hubspot`, `salesforce`: the two wire dialects (routes, bodies, error shapes).
//! - [`account`]: account options, credentials and stored records.
//! - [`budget`]: the exact rolling-window log.
//! - [`faults`]: turmoil-style fault rules and their guards.
//! - [`journal`]: the request journal and the checks over it.
//! - `admin`: the `/__admin/...` API (documented in `spec/mock-providers.md`).
//! - [`time`]: wire timestamps computed from `Millis`.
//! - `http` (feature `http`): the axum router, the server layer that can drop a connection, and
//!   `serve_both`.
//!
//! Hosting in-process: construct [`Hubspot::new`] / [`Salesforce::new`] with a base URL and the
//! world's seed, create accounts with [`Mock::create_account`] (through `Deref`), seed records,
//! then call [`InProcessProvider::handle`] with the virtual `now` and requests whose path is
//! relative to the base URL.
//!
//! **Invariant:** outside the `http` feature, nothing here does IO, reads a clock, uses OS
//! randomness or iterates a hash map (`clippy.toml` enforces it).

pub mod account;
mod admin;
pub mod budget;
pub mod error;
mod fastjson;
pub mod faults;
#[cfg(feature = "http")]
pub mod http;
mod hubspot;
mod ids;
pub mod journal;
pub mod mock;
mod salesforce;
pub mod seam;
mod seeding;
#[cfg(test)]
mod test_support;
pub mod time;
mod wire;

use std::ops::{Deref, DerefMut};

pub use account::{AccountOptions, AnotherAppUsage, Budget, Credentials, ResolvedOptions};
pub use error::MockError;
pub use faults::{FaultGuard, FaultRule, Matcher, PathMatch, RequestFacts, RuleId, Verdict};
pub use journal::{Connection, JournalEntry, JournalOutcome, RateLimitCause};
pub use mock::{Dialect, DuplicateExternalId, GrantView, Mock, RecordView};
pub use seam::{InProcessProvider, Millis, Outcome, ProviderRequest, ProviderResponse, Served};

/// The HubSpot mock. A newtype over [`Mock`] so that the world cannot hand a HubSpot request to
/// the Salesforce mock; everything else is [`Mock`]'s, through `Deref`.
#[derive(Debug)]
pub struct Hubspot(Mock);

impl Hubspot {
    /// A HubSpot mock advertising `base_url` (used in paging links), drawing credentials and
    /// probabilities from `seed`.
    pub fn new(base_url: impl Into<String>, seed: u64) -> Self {
        Self(Mock::new(Dialect::Hubspot, base_url.into(), seed))
    }

    /// The HubSpot external-id property (`endgrate_internal_id`).
    pub const EXTERNAL_ID_PROPERTY: &'static str = hubspot::EXTERNAL_ID_PROPERTY;
    /// The most inputs per batch (100).
    pub const BATCH_MAX: usize = hubspot::BATCH_MAX;
}

/// The Salesforce mock. A newtype over [`Mock`], like [`Hubspot`].
#[derive(Debug)]
pub struct Salesforce(Mock);

impl Salesforce {
    /// A Salesforce mock whose token answers give `base_url` as `instance_url`, and whose
    /// `nextRecordsUrl`s start with the base URL's path.
    pub fn new(base_url: impl Into<String>, seed: u64) -> Self {
        Self(Mock::new(Dialect::Salesforce, base_url.into(), seed))
    }

    /// The Salesforce external-id field (`Endgrate_Internal_Id__c`).
    pub const EXTERNAL_ID_FIELD: &'static str = salesforce::EXTERNAL_ID_FIELD;
    /// The most records per composite request (200).
    pub const BATCH_MAX: usize = salesforce::BATCH_MAX;
    /// The largest query page (2,000).
    pub const PAGE_MAX: u32 = salesforce::PAGE_MAX;
}

macro_rules! provider_impls {
    ($name:ident) => {
        impl Deref for $name {
            type Target = Mock;
            fn deref(&self) -> &Mock {
                &self.0
            }
        }

        impl DerefMut for $name {
            fn deref_mut(&mut self) -> &mut Mock {
                &mut self.0
            }
        }

        impl InProcessProvider for $name {
            fn handle(&mut self, now: Millis, request: ProviderRequest) -> Served {
                self.0.serve(now, request)
            }
        }
    };
}

provider_impls!(Hubspot);
provider_impls!(Salesforce);
