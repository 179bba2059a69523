//! The local warehouse of `fivetran_source debug`: applies a sync's stream of `UpdateResponse`s to
//! `files/warehouse.db` (SQLite) with Fivetran's destination semantics, and keeps `files/state.json`.
//!
//! # Semantics (those of Fivetran's own `fivetran debug`, see `docs/protocol.md` §2.8)
//! - One SQLite table per destination (schema, table), named `"<schema>.<table>"`; names follow
//!   [`Naming`]. Declared columns get the SQLite affinity of their declared type; a column a record brings
//!   for the first time is added (`ALTER TABLE ADD COLUMN`) with the affinity of its value. A null value
//!   creates no column (it reads as NULL anyway). Every table has `_fivetran_synced` (UTC time of the apply)
//!   and `_fivetran_deleted` (0/1); a table without a declared key is keyed by `_fivetran_id` (see
//!   `row_id.rs`). A record for an undeclared table creates it at its first upsert.
//! - Upsert replaces the whole row by key (absent columns become NULL). Update sets only the columns it
//!   brings on an existing row, and un-deletes it (as Fivetran's tester does); a missing row is ignored.
//!   Delete soft-deletes by key; a missing row is ignored. Truncate (a `TRUNCATE` record or the `Truncate`
//!   message) soft-deletes the rows synced before it; a deferred `Truncate` waits until the sync finishes
//!   well (and survives a failed sync that checkpointed after it). A null or absent key is an error.
//! - Types are not enforced (tables are not STRICT): a value that does not fit its column's declared type is
//!   stored as it came, and a warning is logged once per column. SQLite converts only losslessly (the text
//!   `12` in an INTEGER column becomes 12), so nothing is corrupted.
//!
//! # Transactions and state
//! Everything between two checkpoints is applied inside one SQLite transaction. On a checkpoint the
//! transaction commits and *then* `state.json` is replaced atomically. If the sync fails, [`abort`] (or
//! dropping the warehouse) rolls back what came after the last checkpoint: the file holds the rows and the
//! state of that checkpoint. A crash between the commit and the state write leaves the state one checkpoint
//! behind the rows, never ahead: the next sync re-sends what came after the older state, and re-applying
//! upserts, updates and deletes by key gives the same rows. SQLite runs in WAL mode with `synchronous=FULL`,
//! so a commit is on disk before the state is written.
//!
//! # Use
//! ```no_run
//! # fn run(schema: fivetran_source::proto::SchemaResponse,
//! #        stream: Vec<fivetran_source::proto::UpdateResponse>)
//! #        -> Result<(), fivetran_source::debug::warehouse::WarehouseError> {
//! use fivetran_source::debug::warehouse::{Applied, LocalWarehouse, WarehouseOptions};
//!
//! let mut warehouse = LocalWarehouse::open("files", WarehouseOptions::default())?;
//! let state_json = warehouse.starting_state().to_owned(); // goes into UpdateRequest.state_json
//! warehouse.apply_schema(&schema)?;
//! for response in &stream {
//!     match warehouse.apply(response) {
//!         Ok(Applied::Task(task)) => { warehouse.abort()?; eprintln!("task: {}", task.message); break; }
//!         Ok(_) => {}
//!         Err(e) => { warehouse.abort()?; return Err(e); }
//!     }
//! }
//! warehouse.finish()?;
//! println!("{}", warehouse.summary());
//! # Ok(()) }
//! ```
//!
//! [`abort`]: LocalWarehouse::abort

mod catalog;
mod clock;
mod error;
mod lock;
mod query;
pub use query::base64;
mod records;
mod row_id;
mod summary;
mod tables;
mod values;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::debug::naming::Naming;
use crate::debug::state_file::{compact_state, StateFile};
use crate::proto::{
    schema_change, schema_response, update_response::Operation, SchemaResponse, UpdateResponse,
};

use catalog::Table;
use clock::SyncClock;
use error::SqliteContext;

pub use error::WarehouseError;
pub use query::{RowCounts, TableInfo};
pub use summary::{OperationCounts, SyncSummary, TableName};

/// The file name of the warehouse inside the `files` directory.
pub const WAREHOUSE_FILE_NAME: &str = "warehouse.db";

