//! What the warehouse knows of each table, kept in memory so that no record needs a schema query.
//!
//! A table lives in the SQLite file as `"<schema>.<table>"` (SQLite has no schemas), `WITHOUT ROWID` with its
//! primary key (the declared key, or `_fivetran_id`), so a declared `INTEGER` key never becomes a rowid alias
//! that would refuse a non-integer value. `_fivetran_tables` maps each SQLite table back to its schema and
//! name; `_fivetran_metadata` keeps the naming strategy and the deferred truncates.

use std::collections::HashMap;

use rusqlite::Connection;

use super::error::{SqliteContext, WarehouseError};
use super::summary::{OperationCounts, TableName};
use super::values::Affinity;

/// The UTC time of the operation that last wrote a row.
pub(crate) const SYNCED: &str = "_fivetran_synced";
/// 1 when the row is soft-deleted.
pub(crate) const DELETED: &str = "_fivetran_deleted";
/// The stand-in key of a table without a primary key.
pub(crate) const FIVETRAN_ID: &str = "_fivetran_id";
/// SQLite table name → (schema, table).
pub(crate) const TABLES_TABLE: &str = "_fivetran_tables";
/// Key → value settings of the warehouse file.
pub(crate) const METADATA_TABLE: &str = "_fivetran_metadata";

/// `name` as a quoted SQLite identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// SQLite compares identifiers without regard to ASCII case.
fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// The creating statements of the warehouse's own tables.
pub(crate) fn system_tables_sql() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {TABLES_TABLE} (sqlite_name TEXT PRIMARY KEY, schema_name TEXT NOT NULL, \
         table_name TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS {METADATA_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    )
}

#[derive(Debug)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) affinity: Affinity,
    /// Whether a value of another kind was already reported for this column.
    pub(crate) conflict_reported: bool,
}

/// Where a source column name leads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SourceColumn {
    At(usize),
    /// A system column the connector must not set: its value is dropped.
    Ignored,
}

#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) name: TableName,
    pub(crate) sqlite_name: String,
    pub(crate) quoted: String,
    pub(crate) columns: Vec<Column>,
    positions: HashMap<String, usize>,
    /// Positions of the primary-key columns (`_fivetran_id` for a keyless table).
    pub(crate) key: Vec<usize>,
    pub(crate) keyless: bool,
    pub(crate) synced: usize,
    pub(crate) deleted: usize,
    /// Whether the SQLite table exists (an undeclared table is created by its first upsert).
    pub(crate) materialized: bool,
    /// Source column name → column, filled as records arrive.
    pub(crate) source_columns: HashMap<String, SourceColumn, NameHash>,
    /// The first source (schema, table) that led here, to warn when another one is merged into it.
    pub(crate) source: Option<(String, String)>,
    upsert_sql: String,
    pub(crate) counts: OperationCounts,
}

impl Table {
    /// A table with these data columns and key (`key` empty: keyless, keyed by `_fivetran_id`); the system
    /// columns follow the data columns. Duplicate and system names among `columns` must be removed already.
    pub(crate) fn new(name: TableName, columns: Vec<(String, Affinity)>, key: &[String]) -> Self {
        let sqlite_name = name.to_string();
        let mut table = Table {
            quoted: quote(&sqlite_name),
            sqlite_name,
            name,
            columns: Vec::new(),
            positions: HashMap::new(),
            key: Vec::new(),
            keyless: key.is_empty(),
            synced: 0,
            deleted: 0,
            materialized: false,
            source_columns: HashMap::default(),
            source: None,
            upsert_sql: String::new(),
            counts: OperationCounts::default(),
        };
        for (column, affinity) in columns {
            table.push_column(column, affinity);
        }
        if table.keyless {
            let id = table.push_column(FIVETRAN_ID.to_owned(), Affinity::Text);
            table.key = vec![id];
        } else {
            table.key = key.iter().filter_map(|k| table.position(k)).collect();
        }
        table.synced = table.push_column(SYNCED.to_owned(), Affinity::Text);
        table.deleted = table.push_column(DELETED.to_owned(), Affinity::Integer);
        table
    }

