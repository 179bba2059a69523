//! The one tuning type of every HTTP connector: what is not a user setting but production defaults,
//! which tests and benchmarks shorten.

use std::time::Duration;

use super::backoff::RetryPolicy;
use super::clock::{SharedClock, SystemClock};

/// Retry policy, deadlines and clock of a connector's HTTP client.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Retries of transient failures (429s, 5xx, connection errors, unreadable bodies).
    pub retry: RetryPolicy,
    /// Deadline of one request; a page past it is refetched smaller where the pager allows.
    pub request_timeout: Duration,
    /// Deadline of one streamed download (an export file), from request to last byte.
    pub download_timeout: Duration,
    /// The clock every wait (retries, rate budget, job polls) goes through.
    pub clock: SharedClock,
}

impl Default for Tuning {
    /// The toolkit's retry policy (6 attempts, backoff 1 s doubling to 30 s), 120 s per request,
    /// 30 minutes per download, the real clock.
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(120),
            download_timeout: Duration::from_secs(30 * 60),
            clock: SystemClock::shared(),
        }
    }
}

impl Tuning {
    /// For tests and local runs against a simulator: 3 attempts with millisecond backoff, a 2 s request
    /// deadline, 20 ms at most of honoured `Retry-After`, the real clock.
    pub fn fast() -> Self {
        Self {
            retry: RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(5),
                max_rate_limit_wait: Duration::from_millis(20),
            },
            request_timeout: Duration::from_secs(2),
            download_timeout: Duration::from_secs(30),
            clock: SystemClock::shared(),
        }
    }

    /// This tuning with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}
