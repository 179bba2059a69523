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
pub mod models;
pub mod simulator;
pub mod sync;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::http::{Auth, HttpClient, HttpError, RetryPolicy};
use crate::sdk::Error;
use crate::sdk::{
    ConfigError, Configuration, Connector, Emitter, Field, Form, FromConfiguration, Schema, Secret,
};

use api::VirtuousApi;
use sync::VirtuousState;

/// The name of the setup test.
pub const CONNECTION_TEST: &str = "connection";

/// The connector's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// A Virtuous API key (Settings → Connectivity → API Keys).
    pub api_key: Secret,
    /// The API's base URL, without a trailing slash.
    pub base_url: String,
    /// Sync only records modified on or after this date.
    pub start_date: Option<DateTime<Utc>>,
    /// Pages in flight at once (1..=16).
    pub parallelism: usize,
}

impl FromConfiguration for Config {
    fn from_configuration(c: &Configuration<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            api_key: c.secret("api_key")?,
            base_url: c.base_url_or("base_url", api::DEFAULT_BASE_URL)?,
            start_date: c.date("start_date")?,
            parallelism: c.int_in_range("parallelism", 8, 1, 16)? as usize,
        })
    }
}

/// HTTP timing knobs: production uses the defaults; tests and benchmarks shorten them.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Retries of transient failures (429s, 5xx, connection errors).
    pub retry: RetryPolicy,
    /// Deadline of one request; a page past it is refetched smaller.
    pub request_timeout: Duration,
}

impl Default for Tuning {
    /// The toolkit's retry policy and a 120 s deadline.
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(120),
        }
    }
}

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

    fn api(&self, config: &Config, retry: RetryPolicy) -> Result<VirtuousApi, HttpError> {
        let mut http = api::http_config(&config.base_url, config.parallelism);
        http.retry = retry;
        http.request_timeout = self.tuning.request_timeout;
        let client = HttpClient::builder(http)
            .auth(Auth::Bearer(config.api_key.clone()))
            .build()?;
        Ok(VirtuousApi::new(client))
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
        let result = self.api(config, retry)?.query_options().await;
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
        let api = self.api(config, self.tuning.retry.clone())?;
        sync::run(&api, config, state, out).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Config::from_configuration(&Configuration::new(&map))
    }

    #[test]
    fn configuration_defaults_and_rejections() {
        let config = parse(&[("api_key", "k")]).unwrap();
        assert_eq!(config.base_url, api::DEFAULT_BASE_URL);
        assert_eq!((config.parallelism, config.start_date), (8, None));
        assert!(matches!(parse(&[]), Err(ConfigError::Missing { field }) if field == "api_key"));
        let err = parse(&[("api_key", "k"), ("parallelism", "17")]).unwrap_err();
        assert!(err.to_string().contains("1..=16"), "{err}");
        let err = parse(&[("api_key", "k"), ("start_date", "01/02/2024")]).unwrap_err();
        assert!(err.to_string().contains("'start_date'"), "{err}");
        let err = parse(&[("api_key", "k"), ("base_url", "api.virtuoussoftware.com")]).unwrap_err();
        assert!(err.to_string().contains("http"), "{err}");
        let config = parse(&[
            ("api_key", "k"),
            ("start_date", "2024-02-03"),
            ("parallelism", "1"),
        ])
        .unwrap();
        assert_eq!(
            config.start_date.unwrap().to_rfc3339(),
            "2024-02-03T00:00:00+00:00"
        );
    }

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
        let config = parse(&[("api_key", "s3cret")]).unwrap();
        assert!(!format!("{config:?}").contains("s3cret"));
    }
}
