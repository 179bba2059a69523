//! The connector's errors, and how each reaches the user (one place: [`From<PgError> for Error`]).

use crate::sdk::Error;

/// A SQLSTATE and message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The five-character SQLSTATE (`28P01`, `42501`, ...).
    pub code: String,
    /// The primary message.
    pub message: String,
    /// Detail and hint, when the server sent them.
    pub detail: Option<String>,
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (SQLSTATE {})", self.message, self.code)?;
        if let Some(detail) = &self.detail {
            write!(f, "; {detail}")?;
        }
        Ok(())
    }
}

/// Everything that stops the PostgreSQL connector.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// TCP could not connect.
    #[error("cannot connect to PostgreSQL at {addr}: {source}; check the host, the port and that the network allows it")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The server refused something, with its SQLSTATE.
    #[error("{context}: {error}")]
    Server {
        /// What was being done.
        context: String,
        /// The server's error.
        error: ServerError,
    },
    /// A SQL connection failed (not a server error: I/O, protocol).
    #[error("{context}: {source}")]
    Sql {
        /// What was being done.
        context: String,
        /// The driver's error.
        source: tokio_postgres::Error,
    },
    /// The replication connection broke or sent something unexpected.
    #[error("replication connection: {0}")]
    Protocol(String),
    /// The setup does not allow syncing; the message says what to run or change.
    #[error("{0}")]
    Setup(String),
    /// Changes were lost (slot dropped or moved on): only a re-sync restores the warehouse.
    #[error("{0}; a re-sync of the connector is needed (the warehouse may be missing changes)")]
    Resync(String),
    /// A COPY row did not decode.
    #[error("snapshot of {table}: {source}")]
    Copy {
        /// The table.
        table: String,
        /// What was wrong.
        source: super::copy::CopyError,
    },
}

impl PgError {
    /// Wraps a driver error, keeping the server's SQLSTATE when there is one.
    pub fn sql(context: impl Into<String>, source: tokio_postgres::Error) -> Self {
        let context = context.into();
        match source.as_db_error() {
            Some(db) => PgError::Server {
                context,
                error: ServerError {
                    code: db.code().code().to_owned(),
                    message: db.message().to_owned(),
                    detail: db.detail().or(db.hint()).map(str::to_owned),
                },
            },
            None => PgError::Sql { context, source },
        }
    }

    /// The SQLSTATE, for a server error.
    pub fn code(&self) -> Option<&str> {
        match self {
            PgError::Server { error, .. } => Some(&error.code),
            _ => None,
        }
    }
}

impl From<PgError> for Error {
    fn from(e: PgError) -> Self {
        let text = e.to_string();
        match e.code() {
            Some("28P01" | "28000") => Error::Unauthenticated(format!(
                "{text}; check the user and password (and that pg_hba.conf allows this host)"
            )),
            Some("3D000") => Error::SourceRejected(format!("{text}; check the database name")),
            Some("42501") => Error::PermissionDenied(text),
            _ => match e {
                PgError::Connect { .. } | PgError::Sql { .. } | PgError::Protocol(_) => {
                    Error::Unavailable(text)
                }
                _ => Error::SourceRejected(text),
            },
        }
    }
}
