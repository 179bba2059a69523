//! OnGage under the compliance suite: the simulator's lists and contacts as the rows the connector's
//! tables must hold (from the API's fields, not from the connector's transforms).

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use fivetran_source::compliance::{ExpectedRow, Sim, Subject, Truth};
use fivetran_source::connectors::ongage::simulator::{OngageConfig, OngageSimulator};
use fivetran_source::http::Tuning;
use fivetran_source::sdk::DynConnector;
use fivetran_source::simulator::SimControl;

/// The OnGage connector and its simulator.
pub struct OngageSubject;

impl Subject for OngageSubject {
    fn name(&self) -> &'static str {
        "ongage"
    }

    fn connector(&self) -> Arc<dyn DynConnector> {
        Arc::new(fivetran_source::connectors::ongage::Ongage::with_tuning(
            Tuning::fast(),
        ))
    }

    fn start(&self, seed: u64) -> BoxFuture<'static, Box<dyn Sim>> {
        Box::pin(async move {
            let config = OngageConfig {
                seed,
                ..OngageConfig::small()
            };
            let sim = OngageSimulator::start(config)
                .await
                .expect("the ongage simulator starts");
            Box::new(OngageSim(sim)) as Box<dyn Sim>
        })
    }

    fn endpoints(&self) -> Vec<&'static str> {
        vec![
            "/api/lists",
            "/api/list_fields",
            "/api/contact_search",
            "/result",
            "/export",
        ]
    }

    fn selection_probe(&self) -> Option<(&'static str, Vec<&'static str>)> {
        Some(("lists", vec!["/list_fields", "/contact_search"]))
    }

    fn credentials_advice(&self) -> Option<&'static str> {
        Some("check the username, password and account code")
    }
}

struct OngageSim(OngageSimulator);

impl Sim for OngageSim {
    fn configuration(&self) -> HashMap<String, String> {
        let c = self.0.config();
        [
            ("username", c.username.as_str()),
            ("password", c.password.as_str()),
            ("account_code", c.account_code.as_str()),
            ("base_url", &self.0.base_url()),
            ("advanced", "true"),
            ("big_list_threshold", "100"),
            ("search_timeout_seconds", "5"),
            ("search_poll_seconds", "0.005"),
            ("calls_per_minute", "600000"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    fn bad_credentials(&self) -> HashMap<String, String> {
        let mut configuration = self.configuration();
        configuration.insert("password".into(), "not-the-password".into());
        configuration
    }

    fn control(&self) -> Option<&SimControl> {
        Some(self.0.control())
    }

    fn truth(&self) -> Truth {
        let config = self.0.config();
        let lists: Vec<ExpectedRow> = config
            .lists
            .iter()
            .map(|l| {
                [
                    ("id".to_owned(), json!(l.id)),
                    ("name".to_owned(), json!(l.name)),
                ]
                .into_iter()
                .collect()
            })
            .collect();
        let fields = [
            "email",
            "ocx_status",
            "ocx_created_date",
            "ocx_unsubscribe_date",
            "ocx_resubscribe_date",
            "ocx_bounce_date",
            "ocx_complaint_date",
        ];
        let contacts: Vec<ExpectedRow> = config
            .lists
            .iter()
            .flat_map(|l| self.0.truth(l.id))
            .map(|c| {
                let mut row: ExpectedRow = fields
                    .iter()
                    .map(|f| ((*f).to_owned(), c.json[*f].clone()))
                    .collect();
                row.insert("id".into(), Value::String(c.id.clone()));
                row.insert("list_id".into(), json!(c.list_id));
                row
            })
            .collect();
        [
            ("lists".to_owned(), lists),
            ("contacts".to_owned(), contacts),
        ]
        .into()
    }

    fn advance(&self) -> bool {
        self.0.advance(1);
        true
    }
}
