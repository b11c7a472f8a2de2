//! Named, realistic engine bugs, switched on per engine instance (never process-wide, so parallel
//! tests do not race) to prove that the tests and scenarios catch them. Only builds with the
//! `mutations` feature have them; a default or release build has none.

use std::fmt;
use std::str::FromStr;

/// One deliberate bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mutation {
    /// Transfers start without waiting for configuration.
    QueueIgnoresConfiguration,
    /// Synchronous triggers wait for completion however long it takes.
    SyncIgnoresCap,
    /// `/data` answers with partial data while the transfer is still running.
    DataBeforeComplete,
    /// A session's transfers run newest first.
    FifoBroken,
    /// Requests go out as fast as the pipeline allows, ignoring the budget.
    NoPacing,
    /// A rate-limit answer fails the batch or page as `upstream` instead of waiting.
    FailOnRateLimit,
    /// Every request refreshes the token first.
    RefreshPerRequest,
    /// A resent push batch gets fresh external ids, so the provider creates the items again.
    ResendAsCreate,
    /// Sync pulls forget to report deletions.
    SyncDropsDeletions,
    /// A pull's completed webhook is queued before its last page's data webhook.
    CompletedBeforeData,
    /// A failed webhook attempt is treated as done: no retry, no drop record.
    WebhookNoRetry,
    /// Serial sessions deliver webhooks as if `webhook_concurrency` were on.
    WebhookUnordered,
    /// Webhooks are signed with the wrong secret.
    BadSignature,
    /// A synchronous pull is answered 200 `completed` when its first page arrives, before the
    /// transfer completes.
    SyncAnswersEarly,
    /// A pull loses the last record of every page that has a next page (an off-by-one at the
    /// page boundary).
    PageSkipsRecord,
    /// A transfer lookup ignores the API key, so one key sees another's transfers.
    KeyLeak,
}

impl Mutation {
    /// Every mutation, in a fixed order.
    pub const ALL: [Mutation; 16] = [
        Mutation::QueueIgnoresConfiguration,
        Mutation::SyncIgnoresCap,
        Mutation::DataBeforeComplete,
        Mutation::FifoBroken,
        Mutation::NoPacing,
        Mutation::FailOnRateLimit,
        Mutation::RefreshPerRequest,
        Mutation::ResendAsCreate,
        Mutation::SyncDropsDeletions,
        Mutation::CompletedBeforeData,
        Mutation::WebhookNoRetry,
        Mutation::WebhookUnordered,
        Mutation::BadSignature,
        Mutation::SyncAnswersEarly,
        Mutation::PageSkipsRecord,
        Mutation::KeyLeak,
    ];

    /// The name used on the command line (`--mutation NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Mutation::QueueIgnoresConfiguration => "queue-ignores-configuration",
            Mutation::SyncIgnoresCap => "sync-ignores-cap",
            Mutation::DataBeforeComplete => "data-before-complete",
            Mutation::FifoBroken => "fifo-broken",
            Mutation::NoPacing => "no-pacing",
            Mutation::FailOnRateLimit => "fail-on-rate-limit",
            Mutation::RefreshPerRequest => "refresh-per-request",
            Mutation::ResendAsCreate => "resend-as-create",
            Mutation::SyncDropsDeletions => "sync-drops-deletions",
            Mutation::CompletedBeforeData => "completed-before-data",
            Mutation::WebhookNoRetry => "webhook-no-retry",
            Mutation::WebhookUnordered => "webhook-unordered",
            Mutation::BadSignature => "bad-signature",
            Mutation::SyncAnswersEarly => "sync-answers-early",
            Mutation::PageSkipsRecord => "page-skips-record",
            Mutation::KeyLeak => "key-leak",
        }
    }
}

impl fmt::Display for Mutation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl FromStr for Mutation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == text)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|m| m.name()).collect();
                format!("unknown mutation `{text}`; known: {}", known.join(", "))
            })
    }
}
