//! A faithful simulator of the OnGage API (`docs/apis.md` §2), for tests, benchmarks and the
//! out-of-the-box `debug` run.
//!
//! What it reproduces:
//! - auth by the underscore headers `X_USERNAME`, `X_PASSWORD`, `X_ACCOUNT_CODE` (names
//!   case-insensitive; hyphenated spellings are *not* accepted) → 401 envelope otherwise;
//! - the `{"metadata":{"error":false,"total":"N"},"payload":...}` envelope, `total` a string on
//!   listings and a number elsewhere by default ([`TotalEncoding`]);
//! - `GET /api/lists` (`name,type,sort,order,offset,limit`), `GET /api/lists/{id}`,
//!   `GET /{list_id}/api/list_fields`, `GET /{list_id}/api/contacts/by_id/{id}`;
//! - the list a call uses: body `list_id` > `?list_id=` > path segment > default (first) list;
//! - the async search: `POST /{list_id}/api/contact_search`, polled through
//!   `GET .../contact_search/{id}` (status 1 for N polls, then 2; or 3 when scripted; never
//!   leaving 1 when the search matches more than a threshold; N grows with the matches),
//!   downloaded as CSV from `.../export` (dates as Unix seconds and `YYYY-MM-DD HH:MM:SS`) or
//!   as JSON pages from the older `.../result`; `GET /api/contact_search` lists searches. The
//!   criteria language is documented in the `search` module;
//! - 300 calls/minute and 10 in flight → 429 with the documented body;
//! - lists of a million contacts and more, derived lazily, with a quiet stretch of months;
//!   status changes and new contacts between syncs via [`OngageSimulator::advance`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), fivetran_source::simulator::SimError> {
//! use fivetran_source::connectors::ongage::simulator::{OngageConfig, OngageSimulator};
//! let sim = OngageSimulator::start(OngageConfig::small()).await?;
//! let list = sim.config().lists[0].id;
//! // ... sync against sim.base_url() with sim.config().username/password/account_code ...
//! sim.advance(1);
//! let unsubscribed = sim.truth(list).filter(|c| c.json["ocx_unsubscribe_date"].is_i64()).count();
//! # Ok(()) }
//! ```

mod config;
mod dataset;
mod records;
mod routes;
mod search;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::Value;

use crate::simulator::launch::Credential;
use crate::simulator::options::whole_number;
use crate::simulator::options::Knob;
use crate::simulator::running::{ApiSimulator, Running};
use crate::simulator::{SimControl, SimError};

pub use config::{
    ExportDates, ListSpec, OngageConfig, QuietStretch, SearchBehaviour, TotalEncoding,
};
pub use dataset::{ContactChange, ContactChangeKind, OngageData, Status};
pub use routes::{AdvanceSummary, SearchStatus};

pub use routes::OngageState;

/// One contact as the simulator currently holds it: the oracle for warehouse comparisons.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactTruth {
    /// The list (half of the primary key).
    pub list_id: u64,
    /// The hex id (the other half).
    pub id: String,
    /// Current status.
    pub status: Status,
    /// `ocx_created_date`, Unix seconds.
    pub created: i64,
    /// The contact as the `result` endpoint serves it (dates as Unix seconds or null).
    pub json: Value,
}

impl OngageData {
    /// Every contact of `list_id` (all statuses), in creation order. Lazy: contacts are derived
    /// one at a time. Empty for an unknown list.
    pub fn truth(&self, list_id: u64) -> impl Iterator<Item = ContactTruth> + '_ {
        (0..self.count(list_id)).filter_map(move |index| self.contact_truth(list_id, index))
    }

    /// The `index`-th contact ever created in `list_id`, if it exists.
    pub fn contact_truth(&self, list_id: u64, index: u64) -> Option<ContactTruth> {
        let table = self.table(list_id)?;
        if index >= table.count() {
            return None;
        }
        let view = self.view(table, index);
        let json = records::contact_json(self, table, &view);
        Some(ContactTruth {
            list_id,
            id: json["id"].as_str().unwrap_or_default().to_owned(),
            status: view.state.status,
            created: view.created,
            json,
        })
    }
}

/// A summary of one search, for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchSummary {
    /// The search id.
    pub id: u64,
    /// The list searched.
    pub list_id: u64,
    /// Matching contacts (capped just above the never-complete threshold).
    pub matches: u64,
    /// The status a listing shows now.
    pub status: SearchStatus,
}

/// A running simulator (see [`Running`]). Dropping it shuts the server down.
pub type OngageSimulator = Running<OngageState>;

impl Running<OngageState> {
    /// Contacts of `list_id` now, in creation order (see [`OngageData::truth`]).
    pub fn truth(&self, list_id: u64) -> impl Iterator<Item = ContactTruth> {
        let data = self.state().snapshot();
        (0..data.count(list_id)).filter_map(move |index| data.contact_truth(list_id, index))
    }

    /// Every search created so far, oldest first.
    pub fn searches(&self) -> Vec<SearchSummary> {
        self.state()
            .searches()
            .iter()
            .map(|search| SearchSummary {
                id: search.id,
                list_id: search.list_id,
                matches: search.matches,
                status: search.status(),
            })
            .collect()
    }
}

impl ApiSimulator for OngageState {
    type Data = OngageData;
    type Config = OngageConfig;

    fn credentials(config: &mut OngageConfig) -> Vec<Credential<'_>> {
        vec![
            Credential::trimmed("username", &mut config.username),
            Credential::exact("password", &mut config.password),
            Credential::trimmed("account_code", &mut config.account_code),
        ]
    }

    fn describe(config: &OngageConfig) -> String {
        let lists: Vec<String> = config
            .lists
            .iter()
            .map(|l| format!("{} ({} contacts)", l.name, l.contacts))
            .collect();
        format!("ongage: lists {}", lists.join(", "))
    }

    fn prepare(config: &mut Self::Config) -> Result<(), SimError> {
        if config.lists.is_empty() {
            return Err(SimError::Config(
                "an OnGage account needs at least one list".into(),
            ));
        }
        Ok(())
    }

    fn knobs() -> Vec<Knob> {
        vec![
            Knob::text(
                "now",
                "/data_end",
                "the simulated 'now' of the initial data (RFC 3339)",
            ),
            Knob::count(
                "new-contacts",
                "/new_contacts_per_generation",
                "contacts added per list and generation",
            ),
            Knob::count(
                "status-changes",
                "/status_changes_per_generation",
                "status changes per list and generation",
            ),
            Knob::each(
                "fail-search",
                "/search/fail_searches",
                "the N-th search created ends failed; repeatable",
                whole_number,
            ),
        ]
    }

    fn new(config: Self::Config, control: Arc<SimControl>) -> Self {
        OngageState::new(config, control)
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
}
