//! The MySQL/MariaDB connector's configuration, parsed once and validated.

use crate::connectors::database::list;
pub use crate::connectors::database::TlsMode;
use crate::sdk::{ConfigError, Configuration, FromConfiguration, Secret};

/// Setup test: connect and log in.
pub const CONNECTION_TEST: &str = "connection";
/// Setup test: the binlog is on, row-based, with full row images.
pub const BINLOG_TEST: &str = "binlog";
/// Setup test: replication grants, the configured tables exist and may be read.
pub const GRANTS_TEST: &str = "grants";

/// The connector's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Host name or address of the server (the primary whose binlog is read).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The databases (schemas) whose tables are synced.
    pub databases: Vec<String>,
    /// If set, only these tables (`database.table`, or `table` in the first database).
    pub tables: Option<Vec<String>>,
    /// The user to log in as.
    pub user: String,
    /// Its password.
    pub password: Secret,
    /// Transport encryption.
    pub tls: TlsMode,
    /// The server id the binlog connection registers as: unique among the server's replicas.
    pub server_id: u32,
    /// Rows per snapshot chunk (one checkpoint after each).
    pub chunk_rows: u64,
    /// The longest a sync streams changes before it checkpoints and ends (the next sync goes on).
    pub max_stream_seconds: u64,
}

impl Config {
    /// `(database, table)` for a configured table name (`table` alone means the first database).
    pub fn qualified(&self, name: &str) -> (String, String) {
        match name.split_once('.') {
            Some((d, t)) => (d.trim().to_owned(), t.trim().to_owned()),
            None => (self.databases[0].clone(), name.trim().to_owned()),
        }
    }

    /// The destination name of `database.table`: the table's name when one database is synced,
    /// else `database_table`.
    pub fn dest_name(&self, database: &str, table: &str) -> String {
        if self.databases.len() == 1 {
            table.to_owned()
        } else {
            format!("{database}_{table}")
        }
    }
}

impl FromConfiguration for Config {
    fn from_configuration(c: &Configuration<'_>) -> Result<Self, ConfigError> {
        let databases =
            list(Some(c.required("databases")?)).ok_or_else(|| ConfigError::Invalid {
                field: "databases".to_owned(),
                reason: "name at least one database".to_owned(),
            })?;
        Ok(Self {
            host: c.required("host")?.trim().to_owned(),
            port: c.int_in_range("port", 3306, 1, 65535)? as u16,
            databases,
            tables: list(c.optional("tables")),
            user: c.required("user")?.trim().to_owned(),
            password: c.secret("password")?,
            tls: TlsMode::from_configuration(c)?,
            server_id: c.int_in_range("server_id", 7_071_000, 1, u32::MAX as u64)? as u32,
            chunk_rows: c.int_in_range("chunk_rows", 50_000, 1, 10_000_000)?,
            max_stream_seconds: c.int_in_range("max_stream_seconds", 600, 1, 86_400)?,
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
        ("databases", "app"),
        ("user", "u"),
        ("password", "p"),
    ];

    #[test]
    fn defaults_lists_and_refusals() {
        let c = parse(BASE).unwrap();
        assert_eq!(
            (c.port, c.server_id, c.chunk_rows),
            (3306, 7_071_000, 50_000)
        );
        assert_eq!((c.tables.clone(), c.tls.clone()), (None, TlsMode::Require));
        assert_eq!(c.qualified("t"), ("app".into(), "t".into()));
        assert_eq!(c.dest_name("app", "t"), "t");
        let mut pairs = BASE.to_vec();
        pairs.push(("databases", "app, shop"));
        pairs.push(("tables", " a, shop.b ,"));
        let c = parse(&pairs).unwrap();
        assert_eq!(c.databases, vec!["app", "shop"]);
        assert_eq!(c.tables.clone().unwrap(), vec!["a", "shop.b"]);
        assert_eq!(c.dest_name("shop", "b"), "shop_b");
        let mut bad = BASE.to_vec();
        bad.push(("server_id", "0"));
        assert!(parse(&bad).unwrap_err().to_string().contains("server_id"));
        let mut bad = BASE.to_vec();
        bad.push(("tls", "verify-full"));
        assert!(parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("'ca_certificate'"));
        assert!(parse(&BASE[..1]).is_err());
        assert!(!format!("{:?}", parse(BASE).unwrap()).contains("\"p\""));
    }
}
