//! One sync: settle the stream position, snapshot the tables that need it, then stream the slot.
//!
//! **Position.** A fresh sync creates the slot on a replication connection with `EXPORT_SNAPSHOT` and
//! reads the tables in that snapshot: the slot's consistent point is exactly where the snapshot stands.
//! When the slot already exists, its `confirmed_flush_lsn` is noted first and the snapshot is taken
//! after it; streaming from the noted position then replays every change committed after it, some
//! of which the snapshot already holds. Replayed inserts and updates are upserts by key and deletes
//! are deletes by key, so applying a change twice leaves the same row: the end state is exact
//! (docs/databases.md).
//!
//! **Snapshot.** Each table is read in primary-key order in chunks of `chunk_rows` with `COPY (SELECT
//! ... WHERE key > last ORDER BY key LIMIT n) TO STDOUT`, a checkpoint after each chunk; a resumed
//! snapshot continues after the last key (in a new snapshot, and the replay from the noted position
//! makes up for the difference, as above). A table is (re)snapshotted when it is new, or when it has
//! columns its last snapshot did not cover (a column added with a default is only in the catalog).
//!
//! **Stream.** From the state's LSN to the end of the WAL inserted when streaming starts (so every
//! commit that had returned, also an asynchronous one), or until the stream stalls short of it, or
//! `max_stream_seconds`: changes are emitted as they arrive (memory does not grow with a
//! transaction) and the LSN is checkpointed only at a commit. The slot is confirmed only up to the
//! LSN of the state this sync started from: Fivetran handed that state back, so everything before it
//! is committed at the destination.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_postgres::Client;

use super::catalog::{self, quote_ident, quote_literal, Column, Table};
use super::config::Config;
use super::error::PgError;
use super::pgoutput::{self, Datum, Decoded, RelationColumn};
use super::replication::{Lsn, ReplicationClient, ReplicationStream, StreamEvent};
use super::scan::{names, value, Scan, Start};
use super::types::scalar_kind;
use crate::sdk::{ColumnName, ConnectorState, Emitter, Error, Row, Value};

/// Checkpoint the stream at a commit once this long has passed since the last checkpoint.
const STREAM_CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// How long the stream may go without data or a keepalive that moves its position before it ends
/// short of its target. The target is flushed before streaming, so this is only a guard against a
/// server that stops sending.
const STALLED_AFTER: Duration = Duration::from_secs(10);

/// The snapshot in progress: the table and the key of its last emitted row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Copying {
    /// Destination table name.
    pub table: String,
    /// The last emitted row's key values as text, in key order; `None` before the first chunk.
    pub after: Option<Vec<String>>,
}

/// The PostgreSQL connector's state (version 1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresState {
    /// Streaming resumes here; `None` before a sync settled the position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lsn: Option<Lsn>,
    /// Tables whose snapshot is complete, with the columns that snapshot read.
    #[serde(default)]
    pub tables: BTreeMap<String, Vec<String>>,
    /// The snapshot in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copying: Option<Copying>,
    /// The cursor update method: per destination table, where its next read starts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cursors: BTreeMap<String, CursorPosition>,
}

/// Where the cursor method's next read of a table starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CursorPosition {
    /// The cursor column (a different configured column starts the table over).
    pub column: String,
    /// The cursor value (text) the next read starts at: rows at or past it are read; `None` reads
    /// every row whose cursor has a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Within a read: the key of the last emitted row whose cursor is `value`; the read goes on
    /// strictly after `(value, after)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Vec<String>>,
}

impl ConnectorState for PostgresState {
    const VERSION: u32 = 1;
}

/// Figures a sync reports in its log line.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    snapshot_rows: u64,
    changes: u64,
    commits: u64,
}

