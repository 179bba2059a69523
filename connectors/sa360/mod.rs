//! Google Search Ads 360 Reporting API v0 connector: the account hierarchy, the dimensions of each
//! client account (customers, campaigns, ad groups, ads, keywords, conversion actions, bidding
//! strategies, labels, custom columns) and daily reports (account, campaign, ad group, keyword and
//! ad metrics by `segments.date`, conversions included).
//!
//! Composition: [`api`] (requests on the shared HTTP client with Google's OAuth refresh-token grant,
//! `login-customer-id`, the query quota as a rate budget and SA360's error verdicts), [`models`]
//! (the tables, declared once, and their queries), [`sync`] (accounts, full dimension reads, report
//! walks in shrinking date windows with a restatement window, state); [`simulator`] serves the API
//! for tests and `debug`. The strategy and its limits are documented in [`sync`].
//!
//! Configuration ([`Settings`]): `client_id`, `client_secret`, `refresh_token` (an OAuth client and
//! the refresh token the user granted it), `login_customer_id` (the manager account; hyphens
//! allowed), `customer_ids` (comma-separated; empty: every enabled client account under the
//! manager), `start_date` (empty: a year back), `restatement_days` (30), `reports` (a subset of
//! `customer, campaign, ad_group, keyword, ad`; empty: all), and `base_url` / `token_url` (Google's
//! by default; `base_url` `simulator` in `debug` starts the bundled simulator and points both at
//! it).

pub mod api;
pub mod config;
pub mod models;
pub mod simulator;
pub mod sync;

use async_trait::async_trait;

use crate::http::{HttpError, RetryPolicy, Tuning};
use crate::sdk::{Connector, Emitter, Error, Field, Form, Schema};

use api::{ApiConfig, Sa360Api};
pub use config::{Settings, CUSTOMERS_TEST, DEFAULT_BASE_URL, DEFAULT_TOKEN_URL, TOKEN_TEST};
use sync::Sa360State;

/// The SA360 connector.
#[derive(Debug, Clone, Default)]
pub struct Sa360 {
    tuning: Tuning,
}

impl Sa360 {
    /// The connector with non-default HTTP timing (tests, benchmarks).
    pub fn with_tuning(tuning: Tuning) -> Self {
        Self { tuning }
    }

    fn api(&self, settings: &Settings, tuning: &Tuning) -> Result<Sa360Api, HttpError> {
        let config = ApiConfig {
            base_url: settings.base_url.clone(),
            token_url: settings.token_url.clone(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            refresh_token: settings.refresh_token.clone(),
        };
        Sa360Api::new(config, tuning)
    }

    /// A client for setup tests: fail fast, one retry instead of the sync's patient policy.
    fn test_api(&self, settings: &Settings) -> Result<Sa360Api, HttpError> {
        let retry = RetryPolicy {
            max_attempts: 2,
            ..self.tuning.retry.clone()
        };
        self.api(settings, &self.tuning.clone().with_retry(retry))
    }
}

#[async_trait]
impl Connector for Sa360 {
    type Config = Settings;
    type State = Sa360State;

