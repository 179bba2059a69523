//! The PostgreSQL connector's configuration, parsed once and validated.

use crate::sdk::{ConfigError, Configuration, FromConfiguration, Secret};

/// Setup test: connect and log in.
pub const CONNECTION_TEST: &str = "connection";
/// Setup test: `wal_level = logical` and the role may replicate and read the tables.
pub const REPLICATION_TEST: &str = "replication";
/// Setup test: the publication exists (created when permitted) and the slot can be used.
pub const PUBLICATION_TEST: &str = "publication";

use crate::connectors::database::list;
pub use crate::connectors::database::TlsMode;

/// The connector's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Host name or address of the server (or its read-write primary).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The database to sync.
    pub database: String,
    /// The role to log in as.
    pub user: String,
    /// Its password.
    pub password: Secret,
    /// Transport encryption.
    pub tls: TlsMode,
    /// Schemas whose tables are synced (default `public`).
    pub schemas: Vec<String>,
    /// If set, only these tables (`schema.table`, or `table` for `public`).
    pub tables: Option<Vec<String>>,
    /// The logical replication slot this connector owns.
    pub slot: String,
    /// The publication the slot streams.
    pub publication: String,
    /// Rows per snapshot chunk (one checkpoint after each).
    pub chunk_rows: u64,
    /// The longest a sync streams changes before it checkpoints and ends (the next sync goes on).
    pub max_stream_seconds: u64,
    /// How changes are found after the first snapshot.
    pub method: UpdateMethod,
}

/// How a sync finds what changed since the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateMethod {
    /// A logical replication slot decoded from pgoutput (the default): inserts, updates, deletes and
    /// truncates, exactly.
    LogicalReplication,
    /// For servers where replication is not allowed: rows whose cursor column is at or past the last
    /// value read (inserts and updates, not deletes); tables without a cursor column are re-read
    /// whole every sync, which finds their deletes too.
    Cursor(Vec<CursorColumn>),
}

/// A table's cursor column for [`UpdateMethod::Cursor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorColumn {
    /// The table's schema.
    pub schema: String,
    /// The table's name.
    pub table: String,
    /// The column whose value grows with every insert and update (an `updated_at`, a sequence).
    pub column: String,
}

impl UpdateMethod {
    /// The cursor column configured for `schema.table`, if any.
    pub fn cursor_column(&self, schema: &str, table: &str) -> Option<&str> {
        match self {
            UpdateMethod::LogicalReplication => None,
            UpdateMethod::Cursor(columns) => columns
                .iter()
                .find(|c| c.schema == schema && c.table == table)
                .map(|c| c.column.as_str()),
        }
    }

    fn from_configuration(c: &Configuration<'_>) -> Result<Self, ConfigError> {
        match c
            .optional("update_method")
            .unwrap_or("logical_replication")
            .trim()
        {
            "logical_replication" | "" => Ok(UpdateMethod::LogicalReplication),
            "cursor" => {
                let mut columns = Vec::new();
                for pair in list(c.optional("cursor_columns")).unwrap_or_default() {
                    let Some((table, column)) = pair.split_once('=') else {
                        return Err(ConfigError::Invalid {
                            field: "cursor_columns".to_owned(),
                            reason: format!(
                                "'{pair}' is not table=column (for example orders=updated_at, sales.items=modified_at)"
                            ),
                        });
                    };
                    let (schema, table) = Config::qualified(table);
                    let column = column.trim().to_owned();
                    if table.is_empty() || column.is_empty() {
                        return Err(ConfigError::Invalid {
                            field: "cursor_columns".to_owned(),
                            reason: format!("'{pair}' names no table or no column"),
                        });
                    }
                    columns.push(CursorColumn {
                        schema,
                        table,
                        column,
                    });
                }
                Ok(UpdateMethod::Cursor(columns))
            }
            other => Err(ConfigError::Invalid {
                field: "update_method".to_owned(),
                reason: format!("'{other}' is not one of logical_replication, cursor"),
            }),
        }
    }
}

impl Config {
    /// `schema.table` for a configured table name (`table` alone means `public`).
    pub fn qualified(name: &str) -> (String, String) {
        match name.split_once('.') {
            Some((s, t)) => (s.trim().to_owned(), t.trim().to_owned()),
            None => ("public".to_owned(), name.trim().to_owned()),
        }
    }
}

