//! The date-window batcher (the OnGage pattern): a backfill from `start` to `end` in consecutive windows
//! that complete in order, each checkpointable. A window reported too large is halved down to a minimum;
//! at the minimum it gets a bounded number of attempts, then the backfill fails naming the window. An
//! empty window is just a completed window: only reaching `end` ends the backfill.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// A half-open time window `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

impl Window {
    /// The window's length.
    pub fn span(&self) -> TimeDelta {
        self.end - self.start
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}, {})",
            self.start.to_rfc3339(),
            self.end.to_rfc3339()
        )
    }
}

/// Where a walk of date windows stands, to keep in state: the instant before which everything is
/// synced for good, and the walk in progress (OnGage's lists, EveryAction's exports). A walk begins at
/// the API's "now" and ends there; when it completes, that instant becomes `synced_through`, so the
/// next walk starts from it (minus a lookback).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkState {
    /// Everything before this instant (API time) is synced. `None` until the first walk completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_through: Option<DateTime<Utc>>,
    /// The walk in progress, if a sync stopped in the middle of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub walk: Option<Walk>,
}

/// A walk of windows in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Walk {
    /// The API's clock when the walk began: every row it reads was read after this, so this becomes
    /// `synced_through` when it completes.
    pub started: DateTime<Utc>,
    /// Every window before this instant is done (`None`: none yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<DateTime<Utc>>,
}

impl WalkState {
    /// The walk in progress, begun now (`now`, API time) if there is none.
    pub fn walk_from(&mut self, now: DateTime<Utc>) -> &mut Walk {
        self.walk.get_or_insert(Walk {
            started: now,
            resume_at: None,
        })
    }

    /// Where the next window starts: the walk's resume point, else `synced_through` minus
    /// `lookback` (not before `floor`), else `origin` (a first walk).
    pub fn next_start(
        &self,
        origin: DateTime<Utc>,
        lookback: TimeDelta,
        floor: DateTime<Utc>,
    ) -> DateTime<Utc> {
        if let Some(at) = self.walk.as_ref().and_then(|w| w.resume_at) {
            return at;
        }
        match self.synced_through {
            Some(done) => (done - lookback).max(floor),
            None => origin,
        }
    }

    /// Records that every window before `end` is done.
    pub fn completed(&mut self, end: DateTime<Utc>) {
        if let Some(walk) = self.walk.as_mut() {
            walk.resume_at = Some(end);
        }
    }

    /// Ends the walk: everything before the instant it began is synced.
    pub fn finish(&mut self) {
        if let Some(walk) = self.walk.take() {
            self.synced_through = Some(walk.started);
        }
    }
}

/// Tuning of a [`WindowBatcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowConfig {
    /// Starting (and largest) window length (default 90 days, about three months).
    pub initial: TimeDelta,
    /// Smallest window length (default 14 days); clamped to at most `initial`.
    pub min: TimeDelta,
    /// Attempts a window gets at the minimum length before the backfill fails (default 3).
    pub attempts_at_min: u32,
    /// How far before the last completed end an incremental sync starts again (default 2 days).
    pub lookback: TimeDelta,
    /// Completed windows before the length doubles back towards `initial` (default 4).
    pub recover_after: u32,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            initial: TimeDelta::days(90),
            min: TimeDelta::days(14),
            attempts_at_min: 3,
            lookback: TimeDelta::days(2),
            recover_after: 4,
        }
    }
}

/// Why the batcher stopped or refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A minimum-length window kept timing out.
    #[error("the window {window} is still too large or timing out after {attempts} attempts at the minimum window length ({reason}); narrow the sync start date or contact the api provider")]
    GaveUp {
        /// The failing window.
        window: Window,
        /// Attempts made at the minimum length.
        attempts: u32,
        /// The last reason given.
        reason: String,
    },
    /// The caller reported a window other than the one handed out.
    #[error("window {got} was reported but {expected} is the current window")]
    NotCurrent {
        /// The window reported.
        got: Window,
        /// The current window.
        expected: String,
    },
}

