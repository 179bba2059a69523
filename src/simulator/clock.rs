//! A controllable "now" for simulators.
//!
//! Rate-limit windows, search timestamps and anything else a simulator reads from the clock use
//! this instead of the wall clock, so tests can jump an hour ahead instead of waiting one. Data
//! timestamps do not: they come from the seed and the generation number, so moving the clock never
//! changes a page's bytes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

/// How the clock moves on its own between explicit changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockMode {
    /// Ticks with real time from its start value (the default for servers run by hand).
    Running,
    /// Stands still until set or advanced (the default for tests that need exact windows).
    Frozen,
}

#[derive(Debug)]
struct ClockState {
    /// The simulated time at `anchored_at`.
    anchor: DateTime<Utc>,
    /// When `anchor` was taken; `None` while frozen.
    anchored_at: Option<Instant>,
}

/// A thread-safe simulated clock. Never goes backwards unless [`SimClock::set`] says so.
#[derive(Debug)]
pub struct SimClock {
    state: Mutex<ClockState>,
}

impl SimClock {
    /// A clock reading `start` now, then moving as `mode` says.
    pub fn new(start: DateTime<Utc>, mode: ClockMode) -> Self {
        let anchored_at = (mode == ClockMode::Running).then(Instant::now);
        Self {
            state: Mutex::new(ClockState {
                anchor: start,
                anchored_at,
            }),
        }
    }

    /// The current simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        let state = self.lock();
        match state.anchored_at {
            Some(at) => state.anchor + to_delta(at.elapsed()),
            None => state.anchor,
        }
    }

    /// Jumps to `time` (backwards too, deliberately: tests of clock skew need it).
    pub fn set(&self, time: DateTime<Utc>) {
        let mut state = self.lock();
        state.anchor = time;
        if state.anchored_at.is_some() {
            state.anchored_at = Some(Instant::now());
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut state = self.lock();
        state.anchor += to_delta(by);
    }

    /// Switches between running and frozen, keeping the current reading.
    pub fn set_mode(&self, mode: ClockMode) {
        let now = self.now();
        let mut state = self.lock();
        state.anchor = now;
        state.anchored_at = (mode == ClockMode::Running).then(Instant::now);
    }

    /// Whether the clock currently runs with real time.
    pub fn mode(&self) -> ClockMode {
        match self.lock().anchored_at {
            Some(_) => ClockMode::Running,
            None => ClockMode::Frozen,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        // A poisoned clock still holds a valid time; keep going rather than cascade panics.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn to_delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2025-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn frozen_clock_moves_only_when_told() {
        let clock = SimClock::new(t0(), ClockMode::Frozen);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), t0());
        clock.advance(Duration::from_secs(3600));
        assert_eq!(clock.now(), t0() + TimeDelta::hours(1));
        clock.set(t0());
        assert_eq!(clock.now(), t0());
    }

    #[test]
    fn running_clock_ticks_and_can_freeze() {
        let clock = SimClock::new(t0(), ClockMode::Running);
        std::thread::sleep(Duration::from_millis(5));
        assert!(clock.now() > t0());
        clock.set_mode(ClockMode::Frozen);
        let frozen = clock.now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(clock.now(), frozen);
        assert_eq!(clock.mode(), ClockMode::Frozen);
    }
}
