//! Virtuous CRM+ connector (issue #5): contacts (with individuals and contact methods), gifts (with
//! designations), projects and campaigns, plus `sync_errors`.
//!
//! Composition: [`api`] builds requests and returns raw JSON; [`models`] turns records into rows
//! (pure); [`sync`] drives the toolkit's [`IdPager`](crate::sync::IdPager) per entity and emits rows
//! and checkpoints; the shared [`HttpClient`] does auth, retries, the 5,000 requests/hour budget (and
//! its `X-RateLimit-*` headers) and the `parallelism` limit. See [`sync`] for the pass design.
//!
//! Selection: unselected entities are not fetched; contacts and gifts use the short `/Query` endpoint
//! unless a child table or a column only the Full endpoint sends is selected.
//!
//! Limits:
//! - a child (individual, contact method, designation) removed from a parent that still exists stays
//!   in its table until the entity's next full pass; only gift deletions trigger one automatically (a
//!   re-sync from the dashboard forces one for every table);
//! - gift deletions are found by counting (see [`sync`]); between two syncs a gift that is created and
//!   then deleted can be missed until a later re-import;
//! - changing the selection of Full-only columns does not re-fetch rows synced before the change;
//! - the short endpoints' own fields (`email`, `phone`, URLs, formatted copies) are not synced;
//! - `start_date` bounds `Last Modified Date`: records not modified since then are not synced.

pub mod api;
pub mod config;
pub mod models;
pub mod simulator;
pub mod sync;

use async_trait::async_trait;

use crate::http::{HttpError, RetryPolicy, Tuning};
use crate::sdk::{Connector, Emitter, Error, Field, Form, Schema};

use api::VirtuousApi;
pub use config::{Config, CONNECTION_TEST};
use sync::VirtuousState;

/// The Virtuous connector.
#[derive(Debug, Clone, Default)]
pub struct Virtuous {
    tuning: Tuning,
}

impl Virtuous {
    /// The connector with non-default HTTP timing (tests, benchmarks).
    pub fn with_tuning(tuning: Tuning) -> Self {
        Self { tuning }
    }

    fn api(&self, config: &Config, tuning: &Tuning) -> Result<VirtuousApi, HttpError> {
        VirtuousApi::new(
            &config.base_url,
            &config.api_key,
            config.parallelism,
            tuning,
        )
    }
}

#[async_trait]
impl Connector for Virtuous {
    type Config = Config;
    type State = VirtuousState;

    fn form(&self) -> Form {
        Form::new()
            .field(
                Field::password("api_key", "API key").description(
                    "Create one in Virtuous under Settings → Connectivity → API Keys.",
                ),
            )
            .field(
                Field::text("base_url", "API base URL")
                    .optional()
                    .default_value(api::DEFAULT_BASE_URL),
            )
            .field(
                Field::text("start_date", "Start date")
                    .optional()
                    .placeholder("2020-01-01")
                    .description("Sync only records modified on or after this date (YYYY-MM-DD)."),
            )
            .field(
                Field::text("parallelism", "Requests in flight")
                    .optional()
                    .default_value("8")
                    .description(
                        "1 to 16; every request counts against Virtuous's 5,000 per hour.",
                    ),
            )
            .test(CONNECTION_TEST, "Connect to Virtuous with the API key")
    }

    async fn test(&self, _name: &str, config: &Config) -> Result<(), Error> {
        // Fail fast: one retry, not the sync's patient policy.
        let retry = RetryPolicy {
            max_attempts: 2,
            ..self.tuning.retry.clone()
        };
        let tuning = self.tuning.clone().with_retry(retry);
        let result = self.api(config, &tuning)?.query_options().await;
        match result {
            Ok(_) => Ok(()),
            Err(HttpError::Permanent { status: 401, .. }) => {
                Err(Error::Unauthenticated(api::KEY_REFUSED.to_owned()))
            }
            Err(e @ HttpError::Transient { .. }) => Err(Error::Unavailable(format!(
                "cannot reach Virtuous at {}: {e}; check the base url and that the network allows it",
                config.base_url
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn schema(&self, _config: &Config) -> Result<Schema, Error> {
        Ok(models::schema())
    }

    async fn update(
        &self,
        config: &Config,
        state: VirtuousState,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let api = self.api(config, &self.tuning)?;
        sync::run(&api, config, state, out).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::{Configuration, FromConfiguration};
    use std::collections::HashMap;

    #[test]
    fn the_api_key_is_a_password_and_never_printed() {
        let form = Virtuous::default().form().to_proto();
        assert_eq!(form.fields[0].name, "api_key");
        assert_eq!(
            form.fields[0].r#type,
            Some(crate::proto::form_field::Type::TextField(
                crate::proto::TextField::Password as i32
            ))
        );
        let map: HashMap<String, String> = [("api_key".to_owned(), "s3cret".to_owned())].into();
        let config = Config::from_configuration(&Configuration::new(&map)).unwrap();
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