/// The destination schema of tables that declare none, as in Fivetran's local tester.
pub const DEFAULT_DESTINATION_SCHEMA: &str = "tester";

const NAMING_KEY: &str = "naming_strategy";
const DEFERRED_KEY: &str = "deferred_truncates";

type Result<T, E = WarehouseError> = std::result::Result<T, E>;

/// How to open the warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseOptions {
    /// Naming strategy. The first sync of a warehouse file fixes it: a later different choice is ignored
    /// with a warning, as `fivetran debug` does (see [`LocalWarehouse::naming`]).
    pub naming: Naming,
    /// Schema of tables that declare none; declared schemas become `<this>_<schema>` under Fivetran naming.
    pub destination_schema: String,
    /// The state to start from instead of `state.json` (a JSON object).
    pub starting_state: Option<String>,
}

impl Default for WarehouseOptions {
    /// Fivetran naming, schema `tester`, state from `state.json`.
    fn default() -> Self {
        Self {
            naming: Naming::Fivetran,
            destination_schema: DEFAULT_DESTINATION_SCHEMA.to_owned(),
            starting_state: None,
        }
    }
}

/// What applying one `UpdateResponse` did, for the runner to report or act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// This many records were applied.
    Records(usize),
    /// A `Truncate` message was applied (or, if deferred, noted for the end of the sync).
    Truncated,
    /// A `SchemaChange` was applied.
    SchemaChanged,
    /// A checkpoint: the transaction committed and this state (compacted) was written.
    Checkpointed(String),
    /// A warning for the user; the sync goes on.
    Warning(Alert),
    /// A task (an error for the user): the sync must end; the runner calls [`LocalWarehouse::abort`].
    Task(Alert),
    /// Nothing was stored, for the reason given (an empty response, a file chunk).
    Skipped(&'static str),
}

/// A `Warning` or `Task` text: the Connector SDK's JSON `{"message": …, "trace": …}`, or plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The message for the user.
    pub message: String,
    /// A stack trace, when the connector sent one.
    pub trace: Option<String>,
}

