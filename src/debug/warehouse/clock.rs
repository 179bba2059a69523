//! The `_fivetran_synced` time given to each operation.
//!
//! A truncate soft-deletes the rows synced *before* it, so its cutoff must be later than every row written
//! before it and no later than every row written after it, even within one batch and one microsecond. The
//! clock never goes back, and [`SyncClock::advance`] moves it strictly forward for a truncate. Times are kept
//! as fixed-width text (`2024-01-01T12:01:00.000000Z`), so SQLite compares them correctly as text.

use chrono::{DateTime, TimeDelta, Utc};

/// The time of the operations being applied.
#[derive(Debug)]
pub(crate) struct SyncClock {
    last: DateTime<Utc>,
    text: String,
}

impl SyncClock {
    pub(crate) fn new() -> Self {
        let now = now_micros();
        Self {
            last: now,
            text: synced_text(now),
        }
    }

    /// Moves to the current time, unless a truncate already moved the clock past it.
    pub(crate) fn refresh(&mut self) {
        let now = now_micros();
        if now > self.last {
            self.set(now);
        }
    }

    /// A time strictly later than every time given out so far; later operations get it or a later one.
    pub(crate) fn advance(&mut self) -> &str {
        let next = now_micros().max(self.last + TimeDelta::microseconds(1));
        self.set(next);
        &self.text
    }

    /// The `_fivetran_synced` text of the current operation.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    fn set(&mut self, at: DateTime<Utc>) {
        self.last = at;
        self.text = synced_text(at);
    }
}

fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// `_fivetran_synced` as stored: UTC, always six fraction digits, so text order is time order.
pub(crate) fn synced_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_is_strictly_later_and_refresh_never_goes_back() {
        let mut clock = SyncClock::new();
        let mut previous = clock.text().to_owned();
        for _ in 0..1000 {
            let next = clock.advance().to_owned();
            assert!(next > previous, "{next} <= {previous}");
            clock.refresh();
            assert!(clock.text() >= next.as_str());
            previous = clock.text().to_owned();
        }
    }

    #[test]
    fn text_is_fixed_width() {
        let at = DateTime::from_timestamp(1_704_110_460, 0).unwrap();
        assert_eq!(synced_text(at), "2024-01-01T12:01:00.000000Z");
    }
}
