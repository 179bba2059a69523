//! Settings of the EveryAction simulator, with defaults for the `debug` run and for tests.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::simulator::{ClockMode, RateLimitConfig, ServerOptions, Volume};

use super::mode::Mode;

/// One database a key can reach (`|0` MyVoters, `|1` MyCampaign): its names and sizes.
///
/// The two databases are independent: different seeds, different id ranges, different sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseSpec {
    /// `databaseName` in `apiKeyProfiles`.
    pub database_name: String,
    /// `committeeName` in `apiKeyProfiles`.
    pub committee_name: String,
    /// People (`vanId`); only reachable through export jobs.
    pub contacts: Volume,
    /// Contributions (`contributionId`); "removed" means deleted.
    pub contributions: Volume,
    /// `activistCodes`; "removed" means archived (still listed, `status: Archived`).
    pub activist_codes: Volume,
    /// `surveyQuestions`; "removed" means archived.
    pub survey_questions: Volume,
    /// `events`; "removed" means cancelled (`isActive: false`, still listed).
    pub events: Volume,
    /// `events/types` (fixed).
    pub event_types: u64,
    /// `codes`; "removed" means deleted (gone from the list).
    pub codes: Volume,
    /// `savedLists`; "removed" means deleted (gone from the list).
    pub saved_lists: Volume,
    /// `users` (fixed).
    pub users: u64,
    /// Custom fields of group type `Contacts` (fixed).
    pub contact_custom_fields: u64,
    /// Custom fields of group type `Contributions` (fixed).
    pub contribution_custom_fields: u64,
    /// ContactsActivistCodes / ContactsSurveyResponses rows applied (and, every fourth one,
    /// removed) per generation.
    pub child_changes_per_generation: u64,
}

/// How changed-entity export jobs behave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportBehaviour {
    /// Polls of `GET /changedEntityExportJobs/{id}` answered `Pending`.
    pub pending_polls: u32,
    /// Polls answered `InProcess` after those.
    pub in_process_polls: u32,
    /// 1-based numbers (in creation order, over both databases) of jobs that end in `Error`.
    pub fail_jobs: Vec<u64>,
    /// A job whose CSV output would exceed this many bytes ends in `Error` (`None`: no limit).
    pub max_export_bytes: Option<u64>,
    /// `fileSizeKbLimit` when the request has none.
    pub default_file_size_kb_limit: u64,
    /// How long download URLs live after the job completes (the docs say 20 days in one
    /// place, 24 hours in another).
    pub url_expiry: Duration,
    /// How far back `dateChangedFrom` may reach (90 days).
    pub retention: Duration,
}

/// Everything the EveryAction simulator can be told. Two configurations that compare equal
/// serve byte-identical pages and files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EveryActionConfig {
    /// Seed for every generated value (each database derives its own from it).
    pub seed: u64,
    /// The accepted application name (the Basic-auth user name).
    pub application_name: String,
    /// The accepted API key (the password is `<api_key>|<mode>`).
    pub api_key: String,
    /// Database mode 0.
    pub my_voters: DatabaseSpec,
    /// Database mode 1 (MyCampaign; EveryAction and MyMembers use it too).
    pub my_campaign: DatabaseSpec,
    /// Earliest creation time of the initial data.
    pub data_start: DateTime<Utc>,
    /// "Now" at generation 0 (and the clock's start). Generation `g` makes its changes in
    /// `data_end + (g-1)·interval .. data_end + g·interval`.
    pub data_end: DateTime<Utc>,
    /// Simulated time one generation covers; `advance` also moves the clock by this much.
    pub generation_interval: Duration,
    /// The databases' local UTC offset in minutes, used in timestamps (`-04:00` is -240).
    pub utc_offset_minutes: i32,
    /// The export job state machine and files.
    pub export: ExportBehaviour,
    /// `GET /users` answers 403 (the key lacks the permission).
    pub users_forbidden: bool,
    /// `savedLists` keeps a non-null `nextPageLink` even on its last and on empty pages (the
    /// quirk parsons works around by stopping on an empty page).
    pub saved_lists_link_on_empty_page: bool,
    /// `Retry-After` seconds sent with 503 answers (`None`: no header).
    pub retry_after_503_seconds: Option<u64>,
    /// No numeric limit is published; unlimited unless a test sets one.
    pub rate_limit: RateLimitConfig,
    /// Port, clock mode, log size.
    pub server: ServerOptions,
}

crate::simulator::sim_settings!(EveryActionConfig);

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("valid literal")
}

