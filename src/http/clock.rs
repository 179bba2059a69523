//! Injectable time: every wait in the toolkit (backoff, rate budget, job polling) goes through a [`Clock`],
//! so tests run on virtual time without sleeping for real seconds.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

/// A source of monotonic time, wall time and sleeps.
///
/// Contract: `now()` never goes backwards; `sleep(d)` completes once `now()` has advanced by at least `d`.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Monotonic now, for deadlines and intervals.
    fn now(&self) -> Instant;
    /// Wall-clock now, for HTTP dates, epoch rate-limit resets and error timestamps.
    fn now_utc(&self) -> DateTime<Utc>;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// A shared clock handle, cheap to clone.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock: `Instant::now`, `Utc::now` and `tokio::time::sleep`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    /// The real clock as a [`SharedClock`].
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn now_utc(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A virtual clock for tests: `sleep` returns at once after advancing virtual time, and every requested
/// sleep is recorded so tests can assert on backoff and rate-limit waits exactly.
///
/// Each sleep advances virtual time by its full duration (concurrent sleeps add up rather than overlap),
/// which over-estimates elapsed time but keeps every test deterministic.
#[derive(Debug, Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualState>>,
}

#[derive(Debug)]
struct ManualState {
    origin: Instant,
    origin_utc: DateTime<Utc>,
    elapsed: Duration,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A virtual clock whose wall time starts at `start_utc`.
    pub fn new(start_utc: DateTime<Utc>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(ManualState {
                origin: Instant::now(),
                origin_utc: start_utc,
                elapsed: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    /// This clock as a [`SharedClock`] (sharing the same virtual time).
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }

    /// Moves virtual time forward by `by` without recording a sleep.
    pub fn advance(&self, by: Duration) {
        self.lock().elapsed += by;
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// Virtual time elapsed since creation.
    pub fn elapsed(&self) -> Duration {
        self.lock().elapsed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // A panic while holding this lock cannot leave the plain data inconsistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        let s = self.lock();
        s.origin + s.elapsed
    }

    fn now_utc(&self) -> DateTime<Utc> {
        let s = self.lock();
        s.origin_utc + chrono::TimeDelta::from_std(s.elapsed).unwrap_or(chrono::TimeDelta::MAX)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        {
            let mut s = self.lock();
            s.sleeps.push(duration);
            s.elapsed += duration;
        }
        // Yield once so concurrent tasks interleave as they would around a real sleep.
        Box::pin(tokio::task::yield_now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_advances_on_sleep_and_records_it() {
        let clock = ManualClock::new(DateTime::UNIX_EPOCH);
        let t0 = clock.now();
        clock.sleep(Duration::from_secs(5)).await;
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.now() - t0, Duration::from_secs(6));
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(5)]);
        assert_eq!(clock.now_utc().timestamp(), 6);
    }
}
