//! One sync: settle the binlog position, snapshot the tables that need it, then stream the binlog.
//!
//! **Position.** Before a snapshot the binlog's current end is noted, then a transaction `WITH
//! CONSISTENT SNAPSHOT` is opened. On MariaDB `SHOW STATUS LIKE 'binlog_snapshot_%'` then gives the
//! exact binlog position of that snapshot and a fresh sync streams from it. On MySQL (no such status)
//! the noted position, taken before the snapshot, is used: streaming replays every change committed
//! after it, some of which the snapshot already holds. Replayed inserts and updates are upserts by key
//! and deletes are deletes by key, so applying a change twice leaves the same row: the end state is
//! exact (docs/databases.md). A later sync that snapshots a new table (or resumes a snapshot) keeps
//! the state's position, which is older than its snapshot, for the same reason.
//!
//! **Snapshot.** Each table is read in primary-key order in chunks of `chunk_rows` (`SELECT ... WHERE
//! (key) > (last) ORDER BY key LIMIT n`, prepared, so values arrive typed), a checkpoint after each
//! chunk; a resumed snapshot continues after the last key. A table is (re)snapshotted when it is new,
//! or when it has columns its last snapshot did not cover.
//!
//! **Stream.** From the state's position to the binlog's end at the start of streaming (or
//! `max_stream_seconds`), in non-blocking mode: row events are emitted as they arrive (memory does
//! not grow with a transaction) and the position is checkpointed only at a transaction's end (XID,
//! `COMMIT`, or a DDL statement, which is its own transaction).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mysql_async::binlog::events::{EventData, OptionalMetaExtractor, RowsEventData, TableMapEvent};
use mysql_async::binlog::row::BinlogRow;
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, Params, Row as MyRow, Value as My};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::binlog::{classify, Position, Statement};
use super::catalog::{self, quote_ident, Column, Table};
use super::config::Config;
use super::error::MyError;
use super::types::{Charset, Kind};
use crate::connectors::database::quoted_list;
use crate::sdk::{ColumnName, ConnectorState, Emitter, Error, Row, Value};

/// Checkpoint the stream at a commit once this long has passed since the last checkpoint.
const STREAM_CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The snapshot in progress: the table and the key of its last emitted row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Copying {
    /// Destination table name.
    pub table: String,
    /// The last emitted row's key values as text, in key order; `None` before the first chunk.
    pub after: Option<Vec<String>>,
}

/// The MySQL connector's state (version 1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlState {
    /// Streaming resumes here; `None` before a sync settled the position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// The server's GTID set when the position was settled (MariaDB `gtid_binlog_pos`, MySQL
    /// `gtid_executed`), where GTIDs are on; recorded for diagnosis, not used to resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid: Option<String>,
    /// Tables whose snapshot is complete, with the columns that snapshot read.
    #[serde(default)]
    pub tables: BTreeMap<String, Vec<String>>,
    /// The snapshot in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copying: Option<Copying>,
}

impl ConnectorState for MysqlState {
    const VERSION: u32 = 1;
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    snapshot_rows: u64,
    changes: u64,
    commits: u64,
}

/// Runs one sync.
pub async fn run(config: &Config, mut state: MysqlState, out: &mut Emitter) -> Result<(), Error> {
    let mut conn = catalog::connect(config).await?;
    let tables: Vec<Table> = catalog::tables(&mut conn, config)
        .await?
        .into_iter()
        .filter(|t| out.is_selected(&t.dest))
        .collect();
    if let Some(position) = &state.position {
        check_position(&mut conn, position).await?;
    }
    let mariadb = catalog::is_mariadb(&mut conn).await?;
    let mut counts = Counts::default();
    let pending: Vec<&Table> = tables
        .iter()
        .filter(|t| needs_snapshot(&state, t))
        .collect();
    if pending.is_empty() {
        if state.position.is_none() {
            state.position = Some(catalog::current_position(&mut conn).await?);
            state.gtid = gtid(&mut conn, mariadb).await?;
        }
    } else {
        let noted = catalog::current_position(&mut conn).await?;
        conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            .await
            .map_err(|e| MyError::sql("cannot begin the snapshot transaction", e))?;
        if state.position.is_none() {
            let exact = snapshot_position(&mut conn).await?;
            tracing::info!(noted = %noted, exact = ?exact, "binlog position of the snapshot");
            state.position = Some(exact.unwrap_or(noted));
            state.gtid = gtid(&mut conn, mariadb).await?;
        }
        let mut ordered = pending;
        ordered.sort_by_key(|t| state.copying.as_ref().is_none_or(|c| c.table != t.dest));
        for table in ordered {
            counts.snapshot_rows +=
                snapshot_table(&mut conn, config, table, &mut state, out).await?;
        }
        conn.query_drop("COMMIT")
            .await
            .map_err(|e| MyError::sql("cannot end the snapshot transaction", e))?;
    }
    stream(config, &mut conn, tables, &mut state, out, &mut counts).await?;
    tracing::info!(
        snapshot_rows = counts.snapshot_rows,
        changes = counts.changes,
        commits = counts.commits,
        position = ?state.position,
        "mysql sync done"
    );
    Ok(())
}

