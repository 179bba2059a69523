//! Ordered, chunked reads of one table through `COPY (SELECT ... ORDER BY ... LIMIT n) TO STDOUT`:
//! the snapshot reads by primary key, the cursor method by (cursor column, key). Each row is upserted
//! as soon as its line is parsed, so memory holds one COPY message and one row at a time.

use std::borrow::Cow;
use std::sync::Arc;

use futures::StreamExt;
use tokio_postgres::Client;

use super::catalog::{quote_ident, quote_literal, Column, Table};
use super::copy;
use super::error::PgError;
use crate::connectors::database::quoted_list;
use crate::sdk::{ColumnName, Emitter, Error, Row, Value};

/// Where a chunk starts in the scan's order.
#[derive(Debug, Clone, Copy)]
pub enum Start<'a> {
    /// The first row (rows whose first order column is NULL left out if the scan says so).
    First,
    /// The first row whose first order column is at least this text (read with the column's type).
    AtLeast(&'a str),
    /// Strictly after the row with these order values (text, one per order column).
    After(&'a [String]),
}

/// A chunk read: how many rows, and the order values (text) of the last one.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Rows read and upserted.
    pub rows: u64,
    /// The last row's order values, one per order column (`None`: no row, or no order).
    pub last: Option<Vec<String>>,
}

/// One table read in one order.
pub struct Scan<'a> {
    table: &'a Table,
    names: Vec<ColumnName>,
    list: String,
    order: Vec<usize>,
    skip_null_lead: bool,
}

/// The column names of rows built for `table`, shared by every row.
pub fn names(table: &Table) -> Vec<ColumnName> {
    table
        .columns
        .iter()
        .map(|c| ColumnName::from(Arc::clone(&c.name)))
        .collect()
}

/// One value: its text read by the column's kind; unreadable text becomes NULL and an issue.
pub fn value(
    out: &mut Emitter,
    table: &Table,
    column: &Column,
    key: &dyn Fn() -> String,
    text: Option<&str>,
) -> Value {
    let Some(text) = text else {
        return Value::Null;
    };
    match column.kind.value(text) {
        Some(v) => v,
        None => {
            out.issues().malformed(
                &table.dest,
                &column.name,
                &key(),
                &serde_json::Value::String(text.to_owned()),
                false,
            );
            Value::Null
        }
    }
}

impl<'a> Scan<'a> {
    /// Reads `table` ordered by the columns at `order` (indexes into `table.columns`; empty: no
    /// order, one pass).
    pub fn new(table: &'a Table, order: Vec<usize>) -> Self {
        Self {
            table,
            names: names(table),
            list: quoted_list(table.columns.iter().map(|c| &*c.name), quote_ident),
            order,
            skip_null_lead: false,
        }
    }

    /// Leaves out rows whose first order column is NULL (a cursor that has no value yet).
    pub fn skipping_null_lead(mut self) -> Self {
        self.skip_null_lead = true;
        self
    }

    fn typed(&self, at: usize, text: &str) -> String {
        format!(
            "{}::{}",
            quote_literal(text),
            self.table.columns[at].sql_type
        )
    }