    /// The table as the SQLite file holds it (from `PRAGMA table_info`).
    pub(crate) fn load(
        conn: &Connection,
        name: TableName,
        sqlite_name: &str,
    ) -> Result<Self, WarehouseError> {
        let quoted = quote(sqlite_name);
        let mut stmt = conn
            .prepare(&format!("PRAGMA table_info({quoted})"))
            .context(|| format!("reading the columns of {sqlite_name}"))?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(5)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .context(|| format!("reading the columns of {sqlite_name}"))?;
        let damaged = |reason: &str| WarehouseError::Damaged {
            table: sqlite_name.to_owned(),
            reason: reason.to_owned(),
        };
        if rows.is_empty() {
            return Err(damaged(
                "it is listed in _fivetran_tables but does not exist",
            ));
        }
        let mut table = Table::new(name, Vec::new(), &[]);
        table.sqlite_name = sqlite_name.to_owned();
        table.quoted = quoted;
        table.columns.clear();
        table.positions.clear();
        let mut key: Vec<(i64, usize)> = Vec::new();
        for (column, sql_type, pk) in rows {
            let position = table.push_column(column, Affinity::of_sql_type(&sql_type));
            if pk > 0 {
                key.push((pk, position));
            }
        }
        key.sort_unstable();
        table.key = key.into_iter().map(|(_, position)| position).collect();
        table.synced = table
            .position(SYNCED)
            .ok_or_else(|| damaged("no _fivetran_synced column"))?;
        table.deleted = table
            .position(DELETED)
            .ok_or_else(|| damaged("no _fivetran_deleted column"))?;
        if table.key.is_empty() {
            return Err(damaged("no primary key"));
        }
        table.keyless = table.key.len() == 1 && table.columns[table.key[0]].name == FIVETRAN_ID;
        table.materialized = true;
        Ok(table)
    }

    /// The position of a column, compared as SQLite does (ASCII case-insensitive).
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.positions.get(&fold(name)).copied()
    }

    /// Adds a column to the in-memory table (the caller alters the SQLite table); returns its position.
    pub(crate) fn push_column(&mut self, name: String, affinity: Affinity) -> usize {
        let position = self.columns.len();
        self.positions.insert(fold(&name), position);
        self.columns.push(Column {
            name,
            affinity,
            conflict_reported: false,
        });
        self.upsert_sql = self.build_upsert_sql();
        position
    }

    /// Whether `name` is a column the warehouse sets itself, whatever the connector sends.
    pub(crate) fn is_system(&self, name: &str) -> bool {
        let folded = fold(name);
        folded == SYNCED || folded == DELETED || (self.keyless && folded == FIVETRAN_ID)
    }

    /// `CREATE TABLE` for the table as it is in memory.
    pub(crate) fn create_sql(&self) -> String {
        let columns: Vec<String> = self.columns.iter().map(column_definition).collect();
        format!(
            "CREATE TABLE {} ({}, PRIMARY KEY ({})) WITHOUT ROWID",
            self.quoted,
            columns.join(", "),
            self.key_names().map(quote).collect::<Vec<_>>().join(", ")
        )
    }

    /// `ALTER TABLE ... ADD COLUMN` for the column at `position`.
    pub(crate) fn add_column_sql(&self, position: usize) -> String {
        format!(
            "ALTER TABLE {} ADD COLUMN {}",
            self.quoted,
            column_definition(&self.columns[position])
        )
    }

    /// `INSERT OR REPLACE` of every column, in position order: an upsert replaces the whole row.
    pub(crate) fn upsert_sql(&self) -> &str {
        &self.upsert_sql
    }

    /// `WHERE` on the key columns, numbered from `?{first}`.
    pub(crate) fn key_condition(&self, first: usize) -> String {
        self.key
            .iter()
            .enumerate()
            .map(|(n, &k)| format!("{} = ?{}", quote(&self.columns[k].name), first + n))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The key column names, in key order.
    pub(crate) fn key_names(&self) -> impl Iterator<Item = &str> {
        self.key.iter().map(|&k| self.columns[k].name.as_str())
    }

    fn build_upsert_sql(&self) -> String {
        let names: Vec<String> = self.columns.iter().map(|c| quote(&c.name)).collect();
        let params: Vec<String> = (1..=names.len()).map(|n| format!("?{n}")).collect();
        format!(
            "INSERT OR REPLACE INTO {} ({}) VALUES ({})",
            self.quoted,
            names.join(", "),
            params.join(", ")
        )
    }
}

fn column_definition(column: &Column) -> String {
    let sql_type = column.affinity.sql_type();
    if sql_type.is_empty() {
        quote(&column.name)
    } else {
        format!("{} {sql_type}", quote(&column.name))
    }
}

