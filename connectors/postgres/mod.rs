//! PostgreSQL by logical replication (issue 14): a consistent initial snapshot, then the changes of a
//! replication slot decoded from pgoutput. See docs/databases.md for the setup a user runs, the type
//! map and why nothing is lost or left stale.
//!
//! Composition: [`config`] (the form's values), [`catalog`] (the SQL connection and what the catalog
//! says), [`types`] (the type map and the one text → value converter), [`copy`] (COPY's text format),
//! [`replication`] (the replication protocol over TCP), [`pgoutput`] (its messages), [`scan`] (chunked
//! ordered reads by COPY), [`sync`] (state, snapshot, stream), [`cursor`] (the cursor update method). No simulator: the tests start throwaway PostgreSQL servers (tests/cdc/).
//!
//! Limits:
//! - the cursor update method ([`cursor`], for servers without logical replication) sees inserts
//!   and updates of tables with a cursor column, not their deletes;
//! - `time`, `timetz`, `interval` and unconstrained `numeric` land as STRING (exact text);
//!   composite values are JSON objects of their fields' texts;
//! - partitioned tables are synced through their partitions as the publication lists them;
//! - a table without a primary key is read in one pass (no resumable chunks), and its updates and
//!   deletes need `REPLICA IDENTITY FULL`.

pub mod catalog;
pub mod config;
pub mod copy;
pub mod cursor;
pub mod error;
pub mod pgoutput;
pub mod replication;
pub mod scan;
pub mod sync;
pub mod tls;
pub mod types;

use async_trait::async_trait;

use crate::sdk::{Connector, Emitter, Error, Field, Form, Schema};

use catalog::quote_ident;
pub use config::{Config, UpdateMethod, CONNECTION_TEST, PUBLICATION_TEST, REPLICATION_TEST};
use error::PgError;
pub use sync::PostgresState;

/// The PostgreSQL connector.
#[derive(Debug, Clone, Default)]
pub struct Postgres;

impl Postgres {
    async fn test_replication(config: &Config) -> Result<(), PgError> {
        let client = catalog::connect(config).await?;
        let wal_level = catalog::setting(&client, "wal_level").await?;
        if wal_level != "logical" {
            return Err(PgError::Setup(format!(
                "wal_level is '{wal_level}', and logical replication needs 'logical'; run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL (on a managed service, set its logical replication flag)"
            )));
        }
        let row = client
            .query_one(
                "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .await
            .map_err(|e| PgError::sql("cannot read the role's attributes", e))?;
        if !row.get::<_, bool>(0) {
            return Err(PgError::Setup(format!(
                "the role '{}' lacks the REPLICATION attribute; run as a superuser: ALTER ROLE {} WITH REPLICATION;",
                config.user,
                quote_ident(&config.user)
            )));
        }
        Ok(())
    }

    async fn test_publication(config: &Config) -> Result<(), PgError> {
        let client = catalog::connect(config).await?;
        if !catalog::publication_exists(&client, &config.publication).await? {
            let sql = catalog::create_publication_sql(config);
            if let Err(e) = client.batch_execute(&sql).await {
                let e = PgError::sql("cannot create the publication", e);
                return Err(PgError::Setup(format!(
                    "publication '{}' does not exist and this role cannot create it ({e}); run as a superuser or the tables' owner: {sql}",
                    config.publication
                )));
            }
            tracing::info!(publication = %config.publication, "created the publication");
        }
        let tables = catalog::tables(&client, config).await?;
        if tables.is_empty() {
            return Err(PgError::Setup(format!(
                "publication '{}' has no tables in the configured schemas ({}); add tables to it or change the 'schemas' setting",
                config.publication,
                config.schemas.join(", ")
            )));
        }
        catalog::check_select(&client, config, &tables).await?;
        if let Some(slot) = catalog::slot(&client, &config.slot).await? {
            if slot.plugin.as_deref() != Some("pgoutput") {
                return Err(PgError::Setup(format!(
                    "replication slot '{}' exists with plugin {:?}; it must use pgoutput: SELECT pg_drop_replication_slot('{}'); and let the first sync create it",
                    config.slot, slot.plugin, config.slot
                )));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for Postgres {
    type Config = Config;
    type State = PostgresState;

    fn form(&self) -> Form {
        Form::new()
            .field(Field::text("host", "Host").placeholder("db.example.com"))
            .field(Field::text("port", "Port").optional().default_value("5432"))
            .field(Field::text("database", "Database"))
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
                Field::text("schemas", "Schemas")
                    .optional()
                    .default_value("public")
                    .description("Comma-separated schemas whose published tables are synced."),
            )
            .field(
                Field::text("tables", "Tables")
                    .optional()
                    .placeholder("public.orders, sales.items")
                    .description("Only these tables (schema.table, comma-separated); empty: every published table of the schemas."),
            )
            .field(
                Field::text("replication_slot", "Replication slot")
                    .optional()
                    .default_value("fivetran_slot"),
            )
            .field(
                Field::text("publication", "Publication")
                    .optional()
                    .default_value("fivetran_pub"),
            )
            .field(
                Field::dropdown("update_method", "Update method", &["logical_replication", "cursor"])
                    .optional()
                    .default_value("logical_replication")
                    .description("logical_replication: every insert, update, delete and truncate from a replication slot. cursor: where replication is not allowed, the rows whose cursor column moved (no deletes); tables without one are re-read whole every sync."),
            )
            .field(
                Field::text("cursor_columns", "Cursor columns")
                    .optional()
                    .placeholder("orders=updated_at, sales.items=modified_at")
                    .description("For the cursor method: table=column pairs, the column one that every insert and update moves forward."),
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
            .test(REPLICATION_TEST, "wal_level = logical and the role may replicate (cursor method: the cursor columns)")
            .test(PUBLICATION_TEST, "Publication, tables and slot (cursor method: the tables can be read)")
    }

    async fn test(&self, name: &str, config: &Config) -> Result<(), Error> {
        match name {
            CONNECTION_TEST => {
                let client = catalog::connect(config).await?;
                client
                    .simple_query("SELECT 1")
                    .await
                    .map_err(|e| PgError::sql("cannot run a query", e))?;
                Ok(())
            }
            REPLICATION_TEST => match &config.method {
                UpdateMethod::LogicalReplication => Ok(Self::test_replication(config).await?),
                UpdateMethod::Cursor(columns) => Ok(cursor::test_columns(config, columns).await?),
            },
            _ => match &config.method {
                UpdateMethod::LogicalReplication => Ok(Self::test_publication(config).await?),
                UpdateMethod::Cursor(_) => Ok(cursor::test_tables(config).await?),
            },
        }
    }

    async fn schema(&self, config: &Config) -> Result<Schema, Error> {
        let client = catalog::connect(config).await?;
        Ok(catalog::schema(&catalog::tables(&client, config).await?))
    }

    async fn update(
        &self,
        config: &Config,
        state: PostgresState,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        match &config.method {
            UpdateMethod::LogicalReplication => sync::run(config, state, out).await,
            UpdateMethod::Cursor(columns) => cursor::run(config, columns, state, out).await,
        }
    }
}
