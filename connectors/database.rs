//! Pieces the database connectors (`postgres`, `mysql`) share: the TLS mode and its form values,
//! comma-separated lists, and quoted column lists for their snapshot queries.

use crate::sdk::{ConfigError, Configuration};

/// How a database connection is encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP (a private network or a tunnel).
    Disable,
    /// TLS without checking the server's certificate (libpq's `sslmode=require`, MySQL's
    /// `--ssl-mode=REQUIRED`).
    Require,
    /// TLS with the certificate checked against this CA (PEM) and the host name.
    VerifyFull {
        /// The CA certificate(s), PEM.
        ca_pem: String,
    },
}

impl TlsMode {
    /// The `tls` field (`disable`, `require` (the default), `verify-full`, which needs
    /// `ca_certificate`).
    pub fn from_configuration(c: &Configuration<'_>) -> Result<Self, ConfigError> {
        Ok(match c.optional("tls").unwrap_or("require") {
            "disable" => TlsMode::Disable,
            "require" => TlsMode::Require,
            "verify-full" => TlsMode::VerifyFull {
                ca_pem: c.required("ca_certificate")?.to_owned(),
            },
            other => {
                return Err(ConfigError::Invalid {
                    field: "tls".to_owned(),
                    reason: format!("'{other}' is not one of disable, require, verify-full"),
                })
            }
        })
    }
}

/// A comma-separated list with its items trimmed and empty ones dropped; `None` when nothing is left.
pub fn list(value: Option<&str>) -> Option<Vec<String>> {
    let items: Vec<String> = value?
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    (!items.is_empty()).then_some(items)
}

/// `names`, each quoted by the dialect's `quote`, joined by `, `: a snapshot's `SELECT` list or its
/// `ORDER BY` keys.
pub fn quoted_list<'a>(
    names: impl IntoIterator<Item = &'a str>,
    quote: impl Fn(&str) -> String,
) -> String {
    names.into_iter().map(quote).collect::<Vec<_>>().join(", ")
}
