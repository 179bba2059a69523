//! The library error type, and the one place it becomes a gRPC status.
//!
//! | cause | gRPC code |
//! |---|---|
//! | bad configuration | `INVALID_ARGUMENT` |
//! | unknown setup test | `INVALID_ARGUMENT` |
//! | bad state (not JSON, wrong shape) | `FAILED_PRECONDITION` |
//! | table not declared in the schema | `INTERNAL` (a connector bug) |
//! | source API refused the credentials | `UNAUTHENTICATED` / `PERMISSION_DENIED` |
//! | source API unreachable or still failing after retries | `UNAVAILABLE` |
//! | source API rejected the request otherwise | `FAILED_PRECONDITION` |
//! | the client went away | `CANCELLED` |
//! | the server is shutting down (stopped at a checkpoint) | `UNAVAILABLE` |
//! | anything else from a connector | `INTERNAL` |

use super::{ConfigError, StateError};

/// Everything that can stop an RPC.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration map does not parse into the connector's configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The state does not parse or is too large.
    #[error(transparent)]
    State(#[from] StateError),
    /// `Test` named a test the form does not list.
    #[error("unknown setup test '{name}'; this connector's tests are: {valid}")]
    UnknownTest {
        /// The requested name.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// A connector emitted into a table it did not declare.
    #[error("table '{0}' is not declared in the connector's schema")]
    UndeclaredTable(String),
    /// The source refused the credentials (HTTP 401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The source refused access (HTTP 403).
    #[error("{0}")]
    PermissionDenied(String),
    /// The source is unreachable or kept failing after retries.
    #[error("{0}")]
    Unavailable(String),
    /// The source rejected a request in a way retrying will not fix.
    #[error("{0}")]
    SourceRejected(String),
    /// The gRPC client disconnected; the work stopped.
    #[error("the client disconnected")]
    Cancelled,
    /// The server is shutting down: the sync stopped at a checkpoint (or after the grace period).
    #[error("the server is shutting down: the sync stopped at its last checkpoint and the next sync resumes from there")]
    ShuttingDown,
    /// A connector-specific fatal error, with its message for the user.
    #[error("{0}")]
    Connector(String),
}

impl Error {
    /// The gRPC status code for this error (see the table in the module docs).
    pub fn code(&self) -> tonic::Code {
        use tonic::Code;
        match self {
            Error::Config(_) | Error::UnknownTest { .. } => Code::InvalidArgument,
            Error::State(_) | Error::SourceRejected(_) => Code::FailedPrecondition,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::Unavailable(_) | Error::ShuttingDown => Code::Unavailable,
            Error::Cancelled => Code::Cancelled,
            Error::UndeclaredTable(_) | Error::Connector(_) => Code::Internal,
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        tonic::Status::new(e.code(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_table() {
        let s: tonic::Status = Error::Config(ConfigError::Missing { field: "k".into() }).into();
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert!(s.message().contains("'k'"));
        let s: tonic::Status = Error::Cancelled.into();
        assert_eq!(s.code(), tonic::Code::Cancelled);
        let s: tonic::Status = Error::Unauthenticated("bad key".into()).into();
        assert_eq!(s.code(), tonic::Code::Unauthenticated);
    }
}
