//! Search Ads 360 under the compliance suite: the simulator's entities and daily metrics (computed by
//! the simulator without its query engine) as the rows the connector's tables must hold.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use fivetran_source::compliance::{ExpectedRow, Sim, Subject, Truth};
use fivetran_source::connectors::sa360::simulator::{
    CustomerStatus, Resource, Sa360Config, Sa360Simulator,
};
use fivetran_source::http::Tuning;
use fivetran_source::sdk::DynConnector;
use fivetran_source::simulator::SimControl;

/// The Search Ads 360 connector and its simulator.
pub struct Sa360Subject;

impl Subject for Sa360Subject {
    fn name(&self) -> &'static str {
        "sa360"
    }

    fn connector(&self) -> Arc<dyn DynConnector> {
        Arc::new(fivetran_source::connectors::sa360::Sa360::with_tuning(
            Tuning::fast(),
        ))
    }

    fn start(&self, seed: u64) -> BoxFuture<'static, Box<dyn Sim>> {
        Box::pin(async move {
            let config = Sa360Config {
                seed,
                ..Sa360Config::small()
            };
            let sim = Sa360Simulator::start(config)
                .await
                .expect("the sa360 simulator starts");
            Box::new(Sa360Sim(sim)) as Box<dyn Sim>
        })
    }

    fn endpoints(&self) -> Vec<&'static str> {
        vec![
            "listAccessibleCustomers",
            // both `searchStream` and `search`: a dead stream alone is read in pages
            "searchAds360:search",
            "customColumns",
            "/oauth2/v3/token",
        ]
    }

    fn selection_probe(&self) -> Option<(&'static str, Vec<&'static str>)> {
        Some(("labels", vec!["customColumns"]))
    }

    fn credentials_advice(&self) -> Option<&'static str> {
        Some("refresh token was refused")
    }
}

struct Sa360Sim(Sa360Simulator);

/// Compared columns with the JSON paths of their values.
type Columns = &'static [(&'static str, &'static str)];

/// Dimension tables: the resource and compared columns.
const DIMENSIONS: &[(&str, Resource, Columns)] = &[
    (
        "customers",
        Resource::Customer,
        &[
            ("descriptive_name", "descriptiveName"),
            ("time_zone", "timeZone"),
        ],
    ),
    (
        "campaigns",
        Resource::Campaign,
        &[("name", "name"), ("status", "status")],
    ),
    (
        "ad_groups",
        Resource::AdGroup,
        &[("name", "name"), ("status", "status")],
    ),
    ("ads", Resource::AdGroupAd, &[("status", "status")]),
    (
        "keywords",
        Resource::AdGroupCriterion,
        &[("status", "status"), ("keyword_text", "keyword.text")],
    ),
    (
        "conversion_actions",
        Resource::ConversionAction,
        &[("name", "name")],
    ),
    (
        "bidding_strategies",
        Resource::BiddingStrategy,
        &[("name", "name")],
    ),
    ("labels", Resource::Label, &[("name", "name")]),
];

const REPORTS: &[(&str, Resource)] = &[
    ("customer_stats", Resource::Customer),
    ("campaign_stats", Resource::Campaign),
    ("ad_group_stats", Resource::AdGroup),
    ("keyword_stats", Resource::KeywordView),
    ("ad_stats", Resource::AdGroupAd),
];

fn at<'a>(json: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .try_fold(json, |v, key| v.get(key))
        .unwrap_or(&Value::Null)
}

impl Sim for Sa360Sim {
    fn configuration(&self) -> HashMap<String, String> {
        let c = &self.0.config().credentials;
        [
            ("client_id", c.client_id.clone()),
            ("client_secret", c.client_secret.clone()),
            ("refresh_token", c.refresh_token.clone()),
            ("base_url", self.0.base_url()),
            ("token_url", self.0.token_url()),
            ("start_date", self.0.config().data_start.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn bad_credentials(&self) -> HashMap<String, String> {
        let mut configuration = self.configuration();
        configuration.insert("refresh_token".into(), "1//not-the-token".into());
        configuration
    }

    fn control(&self) -> Option<&SimControl> {
        Some(self.0.control())
    }

    fn truth(&self) -> Truth {
        let data = self.0.data();
        let enabled: Vec<u64> = data
            .accounts()
            .into_iter()
            .filter(|a| !a.manager && a.status == CustomerStatus::Enabled)
            .map(|a| a.customer_id)
            .collect();
        let mut truth = Truth::new();
        for (table, resource, columns) in DIMENSIONS {
            let rows = enabled
                .iter()
                .flat_map(|c| {
                    data.dimension(*c, *resource).into_iter().map(move |e| {
                        let mut row: ExpectedRow = columns
                            .iter()
                            .map(|(column, path)| ((*column).to_owned(), at(&e.json, path).clone()))
                            .collect();
                        row.insert("customer_id".into(), json!(c.to_string()));
                        row.insert("resource_name".into(), json!(e.resource_name));
                        row
                    })
                })
                .collect();
            truth.insert((*table).to_owned(), rows);
        }
        for (table, resource) in REPORTS {
            let mut rows = Vec::new();
            for c in &enabled {
                for r in data.report(*c, *resource, data.data_start(), data.today()) {
                    let m = r.metrics;
                    rows.push(
                        [
                            ("customer_id", json!(c.to_string())),
                            ("resource_name", json!(r.resource_name)),
                            ("date", json!(r.date.to_string())),
                            ("impressions", json!(m.impressions)),
                            ("clicks", json!(m.clicks)),
                            ("cost_micros", json!(m.cost_micros)),
                            ("conversions", json!(m.conversions)),
                        ]
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                    );
                }
            }
            truth.insert((*table).to_owned(), rows);
        }
        truth
    }

    fn advance(&self) -> bool {
        self.0.advance(1);
        true
    }
}
