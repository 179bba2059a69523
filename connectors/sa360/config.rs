//! The SA360 connector's configuration: what a user fills in, parsed once and validated. A leaf:
//! it depends on nothing else in the connector.

use chrono::NaiveDate;

use crate::sdk::{ConfigError, Configuration, FromConfiguration, Secret};

/// Where the Search Ads 360 Reporting API is served.
pub const DEFAULT_BASE_URL: &str = "https://searchads360.googleapis.com";
/// Google's OAuth 2.0 token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://www.googleapis.com/oauth2/v3/token";
/// Days of metrics re-read on every sync, since SA360 restates them (conversions arrive late).
pub const DEFAULT_RESTATEMENT_DAYS: u32 = 30;
/// Without a start date, the first sync of a report reads this many days back.
pub const DEFAULT_HISTORY_DAYS: i64 = 365;
/// The setup test of the OAuth credentials.
pub const TOKEN_TEST: &str = "token";
/// The setup test of access to every customer synced.
pub const CUSTOMERS_TEST: &str = "customers";

/// A daily report the connector can sync (one table each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Report {
    /// Account totals by day (`FROM customer`).
    Customer,
    /// Campaigns by day.
    Campaign,
    /// Ad groups by day.
    AdGroup,
    /// Keywords by day (`FROM keyword_view`).
    Keyword,
    /// Ads by day (`FROM ad_group_ad`).
    Ad,
}

impl Report {
    /// Every report, in sync order.
    pub const ALL: [Report; 5] = [
        Report::Customer,
        Report::Campaign,
        Report::AdGroup,
        Report::Keyword,
        Report::Ad,
    ];

    /// The name the `reports` setting uses.
    pub fn name(self) -> &'static str {
        match self {
            Report::Customer => "customer",
            Report::Campaign => "campaign",
            Report::AdGroup => "ad_group",
            Report::Keyword => "keyword",
            Report::Ad => "ad",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == text)
    }
}

/// The user's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The OAuth client id (not secret).
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: Secret,
    /// The refresh token the user granted the connector.
    pub refresh_token: Secret,
    /// The token endpoint ([`DEFAULT_TOKEN_URL`]).
    pub token_url: String,
    /// The API address without a trailing slash ([`DEFAULT_BASE_URL`]).
    pub base_url: String,
    /// The manager account every call goes through (`login-customer-id`), digits only. `None`:
    /// every account the user can reach directly is a starting point.
    pub login_customer_id: Option<String>,
    /// The client accounts to sync, digits only; empty: every client account under the manager (or
    /// under every account the user reaches).
    pub customer_ids: Vec<String>,
    /// Reports start here; `None`: [`DEFAULT_HISTORY_DAYS`] before the first sync.
    pub start_date: Option<NaiveDate>,
    /// Trailing days of metrics re-read on every sync.
    pub restatement_days: u32,
    /// The reports to sync (every one unless the setting names some).
    pub reports: Vec<Report>,
}

/// A customer id as the API wants it: 10 digits, hyphens and spaces (`123-456-7890`) removed.
pub fn customer_id(field: &str, raw: &str) -> Result<String, ConfigError> {
    let digits: String = raw
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect();
    if digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(ConfigError::Invalid {
            field: field.to_owned(),
            reason: format!("'{raw}' is not a customer id: 10 digits, like 123-456-7890"),
        })
    }
}

fn reports(raw: Option<&str>) -> Result<Vec<Report>, ConfigError> {
    let mut chosen = Vec::new();
    for entry in raw.unwrap_or_default().split(',').map(str::trim) {
        if entry.is_empty() {
            continue;
        }
        let Some(report) = Report::parse(&entry.to_lowercase()) else {
            let valid: Vec<&str> = Report::ALL.iter().map(|r| r.name()).collect();
            return Err(ConfigError::Invalid {
                field: "reports".into(),
                reason: format!(
                    "'{entry}' is not a report; the reports are {}",
                    valid.join(", ")
                ),
            });
        };
        if !chosen.contains(&report) {
            chosen.push(report);
        }
    }
    if chosen.is_empty() {
        return Ok(Report::ALL.to_vec());
    }
    chosen.sort();
    Ok(chosen)
}

