//! The counts printed at the end of a local sync.

use std::collections::BTreeMap;
use std::fmt;

/// A table's destination name: its schema and its own name (both after renaming).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName {
    /// The destination schema, e.g. `tester` or `tester_myschema`.
    pub schema: String,
    /// The table's name in that schema.
    pub table: String,
}

impl TableName {
    /// A destination table name.
    pub fn new(schema: impl Into<String>, table: impl Into<String>) -> Self {
        Self {
            schema: schema.into(),
            table: table.into(),
        }
    }
}

impl fmt::Display for TableName {
    /// `schema.table`, which is also the table's name in the SQLite file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// How many operations of each kind a table (or the whole sync) received. They count what the connector sent,
/// including operations that found no row (an update or delete of a missing row) and operations rolled back
/// when the sync failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperationCounts {
    /// Upsert records.
    pub upserts: u64,
    /// Update records.
    pub updates: u64,
    /// Delete records.
    pub deletes: u64,
    /// Truncates applied: TRUNCATE records, `Truncate` messages, and deferred truncates when the sync finishes.
    pub truncates: u64,
    /// Tables created and columns added.
    pub schema_changes: u64,
}

impl OperationCounts {
    fn add(&mut self, other: &OperationCounts) {
        self.upserts += other.upserts;
        self.updates += other.updates;
        self.deletes += other.deletes;
        self.truncates += other.truncates;
        self.schema_changes += other.schema_changes;
    }
}

/// The end-of-sync summary: counts per table and in total, checkpoints, and the alerts the connector sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Counts of every table that received at least one operation, by destination name.
    pub tables: BTreeMap<TableName, OperationCounts>,
    /// The sum over all tables.
    pub total: OperationCounts,
    /// Checkpoints committed (their state was written).
    pub checkpoints: u64,
    /// `Warning` messages received.
    pub warnings: u64,
    /// `Task` messages received (a task ends the sync).
    pub tasks: u64,
}

impl SyncSummary {
    /// Adds `counts` to `table` and to the total; tables with no operation are left out.
    pub(crate) fn add_table(&mut self, table: TableName, counts: &OperationCounts) {
        if *counts == OperationCounts::default() {
            return;
        }
        self.total.add(counts);
        self.tables.entry(table).or_default().add(counts);
    }
}

impl fmt::Display for SyncSummary {
    /// The totals as Fivetran's tester prints them (`Operation | Counts`), then one line per table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.total;
        writeln!(f, "{:<15} | {:<10}", "Operation", "Counts")?;
        writeln!(f, "{}+{}", "-".repeat(16), "-".repeat(12))?;
        for (label, count) in [
            ("Upserts", t.upserts),
            ("Updates", t.updates),
            ("Deletes", t.deletes),
            ("Truncates", t.truncates),
            ("Schema changes", t.schema_changes),
            ("Checkpoints", self.checkpoints),
            ("Warnings", self.warnings),
            ("Tasks", self.tasks),
        ] {
            writeln!(f, "{label:<15} | {count:<10}")?;
        }
        for (name, c) in &self.tables {
            writeln!(
                f,
                "{name}: {} upserts, {} updates, {} deletes, {} truncates, {} schema changes",
                c.upserts, c.updates, c.deletes, c.truncates, c.schema_changes
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_tables_and_skip_idle_ones() {
        let mut summary = SyncSummary::default();
        let one = OperationCounts {
            upserts: 2,
            deletes: 1,
            ..Default::default()
        };
        summary.add_table(TableName::new("tester", "a"), &one);
        summary.add_table(TableName::new("tester", "b"), &one);
        summary.add_table(
            TableName::new("tester", "idle"),
            &OperationCounts::default(),
        );
        assert_eq!(summary.tables.len(), 2);
        assert_eq!(summary.total.upserts, 4);
        assert_eq!(summary.total.deletes, 2);
        let text = summary.to_string();
        assert!(text.contains("Upserts         | 4"), "{text}");
        assert!(text.contains("tester.a: 2 upserts"), "{text}");
    }
}
