//! MySQL 8 and MariaDB 10.11 by the row-based binlog (issue 14): a consistent initial snapshot, then
//! the binlog's row events. See docs/databases.md for the setup a user runs, the type map and why
//! nothing is lost or left stale.
//!
//! Composition: [`config`] (the form's values), [`catalog`] (the SQL connection and what
//! `information_schema` says), [`types`] (the type map and the one value converter), [`binlog`]
//! (positions and the QUERY statements acted on), [`sync`] (state, snapshot, stream). No simulator:
//! the tests start throwaway MariaDB servers (tests/cdc/).
//!
//! Limits:
//! - the position is a binlog file and offset of one server: after a failover to another server the
//!   offsets differ and a re-sync is needed (the GTID set is recorded in the state, not used);
//! - binlog row images are matched to columns by position: columns added at the end (`ADD COLUMN`
//!   without `FIRST`/`AFTER`) are followed; a column dropped, reordered or inserted in the middle of a
//!   synced table needs a re-sync;
//! - a table without a primary key is read in one pass (no resumable chunks);
//! - zero dates (`'0000-00-00'`) and zero timestamps land as NULL;
//! - partial JSON updates (`binlog_row_value_options = PARTIAL_JSON`) are not read.

pub mod binlog;
pub mod catalog;
pub mod config;
pub mod error;
pub mod sync;
pub mod types;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;

use crate::sdk::{Connector, Emitter, Error, Field, Form, Schema};

use catalog::{quote_ident, quote_literal};
pub use config::{Config, BINLOG_TEST, CONNECTION_TEST, GRANTS_TEST};
use error::MyError;
pub use sync::MysqlState;

/// The MySQL/MariaDB connector.
#[derive(Debug, Clone, Default)]
pub struct Mysql;

