//! The SQL connection and what the catalog says: the published tables, their columns, types and
//! primary keys; the slot; the server's settings and the role's rights.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_postgres::{Client, NoTls};

use super::config::{Config, UpdateMethod};
use super::error::PgError;
use super::replication::{ConnectParams, Lsn};
use super::tls;
use super::types::{scalar_kind, Kind, SESSION_OPTIONS};
use crate::sdk::{ColumnDef, Schema, TableDef};

/// One column of a synced table.
#[derive(Debug, Clone)]
pub struct Column {
    /// Its name (also the destination column's).
    pub name: Arc<str>,
    /// How its text is read.
    pub kind: Kind,
    /// `format_type` of it, to cast a key literal back (`integer`, `character varying(20)`).
    pub sql_type: String,
    /// Position in the primary key (0-based), if part of it.
    pub key: Option<usize>,
}

/// A synced table.
#[derive(Debug, Clone)]
pub struct Table {
    /// Its schema.
    pub schema: String,
    /// Its name in the database.
    pub name: String,
    /// Its destination name: the table's name in `public`, else `schema_table`.
    pub dest: String,
    /// Columns in `attnum` order.
    pub columns: Vec<Column>,
    /// Indexes of the key columns, in key order (empty: no primary key, `_fivetran_id` stands in).
    pub keys: Vec<usize>,
}

impl Table {
    /// The destination name of `schema.name`.
    pub fn dest_name(schema: &str, name: &str) -> String {
        if schema == "public" {
            name.to_owned()
        } else {
            format!("{schema}_{name}")
        }
    }

    /// `"schema"."table"`.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| &*c.name == name)
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

/// `"name"`, with inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, with inner quotes doubled (the connection has `standard_conforming_strings` on, the
/// default since 9.1, so backslashes are plain characters).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The replication connection's parameters for `config`.
pub fn connect_params(config: &Config) -> ConnectParams {
    ConnectParams {
        host: config.host.clone(),
        port: config.port,
        database: config.database.clone(),
        user: config.user.clone(),
        password: config.password.clone(),
        tls: config.tls.clone(),
    }
}

/// Opens the SQL connection (its driver task runs until the client is dropped).
pub async fn connect(config: &Config) -> Result<Client, PgError> {
    let mut pg = tokio_postgres::Config::new();
    pg.host(&config.host)
        .port(config.port)
        .dbname(&config.database)
        .user(&config.user)
        .password(config.password.expose())
        .application_name("fivetran_source")
        .options(SESSION_OPTIONS)
        .connect_timeout(std::time::Duration::from_secs(30));
    let addr = format!("{}:{}", config.host, config.port);
    let refused = |e: tokio_postgres::Error| {
        if e.as_db_error().is_none() {
            if let Some(io) =
                std::error::Error::source(&e).and_then(|s| s.downcast_ref::<std::io::Error>())
            {
                if io.to_string().contains("certificate") {
                    return PgError::Setup(format!(
                        "the TLS certificate of {addr} was refused: {io}; check 'ca_certificate' (the CA that signed the server's certificate) and that the host name is in the certificate, or use tls = require"
                    ));
                }
                return PgError::Connect {
                    addr: addr.clone(),
                    source: std::io::Error::new(io.kind(), io.to_string()),
                };
            }
        }
        PgError::sql(format!("cannot log in to {addr} as '{}'", config.user), e)
    };
    let client = match tls::client_config(&config.tls)? {
        None => {
            let (client, connection) = pg.connect(NoTls).await.map_err(refused)?;
            tokio::spawn(drive(connection));
            client
        }
        Some(tls) => {
            pg.ssl_mode(tokio_postgres::config::SslMode::Require);
            let (client, connection) =
                pg.connect(tls::RustlsConnect(tls)).await.map_err(refused)?;
            tokio::spawn(drive(connection));
            client
        }
    };
    Ok(client)
}

async fn drive<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(connection: F) {
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "postgres connection ended");
    }
}

