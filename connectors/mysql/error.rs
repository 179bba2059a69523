//! The connector's errors, and how each reaches the user (one place: [`From<MyError> for Error`]).

use crate::sdk::Error;

/// Everything that stops the MySQL connector.
#[derive(Debug, thiserror::Error)]
pub enum MyError {
    /// The server refused something, with its error number.
    #[error("{context}: {message} (MySQL error {code})")]
    Server {
        /// What was being done.
        context: String,
        /// The server's error number (1045, 1142, 1236, ...).
        code: u16,
        /// The server's message.
        message: String,
    },
    /// The connection failed (I/O, TLS, protocol), not a server error.
    #[error("{context}: {message}")]
    Driver {
        /// What was being done.
        context: String,
        /// The driver's message.
        message: String,
    },
    /// The setup does not allow syncing; the message says what to run or change.
    #[error("{0}")]
    Setup(String),
    /// Changes were lost (binlog purged): only a re-sync restores the warehouse.
    #[error("{0}; a re-sync of the connector is needed (the warehouse may be missing changes)")]
    Resync(String),
    /// The binlog sent something this connector cannot read.
    #[error("binlog: {0}")]
    Binlog(String),
}

impl MyError {
    /// Wraps a driver error, keeping the server's error number when there is one.
    pub fn sql(context: impl Into<String>, source: mysql_async::Error) -> Self {
        let context = context.into();
        match source {
            mysql_async::Error::Server(e) => MyError::Server {
                context,
                code: e.code,
                message: e.message,
            },
            other => MyError::Driver {
                context,
                message: other.to_string(),
            },
        }
    }

    /// The server's error number, for a server error.
    pub fn code(&self) -> Option<u16> {
        match self {
            MyError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<MyError> for Error {
    fn from(e: MyError) -> Self {
        let text = e.to_string();
        match e.code() {
            Some(1045) => Error::Unauthenticated(format!("{text}; check the user and password")),
            Some(1049) => Error::SourceRejected(format!("{text}; check the database names")),
            Some(1044 | 1142 | 1143 | 1227) => Error::PermissionDenied(text),
            _ => match e {
                MyError::Driver { .. } => Error::Unavailable(text),
                _ => Error::SourceRejected(text),
            },
        }
    }
}