/// A position whose file the server no longer has means lost changes.
async fn check_position(conn: &mut Conn, position: &Position) -> Result<(), MyError> {
    let files = catalog::binlog_files(conn).await?;
    if !files.contains(&position.file) {
        return Err(MyError::Resync(format!(
            "binlog file '{}' (the state's position {position}) was purged from the server (it has {}); keep binlogs longer (binlog_expire_logs_seconds / expire_logs_days) than the time between syncs",
            position.file,
            match (files.first(), files.last()) {
                (Some(a), Some(b)) => format!("{a} to {b}"),
                _ => "none".into(),
            }
        )));
    }
    Ok(())
}

/// MariaDB's exact position of the open consistent snapshot (`None` on MySQL).
async fn snapshot_position(conn: &mut Conn) -> Result<Option<Position>, MyError> {
    let rows: Vec<(String, String)> = conn
        .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
        .await
        .map_err(|e| MyError::sql("cannot read the snapshot's binlog position", e))?;
    let get = |name: &str| rows.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    Ok(
        match (get("Binlog_snapshot_file"), get("Binlog_snapshot_position")) {
            (Some(file), Some(pos)) if !file.is_empty() => {
                pos.parse().ok().map(|pos| Position { file, pos })
            }
            _ => None,
        },
    )
}

async fn gtid(conn: &mut Conn, mariadb: bool) -> Result<Option<String>, MyError> {
    let name = if mariadb {
        "gtid_binlog_pos"
    } else {
        "gtid_executed"
    };
    Ok(catalog::variable(conn, name)
        .await
        .ok()
        .flatten()
        .filter(|g| !g.trim().is_empty()))
}