impl FromConfiguration for Settings {
    fn from_configuration(c: &Configuration<'_>) -> Result<Self, ConfigError> {
        let customer_ids = c
            .optional("customer_ids")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| customer_id("customer_ids", entry))
            .collect::<Result<Vec<_>, _>>()?;
        let mut unique = Vec::with_capacity(customer_ids.len());
        for id in customer_ids {
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        Ok(Self {
            client_id: c.required("client_id")?.to_owned(),
            client_secret: c.secret("client_secret")?,
            refresh_token: c.secret("refresh_token")?,
            token_url: c.base_url_or("token_url", DEFAULT_TOKEN_URL)?,
            base_url: c.base_url_or("base_url", DEFAULT_BASE_URL)?,
            login_customer_id: c
                .optional("login_customer_id")
                .map(|raw| customer_id("login_customer_id", raw))
                .transpose()?,
            customer_ids: unique,
            start_date: c.date("start_date")?.map(|d| d.date_naive()),
            restatement_days: u32::try_from(c.int_in_range(
                "restatement_days",
                u64::from(DEFAULT_RESTATEMENT_DAYS),
                1,
                365,
            )?)
            .unwrap_or(DEFAULT_RESTATEMENT_DAYS),
            reports: reports(c.optional("reports"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![
            ("client_id", "id.apps.googleusercontent.com"),
            ("client_secret", "s3cret"),
            ("refresh_token", "1//r3fresh"),
        ]
    }

    fn parse(extra: &[(&'static str, &'static str)]) -> Result<Settings, ConfigError> {
        let mut pairs = base();
        pairs.extend_from_slice(extra);
        Settings::from_configuration(&Configuration::new(&map(&pairs)))
    }

    #[test]
    fn defaults_are_google_s_endpoints_every_report_and_thirty_days_of_restatement() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.base_url, DEFAULT_BASE_URL);
        assert_eq!(s.token_url, DEFAULT_TOKEN_URL);
        assert_eq!(s.restatement_days, 30);
        assert_eq!(s.reports, Report::ALL.to_vec());
        assert_eq!((s.login_customer_id, s.customer_ids.len()), (None, 0));
        assert_eq!(s.start_date, None);
        let shown = format!("{:?}", parse(&[]).unwrap());
        assert!(
            !shown.contains("s3cret") && !shown.contains("r3fresh"),
            "{shown}"
        );
    }

    #[test]
    fn customer_ids_lose_their_hyphens_and_bad_ones_name_the_field() {
        let s = parse(&[
            ("login_customer_id", "910-000-0001"),
            ("customer_ids", " 410-000-0001, 4100000002 ,,4100000002"),
            ("start_date", "2024-06-01"),
            ("reports", "Keyword, campaign"),
        ])
        .unwrap();
        assert_eq!(s.login_customer_id.as_deref(), Some("9100000001"));
        assert_eq!(s.customer_ids, ["4100000001", "4100000002"]);
        assert_eq!(s.start_date, NaiveDate::from_ymd_opt(2024, 6, 1));
        assert_eq!(s.reports, [Report::Campaign, Report::Keyword]);
        for (field, bad) in [
            ("login_customer_id", "12-34"),
            ("customer_ids", "4100000001, abc"),
            ("reports", "campaigns"),
            ("restatement_days", "0"),
            ("token_url", "ftp://x"),
        ] {
            let err = parse(&[(field, bad)]).unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
        let err = parse(&[("reports", "nope")]).unwrap_err().to_string();
        assert!(
            err.contains("ad_group"),
            "the valid names are listed: {err}"
        );
    }
}
