//! fivetran_source: a server for Fivetran's `fivetran_sdk.v2.SourceConnector` gRPC contract, the connector
//! SDK every connector is written against, the shared sync toolkit, and the connectors themselves.
//!
//! Layers, bottom up:
//! - [`proto`]: the generated Fivetran messages;
//! - [`sdk`]: the `Connector` trait, typed configuration, schema, values, the emitter and its wire
//!   encoding, selection, state, and the error type (which becomes a gRPC status in one place);
//! - [`server`]: the tonic service;
//! - [`http`] and [`sync`]: the shared HTTP client and sync machinery every API connector composes;
//! - [`simulator`]: shared machinery for the API simulators used by tests, benchmarks and `debug`;
//! - [`debug`]: the local runner, the host seam and its SQLite warehouse;
//! - [`compliance`]: the suite every connector runs against its simulator;
//! - [`declarative`]: connectors from definition files, run by one engine on the kit;
//! - [`connectors`]: one folder per connector, registered by name in [`registry`].

/// The `fivetran_sdk.v2` messages and gRPC client, generated from `proto/` by `build.rs`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("fivetran_sdk.v2");

    pub mod codec;
}

pub mod compliance;
pub mod debug;
pub mod declarative;
pub mod http;
pub mod logging;
pub mod registry;
pub mod sdk;
pub mod server;
pub mod simulator;
pub mod sync;

#[path = "../connectors/mod.rs"]
pub mod connectors;