/// A slot or publication name: PostgreSQL allows lowercase letters, digits and `_` in slot names.
fn identifier(c: &Configuration<'_>, field: &str, default: &str) -> Result<String, ConfigError> {
    let value = c.optional(field).unwrap_or(default).trim().to_owned();
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
    if ok {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            field: field.to_owned(),
            reason: "use 1 to 63 lowercase letters, digits or underscores".to_owned(),
        })
    }
}

impl FromConfiguration for Config {
    fn from_configuration(c: &Configuration<'_>) -> Result<Self, ConfigError> {
        let tls = TlsMode::from_configuration(c)?;
        Ok(Self {
            host: c.required("host")?.trim().to_owned(),
            port: c.int_in_range("port", 5432, 1, 65535)? as u16,
            database: c.required("database")?.trim().to_owned(),
            user: c.required("user")?.trim().to_owned(),
            password: c.secret("password")?,
            tls,
            schemas: list(c.optional("schemas")).unwrap_or_else(|| vec!["public".to_owned()]),
            tables: list(c.optional("tables")),
            slot: identifier(c, "replication_slot", "fivetran_slot")?,
            publication: identifier(c, "publication", "fivetran_pub")?,
            chunk_rows: c.int_in_range("chunk_rows", 50_000, 1, 10_000_000)?,
            max_stream_seconds: c.int_in_range("max_stream_seconds", 600, 1, 86_400)?,
            method: UpdateMethod::from_configuration(c)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Config::from_configuration(&Configuration::new(&map))
    }

    const BASE: &[(&str, &str)] = &[
        ("host", "db"),
        ("database", "app"),
        ("user", "u"),
        ("password", "p"),
    ];

    #[test]
    fn defaults_lists_and_refusals() {
        let c = parse(BASE).unwrap();
        assert_eq!((c.port, c.slot.as_str()), (5432, "fivetran_slot"));
        assert_eq!(c.schemas, vec!["public"]);
        assert_eq!((c.tables, c.tls), (None, TlsMode::Require));
        let mut pairs = BASE.to_vec();
        pairs.push(("tables", " a, s.b ,"));
        pairs.push(("schemas", "public, s"));
        let c = parse(&pairs).unwrap();
        assert_eq!(c.tables.unwrap(), vec!["a", "s.b"]);
        assert_eq!(Config::qualified("s.b"), ("s".into(), "b".into()));
        assert_eq!(Config::qualified("a"), ("public".into(), "a".into()));
        let mut bad = BASE.to_vec();
        bad.push(("replication_slot", "Bad-Slot"));
        assert!(parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("replication_slot"));
        let mut bad = BASE.to_vec();
        bad.push(("tls", "prefer"));
        assert!(parse(&bad).unwrap_err().to_string().contains("'tls'"));
        let mut bad = BASE.to_vec();
        bad.push(("tls", "verify-full"));
        assert!(parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("'ca_certificate'"));
        assert!(parse(&BASE[1..])
            .unwrap_err()
            .to_string()
            .contains("'host'"));
        assert!(!format!("{:?}", parse(BASE).unwrap()).contains("\"p\""));
    }

    #[test]
    fn the_cursor_method_reads_table_column_pairs() {
        assert_eq!(
            parse(BASE).unwrap().method,
            UpdateMethod::LogicalReplication
        );
        let mut pairs = BASE.to_vec();
        pairs.push(("update_method", "cursor"));
        pairs.push((
            "cursor_columns",
            "orders = updated_at, sales.items=modified",
        ));
        let method = parse(&pairs).unwrap().method;
        assert_eq!(method.cursor_column("public", "orders"), Some("updated_at"));
        assert_eq!(method.cursor_column("sales", "items"), Some("modified"));
        assert_eq!(method.cursor_column("public", "items"), None);
        let mut only = BASE.to_vec();
        only.push(("update_method", "cursor"));
        assert_eq!(
            parse(&only).unwrap().method,
            UpdateMethod::Cursor(Vec::new())
        );
        for (field, value, says) in [
            ("cursor_columns", "orders", "table=column"),
            ("cursor_columns", "orders=", "no column"),
            ("update_method", "xmin", "logical_replication, cursor"),
        ] {
            let mut bad = only.clone();
            bad.retain(|(k, _)| *k != field);
            bad.push((field, value));
            let message = parse(&bad).unwrap_err().to_string();
            assert!(
                message.contains(field) && message.contains(says),
                "{message}"
            );
        }
    }
}
