//! fivetran_source: a server for Fivetran's `fivetran_sdk.v2.SourceConnector` gRPC contract, the connector
//! SDK every connector is written against, the shared sync toolkit, and the connectors themselves.
//!
//! Layers, bottom up:
//! - [`proto`] / [`wire`]: the generated Fivetran messages and the pre-encoded record path;
//! - [`sdk`]: the `Connector` trait, typed configuration, schema, values, the emitter, selection, state;
//! - [`server`]: the tonic service (errors become gRPC statuses in one place, see [`error`]);
//! - [`http`] and [`sync`]: the shared HTTP client and sync machinery every API connector composes;
//! - [`simulator`]: shared machinery for the API simulators used by tests, benchmarks and `debug`;
//! - [`debug`]: the local runner and its SQLite warehouse;
//! - [`connectors`]: one folder per connector, registered by name in [`registry`].

/// The `fivetran_sdk.v2` messages and gRPC client, generated from `proto/` by `build.rs`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("fivetran_sdk.v2");
}

pub mod debug;
pub mod error;
pub mod http;
pub mod logging;
pub mod registry;
pub mod sdk;
pub mod server;
pub mod simulator;
pub mod sync;
pub mod wire;

#[path = "../connectors/mod.rs"]
pub mod connectors;