impl From<WindowError> for crate::sdk::Error {
    fn from(e: WindowError) -> Self {
        crate::sdk::Error::Unavailable(e.to_string())
    }
}

/// Hands out windows in order over `[start, end)`; see the module documentation.
///
/// Use: `while let Some(w) = b.next_window() { run w; b.complete(w)? or b.too_large(w, why)? }`, saving
/// [`WindowBatcher::resume_point`] after each completion.
#[derive(Debug, Clone)]
pub struct WindowBatcher {
    config: WindowConfig,
    next_start: DateTime<Utc>,
    end: DateTime<Utc>,
    length: TimeDelta,
    attempts_at_min: u32,
    completed_in_a_row: u32,
    current: Option<Window>,
}

impl WindowBatcher {
    /// A backfill of `[start, end)`.
    pub fn backfill(start: DateTime<Utc>, end: DateTime<Utc>, config: WindowConfig) -> Self {
        let mut config = config;
        config.initial = config.initial.max(TimeDelta::seconds(1));
        config.min = config.min.clamp(TimeDelta::seconds(1), config.initial);
        config.attempts_at_min = config.attempts_at_min.max(1);
        config.recover_after = config.recover_after.max(1);
        Self {
            length: config.initial,
            config,
            next_start: start,
            end,
            attempts_at_min: 0,
            completed_in_a_row: 0,
            current: None,
        }
    }

    /// Resumes from the last completed window end saved in state (`None`: never synced), re-reading
    /// `lookback` before it but never before `start`.
    pub fn resume(
        last_completed_end: Option<DateTime<Utc>>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        config: WindowConfig,
    ) -> Self {
        let from = match last_completed_end {
            Some(done) => (done - config.lookback).max(start),
            None => start,
        };
        Self::backfill(from, end, config)
    }

    /// The window to run next (the same one again after [`WindowBatcher::too_large`] shrank it), or
    /// `None` once `end` is reached.
    pub fn next_window(&mut self) -> Option<Window> {
        if self.next_start >= self.end {
            return None;
        }
        let end = (self.next_start + self.length).min(self.end);
        let window = Window {
            start: self.next_start,
            end,
        };
        self.current = Some(window);
        Some(window)
    }

    /// Marks `window` done (empty or not) and returns the end to checkpoint.
    pub fn complete(&mut self, window: Window) -> Result<DateTime<Utc>, WindowError> {
        self.check_current(window)?;
        self.next_start = window.end;
        self.current = None;
        self.attempts_at_min = 0;
        self.completed_in_a_row += 1;
        if self.completed_in_a_row >= self.config.recover_after && self.length < self.config.initial
        {
            self.length = (self.length * 2).min(self.config.initial);
            self.completed_in_a_row = 0;
        }
        Ok(window.end)
    }

    /// Reports that `window` was too large or its job timed out: halves the window, or counts an attempt
    /// at the minimum length and fails once `attempts_at_min` is reached.
    pub fn too_large(&mut self, window: Window, reason: &str) -> Result<(), WindowError> {
        self.check_current(window)?;
        self.current = None;
        self.completed_in_a_row = 0;
        if window.span() > self.config.min {
            self.length = (window.span() / 2).max(self.config.min);
            self.attempts_at_min = 0;
            tracing::info!(%window, reason, "window too large; halving it");
            return Ok(());
        }
        self.length = self.config.min;
        self.attempts_at_min += 1;
        if self.attempts_at_min >= self.config.attempts_at_min {
            return Err(WindowError::GaveUp {
                window,
                attempts: self.attempts_at_min,
                reason: reason.to_owned(),
            });
        }
        tracing::info!(%window, reason, attempt = self.attempts_at_min, "minimum-length window failed; trying it again");
        Ok(())
    }

    /// Everything before this instant has been completed; save it as the resume point.
    pub fn resume_point(&self) -> DateTime<Utc> {
        self.next_start
    }