/// Runs one sync.
pub async fn run(
    config: &Config,
    mut state: PostgresState,
    out: &mut Emitter,
) -> Result<(), Error> {
    if !state.cursors.is_empty() {
        return Err(PgError::Resync(
            "the state was written by the cursor update method and the configuration now says logical_replication (the update method changed)".to_owned(),
        )
        .into());
    }
    let client = catalog::connect(config).await?;
    let tables: Vec<Table> = catalog::tables(&client, config)
        .await?
        .into_iter()
        .filter(|t| out.is_selected(&t.dest))
        .collect();
    let acknowledged = state.lsn.unwrap_or_default();
    let slot = catalog::slot(&client, &config.slot).await?;
    let mut exported = None;
    match (state.lsn, slot) {
        (Some(lsn), None) => {
            return Err(PgError::Resync(format!(
                "replication slot '{}' no longer exists (the state is at {lsn})",
                config.slot
            ))
            .into())
        }
        (Some(lsn), Some(info)) => check_slot(config, &info, Some(lsn))?,
        (None, Some(info)) => {
            check_slot(config, &info, None)?;
            state.lsn = info.confirmed_flush;
            tracing::info!(slot = %config.slot, lsn = ?state.lsn, "the slot exists: snapshot after its position, then replay from it");
        }
        (None, None) => {
            let mut repl = ReplicationClient::connect(&catalog::connect_params(config)).await?;
            let (lsn, snapshot) = repl.create_slot(&config.slot).await.map_err(|e| match e.code() {
                Some("42501") => PgError::Setup(format!(
                    "the role '{}' may not create replication slots: {e}; run: ALTER ROLE {} WITH REPLICATION;",
                    config.user,
                    quote_ident(&config.user)
                )),
                _ => e,
            })?;
            tracing::info!(slot = %config.slot, %lsn, "created the replication slot with an exported snapshot");
            state.lsn = Some(lsn);
            exported = Some((repl, snapshot));
        }
    }

    let mut counts = Counts::default();
    let pending: Vec<&Table> = tables
        .iter()
        .filter(|t| needs_snapshot(&state, t))
        .collect();
    if !pending.is_empty() {
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| PgError::sql("cannot begin the snapshot transaction", e))?;
        if let Some((repl, snapshot)) = exported.take() {
            client
                .batch_execute(&format!(
                    "SET TRANSACTION SNAPSHOT {}",
                    quote_literal(&snapshot)
                ))
                .await
                .map_err(|e| PgError::sql("cannot import the exported snapshot", e))?;
            // Imported: the exporting connection may go now.
            drop(repl);
        }
        // A snapshot in progress finishes first.
        let mut ordered = pending;
        ordered.sort_by_key(|t| state.copying.as_ref().is_none_or(|c| c.table != t.dest));
        for table in ordered {
            counts.snapshot_rows += snapshot_table(&client, config, table, &mut state, out).await?;
        }
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| PgError::sql("cannot end the snapshot transaction", e))?;
    }
    drop(exported);

    stream(
        config,
        &client,
        &tables,
        &mut state,
        acknowledged,
        out,
        &mut counts,
    )
    .await?;
    tracing::info!(
        snapshot_rows = counts.snapshot_rows,
        changes = counts.changes,
        commits = counts.commits,
        lsn = ?state.lsn,
        "postgres sync done"
    );
    Ok(())
}

fn check_slot(config: &Config, info: &catalog::SlotInfo, lsn: Option<Lsn>) -> Result<(), PgError> {
    if info.plugin.as_deref() != Some("pgoutput") {
        return Err(PgError::Setup(format!(
            "replication slot '{}' uses plugin {:?}, not pgoutput; drop it (SELECT pg_drop_replication_slot('{}');) or name another slot",
            config.slot, info.plugin, config.slot
        )));
    }
    if info.database.as_deref() != Some(config.database.as_str()) {
        return Err(PgError::Setup(format!(
            "replication slot '{}' belongs to database {:?}, not '{}'; name another slot",
            config.slot, info.database, config.database
        )));
    }
    if info.wal_status.as_deref() == Some("lost") {
        return Err(PgError::Resync(format!(
            "replication slot '{}' lost WAL it needed (wal_status = lost; raise max_slot_wal_keep_size)",
            config.slot
        )));
    }
    if let (Some(lsn), Some(confirmed)) = (lsn, info.confirmed_flush) {
        if confirmed > lsn {
            return Err(PgError::Resync(format!(
                "replication slot '{}' was moved on to {confirmed} past this connector's position {lsn} (another consumer?)",
                config.slot
            )));
        }
    }
    Ok(())
}

