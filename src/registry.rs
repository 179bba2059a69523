//! Connectors by name. Adding a connector is one folder under `connectors/` and one entry here.

use std::sync::Arc;

use crate::sdk::DynConnector;

/// A registered connector.
pub struct Registration {
    /// The name used by `--connector` and `FIVETRAN_SOURCE_CONNECTOR`.
    pub name: &'static str,
    /// One line for `fivetran_source connectors`.
    pub description: &'static str,
    /// Builds the connector.
    pub build: fn() -> Arc<dyn DynConnector>,
}

/// The connector a bare `fivetran_source --port N` serves.
pub const DEFAULT_CONNECTOR: &str = "demo";

/// Every registered connector.
pub static CONNECTORS: &[Registration] = &[Registration {
    name: "demo",
    description: "synthetic records of every Fivetran type; no credentials, no network",
    build: || Arc::new(crate::connectors::demo::Demo),
}];

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
