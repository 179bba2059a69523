//! Virtuous under the compliance suite: the simulator's records as the rows the connector's tables
//! must hold (written from the API's fields, not from the connector's transforms).

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use fivetran_source::compliance::{ExpectedRow, Sim, Subject, Truth};
use fivetran_source::connectors::virtuous::simulator::{Entity, VirtuousConfig, VirtuousSimulator};
use fivetran_source::http::Tuning;
use fivetran_source::sdk::DynConnector;
use fivetran_source::simulator::SimControl;

/// The Virtuous connector and its simulator.
pub struct VirtuousSubject;

impl Subject for VirtuousSubject {
    fn name(&self) -> &'static str {
        "virtuous"
    }

    fn connector(&self) -> Arc<dyn DynConnector> {
        Arc::new(fivetran_source::connectors::virtuous::Virtuous::with_tuning(Tuning::fast()))
    }

    fn start(&self, seed: u64) -> BoxFuture<'static, Box<dyn Sim>> {
        Box::pin(async move {
            let config = VirtuousConfig {
                seed,
                ..VirtuousConfig::small()
            };
            let sim = VirtuousSimulator::start(config)
                .await
                .expect("the virtuous simulator starts");
            Box::new(VirtuousSim(sim)) as Box<dyn Sim>
        })
    }

    fn endpoints(&self) -> Vec<&'static str> {
        vec![
            "/api/Campaign/Query",
            "/api/Project/Query",
            "/api/Contact/Query",
            "/api/Gift/Query",
        ]
    }

    fn selection_probe(&self) -> Option<(&'static str, Vec<&'static str>)> {
        Some((
            "projects",
            vec!["/api/Gift", "/api/Contact", "/api/Campaign"],
        ))
    }

    fn credentials_advice(&self) -> Option<&'static str> {
        Some("api key")
    }

    /// Individuals, contact methods and designations removed from a contact or gift that still exists
    /// stay until that entity's next full pass: only current children are sent, and their old ids are
    /// kept nowhere (see the connector's module docs).
    fn stale_children(&self) -> &'static [&'static str] {
        &[
            "contact_individuals",
            "contact_methods",
            "gift_designations",
        ]
    }
}

struct VirtuousSim(VirtuousSimulator);

fn row(pairs: &[(&str, &Value)]) -> ExpectedRow {
    pairs
        .iter()
        .map(|(c, v)| ((*c).to_owned(), (*v).clone()))
        .collect()
}

impl Sim for VirtuousSim {
    fn configuration(&self) -> HashMap<String, String> {
        [
            ("api_key".to_owned(), self.0.api_key().to_owned()),
            ("base_url".to_owned(), self.0.base_url()),
        ]
        .into()
    }

    fn bad_credentials(&self) -> HashMap<String, String> {
        let mut configuration = self.configuration();
        configuration.insert("api_key".into(), "not-the-key".into());
        configuration
    }

    fn control(&self) -> Option<&SimControl> {
        Some(self.0.control())
    }

    fn truth(&self) -> Truth {
        let mut truth = Truth::new();
        for table in [
            "campaigns",
            "projects",
            "contacts",
            "contact_individuals",
            "contact_methods",
            "gifts",
            "gift_designations",
            "sync_errors",
        ] {
            truth.insert(table.to_owned(), Vec::new());
        }
        let mut put = |table: &str, r: ExpectedRow| truth.get_mut(table).unwrap().push(r);
        for r in self.0.truth(Entity::Campaign) {
            let j = &r.json;
            put(
                "campaigns",
                row(&[("id", &j["campaignId"]), ("name", &j["name"])]),
            );
        }
        for r in self.0.truth(Entity::Project) {
            let j = &r.json;
            put(
                "projects",
                row(&[
                    ("id", &j["id"]),
                    ("name", &j["name"]),
                    ("project_code", &j["projectCode"]),
                ]),
            );
        }
        for r in self.0.truth(Entity::Contact) {
            let j = &r.json;
            let modified = json!(r.modified.to_rfc3339());
            put(
                "contacts",
                row(&[
                    ("id", &j["id"]),
                    ("name", &j["name"]),
                    ("is_archived", &json!(r.archived)),
                    ("modified_date_time_utc", &modified),
                ]),
            );
            for i in j["contactIndividuals"].as_array().into_iter().flatten() {
                put(
                    "contact_individuals",
                    row(&[
                        ("id", &i["id"]),
                        ("contact_id", &j["id"]),
                        ("first_name", &i["firstName"]),
                    ]),
                );
                for m in i["contactMethods"].as_array().into_iter().flatten() {
                    put(
                        "contact_methods",
                        row(&[
                            ("id", &m["id"]),
                            ("contact_individual_id", &i["id"]),
                            ("contact_id", &j["id"]),
                            ("value", &m["value"]),
                        ]),
                    );
                }
            }
        }
        for r in self.0.truth(Entity::Gift) {
            let j = &r.json;
            let modified = json!(r.modified.to_rfc3339());
            put(
                "gifts",
                row(&[
                    ("id", &j["id"]),
                    ("contact_id", &j["contactId"]),
                    ("amount", &j["amount"]),
                    ("modified_date_time_utc", &modified),
                ]),
            );
            for d in j["giftDesignations"].as_array().into_iter().flatten() {
                put(
                    "gift_designations",
                    row(&[
                        ("id", &d["id"]),
                        ("gift_id", &j["id"]),
                        ("project_id", &d["projectId"]),
                        ("amount_designated", &d["amountDesignated"]),
                    ]),
                );
            }
        }
        truth
    }

    fn advance(&self) -> bool {
        self.0.advance(1);
        true
    }
}