pub(super) fn needs_snapshot(state: &PostgresState, table: &Table) -> bool {
    if state
        .copying
        .as_ref()
        .is_some_and(|c| c.table == table.dest)
    {
        return true;
    }
    match state.tables.get(&table.dest) {
        None => true,
        Some(covered) => table
            .columns
            .iter()
            .any(|c| !covered.iter().any(|k| **k == *c.name)),
    }
}

/// Reads `table` in primary-key order, `chunk_rows` at a time from where `state.copying` left it, with
/// a checkpoint after each chunk; at the end the table's columns go into `state.tables`.
pub(super) async fn snapshot_table(
    client: &Client,
    config: &Config,
    table: &Table,
    state: &mut PostgresState,
    out: &mut Emitter,
) -> Result<u64, Error> {
    let mut after = state
        .copying
        .as_ref()
        .filter(|c| c.table == table.dest)
        .and_then(|c| c.after.clone());
    state.tables.remove(&table.dest);
    state.copying = Some(Copying {
        table: table.dest.clone(),
        after: after.clone(),
    });
    let scan = Scan::new(table, table.keys.clone());
    // Tables without a key are read whole in one pass (no order to resume by).
    let limit = (!table.keys.is_empty()).then_some(config.chunk_rows);
    let mut total = 0u64;
    loop {
        let start = after.as_deref().map_or(Start::First, Start::After);
        let chunk = scan.chunk(client, start, limit, out).await?;
        total += chunk.rows;
        if limit.is_none_or(|n| chunk.rows < n) || out.table_full(&table.dest) {
            state.copying = None;
            state.tables.insert(
                table.dest.clone(),
                table.columns.iter().map(|c| c.name.to_string()).collect(),
            );
            out.checkpoint(state).await?;
            return Ok(total);
        }
        after = chunk.last;
        state.copying = Some(Copying {
            table: table.dest.clone(),
            after: after.clone(),
        });
        out.checkpoint(state).await?;
    }
}

/// A relation as the stream describes it, bound to a synced table.
struct Bound {
    table: Table,
    /// Per stream column: its position in `table.columns` (columns added mid-sync are appended).
    columns: Vec<usize>,
    names: Vec<ColumnName>,
    /// The stream's layout predates columns the catalog has (a change from before `ADD COLUMN`,
    /// replayed after the table's new snapshot): its rows are sent as updates of the columns they
    /// have, so a replayed old change never blanks a newer column.
    older: bool,
}

fn bind(
    tables: &[Table],
    schema: &str,
    name: &str,
    stream_columns: &[RelationColumn],
) -> Option<Bound> {
    let mut table = tables
        .iter()
        .find(|t| t.schema == schema && t.name == name)?
        .clone();
    let older = table
        .columns
        .iter()
        .any(|k| !stream_columns.iter().any(|c| c.name == *k.name));
    let mut columns = Vec::with_capacity(stream_columns.len());
    for c in stream_columns {
        let at = match table.columns.iter().position(|k| *k.name == c.name) {
            Some(at) => at,
            None => {
                table.columns.push(Column {
                    name: Arc::from(c.name.as_str()),
                    kind: scalar_kind(c.type_oid, c.typmod),
                    sql_type: String::new(),
                    key: None,
                });
                table.columns.len() - 1
            }
        };
        columns.push(at);
    }
    let names = names(&table);
    Some(Bound {
        table,
        columns,
        names,
        older,
    })
}