fn needs_snapshot(state: &MysqlState, table: &Table) -> bool {
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

fn names(table: &Table) -> Vec<ColumnName> {
    table
        .columns
        .iter()
        .map(|c| ColumnName::from(Arc::clone(&c.name)))
        .collect()
}

/// A key value as text for the state.
fn key_text(v: &My) -> String {
    match v {
        My::NULL => String::new(),
        My::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        My::Int(i) => i.to_string(),
        My::UInt(u) => u.to_string(),
        My::Float(f) => f.to_string(),
        My::Double(d) => d.to_string(),
        My::Date(y, m, d, h, mi, s, us) => {
            format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
        }
        My::Time(neg, days, h, m, s, us) => format!(
            "{}{}:{m:02}:{s:02}.{us:06}",
            if *neg { "-" } else { "" },
            *days as u64 * 24 + *h as u64
        ),
    }
}

/// A key's state text back as a statement parameter: integers as integers (a string compared with
/// an integer column is compared as a double, which loses precision past 2^53).
fn key_param(kind: &Kind, text: &str) -> My {
    match kind {
        Kind::Integer { .. } | Kind::Unsigned64 | Kind::Bool | Kind::Year => {
            if let Ok(i) = text.parse::<i64>() {
                return My::Int(i);
            }
            if let Ok(u) = text.parse::<u64>() {
                return My::UInt(u);
            }
            My::Bytes(text.as_bytes().to_vec())
        }
        _ => My::Bytes(text.as_bytes().to_vec()),
    }
}

fn unreadable(out: &mut Emitter, table: &Table, column: &Column, key: &str, v: &My) {
    let shown = match v {
        My::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    };
    out.issues().malformed(
        &table.dest,
        &column.name,
        key,
        &serde_json::Value::String(shown),
        false,
    );
}

async fn snapshot_table(
    conn: &mut Conn,
    config: &Config,
    table: &Table,
    state: &mut MysqlState,
    out: &mut Emitter,
) -> Result<u64, Error> {
    let resuming = state
        .copying
        .as_ref()
        .filter(|c| c.table == table.dest)
        .cloned();
    let mut after = resuming.and_then(|c| c.after);
    state.tables.remove(&table.dest);
    state.copying = Some(Copying {
        table: table.dest.clone(),
        after: after.clone(),
    });
    let names = names(table);
    let list = quoted_list(table.columns.iter().map(|c| &*c.name), quote_ident);
    let keys: Vec<&Column> = table.keys.iter().map(|&i| &table.columns[i]).collect();
    let order = quoted_list(keys.iter().map(|c| &*c.name), quote_ident);
    let mut total = 0u64;
    loop {
        let (sql, params) = if keys.is_empty() {
            // Tables without a key are read whole in one pass (no order to resume by).
            (
                format!("SELECT {list} FROM {}", table.quoted()),
                Params::Empty,
            )
        } else {
            match &after {
                None => (
                    format!(
                        "SELECT {list} FROM {} ORDER BY {order} LIMIT {}",
                        table.quoted(),
                        config.chunk_rows
                    ),
                    Params::Empty,
                ),
                Some(values) => {
                    let marks = vec!["?"; keys.len()].join(", ");
                    (
                        format!(
                            "SELECT {list} FROM {} WHERE ({order}) > ({marks}) ORDER BY {order} LIMIT {}",
                            table.quoted(),
                            config.chunk_rows
                        ),
                        Params::Positional(
                            values
                                .iter()
                                .zip(&keys)
                                .map(|(v, c)| key_param(&c.kind, v))
                                .collect(),
                        ),
                    )
                }
            }
        };
        let read_error = |e| MyError::sql(format!("cannot read table {}", table.quoted()), e);
        let mut result = conn
            .exec_iter(sql.as_str(), params)
            .await
            .map_err(read_error)?;
        let mut chunk_rows = 0u64;
        let mut last_key: Option<Vec<String>> = None;
        while let Some(my_row) = result.next().await.map_err(read_error)? {
            let values: Vec<My> = MyRow::unwrap(my_row);
            if values.len() != table.columns.len() {
                return Err(MyError::Binlog(format!(
                    "SELECT of {} gave {} values for {} columns",
                    table.quoted(),
                    values.len(),
                    table.columns.len()
                ))
                .into());
            }
            let key = || {
                table
                    .keys
                    .iter()
                    .map(|&i| key_text(&values[i]))
                    .collect::<Vec<_>>()
            };
            let mut row = Row::with_capacity(names.len());
            for (i, column) in table.columns.iter().enumerate() {
                let v = match column.kind.value(&values[i]) {
                    Some(v) => v,
                    None => {
                        unreadable(out, table, column, &key().join(","), &values[i]);
                        Value::Null
                    }
                };
                row.set(names[i].clone(), v);
            }
            out.upsert(&table.dest, &row).await?;
            if !keys.is_empty() {
                last_key = Some(key());
            }
            chunk_rows += 1;
        }
        drop(result);
        total += chunk_rows;
        let finished =
            keys.is_empty() || chunk_rows < config.chunk_rows || out.table_full(&table.dest);
        if finished {
            state.copying = None;
            state.tables.insert(
                table.dest.clone(),
                table.columns.iter().map(|c| c.name.to_string()).collect(),
            );
            out.checkpoint(state).await?;
            return Ok(total);
        }
        after = last_key;
        state.copying = Some(Copying {
            table: table.dest.clone(),
            after: after.clone(),
        });
        out.checkpoint(state).await?;
    }
}

/// A table as a binlog TABLE_MAP describes it, bound to a synced table: by the column names the map
/// carries (`binlog_row_metadata = FULL`), else by position (image column `i` is the table's column
/// `i`, `ORDINAL_POSITION` order).
struct Bound {
    table: Table,
    names: Vec<ColumnName>,
    /// Per image column: the table column it is (`None`: one the table no longer has).
    columns: Vec<Option<usize>>,
    /// Per table column: its image column (`None`: the image has no such column).
    image_of: Vec<Option<usize>>,
    /// The image lacks columns the catalog has (a change from before `ADD COLUMN`, replayed after the
    /// table's new snapshot): its rows are sent as updates of the columns they have, so a replayed
    /// old change never blanks a newer column.
    older: bool,
}

/// The column names a TABLE_MAP carries, when the server logs them (`binlog_row_metadata = FULL`).
fn image_names(tme: &TableMapEvent<'_>) -> Option<Vec<String>> {
    let meta = OptionalMetaExtractor::new(tme.iter_optional_meta()).ok()?;
    let names = meta
        .iter_column_name()
        .map(|n| n.map(|n| n.name().into_owned()))
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    (names.len() == tme.columns_count() as usize).then_some(names)
}

fn bind(
    tables: &[Table],
    database: &str,
    name: &str,
    image_columns: usize,
    image_names: Option<&[String]>,
) -> Option<Bound> {
    let table = tables
        .iter()
        .find(|t| t.database == database && t.name == name)?
        .clone();
    let columns: Vec<Option<usize>> = match image_names {
        Some(image) => image
            .iter()
            .map(|n| {
                table
                    .columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(n))
            })
            .collect(),
        None => (0..image_columns)
            .map(|i| (i < table.columns.len()).then_some(i))
            .collect(),
    };
    let mut image_of = vec![None; table.columns.len()];
    for (i, at) in columns.iter().enumerate() {
        if let Some(at) = *at {
            image_of[at] = Some(i);
        }
    }
    Some(Bound {
        names: names(&table),
        older: image_of.iter().any(Option::is_none),
        columns,
        image_of,
        table,
    })
}

