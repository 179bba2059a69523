//! The cursor update method, for servers where logical replication is not allowed (a read replica,
//! a managed service without the flag, a role without `REPLICATION`).
//!
//! A table with a configured cursor column (an `updated_at`, a sequence: a value every insert and
//! update moves forward) is snapshotted once in primary-key order, exactly as the replication method
//! does it. Before its first chunk the largest cursor value is noted in the same repeatable-read
//! transaction as the chunk (the *mark*); every later read takes the rows whose cursor is at or past
//! the mark, in (cursor, key) order, `chunk_rows` at a time with a checkpoint after each, and the state
//! keeps the last row's (cursor, key). Rows that tie with the mark are read again (upserts: harmless),
//! so nothing changed after the snapshot is missed as long as the column does move forward. Deletes
//! leave no row to read, so they are not seen (Fivetran's own XMIN method has the same limit); a table
//! configured without a cursor column is instead re-read whole every sync after a truncate, which
//! soft-deletes what is gone.
//!
//! A table gets a new snapshot (and a new mark) when it is new, when it has columns its last snapshot
//! did not read, or when its cursor column changes in the configuration.

use tokio_postgres::Client;

use super::catalog::{self, quote_ident, Table};
use super::config::{Config, CursorColumn};
use super::error::PgError;
use super::scan::{Scan, Start};
use super::sync::{needs_snapshot, snapshot_table, CursorPosition, PostgresState};
use crate::sdk::{Emitter, Error};

/// Runs one sync by the cursor method.
pub async fn run(
    config: &Config,
    columns: &[CursorColumn],
    mut state: PostgresState,
    out: &mut Emitter,
) -> Result<(), Error> {
    if let Some(lsn) = state.lsn {
        return Err(PgError::Resync(format!(
            "the state was written by logical replication (at {lsn}) and the configuration now says cursor (the update method changed)"
        ))
        .into());
    }
    let client = catalog::connect(config).await?;
    let all = catalog::tables(&client, config).await?;
    let cursors = cursor_indexes(&all, columns)?;
    let mut tables: Vec<(&Table, Option<usize>)> = all
        .iter()
        .zip(cursors)
        .filter(|(t, _)| out.is_selected(&t.dest))
        .collect();
    // A snapshot in progress finishes first.
    tables.sort_by_key(|(t, _)| state.copying.as_ref().is_none_or(|c| c.table != t.dest));
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| PgError::sql("cannot begin the read transaction", e))?;
    let (mut snapshot_rows, mut cursor_rows) = (0u64, 0u64);
    for (table, cursor) in tables {
        let resuming = state
            .copying
            .as_ref()
            .is_some_and(|c| c.table == table.dest);
        let Some(at) = cursor else {
            // No cursor: the whole table every sync; what is gone goes with the truncate.
            if !resuming {
                out.truncate(&table.dest).await?;
            }
            state.cursors.remove(&table.dest);
            snapshot_rows += snapshot_table(&client, config, table, &mut state, out).await?;
            continue;
        };
        let column = table.columns[at].name.to_string();
        let fresh = state
            .cursors
            .get(&table.dest)
            .is_none_or(|p| p.column != column);
        if fresh || resuming || needs_snapshot(&state, table) {
            if fresh || !resuming {
                // A resumed snapshot keeps the mark it began with: a later one would skip rows
                // changed between the two that the chunks before the kill had already read.
                if resuming {
                    state.copying = None;
                }
                let value = mark(&client, table, &column).await?;
                state.cursors.insert(
                    table.dest.clone(),
                    CursorPosition {
                        column,
                        value,
                        after: None,
                    },
                );
            }
            snapshot_rows += snapshot_table(&client, config, table, &mut state, out).await?;
        } else {
            cursor_rows += read_changes(&client, config, table, at, &mut state, out).await?;
        }
    }
    client
        .batch_execute("COMMIT")
        .await
        .map_err(|e| PgError::sql("cannot end the read transaction", e))?;
    out.checkpoint(&state).await?;
    tracing::info!(snapshot_rows, cursor_rows, "postgres cursor sync done");
    Ok(())
}

