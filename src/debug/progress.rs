//! Live progress of a debug sync on stderr: per-table record counts, rate and checkpoints, redrawn in
//! place on a terminal and printed as plain periodic lines otherwise. The end-of-sync table comes from
//! the warehouse's [`SyncSummary`](super::warehouse::SyncSummary).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Counts records as they arrive and prints progress.
#[derive(Debug)]
pub struct Progress {
    tables: BTreeMap<String, u64>,
    records: u64,
    checkpoints: u64,
    started: Instant,
    last_print: Instant,
    live: bool,
    enabled: bool,
    interval: Duration,
}

impl Progress {
    /// Starts counting. With `enabled` false nothing is printed (tests, `--quiet`).
    pub fn new(enabled: bool) -> Self {
        let live = std::io::stderr().is_terminal();
        let now = Instant::now();
        Self {
            tables: BTreeMap::new(),
            records: 0,
            checkpoints: 0,
            started: now,
            last_print: now,
            live,
            enabled,
            interval: if live {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(5)
            },
        }
    }

    /// Counts `n` records of `table`.
    pub fn records(&mut self, table: &str, n: u64) {
        self.records += n;
        match self.tables.get_mut(table) {
            Some(c) => *c += n,
            None => {
                self.tables.insert(table.to_owned(), n);
            }
        }
    }

    /// Counts a checkpoint.
    pub fn checkpoint(&mut self) {
        self.checkpoints += 1;
    }

    /// Prints a progress line if the interval has passed (call after each message).
    pub fn tick(&mut self) {
        if !self.enabled || self.last_print.elapsed() < self.interval {
            return;
        }
        self.last_print = Instant::now();
        let line = self.line();
        let mut err = std::io::stderr().lock();
        if self.live {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// Ends the live line so other output starts on a clean line.
    pub fn finish(&self) {
        if self.enabled && self.live {
            let _ = writeln!(std::io::stderr().lock(), "\r\x1b[2K{}", self.line());
        }
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let tables: Vec<String> = self
            .tables
            .iter()
            .map(|(t, c)| format!("{t} {c}"))
            .collect();
        format!(
            "[{secs:>5.1}s] {} records ({:.0}/s), {} checkpoints · {}",
            self.records,
            self.records as f64 / secs,
            self.checkpoints,
            tables.join(" · ")
        )
    }

    /// Records received so far.
    pub fn total(&self) -> u64 {
        self.records
    }

    /// Records per table so far.
    pub fn tables(&self) -> &BTreeMap<String, u64> {
        &self.tables
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_table() {
        let mut p = Progress::new(false);
        p.records("a", 2);
        p.records("b", 1);
        p.records("a", 3);
        p.checkpoint();
        assert_eq!(p.total(), 6);
        assert_eq!(p.tables()["a"], 5);
        assert!(p.line().contains("6 records") && p.line().contains("1 checkpoints"));
    }
}
