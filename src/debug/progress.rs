//! Progress of a debug sync: per-table counts and rates, a live line on a terminal, periodic plain lines
//! otherwise, and the closing summary table.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Per-table operation counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCounts {
    /// Upserts.
    pub upserts: u64,
    /// Updates.
    pub updates: u64,
    /// Deletes.
    pub deletes: u64,
    /// Truncates.
    pub truncates: u64,
}

impl TableCounts {
    /// All operations.
    pub fn total(&self) -> u64 {
        self.upserts + self.updates + self.deletes + self.truncates
    }
}

/// Counts what a sync received and prints progress.
#[derive(Debug)]
pub struct Progress {
    tables: BTreeMap<String, TableCounts>,
    checkpoints: u64,
    warnings: u64,
    started: Instant,
    last_print: Instant,
    live: bool,
    interval: Duration,
}

impl Progress {
    /// Starts counting; draws a live line when stderr is a terminal, else a plain line every 5 s.
    pub fn new() -> Self {
        let live = std::io::stderr().is_terminal();
        let now = Instant::now();
        Self {
            tables: BTreeMap::new(),
            checkpoints: 0,
            warnings: 0,
            started: now,
            last_print: now,
            live,
            interval: if live {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(5)
            },
        }
    }

    /// Counts one record of `table` with `record_type` (a `RecordType` value).
    pub fn record(&mut self, table: &str, record_type: i32) {
        use crate::proto::RecordType;
        let counts = match self.tables.get_mut(table) {
            Some(c) => c,
            None => self.tables.entry(table.to_owned()).or_default(),
        };
        match RecordType::try_from(record_type) {
            Ok(RecordType::Update) => counts.updates += 1,
            Ok(RecordType::Delete) => counts.deletes += 1,
            Ok(RecordType::Truncate) => counts.truncates += 1,
            _ => counts.upserts += 1,
        }
    }

    /// Counts a checkpoint and maybe prints.
    pub fn checkpoint(&mut self) {
        self.checkpoints += 1;
        self.tick();
    }

    /// Counts a warning.
    pub fn warning(&mut self) {
        self.warnings += 1;
    }

    /// Prints a progress line if the interval has passed (call after each message).
    pub fn tick(&mut self) {
        if self.last_print.elapsed() < self.interval {
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

    /// Clears the live line before other output.
    pub fn clear(&self) {
        if self.live {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }

    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let tables: Vec<String> = self
            .tables
            .iter()
            .map(|(t, c)| format!("{t} {}", c.total()))
            .collect();
        format!(
            "syncing {:.0}s · {} · {:.0} records/s · {} checkpoints",
            secs,
            tables.join(" · "),
            self.total() as f64 / secs,
            self.checkpoints
        )
    }

    /// Records of every table.
    pub fn total(&self) -> u64 {
        self.tables.values().map(TableCounts::total).sum()
    }

    /// Counts per table.
    pub fn tables(&self) -> &BTreeMap<String, TableCounts> {
        &self.tables
    }

    /// Checkpoints received.
    pub fn checkpoints(&self) -> u64 {
        self.checkpoints
    }

    /// Warnings received.
    pub fn warnings(&self) -> u64 {
        self.warnings
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The closing summary table, like Fivetran's `debug` prints it.
    pub fn summary(&self, schema_changes: u64) -> String {
        let mut out = String::new();
        let width = self
            .tables
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(5)
            .max(5);
        out.push_str(&format!(
            "{:<width$}  {:>10}  {:>10}  {:>10}  {:>10}\n",
            "Table", "Upserts", "Updates", "Deletes", "Truncates"
        ));
        let mut sum = TableCounts::default();
        for (t, c) in &self.tables {
            out.push_str(&format!(
                "{t:<width$}  {:>10}  {:>10}  {:>10}  {:>10}\n",
                c.upserts, c.updates, c.deletes, c.truncates
            ));
            sum.upserts += c.upserts;
            sum.updates += c.updates;
            sum.deletes += c.deletes;
            sum.truncates += c.truncates;
        }
        out.push_str(&format!(
            "{:<width$}  {:>10}  {:>10}  {:>10}  {:>10}\n",
            "Total", sum.upserts, sum.updates, sum.deletes, sum.truncates
        ));
        let secs = self.elapsed().as_secs_f64().max(1e-9);
        out.push_str(&format!(
            "Schema changes: {schema_changes}   Checkpoints: {}   Warnings: {}\n",
            self.checkpoints, self.warnings
        ));
        out.push_str(&format!(
            "Elapsed: {secs:.2} s   Throughput: {:.0} records/s\n",
            self.total() as f64 / secs
        ));
        out
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::RecordType;

    #[test]
    fn counts_per_table_and_op() {
        let mut p = Progress::new();
        p.record("a", RecordType::Upsert as i32);
        p.record("a", RecordType::Upsert as i32);
        p.record("a", RecordType::Delete as i32);
        p.record("b", RecordType::Update as i32);
        p.record("b", RecordType::Truncate as i32);
        p.checkpoint();
        assert_eq!(p.total(), 5);
        assert_eq!(
            p.tables()["a"],
            TableCounts {
                upserts: 2,
                deletes: 1,
                ..Default::default()
            }
        );
        let s = p.summary(2);
        assert!(
            s.contains("Schema changes: 2") && s.contains("Checkpoints: 1"),
            "{s}"
        );
        assert!(
            s.lines()
                .any(|l| l.starts_with("Total") && l.contains(" 2 ")),
            "{s}"
        );
    }
}