/// What `pg_replication_slots` says about a slot.
#[derive(Debug, Clone)]
pub struct SlotInfo {
    /// Its output plugin (must be `pgoutput`).
    pub plugin: Option<String>,
    /// Its database.
    pub database: Option<String>,
    /// Everything before this was confirmed by its consumer.
    pub confirmed_flush: Option<Lsn>,
    /// `reserved`, `extended`, `unreserved` or `lost` (WAL removed).
    pub wal_status: Option<String>,
}

/// The slot named `slot`, if it exists.
pub async fn slot(client: &Client, slot: &str) -> Result<Option<SlotInfo>, PgError> {
    let rows = client
        .query(
            "SELECT plugin::text, database::text, confirmed_flush_lsn::text, wal_status::text \
             FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .map_err(|e| PgError::sql("cannot read pg_replication_slots", e))?;
    rows.first()
        .map(|r| {
            let lsn: Option<String> = r.get(2);
            Ok(SlotInfo {
                plugin: r.get(0),
                database: r.get(1),
                confirmed_flush: lsn
                    .map(|l| l.parse())
                    .transpose()
                    .map_err(PgError::Protocol)?,
                wal_status: r.get(3),
            })
        })
        .transpose()
}

/// Where a sync streams to: the end of every WAL record inserted so far, so past the commit record
/// of every transaction that has returned, also one committed asynchronously
/// (`synchronous_commit = off`), whose record may not even be written yet; and made durable, so the
/// server, which decodes only flushed WAL, sends all of it now rather than whenever its WAL writer
/// gets to it (up to three `wal_writer_delay`s, seconds on a tuned server). The flush is a
/// synchronous commit of a transaction that writes one small logical message (any role may, and
/// `pgoutput` does not send it unless asked): committing it flushes the WAL up to its commit
/// record, so everything before it. A transaction that wrote no WAL of its own (one that only
/// takes an ID) would commit asynchronously whatever the setting says, and flush nothing. (`pg_current_wal_lsn()`, the write position, can be
/// behind an asynchronous commit: a sync streaming only that far missed it.)
pub async fn stream_target(client: &Client) -> Result<Lsn, PgError> {
    let row = client
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .await
        .map_err(|e| PgError::sql("cannot read the current WAL position", e))?;
    let text: String = row.get(0);
    let target = text.parse().map_err(PgError::Protocol)?;
    client
        .batch_execute(
            "BEGIN; SET LOCAL synchronous_commit = on; \
             SELECT pg_logical_emit_message(true, 'fivetran_source', 'flush'); COMMIT;",
        )
        .await
        .map_err(|e| PgError::sql("cannot flush the WAL before streaming", e))?;
    Ok(target)
}

/// A setting's value (`SHOW`).
pub async fn setting(client: &Client, name: &str) -> Result<String, PgError> {
    let row = client
        .query_one("SELECT current_setting($1)", &[&name])
        .await
        .map_err(|e| PgError::sql(format!("cannot read setting {name}"), e))?;
    Ok(row.get(0))
}

/// Whether the publication exists.
pub async fn publication_exists(client: &Client, publication: &str) -> Result<bool, PgError> {
    let rows = client
        .query(
            "SELECT 1 FROM pg_publication WHERE pubname = $1",
            &[&publication],
        )
        .await
        .map_err(|e| PgError::sql("cannot read pg_publication", e))?;
    Ok(!rows.is_empty())
}

/// The columns of the tables the query's `FROM` names: [`PUBLISHED_SQL`] or [`CATALOG_SQL`].
const COLUMNS_SELECT: &str = "\
SELECT n.nspname::text, c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), \
       coalesce(b.oid, t.oid), \
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END, \
       coalesce(b.typtype, t.typtype)::text, coalesce(b.typcategory, t.typcategory)::text, \
       coalesce(b.typelem, t.typelem), coalesce(b.typrelid, t.typrelid), \
       coalesce(e.typtype::text, ''), \
       (SELECT k.ord FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
        WHERE i.indrelid = c.oid AND i.indisprimary AND k.attnum = a.attnum) ";

