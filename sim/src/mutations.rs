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
}

impl Mutation {
    /// Every mutation, in a fixed order.
    pub const ALL: [Mutation; 4] = [
        Mutation::QueueIgnoresConfiguration,
        Mutation::SyncIgnoresCap,
        Mutation::DataBeforeComplete,
        Mutation::FifoBroken,
    ];

    /// The name used on the command line (`--mutation NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Mutation::QueueIgnoresConfiguration => "queue-ignores-configuration",
            Mutation::SyncIgnoresCap => "sync-ignores-cap",
            Mutation::DataBeforeComplete => "data-before-complete",
            Mutation::FifoBroken => "fifo-broken",
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
