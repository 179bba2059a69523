//! Stall guards: a repeated cursor or next-page token is an error rather than an endless loop, page
//! counts are bounded, and long waits log a line now and then so a slow sync does not look hung.

use std::collections::HashSet;
use std::fmt;
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::http::SharedClock;

/// Why a paging loop was stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StallError {
    /// The API handed out a cursor or token it had already given: following it would loop forever.
    #[error("{what}: the api returned the cursor {token} again after {pages} pages; stopping instead of looping")]
    Repeated {
        /// What was being paged.
        what: String,
        /// The repeated cursor (as text; never a secret).
        token: String,
        /// Pages seen so far.
        pages: u64,
    },
    /// More pages than the configured maximum.
    #[error("{what}: more than {max} pages; stopping as a guard against a runaway loop")]
    TooManyPages {
        /// What was being paged.
        what: String,
        /// The configured maximum.
        max: u64,
    },
}

impl From<StallError> for crate::sdk::Error {
    fn from(e: StallError) -> Self {
        crate::sdk::Error::SourceRejected(e.to_string())
    }
}

/// Remembers every cursor or next-page token seen in one paging loop and rejects repeats and runaway
/// page counts. Memory grows with the page count, which `max_pages` bounds.
#[derive(Debug)]
pub struct StallGuard<T> {
    what: String,
    seen: HashSet<T>,
    pages: u64,
    max_pages: u64,
}

impl<T: Hash + Eq + fmt::Debug> StallGuard<T> {
    /// A guard for the loop described by `what` (e.g. "contacts pages"), allowing `max_pages` pages.
    pub fn new(what: impl Into<String>, max_pages: u64) -> Self {
        Self {
            what: what.into(),
            seen: HashSet::new(),
            pages: 0,
            max_pages,
        }
    }

    /// Records the cursor about to be requested; errors if it was seen before or too many pages passed.
    pub fn advance(&mut self, token: T) -> Result<(), StallError> {
        self.pages += 1;
        if self.pages > self.max_pages {
            return Err(StallError::TooManyPages {
                what: self.what.clone(),
                max: self.max_pages,
            });
        }
        let text = format!("{token:?}");
        if !self.seen.insert(token) {
            return Err(StallError::Repeated {
                what: self.what.clone(),
                token: text,
                pages: self.pages - 1,
            });
        }
        Ok(())
    }
}

/// Logs an `info!` line at most every `every` while something long is waited for.
#[derive(Debug)]
pub struct IdleLog {
    clock: SharedClock,
    what: String,
    every: Duration,
    started: Instant,
    last: Instant,
}

impl IdleLog {
    /// Starts the timer for the wait described by `what`.
    pub fn new(clock: SharedClock, what: impl Into<String>, every: Duration) -> Self {
        let now = clock.now();
        Self {
            clock,
            what: what.into(),
            every,
            started: now,
            last: now,
        }
    }

    /// Logs a line if `every` has passed since the last one; returns whether it logged.
    pub fn tick(&mut self, status: &str) -> bool {
        let now = self.clock.now();
        if now.duration_since(self.last) < self.every {
            return false;
        }
        self.last = now;
        let waited = now.duration_since(self.started).as_secs();
        tracing::info!(what = %self.what, waited_seconds = waited, status, "still waiting");
        true
    }

    /// Time since the timer started.
    pub fn waited(&self) -> Duration {
        self.clock.now().duration_since(self.started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ManualClock;
    use chrono::DateTime;

    #[test]
    fn a_repeated_token_is_an_error_not_a_loop() {
        let mut guard = StallGuard::new("contacts pages", 10);
        guard.advance("a".to_owned()).unwrap();
        guard.advance("b".to_owned()).unwrap();
        let err = guard.advance("a".to_owned()).unwrap_err();
        assert!(
            err.to_string().contains("\"a\" again after 2 pages"),
            "{err}"
        );
    }

    #[test]
    fn page_count_is_bounded() {
        let mut guard = StallGuard::new("gifts", 2);
        guard.advance(1).unwrap();
        guard.advance(2).unwrap();
        assert!(matches!(
            guard.advance(3),
            Err(StallError::TooManyPages { max: 2, .. })
        ));
    }

    #[test]
    fn idle_log_fires_once_per_interval() {
        let clock = ManualClock::new(DateTime::UNIX_EPOCH);
        let mut idle = IdleLog::new(clock.shared(), "report job", Duration::from_secs(30));
        clock.advance(Duration::from_secs(10));
        assert!(!idle.tick("pending"));
        clock.advance(Duration::from_secs(25));
        assert!(idle.tick("pending"));
        assert!(!idle.tick("pending"));
        assert_eq!(idle.waited(), Duration::from_secs(35));
    }
}
