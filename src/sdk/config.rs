//! Typed configuration: Fivetran sends a `map<string, string>`; each connector parses it once, here,
//! into its own struct, and every error names the field and says what is wrong.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use super::Secret;

/// A configuration error a person can act on: it names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required field is absent or empty.
    #[error("configuration field '{field}' is required but missing or empty")]
    Missing {
        /// The field's name.
        field: String,
    },
    /// A field's value does not parse.
    #[error("configuration field '{field}' is invalid: {reason}")]
    Invalid {
        /// The field's name.
        field: String,
        /// What is wrong and what is expected (never the value itself when it is a secret).
        reason: String,
    },
}

/// A connector's configuration struct, parsed once from Fivetran's string map.
pub trait FromConfiguration: Sized {
    /// Parses and validates the map; an error names the first bad field.
    fn from_configuration(config: &Configuration<'_>) -> Result<Self, ConfigError>;
}

/// Read access to the raw string map with typed, validating getters.
/// An empty string counts as absent (Fivetran sends unset optional fields as `""`).
#[derive(Clone, Copy)]
pub struct Configuration<'a> {
    map: &'a HashMap<String, String>,
}

impl std::fmt::Debug for Configuration<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys only: values may be secrets.
        let mut keys: Vec<_> = self.map.keys().collect();
        keys.sort();
        f.debug_struct("Configuration")
            .field("keys", &keys)
            .finish()
    }
}

impl<'a> Configuration<'a> {
    /// Wraps Fivetran's configuration map.
    pub fn new(map: &'a HashMap<String, String>) -> Self {
        Self { map }
    }

