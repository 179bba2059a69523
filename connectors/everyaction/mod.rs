//! EveryAction / NGP VAN connector (VAN API v4, `docs/apis.md` §3): the reference lists (activist codes,
//! survey questions, events, event types, codes, saved lists, users, custom fields) and the people-side
//! tables (contacts, contributions, applied activist codes, survey responses) through changed-entity
//! export jobs.
//!
//! Composition: [`api`] (requests on the shared HTTP client with Basic auth `application name` /
//! `key|mode` and the API's error bodies), [`models`] (the tables, declared once, and pure readings of
//! the API's answers), [`sync`] (list passes with deletions by difference, export walks in windows with
//! per-file checkpoints, and the state), [`config`] (the settings); [`simulator`] serves the API for
//! tests and `debug`. The sync strategy and its limits are documented in [`sync`].
//!
//! Configuration: `application_name`, `api_key` (a key pasted with its `|0`/`|1` suffix is understood),
//! `database_mode` (MyCampaign/EveryAction = 1, the default; MyVoters = 0), `base_url` (default
//! `https://api.securevan.com/v4`; international committees use `https://intlapi.securevan.com/v4`;
//! `simulator` in `debug` starts the bundled simulator), `start_date` (the first sync exports records
//! changed since then, at most 90 days back). Advanced (behind a toggle): `file_size_kb_limit`
//! (100000), `job_poll_seconds` (5, doubling up to 12 times that; decimals allowed) and
//! `job_timeout_seconds` (3600: a job not complete by then is tried again over half its window).

pub mod api;
pub mod config;
pub mod models;
pub mod simulator;
pub mod sync;

use async_trait::async_trait;

use crate::http::Tuning;
use crate::sdk::{Connector, Emitter, Error, Field, Form, Schema};

pub use api::CREDENTIALS_HINT;
use api::{ApiConfig, EveryActionApi};
pub use config::{
    DatabaseMode, Settings, CONNECTION_TEST, DEFAULT_BASE_URL, INTERNATIONAL_BASE_URL,
};

/// The EveryAction connector.
#[derive(Debug, Clone, Default)]
pub struct EveryAction {
    tuning: Tuning,
}

impl EveryAction {
    /// The connector with production tuning.
    pub fn new() -> Self {
        Self::default()
    }

    /// The connector with `tuning` (tests, benchmarks).
    pub fn with_tuning(tuning: Tuning) -> Self {
        Self { tuning }
    }

    fn api(&self, settings: &Settings) -> Result<EveryActionApi, Error> {
        let config = ApiConfig {
            base_url: settings.base_url.clone(),
            application_name: settings.application_name.clone(),
            password: settings.password(),
        };
        Ok(EveryActionApi::new(config, &self.tuning)?)
    }
}

#[async_trait]
impl Connector for EveryAction {
    type Config = Settings;
    type State = sync::EveryActionState;

    fn form(&self) -> Form {
        Form::new()
            .field(
                Field::text("application_name", "Application name")
                    .description("the name EveryAction issued the API key for (the Basic-auth user name)"),
            )
            .field(
                Field::password("api_key", "API key")
                    .description("the key's GUID; a key pasted with its |0 or |1 suffix is understood"),
            )
            .field(
                Field::dropdown("database_mode", "Database", &DatabaseMode::OPTIONS)
                    .optional()
                    .default_value(DatabaseMode::OPTIONS[0])
                    .description("MyCampaign (also EveryAction and MyMembers) is 1, the voter file (MyVoters) 0"),
            )
            .field(
                Field::text("base_url", "API base URL")
                    .optional()
                    .default_value(DEFAULT_BASE_URL)
                    .description(&format!(
                        "international committees use {INTERNATIONAL_BASE_URL}"
                    )),
            )
            .field(
                Field::text("start_date", "Start date")
                    .optional()
                    .placeholder("2024-01-01")
                    .description(
                        "the first sync exports records changed since then; EveryAction's exports reach back at most 90 days",
                    ),
            )
            .advanced(
                std::iter::once(
                    Field::text("file_size_kb_limit", "Export file size (KB)")
                        .optional()
                        .default_value("100000")
                        .description("an export job's output is split into files of about this size"),
                )
                .chain(config::JOB_SETTINGS.fields())
                .collect(),
            )
            .test(CONNECTION_TEST, "Check the application name, API key and database")
    }

    async fn test(&self, _name: &str, settings: &Settings) -> Result<(), Error> {
        self.api(settings)?.profile().await?;
        Ok(())
    }

    async fn schema(&self, _settings: &Settings) -> Result<Schema, Error> {
        Ok(models::schema())
    }

    async fn update(
        &self,
        settings: &Settings,
        state: sync::EveryActionState,
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
        let start = crate::simulator::launch::launch::<simulator::EveryActionSimulator>;
        let filled = start(SimulatorRequest::default()).await.unwrap();
        for field in ["application_name", "api_key", "base_url"] {
            assert!(filled.configuration.contains_key(field), "{field}");
        }
        assert!(
            filled.description.contains("40000 people"),
            "{}",
            filled.description
        );

        for (key, mode) in [("my-own-key", "MyVoters (0)"), ("pasted-key|0", "")] {
            let given: HashMap<String, String> = [
                ("application_name", " acmeSync "),
                ("api_key", key),
                ("database_mode", mode),
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
            assert!(running.configuration["base_url"].starts_with("http://127.0.0.1:"));
            let settings =
                Settings::from_configuration(&Configuration::new(&running.configuration)).unwrap();
            assert_eq!(settings.mode, DatabaseMode::MyVoters);
            EveryAction::with_tuning(Tuning::fast())
                .test(CONNECTION_TEST, &settings)
                .await
                .expect("the simulator accepts the configured credentials");
        }
    }
}