impl Bound {
    /// The image's value of table column `at`.
    fn at<'r>(&self, row: &'r BinlogRow, at: usize) -> Option<&'r BinlogValue<'r>> {
        row.as_ref(self.image_of[at]?)
    }

    fn key_text(&self, row: &BinlogRow) -> String {
        self.table
            .keys
            .iter()
            .map(|&k| match self.at(row, k) {
                Some(BinlogValue::Value(v)) => key_text(v),
                _ => "null".into(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A row of the image's columns; `only_key` keeps just the key (all columns for a keyless
    /// table).
    fn row(&self, out: &mut Emitter, image: &BinlogRow, only_key: bool) -> Row {
        let keyless = self.table.keys.is_empty();
        let mut row = Row::with_capacity(self.columns.len());
        for (i, at) in self.columns.iter().enumerate() {
            let Some(at) = *at else { continue };
            let column = &self.table.columns[at];
            if only_key && !keyless && column.key.is_none() {
                continue;
            }
            let v = match image.as_ref(i) {
                None => continue,
                Some(BinlogValue::Value(v)) => match column.kind.binlog_value(&*match v {
                    My::Bytes(b) if column.charset != Charset::Utf8 && column.kind.is_text() => {
                        Cow::Owned(My::Bytes(column.charset.to_utf8(b)))
                    }
                    v => Cow::<My>::Borrowed(v),
                }) {
                    Some(v) => v,
                    None => {
                        unreadable(out, &self.table, column, &self.key_text(image), v);
                        Value::Null
                    }
                },
                Some(BinlogValue::Jsonb(j)) => match serde_json::Value::try_from(j.clone()) {
                    Ok(json) => Value::Json(json.to_string()),
                    Err(e) => {
                        let shown = My::Bytes(e.to_string().into_bytes());
                        unreadable(out, &self.table, column, &self.key_text(image), &shown);
                        Value::Null
                    }
                },
                Some(BinlogValue::JsonDiff(_)) => {
                    let shown = My::Bytes(
                        b"a partial JSON update (binlog_row_value_options = PARTIAL_JSON)".to_vec(),
                    );
                    unreadable(out, &self.table, column, &self.key_text(image), &shown);
                    continue;
                }
            };
            row.set(self.names[at].clone(), v);
        }
        row
    }

    fn keys_differ(&self, old: &BinlogRow, new: &BinlogRow) -> bool {
        self.table
            .keys
            .iter()
            .any(|&k| match (self.at(old, k), self.at(new, k)) {
                (Some(BinlogValue::Value(a)), Some(BinlogValue::Value(b))) => a != b,
                _ => false,
            })
    }
}

/// The binlog stream of `config`'s server from `from`, ending at the binlog's end (non-blocking).
async fn open_stream(
    config: &Config,
    from: &Position,
) -> Result<mysql_async::BinlogStream, MyError> {
    let conn = catalog::connect(config).await?;
    let request = BinlogStreamRequest::new(config.server_id)
        .with_filename(from.file.as_bytes())
        .with_pos(from.pos)
        .with_non_blocking();
    conn.get_binlog_stream(request)
        .await
        .map_err(|e| stream_error(config, e))
}

fn stream_error(config: &Config, e: mysql_async::Error) -> MyError {
    let e = MyError::sql("binlog stream", e);
    match e.code() {
        Some(1236) => MyError::Resync(format!("{e}")),
        Some(1227 | 1045) => MyError::Setup(format!(
            "{e}; the user needs: GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{}'@'%';",
            config.user
        )),
        _ => e,
    }
}

async fn stream(
    config: &Config,
    conn: &mut Conn,
    mut tables: Vec<Table>,
    state: &mut MysqlState,
    out: &mut Emitter,
    counts: &mut Counts,
) -> Result<(), Error> {
    let from = state
        .position
        .clone()
        .expect("the position is settled before streaming");
    let target = catalog::current_position(conn).await?;
    let mut stream = open_stream(config, &from).await?;
    let deadline = Instant::now() + Duration::from_secs(config.max_stream_seconds);
    let synced: Vec<String> = tables.iter().map(|t| t.dest.clone()).collect();
    let mut bindings: HashMap<u64, (String, String, usize, Option<Bound>)> = HashMap::new();
    let mut position = from.clone();
    let mut in_transaction = false;
    let mut described = false;
    let mut since_checkpoint = 0u64;
    let mut last_checkpoint = Instant::now();
    loop {
        if !in_transaction && (position >= target || Instant::now() >= deadline) {
            break;
        }
        let Some(event) = stream.next().await else {
            break;
        };
        let event = event.map_err(|e| stream_error(config, e))?;
        let end = event.header().log_pos() as u64;
        let data = event
            .read_data()
            .map_err(|e| MyError::Binlog(format!("cannot decode an event at {position}: {e}")))?;
        let mut boundary = false;
        match data {
            // The rotate that opens the stream comes before the format description that says
            // whether events carry checksums, so the driver leaves the checksum's 4 bytes on its
            // file name: it names the position asked for.
            Some(EventData::RotateEvent(_)) if !described => position = from.clone(),
            Some(EventData::FormatDescriptionEvent(_)) => described = true,
            Some(EventData::RotateEvent(r)) => {
                position = Position {
                    file: r.name().into_owned(),
                    pos: r.position(),
                };
                // The event's own offset is in the file it closes, not in the one it opens.
                continue;
            }
            Some(EventData::XidEvent(_)) => boundary = true,
            Some(EventData::QueryEvent(q)) => match classify(&q.query(), &q.schema()) {
                Statement::Begin => in_transaction = true,
                Statement::Commit => boundary = true,
                Statement::Truncate { database, table } => {
                    if let Some(t) = tables
                        .iter()
                        .find(|t| t.database == database && t.name == table)
                    {
                        out.truncate(&t.dest).await?;
                        since_checkpoint += 1;
                        counts.changes += 1;
                    }
                    boundary = !in_transaction;
                }
                Statement::Ddl => {
                    // Columns may have changed: the synced tables as the catalog has them now.
                    let now = catalog::tables(conn, config).await?;
                    tables = now
                        .into_iter()
                        .filter(|t| synced.contains(&t.dest))
                        .collect();
                    bindings.clear();
                    boundary = !in_transaction;
                }
                Statement::Other => boundary = !in_transaction,
            },
            Some(EventData::RowsEvent(rows)) => {
                let id = rows.table_id();
                let Some(tme) = stream.get_tme(id) else {
                    return Err(MyError::Binlog(format!(
                        "a rows event at {position} without its table map"
                    ))
                    .into());
                };
                let (database, name) = (tme.database_name(), tme.table_name());
                let width = tme.columns_count() as usize;
                let fresh = bindings
                    .get(&id)
                    .is_none_or(|(d, n, w, _)| *d != database || *n != name || *w != width);
                if fresh {
                    let bound = bind(
                        &tables,
                        &database,
                        &name,
                        width,
                        image_names(tme).as_deref(),
                    );
                    bindings.insert(id, (database.into_owned(), name.into_owned(), width, bound));
                }
                let Some((_, _, _, Some(bound))) = bindings.get(&id) else {
                    continue;
                };
                let dest = &bound.table.dest;
                for pair in rows.rows(tme) {
                    let (before, after) = pair.map_err(|e| {
                        MyError::Binlog(format!("cannot decode a row of {dest} at {position}: {e}"))
                    })?;
                    match (&rows, before, after) {
                        (
                            RowsEventData::WriteRowsEvent(_) | RowsEventData::WriteRowsEventV1(_),
                            _,
                            Some(new),
                        ) => {
                            let row = bound.row(out, &new, false);
                            if bound.older {
                                out.update(dest, &row).await?;
                            } else {
                                out.upsert(dest, &row).await?;
                            }
                        }
                        (_, Some(old), Some(new)) => {
                            // A keyless table's old row goes as a whole (its `_fivetran_id` is the row); a keyed
                            // row whose key changed leaves its old key behind.
                            if bound.table.keys.is_empty() || bound.keys_differ(&old, &new) {
                                let keys = bound.row(out, &old, true);
                                out.delete(dest, &keys).await?;
                            }
                            let row = bound.row(out, &new, false);
                            if bound.older {
                                out.update(dest, &row).await?;
                            } else {
                                out.upsert(dest, &row).await?;
                            }
                        }
                        (_, Some(old), None) => {
                            let keys = bound.row(out, &old, true);
                            out.delete(dest, &keys).await?;
                        }
                        _ => continue,
                    }
                    since_checkpoint += 1;
                    counts.changes += 1;
                }
            }
            _ => {}
        }
        if boundary {
            in_transaction = false;
            counts.commits += 1;
            position.pos = position.pos.max(end);
            state.position = Some(position.clone());
            if since_checkpoint > 0
                && (since_checkpoint >= config.chunk_rows
                    || last_checkpoint.elapsed() >= STREAM_CHECKPOINT_EVERY)
            {
                out.checkpoint(state).await?;
                since_checkpoint = 0;
                last_checkpoint = Instant::now();
            }
        } else if !in_transaction {
            // Between transactions (GTID and other bookkeeping events); a format description sent
            // after the stream's first rotate carries its own, earlier, offset: only move forward.
            position.pos = position.pos.max(end);
        }
    }
    if !in_transaction && position >= from {
        state.position = Some(position);
    }
    out.checkpoint(state).await?;
    let _ = stream.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::state::{parse_state, serialize_state};

    const GOLDEN_V1: &str = r#"{"version":1,"position":{"file":"mysql-bin.000003","pos":1234},"gtid":"0-1-42","tables":{"items":["id","body"]},"copying":{"table":"people","after":["42","x"]}}"#;

    #[test]
    fn golden_state_v1_keeps_parsing() {
        let state: MysqlState = parse_state(Some(GOLDEN_V1)).unwrap();
        assert_eq!(
            state.position,
            Some(Position {
                file: "mysql-bin.000003".into(),
                pos: 1234
            })
        );
        assert_eq!(state.gtid.as_deref(), Some("0-1-42"));
        assert_eq!(state.tables["items"], vec!["id", "body"]);
        assert_eq!(serialize_state(&state).unwrap(), GOLDEN_V1);
        let fresh: MysqlState = parse_state(Some("{}")).unwrap();
        assert_eq!(fresh, MysqlState::default());
        assert!(parse_state::<MysqlState>(Some(r#"{"version":1,"lsn":"0/1"}"#)).is_err());
        assert!(
            parse_state::<MysqlState>(Some(r#"{"version":1,"position":{"file":"a"}}"#)).is_err()
        );
    }

    #[test]
    fn integer_keys_go_back_as_integers() {
        let big = Kind::Integer {
            ty: crate::sdk::ColumnType::Long,
            bits: 64,
            unsigned: false,
        };
        assert_eq!(
            key_param(&big, "9007199254740993"),
            My::Int(9_007_199_254_740_993)
        );
        assert_eq!(
            key_param(&Kind::Unsigned64, "18446744073709551615"),
            My::UInt(u64::MAX)
        );
        assert_eq!(key_param(&Kind::Text, "a"), My::Bytes(b"a".to_vec()));
        assert_eq!(
            key_text(&My::Date(2024, 2, 29, 1, 2, 3, 4)),
            "2024-02-29 01:02:03.000004"
        );
    }
}
