//! Virtuous's configuration: the settings a user fills in, parsed once and validated.

use chrono::{DateTime, Utc};

use super::api;
use crate::sdk::{ConfigError, Configuration, FromConfiguration, Secret};

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
}
