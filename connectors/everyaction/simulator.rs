//! A faithful simulator of the EveryAction / NGP VAN API v4 (`docs/apis.md` §3), for tests,
//! benchmarks and the out-of-the-box `debug` run.
//!
//! What it reproduces:
//! - HTTP Basic auth: user name = application name, password = `<api key>|<mode>`; mode 0
//!   (MyVoters) and mode 1 (MyCampaign) reach **different databases** (own seed, own id
//!   ranges, own sizes: [`DatabaseSpec`]). Anything else → 401 with the standard body;
//! - the standard error body `{"errors":[{"code","text","properties",...}]}` on every error,
//!   including the shared pipeline's 429 / 5xx (with `Retry-After` on 429 and, configurably,
//!   503), unknown paths (404) and wrong methods (405);
//! - `GET /v4/apiKeyProfiles` (paged envelope, one item);
//! - paged list endpoints ([`ListEndpoint`]: `activistCodes`, `surveyQuestions` with nested
//!   `responses`, `events` (max 50 per page; `startingAfter`, `startingBefore`, `eventTypeIds`,
//!   `codeIds`, `$expand` of `shifts`, `locations`, `roles`, `codes`, `notes`,
//!   `voterRegistrationBatches`), `codes` (`$expand=supportedEntities`), `savedLists`, `users`
//!   (403 with [`EveryActionConfig::users_forbidden`]; no maximum, so `$top=` returns
//!   everything)), with `$top`/`$skip`/`$orderby`, `count`, the empty shape
//!   `{"items":[],"nextPageLink":null,"count":0}`, and an absolute `nextPageLink` that
//!   already carries every original parameter (see the `lists` module); the bare arrays of
//!   `events/types` and `customFields` (`customFieldsGroupType`), as the docs show them;
//! - the client bug of re-adding parameters to a `nextPageLink`: any repeated query
//!   parameter → 404 with the error body, remembered in [`EveryActionSimulator::refusals`];
//! - the savedLists quirk ([`EveryActionConfig::saved_lists_link_on_empty_page`]):
//!   `nextPageLink` stays non-null on the last and on empty pages;
//! - Changed Entity Export Jobs: `resources`, `fields/{resourceType}` (CSV columns, custom
//!   fields included), `changeTypes/{resourceType}`, `POST` (validated: 90-day retention,
//!   no future `dateChangedFrom`, `dateChangedTo` after it, fields, custom field ids; `201`
//!   echoing the accepted properties), polled through `Pending` → `InProcess` →
//!   `Complete`/`Error` ([`ExportBehaviour`]), CSV split by `fileSizeKbLimit` into files that
//!   each repeat the header, streamed from download links that expire on the simulator clock
//!   (410 afterwards). Resources: `Contacts`, `Contributions`, `ContactsActivistCodes`,
//!   `ContactsSurveyResponses` ([`Resource`]); column and inactive-row conventions are
//!   documented in the `export` module, the state machine in the `jobs` module;
//! - data derived from the seed, a million people costing only the sparse overlay of records
//!   `advance` touched; generations of edits, suppressions, deletions, new people and
//!   contributions, codes and responses applied and removed, and list edits via
//!   [`EveryActionSimulator::advance`];
//! - 7-digit fractional seconds and local offsets (`2019-01-31T15:05:54.2106809-04:00`) in
//!   job dates and CSV dates, `Z` times on `createdDate`/`dateCreated`, offsets on event dates.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fivetran_source::simulator::SimError> {
//! use fivetran_source::connectors::everyaction::simulator::{
//!     EveryActionConfig, EveryActionSimulator, Mode, Resource,
//! };
//! let sim = EveryActionSimulator::start(EveryActionConfig::small()).await?;
//! let (user, password) = (sim.application_name(), sim.password(Mode::MyCampaign));
//! // ... sync against sim.api_url() with Basic auth (user, password) ...
//! sim.advance(1);
//! let live_people = sim.truth().export(Mode::MyCampaign, Resource::Contacts).filter(|r| r.active).count();
//! # let _ = (user, password, live_people);
//! # Ok(()) }
//! ```

mod config;
mod dataset;
mod errors;
mod export;
mod jobs;
mod lists;
mod mode;
mod records;
mod routes;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::simulator::launch::Credential;
use crate::simulator::options::whole_number;
use crate::simulator::options::Knob;
use crate::simulator::running::{ApiSimulator, Running};
use crate::simulator::{SimControl, SimError};

