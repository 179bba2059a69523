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
pub mod models;
pub mod simulator;
pub mod sync;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::http::{RetryPolicy, SharedClock, SystemClock};
use crate::sdk::Error;
use crate::sdk::{
    ConfigError, Configuration, Connector, Emitter, Field, Form, FromConfiguration, Schema, Secret,
};
use crate::sync::{JobConfig, WindowConfig};

use api::{ApiConfig, OngageApi};

/// The default API address.
pub const DEFAULT_BASE_URL: &str = "https://api.ongage.net";
/// Lists with at least this many contacts (`last_count`) are backfilled in date windows.
pub const BIG_LIST_THRESHOLD: u64 = 200_000;
/// The name of the setup test.
pub const CONNECTION_TEST: &str = "connection";

/// Which lists to sync, from the `list_filter` setting: comma-separated entries, each either a list id
/// (digits only) or a case-insensitive piece of a list name. A list is synced when any entry matches; an
/// empty filter syncs every list. Example: `120001, newsletter`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    ids: Vec<String>,
    names: Vec<String>,
}

impl ListFilter {
    /// Parses the setting (`None`: every list).
    pub fn parse(raw: Option<&str>) -> Self {
        let mut filter = Self::default();
        for entry in raw.unwrap_or_default().split(',').map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            if entry.bytes().all(|b| b.is_ascii_digit()) {
                filter.ids.push(entry.to_owned());
            } else {
                filter.names.push(entry.to_lowercase());
            }
        }
        filter
    }

    /// Whether the list `id` named `name` is synced.
    pub fn matches(&self, id: &str, name: &str) -> bool {
        if self.ids.is_empty() && self.names.is_empty() {
            return true;
        }
        let name = name.to_lowercase();
        self.ids.iter().any(|i| i == id) || self.names.iter().any(|n| name.contains(n.as_str()))
    }
}

/// The user's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `X_USERNAME`.
    pub username: String,
    /// `X_PASSWORD`.
    pub password: Secret,
    /// `X_ACCOUNT_CODE`.
    pub account_code: String,
    /// API address without a trailing slash.
    pub base_url: String,
    /// Contacts created before this are not synced.
    pub start_date: Option<DateTime<Utc>>,
    /// Which lists to sync.
    pub list_filter: ListFilter,
    /// Advanced: lists with at least this many contacts are backfilled in windows
    /// ([`BIG_LIST_THRESHOLD`]).
    pub big_list_threshold: u64,
    /// Advanced: how searches are polled and when one counts as not completing (its window then shrinks).
    pub search: JobConfig,
    /// Advanced: the account's rate limit ([`api::CALLS_PER_MINUTE`] unless the account has another).
    pub calls_per_minute: u32,
}

/// A positive number of seconds (decimals allowed), or `default` when absent.
fn seconds(c: &Configuration<'_>, field: &str, default: Duration) -> Result<Duration, ConfigError> {
    let value: f64 = c.parse_or(field, default.as_secs_f64())?;
    if !(value > 0.0 && value <= 86_400.0) {
        return Err(ConfigError::Invalid {
            field: field.to_owned(),
            reason: format!("{value} is not a number of seconds in (0, 86400]"),
        });
    }
    Ok(Duration::from_secs_f64(value))
}

impl FromConfiguration for Settings {
    fn from_configuration(c: &Configuration<'_>) -> Result<Self, ConfigError> {
        let poll = seconds(c, "search_poll_seconds", Duration::from_secs(1))?;
        Ok(Self {
            username: c.required("username")?.to_owned(),
            password: c.secret("password")?,
            account_code: c.required("account_code")?.to_owned(),
            base_url: c.base_url_or("base_url", DEFAULT_BASE_URL)?,
            start_date: c.date("start_date")?,
            list_filter: ListFilter::parse(c.optional("list_filter")),
            big_list_threshold: c.int_in_range(
                "big_list_threshold",
                BIG_LIST_THRESHOLD,
                1,
                u64::MAX,
            )?,
            search: JobConfig {
                deadline: seconds(c, "search_timeout_seconds", Duration::from_secs(600))?,
                first_poll_interval: poll,
                // Doubling from the first interval: 1 s grows to 30 s.
                max_poll_interval: poll * 30,
                log_every: Duration::from_secs(60),
            },
            calls_per_minute: u32::try_from(c.int_in_range(
                "calls_per_minute",
                u64::from(api::CALLS_PER_MINUTE),
                10,
                1_000_000,
            )?)
            .unwrap_or(api::CALLS_PER_MINUTE),
        })
    }
}