    /// The trimmed value of `field`, `None` when absent or empty.
    pub fn optional(&self, field: &str) -> Option<&'a str> {
        self.map
            .get(field)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The trimmed value of `field`, or [`ConfigError::Missing`].
    pub fn required(&self, field: &str) -> Result<&'a str, ConfigError> {
        self.optional(field).ok_or_else(|| ConfigError::Missing {
            field: field.to_owned(),
        })
    }

    /// A required secret (kept untrimmed: whitespace may be part of a password). A control character
    /// (a pasted line break or tab) is refused by position, never by showing the value.
    pub fn secret(&self, field: &str) -> Result<Secret, ConfigError> {
        match self.map.get(field) {
            Some(v) if !v.is_empty() => {
                if let Some(at) = v.chars().position(char::is_control) {
                    return Err(ConfigError::Invalid {
                        field: field.to_owned(),
                        reason: format!(
                            "character {} is a control character (a line break or tab pasted with it?); enter it again without one",
                            at + 1
                        ),
                    });
                }
                Ok(Secret::new(v.clone()))
            }
            _ => Err(ConfigError::Missing {
                field: field.to_owned(),
            }),
        }
    }

    /// `field` parsed with `FromStr`, or `default` when absent.
    pub fn parse_or<T: FromStr>(&self, field: &str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(field) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Invalid {
                field: field.to_owned(),
                reason: format!("'{raw}' does not parse: {e}"),
            }),
        }
    }

    /// An integer in `min..=max`, or `default` when absent.
    pub fn int_in_range(
        &self,
        field: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let v: u64 = self.parse_or(field, default)?;
        if !(min..=max).contains(&v) {
            return Err(ConfigError::Invalid {
                field: field.to_owned(),
                reason: format!("{v} is outside the allowed range {min}..={max}"),
            });
        }
        Ok(v)
    }

    /// A positive number of seconds (decimals allowed, so tests can use milliseconds) up to `max`, or
    /// `default` when absent.
    pub fn seconds_or(
        &self,
        field: &str,
        default: std::time::Duration,
        max: std::time::Duration,
    ) -> Result<std::time::Duration, ConfigError> {
        let value: f64 = self.parse_or(field, default.as_secs_f64())?;
        if !(value > 0.0 && value <= max.as_secs_f64()) {
            return Err(ConfigError::Invalid {
                field: field.to_owned(),
                reason: format!(
                    "{value} is not a number of seconds in (0, {}]",
                    max.as_secs_f64()
                ),
            });
        }
        Ok(std::time::Duration::from_secs_f64(value))
    }

    /// An `http://` or `https://` base URL without a trailing slash, or `default` when absent. A query,
    /// a fragment or credentials in it are refused: request paths are appended to it, so a query
    /// would end up in the middle of every path, and credentials belong in their own fields.
    pub fn base_url_or(&self, field: &str, default: &str) -> Result<String, ConfigError> {
        let raw = self.optional(field).unwrap_or(default);
        let invalid = |reason: String| ConfigError::Invalid {
            field: field.to_owned(),
            reason,
        };
        if !(raw.starts_with("http://") || raw.starts_with("https://")) {
            return Err(invalid(format!(
                "'{raw}' must start with http:// or https://"
            )));
        }
        let url =
            reqwest::Url::parse(raw).map_err(|e| invalid(format!("'{raw}' is not a URL: {e}")))?;
        if !url.username().is_empty() || url.password().is_some() {
            // Not echoed: the part before '@' is a credential.
            return Err(invalid(
                "it holds a user name or password; enter those in their own fields".into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid(format!(
                "'{raw}' has a query or fragment (after '?' or '#'); give the base URL only, like https://api.example.org"
            )));
        }
        Ok(raw.trim_end_matches('/').to_owned())
    }

    /// A date as `YYYY-MM-DD` (or a full RFC 3339 timestamp), as UTC midnight; `None` when absent.
    pub fn date(&self, field: &str) -> Result<Option<DateTime<Utc>>, ConfigError> {
        let Some(raw) = self.optional(field) else {
            return Ok(None);
        };
        if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
            return Ok(Some(d.and_time(chrono::NaiveTime::MIN).and_utc()));
        }
        DateTime::parse_from_rfc3339(raw)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| ConfigError::Invalid {
                field: field.to_owned(),
                reason: format!("'{raw}' is not a date like 2024-01-31"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn missing_and_empty_fields_name_the_field() {
        let m = map(&[("a", "  ")]);
        let c = Configuration::new(&m);
        assert_eq!(
            c.required("a").unwrap_err().to_string(),
            "configuration field 'a' is required but missing or empty"
        );
        assert!(matches!(c.secret("b"), Err(ConfigError::Missing { field }) if field == "b"));
    }

    #[test]
    fn typed_getters_validate() {
        let m = map(&[
            ("n", "12"),
            ("bad", "x"),
            ("url", "http://127.0.0.1:9/"),
            ("d", "2024-02-03"),
            ("dd", "03/02/2024"),
        ]);
        let c = Configuration::new(&m);
        assert_eq!(c.int_in_range("n", 1, 1, 16).unwrap(), 12);
        assert!(c
            .int_in_range("n", 1, 1, 8)
            .unwrap_err()
            .to_string()
            .contains("1..=8"));
        assert!(c
            .parse_or::<u32>("bad", 0)
            .unwrap_err()
            .to_string()
            .contains("'bad'"));
        assert_eq!(
            c.base_url_or("url", "https://x").unwrap(),
            "http://127.0.0.1:9"
        );
        assert_eq!(c.base_url_or("none", "https://x").unwrap(), "https://x");
        assert!(c.base_url_or("bad", "https://x").is_err());
        assert_eq!(
            c.date("d").unwrap().unwrap().to_rfc3339(),
            "2024-02-03T00:00:00+00:00"
        );
        assert!(c.date("dd").unwrap_err().to_string().contains("2024-01-31"));
        assert_eq!(c.date("absent").unwrap(), None);
    }

    /// Issue 16, defect 15: a query string in the base URL mangled every request path.
    #[test]
    fn defect_15_a_base_url_with_a_query_fragment_or_credentials_is_refused() {
        let m = map(&[
            ("q", "http://127.0.0.1:1/x?y=1"),
            ("f", "https://api.example.org/#top"),
            ("u", "https://me:s3cret@api.example.org"),
            ("path", "https://api.example.org/v2/"),
        ]);
        let c = Configuration::new(&m);
        let q = c.base_url_or("q", "https://x").unwrap_err().to_string();
        assert!(q.contains("'q'") && q.contains("query"), "{q}");
        assert!(c.base_url_or("f", "https://x").is_err());
        let u = c.base_url_or("u", "https://x").unwrap_err().to_string();
        assert!(u.contains("'u'") && !u.contains("s3cret"), "{u}");
        assert_eq!(
            c.base_url_or("path", "https://x").unwrap(),
            "https://api.example.org/v2"
        );
    }

    /// Issue 16, defect 13: a control character in a key failed deep in the HTTP client, naming
    /// neither the field nor the problem.
    #[test]
    fn defect_13_a_control_character_in_a_secret_names_the_field_not_the_value() {
        let m = map(&[("api_key", "abc\ndef")]);
        let err = Configuration::new(&m)
            .secret("api_key")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'api_key'") && err.contains("character 4"),
            "{err}"
        );
        assert!(!err.contains("abc"), "{err}");
    }

    #[test]
    fn debug_shows_keys_not_values() {
        let m = map(&[("api_key", "s3cret")]);
        let shown = format!("{:?}", Configuration::new(&m));
        assert!(shown.contains("api_key") && !shown.contains("s3cret"));
    }
}
