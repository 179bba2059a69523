//! Retry policy: bounded attempts with full-jitter exponential backoff and a cap on server-requested waits.

use std::time::Duration;

use rand::Rng;

/// How transient failures are retried. All durations are configurable so tests can use milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts per request, including the first (at least 1).
    pub max_attempts: u32,
    /// Backoff ceiling before jitter for the first retry.
    pub initial_backoff: Duration,
    /// Largest backoff ceiling.
    pub max_backoff: Duration,
    /// Largest wait honoured from `Retry-After` / `X-RateLimit-Reset`; longer requests are capped to this.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(15 * 60),
        }
    }
}

impl RetryPolicy {
    /// The ceiling for the wait after failed attempt number `attempt` (1-based): `initial * 2^(attempt-1)`,
    /// never above `max_backoff`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// A full-jitter wait after failed attempt `attempt`: uniform in `[0, ceiling(attempt)]`, which spreads
    /// concurrent retries apart instead of synchronising them.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }

    /// A server-requested wait, capped at `max_rate_limit_wait`.
    pub fn cap_rate_limit_wait(&self, wait: Duration) -> Duration {
        wait.min(self.max_rate_limit_wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_until_the_cap_and_jitter_stays_below_the_ceiling() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_secs(1));
        assert_eq!(p.ceiling(2), Duration::from_secs(2));
        assert_eq!(p.ceiling(5), Duration::from_secs(16));
        assert_eq!(p.ceiling(6), Duration::from_secs(30));
        assert_eq!(p.ceiling(60), Duration::from_secs(30));
        for attempt in 1..10 {
            assert!(p.backoff(attempt) <= p.ceiling(attempt));
        }
    }
}
