//! `UpdateRequest.selection`: which tables and columns the user chose to sync.
//!
//! Rules (Fivetran partner guide): no selection means everything; a listed table or column follows its
//! `included` flag; an unlisted one follows `include_new_tables` / `include_new_columns` (and
//! `include_new_schemas` for schemas). Primary-key columns are always sent: a row without its key cannot
//! be applied.

use std::collections::HashMap;

use crate::proto;

/// The resolved selection for one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSelection {
    /// Whether the table is synced at all.
    pub included: bool,
    columns: HashMap<String, bool>,
    include_new_columns: bool,
}

impl TableSelection {
    /// Everything selected.
    pub fn all() -> Self {
        Self {
            included: true,
            columns: HashMap::new(),
            include_new_columns: true,
        }
    }

    /// Nothing selected.
    pub fn none() -> Self {
        Self {
            included: false,
            columns: HashMap::new(),
            include_new_columns: false,
        }
    }

    /// Whether `column` is selected (key columns are decided by the caller, which always sends them).
    pub fn column_selected(&self, column: &str) -> bool {
        self.included
            && self
                .columns
                .get(column)
                .copied()
                .unwrap_or(self.include_new_columns)
    }

    /// Whether every column is selected, so per-column checks can be skipped.
    pub fn all_columns(&self) -> bool {
        self.included && self.include_new_columns && self.columns.values().all(|v| *v)
    }

    fn from_proto(t: &proto::TableSelection) -> Self {
        Self {
            included: t.included,
            columns: t.columns.clone(),
            include_new_columns: t.include_new_columns,
        }
    }
}

/// The selection Fivetran sends when a user picks only `tables` (schemaless), each with the columns
/// it lists turned off, new tables excluded and new columns included.
pub fn only_tables(tables: &[(&str, &[&str])]) -> proto::Selection {
    proto::Selection {
        selection: Some(proto::selection::Selection::WithoutSchema(
            proto::TablesWithNoSchema {
                tables: tables
                    .iter()
                    .map(|(name, off)| proto::TableSelection {
                        included: true,
                        table_name: (*name).to_owned(),
                        columns: off.iter().map(|c| ((*c).to_owned(), false)).collect(),
                        include_new_columns: true,
                    })
                    .collect(),
                include_new_tables: false,
            },
        )),
    }
}

/// The whole selection of an `UpdateRequest`.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    inner: Option<proto::selection::Selection>,
}

impl Selection {
    /// Everything selected (no selection sent).
    pub fn all() -> Self {
        Self { inner: None }
    }

    /// Wraps the request's selection.
    pub fn from_proto(selection: Option<proto::Selection>) -> Self {
        Self {
            inner: selection.and_then(|s| s.selection),
        }
    }

    /// The selection of table `name` in `schema` (`None` or `""` for a connector without schemas).
    pub fn table(&self, schema: Option<&str>, name: &str) -> TableSelection {
        use proto::selection::Selection as S;
        match &self.inner {
            None => TableSelection::all(),
            Some(S::WithoutSchema(w)) => Self::in_tables(&w.tables, w.include_new_tables, name),
            Some(S::WithSchema(w)) => {
                let schema = schema.unwrap_or("");
                match w.schemas.iter().find(|s| s.schema_name == schema) {
                    Some(s) if s.included => Self::in_tables(&s.tables, s.include_new_tables, name),
                    Some(_) => TableSelection::none(),
                    None if w.include_new_schemas => TableSelection::all(),
                    None => TableSelection::none(),
                }
            }
        }
    }

    fn in_tables(
        tables: &[proto::TableSelection],
        include_new: bool,
        name: &str,
    ) -> TableSelection {
        match tables.iter().find(|t| t.table_name == name) {
            Some(t) => TableSelection::from_proto(t),
            None if include_new => TableSelection::all(),
            None => TableSelection::none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(
        name: &str,
        included: bool,
        cols: &[(&str, bool)],
        new_cols: bool,
    ) -> proto::TableSelection {
        proto::TableSelection {
            included,
            table_name: name.into(),
            columns: cols.iter().map(|(c, b)| ((*c).into(), *b)).collect(),
            include_new_columns: new_cols,
        }
    }

    #[test]
    fn absent_selection_selects_everything() {
        let s = Selection::all();
        assert!(s.table(None, "x").column_selected("y"));
    }

    #[test]
    fn without_schema_rules() {
        let s = Selection::from_proto(Some(proto::Selection {
            selection: Some(proto::selection::Selection::WithoutSchema(
                proto::TablesWithNoSchema {
                    tables: vec![
                        table("a", true, &[("secret", false)], true),
                        table("b", false, &[], true),
                        table("c", true, &[("keep", true)], false),
                    ],
                    include_new_tables: false,
                },
            )),
        }));
        let a = s.table(None, "a");
        assert!(a.included && a.column_selected("other") && !a.column_selected("secret"));
        assert!(!a.all_columns());
        assert!(!s.table(None, "b").included);
        let c = s.table(None, "c");
        assert!(c.column_selected("keep") && !c.column_selected("new"));
        assert!(!s.table(None, "unlisted").included);
    }

    #[test]
    fn with_schema_rules() {
        let s = Selection::from_proto(Some(proto::Selection {
            selection: Some(proto::selection::Selection::WithSchema(
                proto::TablesWithSchema {
                    schemas: vec![
                        proto::SchemaSelection {
                            included: true,
                            schema_name: "crm".into(),
                            tables: vec![table("a", true, &[], true)],
                            include_new_tables: true,
                        },
                        proto::SchemaSelection {
                            included: false,
                            schema_name: "off".into(),
                            tables: vec![table("a", true, &[], true)],
                            include_new_tables: true,
                        },
                    ],
                    include_new_schemas: false,
                },
            )),
        }));
        assert!(s.table(Some("crm"), "a").included);
        assert!(s.table(Some("crm"), "new_table").included);
        assert!(!s.table(Some("off"), "a").included);
        assert!(!s.table(Some("unknown"), "a").included);
    }
}
