//! Close (the shipped definition `definitions/close.toml`) under the compliance suite: the
//! simulator's records as the rows the tables must hold, written from Close's fields. The small
//! simulator's maximum `_skip` is 40, so full lists of leads, contacts and activities restart past it.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use fivetran_source::compliance::{
    shipped_definition, start_sim, ExpectedRow, Sim, Subject, Truth,
};
use fivetran_source::connectors::close::simulator::{CloseConfig, CloseSimulator};
use fivetran_source::sdk::DynConnector;
use fivetran_source::simulator::SimControl;

/// The Close definition and its simulator.
pub struct CloseSubject;

impl Subject for CloseSubject {
    fn name(&self) -> &'static str {
        "close"
    }

    fn connector(&self) -> Arc<dyn DynConnector> {
        shipped_definition(fivetran_source::connectors::close::DEFINITION)
    }

    fn start(&self, seed: u64) -> BoxFuture<'static, Box<dyn Sim>> {
        let config = CloseConfig {
            seed,
            ..CloseConfig::small()
        };
        start_sim(config, CloseSim)
    }

    fn endpoints(&self) -> Vec<&'static str> {
        vec![
            "/api/v1/lead/",
            "/api/v1/contact/",
            "/api/v1/opportunity/",
            "/api/v1/activity/",
            "/api/v1/task/",
        ]
    }

    fn selection_probe(&self) -> Option<(&'static str, Vec<&'static str>)> {
        Some((
            "users",
            vec![
                "/api/v1/lead/",
                "/api/v1/contact/",
                "/api/v1/activity/",
                "/api/v1/event/",
            ],
        ))
    }

    fn credentials_advice(&self) -> Option<&'static str> {
        Some("api key")
    }
}

/// A running Close simulator as the suite sees it.
pub struct CloseSim(pub CloseSimulator);

/// Compared columns: (column, the record's field).
type Columns = &'static [(&'static str, &'static str)];

fn row(record: &Value, columns: &[(&str, &str)]) -> ExpectedRow {
    columns
        .iter()
        .map(|(column, field)| ((*column).to_owned(), record[*field].clone()))
        .collect()
}

impl Sim for CloseSim {
    fn configuration(&self) -> HashMap<String, String> {
        [
            ("api_key".to_owned(), self.0.api_key().to_owned()),
            ("base_url".to_owned(), self.0.base_url()),
        ]
        .into()
    }

    fn bad_credentials(&self) -> HashMap<String, String> {
        let mut configuration = self.configuration();
        configuration.insert("api_key".into(), "api_not_the_key".into());
        configuration
    }

    fn control(&self) -> Option<&SimControl> {
        Some(self.0.control())
    }

    fn truth(&self) -> Truth {
        let tables: &[(&str, &str, Columns)] = &[
            (
                "leads",
                "lead",
                &[
                    ("id", "id"),
                    ("status_label", "status_label"),
                    ("description", "description"),
                    ("date_updated", "date_updated"),
                ],
            ),
            (
                "contacts",
                "contact",
                &[("id", "id"), ("lead_id", "lead_id"), ("title", "title")],
            ),
            (
                "opportunities",
                "opportunity",
                &[
                    ("id", "id"),
                    ("status_type", "status_type"),
                    ("value", "value"),
                ],
            ),
            (
                "activities",
                "activity",
                &[("id", "id"), ("type", "_type"), ("note", "note")],
            ),
            (
                "tasks",
                "task",
                &[
                    ("id", "id"),
                    ("is_complete", "is_complete"),
                    ("date", "date"),
                ],
            ),
            ("users", "user", &[("id", "id"), ("last_name", "last_name")]),
        ];
        let mut truth = Truth::new();
        for (table, kind, columns) in tables {
            let rows = self
                .0
                .truth(kind)
                .iter()
                .map(|r| row(&r.body, columns))
                .collect();
            truth.insert((*table).to_owned(), rows);
        }
        truth
    }

    fn advance(&self) -> bool {
        self.0.advance(1);
        true
    }
}
