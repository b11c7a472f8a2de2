//! Every limit and default of CONTRACT.md, named once (spec/requirements.md "Limits and
//! defaults") and used everywhere.

use crate::time::{HOUR_MS, Millis, SECOND_MS};

/// `limit` of `/data` and `/api/errors` when absent.
pub const PAGE_LIMIT_DEFAULT: u64 = 250;
/// Largest accepted `limit`.
pub const PAGE_LIMIT_MAX: u64 = 1000;
/// How long a synchronous trigger waits before answering 202.
pub const SYNCHRONOUS_CAP_MS: Millis = 300 * SECOND_MS;
/// Lifetime of a session created without `save_session`.
pub const SESSION_LIFETIME_MS: Millis = 72 * HOUR_MS;
/// Largest request body.
pub const BODY_LIMIT_BYTES: usize = 16 * 1024 * 1024;
/// Most items in one push's `transfer_data`.
pub const TRANSFER_ITEMS_MAX: usize = 10_000;
/// Most transfers in state `queued` per API key.
pub const QUEUED_TRANSFERS_MAX: usize = 10_000;
/// `Retry-After` of the queue-limit 429, in seconds.
pub const QUEUE_RETRY_AFTER_SECONDS: u64 = 60;
/// A provider request with no answer after this is a timeout.
pub const PROVIDER_TIMEOUT_MS: Millis = 30 * SECOND_MS;
/// Attempts of one provider request before its batch or page fails as `upstream`.
pub const PROVIDER_ATTEMPTS_MAX: u32 = 8;
/// Waits between provider attempts: 1 s doubling, capped at 60 s (7 waits for 8 attempts).
pub const PROVIDER_BACKOFF_MS: [Millis; 7] = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000];
/// A request that has drawn only rate-limit answers for this long fails as `upstream`.
pub const RATE_LIMITED_GIVE_UP_MS: Millis = 24 * HOUR_MS;
/// Largest `seconds` of a clock advance.
pub const ADVANCE_SECONDS_MAX: f64 = 1e10;
