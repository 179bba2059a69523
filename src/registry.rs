//! Connectors by name. Adding a connector is one folder under `connectors/` and one entry here.
//!
//! A connector that talks to an HTTP API also registers its bundled simulator, so that `debug` can sync
//! with no credentials and no network (see [`crate::simulator::launch`]).

use std::sync::Arc;

use crate::sdk::DynConnector;
use crate::simulator::launch::{bundled, SimulatorEntry};

/// A registered connector.
pub struct Registration {
    /// The name used by `--connector` and `FIVETRAN_SOURCE_CONNECTOR`.
    pub name: &'static str,
    /// One line for `fivetran_source connectors`.
    pub description: &'static str,
    /// Builds the connector.
    pub build: fn() -> Arc<dyn DynConnector>,
    /// Its bundled simulator, for API connectors.
    pub simulator: Option<SimulatorEntry>,
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
        simulator: Some(bundled::<crate::connectors::virtuous::simulator::VirtuousSimulator>()),
    },
    Registration {
        name: "ongage",
        description: "OnGage email platform: lists, list fields and contacts of every status",
        build: || Arc::new(crate::connectors::ongage::Ongage::new()),
        simulator: Some(bundled::<crate::connectors::ongage::simulator::OngageSimulator>()),
    },
    Registration {
        name: "everyaction",
        description: "EveryAction / NGP VAN: reference lists, and contacts, contributions, activist codes and survey responses through changed-entity exports",
        build: || Arc::new(crate::connectors::everyaction::EveryAction::new()),
        simulator: Some(bundled::<crate::connectors::everyaction::simulator::EveryActionSimulator>()),
    },
    Registration {
        name: "github",
        description: "GitHub GraphQL v4 (declarative, definitions/github.toml): repositories, issues with comments, pull requests, labels, milestones, releases",
        build: || Arc::new(shipped(crate::connectors::github::DEFINITION)),
        simulator: Some(bundled::<crate::connectors::github::simulator::GithubSimulator>()),
    },
    Registration {
        name: "mysql",
        description: "MySQL 8 and MariaDB 10.11 by the row-based binlog: a consistent snapshot, then the binlog's row events",
        build: || Arc::new(crate::connectors::mysql::Mysql),
        simulator: None,
    },
    Registration {
        name: "postgres",
        description: "PostgreSQL by logical replication (pgoutput): a consistent snapshot, then the slot's changes",
        build: || Arc::new(crate::connectors::postgres::Postgres),
        simulator: None,
    },
    Registration {
        name: "sa360",
        description: "Google Search Ads 360 Reporting API: accounts, campaigns, ad groups, ads, keywords and daily metrics",
        build: || Arc::new(crate::connectors::sa360::Sa360::default()),
        simulator: Some(bundled::<crate::connectors::sa360::simulator::Sa360Simulator>()),
    },
    Registration {
        name: "stripe",
        description: "Stripe (declarative, definitions/stripe.toml): customers, charges, invoices with lines, subscriptions with items, products, prices, refunds, balance transactions",
        build: || Arc::new(shipped(crate::connectors::stripe::DEFINITION)),
        simulator: Some(bundled::<crate::connectors::stripe::simulator::StripeSimulator>()),
    },
    Registration {
        name: "close",
        description: "Close CRM (declarative, definitions/close.toml): leads, contacts, opportunities, activities, tasks, users",
        build: || Arc::new(shipped(crate::connectors::close::DEFINITION)),
        simulator: Some(bundled::<crate::connectors::close::simulator::CloseSimulator>()),
    },
    Registration {
        name: "hubspot",
        description: "HubSpot CRM v3 (declarative, definitions/hubspot.toml): contacts, companies, deals, tickets with their associations",
        build: || Arc::new(shipped(crate::connectors::hubspot::DEFINITION)),
        simulator: Some(bundled::<crate::connectors::hubspot::simulator::HubspotSimulator>()),
    },
];

/// What `debug --definition FILE` runs with when no registered connector has the definition's name:
/// no bundled simulator.
pub static NO_SIMULATOR: Registration = Registration {
    name: "definition",
    description: "a definition file given with --definition",
    build: || Arc::new(crate::connectors::demo::Demo),
    simulator: None,
};

/// A shipped definition as a connector. `declarative::tests::every_shipped_definition_loads` loads
/// each one in CI, so a failure here is a build defect, not a user's mistake.
fn shipped(file: &str) -> crate::declarative::Declarative {
    crate::declarative::shipped(file)
        .unwrap_or_else(|e| panic!("a shipped definition does not load: {e}"))
}

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