pub use crate::simulator::Volume;
pub use config::{DatabaseSpec, EveryActionConfig, ExportBehaviour};
pub use dataset::{
    Change, ChangeKind, ChangeType, ChildKind, EveryActionData, Mode, ModeData, State,
};
pub use export::{ExportRecord, Resource};
pub use jobs::JobStatus;
pub use lists::{ListEndpoint, PageLimits};
pub use routes::{AdvanceSummary, Refusal};

use lists::RawQuery;
pub use routes::EveryActionState;

/// A summary of one export job, for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    /// `exportJobId`.
    pub id: u64,
    /// The database it runs in.
    pub mode: Mode,
    /// 1-based creation number over both databases (what `fail_jobs` refers to).
    pub number: u64,
    /// The resource exported.
    pub resource: Resource,
    /// `Complete` or `Error` once finished, `None` while pending or in process.
    pub finished: Option<JobStatus>,
    /// When it was created (simulated clock).
    pub created_at: DateTime<Utc>,
    /// When it completed (simulated clock), once complete.
    pub completed_at: Option<DateTime<Utc>>,
    /// Rows exported (0 until complete).
    pub rows: u64,
    /// Bytes of CSV over all files, headers included (0 until complete).
    pub bytes: u64,
    /// Files (0 until complete).
    pub files: usize,
}

/// The simulator's data as the API would serve it now: the oracle a warehouse is compared
/// against. An immutable snapshot; later `advance`s do not change it.
pub struct Truth {
    state: Arc<EveryActionState>,
    data: Arc<EveryActionData>,
}

impl Truth {
    /// The generation the snapshot is at.
    pub fn generation(&self) -> u32 {
        self.data.generation()
    }

    /// The data itself.
    pub fn data(&self) -> &EveryActionData {
        &self.data
    }

    /// Every item `endpoint` lists in `mode` (no filters, id order), as the API serves it
    /// with `$expand=expand` (`""` for none; e.g. `"shifts,locations"` for events). Deleted
    /// codes and saved lists are absent; archived activist codes and survey questions and
    /// cancelled events are present with their status. `users` are listed even when the
    /// key is forbidden to read them.
    pub fn list(&self, mode: Mode, endpoint: ListEndpoint, expand: &str) -> Vec<Value> {
        let query = RawQuery::single("$expand", expand);
        let items = match endpoint {
            ListEndpoint::ApiKeyProfiles => vec![lists::Item::of(&self.state.profile(mode))],
            _ => lists::items(self.data.database(mode), endpoint, &query).unwrap_or_default(),
        };
        items.into_iter().map(|item| item.value).collect()
    }

    /// Ids of the records `endpoint` no longer lists because they were deleted (codes and
    /// saved lists; empty for the others).
    pub fn deleted_list_ids(&self, mode: Mode, endpoint: ListEndpoint) -> Vec<u64> {
        lists::deleted_ids(self.data.database(mode), endpoint)
    }

    /// Every record of `resource` in `mode` ever created, inactive ones included (see
    /// [`ExportRecord::active`]), with every column, as an export with `includeInactive`
    /// and all fields would write it. Lazy: records are derived one at a time.
    pub fn export(
        &self,
        mode: Mode,
        resource: Resource,
    ) -> impl Iterator<Item = ExportRecord> + '_ {
        export::truth(self.data.database(mode), resource)
    }

    /// Every column of `resource` in `mode` (standard fields, then `CF{id}` custom fields).
    pub fn export_columns(&self, mode: Mode, resource: Resource) -> Vec<String> {
        export::all_columns(self.data.database(mode), resource)
            .iter()
            .map(export::Column::name)
            .collect()
    }

    /// Keys of the live records of `resource` (what a warehouse should hold as not deleted).
    pub fn live_keys(&self, mode: Mode, resource: Resource) -> Vec<u64> {
        self.export(mode, resource)
            .filter(|r| r.active)
            .map(|r| r.key)
            .collect()
    }

    /// Keys of the suppressed, deleted or removed records of `resource`.
    pub fn inactive_keys(&self, mode: Mode, resource: Resource) -> Vec<u64> {
        self.export(mode, resource)
            .filter(|r| !r.active)
            .map(|r| r.key)
            .collect()
    }
}

/// A running simulator (see [`Running`]). Dropping it shuts the server down.
pub type EveryActionSimulator = Running<EveryActionState>;

impl Running<EveryActionState> {
    /// `http://127.0.0.1:<port>/v4`, what `https://api.securevan.com/v4` is to the real API.
    pub fn api_url(&self) -> String {
        format!("{}/v4", self.base_url())
    }

    /// The accepted Basic-auth user name.
    pub fn application_name(&self) -> &str {
        &self.state().config.application_name
    }

    /// The Basic-auth password for `mode` (`<api key>|<0 or 1>`).
    pub fn password(&self, mode: Mode) -> String {
        self.state().config.password(mode)
    }

