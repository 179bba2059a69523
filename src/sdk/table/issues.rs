//! The malformed-value policy, one for every connector: a value that cannot be read keeps its row with a
//! NULL in that column, is counted per table and column, and each column is reported once per sync in a
//! warning naming the table, the column, the first record's key and the bad text (redacted when the
//! column holds a secret). A record whose key cannot be read is skipped and counted the same way.

use std::collections::BTreeMap;

use crate::sdk::json::JsonView;

/// The first characters of a bad value shown in a warning.
const EXAMPLE_CHARS: usize = 60;

/// What was counted of one column.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ColumnIssues {
    count: u64,
    /// The key of the first record it happened in (`id=804011`), or `(no key)`.
    first_key: String,
    /// The first bad text, cut to [`EXAMPLE_CHARS`], or `***` for a secret column.
    first_text: String,
    /// Whether the record was skipped (its key could not be read) rather than kept with a NULL.
    skipped: bool,
    reported: bool,
}

/// Unreadable values of one sync, by table and column. Pages transformed apart (on other threads) each
/// count into their own `Issues`, then [`Issues::merge`] into the sync's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issues {
    by_column: BTreeMap<(String, String), ColumnIssues>,
}

impl Issues {
    /// Counts a value of `table.column` that could not be read: the row was kept with a NULL there.
    /// `key` names the record (`id=804011`); `secret` hides the text.
    pub fn malformed<'a>(
        &mut self,
        table: &str,
        column: &str,
        key: &str,
        raw: impl JsonView<'a>,
        secret: bool,
    ) {
        self.note(table, column, key, raw, secret, false);
    }

    /// Counts a record of `table` skipped because its key column `column` could not be read.
    pub fn skipped<'a>(&mut self, table: &str, column: &str, raw: impl JsonView<'a>) {
        self.note(table, column, "(no key)", raw, false, true);
    }

    fn note<'a>(
        &mut self,
        table: &str,
        column: &str,
        key: &str,
        raw: impl JsonView<'a>,
        secret: bool,
        skipped: bool,
    ) {
        if let Some(entry) = self
            .by_column
            .get_mut(&(table.to_owned(), column.to_owned()))
        {
            entry.count += 1;
            return;
        }
        let first_text = if secret {
            "***".to_owned()
        } else {
            let text = match raw.as_str() {
                Some(s) => format!("{s:?}"),
                None => raw.to_json_string(),
            };
            text.chars().take(EXAMPLE_CHARS).collect()
        };
        self.by_column.insert(
            (table.to_owned(), column.to_owned()),
            ColumnIssues {
                count: 1,
                first_key: key.to_owned(),
                first_text,
                skipped,
                reported: false,
            },
        );
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: Issues) {
        for (at, theirs) in other.by_column {
            match self.by_column.get_mut(&at) {
                Some(ours) => ours.count += theirs.count,
                None => {
                    self.by_column.insert(at, theirs);
                }
            }
        }
    }

    /// Values counted in every table and column.
    pub fn total(&self) -> u64 {
        self.by_column.values().map(|c| c.count).sum()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.by_column.is_empty()
    }

    /// How many values of `table.column` were counted.
    pub fn count(&self, table: &str, column: &str) -> u64 {
        self.by_column
            .get(&(table.to_owned(), column.to_owned()))
            .map_or(0, |c| c.count)
    }

    /// One warning per column not warned about yet in this sync (each column once), marking them
    /// warned: `gifts.amount: 3 values could not be read and were synced as null (first in the record
    /// id=804011: "$5,000.00")`.
    pub fn take_warnings(&mut self) -> Vec<String> {
        self.by_column
            .iter_mut()
            .filter(|(_, c)| !c.reported)
            .map(|((table, column), c)| {
                c.reported = true;
                let what = if c.skipped {
                    format!(
                        "{} records were skipped because their key could not be read",
                        c.count
                    )
                } else {
                    format!(
                        "{} values could not be read and were synced as null",
                        c.count
                    )
                };
                format!(
                    "{table}.{column}: {what} (first in the record {}: {})",
                    c.first_key, c.first_text
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_column_warns_once_with_the_first_key_and_text() {
        let mut issues = Issues::default();
        issues.malformed("gifts", "amount", "id=1", &json!("$5,000.00"), false);
        issues.malformed("gifts", "amount", "id=2", &json!("x"), false);
        issues.malformed("users", "token", "id=9", &json!("s3cret"), true);
        issues.skipped("gifts", "id", &json!(null));
        let warnings = issues.take_warnings();
        assert_eq!(warnings.len(), 3);
        assert!(warnings.contains(
            &"gifts.amount: 2 values could not be read and were synced as null (first in the record id=1: \"$5,000.00\")".to_owned()
        ), "{warnings:?}");
        assert!(warnings.iter().any(|w| w.starts_with("users.token")
            && w.ends_with("id=9: ***)")
            && !w.contains("s3cret")));
        assert!(warnings
            .iter()
            .any(|w| w.contains("1 records were skipped")));
        issues.malformed("gifts", "amount", "id=3", &json!("y"), false);
        assert!(
            issues.take_warnings().is_empty(),
            "once per column per sync"
        );
        assert_eq!(issues.count("gifts", "amount"), 3);
    }

    #[test]
    fn merged_counts_add_up_and_keep_the_first_example() {
        let mut a = Issues::default();
        a.malformed("t", "c", "id=1", &json!("a"), false);
        let mut b = Issues::default();
        b.malformed("t", "c", "id=2", &json!("b"), false);
        b.malformed("t", "d", "id=2", &json!("b"), false);
        a.merge(b);
        assert_eq!((a.count("t", "c"), a.count("t", "d"), a.total()), (2, 1, 3));
        assert!(a.take_warnings()[0].contains("id=1"));
    }
}
