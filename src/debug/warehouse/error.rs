//! The errors of the local warehouse.

use std::io;
use std::path::PathBuf;

use crate::debug::state_file::StateFileError;

/// Why the warehouse refused or failed an operation. Messages are lowercase and name the table, column and
/// operation concerned. After any error while applying the stream the sync has failed: only
/// [`abort`](super::LocalWarehouse::abort) is accepted.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// The `files` directory could not be created.
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The IO error.
        source: io::Error,
    },
    /// Another process holds the directory's lock (another `debug` run into the same warehouse).
    #[error("{} is in use by another run{}; wait for it to finish, or give this one its own directory with --files", dir.display(), holder.map(|pid| format!(" (process {pid})")).unwrap_or_default())]
    Locked {
        /// The `files` directory.
        dir: PathBuf,
        /// The process holding the lock, when it could be read.
        holder: Option<u32>,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {path}: {error}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The IO error.
        error: io::Error,
    },
    /// SQLite refused a statement.
    #[error("sqlite error while {context}: {source}")]
    Sqlite {
        /// What the warehouse was doing, with the table concerned.
        context: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Reading, checking or writing `state.json` failed.
    #[error(transparent)]
    State(#[from] StateFileError),
    /// A record has no value (or a null one) for a primary-key column.
    #[error("null primary key in table {table}: column {column} is null ({operation})")]
    NullPrimaryKey {
        /// The destination table.
        table: String,
        /// The key column.
        column: String,
        /// `upsert`, `update` or `delete`.
        operation: &'static str,
    },
    /// A value cannot be stored (a timestamp out of range, a malformed `row_data` cell).
    #[error("invalid value for column {column} of table {table}: {reason}")]
    InvalidValue {
        /// The destination table.
        table: String,
        /// The column as the connector named it.
        column: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A record's `type` is not a known `RecordType`.
    #[error("unknown record type {value} for table {table}")]
    UnknownRecordType {
        /// The table as the connector named it.
        table: String,
        /// The type number received.
        value: i32,
    },
    /// A table or column name that is empty (after renaming).
    #[error("empty {kind} name (source name '{source_name}') in {context}")]
    EmptyName {
        /// `table` or `column`.
        kind: &'static str,
        /// The name the connector sent.
        source_name: String,
        /// Where it was met.
        context: String,
    },
    /// A declared primary key differs from the key the existing table was created with.
    #[error(
        "primary key of table {table} changed from [{existing}] to [{declared}]: \
         delete files/warehouse.db to start over"
    )]
    KeyChanged {
        /// The destination table.
        table: String,
        /// The key the table has.
        existing: String,
        /// The key the schema declares now.
        declared: String,
    },
    /// The warehouse file holds a table that does not look like one this warehouse made.
    #[error("table {table} in the warehouse file is damaged: {reason}")]
    Damaged {
        /// The table's SQLite name.
        table: String,
        /// What is missing.
        reason: String,
    },
    /// A query named a table the warehouse does not have.
    #[error("no table {table} in the warehouse")]
    UnknownTable {
        /// `schema.table`.
        table: String,
    },
    /// An operation after [`finish`](super::LocalWarehouse::finish) or [`abort`](super::LocalWarehouse::abort).
    #[error("cannot {operation}: the sync has {how}")]
    Ended {
        /// What was asked.
        operation: &'static str,
        /// `finished` or `been aborted`.
        how: &'static str,
    },
    /// An operation after an earlier error: the sync has failed and must be aborted.
    #[error("cannot {operation}: the sync already failed ({cause})")]
    AlreadyFailed {
        /// What was asked.
        operation: &'static str,
        /// The first error.
        cause: String,
    },
}

/// Adds what the warehouse was doing to a SQLite error; the context is only built on error.
pub(crate) trait SqliteContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, WarehouseError>;
}

impl<T> SqliteContext<T> for rusqlite::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, WarehouseError> {
        self.map_err(|source| WarehouseError::Sqlite {
            context: what(),
            source,
        })
    }
}
