//! OnGage email platform connector (GitHub issue #6): `lists`, `list_fields` and `contacts` of every
//! status, through OnGage's async contact search.
//!
//! Composition: [`api`] (requests on the shared HTTP client, with OnGage's auth headers, envelope, rate
//! limit and concurrency limit), [`models`] (pure record → row transforms), [`sync`] (the date-window walk
//! over export jobs, built on the shared `sync` toolkit, and the state); [`simulator`] serves the API for
//! tests and `debug`. The sync strategy and its limits are documented in [`sync`].
//!
//! Configuration: `username`, `password`, `account_code` (the alphanumeric code, not the account id),
//! `base_url` (default `https://api.ongage.net`; `simulator` in `debug` starts the bundled simulator),
//! `start_date` (contacts created before it are not synced) and `list_filter` (see [`ListFilter`]).
//! Advanced (behind a toggle): `big_list_threshold` (200000), `search_timeout_seconds` (600),
//! `search_poll_seconds` (1, doubling up to 30 times that; decimals allowed, so tests and `debug` runs
//! can poll in milliseconds) and `calls_per_minute` (300, OnGage's default; 10 calls in flight at most).

pub mod api;
pub mod config;
pub mod models;
pub mod simulator;
pub mod sync;

use async_trait::async_trait;

use crate::http::Tuning;
use crate::sdk::{Connector, Emitter, Error, Field, Form, Schema};

use api::{ApiConfig, OngageApi};
pub use config::{ListFilter, Settings, BIG_LIST_THRESHOLD, CONNECTION_TEST, DEFAULT_BASE_URL};

/// The OnGage connector.
#[derive(Debug, Clone)]
pub struct Ongage {
    tuning: Tuning,
}

impl Default for Ongage {
    /// Production tuning with OnGage's patient retry policy ([`api::retry_policy`]).
    fn default() -> Self {
        Self::with_tuning(Tuning::default().with_retry(api::retry_policy()))
    }
}

impl Ongage {
    /// The connector with production tuning.
    pub fn new() -> Self {
        Self::default()
    }

    /// The connector with `tuning` (tests, benchmarks).
    pub fn with_tuning(tuning: Tuning) -> Self {
        Self { tuning }
    }

    fn api(&self, settings: &Settings) -> Result<OngageApi, Error> {
        let config = ApiConfig {
            base_url: settings.base_url.clone(),
            username: settings.username.clone(),
            password: settings.password.clone(),
            account_code: settings.account_code.clone(),
            calls_per_minute: settings.calls_per_minute,
        };
        Ok(OngageApi::new(config, &self.tuning)?)
    }
}

#[async_trait]
impl Connector for Ongage {
    type Config = Settings;
    type State = sync::OngageState;

    fn form(&self) -> Form {
        Form::new()
            .field(Field::text("username", "Username").description("the OnGage user the api calls run as"))
            .field(Field::password("password", "Password"))
            .field(
                Field::text("account_code", "Account code")
                    .description("the alphanumeric account code (not the numeric account id)"),
            )
            .field(
                Field::text("base_url", "API base URL")
                    .optional()
                    .default_value(DEFAULT_BASE_URL),
            )
            .field(
                Field::text("start_date", "Start date")
                    .optional()
                    .placeholder("2020-01-01")
                    .description("contacts created before this date are not synced; empty: all"),
            )
            .field(
                Field::text("list_filter", "Lists to sync")
                    .optional()
                    .placeholder("120001, newsletter")
                    .description(
                        "comma-separated list ids or pieces of list names (case-insensitive); empty: every list",
                    ),
            )
            .advanced(
                [
                    Field::text("big_list_threshold", "Big list threshold")
                        .optional()
                        .default_value("200000")
                        .description("lists with at least this many contacts are first synced in 3-month windows"),
                    Field::text("calls_per_minute", "API calls per minute")
                        .optional()
                        .default_value("300")
                        .description("the account's rate limit, shown on its OnGage Profile page"),
                ]
                .into_iter()
                .chain(config::SEARCH_SETTINGS.fields())
                .collect(),
            )
            .test(CONNECTION_TEST, "Check the username, password and account code")
    }

    async fn test(&self, _name: &str, settings: &Settings) -> Result<(), Error> {
        self.api(settings)?.lists(0, 1).await?;
        Ok(())
    }

    async fn schema(&self, _settings: &Settings) -> Result<Schema, Error> {
        Ok(models::schema())
    }

    async fn update(
        &self,
        settings: &Settings,
        state: sync::OngageState,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let api = self.api(settings)?;
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
    async fn the_debug_simulator_accepts_the_configured_credentials_or_fills_them_in() {
        let start = crate::simulator::launch::launch::<simulator::OngageSimulator>;
        let filled = start(SimulatorRequest::default()).await.unwrap();
        for field in ["username", "password", "account_code", "base_url"] {
            assert!(filled.configuration.contains_key(field), "{field}");
        }

        let given: HashMap<String, String> = [
            ("username", " me@example.org "),
            ("password", "pa ss"),
            ("account_code", "ACME"),
            ("base_url", "simulator"),
        ]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
        let running = start(SimulatorRequest {
            configuration: given,
            ..SimulatorRequest::default()
        })
        .await
        .unwrap();
        assert_eq!(running.configuration["password"], "pa ss");
        assert!(running.configuration["base_url"].starts_with("http://127.0.0.1:"));
        let settings =
            Settings::from_configuration(&Configuration::new(&running.configuration)).unwrap();
        Ongage::new()
            .test(CONNECTION_TEST, &settings)
            .await
            .expect("the simulator accepts the configured credentials");
    }
}
