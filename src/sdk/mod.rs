//! The connector SDK: what a connector implements and the types it talks in.
//!
//! A connector implements [`Connector`] with its own configuration ([`FromConfiguration`]) and state
//! ([`ConnectorState`]) types, declares its tables as a [`Schema`], turns API records into [`Row`]s in
//! its `models`, and pushes them into the [`Emitter`]. The SDK owns parsing, batching, backpressure,
//! checkpoint ordering and selection.

mod config;
mod connector;
mod emitter;
mod error;
mod form;
pub mod json;
mod schema;
mod secret;
pub mod selection;
pub mod state;
pub mod table;
mod value;
pub mod wire;

pub use config::{ConfigError, Configuration, FromConfiguration};
pub use connector::{Connector, DynConnector};
pub use emitter::{
    key_row, task_message, Emitter, EmitterOptions, EmitterStats, Outbox, MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS, QUEUE_CAPACITY,
};
pub use error::Error;
pub use form::{Field, Form};
pub use schema::{ColumnDef, ColumnType, Schema, TableDef};
pub use secret::Secret;
pub use selection::Selection;
pub use state::{ConnectorState, StateError};
pub use value::{ColumnName, Row, Value};