    /// The `COPY` statement of one chunk of at most `limit` rows (`None`: the rest of the table).
    pub fn sql(&self, start: Start<'_>, limit: Option<u64>) -> String {
        let order = quoted_list(
            self.order.iter().map(|&i| &*self.table.columns[i].name),
            quote_ident,
        );
        let lead = self
            .order
            .first()
            .map(|&i| quote_ident(&self.table.columns[i].name));
        let filter = match (start, &lead) {
            (_, None) => String::new(),
            (Start::First, Some(lead)) if self.skip_null_lead => {
                format!(" WHERE {lead} IS NOT NULL")
            }
            (Start::First, Some(_)) => String::new(),
            (Start::AtLeast(text), Some(lead)) => {
                format!(" WHERE {lead} >= {}", self.typed(self.order[0], text))
            }
            (Start::After(values), Some(_)) => format!(
                " WHERE ({order}) > ({})",
                values
                    .iter()
                    .zip(&self.order)
                    .map(|(v, &at)| self.typed(at, v))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let tail = match (&lead, limit) {
            (None, _) => String::new(),
            (Some(_), None) => format!(" ORDER BY {order}"),
            (Some(_), Some(n)) => format!(" ORDER BY {order} LIMIT {n}"),
        };
        format!(
            "COPY (SELECT {} FROM {}{filter}{tail}) TO STDOUT",
            self.list,
            self.table.quoted()
        )
    }

    /// Reads one chunk from `start`, upserting each row.
    pub async fn chunk(
        &self,
        client: &Client,
        start: Start<'_>,
        limit: Option<u64>,
        out: &mut Emitter,
    ) -> Result<Chunk, Error> {
        let table = self.table;
        let sql = self.sql(start, limit);
        let stream = client
            .copy_out(sql.as_str())
            .await
            .map_err(|e| PgError::sql(format!("cannot read table {}", table.quoted()), e))?;
        futures::pin_mut!(stream);
        let mut chunk = Chunk::default();
        let mut pending = bytes::BytesMut::new();
        while let Some(data) = stream.next().await {
            let data =
                data.map_err(|e| PgError::sql(format!("reading table {}", table.quoted()), e))?;
            pending.extend_from_slice(&data);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line = pending.split_to(end + 1);
                let mut fields = Vec::with_capacity(table.columns.len());
                copy::fields(&line[..end], &mut fields).map_err(|source| PgError::Copy {
                    table: table.dest.clone(),
                    source,
                })?;
                if fields.len() != table.columns.len() {
                    return Err(PgError::Protocol(format!(
                        "COPY of {} gave {} fields for {} columns",
                        table.quoted(),
                        fields.len(),
                        table.columns.len()
                    ))
                    .into());
                }
                self.emit(&fields, out).await?;
                if !self.order.is_empty() {
                    chunk.last = Some(text_of(&fields, &self.order));
                }
                chunk.rows += 1;
            }
        }
        Ok(chunk)
    }

    async fn emit(&self, fields: &[Option<Cow<'_, str>>], out: &mut Emitter) -> Result<(), Error> {
        let table = self.table;
        let mut row = Row::with_capacity(self.names.len());
        for (i, column) in table.columns.iter().enumerate() {
            let key = || text_of(fields, &table.keys).join(",");
            let v = value(out, table, column, &key, fields[i].as_deref());
            row.set(self.names[i].clone(), v);
        }
        out.upsert(&table.dest, &row).await
    }
}

/// The text of the fields at `at` (NULL as empty text: order columns read past are never NULL).
fn text_of(fields: &[Option<Cow<'_, str>>], at: &[usize]) -> Vec<String> {
    at.iter()
        .map(|&i| fields[i].as_deref().unwrap_or_default().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::types::Kind;
    use super::*;

    fn table() -> Table {
        let column = |name: &str, sql_type: &str, key| Column {
            name: name.into(),
            kind: Kind::Text,
            sql_type: sql_type.into(),
            key,
        };
        Table {
            schema: "public".into(),
            name: "t".into(),
            dest: "t".into(),
            columns: vec![
                column("id", "integer", Some(0)),
                column("at", "timestamp with time zone", None),
            ],
            keys: vec![0],
        }
    }

    #[test]
    fn chunks_filter_and_order_by_the_scan_columns() {
        let t = table();
        let by_key = Scan::new(&t, vec![0]);
        assert_eq!(
            by_key.sql(Start::First, Some(10)),
            r#"COPY (SELECT "id", "at" FROM "public"."t" ORDER BY "id" LIMIT 10) TO STDOUT"#
        );
        assert_eq!(
            by_key.sql(Start::After(&["4".into()]), Some(10)),
            r#"COPY (SELECT "id", "at" FROM "public"."t" WHERE ("id") > ('4'::integer) ORDER BY "id" LIMIT 10) TO STDOUT"#
        );
        let by_cursor = Scan::new(&t, vec![1, 0]).skipping_null_lead();
        assert_eq!(
            by_cursor.sql(Start::First, Some(5)),
            r#"COPY (SELECT "id", "at" FROM "public"."t" WHERE "at" IS NOT NULL ORDER BY "at", "id" LIMIT 5) TO STDOUT"#
        );
        assert_eq!(
            by_cursor.sql(Start::AtLeast("2024-01-01 00:00:00+00"), Some(5)),
            r#"COPY (SELECT "id", "at" FROM "public"."t" WHERE "at" >= '2024-01-01 00:00:00+00'::timestamp with time zone ORDER BY "at", "id" LIMIT 5) TO STDOUT"#
        );
        assert_eq!(
            by_cursor.sql(Start::After(&["x'y".into(), "7".into()]), None),
            r#"COPY (SELECT "id", "at" FROM "public"."t" WHERE ("at", "id") > ('x''y'::timestamp with time zone, '7'::integer) ORDER BY "at", "id") TO STDOUT"#
        );
        assert_eq!(
            Scan::new(&t, Vec::new()).sql(Start::First, Some(5)),
            r#"COPY (SELECT "id", "at" FROM "public"."t") TO STDOUT"#
        );
    }
}
