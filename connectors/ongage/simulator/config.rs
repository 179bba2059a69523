//! Settings of the OnGage simulator, with defaults for the `debug` run and for tests.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::simulator::{ClockMode, RateLimitConfig, ServerOptions};

/// A stretch with no contacts created (a list that went quiet for months).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietStretch {
    /// First quiet instant.
    pub start: DateTime<Utc>,
    /// End of the quiet stretch (exclusive).
    pub end: DateTime<Utc>,
}

/// One mailing list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSpec {
    /// The list id (`/{list_id}/api/...`).
    pub id: u64,
    /// Display name.
    pub name: String,
    /// Contacts at generation 0.
    pub contacts: u64,
    /// Creation time of the first contact; contacts are spread from here to `data_end`.
    pub first_contact: DateTime<Utc>,
    /// An optional stretch without new contacts.
    pub quiet: Option<QuietStretch>,
}

/// How a search's status evolves when polled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchBehaviour {
    /// Polls answered "pending" (1) before the outcome, at least.
    pub base_polls: u32,
    /// One more pending poll per this many matching contacts (0: none), so bigger searches take
    /// longer.
    pub matches_per_extra_poll: u64,
    /// A search matching more contacts than this stays pending forever (the client must
    /// shrink its date window). `None`: every search completes.
    pub never_complete_above: Option<u64>,
    /// Probability that a search ends failed (3), drawn from the seed and the search number.
    pub failure_rate: f64,
    /// 1-based numbers of searches (in creation order) that end failed.
    pub fail_searches: Vec<u64>,
}

/// How `metadata.total` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TotalEncoding {
    /// Always a string (`"917655"`).
    String,
    /// Always a number.
    Number,
    /// A string on list and search listings, a number elsewhere ("sometimes a string").
    PerEndpoint,
}

/// How dates are written in the CSV export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportDates {
    /// Unix seconds.
    Unix,
    /// `YYYY-MM-DD HH:MM:SS` (UTC).
    DateTime,
    /// Each value one or the other, chosen by the seed (what clients must cope with).
    Mixed,
}

/// Everything the OnGage simulator can be told. Equal configurations serve identical bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OngageConfig {
    /// Seed for every generated value.
    pub seed: u64,
    /// Accepted `X_USERNAME`.
    pub username: String,
    /// Accepted `X_PASSWORD`.
    pub password: String,
    /// Accepted `X_ACCOUNT_CODE`.
    pub account_code: String,
    /// The numeric account id shown on lists.
    pub account_id: u64,
    /// The lists; the first is the account's default list.
    pub lists: Vec<ListSpec>,
    /// "Now" at generation 0. Generation `g` covers `data_end + (g-1)·interval .. data_end +
    /// g·interval`.
    pub data_end: DateTime<Utc>,
    /// Simulated time one generation covers; `advance` also moves the clock by this much.
    pub generation_interval: Duration,
    /// Status changes (unsubscribe, bounce, complaint, resubscribe) per list per generation.
    pub status_changes_per_generation: u64,
    /// New contacts per list per generation.
    pub new_contacts_per_generation: u64,
    /// The async search state machine.
    pub search: SearchBehaviour,
    /// How totals are written.
    pub total_encoding: TotalEncoding,
    /// How export dates are written.
    pub export_dates: ExportDates,
    /// 300 calls per 60 s and 10 in flight.
    pub rate_limit: RateLimitConfig,
    /// Port, clock mode, log size.
    pub server: ServerOptions,
}

crate::simulator::sim_settings!(OngageConfig);

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("valid literal")
}

impl Default for OngageConfig {
    /// The `debug` run's account: a 12k-contact list and a 1.05M-contact list with a quiet
    /// stretch from February to mid-June 2023, searches over 250k matches never completing, the
    /// documented rate limits, a running clock.
    fn default() -> Self {
        Self {
            seed: 4_242,
            username: "sim-user@example.org".to_owned(),
            password: "sim-password".to_owned(),
            account_code: "SIMACCT".to_owned(),
            account_id: 9_001,
            lists: vec![
                ListSpec {
                    id: 120_001,
                    name: "Newsletter".to_owned(),
                    contacts: 12_000,
                    first_contact: at("2022-01-01T00:00:00Z"),
                    quiet: None,
                },
                ListSpec {
                    id: 120_002,
                    name: "Promotions".to_owned(),
                    contacts: 1_050_000,
                    first_contact: at("2019-01-01T00:00:00Z"),
                    quiet: Some(QuietStretch {
                        start: at("2023-02-01T00:00:00Z"),
                        end: at("2023-06-15T00:00:00Z"),
                    }),
                },
            ],
            data_end: at("2025-01-01T00:00:00Z"),
            generation_interval: Duration::from_secs(86_400),
            status_changes_per_generation: 40,
            new_contacts_per_generation: 25,
            search: SearchBehaviour {
                base_polls: 2,
                matches_per_extra_poll: 50_000,
                never_complete_above: Some(250_000),
                failure_rate: 0.0,
                fail_searches: Vec::new(),
            },
            total_encoding: TotalEncoding::PerEndpoint,
            export_dates: ExportDates::Mixed,
            rate_limit: RateLimitConfig::per_window(300, 60).with_max_concurrent(10),
            server: ServerOptions::default(),
        }
    }
}

impl OngageConfig {
    /// A tiny account for unit tests: a 60-contact list and a 500-contact list with a quiet
    /// stretch, searches completing after one pending poll, no rate limit, a frozen clock.
    pub fn small() -> Self {
        let mut config = Self::default();
        config.lists[0].contacts = 60;
        config.lists[1].contacts = 500;
        config.status_changes_per_generation = 6;
        config.new_contacts_per_generation = 3;
        config.search = SearchBehaviour {
            base_polls: 1,
            matches_per_extra_poll: 0,
            never_complete_above: None,
            failure_rate: 0.0,
            fail_searches: Vec::new(),
        };
        config.rate_limit = RateLimitConfig::unlimited();
        config.server = ServerOptions {
            clock_mode: ClockMode::Frozen,
            ..ServerOptions::default()
        };
        config
    }

    /// This configuration served on `127.0.0.1:port` (for a `simulate ongage --port N` command).
    pub fn on_port(mut self, port: u16) -> Self {
        self.server.port = port;
        self
    }

    /// The list searches default to (the first one).
    pub fn default_list(&self) -> Option<u64> {
        self.lists.first().map(|list| list.id)
    }
}
