//! Stripe (the shipped definition `definitions/stripe.toml`) under the compliance suite: the
//! simulator's objects as the rows the tables must hold, written from Stripe's fields.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use fivetran_source::compliance::{
    shipped_definition, start_sim, ExpectedRow, Sim, Subject, Truth,
};
use fivetran_source::connectors::stripe::simulator::{StripeConfig, StripeSimulator};
use fivetran_source::sdk::DynConnector;
use fivetran_source::simulator::SimControl;

/// The Stripe definition and its simulator.
pub struct StripeSubject;

impl Subject for StripeSubject {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn connector(&self) -> Arc<dyn DynConnector> {
        shipped_definition(fivetran_source::connectors::stripe::DEFINITION)
    }

    fn start(&self, seed: u64) -> BoxFuture<'static, Box<dyn Sim>> {
        let config = StripeConfig {
            seed,
            ..StripeConfig::small()
        };
        start_sim(config, StripeSim)
    }

    fn endpoints(&self) -> Vec<&'static str> {
        vec![
            "/v1/customers",
            "/v1/charges",
            "/v1/invoices",
            "/v1/subscriptions",
            "/v1/products",
            "/v1/balance_transactions",
        ]
    }

    fn selection_probe(&self) -> Option<(&'static str, Vec<&'static str>)> {
        Some((
            "products",
            vec![
                "/v1/customers",
                "/v1/charges",
                "/v1/invoices",
                "/v1/balance_transactions",
            ],
        ))
    }

    fn credentials_advice(&self) -> Option<&'static str> {
        Some("secret key")
    }

    /// An invoice line or subscription item removed from a parent that still exists stays until the
    /// next full pass: a changed parent's current children are upserted, old ones are not listed.
    fn stale_children(&self) -> &'static [&'static str] {
        &["invoice_lines", "subscription_items"]
    }
}

/// The Stripe simulator as the suite drives it.
pub struct StripeSim(pub StripeSimulator);

fn row(object: &Value, columns: &[&str]) -> ExpectedRow {
    columns
        .iter()
        .map(|c| ((*c).to_owned(), object[*c].clone()))
        .collect()
}

impl Sim for StripeSim {
    fn configuration(&self) -> HashMap<String, String> {
        [
            ("api_key".to_owned(), self.0.api_key().to_owned()),
            ("base_url".to_owned(), self.0.base_url()),
        ]
        .into()
    }

    fn bad_credentials(&self) -> HashMap<String, String> {
        let mut configuration = self.configuration();
        configuration.insert("api_key".into(), "sk_test_not_the_key".into());
        configuration
    }

    fn control(&self) -> Option<&SimControl> {
        Some(self.0.control())
    }

    fn truth(&self) -> Truth {
        let mut truth = Truth::new();
        let columns: &[(&str, &[&str])] = &[
            ("customers", &["id", "email", "balance", "created"]),
            (
                "charges",
                &["id", "customer", "amount", "amount_refunded", "refunded"],
            ),
            ("invoices", &["id", "status", "amount_paid", "period_end"]),
            (
                "subscriptions",
                &["id", "status", "cancel_at_period_end", "canceled_at"],
            ),
            ("products", &["id", "name", "active"]),
            ("prices", &["id", "product", "active", "unit_amount"]),
            ("refunds", &["id", "charge", "status"]),
            (
                "balance_transactions",
                &["id", "amount", "fee", "net", "available_on"],
            ),
        ];
        for (kind, cols) in columns {
            let rows = self
                .0
                .truth(kind)
                .iter()
                .map(|o| row(&o.body, cols))
                .collect();
            truth.insert((*kind).to_owned(), rows);
        }
        let mut lines = Vec::new();
        for invoice in self.0.truth("invoices") {
            for line in invoice.body["lines"]["data"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let mut r = row(line, &["id", "quantity", "amount"]);
                r.insert("invoice_id".into(), invoice.body["id"].clone());
                r.insert("price_id".into(), line["price"]["id"].clone());
                lines.push(r);
            }
        }
        truth.insert("invoice_lines".into(), lines);
        let mut items = Vec::new();
        for sub in self.0.truth("subscriptions") {
            for item in sub.body["items"]["data"].as_array().into_iter().flatten() {
                let mut r = row(item, &["id", "quantity"]);
                r.insert("subscription_id".into(), json!(sub.body["id"]));
                items.push(r);
            }
        }
        truth.insert("subscription_items".into(), items);
        truth
    }

    fn advance(&self) -> bool {
        self.0.advance(1);
        true
    }
}