    fn form(&self) -> Form {
        Form::new()
            .field(
                Field::text("client_id", "OAuth client id")
                    .description("the Google Cloud OAuth client the refresh token was granted to"),
            )
            .field(Field::password("client_secret", "OAuth client secret"))
            .field(Field::password("refresh_token", "Refresh token").description(
                "granted with the https://www.googleapis.com/auth/doubleclicksearch scope",
            ))
            .field(
                Field::text("login_customer_id", "Manager (login) customer id")
                    .optional()
                    .placeholder("123-456-7890")
                    .description(
                        "the manager account the client accounts are reached through; empty: every account the user can reach",
                    ),
            )
            .field(
                Field::text("customer_ids", "Customer ids to sync")
                    .optional()
                    .placeholder("123-456-7890, 234-567-8901")
                    .description("comma-separated; empty: every enabled client account under the manager"),
            )
            .field(
                Field::text("start_date", "Start date")
                    .optional()
                    .placeholder("2024-01-01")
                    .description("the first day of report metrics; empty: a year before the first sync"),
            )
            .field(
                Field::text("restatement_days", "Restatement window (days)")
                    .optional()
                    .default_value("30")
                    .description("every sync reads the metrics of this many recent days again, since SA360 restates them"),
            )
            .field(
                Field::text("reports", "Reports")
                    .optional()
                    .placeholder("campaign, ad_group, keyword, ad, customer")
                    .description("the daily reports to sync, comma-separated; empty: all of them"),
            )
            .field(
                Field::text("base_url", "API base URL")
                    .optional()
                    .default_value(DEFAULT_BASE_URL),
            )
            .field(
                Field::text("token_url", "OAuth token URL")
                    .optional()
                    .default_value(DEFAULT_TOKEN_URL),
            )
            .test(TOKEN_TEST, "Get an access token with the refresh token")
            .test(CUSTOMERS_TEST, "Read every customer account to sync")
    }

    async fn test(&self, name: &str, settings: &Settings) -> Result<(), Error> {
        let api = self.test_api(settings)?;
        match name {
            TOKEN_TEST => match api.accessible_customers().await {
                Ok(_) => Ok(()),
                Err(e @ HttpError::Transient { .. }) => Err(Error::Unavailable(format!(
                    "cannot reach SA360 at {} or its token endpoint {}: {e}; check the urls and that the network allows them",
                    settings.base_url, settings.token_url
                ))),
                Err(e) => Err(e.into()),
            },
            _ => sync::check_access(&api, settings).await,
        }
    }

    async fn schema(&self, settings: &Settings) -> Result<Schema, Error> {
        Ok(models::schema(&settings.reports))
    }

    async fn update(
        &self,
        settings: &Settings,
        state: Sa360State,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let api = self.api(settings, &self.tuning)?;
        sync::run(&api, settings, state, out).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::{Configuration, FromConfiguration};
    use crate::simulator::launch::SimulatorRequest;
    use std::collections::HashMap;

    #[tokio::test]
    async fn the_debug_simulator_fills_in_credentials_and_both_urls() {
        let start = crate::simulator::launch::launch::<simulator::Sa360Simulator>;
        let given: HashMap<String, String> = [
            ("base_url", "simulator"),
            ("token_url", "https://www.googleapis.com/oauth2/v3/token"),
            ("refresh_token", "1//my-token"),
        ]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
        let running = start(SimulatorRequest {
            configuration: given,
            options: crate::simulator::options::SimulatorOptions {
                settings: Some(serde_json::json!({"entities": {"campaigns_per_client": 1}})),
                ..Default::default()
            },
            ..SimulatorRequest::default()
        })
        .await
        .unwrap();
        let c = &running.configuration;
        assert!(c["base_url"].starts_with("http://127.0.0.1:"));
        assert_eq!(c["token_url"], format!("{}/oauth2/v3/token", c["base_url"]));
        assert_eq!(c["refresh_token"], "1//my-token");
        assert!(c.contains_key("client_id") && c.contains_key("client_secret"));
        let settings = Settings::from_configuration(&Configuration::new(c)).unwrap();
        let sa360 = Sa360::with_tuning(Tuning::fast());
        sa360
            .test(TOKEN_TEST, &settings)
            .await
            .expect("the simulator accepts the configured refresh token");
        sa360
            .test(CUSTOMERS_TEST, &settings)
            .await
            .expect("every enabled client is readable");
    }

    #[test]
    fn secrets_are_passwords_and_never_printed() {
        let form = Sa360::default().form().to_proto();
        let password = Some(crate::proto::form_field::Type::TextField(
            crate::proto::TextField::Password as i32,
        ));
        for name in ["client_secret", "refresh_token"] {
            let field = form.fields.iter().find(|f| f.name == name).unwrap();
            assert_eq!(field.r#type, password, "{name}");
        }
        assert_eq!(form.tests.len(), 2);
    }
}
