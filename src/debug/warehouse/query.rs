//! Reading the warehouse back, for tests and for printing what a sync wrote. Reads see the rows of the
//! current transaction too (the same connection).

use std::collections::BTreeMap;

use rusqlite::types::ValueRef;
use serde_json::Value;

use super::catalog::{quote, Table};
use super::error::{SqliteContext, WarehouseError};
use super::summary::TableName;
use super::LocalWarehouse;

/// A table of the warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Its destination schema and name.
    pub name: TableName,
    /// Its primary-key columns, in key order (`_fivetran_id` for a table without a declared key).
    pub primary_key: Vec<String>,
    /// All its columns, system columns included, in table order.
    pub columns: Vec<String>,
}

/// How many rows a table holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowCounts {
    /// Rows with `_fivetran_deleted` = 0.
    pub live: u64,
    /// Soft-deleted rows.
    pub deleted: u64,
}

impl LocalWarehouse {
    /// The tables that exist in the warehouse file, sorted by name.
    pub fn tables(&self) -> Vec<TableInfo> {
        let mut tables: Vec<TableInfo> = self
            .tables
            .iter()
            .filter(|t| t.materialized)
            .map(|t| TableInfo {
                name: t.name.clone(),
                primary_key: t.key_names().map(str::to_owned).collect(),
                columns: t.columns.iter().map(|c| c.name.clone()).collect(),
            })
            .collect();
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        tables
    }

    /// Live and soft-deleted rows of `table`.
    pub fn row_counts(&self, table: &TableName) -> Result<RowCounts, WarehouseError> {
        let t = self.existing(table)?;
        let sql = format!(
            "SELECT COALESCE(SUM({d} IS NOT 1), 0), COALESCE(SUM({d} IS 1), 0) FROM {}",
            t.quoted,
            d = quote(&t.columns[t.deleted].name)
        );
        self.conn
            .query_row(&sql, [], |row| {
                Ok(RowCounts {
                    live: row.get::<_, i64>(0)?.unsigned_abs(),
                    deleted: row.get::<_, i64>(1)?.unsigned_abs(),
                })
            })
            .context(|| format!("counting the rows of {table}"))
    }

    /// Every row of `table` (soft-deleted ones too), ordered by primary key, as column → JSON value: integers
    /// and reals as numbers (non-finite reals as the strings `inf`/`-inf`), text as strings, blobs as base64
    /// strings, NULL as null.
    pub fn rows(&self, table: &TableName) -> Result<Vec<BTreeMap<String, Value>>, WarehouseError> {
        let t = self.existing(table)?;
        let order: Vec<String> = t.key_names().map(quote).collect();
        let sql = format!("SELECT * FROM {} ORDER BY {}", t.quoted, order.join(", "));
        let mut stmt = self
            .conn
            .prepare(&sql)
            .context(|| format!("reading the rows of {table}"))?;
        let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let mut rows = stmt
            .query([])
            .context(|| format!("reading the rows of {table}"))?;
        let mut out = Vec::new();
        while let Some(row) = rows
            .next()
            .context(|| format!("reading the rows of {table}"))?
        {
            let mut map = BTreeMap::new();
            for (i, name) in names.iter().enumerate() {
                let value = row
                    .get_ref(i)
                    .context(|| format!("reading the rows of {table}"))?;
                map.insert(name.clone(), json(value));
            }
            out.push(map);
        }
        Ok(out)
    }

    fn existing(&self, name: &TableName) -> Result<&Table, WarehouseError> {
        self.tables
            .iter()
            .find(|t| t.materialized && &t.name == name)
            .ok_or_else(|| WarehouseError::UnknownTable {
                table: name.to_string(),
            })
    }
}

fn json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(r) => serde_json::Number::from_f64(r)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(if r > 0.0 { "inf" } else { "-inf" }.to_owned())),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(base64(b)),
    }
}

/// Standard base64 with padding: how the warehouse shows BINARY values (and what HTTP Basic auth
/// sends, which is why the reliability suite searches outputs for it).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        let cases: [(&[u8], &str); 5] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"\x01\x01\x02\xff", "AQEC/w=="),
        ];
        for (bytes, text) in cases {
            assert_eq!(base64(bytes), text);
        }
    }
}