/// The logical replication method's tables: those of the publication (`$1`).
const PUBLISHED_SQL: &str = "\
FROM pg_publication_tables p \
JOIN pg_namespace n ON n.nspname = p.schemaname \
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename \
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
JOIN pg_type t ON t.oid = a.atttypid \
LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype \
LEFT JOIN pg_type e ON e.oid = coalesce(b.typelem, t.typelem) AND coalesce(b.typcategory, t.typcategory) = 'A' \
WHERE p.pubname = $1 \
ORDER BY n.nspname, c.relname, a.attnum";

/// The cursor method's tables: every ordinary or partitioned table (not a partition) of the schemas
/// (`$1`), as the catalog lists them.
const CATALOG_SQL: &str = "\
FROM pg_class c \
JOIN pg_namespace n ON n.oid = c.relnamespace \
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
JOIN pg_type t ON t.oid = a.atttypid \
LEFT JOIN pg_type b ON t.typtype = 'd' AND b.oid = t.typbasetype \
LEFT JOIN pg_type e ON e.oid = coalesce(b.typelem, t.typelem) AND coalesce(b.typcategory, t.typcategory) = 'A' \
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY($1) \
ORDER BY n.nspname, c.relname, a.attnum";

const COMPOSITE_FIELDS_SQL: &str = "\
SELECT a.attrelid, a.attname::text, a.atttypid, a.atttypmod FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
WHERE c.relkind = 'c' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum";

/// The tables that `config` selects (schemas, tables), with their columns: those of the publication
/// (logical replication), or of the catalog (the cursor method). A configured table that is not
/// there is an error naming it (and, for a publication, the SQL that publishes it).
pub async fn tables(client: &Client, config: &Config) -> Result<Vec<Table>, PgError> {
    let replicating = config.method == UpdateMethod::LogicalReplication;
    if replicating && !publication_exists(client, &config.publication).await? {
        return Err(PgError::Setup(format!(
            "publication '{}' does not exist; run as a superuser or the tables' owner: {}",
            config.publication,
            create_publication_sql(config)
        )));
    }
    let mut composites: HashMap<u32, Vec<(String, Kind)>> = HashMap::new();
    for row in client
        .query(COMPOSITE_FIELDS_SQL, &[])
        .await
        .map_err(|e| PgError::sql("cannot read composite types", e))?
    {
        let kind = scalar_kind(row.get(2), row.get(3));
        composites
            .entry(row.get(0))
            .or_default()
            .push((row.get(1), kind));
    }
    let rows = if replicating {
        client
            .query(
                &format!("{COLUMNS_SELECT}{PUBLISHED_SQL}"),
                &[&config.publication],
            )
            .await
    } else {
        let mut schemas = config.schemas.clone();
        schemas.extend(
            config
                .tables
                .iter()
                .flatten()
                .map(|t| Config::qualified(t).0),
        );
        client
            .query(&format!("{COLUMNS_SELECT}{CATALOG_SQL}"), &[&schemas])
            .await
    }
    .map_err(|e| PgError::sql("cannot read the tables' columns", e))?;
    let wanted = |schema: &str, name: &str| match &config.tables {
        Some(list) => list
            .iter()
            .any(|t| Config::qualified(t) == (schema.to_owned(), name.to_owned())),
        None => config.schemas.iter().any(|s| s == schema),
    };
    let mut tables: Vec<Table> = Vec::new();
    for row in rows {
        let (schema, name): (String, String) = (row.get(0), row.get(1));
        if !wanted(&schema, &name) {
            continue;
        }
        if tables
            .last()
            .is_none_or(|t| t.schema != schema || t.name != name)
        {
            tables.push(Table {
                dest: Table::dest_name(&schema, &name),
                schema,
                name,
                columns: Vec::new(),
                keys: Vec::new(),
            });
        }
        let (type_oid, typmod): (u32, i32) = (row.get(4), row.get(5));
        let (typtype, category): (String, String) = (row.get(6), row.get(7));
        let (elem, relid): (u32, u32) = (row.get(8), row.get(9));
        let elem_typtype: String = row.get(10);
        let key: Option<i64> = row.get(11);
        let kind = if category == "A" && elem != 0 {
            let element = if elem_typtype == "b" || elem_typtype == "d" {
                scalar_kind(elem, typmod)
            } else {
                Kind::Text
            };
            Kind::Array(Box::new(element))
        } else if typtype == "c" {
            match composites.get(&relid) {
                Some(fields) => Kind::Composite(fields.clone()),
                None => Kind::Text,
            }
        } else if typtype == "e" {
            Kind::Text
        } else {
            scalar_kind(type_oid, typmod)
        };
        let table = tables.last_mut().expect("pushed above");
        table.columns.push(Column {
            name: Arc::from(row.get::<_, String>(2)),
            kind,
            sql_type: row.get(3),
            key: key.map(|k| (k - 1) as usize),
        });
    }
    for table in &mut tables {
        let mut keys: Vec<(usize, usize)> = table
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.key.map(|k| (k, i)))
            .collect();
        keys.sort_unstable();
        table.keys = keys.into_iter().map(|(_, i)| i).collect();
    }
    if let Some(list) = &config.tables {
        for wanted in list {
            let (schema, name) = Config::qualified(wanted);
            if !tables.iter().any(|t| t.schema == schema && t.name == name) {
                if !replicating {
                    return Err(PgError::Setup(format!(
                        "table '{schema}.{name}' does not exist (or this role cannot see it); check the 'tables' setting"
                    )));
                }
                return Err(PgError::Setup(format!(
                    "table '{schema}.{name}' is not in publication '{}' (or does not exist); check the name, or run: ALTER PUBLICATION {} ADD TABLE {}.{};",
                    config.publication,
                    quote_ident(&config.publication),
                    quote_ident(&schema),
                    quote_ident(&name)
                )));
            }
        }
    }
    let mut seen = HashMap::new();
    for t in &tables {
        if let Some(other) = seen.insert(t.dest.clone(), format!("{}.{}", t.schema, t.name)) {
            return Err(PgError::Setup(format!(
                "tables {other} and {}.{} would both land as '{}'; leave one out with the 'tables' setting",
                t.schema, t.name, t.dest
            )));
        }
    }
    Ok(tables)
}

