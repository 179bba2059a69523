//! Connectors by name. Adding a connector is one folder under `connectors/` and one entry here.
//!
//! A connector that talks to an HTTP API also registers its bundled simulator, so that `debug` can sync
//! with no credentials and no network: a configuration whose `base_url` is [`SIMULATOR_URL`] makes the
//! runner start the simulator in process and point the connector at it.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::sdk::DynConnector;

/// The `base_url` value that asks the debug runner for the connector's bundled simulator.
pub const SIMULATOR_URL: &str = "simulator";

/// What the runner asks of a simulator.
#[derive(Debug, Clone, Default)]
pub struct SimulatorRequest {
    /// Port to listen on (`None`: any free port).
    pub port: Option<u16>,
    /// The user's configuration: the simulator accepts its credentials.
    pub configuration: HashMap<String, String>,
}

/// A running simulator. Dropping it stops the simulator.
pub struct RunningSimulator {
    /// The configuration to sync against it: the request's, with `base_url` (and anything else the
    /// simulator needs) filled in.
    pub configuration: HashMap<String, String>,
    /// A one-line description for the user (URL, data size).
    pub description: String,
    /// Keeps the simulator alive.
    pub guard: Box<dyn std::any::Any + Send>,
}

/// Starts a connector's simulator.
pub type StartSimulator =
    fn(SimulatorRequest) -> BoxFuture<'static, Result<RunningSimulator, String>>;

/// A registered connector.
pub struct Registration {
    /// The name used by `--connector` and `FIVETRAN_SOURCE_CONNECTOR`.
    pub name: &'static str,
    /// One line for `fivetran_source connectors`.
    pub description: &'static str,
    /// Builds the connector.
    pub build: fn() -> Arc<dyn DynConnector>,
    /// Starts its bundled simulator, for API connectors.
    pub simulator: Option<StartSimulator>,
}

/// The connector a bare `fivetran_source --port N` serves: `virtuous`, unless the build sets
/// `FIVETRAN_SOURCE_DEFAULT_CONNECTOR` (Fivetran's partner pipeline runs the binary with only `--port`, so
/// one build per connector bakes its name in: `FIVETRAN_SOURCE_DEFAULT_CONNECTOR=ongage cargo build
/// --release`). At run time `--connector` or `FIVETRAN_SOURCE_CONNECTOR` still override it.
pub const DEFAULT_CONNECTOR: &str = match option_env!("FIVETRAN_SOURCE_DEFAULT_CONNECTOR") {
    Some(name) => name,
    None => "virtuous",
};

/// Every registered connector.
pub static CONNECTORS: &[Registration] = &[
    Registration {
        name: "demo",
        description: "synthetic records of every Fivetran type; no credentials, no network",
        build: || Arc::new(crate::connectors::demo::Demo),
        simulator: None,
    },
    Registration {
        name: "virtuous",
        description: "Virtuous CRM+: contacts, individuals, contact methods, gifts, designations, projects, campaigns",
        build: || Arc::new(crate::connectors::virtuous::Virtuous::default()),
        simulator: Some(crate::connectors::virtuous::start_simulator),
    },
    Registration {
        name: "ongage",
        description: "OnGage email platform: lists, list fields and contacts of every status",
        build: || Arc::new(crate::connectors::ongage::Ongage::new()),
        simulator: Some(crate::connectors::ongage::start_simulator),
    },
];

/// An unknown connector name.
#[derive(Debug, thiserror::Error)]
#[error("unknown connector '{name}'; valid names: {}", valid_names().join(", "))]
pub struct UnknownConnector {
    /// The name asked for.
    pub name: String,
}

/// The registered names, in order.
pub fn valid_names() -> Vec<&'static str> {
    CONNECTORS.iter().map(|r| r.name).collect()
}

/// The connector registered as `name`.
pub fn find(name: &str) -> Result<&'static Registration, UnknownConnector> {
    CONNECTORS
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| UnknownConnector {
            name: name.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_registered_and_unknown_lists_valid_names() {
        assert!(find(DEFAULT_CONNECTOR).is_ok());
        let err = find("nope").err().unwrap().to_string();
        assert!(err.contains("'nope'") && err.contains("demo"), "{err}");
    }
}