/// The stream's text for a datum.
fn text(d: &Datum) -> Option<&str> {
    match d {
        Datum::Text(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

impl Bound {
    fn key_text(&self, tuple: &[Datum]) -> String {
        self.columns
            .iter()
            .zip(tuple)
            .filter(|(at, _)| self.table.columns[**at].key.is_some())
            .map(|(_, d)| text(d).unwrap_or("null"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A row of the tuple's columns; `only_key` keeps just the key (all columns for a keyless table);
    /// unchanged TOASTed values are left out (or taken from `old` when they are key columns).
    fn row(
        &self,
        out: &mut Emitter,
        tuple: &[Datum],
        old: Option<&[Datum]>,
        only_key: bool,
    ) -> (Row, bool) {
        let keyless = self.table.keys.is_empty();
        let mut row = Row::with_capacity(tuple.len());
        let mut partial = false;
        let key = || self.key_text(tuple);
        for (i, (&at, d)) in self.columns.iter().zip(tuple).enumerate() {
            let column = &self.table.columns[at];
            if only_key && !keyless && column.key.is_none() {
                continue;
            }
            let d = match d {
                Datum::Unchanged => match old.and_then(|o| o.get(i)) {
                    Some(o @ Datum::Text(_)) if column.key.is_some() => o,
                    _ => {
                        partial = true;
                        continue;
                    }
                },
                d => d,
            };
            let v = match d {
                Datum::Null => Value::Null,
                d => value(out, &self.table, column, &key, text(d)),
            };
            row.set(self.names[at].clone(), v);
        }
        (row, partial)
    }

    fn keys_differ(&self, old: &[Datum], new: &[Datum]) -> bool {
        self.columns.iter().enumerate().any(|(i, &at)| {
            self.table.columns[at].key.is_some()
                && matches!((old.get(i), new.get(i)), (Some(a @ Datum::Text(_)), Some(b @ Datum::Text(_))) if a != b)
        })
    }
}

/// Starts streaming; while the walsender of a sync that just ended still holds the slot (SQLSTATE
/// 55006, for a moment after it disconnected), waits and tries again.
async fn start_stream(
    config: &Config,
    from: Lsn,
    acknowledged: Lsn,
) -> Result<ReplicationStream, PgError> {
    let mut attempts = 0;
    loop {
        let repl = ReplicationClient::connect(&catalog::connect_params(config)).await?;
        match repl
            .start(&config.slot, from, &config.publication, acknowledged)
            .await
        {
            Err(e) if e.code() == Some("55006") && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

async fn stream(
    config: &Config,
    client: &Client,
    tables: &[Table],
    state: &mut PostgresState,
    acknowledged: Lsn,
    out: &mut Emitter,
    counts: &mut Counts,
) -> Result<(), Error> {
    let from = state.lsn.unwrap_or_default();
    let target = catalog::stream_target(client).await?;
    let mut stream = start_stream(config, from, acknowledged).await?;
    let deadline = Instant::now() + Duration::from_secs(config.max_stream_seconds);
    let mut relations: HashMap<u32, Option<Bound>> = HashMap::new();
    let mut position = from;
    let mut in_transaction = false;
    let mut since_checkpoint = 0u64;
    let mut last_checkpoint = Instant::now();
    // Keepalives come often and prove nothing by their number (the server sends one whenever it
    // waits for WAL while the client's reported position is behind its own): only progress counts.
    let mut progressed = Instant::now();
    loop {
        if !in_transaction
            && (position >= target
                || progressed.elapsed() >= STALLED_AFTER
                || Instant::now() >= deadline)
        {
            break;
        }
        let data = match stream.next().await? {
            StreamEvent::Tick => continue,
            StreamEvent::Keepalive { wal_end } => {
                if !in_transaction && wal_end > position {
                    // Every transaction committed before the sender's position was sent, and
                    // nothing is open: one still open commits later and is sent then.
                    position = wal_end;
                    progressed = Instant::now();
                }
                continue;
            }
            StreamEvent::Data { data, .. } => data,
        };
        progressed = Instant::now();
        let message = pgoutput::decode(data).map_err(|e| PgError::Protocol(e.to_string()))?;
        match message {
            Decoded::Begin => in_transaction = true,
            Decoded::Commit { end } => {
                in_transaction = false;
                counts.commits += 1;
                position = position.max(end);
                state.lsn = Some(position);
                if since_checkpoint > 0
                    && (since_checkpoint >= config.chunk_rows
                        || last_checkpoint.elapsed() >= STREAM_CHECKPOINT_EVERY)
                {
                    out.checkpoint(state).await?;
                    since_checkpoint = 0;
                    last_checkpoint = Instant::now();
                }
            }
            Decoded::Relation {
                id,
                schema,
                name,
                columns,
            } => {
                relations.insert(id, bind(tables, &schema, &name, &columns));
            }
            Decoded::Insert { id, new } => {
                let Some(Some(bound)) = relations.get(&id) else {
                    continue;
                };
                let (row, _) = bound.row(out, &new, None, false);
                if bound.older {
                    out.update(&bound.table.dest, &row).await?;
                } else {
                    out.upsert(&bound.table.dest, &row).await?;
                }
                since_checkpoint += 1;
                counts.changes += 1;
            }
            Decoded::Update { id, old, new } => {
                let Some(Some(bound)) = relations.get(&id) else {
                    continue;
                };
                let dest = &bound.table.dest;
                if let Some(old) = &old {
                    if bound.table.keys.is_empty() {
                        // REPLICA IDENTITY FULL on a keyless table: the old row goes, the new one comes.
                        let (row, _) = bound.row(out, old, None, true);
                        out.delete(dest, &row).await?;
                    } else if bound.keys_differ(old, &new) {
                        let (keys, _) = bound.row(out, old, None, true);
                        out.delete(dest, &keys).await?;
                    }
                }
                let (row, partial) = bound.row(out, &new, old.as_deref(), false);
                if partial || bound.older {
                    out.update(dest, &row).await?;
                } else {
                    out.upsert(dest, &row).await?;
                }
                since_checkpoint += 1;
                counts.changes += 1;
            }
            Decoded::Delete { id, old } => {
                let Some(Some(bound)) = relations.get(&id) else {
                    continue;
                };
                let (keys, _) = bound.row(out, &old, None, true);
                out.delete(&bound.table.dest, &keys).await?;
                since_checkpoint += 1;
                counts.changes += 1;
            }
            Decoded::Truncate { ids } => {
                for id in ids {
                    if let Some(Some(bound)) = relations.get(&id) {
                        out.truncate(&bound.table.dest).await?;
                        since_checkpoint += 1;
                        counts.changes += 1;
                    }
                }
            }
            Decoded::Other => {}
        }
    }
    state.lsn = Some(position.max(from));
    out.checkpoint(state).await?;
    stream.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::types::Kind;
    use super::*;
    use crate::sdk::state::{parse_state, serialize_state};

    const GOLDEN_V1: &str = r#"{"version":1,"lsn":"0/1A2B3C4","tables":{"items":["id","body"],"sales_orders":["id","total"]},"copying":{"table":"people","after":["42","x"]}}"#;

    #[test]
    fn golden_state_v1_keeps_parsing() {
        let state: PostgresState = parse_state(Some(GOLDEN_V1)).unwrap();
        assert_eq!(state.lsn, Some(Lsn(0x1A2B3C4)));
        assert_eq!(state.tables["items"], vec!["id", "body"]);
        assert_eq!(
            state.copying,
            Some(Copying {
                table: "people".into(),
                after: Some(vec!["42".into(), "x".into()])
            })
        );
        assert_eq!(serialize_state(&state).unwrap(), GOLDEN_V1);
        let fresh: PostgresState = parse_state(Some("{}")).unwrap();
        assert_eq!(fresh, PostgresState::default());
        assert!(parse_state::<PostgresState>(Some(r#"{"version":1,"lsn":"nope"}"#)).is_err());
        assert!(parse_state::<PostgresState>(Some(r#"{"version":1,"slot_lsn":"0/1"}"#)).is_err());
    }

    const GOLDEN_V1_CURSOR: &str = r#"{"version":1,"tables":{"orders":["id","updated_at"]},"cursors":{"events":{"column":"at","value":"2024-01-01 00:00:00+00"},"orders":{"column":"updated_at","value":"2024-05-01 10:00:00.5+00","after":["42"]},"todo":{"column":"seq"}}}"#;

    #[test]
    fn golden_state_v1_of_the_cursor_method_keeps_parsing() {
        let state: PostgresState = parse_state(Some(GOLDEN_V1_CURSOR)).unwrap();
        assert_eq!(state.lsn, None);
        assert_eq!(
            state.cursors["orders"],
            CursorPosition {
                column: "updated_at".into(),
                value: Some("2024-05-01 10:00:00.5+00".into()),
                after: Some(vec!["42".into()]),
            }
        );
        assert_eq!(state.cursors["todo"].value, None);
        assert_eq!(serialize_state(&state).unwrap(), GOLDEN_V1_CURSOR);
        assert!(parse_state::<PostgresState>(Some(
            r#"{"version":1,"cursors":{"t":{"column":"c","since":"1"}}}"#
        ))
        .is_err());
    }

    fn table() -> Table {
        Table {
            schema: "public".into(),
            name: "t".into(),
            dest: "t".into(),
            columns: vec![
                Column {
                    name: "id".into(),
                    kind: Kind::Int,
                    sql_type: "integer".into(),
                    key: Some(0),
                },
                Column {
                    name: "body".into(),
                    kind: Kind::Text,
                    sql_type: "text".into(),
                    key: None,
                },
            ],
            keys: vec![0],
        }
    }

    #[test]
    fn a_table_is_snapshotted_again_when_it_gains_a_column() {
        let mut state = PostgresState::default();
        let t = table();
        assert!(needs_snapshot(&state, &t));
        state
            .tables
            .insert("t".into(), vec!["id".into(), "body".into()]);
        assert!(!needs_snapshot(&state, &t));
        state.tables.insert("t".into(), vec!["id".into()]);
        assert!(needs_snapshot(&state, &t));
        state
            .tables
            .insert("t".into(), vec!["id".into(), "body".into(), "gone".into()]);
        assert!(!needs_snapshot(&state, &t));
        state.copying = Some(Copying {
            table: "t".into(),
            after: None,
        });
        assert!(needs_snapshot(&state, &t));
    }

    #[test]
    fn stream_columns_bind_by_name_and_new_ones_are_appended() {
        let stream = [
            RelationColumn {
                key: false,
                name: "body".into(),
                type_oid: 25,
                typmod: -1,
            },
            RelationColumn {
                key: true,
                name: "id".into(),
                type_oid: 23,
                typmod: -1,
            },
            RelationColumn {
                key: false,
                name: "added".into(),
                type_oid: 20,
                typmod: -1,
            },
        ];
        let bound = bind(&[table()], "public", "t", &stream).unwrap();
        assert_eq!(bound.columns, vec![1, 0, 2]);
        assert!(!bound.older);
        assert!(bind(&[table()], "public", "t", &stream[1..]).unwrap().older);
        assert_eq!(bound.table.columns[2].kind, Kind::Long);
        assert!(bind(&[table()], "other", "t", &stream).is_none());
        let old = [
            Datum::Text("b".into()),
            Datum::Text("1".into()),
            Datum::Null,
        ];
        let new = [Datum::Unchanged, Datum::Text("2".into()), Datum::Null];
        assert!(bound.keys_differ(&old, &new));
        assert!(!bound.keys_differ(&old, &old));
    }
}
