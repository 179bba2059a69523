//! OnGage's configuration: the settings a user fills in, parsed once and validated.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::api;
use crate::sdk::{ConfigError, Configuration, FromConfiguration, Secret};
use crate::sync::{JobConfig, JobSettings};

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

/// The contact search's polling settings: `search_poll_seconds` (1 s, doubling up to 30 times that)
/// and `search_timeout_seconds` (600 s).
pub const SEARCH_SETTINGS: JobSettings = JobSettings {
    prefix: "search",
    noun: "contact search",
    poll: Duration::from_secs(1),
    max_poll_factor: 30,
    timeout: Duration::from_secs(600),
    max_timeout: Duration::from_secs(86_400),
};

impl FromConfiguration for Settings {
    fn from_configuration(c: &Configuration<'_>) -> Result<Self, ConfigError> {
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
            search: SEARCH_SETTINGS.parse(c)?,
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

#[cfg(test)]
mod tests {
    use super::*;
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
}