/// Fails naming every table of `tables` the role may not read, with the `GRANT` that fixes it.
pub async fn check_select(
    client: &Client,
    config: &Config,
    tables: &[Table],
) -> Result<(), PgError> {
    let mut unreadable = Vec::new();
    for t in tables {
        let row = client
            .query_one(
                "SELECT has_table_privilege($1::text, 'SELECT')",
                &[&t.quoted()],
            )
            .await
            .map_err(|e| PgError::sql("cannot check table privileges", e))?;
        if !row.get::<_, bool>(0) {
            unreadable.push(t.quoted());
        }
    }
    if unreadable.is_empty() {
        return Ok(());
    }
    Err(PgError::Setup(format!(
        "the role '{}' may not read {}; run: GRANT SELECT ON {} TO {};",
        config.user,
        unreadable.join(", "),
        unreadable.join(", "),
        quote_ident(&config.user)
    )))
}

/// The schema of `tables`.
pub fn schema(tables: &[Table]) -> Schema {
    Schema::new(tables.iter().map(Table::def).collect())
}

/// The SQL that creates the publication for `config`'s tables or schemas.
pub fn create_publication_sql(config: &Config) -> String {
    let publication = quote_ident(&config.publication);
    match &config.tables {
        Some(list) => format!(
            "CREATE PUBLICATION {publication} FOR TABLE {};",
            list.iter()
                .map(|t| {
                    let (s, n) = Config::qualified(t);
                    format!("{}.{}", quote_ident(&s), quote_ident(&n))
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => format!(
            "CREATE PUBLICATION {publication} FOR TABLES IN SCHEMA {};",
            config
                .schemas
                .iter()
                .map(|s| quote_ident(s))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's \\"), "'it''s \\'");
        assert_eq!(Table::dest_name("public", "t"), "t");
        assert_eq!(Table::dest_name("sales", "t"), "sales_t");
    }
}