impl Mysql {
    async fn test_binlog(config: &Config) -> Result<(), MyError> {
        let mut conn = catalog::connect(config).await?;
        let log_bin = catalog::variable(&mut conn, "log_bin")
            .await?
            .unwrap_or_default();
        if !matches!(log_bin.as_str(), "1" | "ON") {
            return Err(MyError::Setup(
                "the binlog is off (log_bin = OFF); start the server with log-bin (in my.cnf: [mysqld] log-bin = mysql-bin, server-id = 1) and restart it".into(),
            ));
        }
        let format = catalog::variable(&mut conn, "binlog_format")
            .await?
            .unwrap_or_default();
        if !format.eq_ignore_ascii_case("ROW") {
            return Err(MyError::Setup(format!(
                "binlog_format is '{format}'; row-based replication needs ROW: run SET GLOBAL binlog_format = 'ROW'; and set binlog_format = ROW in my.cnf so it survives a restart (sessions already open keep the old format until they reconnect)"
            )));
        }
        let image = catalog::variable(&mut conn, "binlog_row_image")
            .await?
            .unwrap_or_default();
        if !image.eq_ignore_ascii_case("FULL") {
            return Err(MyError::Setup(format!(
                "binlog_row_image is '{image}'; this connector needs every column in each row event: run SET GLOBAL binlog_row_image = 'FULL'; and set binlog_row_image = FULL in my.cnf"
            )));
        }
        // Optional: with column names in the table maps, row images bind by name, so columns added
        // in the middle, dropped or reordered need no re-sync.
        let metadata = catalog::variable(&mut conn, "binlog_row_metadata").await?;
        if !metadata
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("FULL"))
        {
            tracing::warn!(
                binlog_row_metadata = metadata.as_deref().unwrap_or("absent"),
                "row images are bound to columns by position: a column added in the middle, dropped or reordered needs a re-sync of its table; SET GLOBAL binlog_row_metadata = 'FULL'; (MySQL 8.0.1+, MariaDB 10.5+) binds them by name"
            );
        }
        Ok(())
    }

    async fn test_grants(config: &Config) -> Result<(), MyError> {
        let mut conn = catalog::connect(config).await?;
        let account: Option<String> = conn
            .query_first("SELECT CURRENT_USER()")
            .await
            .map_err(|e| MyError::sql("cannot read the current user", e))?;
        let account = account.unwrap_or_else(|| config.user.clone());
        let to = match account.split_once('@') {
            Some((u, h)) => format!("{}@{}", quote_literal(u), quote_literal(h)),
            None => quote_literal(&account),
        };
        let grants: Vec<String> = conn
            .query("SHOW GRANTS")
            .await
            .map_err(|e| MyError::sql("cannot read the user's grants", e))?;
        let global: Vec<String> = grants
            .iter()
            .map(|g| g.to_ascii_uppercase())
            .filter(|g| g.contains(" ON *.* "))
            .collect();
        let has = |p: &str| {
            global
                .iter()
                .any(|g| g.contains("ALL PRIVILEGES") || g.contains(p))
        };
        // MariaDB 10.5+ shows REPLICATION CLIENT as BINLOG MONITOR.
        let missing: Vec<&str> = [
            ("REPLICATION SLAVE", has("REPLICATION SLAVE")),
            (
                "REPLICATION CLIENT",
                has("REPLICATION CLIENT") || has("BINLOG MONITOR") || has("SUPER"),
            ),
        ]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(p, _)| p)
        .collect();
        if !missing.is_empty() {
            return Err(MyError::Setup(format!(
                "the user {account} lacks {}, which reading the binlog needs; run as an administrator: GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO {to};",
                missing.join(" and ")
            )));
        }
        let tables = catalog::tables(&mut conn, config).await?;
        let unknown = catalog::unknown_tables(config, &tables);
        if !unknown.is_empty() {
            return Err(MyError::Setup(format!(
                "table(s) {} not found (or not visible to {account}); check the 'tables' setting, or grant: GRANT SELECT ON {} TO {to};",
                unknown.join(", "),
                unknown.join(", "),
            )));
        }
        if tables.is_empty() {
            return Err(MyError::Setup(format!(
                "no tables visible to {account} in {}; grant: GRANT SELECT ON {}.* TO {to};",
                config.databases.join(", "),
                quote_ident(&config.databases[0]),
            )));
        }
        let mut unreadable = Vec::new();
        for t in &tables {
            if let Err(e) = conn
                .query_drop(format!("SELECT 1 FROM {} LIMIT 0", t.quoted()))
                .await
            {
                let e = MyError::sql("", e);
                if matches!(e.code(), Some(1142 | 1143)) {
                    unreadable.push(t.quoted());
                } else {
                    return Err(e);
                }
            }
        }
        if !unreadable.is_empty() {
            return Err(MyError::Setup(format!(
                "the user {account} may not read {}; run: {}",
                unreadable.join(", "),
                unreadable
                    .iter()
                    .map(|t| format!("GRANT SELECT ON {t} TO {to};"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for Mysql {
    type Config = Config;
    type State = MysqlState;

    fn form(&self) -> Form {
        Form::new()
            .field(Field::text("host", "Host").placeholder("db.example.com"))
            .field(Field::text("port", "Port").optional().default_value("3306"))
            .field(
                Field::text("databases", "Databases")
                    .description("Comma-separated databases whose tables are synced."),
            )
            .field(
                Field::text("tables", "Tables")
                    .optional()
                    .placeholder("shop.orders, shop.items")
                    .description("Only these tables (database.table, comma-separated); empty: every table of the databases."),
            )
            .field(Field::text("user", "User"))
            .field(Field::password("password", "Password"))
            .field(
                Field::dropdown("tls", "TLS", &["disable", "require", "verify-full"])
                    .optional()
                    .default_value("require")
                    .description("require: encrypted, certificate not checked; verify-full: checked against the CA below and the host name; disable: plain (a private network or an SSH tunnel)."),
            )
            .field(
                Field::text("ca_certificate", "CA certificate (PEM)")
                    .optional()
                    .description("For verify-full: the CA that signed the server's certificate, as PEM text."),
            )
            .field(
                Field::text("server_id", "Replica server id")
                    .optional()
                    .default_value("7071000")
                    .description("The server id the binlog connection registers with; unique among the server's replicas."),
            )
            .advanced(vec![
                Field::text("chunk_rows", "Snapshot rows per checkpoint")
                    .optional()
                    .default_value("50000"),
                Field::text("max_stream_seconds", "Longest a sync streams changes (seconds)")
                    .optional()
                    .default_value("600"),
            ])
            .test(CONNECTION_TEST, "Connect and log in")
            .test(BINLOG_TEST, "log_bin on, binlog_format = ROW, binlog_row_image = FULL")
            .test(GRANTS_TEST, "Replication grants and the tables")
    }

    async fn test(&self, name: &str, config: &Config) -> Result<(), Error> {
        match name {
            CONNECTION_TEST => {
                let mut conn = catalog::connect(config).await?;
                conn.query_drop("SELECT 1")
                    .await
                    .map_err(|e| MyError::sql("cannot run a query", e))?;
                Ok(())
            }
            BINLOG_TEST => Ok(Self::test_binlog(config).await?),
            _ => Ok(Self::test_grants(config).await?),
        }
    }

    async fn schema(&self, config: &Config) -> Result<Schema, Error> {
        let mut conn = catalog::connect(config).await?;
        Ok(catalog::schema(&catalog::tables(&mut conn, config).await?))
    }

    async fn update(
        &self,
        config: &Config,
        state: MysqlState,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        sync::run(config, state, out).await
    }
}