    /// The window length used next.
    pub fn current_length(&self) -> TimeDelta {
        self.length
    }

    fn check_current(&self, window: Window) -> Result<(), WindowError> {
        if self.current == Some(window) {
            Ok(())
        } else {
            Err(WindowError::NotCurrent {
                got: window,
                expected: self
                    .current
                    .map_or_else(|| "none".to_owned(), |w| w.to_string()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(n: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + TimeDelta::days(n)
    }

    #[test]
    fn empty_windows_do_not_end_the_backfill() {
        let mut b = WindowBatcher::backfill(day(0), day(365), WindowConfig::default());
        let mut windows = Vec::new();
        while let Some(w) = b.next_window() {
            windows.push(w);
            b.complete(w).unwrap();
        }
        assert_eq!(windows.len(), 5, "{windows:?}");
        assert_eq!(
            windows[0],
            Window {
                start: day(0),
                end: day(90)
            }
        );
        assert_eq!(
            windows[4],
            Window {
                start: day(360),
                end: day(365)
            }
        );
    }

    #[test]
    fn a_timeout_halves_to_the_minimum_then_fails_after_three_attempts_naming_the_window() {
        let mut b = WindowBatcher::backfill(day(0), day(365), WindowConfig::default());
        let mut spans = Vec::new();
        let err = loop {
            let w = b.next_window().unwrap();
            spans.push(w.span().num_days());
            if let Err(e) = b.too_large(w, "job timed out") {
                break e;
            }
        };
        assert_eq!(spans, vec![90, 45, 22, 14, 14, 14]);
        let text = err.to_string();
        assert!(
            text.contains("1970-01-01")
                && text.contains("1970-01-15")
                && text.contains("3 attempts"),
            "{text}"
        );
    }

    #[test]
    fn resume_rereads_the_lookback_and_reports_out_of_order_windows() {
        let mut b =
            WindowBatcher::resume(Some(day(100)), day(0), day(120), WindowConfig::default());
        let w = b.next_window().unwrap();
        assert_eq!(w.start, day(98));
        let stale = Window {
            start: day(0),
            end: day(1),
        };
        assert!(matches!(
            b.complete(stale),
            Err(WindowError::NotCurrent { .. })
        ));
        assert_eq!(b.complete(w).unwrap(), day(120));
        assert_eq!(b.next_window(), None);
    }

    proptest! {
        #[test]
        fn completed_windows_tile_the_range_exactly_once_for_any_timeouts(
            start in 0i64..1000,
            days in 0i64..2000,
            outcomes in prop::collection::vec(prop::bool::weighted(0.35), 0..400),
        ) {
            let (start, end) = (day(start), day(start + days));
            let mut b = WindowBatcher::backfill(start, end, WindowConfig::default());
            let mut completed: Vec<Window> = Vec::new();
            let mut outcomes = outcomes.into_iter();
            let mut gave_up = None;
            while let Some(w) = b.next_window() {
                prop_assert!(w.start < w.end && w.end <= end);
                prop_assert!(w.span() <= TimeDelta::days(90));
                if outcomes.next().unwrap_or(false) {
                    if let Err(e) = b.too_large(w, "timed out") {
                        gave_up = Some((w, e));
                        break;
                    }
                } else {
                    prop_assert_eq!(b.complete(w).unwrap(), w.end);
                    completed.push(w);
                }
            }
            let mut cursor = start;
            for w in &completed {
                prop_assert_eq!(w.start, cursor, "gap or overlap before {}", w);
                cursor = w.end;
            }
            match gave_up {
                Some((w, WindowError::GaveUp { window, .. })) => {
                    prop_assert_eq!(window, w);
                    prop_assert_eq!(w.start, cursor);
                    prop_assert!(w.span() <= TimeDelta::days(14));
                }
                Some((_, other)) => prop_assert!(false, "unexpected {}", other),
                None => prop_assert_eq!(cursor, end.max(start)),
            }
            prop_assert_eq!(b.resume_point(), cursor);
        }
    }
}