/// Per table, the index of its configured cursor column; a configured table or column that does not
/// exist is an error naming it.
pub fn cursor_indexes(
    tables: &[Table],
    columns: &[CursorColumn],
) -> Result<Vec<Option<usize>>, PgError> {
    for c in columns {
        let Some(table) = tables
            .iter()
            .find(|t| t.schema == c.schema && t.name == c.table)
        else {
            return Err(PgError::Setup(format!(
                "cursor_columns names table '{}.{}', which is not synced (it does not exist, or the 'schemas' and 'tables' settings leave it out)",
                c.schema, c.table
            )));
        };
        if table.column(&c.column).is_none() {
            return Err(PgError::Setup(format!(
                "table '{}.{}' has no column '{}' for its cursor; its columns are {}",
                c.schema,
                c.table,
                c.column,
                table
                    .columns
                    .iter()
                    .map(|k| &*k.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(tables
        .iter()
        .map(|t| {
            let configured = columns
                .iter()
                .find(|c| c.schema == t.schema && c.table == t.name)?;
            t.columns.iter().position(|k| *k.name == configured.column)
        })
        .collect())
}

/// The largest cursor value now, as text (`None`: no row has one).
async fn mark(client: &Client, table: &Table, column: &str) -> Result<Option<String>, PgError> {
    let row = client
        .query_one(
            &format!(
                "SELECT max({})::text FROM {}",
                quote_ident(column),
                table.quoted()
            ),
            &[],
        )
        .await
        .map_err(|e| {
            PgError::sql(
                format!("cannot read the largest {column} of {}", table.quoted()),
                e,
            )
        })?;
    Ok(row.get(0))
}

/// Reads the rows at or past the table's cursor in (cursor, key) order, a checkpoint after each
/// chunk. A keyless table is read in one pass (ties at the cursor would repeat a chunk forever).
async fn read_changes(
    client: &Client,
    config: &Config,
    table: &Table,
    at: usize,
    state: &mut PostgresState,
    out: &mut Emitter,
) -> Result<u64, Error> {
    let mut order = vec![at];
    order.extend(table.keys.iter().copied().filter(|&k| k != at));
    let scan = Scan::new(table, order).skipping_null_lead();
    let limit = (!table.keys.is_empty()).then_some(config.chunk_rows);
    let mut total = 0;
    loop {
        let position = state.cursors.get(&table.dest).cloned().unwrap_or_default();
        let after: Option<Vec<String>> = match (&position.value, &position.after) {
            (Some(value), Some(keys)) => Some(
                std::iter::once(value.clone())
                    .chain(keys.iter().cloned())
                    .collect(),
            ),
            _ => None,
        };
        let start = match (&after, &position.value) {
            (Some(after), _) => Start::After(after),
            (None, Some(value)) => Start::AtLeast(value),
            (None, None) => Start::First,
        };
        let chunk = scan.chunk(client, start, limit, out).await?;
        total += chunk.rows;
        let done = limit.is_none_or(|n| chunk.rows < n) || out.table_full(&table.dest);
        if let Some(mut last) = chunk.last {
            let value = last.remove(0);
            let position = CursorPosition {
                column: position.column,
                value: Some(value),
                // After a whole pass the next sync starts at the last value, ties included.
                after: (!done && limit.is_some()).then_some(last),
            };
            state.cursors.insert(table.dest.clone(), position);
        }
        out.checkpoint(state).await?;
        if done {
            return Ok(total);
        }
    }
}

/// The cursor method's table test: there are tables to sync and the role may read every one.
pub async fn test_tables(config: &Config) -> Result<(), PgError> {
    let client = catalog::connect(config).await?;
    let tables = catalog::tables(&client, config).await?;
    if tables.is_empty() {
        return Err(PgError::Setup(format!(
            "no tables in the configured schemas ({}); check the 'schemas' and 'tables' settings",
            config.schemas.join(", ")
        )));
    }
    catalog::check_select(&client, config, &tables).await
}

/// The cursor method's column test: every configured cursor column exists and can be ordered. One
/// without an index is allowed (each read scans the table) and logged as a warning.
pub async fn test_columns(config: &Config, columns: &[CursorColumn]) -> Result<(), PgError> {
    let client = catalog::connect(config).await?;
    let tables = catalog::tables(&client, config).await?;
    let cursors = cursor_indexes(&tables, columns)?;
    for (table, at) in tables.iter().zip(cursors) {
        let Some(at) = at else { continue };
        let column = quote_ident(&table.columns[at].name);
        client
            .batch_execute(&format!(
                "SELECT 1 FROM {} ORDER BY {column} LIMIT 0",
                table.quoted()
            ))
            .await
            .map_err(|e| {
                PgError::Setup(format!(
                    "column {column} of {} cannot be a cursor ({}); choose a column of a type with an order, such as a timestamp or an integer",
                    table.quoted(),
                    PgError::sql("ordering by it", e)
                ))
            })?;
        let indexed = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
                 WHERE i.indrelid = $1::text::regclass AND a.attname = $2)",
                &[&table.quoted(), &&*table.columns[at].name],
            )
            .await
            .map_err(|e| PgError::sql("cannot read the table's indexes", e))?;
        if !indexed.get::<_, bool>(0) {
            tracing::warn!(table = %table.quoted(), column = %column, "the cursor column leads no index: every sync scans the whole table; CREATE INDEX ON {} ({column});", table.quoted());
        }
    }
    Ok(())
}
