//! The SQL connection and what `information_schema` says: the synced tables, their columns, types
//! and primary keys; the server's binlog settings and position.

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, SslOpts};

use super::binlog::Position;
use super::config::{Config, TlsMode};
use super::error::MyError;
use super::types::{kind, Charset, Kind};
use crate::sdk::{ColumnDef, Schema, TableDef};

/// One column of a synced table.
#[derive(Debug, Clone)]
pub struct Column {
    /// Its name (also the destination column's).
    pub name: Arc<str>,
    /// How its values are read.
    pub kind: Kind,
    /// Position in the primary key (0-based), if part of it.
    pub key: Option<usize>,
    /// The character set of its text in binlog images.
    pub charset: Charset,
}

/// A synced table.
#[derive(Debug, Clone)]
pub struct Table {
    /// Its database.
    pub database: String,
    /// Its name in the database.
    pub name: String,
    /// Its destination name.
    pub dest: String,
    /// Columns in `ORDINAL_POSITION` order (the order of a binlog row image).
    pub columns: Vec<Column>,
    /// Indexes of the key columns, in key order (empty: no primary key, `_fivetran_id` stands in).
    pub keys: Vec<usize>,
}

impl Table {
    /// `` `database`.`table` ``.
    pub fn quoted(&self) -> String {
        format!(
            "{}.{}",
            quote_ident(&self.database),
            quote_ident(&self.name)
        )
    }

    /// The table's definition for the schema.
    pub fn def(&self) -> TableDef {
        let mut def = TableDef::new(&self.dest);
        def.columns = self
            .columns
            .iter()
            .map(|c| ColumnDef {
                name: c.name.to_string(),
                ty: c.kind.column_type(),
                primary_key: c.key.is_some(),
            })
            .collect();
        def
    }
}

