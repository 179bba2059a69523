//! Settings of the Virtuous simulator, with defaults for the `debug` run and for tests.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::simulator::Volume;
use crate::simulator::{ClockMode, RateLimitConfig, ServerOptions};

use super::entity::Entity;

/// What a request that would take longer than the deadline gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineAction {
    /// After waiting the deadline, this status (504 mimics the gateway, 500 the app server).
    Respond(u16),
    /// No answer at all until the client gives up.
    Hang,
}

/// Response latency: `base + per_full_record × records on a Full page + per_thousand_skip ×
/// skip / 1000`. When that exceeds `deadline`, the request fails as `on_deadline` says, which is
/// what drives a client's take-splitting (1000 → 500 → ...). All zero for fast tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// Fixed cost of every query.
    pub base: Duration,
    /// Cost per record returned by `FullContact`/`FullGift`.
    pub per_full_record: Duration,
    /// Cost per 1000 records skipped (high skips are slow on the real server).
    pub per_thousand_skip: Duration,
    /// Longest the server works on a query; `None` never gives up.
    pub deadline: Option<Duration>,
    /// Behaviour past the deadline.
    pub on_deadline: DeadlineAction,
}

impl Latency {
    /// No delay at all.
    pub const fn none() -> Self {
        Self {
            base: Duration::ZERO,
            per_full_record: Duration::ZERO,
            per_thousand_skip: Duration::ZERO,
            deadline: None,
            on_deadline: DeadlineAction::Respond(504),
        }
    }

    /// The simulated time a page takes.
    pub fn cost(&self, full_records: u64, skip: u64) -> Duration {
        let records = u32::try_from(full_records).unwrap_or(u32::MAX);
        let thousands = u32::try_from(skip / 1000).unwrap_or(u32::MAX);
        self.base
            .saturating_add(self.per_full_record.saturating_mul(records))
            .saturating_add(self.per_thousand_skip.saturating_mul(thousands))
    }
}

/// A record whose presence makes any page fail with 500, whatever the take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoisonRecord {
    /// The entity it belongs to.
    pub entity: Entity,
    /// Its id (`campaignId` for campaigns).
    pub id: u64,
}

/// Everything the Virtuous simulator can be told. Two configurations that compare equal serve
/// byte-identical pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtuousConfig {
    /// Seed for every generated value.
    pub seed: u64,
    /// The only accepted bearer token.
    pub api_key: String,
    /// Contacts (households, organisations, foundations).
    pub contacts: Volume,
    /// Gifts.
    pub gifts: Volume,
    /// Projects (gift designations point at them).
    pub projects: Volume,
    /// Campaigns.
    pub campaigns: Volume,
    /// Earliest `createDateTimeUtc` of the initial data.
    pub data_start: DateTime<Utc>,
    /// "Now" at generation 0: initial data was created and modified before it. Generation `g`
    /// covers `data_end + (g-1)·interval .. data_end + g·interval`.
    pub data_end: DateTime<Utc>,
    /// Simulated time one generation covers; `advance` also moves the clock by this much.
    pub generation_interval: Duration,
    /// Every n-th initial contact starts archived (0: none).
    pub archived_every: u64,
    /// Send `total` as a JSON string (the spec's type) instead of a number (live behaviour).
    pub total_as_string: bool,
    /// Drop conditions on unknown parameters instead of answering 400 (a reported live quirk:
    /// a typo turns an incremental query into a full one).
    pub ignore_unknown_parameters: bool,
    /// Response latency and deadline.
    pub latency: Latency,
    /// Records that make their page fail.
    pub poison: Vec<PoisonRecord>,
    /// The budget (5000 calls per hour per organisation).
    pub rate_limit: RateLimitConfig,
    /// Port, clock mode, log size.
    pub server: ServerOptions,
}

crate::simulator::sim_settings!(VirtuousConfig);

impl Default for VirtuousConfig {
    /// The `debug` run's organisation: 20k contacts, 60k gifts, a deadline that fails Full pages
    /// of 1000 but not of 500, the documented 5000/hour budget, a running clock.
    fn default() -> Self {
        Self {
            seed: 20_240_101,
            api_key: "virtuous-simulator-key".to_owned(),
            contacts: Volume {
                initial: 20_000,
                added_per_generation: 20,
                modified_per_generation: 40,
                removed_per_generation: 5,
            },
            gifts: Volume {
                initial: 60_000,
                added_per_generation: 60,
                modified_per_generation: 30,
                removed_per_generation: 5,
            },
            projects: Volume {
                initial: 40,
                added_per_generation: 0,
                modified_per_generation: 1,
                removed_per_generation: 0,
            },
            campaigns: Volume {
                initial: 12,
                added_per_generation: 0,
                modified_per_generation: 1,
                removed_per_generation: 0,
            },
            data_start: "2019-01-01T00:00:00Z".parse().expect("valid literal"),
            data_end: "2025-01-01T00:00:00Z".parse().expect("valid literal"),
            generation_interval: Duration::from_secs(86_400),
            archived_every: 29,
            total_as_string: false,
            ignore_unknown_parameters: false,
            latency: Latency {
                base: Duration::from_millis(5),
                per_full_record: Duration::from_micros(500),
                per_thousand_skip: Duration::from_millis(2),
                deadline: Some(Duration::from_millis(400)),
                on_deadline: DeadlineAction::Respond(504),
            },
            poison: Vec::new(),
            rate_limit: RateLimitConfig::per_window(5000, 3600),
            server: ServerOptions::default(),
        }
    }
}

impl VirtuousConfig {
    /// A tiny organisation for unit tests: 40 contacts, 120 gifts, 5 projects, 3 campaigns, no
    /// latency, no rate limit, a frozen clock.
    pub fn small() -> Self {
        Self {
            contacts: Volume {
                initial: 40,
                added_per_generation: 2,
                modified_per_generation: 3,
                removed_per_generation: 1,
            },
            gifts: Volume {
                initial: 120,
                added_per_generation: 4,
                modified_per_generation: 3,
                removed_per_generation: 2,
            },
            projects: Volume::fixed(5),
            campaigns: Volume::fixed(3),
            archived_every: 7,
            latency: Latency::none(),
            rate_limit: RateLimitConfig::unlimited(),
            server: ServerOptions {
                clock_mode: ClockMode::Frozen,
                ..ServerOptions::default()
            },
            ..Self::default()
        }
    }

    /// [`VirtuousConfig::small`] with `contacts` contacts and `gifts` gifts (e.g. millions, to
    /// show that nothing is materialised).
    pub fn sized(contacts: u64, gifts: u64) -> Self {
        let mut config = Self::small();
        config.contacts.initial = contacts;
        config.gifts.initial = gifts;
        config
    }

    /// This configuration served on `127.0.0.1:port` (for a `simulate virtuous --port N` command).
    pub fn on_port(mut self, port: u16) -> Self {
        self.server.port = port;
        self
    }

    /// The volume of `entity`.
    pub fn volume(&self, entity: Entity) -> Volume {
        match entity {
            Entity::Contact => self.contacts,
            Entity::Gift => self.gifts,
            Entity::Project => self.projects,
            Entity::Campaign => self.campaigns,
        }
    }
}