impl Alert {
    /// Reads the JSON form, falling back to the raw text as the message.
    pub fn parse(raw: &str) -> Self {
        #[derive(serde::Deserialize)]
        struct Json {
            message: String,
            #[serde(default)]
            trace: Option<String>,
        }
        match serde_json::from_str::<Json>(raw) {
            Ok(json) => Alert {
                message: json.message,
                trace: json.trace,
            },
            Err(_) => Alert {
                message: raw.to_owned(),
                trace: None,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Open,
    Failed(String),
    Finished,
    Aborted,
}

/// The SQLite warehouse of one local sync. See the module documentation for the semantics.
///
/// Call order: [`open`](Self::open), [`apply_schema`](Self::apply_schema), [`apply`](Self::apply) for each
/// `UpdateResponse` (a checkpoint commits), then [`finish`](Self::finish) when the stream ended well or
/// [`abort`](Self::abort) when it failed; [`summary`](Self::summary) and the query helpers work at any time.
/// After an error from any method the sync has failed: only `abort` is accepted.
pub struct LocalWarehouse {
    conn: Connection,
    state: StateFile,
    starting_state: String,
    naming: Naming,
    destination_schema: String,
    tables: Vec<Table>,
    /// Folded SQLite table name → table.
    by_sqlite_name: HashMap<String, usize>,
    /// Source schema (`""` for none) → source table name → table.
    by_source: HashMap<String, HashMap<String, usize>>,
    clock: SyncClock,
    /// Deferred truncates waiting for the end of the sync: table → cutoff (`_fivetran_synced` text).
    deferred: BTreeMap<usize, String>,
    deferred_saved: bool,
    phase: Phase,
    checkpoints: u64,
    warnings: u64,
    tasks: u64,
    /// Counts of tables forgotten by a rollback.
    retired: SyncSummary,
    file_chunks_reported: bool,
    /// Held while open: one writer per directory. Declared last, so it is released after the
    /// connection closes.
    _lock: lock::DirLock,
}

impl LocalWarehouse {
    /// Opens (or creates) `<files_dir>/warehouse.db` and reads `<files_dir>/state.json`, creating the
    /// directory if needed, and begins the sync's first transaction.
    pub fn open(files_dir: impl AsRef<Path>, options: WarehouseOptions) -> Result<Self> {
        let dir = files_dir.as_ref();
        fs::create_dir_all(dir).map_err(|source| WarehouseError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let lock = lock::DirLock::acquire(dir)?;
        if options.destination_schema.is_empty() {
            return Err(WarehouseError::EmptyName {
                kind: "schema",
                source_name: String::new(),
                context: "the warehouse options".to_owned(),
            });
        }
        let path = dir.join(WAREHOUSE_FILE_NAME);
        let conn = Connection::open(&path).context(|| format!("opening {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5))
            .and_then(|()| {
                conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            })
            .and_then(|()| conn.execute_batch(&catalog::system_tables_sql()))
            .context(|| format!("preparing {}", path.display()))?;
        conn.set_prepared_statement_cache_capacity(256);
        let naming = fixed_naming(&conn, options.naming)?;

        let state = StateFile::in_dir(dir);
        let saved = state.read()?;
        let fresh = saved.is_none() && options.starting_state.is_none();
        let starting_state = match options.starting_state {
            Some(text) => compact_state(&text)?,
            None => saved.unwrap_or_else(|| "{}".to_owned()),
        };

        conn.execute_batch("BEGIN")
            .context(|| "beginning a transaction".to_owned())?;
        let mut warehouse = LocalWarehouse {
            conn,
            state,
            starting_state,
            naming,
            destination_schema: options.destination_schema,
            tables: Vec::new(),
            by_sqlite_name: HashMap::new(),
            by_source: HashMap::new(),
            clock: SyncClock::new(),
            deferred: BTreeMap::new(),
            deferred_saved: false,
            phase: Phase::Open,
            checkpoints: 0,
            warnings: 0,
            tasks: 0,
            retired: SyncSummary::default(),
            file_chunks_reported: false,
            _lock: lock,
        };
        warehouse.load_catalog()?;
        warehouse.resume_deferred_truncates(fresh)?;
        Ok(warehouse)
    }

    /// The state the sync starts from: `state.json` compacted (or the option's state), `{}` when there is none.
    pub fn starting_state(&self) -> &str {
        &self.starting_state
    }

    /// The naming strategy in force (the one the warehouse file was first synced with).
    pub fn naming(&self) -> Naming {
        self.naming
    }

    /// Where the state is kept.
    pub fn state_file(&self) -> &StateFile {
        &self.state
    }

    /// Declares the tables of a `Schema` response: creates each one (or adds the declared columns it lacks)
    /// with its declared key. `schema_response_not_supported` declares nothing: tables come from records.
    pub fn apply_schema(&mut self, schema: &SchemaResponse) -> Result<()> {
        self.guarded("apply the schema", |w| match &schema.response {
            None | Some(schema_response::Response::SchemaResponseNotSupported(_)) => Ok(()),
            Some(schema_response::Response::WithSchema(list)) => {
                list.schemas.iter().try_for_each(|s| {
                    s.tables
                        .iter()
                        .try_for_each(|t| w.declare(Some(&s.name), t))
                })
            }
            Some(schema_response::Response::WithoutSchema(list)) => {
                list.tables.iter().try_for_each(|t| w.declare(None, t))
            }
        })
    }

    /// Applies one `UpdateResponse` of the stream. A checkpoint commits and writes the state (see
    /// [`checkpoint`](Self::checkpoint)); a task is returned for the runner to end the sync.
    pub fn apply(&mut self, response: &UpdateResponse) -> Result<Applied> {
        self.guarded("apply an update", |w| w.apply_operation(response))
    }

    /// Commits everything applied since the last checkpoint, then replaces `state.json` with `state_json`
    /// (compacted) atomically. A state that is not a JSON object is refused before anything is committed.
    pub fn checkpoint(&mut self, state_json: &str) -> Result<()> {
        self.guarded("checkpoint", |w| w.commit_checkpoint(state_json).map(drop))
    }

    /// Ends a sync whose stream ended well: applies the deferred truncates, commits what came after the last
    /// checkpoint (the state stays that checkpoint's), and, if the sync never checkpointed, writes the starting
    /// state to `state.json`, as Fivetran's tester does.
    pub fn finish(&mut self) -> Result<()> {
        self.guarded("finish", |w| w.commit_finish())
    }

    /// Ends a failed sync: rolls back everything after the last checkpoint. The state file is not touched, so it
    /// stays at the last checkpoint. Does nothing after `finish` or an earlier `abort`.
    pub fn abort(&mut self) -> Result<()> {
        if matches!(self.phase, Phase::Finished | Phase::Aborted) {
            return Ok(());
        }
        self.phase = Phase::Aborted;
        if !self.conn.is_autocommit() {
            self.conn
                .execute_batch("ROLLBACK")
                .context(|| "rolling back the failed sync".to_owned())?;
        }
        // What the catalog learned after the last checkpoint is gone from the file too.
        for table in std::mem::take(&mut self.tables) {
            self.retired.add_table(table.name, &table.counts);
        }
        self.deferred.clear();
        self.load_catalog()
    }

    /// The counts so far, per table and in total.
    pub fn summary(&self) -> SyncSummary {
        let mut summary = self.retired.clone();
        for table in &self.tables {
            summary.add_table(table.name.clone(), &table.counts);
        }
        summary.checkpoints = self.checkpoints;
        summary.warnings = self.warnings;
        summary.tasks = self.tasks;
        summary
    }

    /// Runs `f` unless the sync has ended or failed; an error from `f` fails the sync.
    fn guarded<T>(
        &mut self,
        operation: &'static str,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        match &self.phase {
            Phase::Open => {}
            Phase::Failed(cause) => {
                return Err(WarehouseError::AlreadyFailed {
                    operation,
                    cause: cause.clone(),
                })
            }
            Phase::Finished => {
                return Err(WarehouseError::Ended {
                    operation,
                    how: "finished",
                })
            }
            Phase::Aborted => {
                return Err(WarehouseError::Ended {
                    operation,
                    how: "been aborted",
                })
            }
        }
        let result = f(self);
        if let Err(e) = &result {
            self.phase = Phase::Failed(e.to_string());
        }
        result
    }

    fn apply_operation(&mut self, response: &UpdateResponse) -> Result<Applied> {
        let Some(operation) = &response.operation else {
            return Ok(Applied::Skipped("empty update response"));
        };
        match operation {
            Operation::StructuredRecords(batch) => {
                self.clock.refresh();
                for record in &batch.structured_records {
                    self.apply_record(record)?;
                }
                Ok(Applied::Records(batch.structured_records.len()))
            }
            Operation::StructuredRecord(record) => {
                self.clock.refresh();
                self.apply_record(record)?;
                Ok(Applied::Records(1))
            }
            Operation::Truncate(truncate) => {
                let t = self.table_for(truncate.schema_name.as_deref(), &truncate.table_name)?;
                self.truncate(t, truncate.deferred)?;
                Ok(Applied::Truncated)
            }
            Operation::Checkpoint(checkpoint) => {
                let state = self.commit_checkpoint(&checkpoint.state_json)?;
                Ok(Applied::Checkpointed(state))
            }
            Operation::Warning(warning) => {
                self.warnings += 1;
                Ok(Applied::Warning(Alert::parse(&warning.message)))
            }
            Operation::Task(task) => {
                self.tasks += 1;
                Ok(Applied::Task(Alert::parse(&task.message)))
            }
            Operation::SchemaChange(change) => {
                match &change.change {
                    Some(schema_change::Change::WithSchema(list)) => {
                        for schema in &list.schemas {
                            for table in &schema.tables {
                                self.declare(Some(&schema.name), table)?;
                            }
                        }
                    }
                    Some(schema_change::Change::WithoutSchema(list)) => {
                        for table in &list.tables {
                            self.declare(None, table)?;
                        }
                    }
                    None => {}
                }
                Ok(Applied::SchemaChanged)
            }
            Operation::UnstructuredRecord(_) => {
                if !self.file_chunks_reported {
                    self.file_chunks_reported = true;
                    tracing::warn!("file uploads are not stored by the local warehouse");
                }
                Ok(Applied::Skipped(
                    "file uploads are not stored by the local warehouse",
                ))
            }
        }
    }

    fn commit_checkpoint(&mut self, state_json: &str) -> Result<String> {
        let state = compact_state(state_json)?;
        self.save_deferred_truncates()?;
        self.conn
            .execute_batch("COMMIT; BEGIN;")
            .context(|| "committing at a checkpoint".to_owned())?;
        // Only now: the state must never be ahead of the committed rows.
        self.state.write(&state)?;
        self.checkpoints += 1;
        Ok(state)
    }

    fn commit_finish(&mut self) -> Result<()> {
        for (t, cutoff) in std::mem::take(&mut self.deferred) {
            self.truncate_before(t, &cutoff)?;
        }
        catalog::set_metadata(&self.conn, DEFERRED_KEY, None)?;
        self.conn
            .execute_batch("COMMIT")
            .context(|| "committing at the end of the sync".to_owned())?;
        if self.checkpoints == 0 {
            self.state.write(&self.starting_state)?;
        }
        self.phase = Phase::Finished;
        Ok(())
    }

    /// Keeps the deferred truncates in the transaction a checkpoint commits: a sync that fails after it does not
    /// lose them (its state will not make the connector send them again); the next sync applies them.
    fn save_deferred_truncates(&mut self) -> Result<()> {
        if self.deferred.is_empty() && !self.deferred_saved {
            return Ok(());
        }
        let pending: Vec<[&str; 2]> = self
            .deferred
            .iter()
            .map(|(&t, cutoff)| [self.tables[t].sqlite_name.as_str(), cutoff.as_str()])
            .collect();
        let text = serde_json::to_string(&pending).unwrap_or_default();
        catalog::set_metadata(
            &self.conn,
            DEFERRED_KEY,
            (!pending.is_empty()).then_some(text.as_str()),
        )?;
        self.deferred_saved = !pending.is_empty();
        Ok(())
    }

    /// Takes up the deferred truncates a failed sync left. A sync that starts with no state is a new one: what
    /// was kept belonged to the state it no longer has, so it is dropped.
    fn resume_deferred_truncates(&mut self, fresh: bool) -> Result<()> {
        let Some(text) = catalog::metadata(&self.conn, DEFERRED_KEY)? else {
            return Ok(());
        };
        self.deferred_saved = true;
        if fresh {
            tracing::warn!("the deferred truncates an earlier sync left are dropped: this sync starts with no state");
            return Ok(());
        }
        let pending: Vec<(String, String)> =
            serde_json::from_str(&text).map_err(|e| WarehouseError::Damaged {
                table: catalog::METADATA_TABLE.to_owned(),
                reason: format!("deferred truncates are not readable: {e}"),
            })?;
        for (sqlite_name, cutoff) in pending {
            if let Some(&t) = self.by_sqlite_name.get(&sqlite_name.to_ascii_lowercase()) {
                self.deferred.insert(t, cutoff);
            }
        }
        Ok(())
    }

    fn load_catalog(&mut self) -> Result<()> {
        self.tables = catalog::load_all(&self.conn)?;
        self.by_sqlite_name = self
            .tables
            .iter()
            .enumerate()
            .map(|(t, table)| (table.sqlite_name.to_ascii_lowercase(), t))
            .collect();
        self.by_source.clear();
        Ok(())
    }
}

impl Drop for LocalWarehouse {
    /// A warehouse dropped without `finish` rolls back what came after the last checkpoint, like `abort`.
    fn drop(&mut self) {
        if !self.conn.is_autocommit() {
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                tracing::warn!(error = %e, "cannot roll back the unfinished sync");
            }
        }
    }
}

/// The naming strategy of the warehouse file: the first sync's choice is kept for good.
fn fixed_naming(conn: &Connection, wanted: Naming) -> Result<Naming> {
    match catalog::metadata(conn, NAMING_KEY)? {
        None => {
            catalog::set_metadata(conn, NAMING_KEY, Some(wanted.as_str()))?;
            Ok(wanted)
        }
        Some(stored) => {
            let stored = stored
                .parse::<Naming>()
                .map_err(|e| WarehouseError::Damaged {
                    table: catalog::METADATA_TABLE.to_owned(),
                    reason: e.to_string(),
                })?;
            if stored != wanted {
                tracing::warn!(kept = %stored, asked = %wanted,
                    "ignored naming option: the naming strategy of a warehouse cannot change after its first sync");
            }
            Ok(stored)
        }
    }
}