/// `` `name` ``, with inner backticks doubled.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `'text'` for messages that show SQL to run.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// Opens a connection: UTC session time zone (TIMESTAMP values read as UTC), utf8mb4.
pub async fn connect(config: &Config) -> Result<Conn, MyError> {
    let ssl = match &config.tls {
        TlsMode::Disable => None,
        TlsMode::Require => Some(
            SslOpts::default()
                .with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        TlsMode::VerifyFull { ca_pem } => {
            if !ca_pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(MyError::Setup(
                    "'ca_certificate' holds no PEM certificate; paste the server's CA (-----BEGIN CERTIFICATE-----...)".into(),
                ));
            }
            Some(
                SslOpts::default()
                    .with_root_certs(vec![ca_pem.as_bytes().to_vec().into()])
                    .with_disable_built_in_roots(true),
            )
        }
    };
    let opts = OptsBuilder::default()
        .ip_or_hostname(config.host.clone())
        .tcp_port(config.port)
        .user(Some(config.user.clone()))
        .pass(Some(config.password.expose().to_owned()))
        .prefer_socket(false)
        .init(vec![
            "SET time_zone = '+00:00'",
            "SET NAMES utf8mb4",
            "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        ]);
    let addr = format!("{}:{}", config.host, config.port);
    if ssl.is_some() {
        // mysql_async builds its rustls configuration with the process's default provider: make it
        // the ring one already in the build (a no-op when one is installed).
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let opts = opts.ssl_opts(ssl);
    Conn::new(opts).await.map_err(|e| {
        let e = MyError::sql(format!("cannot log in to {addr} as '{}'", config.user), e);
        match &e {
            MyError::Driver { message, .. } if message.to_ascii_lowercase().contains("certificate") => {
                MyError::Setup(format!(
                    "the TLS certificate of {addr} was refused: {message}; check 'ca_certificate' (the CA that signed the server's certificate) and that the host name is in the certificate, or use tls = require"
                ))
            }
            MyError::Driver { message, .. } if message.contains("SSL") || message.contains("TLS") => {
                MyError::Setup(format!(
                    "TLS with {addr} failed: {message}; enable TLS on the server (ssl-cert, ssl-key) or set 'tls' to 'disable'"
                ))
            }
            _ => e,
        }
    })
}

/// The value of a server variable (`@@name`), as text; `None` when it is NULL.
pub async fn variable(conn: &mut Conn, name: &str) -> Result<Option<String>, MyError> {
    let row: Option<Option<String>> = conn
        .query_first(format!("SELECT CAST(@@{name} AS CHAR)"))
        .await
        .map_err(|e| MyError::sql(format!("cannot read @@{name}"), e))?;
    Ok(row.flatten())
}

/// Whether the server is MariaDB.
pub async fn is_mariadb(conn: &mut Conn) -> Result<bool, MyError> {
    Ok(variable(conn, "version")
        .await?
        .is_some_and(|v| v.to_ascii_lowercase().contains("mariadb")))
}

/// The binlog's current end (`SHOW BINARY LOG STATUS` on MySQL 8.4+, `SHOW MASTER STATUS` before).
pub async fn current_position(conn: &mut Conn) -> Result<Position, MyError> {
    let mut row: Option<Row> = None;
    for sql in ["SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"] {
        match conn.query_first::<Row, _>(sql).await {
            Ok(r) => {
                row = r;
                break;
            }
            Err(mysql_async::Error::Server(e)) if e.code == 1064 => continue,
            Err(e) => {
                let e = MyError::sql("cannot read the binlog position", e);
                return Err(if matches!(e.code(), Some(1227)) {
                    MyError::Setup(format!(
                        "{e}; grant it: GRANT REPLICATION CLIENT ON *.* TO <user>;"
                    ))
                } else {
                    e
                });
            }
        }
    }
    let mut row = row.ok_or_else(|| {
        MyError::Setup("the binlog is off (SHOW MASTER STATUS is empty); start the server with log_bin (log-bin=mysql-bin in my.cnf) and restart".into())
    })?;
    let file: String = row.take(0).unwrap_or_default();
    let pos: u64 = row.take(1).unwrap_or_default();
    Ok(Position { file, pos })
}

/// The binlog files the server still has.
pub async fn binlog_files(conn: &mut Conn) -> Result<Vec<String>, MyError> {
    let rows: Vec<Row> = conn
        .query("SHOW BINARY LOGS")
        .await
        .map_err(|e| MyError::sql("cannot list the binlog files", e))?;
    Ok(rows
        .into_iter()
        .filter_map(|mut r| r.take::<String, _>(0))
        .collect())
}

/// The synced tables with their columns and keys, in (database, name) order.
pub async fn tables(conn: &mut Conn, config: &Config) -> Result<Vec<Table>, MyError> {
    let in_list = config
        .databases
        .iter()
        .map(|d| quote_literal(d))
        .collect::<Vec<_>>()
        .join(", ");
    // MariaDB's JSON is LONGTEXT with a `json_valid` check constraint; MySQL's is its own type (and
    // its CHECK_CONSTRAINTS has no TABLE_NAME).
    let json_check = if is_mariadb(conn).await? {
        "EXISTS (SELECT 1 FROM information_schema.CHECK_CONSTRAINTS k WHERE k.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA \
           AND k.TABLE_NAME = c.TABLE_NAME AND k.CHECK_CLAUSE = CONCAT('json_valid(`', c.COLUMN_NAME, '`)'))"
    } else {
        "0"
    };
    let sql = format!(
        "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, \
         COALESCE(c.NUMERIC_PRECISION, 0), COALESCE(c.NUMERIC_SCALE, 0), COALESCE(c.DATETIME_PRECISION, 0), \
         (SELECT s.SEQ_IN_INDEX FROM information_schema.STATISTICS s WHERE s.TABLE_SCHEMA = c.TABLE_SCHEMA \
           AND s.TABLE_NAME = c.TABLE_NAME AND s.COLUMN_NAME = c.COLUMN_NAME AND s.INDEX_NAME = 'PRIMARY'), \
         {json_check}, COALESCE(c.CHARACTER_SET_NAME, '') \
         FROM information_schema.COLUMNS c JOIN information_schema.TABLES t \
           ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
         WHERE t.TABLE_TYPE = 'BASE TABLE' AND c.TABLE_SCHEMA IN ({in_list}) \
         ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION"
    );
    let rows: Vec<Row> = conn
        .query(sql)
        .await
        .map_err(|e| MyError::sql("cannot read information_schema", e))?;
    let wanted: Option<Vec<(String, String)>> = config
        .tables
        .as_ref()
        .map(|ts| ts.iter().map(|t| config.qualified(t)).collect());
    let mut tables: Vec<Table> = Vec::new();
    for mut row in rows {
        let text = |row: &mut Row, i: usize| -> String {
            match row.take::<mysql_async::Value, _>(i) {
                Some(mysql_async::Value::Bytes(b)) => String::from_utf8_lossy(&b).into_owned(),
                _ => String::new(),
            }
        };
        let database = text(&mut row, 0);
        let name = text(&mut row, 1);
        if let Some(w) = &wanted {
            if !w.iter().any(|(d, t)| *d == database && *t == name) {
                continue;
            }
        }
        let column = text(&mut row, 2);
        let data_type = text(&mut row, 3).to_ascii_lowercase();
        let column_type = text(&mut row, 4).to_ascii_lowercase();
        let precision: u64 = row.take(5).unwrap_or(0);
        let scale: u64 = row.take(6).unwrap_or(0);
        let fsp: u64 = row.take(7).unwrap_or(0);
        let seq: Option<u64> = row.take(8).unwrap_or(None);
        let json: bool = row.take::<i64, _>(9).unwrap_or(0) != 0;
        let data_type = if json { "json".to_owned() } else { data_type };
        let charset = Charset::from_name(&text(&mut row, 10));
        if tables
            .last()
            .is_none_or(|t| t.database != database || t.name != name)
        {
            tables.push(Table {
                dest: config.dest_name(&database, &name),
                database,
                name,
                columns: Vec::new(),
                keys: Vec::new(),
            });
        }
        let table = tables.last_mut().expect("just pushed");
        table.columns.push(Column {
            name: Arc::from(column.as_str()),
            kind: kind(&data_type, &column_type, precision, scale, fsp),
            key: seq.map(|s| s.saturating_sub(1) as usize),
            charset,
        });
    }
    for t in &mut tables {
        let mut keys: Vec<(usize, usize)> = t
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.key.map(|k| (k, i)))
            .collect();
        keys.sort();
        t.keys = keys.into_iter().map(|(_, i)| i).collect();
    }
    Ok(tables)
}

/// The configured tables that do not exist (or are not base tables), as `database.table`.
pub fn unknown_tables(config: &Config, tables: &[Table]) -> Vec<String> {
    config
        .tables
        .iter()
        .flatten()
        .map(|t| config.qualified(t))
        .filter(|(d, n)| !tables.iter().any(|t| t.database == *d && t.name == *n))
        .map(|(d, n)| format!("{d}.{n}"))
        .collect()
}

/// The schema of `tables`.
pub fn schema(tables: &[Table]) -> Schema {
    Schema::new(tables.iter().map(Table::def).collect())
}