/// Every table listed in `_fivetran_tables`.
pub(crate) fn load_all(conn: &Connection) -> Result<Vec<Table>, WarehouseError> {
    let listed = conn
        .prepare(&format!(
            "SELECT sqlite_name, schema_name, table_name FROM {TABLES_TABLE} ORDER BY sqlite_name"
        ))
        .and_then(|mut stmt| {
            stmt.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<Result<Vec<(String, String, String)>, _>>()
        })
        .context(|| "reading the list of tables".to_owned())?;
    listed
        .into_iter()
        .map(|(sqlite_name, schema, table)| {
            Table::load(conn, TableName::new(schema, table), &sqlite_name)
        })
        .collect()
}

/// Records that `table` exists (inside the caller's transaction, so a rollback forgets it too).
pub(crate) fn register(conn: &Connection, table: &Table) -> Result<(), WarehouseError> {
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {TABLES_TABLE} (sqlite_name, schema_name, table_name) VALUES (?1, ?2, ?3)"
    ))
    .and_then(|mut stmt| stmt.execute([&table.sqlite_name, &table.name.schema, &table.name.table]))
    .map(drop)
    .context(|| format!("registering table {}", table.sqlite_name))
}

/// A metadata value.
pub(crate) fn metadata(conn: &Connection, key: &str) -> Result<Option<String>, WarehouseError> {
    use rusqlite::OptionalExtension;
    conn.query_row(
        &format!("SELECT value FROM {METADATA_TABLE} WHERE key = ?1"),
        [key],
        |row| row.get(0),
    )
    .optional()
    .context(|| format!("reading metadata {key}"))
}

/// Sets a metadata value (`None` removes it).
pub(crate) fn set_metadata(
    conn: &Connection,
    key: &str,
    value: Option<&str>,
) -> Result<(), WarehouseError> {
    let result = match value {
        Some(value) => conn.execute(
            &format!("INSERT OR REPLACE INTO {METADATA_TABLE} (key, value) VALUES (?1, ?2)"),
            [key, value],
        ),
        None => conn.execute(
            &format!("DELETE FROM {METADATA_TABLE} WHERE key = ?1"),
            [key],
        ),
    };
    result
        .map(drop)
        .context(|| format!("writing metadata {key}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_table_sql() {
        let table = Table::new(
            TableName::new("tester", "users"),
            vec![
                ("id".into(), Affinity::Integer),
                ("na\"me".into(), Affinity::Text),
            ],
            &["id".to_owned()],
        );
        assert_eq!(
            table.create_sql(),
            "CREATE TABLE \"tester.users\" (\"id\" INTEGER, \"na\"\"me\" TEXT, \"_fivetran_synced\" TEXT, \
             \"_fivetran_deleted\" INTEGER, PRIMARY KEY (\"id\")) WITHOUT ROWID"
        );
        assert_eq!(table.key_condition(3), "\"id\" = ?3");
        assert!(table.upsert_sql().ends_with("VALUES (?1, ?2, ?3, ?4)"));
        assert!(!table.keyless);
        assert_eq!(table.position("ID"), Some(0));
    }

    #[test]
    fn keyless_table_gets_fivetran_id() {
        let table = Table::new(TableName::new("tester", "log"), vec![], &[]);
        assert!(table.keyless);
        assert_eq!(table.key_names().collect::<Vec<_>>(), vec![FIVETRAN_ID]);
        assert!(table.is_system("_FIVETRAN_ID"));
    }

    #[test]
    fn load_reads_back_what_create_made() {
        let conn = Connection::open_in_memory().unwrap();
        let made = Table::new(
            TableName::new("s", "t"),
            vec![
                ("b".into(), Affinity::Blob),
                ("a".into(), Affinity::Untyped),
            ],
            &["a".to_owned(), "b".to_owned()],
        );
        conn.execute_batch(&made.create_sql()).unwrap();
        let loaded = Table::load(&conn, made.name.clone(), &made.sqlite_name).unwrap();
        assert_eq!(loaded.key_names().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(loaded.columns[0].affinity, Affinity::Blob);
        assert_eq!(loaded.columns[1].affinity, Affinity::Untyped);
        assert_eq!(loaded.upsert_sql(), made.upsert_sql());
        assert!(Table::load(&conn, TableName::new("s", "none"), "s.none").is_err());
    }
}

/// A fast hash for column names, looked up for every value of every row: the names come from the
/// connector's own schema, so the flooding resistance of the default SipHash buys nothing here.
pub(crate) type NameHash = std::hash::BuildHasherDefault<NameHasher>;

/// The FxHash mix (rustc's), a word at a time.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct NameHasher(u64);

impl std::hash::Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            self.add(word);
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(tail) ^ rest.len() as u64);
    }
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl NameHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}
