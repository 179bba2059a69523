//! A proactive rate budget (token bucket) shared by every request of a connector, corrected from the
//! API's rate-limit headers, plus the connector-wide concurrency limit.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::clock::SharedClock;

/// A token bucket refilled at `limit / period`, holding at most `burst` tokens. Cloning shares the bucket.
///
/// Contract: `acquire` returns only when a token was taken; the API's own view (headers) can only lower
/// the available tokens or pause the bucket, never raise it above the documented limit.
#[derive(Debug, Clone)]
pub struct RateBudget {
    inner: Arc<Mutex<Bucket>>,
    clock: SharedClock,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    refilled_at: Instant,
    paused_until: Option<Instant>,
}

impl RateBudget {
    /// A budget of `limit` requests per `period` (e.g. 5000 per hour), allowing bursts of up to `burst`
    /// requests (clamped to at least 1).
    pub fn new(limit: u32, period: Duration, burst: u32, clock: SharedClock) -> Self {
        let per_second = f64::from(limit.max(1)) / period.as_secs_f64().max(1e-9);
        let burst = f64::from(burst.max(1));
        let now = clock.now();
        Self {
            inner: Arc::new(Mutex::new(Bucket {
                tokens: burst,
                burst,
                per_second,
                refilled_at: now,
                paused_until: None,
            })),
            clock,
        }
    }

    /// Waits until a request may be sent and takes one token.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut b = self.lock();
                let now = self.clock.now();
                b.refill(now);
                match b.paused_until {
                    Some(until) if until > now => until - now,
                    _ => {
                        b.paused_until = None;
                        if b.tokens >= 1.0 {
                            b.tokens -= 1.0;
                            return;
                        }
                        Duration::from_secs_f64((1.0 - b.tokens) / b.per_second)
                    }
                }
            };
            self.clock.sleep(wait).await;
        }
    }

    /// Corrects the budget from the API's headers: at most `remaining` tokens are left, and when none are,
    /// the whole connector pauses until `reset_in` has passed.
    pub fn observe(&self, remaining: Option<u64>, reset_in: Option<Duration>) {
        let mut b = self.lock();
        let now = self.clock.now();
        b.refill(now);
        if let Some(remaining) = remaining {
            // Precision loss above 2^53 is irrelevant for request counts.
            b.tokens = b.tokens.min(remaining as f64);
            if remaining == 0 {
                if let Some(reset_in) = reset_in {
                    b.pause_until(now + reset_in);
                }
            }
        }
    }

    /// Pauses every request of the connector for `wait` (e.g. after a 429 with `Retry-After`). The
    /// tokens are kept: the server said when to come back, not that the budget is spent (the headers,
    /// through [`RateBudget::observe`], say that).
    pub fn pause_for(&self, wait: Duration) {
        let mut b = self.lock();
        let now = self.clock.now();
        b.pause_until(now + wait);
    }

    /// Tokens available right now (for tests and diagnostics).
    pub fn available(&self) -> f64 {
        let mut b = self.lock();
        b.refill(self.clock.now());
        b.tokens
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Bucket {
    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.refilled_at = now;
    }

    fn pause_until(&mut self, until: Instant) {
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
    }
}

/// The connector-wide limit on requests in flight. Cloning shares the limit.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit(Arc<Semaphore>);

impl ConcurrencyLimit {
    /// At most `max` requests in flight (clamped to at least 1).
    pub fn new(max: usize) -> Self {
        Self(Arc::new(Semaphore::new(max.max(1))))
    }

    /// Waits for a slot; the slot is released when the permit is dropped. `None` only if the semaphore was
    /// closed, which this type never does.
    pub async fn acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().acquire_owned().await.ok()
    }

    /// Free slots right now.
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::clock::ManualClock;
    use chrono::DateTime;

    #[tokio::test]
    async fn budget_allows_the_burst_then_paces_at_the_documented_rate() {
        let clock = ManualClock::new(DateTime::UNIX_EPOCH);
        let budget = RateBudget::new(300, Duration::from_secs(60), 2, clock.shared());
        budget.acquire().await;
        budget.acquire().await;
        assert!(clock.sleeps().is_empty());
        budget.acquire().await;
        // 300/minute is one token per 200 ms.
        assert_eq!(clock.sleeps(), vec![Duration::from_millis(200)]);
    }

    #[tokio::test]
    async fn headers_lower_the_budget_and_pause_until_reset() {
        let clock = ManualClock::new(DateTime::UNIX_EPOCH);
        let budget = RateBudget::new(5000, Duration::from_secs(3600), 100, clock.shared());
        budget.observe(Some(3), None);
        assert_eq!(budget.available(), 3.0);
        budget.observe(Some(0), Some(Duration::from_secs(42)));
        budget.acquire().await;
        assert_eq!(clock.sleeps()[0], Duration::from_secs(42));
    }
}
