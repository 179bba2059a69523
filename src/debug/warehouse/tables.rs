//! Finding and creating tables: the table a record names, the tables a schema declares, and their SQLite DDL.

use crate::proto::Table as DeclaredTable;

use super::catalog::{self, SourceColumn, Table, FIVETRAN_ID};
use super::error::{SqliteContext, WarehouseError};
use super::summary::TableName;
use super::values::Affinity;
use super::{LocalWarehouse, Result};

impl LocalWarehouse {
    /// The table a record or truncate names, creating its in-memory entry for an unknown table.
    pub(super) fn table_for(
        &mut self,
        source_schema: Option<&str>,
        source_table: &str,
    ) -> Result<usize> {
        let schema_key = source_schema.unwrap_or("");
        if let Some(&t) = self
            .by_source
            .get(schema_key)
            .and_then(|m| m.get(source_table))
        {
            return Ok(t);
        }
        let name = self.destination_name(source_schema, source_table)?;
        let t = self.table_named(name, |name| Table::new(name, Vec::new(), &[]));
        self.link_source(t, schema_key, source_table);
        Ok(t)
    }

    /// The table with this destination name, made by `make` if there is none.
    fn table_named(&mut self, name: TableName, make: impl FnOnce(TableName) -> Table) -> usize {
        let folded = name.to_string().to_ascii_lowercase();
        if let Some(&t) = self.by_sqlite_name.get(&folded) {
            return t;
        }
        let t = self.tables.len();
        self.tables.push(make(name));
        self.by_sqlite_name.insert(folded, t);
        t
    }

    fn link_source(&mut self, t: usize, schema_key: &str, source_table: &str) {
        let source = (schema_key.to_owned(), source_table.to_owned());
        let table = &mut self.tables[t];
        match &table.source {
            None => table.source = Some(source),
            Some(first) if *first != source => {
                tracing::warn!(table = %table.name, first = %first.1, second = source_table,
                    "two source tables become one destination table: their rows are written to one table");
            }
            Some(_) => {}
        }
        self.by_source
            .entry(schema_key.to_owned())
            .or_default()
            .insert(source_table.to_owned(), t);
    }

    fn destination_name(
        &self,
        source_schema: Option<&str>,
        source_table: &str,
    ) -> Result<TableName> {
        let table = self.naming.table(source_table);
        if table.is_empty() {
            return Err(WarehouseError::EmptyName {
                kind: "table",
                source_name: source_table.to_owned(),
                context: format!("schema '{}'", source_schema.unwrap_or("")),
            });
        }
        Ok(TableName::new(
            self.naming.schema(source_schema, &self.destination_schema),
            table,
        ))
    }

    /// Declares one table of a schema: creates it, or brings an existing one up to the declaration.
    pub(super) fn declare(
        &mut self,
        source_schema: Option<&str>,
        declared: &DeclaredTable,
    ) -> Result<()> {
        let name = self.destination_name(source_schema, &declared.name)?;
        let keyless = !declared.columns.iter().any(|c| c.primary_key);
        let mut columns: Vec<(String, Affinity)> = Vec::new();
        let mut key: Vec<String> = Vec::new();
        let mut sources: Vec<(&str, String)> = Vec::new();
        for column in &declared.columns {
            let renamed = self.naming.column(&column.name);
            if renamed.is_empty() {
                return Err(WarehouseError::EmptyName {
                    kind: "column",
                    source_name: column.name.clone(),
                    context: format!("the declaration of table {name}"),
                });
            }
            let folded = renamed.to_ascii_lowercase();
            if folded == catalog::SYNCED
                || folded == catalog::DELETED
                || (keyless && folded == FIVETRAN_ID)
            {
                tracing::warn!(table = %name, column = %column.name, "declared column is set by the warehouse itself: ignored");
                continue;
            }
            sources.push((&column.name, renamed.clone()));
            if columns
                .iter()
                .any(|(c, _)| c.eq_ignore_ascii_case(&renamed))
            {
                tracing::warn!(table = %name, column = %column.name, renamed = %renamed,
                    "two declared columns become one: the first declaration is kept");
                continue;
            }
            if column.primary_key {
                key.push(renamed.clone());
            }
            columns.push((renamed, Affinity::of_declared(column.r#type)));
        }
        let folded = name.to_string().to_ascii_lowercase();
        let t = match self.by_sqlite_name.get(&folded) {
            Some(&t) if self.tables[t].materialized => {
                self.extend_declared(t, columns, &key)?;
                t
            }
            Some(&t) => {
                // Known only from records of this sync, not created yet: the declaration replaces it.
                let counts = self.tables[t].counts;
                self.tables[t] = Table::new(name, columns, &key);
                self.tables[t].counts = counts;
                self.materialize(t)?;
                t
            }
            None => {
                let t = self.table_named(name, |name| Table::new(name, columns, &key));
                self.materialize(t)?;
                t
            }
        };
        let table = &mut self.tables[t];
        for (source, renamed) in sources {
            if let Some(i) = table.position(&renamed) {
                table
                    .source_columns
                    .entry(source.to_owned())
                    .or_insert(SourceColumn::At(i));
            }
        }
        self.link_source(t, source_schema.unwrap_or(""), &declared.name);
        Ok(())
    }

    /// Brings an existing table up to its declaration: same key, declared columns added.
    fn extend_declared(
        &mut self,
        t: usize,
        columns: Vec<(String, Affinity)>,
        key: &[String],
    ) -> Result<()> {
        let table = &mut self.tables[t];
        let mut existing: Vec<String> = table.key_names().map(str::to_ascii_lowercase).collect();
        let mut wanted: Vec<String> = if key.is_empty() {
            vec![FIVETRAN_ID.to_owned()]
        } else {
            key.iter().map(|k| k.to_ascii_lowercase()).collect()
        };
        existing.sort();
        wanted.sort();
        if existing != wanted {
            return Err(WarehouseError::KeyChanged {
                table: table.name.to_string(),
                existing: table.key_names().collect::<Vec<_>>().join(", "),
                declared: if key.is_empty() {
                    FIVETRAN_ID.to_owned()
                } else {
                    key.join(", ")
                },
            });
        }
        for (name, affinity) in columns {
            if table.position(&name).is_some() {
                continue; // an existing column keeps its type: SQLite cannot change it in place
            }
            let i = table.push_column(name, affinity);
            self.conn
                .execute_batch(&table.add_column_sql(i))
                .context(|| format!("adding column {} to {}", table.columns[i].name, table.name))?;
            table.counts.schema_changes += 1;
        }
        Ok(())
    }

    /// Creates the SQLite table of an in-memory table, inside the current transaction.
    pub(super) fn materialize(&mut self, t: usize) -> Result<()> {
        let table = &mut self.tables[t];
        self.conn
            .execute_batch(&table.create_sql())
            .context(|| format!("creating table {}", table.name))?;
        catalog::register(&self.conn, table)?;
        table.materialized = true;
        table.counts.schema_changes += 1;
        tracing::info!(table = %table.name, "table created");
        Ok(())
    }
}