    /// The simulated now.
    pub fn now(&self) -> DateTime<Utc> {
        self.control().clock().now()
    }

    /// The generation the data is at.
    pub fn generation(&self) -> u32 {
        self.state().snapshot().generation()
    }

    /// The current truth (see [`Truth`]).
    pub fn truth(&self) -> Truth {
        Truth {
            state: self.shared_state(),
            data: self.state().snapshot(),
        }
    }

    /// Requests refused because a query parameter was repeated, oldest first.
    pub fn refusals(&self) -> Vec<Refusal> {
        self.state().refusals()
    }

    /// Every export job so far, oldest first.
    pub fn jobs(&self) -> Vec<JobSummary> {
        self.state()
            .jobs()
            .iter()
            .map(|job| {
                let mut summary = JobSummary {
                    id: job.id,
                    mode: job.mode(),
                    number: job.number,
                    resource: job.spec.resource,
                    finished: None,
                    created_at: job.created_at,
                    completed_at: None,
                    rows: 0,
                    bytes: 0,
                    files: 0,
                };
                match job.outcome() {
                    Some(jobs::Outcome::Complete {
                        plan, completed_at, ..
                    }) => {
                        summary.finished = Some(JobStatus::Complete);
                        summary.completed_at = Some(*completed_at);
                        summary.rows = plan.rows;
                        summary.bytes = plan.files.iter().map(|file| file.bytes).sum();
                        summary.files = plan.files.len();
                    }
                    Some(jobs::Outcome::Error { .. }) => summary.finished = Some(JobStatus::Error),
                    None => {}
                }
                summary
            })
            .collect()
    }
}

impl ApiSimulator for EveryActionState {
    type Data = EveryActionData;
    type Config = EveryActionConfig;

    /// The application name and the key, as the connector sends them (trimmed). The database mode
    /// is not a credential: the key reaches both databases.
    fn credentials(config: &mut EveryActionConfig) -> Vec<Credential<'_>> {
        vec![
            Credential::trimmed("application_name", &mut config.application_name),
            Credential::trimmed("api_key", &mut config.api_key),
        ]
    }

    fn describe(config: &EveryActionConfig) -> String {
        let db = |spec: &DatabaseSpec| {
            format!(
                "{} people, {} contributions",
                spec.contacts.initial, spec.contributions.initial
            )
        };
        format!(
            "everyaction: MyCampaign {}; MyVoters {}",
            db(&config.my_campaign),
            db(&config.my_voters)
        )
    }

    fn knobs() -> Vec<Knob> {
        vec![
            Knob::count(
                "contacts",
                "/my_campaign/contacts/initial",
                "MyCampaign contacts at the start",
            ),
            Knob::count(
                "contributions",
                "/my_campaign/contributions/initial",
                "MyCampaign contributions at the start",
            ),
            Knob::count(
                "voters",
                "/my_voters/contacts/initial",
                "MyVoters contacts at the start",
            ),
            Knob::text(
                "now",
                "/data_end",
                "the simulated 'now' of the initial data (RFC 3339)",
            ),
            Knob::flag(
                "users-forbidden",
                "/users_forbidden",
                "answer 403 on /users",
            ),
            Knob::count(
                "pending-polls",
                "/export/pending_polls",
                "export job polls answered Pending",
            ),
            Knob::each(
                "fail-job",
                "/export/fail_jobs",
                "the N-th export job created ends in Error; repeatable",
                whole_number,
            ),
        ]
    }

    fn new(config: Self::Config, control: Arc<SimControl>) -> Self {
        EveryActionState::new(config, control)
    }

    fn config(&self) -> &Self::Config {
        &self.config
    }

    fn timeline(&self) -> &crate::simulator::Timeline<Self::Data> {
        &self.data
    }

    fn router(state: Arc<Self>) -> axum::Router {
        routes::router(state)
    }

    /// A key configured with its `|0`/`|1` suffix (which the connector understands as the database
    /// mode) is accepted as the key without it, as the API sees it; both credentials are required.
    fn prepare(config: &mut Self::Config) -> Result<(), SimError> {
        if let Some((key, "0" | "1")) = config.api_key.rsplit_once('|') {
            config.api_key = key.trim().to_owned();
        }
        if config.application_name.is_empty() || config.api_key.is_empty() {
            return Err(SimError::Config(
                "an application name and an API key are required".into(),
            ));
        }
        Ok(())
    }

    /// The connector's `base_url` is the API's: `{server}/v4`.
    fn connector_base_url(server: &str) -> String {
        format!("{server}/v4")
    }
}
