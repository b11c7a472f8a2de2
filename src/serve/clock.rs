//! The serve driver's one clock. Every timestamp the driver hands the engine, the API layer (the
//! `Date` header) and the embedded mocks comes from here.
//!
//! - **Wall:** tokio's `Instant` plus the start-up wall time, so a test on tokio's paused clock
//!   sees times that agree with its own sleeps.
//! - **Virtual:** starts at the start-up wall time and moves only when `advance` moves it; while
//!   an advance runs, it reads the instant being processed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use transfersim_mock_providers::Millis;

/// Wall or virtual time, in milliseconds since the Unix epoch.
#[derive(Debug, Clone)]
pub enum ServeClock {
    /// Real time: `start_ms` plus the tokio time since `start`.
    Wall {
        start: tokio::time::Instant,
        start_ms: Millis,
    },
    /// Time that moves only by `advance`.
    Virtual(Arc<AtomicU64>),
}

impl ServeClock {
    /// A wall clock that reads `start_ms` now.
    pub fn wall(start_ms: Millis) -> Self {
        Self::Wall {
            start: tokio::time::Instant::now(),
            start_ms,
        }
    }

    /// A virtual clock standing at `start_ms`.
    pub fn virtual_at(start_ms: Millis) -> Self {
        Self::Virtual(Arc::new(AtomicU64::new(start_ms)))
    }

    /// Whether the test helpers may advance this clock.
    pub fn is_virtual(&self) -> bool {
        matches!(self, Self::Virtual(_))
    }

    /// The time now.
    pub fn now(&self) -> Millis {
        match self {
            Self::Wall { start, start_ms } => {
                let elapsed = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                start_ms.saturating_add(elapsed)
            }
            Self::Virtual(now) => now.load(Ordering::SeqCst),
        }
    }

    /// Moves a virtual clock forward to `at` (never backwards); a wall clock ignores it.
    pub(crate) fn move_to(&self, at: Millis) {
        if let Self::Virtual(now) = self {
            now.fetch_max(at, Ordering::SeqCst);
        }
    }
}

/// The system's wall time in milliseconds since the Unix epoch: where both clocks start.
pub fn system_now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}