/// Knobs that are not settings: production defaults; tests swap the clock or shrink the retries.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Window lengths (3 months, halved down to 2 weeks, 3 attempts there) and the incremental lookback.
    pub windows: WindowConfig,
    /// Retries of transient failures and 429s (8 attempts, backoff from 2 s up to a minute, so a
    /// per-minute limit has reset before the attempts run out).
    pub retry: RetryPolicy,
    /// Time allowed for one CSV export (30 minutes).
    pub export_timeout: Duration,
    /// Lists per `GET /api/lists` page (100).
    pub lists_page_size: u64,
    /// The clock of every wait (retries, rate budget, polls).
    pub clock: SharedClock,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            windows: WindowConfig::default(),
            retry: RetryPolicy {
                max_attempts: 8,
                initial_backoff: Duration::from_secs(2),
                max_backoff: Duration::from_secs(60),
                max_rate_limit_wait: Duration::from_secs(15 * 60),
            },
            export_timeout: Duration::from_secs(30 * 60),
            lists_page_size: 100,
            clock: SystemClock::shared(),
        }
    }
}

/// The OnGage connector.
#[derive(Debug, Clone, Default)]
pub struct Ongage {
    tuning: Tuning,
}

impl Ongage {
    /// The connector with production tuning.
    pub fn new() -> Self {
        Self::default()
    }

    /// The connector with `tuning` (tests).
    pub fn with_tuning(tuning: Tuning) -> Self {
        Self { tuning }
    }

    fn api(&self, settings: &Settings) -> Result<OngageApi, Error> {
        Ok(OngageApi::new(ApiConfig {
            base_url: settings.base_url.clone(),
            username: settings.username.clone(),
            password: settings.password.clone(),
            account_code: settings.account_code.clone(),
            calls_per_minute: settings.calls_per_minute,
            retry: self.tuning.retry.clone(),
            export_timeout: self.tuning.export_timeout,
            clock: self.tuning.clock.clone(),
        })?)
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
            .field(Field::toggle("advanced", "Advanced settings"))
            .field(Field::shown_when(
                "advanced",
                true,
                vec![
                    Field::text("big_list_threshold", "Big list threshold")
                        .optional()
                        .default_value("200000")
                        .description("lists with at least this many contacts are first synced in 3-month windows"),
                    Field::text("search_timeout_seconds", "Search timeout (seconds)")
                        .optional()
                        .default_value("600")
                        .description("a contact search not completed by then is retried over a shorter window"),
                    Field::text("search_poll_seconds", "Search poll interval (seconds)")
                        .optional()
                        .default_value("1")
                        .description("first wait between polls of a search; it doubles up to 30 times this"),
                    Field::text("calls_per_minute", "API calls per minute")
                        .optional()
                        .default_value("300")
                        .description("the account's rate limit, shown on its OnGage Profile page"),
                ],
            ))
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
        sync::run(&api, settings, &self.tuning, state, out).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::launch::SimulatorRequest;
    use std::collections::HashMap;

    #[test]
    fn list_filter_takes_ids_and_name_pieces() {
        let all = ListFilter::parse(None);
        assert!(all.matches("1", "anything"));
        let f = ListFilter::parse(Some(" 120001 , News ,,"));
        assert!(f.matches("120001", "Promotions"));
        assert!(f.matches("5", "Weekly newsletter"));
        assert!(!f.matches("120002", "Promotions"));
    }

    #[test]
    fn settings_name_the_bad_field() {
        let map: HashMap<String, String> = [
            ("username", "u"),
            ("password", "p"),
            ("account_code", "A"),
            ("start_date", "yesterday"),
        ]
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
        let err = Settings::from_configuration(&Configuration::new(&map)).unwrap_err();
        assert!(err.to_string().contains("'start_date'"), "{err}");
        let mut map = map;
        map.remove("start_date");
        let settings = Settings::from_configuration(&Configuration::new(&map)).unwrap();
        assert_eq!(settings.base_url, DEFAULT_BASE_URL);
        assert_eq!(settings.big_list_threshold, BIG_LIST_THRESHOLD);
        assert_eq!(settings.search.deadline, Duration::from_secs(600));
        assert_eq!(settings.calls_per_minute, api::CALLS_PER_MINUTE);
        map.insert("search_poll_seconds".into(), "0.005".into());
        map.insert("big_list_threshold".into(), "100".into());
        let settings = Settings::from_configuration(&Configuration::new(&map)).unwrap();
        assert_eq!(
            settings.search.first_poll_interval,
            Duration::from_millis(5)
        );
        assert_eq!(
            settings.search.max_poll_interval,
            Duration::from_millis(150)
        );
        assert_eq!(settings.big_list_threshold, 100);
        for (field, bad) in [
            ("search_timeout_seconds", "0"),
            ("search_poll_seconds", "-1"),
            ("calls_per_minute", "5"),
        ] {
            let mut bad_map = map.clone();
            bad_map.insert(field.into(), bad.into());
            let err = Settings::from_configuration(&Configuration::new(&bad_map)).unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
        map.remove("account_code");
        let err = Settings::from_configuration(&Configuration::new(&map)).unwrap_err();
        assert!(err.to_string().contains("'account_code'"), "{err}");
    }

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
