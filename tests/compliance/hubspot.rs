//! HubSpot (the shipped definition `definitions/hubspot.toml`) under the compliance suite: the
//! simulator's records as the rows the tables must hold, written from HubSpot's fields.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use fivetran_source::compliance::{
    shipped_definition, start_sim, ExpectedRow, Sim, Subject, Truth,
};
use fivetran_source::connectors::hubspot::simulator::{
    modified_property, HubspotConfig, HubspotSimulator, StoredRecord,
};
use fivetran_source::sdk::DynConnector;
use fivetran_source::simulator::SimControl;

/// The HubSpot definition and its simulator.
pub struct HubspotSubject;

impl Subject for HubspotSubject {
    fn name(&self) -> &'static str {
        "hubspot"
    }

    fn connector(&self) -> Arc<dyn DynConnector> {
        shipped_definition(fivetran_source::connectors::hubspot::DEFINITION)
    }

    fn start(&self, seed: u64) -> BoxFuture<'static, Box<dyn Sim>> {
        let config = HubspotConfig {
            seed,
            ..HubspotConfig::small()
        };
        start_sim(config, HubspotSim)
    }

    fn endpoints(&self) -> Vec<&'static str> {
        vec![
            "/crm/v3/objects/contacts",
            "/crm/v3/objects/companies",
            "/crm/v3/objects/deals",
            "/crm/v3/objects/tickets",
        ]
    }

    fn selection_probe(&self) -> Option<(&'static str, Vec<&'static str>)> {
        Some((
            "companies",
            vec![
                "/crm/v3/objects/contacts",
                "/crm/v3/objects/deals",
                "/crm/v3/objects/tickets",
            ],
        ))
    }

    fn credentials_advice(&self) -> Option<&'static str> {
        Some("access token")
    }

    /// Search results carry no associations: a changed association of a record that still exists
    /// lands at the next full pass.
    fn stale_children(&self) -> &'static [&'static str] {
        &["contact_companies", "deal_companies", "ticket_contacts"]
    }
}

/// A running HubSpot simulator as the suite sees it.
pub struct HubspotSim(pub HubspotSimulator);

fn row(kind: &str, r: &StoredRecord, properties: &[&str]) -> ExpectedRow {
    let mut row: ExpectedRow = properties
        .iter()
        .map(|p| {
            (
                (*p).to_owned(),
                r.properties.get(*p).map_or(Value::Null, |v| json!(v)),
            )
        })
        .collect();
    row.insert("id".into(), json!(r.id.to_string()));
    let modified = modified_property(kind);
    row.insert(modified.into(), json!(r.properties.get(modified)));
    row
}

impl Sim for HubspotSim {
    fn configuration(&self) -> HashMap<String, String> {
        [
            ("access_token".to_owned(), self.0.token().to_owned()),
            ("base_url".to_owned(), self.0.base_url()),
        ]
        .into()
    }

    fn bad_credentials(&self) -> HashMap<String, String> {
        let mut configuration = self.configuration();
        configuration.insert("access_token".into(), "pat-na1-not-the-token".into());
        configuration
    }

    fn control(&self) -> Option<&SimControl> {
        Some(self.0.control())
    }

    fn truth(&self) -> Truth {
        let tables: &[(&str, &[&str])] = &[
            ("contacts", &["email", "lifecyclestage"]),
            ("companies", &["name", "industry"]),
            ("deals", &["dealname", "amount", "dealstage"]),
            ("tickets", &["subject", "hs_pipeline_stage"]),
        ];
        let mut truth = Truth::new();
        for (kind, properties) in tables {
            let rows = self
                .0
                .truth(kind)
                .iter()
                .map(|r| row(kind, r, properties))
                .collect();
            truth.insert((*kind).to_owned(), rows);
        }
        truth
    }

    fn advance(&self) -> bool {
        self.0.advance(1);
        true
    }
}
