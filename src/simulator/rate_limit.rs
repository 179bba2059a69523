//! Request budgets: a fixed window of N calls per period plus a cap on calls in flight.
//!
//! Fixed windows aligned to the simulated clock (an hour starts at :00) rather than a token
//! bucket, because the APIs we simulate publish a reset instant (`X-RateLimit-Reset`), which only
//! makes sense for windows. Only admitted calls spend budget; a rejected call costs nothing.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A simulator's limits. `None` disables a limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitConfig {
    /// Calls admitted per window.
    pub limit: Option<u32>,
    /// Window length in seconds (at least 1).
    pub window_seconds: u64,
    /// Calls allowed in flight at once; the next one is refused.
    pub max_concurrent: Option<usize>,
}

impl RateLimitConfig {
    /// No limits at all.
    pub fn unlimited() -> Self {
        Self {
            limit: None,
            window_seconds: 60,
            max_concurrent: None,
        }
    }

    /// `limit` calls per `window_seconds`, no concurrency cap.
    pub fn per_window(limit: u32, window_seconds: u64) -> Self {
        Self {
            limit: Some(limit),
            window_seconds,
            max_concurrent: None,
        }
    }

    /// Adds a concurrency cap.
    pub fn with_max_concurrent(mut self, max: usize) -> Self {
        self.max_concurrent = Some(max);
        self
    }
}

/// The budget as a client would see it in rate-limit headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WindowStatus {
    /// Calls per window.
    pub limit: u32,
    /// Calls left in the current window, after the current call if it was admitted.
    pub remaining: u32,
    /// When the current window ends.
    pub reset_at: DateTime<Utc>,
}

impl WindowStatus {
    /// Whole seconds from `now` until the window resets, at least 1 (what `Retry-After` carries).
    pub fn retry_after(&self, now: DateTime<Utc>) -> Duration {
        let seconds = (self.reset_at - now).num_seconds().max(1);
        Duration::from_secs(seconds as u64)
    }
}

/// Why a call was refused, or that it was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Admitted; the status is the budget after spending this call (`None` without a window limit).
    Admitted(Option<WindowStatus>),
    /// The window's budget is spent.
    OverBudget(WindowStatus),
    /// Too many calls in flight (carries the window status when a window limit exists).
    OverConcurrency(Option<WindowStatus>),
}

impl RateDecision {
    /// The window status to report in headers, whatever the outcome.
    pub fn window(&self) -> Option<WindowStatus> {
        match *self {
            RateDecision::Admitted(status) | RateDecision::OverConcurrency(status) => status,
            RateDecision::OverBudget(status) => Some(status),
        }
    }
}

#[derive(Debug)]
struct LimiterState {
    config: RateLimitConfig,
    window_start: i64,
    used: u32,
}

/// A thread-safe limiter; one per simulator, configured by it and reconfigurable by tests.
#[derive(Debug)]
pub struct RateLimiter {
    state: Mutex<LimiterState>,
}

impl RateLimiter {
    /// A limiter enforcing `config`.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            state: Mutex::new(LimiterState {
                config,
                window_start: i64::MIN,
                used: 0,
            }),
        }
    }

    /// Decides on one call arriving at `now` while `in_flight` other calls are still running,
    /// spending budget only when the call is admitted.
    pub fn check(&self, now: DateTime<Utc>, in_flight: usize) -> RateDecision {
        let mut state = self.lock();
        state.roll_window(now);
        let over_concurrency = state
            .config
            .max_concurrent
            .is_some_and(|max| in_flight >= max);
        if over_concurrency {
            return RateDecision::OverConcurrency(state.status());
        }
        if let Some(limit) = state.config.limit {
            if state.used >= limit {
                return RateDecision::OverBudget(state.status().expect("limit is set"));
            }
        }
        state.used = state.used.saturating_add(1);
        RateDecision::Admitted(state.status())
    }

    /// The current window's status without spending anything.
    pub fn status(&self, now: DateTime<Utc>) -> Option<WindowStatus> {
        let mut state = self.lock();
        state.roll_window(now);
        state.status()
    }

    /// Replaces the limits and starts a fresh window.
    pub fn configure(&self, config: RateLimitConfig) {
        let mut state = self.lock();
        state.config = config;
        state.window_start = i64::MIN;
        state.used = 0;
    }

    /// The limits in force.
    pub fn config(&self) -> RateLimitConfig {
        self.lock().config.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl LimiterState {
    fn window_seconds(&self) -> i64 {
        self.config.window_seconds.clamp(1, i64::MAX as u64) as i64
    }

    fn roll_window(&mut self, now: DateTime<Utc>) {
        let length = self.window_seconds();
        let start = now.timestamp().div_euclid(length) * length;
        if start != self.window_start {
            self.window_start = start;
            self.used = 0;
        }
    }

    fn status(&self) -> Option<WindowStatus> {
        let limit = self.config.limit?;
        let reset = self.window_start.saturating_add(self.window_seconds());
        Some(WindowStatus {
            limit,
            remaining: limit.saturating_sub(self.used),
            reset_at: Utc
                .timestamp_opt(reset, 0)
                .single()
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_735_689_600 + seconds, 0).unwrap()
    }

    #[test]
    fn window_budget_refuses_then_resets() {
        let limiter = RateLimiter::new(RateLimitConfig::per_window(2, 3600));
        assert!(
            matches!(limiter.check(at(10), 0), RateDecision::Admitted(Some(s)) if s.remaining == 1)
        );
        assert!(
            matches!(limiter.check(at(11), 0), RateDecision::Admitted(Some(s)) if s.remaining == 0)
        );
        let refused = limiter.check(at(12), 0);
        let RateDecision::OverBudget(status) = refused else {
            panic!("expected over budget, got {refused:?}");
        };
        assert_eq!(status.reset_at, at(3600));
        assert_eq!(status.retry_after(at(12)), Duration::from_secs(3588));
        assert!(matches!(
            limiter.check(at(3600), 0),
            RateDecision::Admitted(_)
        ));
    }

    #[test]
    fn concurrency_cap_refuses_without_spending() {
        let limiter = RateLimiter::new(RateLimitConfig::per_window(5, 60).with_max_concurrent(2));
        assert!(matches!(
            limiter.check(at(0), 2),
            RateDecision::OverConcurrency(_)
        ));
        assert_eq!(limiter.status(at(0)).unwrap().remaining, 5);
        assert!(matches!(limiter.check(at(0), 1), RateDecision::Admitted(_)));
    }

    #[test]
    fn unlimited_admits_everything() {
        let limiter = RateLimiter::new(RateLimitConfig::unlimited());
        for _ in 0..100 {
            assert_eq!(limiter.check(at(0), 1000), RateDecision::Admitted(None));
        }
    }
}
