//! EveryAction's configuration: the settings a user fills in, parsed once and validated. A leaf: it
//! imports nothing of the connector.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::sdk::{ConfigError, Configuration, FromConfiguration, Secret};
use crate::sync::{JobConfig, JobSettings};

/// The API's address.
pub const DEFAULT_BASE_URL: &str = "https://api.securevan.com/v4";
/// The address of international (non-US) committees.
pub const INTERNATIONAL_BASE_URL: &str = "https://intlapi.securevan.com/v4";
/// The name of the setup test.
pub const CONNECTION_TEST: &str = "connection";
/// `fileSizeKbLimit` unless set: the example value of the API's docs.
pub const DEFAULT_FILE_SIZE_KB: u64 = 100_000;

/// The database a key works in: the digit after `|` in the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseMode {
    /// `0`: the voter file (VoterFile/MyVoters).
    MyVoters,
    /// `1`: MyCampaign; EveryAction and MyMembers use it too.
    MyCampaign,
}

impl DatabaseMode {
    /// The dropdown's options, the default first.
    pub const OPTIONS: [&'static str; 2] = ["MyCampaign/EveryAction (1)", "MyVoters (0)"];

    /// The digit appended to the key.
    pub fn code(self) -> u8 {
        match self {
            DatabaseMode::MyVoters => 0,
            DatabaseMode::MyCampaign => 1,
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        match code.trim() {
            "0" => Some(DatabaseMode::MyVoters),
            "1" => Some(DatabaseMode::MyCampaign),
            _ => None,
        }
    }

    /// A dropdown option, a bare digit, or a database's name (case-insensitive).
    fn parse(raw: &str) -> Option<Self> {
        let text = raw.trim().to_ascii_lowercase();
        if let Some(mode) = Self::from_code(&text) {
            return Some(mode);
        }
        if text.starts_with("myvoters") || text.starts_with("voterfile") {
            Some(DatabaseMode::MyVoters)
        } else if ["mycampaign", "everyaction", "mymembers"]
            .iter()
            .any(|name| text.starts_with(name))
        {
            Some(DatabaseMode::MyCampaign)
        } else {
            None
        }
    }
}

/// The user's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The application name: the Basic-auth user name.
    pub application_name: String,
    /// The API key, without a `|mode` suffix.
    pub api_key: Secret,
    /// The database the key works in.
    pub mode: DatabaseMode,
    /// API address without a trailing slash.
    pub base_url: String,
    /// The first sync exports records changed since then (at most 90 days back).
    pub start_date: Option<DateTime<Utc>>,
    /// Advanced: `fileSizeKbLimit` of export jobs (a job's output is split into files of this size).
    pub file_size_kb_limit: u64,
    /// Advanced: how export jobs are polled and when one counts as not completing (its window is then
    /// halved).
    pub jobs: JobConfig,
}

impl Settings {
    /// The Basic-auth password: `<api key>|<mode>`.
    pub fn password(&self) -> Secret {
        Secret::new(format!("{}|{}", self.api_key.expose(), self.mode.code()))
    }
}

/// The export jobs' polling settings: `job_poll_seconds` (5 s, doubling up to 12 times that) and
/// `job_timeout_seconds` (an hour).
pub const JOB_SETTINGS: JobSettings = JobSettings {
    prefix: "job",
    noun: "export job",
    poll: Duration::from_secs(5),
    max_poll_factor: 12,
    timeout: Duration::from_secs(3_600),
    max_timeout: Duration::from_secs(7 * 86_400),
};

/// The key and the mode a `key|mode` suffix names, if it has one.
fn split_key(raw: &str) -> Result<(String, Option<DatabaseMode>), ConfigError> {
    let key = raw.trim();
    match key.rsplit_once('|') {
        None => Ok((key.to_owned(), None)),
        Some((key, suffix)) => match DatabaseMode::from_code(suffix) {
            Some(mode) if !key.trim().is_empty() => Ok((key.trim().to_owned(), Some(mode))),
            // Never echo the key: it is a secret.
            _ => Err(ConfigError::Invalid {
                field: "api_key".into(),
                reason: "the key may end in |0 or |1 (the database mode) but ends otherwise after its '|'".into(),
            }),
        },
    }
}

impl FromConfiguration for Settings {
    fn from_configuration(c: &Configuration<'_>) -> Result<Self, ConfigError> {
        let application_name = c.required("application_name")?.to_owned();
        let (key, key_mode) = split_key(c.secret("api_key")?.expose())?;
        if key.is_empty() {
            return Err(ConfigError::Missing {
                field: "api_key".into(),
            });
        }
        let chosen = c
            .optional("database_mode")
            .map(|raw| {
                DatabaseMode::parse(raw).ok_or_else(|| ConfigError::Invalid {
                    field: "database_mode".into(),
                    reason: format!("'{raw}' is not one of {}", DatabaseMode::OPTIONS.join(", ")),
                })
            })
            .transpose()?;
        let mode = match (chosen, key_mode) {
            (Some(chosen), Some(in_key)) if chosen != in_key => {
                return Err(ConfigError::Invalid {
                    field: "database_mode".into(),
                    reason: format!(
                        "the API key ends in |{} but the database mode is {}: make them agree (or leave the suffix off the key)",
                        in_key.code(),
                        chosen.code()
                    ),
                })
            }
            (Some(mode), _) | (None, Some(mode)) => mode,
            (None, None) => DatabaseMode::MyCampaign,
        };
        Ok(Self {
            application_name,
            api_key: Secret::new(key),
            mode,
            base_url: c.base_url_or("base_url", DEFAULT_BASE_URL)?,
            start_date: c.date("start_date")?,
            file_size_kb_limit: c.int_in_range(
                "file_size_kb_limit",
                DEFAULT_FILE_SIZE_KB,
                1,
                10_000_000,
            )?,
            jobs: JOB_SETTINGS.parse(c)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        Settings::from_configuration(&Configuration::new(&map))
    }

    const KEY: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

    #[test]
    fn defaults_and_the_password_carry_the_mode() {
        let s = parse(&[("application_name", " acme "), ("api_key", KEY)]).unwrap();
        assert_eq!(s.application_name, "acme");
        assert_eq!(s.mode, DatabaseMode::MyCampaign);
        assert_eq!(s.password().expose(), format!("{KEY}|1"));
        assert_eq!(s.base_url, DEFAULT_BASE_URL);
        assert_eq!(s.file_size_kb_limit, DEFAULT_FILE_SIZE_KB);
        assert_eq!(s.jobs.first_poll_interval, Duration::from_secs(5));
        assert_eq!(s.start_date, None);
        for (option, mode) in [
            (DatabaseMode::OPTIONS[0], DatabaseMode::MyCampaign),
            (DatabaseMode::OPTIONS[1], DatabaseMode::MyVoters),
            ("0", DatabaseMode::MyVoters),
            ("EveryAction", DatabaseMode::MyCampaign),
        ] {
            let s = parse(&[
                ("application_name", "a"),
                ("api_key", KEY),
                ("database_mode", option),
            ])
            .unwrap();
            assert_eq!(s.mode, mode, "{option}");
        }
        let intl = parse(&[
            ("application_name", "a"),
            ("api_key", KEY),
            ("base_url", INTERNATIONAL_BASE_URL),
        ])
        .unwrap();
        assert_eq!(intl.base_url, INTERNATIONAL_BASE_URL);
    }

    #[test]
    fn a_key_pasted_with_its_mode_suffix_is_understood_or_refused_when_it_disagrees() {
        let s = parse(&[("application_name", "a"), ("api_key", &format!("{KEY}|0"))]).unwrap();
        assert_eq!((s.api_key.expose(), s.mode), (KEY, DatabaseMode::MyVoters));
        assert_eq!(s.password().expose(), format!("{KEY}|0"));
        let err = parse(&[
            ("application_name", "a"),
            ("api_key", &format!("{KEY}|0")),
            ("database_mode", DatabaseMode::OPTIONS[0]),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("'database_mode'"), "{err}");
        let err = parse(&[("application_name", "a"), ("api_key", &format!("{KEY}|7"))])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'api_key'") && !err.contains(KEY), "{err}");
    }

    #[test]
    fn every_error_names_its_field() {
        let good = [("application_name", "a"), ("api_key", KEY)];
        for (field, bad) in [
            ("database_mode", "both"),
            ("base_url", "api.securevan.com"),
            ("start_date", "last year"),
            ("file_size_kb_limit", "0"),
            ("job_poll_seconds", "-1"),
            ("job_timeout_seconds", "never"),
        ] {
            let mut pairs = good.to_vec();
            pairs.push((field, bad));
            let err = parse(&pairs).unwrap_err().to_string();
            assert!(err.contains(&format!("'{field}'")), "{field}: {err}");
        }
        for missing in ["application_name", "api_key"] {
            let pairs: Vec<_> = good
                .iter()
                .copied()
                .filter(|(k, _)| *k != missing)
                .collect();
            let err = parse(&pairs).unwrap_err().to_string();
            assert!(err.contains(&format!("'{missing}'")), "{err}");
        }
        let err = parse(&[("application_name", "a"), ("api_key", " |1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'api_key'"), "{err}");
    }
}
