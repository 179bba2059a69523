//! Applying records: upsert, update, delete and truncate on one table, with Fivetran's semantics (see the
//! parent module), and turning a record's values into a row of the table's columns.

use std::borrow::Cow;

use crate::proto::{RecordType, StructuredRecord};

use super::catalog::{self, SourceColumn};
use super::error::{SqliteContext, WarehouseError};
use super::values::{self, Cell};
use super::{row_id, LocalWarehouse, Result};

impl LocalWarehouse {
    /// Applies one record to the table it names (created in memory if unknown).
    pub(super) fn apply_record(&mut self, record: &StructuredRecord) -> Result<()> {
        let kind =
            RecordType::try_from(record.r#type).map_err(|_| WarehouseError::UnknownRecordType {
                table: record.table_name.clone(),
                value: record.r#type,
            })?;
        let t = self.table_for(record.schema_name.as_deref(), &record.table_name)?;
        match kind {
            RecordType::Upsert => self.upsert(t, record),
            RecordType::Update => self.update(t, record),
            RecordType::Delete => self.delete(t, record),
            RecordType::Truncate => self.truncate(t, false),
        }
    }

    fn upsert(&mut self, t: usize, record: &StructuredRecord) -> Result<()> {
        let mut row = self.row(t, record, true)?;
        self.fill_key(t, &mut row, "upsert")?;
        if !self.tables[t].materialized {
            self.materialize(t)?;
        }
        self.report_conflicts(t, &row);
        let table = &self.tables[t];
        let (synced, deleted, null) = (
            Cell::Text(Cow::Borrowed(self.clock.text())),
            Cell::Integer(0),
            Cell::Null,
        );
        let params = row.iter().enumerate().map(|(i, cell)| match i {
            _ if i == table.synced => &synced,
            _ if i == table.deleted => &deleted,
            _ => cell.as_ref().unwrap_or(&null),
        });
        self.conn
            .prepare_cached(table.upsert_sql())
            .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(params)))
            .context(|| format!("upserting into {}", table.name))?;
        self.tables[t].counts.upserts += 1;
        Ok(())
    }

    fn update(&mut self, t: usize, record: &StructuredRecord) -> Result<()> {
        if !self.tables[t].materialized {
            // A table that was never upserted has no row to update.
            self.tables[t].counts.updates += 1;
            return Ok(());
        }
        let mut row = self.row(t, record, true)?;
        self.fill_key(t, &mut row, "update")?;
        self.report_conflicts(t, &row);
        let table = &self.tables[t];
        let set: Vec<usize> = (0..row.len())
            .filter(|i| row[*i].is_some() && !table.key.contains(i))
            .collect();
        let mut sql = format!("UPDATE {} SET ", table.quoted);
        for (n, &i) in set.iter().enumerate() {
            sql.push_str(&format!(
                "{} = ?{}, ",
                catalog::quote(&table.columns[i].name),
                n + 1
            ));
        }
        sql.push_str(&format!(
            "{} = ?{}, {} = 0 WHERE {}",
            catalog::quote(&table.columns[table.synced].name),
            set.len() + 1,
            catalog::quote(&table.columns[table.deleted].name),
            table.key_condition(set.len() + 2)
        ));
        let synced = Cell::Text(Cow::Borrowed(self.clock.text()));
        let params = set
            .iter()
            .filter_map(|&i| row[i].as_ref())
            .chain(std::iter::once(&synced))
            .chain(table.key.iter().filter_map(|&k| row[k].as_ref()));
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(params)))
            .context(|| format!("updating {}", table.name))?;
        self.tables[t].counts.updates += 1;
        Ok(())
    }

    fn delete(&mut self, t: usize, record: &StructuredRecord) -> Result<()> {
        if !self.tables[t].materialized {
            self.tables[t].counts.deletes += 1;
            return Ok(());
        }
        let mut row = self.row(t, record, false)?;
        self.fill_key(t, &mut row, "delete")?;
        let table = &self.tables[t];
        let sql = format!(
            "UPDATE {} SET {} = 1, {} = ?1 WHERE {}",
            table.quoted,
            catalog::quote(&table.columns[table.deleted].name),
            catalog::quote(&table.columns[table.synced].name),
            table.key_condition(2)
        );
        let synced = Cell::Text(Cow::Borrowed(self.clock.text()));
        let params =
            std::iter::once(&synced).chain(table.key.iter().filter_map(|&k| row[k].as_ref()));
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(params)))
            .context(|| format!("deleting from {}", table.name))?;
        self.tables[t].counts.deletes += 1;
        Ok(())
    }

    /// A truncate now (or, if `deferred`, at the end of a sync that ends well): its cutoff is later than every
    /// row written before it and not later than any row written after it.
    pub(super) fn truncate(&mut self, t: usize, deferred: bool) -> Result<()> {
        let cutoff = self.clock.advance().to_owned();
        if deferred {
            self.deferred.insert(t, cutoff);
            return Ok(());
        }
        self.truncate_before(t, &cutoff)
    }

    pub(super) fn truncate_before(&mut self, t: usize, cutoff: &str) -> Result<()> {
        let table = &mut self.tables[t];
        table.counts.truncates += 1;
        if !table.materialized {
            return Ok(());
        }
        let (deleted, synced) = (
            catalog::quote(&table.columns[table.deleted].name),
            catalog::quote(&table.columns[table.synced].name),
        );
        self.conn
            .prepare_cached(&format!(
                "UPDATE {} SET {deleted} = 1 WHERE {synced} < ?1 AND {deleted} IS NOT 1",
                table.quoted
            ))
            .and_then(|mut stmt| stmt.execute([cutoff]))
            .context(|| format!("truncating {}", table.name))?;
        tracing::info!(table = %table.name, "table truncated");
        Ok(())
    }

    /// The record's values by column position (`None`: the record does not set that column). Columns met for
    /// the first time are resolved through the naming strategy and, if `create` and the value is not null,
    /// created — in name order, so that the table's column order does not depend on map iteration.
    fn row<'r>(
        &mut self,
        t: usize,
        record: &'r StructuredRecord,
        create: bool,
    ) -> Result<Vec<Option<Cell<'r>>>> {
        let mut known: Vec<(usize, Cell<'r>)> =
            Vec::with_capacity(record.data.len() + record.row_data.len());
        let mut fresh: Vec<(&'r str, Cell<'r>)> = Vec::new();
        let cells = record
            .data
            .iter()
            .map(|(name, value)| (name, values::cell(value), false))
            .chain(
                record
                    .row_data
                    .iter()
                    .map(|(name, bytes)| (name, values::row_data_cell(bytes), true)),
            );
        for (source, cell, compact) in cells {
            let cell = cell.map_err(|e| WarehouseError::InvalidValue {
                table: self.tables[t].name.to_string(),
                column: source.clone(),
                reason: e.to_string(),
            })?;
            match self.tables[t].source_columns.get(source.as_str()) {
                Some(SourceColumn::At(i)) if compact => {
                    let affinity = self.tables[t].columns[*i].affinity;
                    known.push((*i, values::typed_row_data_cell(cell, affinity)));
                }
                Some(SourceColumn::At(i)) => known.push((*i, cell)),
                Some(SourceColumn::Ignored) => {}
                None => fresh.push((source.as_str(), cell)),
            }
        }
        if !fresh.is_empty() {
            fresh.sort_by(|a, b| a.0.cmp(b.0));
            for (source, cell) in fresh {
                if let Some(i) = self.new_source_column(t, source, &cell, create)? {
                    known.push((i, cell));
                }
            }
        }
        let mut row: Vec<Option<Cell<'r>>> = Vec::new();
        row.resize_with(self.tables[t].columns.len(), || None);
        for (i, cell) in known {
            // Two source names that rename to one column: the first value is kept.
            if row[i].is_none() {
                row[i] = Some(cell);
            }
        }
        Ok(row)
    }

    /// Resolves a source column name seen for the first time in table `t`.
    fn new_source_column(
        &mut self,
        t: usize,
        source: &str,
        cell: &Cell<'_>,
        create: bool,
    ) -> Result<Option<usize>> {
        let renamed = self.naming.column(source);
        let table = &mut self.tables[t];
        if renamed.is_empty() {
            return Err(WarehouseError::EmptyName {
                kind: "column",
                source_name: source.to_owned(),
                context: format!("table {}", table.name),
            });
        }
        if table.is_system(&renamed) {
            tracing::warn!(table = %table.name, column = source, "the warehouse sets this column itself: the values sent are ignored");
            table
                .source_columns
                .insert(source.to_owned(), SourceColumn::Ignored);
            return Ok(None);
        }
        if let Some(i) = table.position(&renamed) {
            let merged = table
                .source_columns
                .iter()
                .find(|(_, c)| matches!(c, SourceColumn::At(j) if *j == i))
                .map(|(other, _)| other.clone());
            if let Some(other) = merged {
                tracing::warn!(table = %table.name, first = %other, second = source, column = %renamed,
                    "two columns become one: a row keeps only one of their values");
            }
            table
                .source_columns
                .insert(source.to_owned(), SourceColumn::At(i));
            return Ok(Some(i));
        }
        // A null creates no column (it reads as NULL without one); a delete creates none either.
        let Some(affinity) = cell.affinity().filter(|_| create) else {
            return Ok(None);
        };
        let i = table.push_column(renamed, affinity);
        if table.materialized {
            self.conn
                .execute_batch(&table.add_column_sql(i))
                .context(|| format!("adding column {} to {}", table.columns[i].name, table.name))?;
            table.counts.schema_changes += 1;
        }
        table
            .source_columns
            .insert(source.to_owned(), SourceColumn::At(i));
        Ok(Some(i))
    }

    /// Checks the key of a keyed table, or computes `_fivetran_id` for a keyless one.
    fn fill_key(
        &self,
        t: usize,
        row: &mut [Option<Cell<'_>>],
        operation: &'static str,
    ) -> Result<()> {
        let table = &self.tables[t];
        if table.keyless {
            let id = row_id::fivetran_id(table.columns.iter().zip(row.iter()).filter_map(
                |(column, cell)| cell.as_ref().map(|cell| (column.name.as_str(), cell)),
            ));
            row[table.key[0]] = Some(Cell::Text(Cow::Owned(id)));
            return Ok(());
        }
        for &k in &table.key {
            if row[k].as_ref().is_none_or(Cell::is_null) {
                return Err(WarehouseError::NullPrimaryKey {
                    table: table.name.to_string(),
                    column: table.columns[k].name.clone(),
                    operation,
                });
            }
        }
        Ok(())
    }

    /// Logs, once per column, a value of another kind than the column's declared type; it is stored as it came.
    fn report_conflicts(&mut self, t: usize, row: &[Option<Cell<'_>>]) {
        let table = &mut self.tables[t];
        let name = &table.name;
        for (column, cell) in table.columns.iter_mut().zip(row) {
            let Some(cell) = cell else { continue };
            if !column.conflict_reported && !column.affinity.holds(cell) {
                column.conflict_reported = true;
                tracing::warn!(table = %name, column = %column.name, declared = column.affinity.sql_type(),
                    received = cell.kind(), "value does not match the column type: stored as received");
            }
        }
    }
}