impl Default for EveryActionConfig {
    /// The `debug` run's organisation: 40k people and 60k contributions in MyCampaign, 30k
    /// people in MyVoters, a year of history, jobs completing after three polls, a running
    /// clock.
    fn default() -> Self {
        let data_end = at("2025-01-01T00:00:00Z");
        Self {
            seed: 20_240_601,
            application_name: "fivetranSimulator".to_owned(),
            api_key: "7c9e6679-7425-40de-944b-e07fc1f90ae7".to_owned(),
            my_voters: DatabaseSpec {
                database_name: "Demo State".to_owned(),
                committee_name: "Demo Voter File Committee".to_owned(),
                contacts: Volume::changing(30_000, 20, 40, 6),
                contributions: Volume::changing(2_000, 2, 2, 1),
                activist_codes: Volume::changing(30, 0, 1, 0),
                survey_questions: Volume::changing(15, 0, 1, 0),
                events: Volume::changing(120, 1, 1, 0),
                event_types: 6,
                codes: Volume::changing(30, 0, 1, 0),
                saved_lists: Volume::changing(20, 1, 1, 0),
                users: 12,
                contact_custom_fields: 2,
                contribution_custom_fields: 1,
                child_changes_per_generation: 20,
            },
            my_campaign: DatabaseSpec {
                database_name: "Demo Organization".to_owned(),
                committee_name: "Demo Campaign Committee".to_owned(),
                contacts: Volume::changing(40_000, 40, 80, 10),
                contributions: Volume::changing(60_000, 60, 30, 5),
                activist_codes: Volume::changing(60, 1, 1, 1),
                survey_questions: Volume::changing(25, 0, 1, 0),
                events: Volume::changing(400, 2, 2, 1),
                event_types: 10,
                codes: Volume::changing(80, 1, 1, 1),
                saved_lists: Volume::changing(40, 1, 2, 1),
                users: 25,
                contact_custom_fields: 6,
                contribution_custom_fields: 3,
                child_changes_per_generation: 40,
            },
            data_start: data_end - TimeDelta::days(365),
            data_end,
            generation_interval: Duration::from_secs(86_400),
            utc_offset_minutes: -240,
            export: ExportBehaviour {
                pending_polls: 1,
                in_process_polls: 2,
                fail_jobs: Vec::new(),
                max_export_bytes: None,
                default_file_size_kb_limit: 40_000,
                url_expiry: Duration::from_secs(20 * 86_400),
                retention: Duration::from_secs(90 * 86_400),
            },
            users_forbidden: false,
            saved_lists_link_on_empty_page: false,
            retry_after_503_seconds: Some(1),
            rate_limit: RateLimitConfig::unlimited(),
            server: ServerOptions::default(),
        }
    }
}

impl EveryActionConfig {
    /// A tiny organisation for unit tests: a few hundred records per database, all created in
    /// the 60 days before `data_end` (so every record is inside the 90-day export window),
    /// jobs completing after one `Pending` and one `InProcess` poll, a frozen clock.
    pub fn small() -> Self {
        let base = Self::default();
        Self {
            my_voters: DatabaseSpec {
                contacts: Volume::changing(80, 2, 4, 2),
                contributions: Volume::changing(30, 1, 1, 1),
                activist_codes: Volume::changing(8, 0, 1, 0),
                survey_questions: Volume::changing(4, 0, 1, 0),
                events: Volume::changing(20, 1, 1, 0),
                event_types: 3,
                codes: Volume::changing(10, 0, 1, 0),
                saved_lists: Volume::changing(5, 0, 1, 0),
                users: 3,
                contact_custom_fields: 2,
                contribution_custom_fields: 1,
                child_changes_per_generation: 3,
                ..base.my_voters
            },
            my_campaign: DatabaseSpec {
                contacts: Volume::changing(120, 4, 6, 2),
                contributions: Volume::changing(200, 5, 4, 2),
                activist_codes: Volume::changing(12, 1, 1, 1),
                survey_questions: Volume::changing(6, 0, 1, 0),
                events: Volume::changing(130, 2, 2, 1),
                event_types: 4,
                codes: Volume::changing(25, 1, 1, 1),
                saved_lists: Volume::changing(7, 1, 1, 1),
                users: 5,
                contact_custom_fields: 3,
                contribution_custom_fields: 2,
                child_changes_per_generation: 6,
                ..base.my_campaign
            },
            data_start: base.data_end - TimeDelta::days(60),
            export: ExportBehaviour {
                pending_polls: 1,
                in_process_polls: 1,
                ..base.export
            },
            server: ServerOptions {
                clock_mode: ClockMode::Frozen,
                ..ServerOptions::default()
            },
            ..base
        }
    }

    /// [`EveryActionConfig::small`] with `contacts` people in MyCampaign (e.g. a million, to
    /// show that nothing is materialised), created over the year before `data_end`.
    pub fn with_contacts(contacts: u64) -> Self {
        let mut config = Self::small();
        config.my_campaign.contacts.initial = contacts;
        config.data_start = config.data_end - TimeDelta::days(365);
        config
    }

    /// This configuration served on `127.0.0.1:port` (for a `simulate everyaction --port N`).
    pub fn on_port(mut self, port: u16) -> Self {
        self.server.port = port;
        self
    }

    /// The database reached with `mode`.
    pub fn database(&self, mode: Mode) -> &DatabaseSpec {
        match mode {
            Mode::MyVoters => &self.my_voters,
            Mode::MyCampaign => &self.my_campaign,
        }
    }

    /// The Basic-auth password for `mode`: `<api_key>|<0 or 1>`.
    pub fn password(&self, mode: Mode) -> String {
        format!("{}|{}", self.api_key, mode.code())
    }
}
