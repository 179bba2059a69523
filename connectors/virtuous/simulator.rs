//! A faithful simulator of the Virtuous CRM+ API (`docs/apis.md` §1), for tests, benchmarks and
//! the out-of-the-box `debug` run.
//!
//! What it reproduces:
//! - `POST /api/Contact/Query`, `/api/Contact/Query/FullContact`, `/api/Gift/Query`,
//!   `/api/Gift/Query/FullGift`, `/api/Project/Query`, `/api/Campaign/Query` (PK `campaignId`),
//!   paged by `?skip=&take=` (default take 10; take > 1000 → 400), answering
//!   `{"list": [...], "total": n}` (`total` a number like the live API, or a string like the
//!   spec: [`VirtuousConfig::total_as_string`]);
//! - the query language in [`query`](self) — condition groups, both operator spellings, both
//!   date formats, `sortBy`/`descending`, `includeArchived` (archived contacts hidden unless
//!   true), and optionally the live quirk of silently ignoring unknown parameters;
//! - `GET /api/{Contact,Gift,Project,Campaign}/QueryOptions` (a cheap setup-test call; its body
//!   shape is ours, the sources had none) and `GET /api/{Contact,Gift}/{id}`;
//! - bearer auth (401 with the plain-text body `Authorization has been denied for this
//!   request.`), `X-RateLimit-Limit/Remaining/Reset` on every response, 429 + `Retry-After`;
//! - latency growing with take on Full endpoints and skip everywhere, with a deadline that
//!   answers 504/500 or hangs ([`Latency`]); poison records failing every page they are on;
//! - mixed timestamp spellings (`Z` or not, fractions or not);
//! - generations of edits, archives, gift deletions and new records via [`VirtuousSimulator::advance`].
//!
//! Data is a pure function of the config and the generation number ([`VirtuousData`]); a
//! million contacts cost only the sparse overlay of records `advance` touched.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fivetran_source::simulator::SimError> {
//! use fivetran_source::connectors::virtuous::simulator::{Entity, VirtuousConfig, VirtuousSimulator};
//! let sim = VirtuousSimulator::start(VirtuousConfig::small()).await?;
//! let url = format!("{}/api/Gift/Query/FullGift?skip=0&take=100", sim.base_url());
//! // ... run a sync against `url` with `sim.api_key()` ...
//! sim.advance(1);
//! let live_gifts: Vec<u64> = sim.truth(Entity::Gift).map(|record| record.id).collect();
//! # Ok(()) }
//! ```

mod config;
mod dataset;
mod entity;
mod query;
mod records;
mod routes;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::simulator::launch::Credential;
use crate::simulator::options::Knob;
use crate::simulator::running::{ApiSimulator, Running};
use crate::simulator::SimControl;

pub use config::{DeadlineAction, Latency, PoisonRecord, VirtuousConfig, Volume};
pub use dataset::{Change, ChangeKind, Entity, VirtuousData};
pub use routes::AdvanceSummary;

use records::Shape;
pub use routes::VirtuousState;

/// One live record as the simulator currently holds it: the oracle for warehouse comparisons.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthRecord {
    /// The entity.
    pub entity: Entity,
    /// The primary key (`id`, or `campaignId` for campaigns).
    pub id: u64,
    /// `modifiedDateTimeUtc` as an instant.
    pub modified: DateTime<Utc>,
    /// Whether the record is archived (contacts only).
    pub archived: bool,
    /// The record exactly as the Full endpoint serves it.
    pub json: Value,
}

impl VirtuousData {
    /// Every live record of `entity` (archived contacts included, deleted gifts not), ascending
    /// by id, rendered as the Full endpoint would. Lazy: records are derived one at a time.
    pub fn truth(&self, entity: Entity) -> impl Iterator<Item = TruthRecord> + '_ {
        self.live_views(entity).map(move |view| TruthRecord {
            entity,
            id: view.id,
            modified: dataset::utc_ms(view.modified_ms),
            archived: view.archived,
            json: records::render(self, &view, Shape::Full).to_value(),
        })
    }

    /// The live record with `id`, if any.
    pub fn record(&self, entity: Entity, id: u64) -> Option<TruthRecord> {
        let view = self.view(entity, self.index_of(entity, id)?);
        (!view.deleted).then(|| TruthRecord {
            entity,
            id,
            modified: dataset::utc_ms(view.modified_ms),
            archived: view.archived,
            json: records::render(self, &view, Shape::Full).to_value(),
        })
    }

    /// The id of the `index`-th record ever created (for picking poison ids in configs).
    pub fn id_at(&self, entity: Entity, index: u64) -> u64 {
        self.id(entity, index)
    }
}

/// A running Virtuous simulator (see [`Running`]). Dropping it shuts the server down.
pub type VirtuousSimulator = Running<VirtuousState>;

impl Running<VirtuousState> {
    /// The bearer token the simulator accepts.
    pub fn api_key(&self) -> &str {
        &self.state().config.api_key
    }

    /// Live records of `entity` by id, with current content (see [`VirtuousData::truth`]).
    pub fn truth(&self, entity: Entity) -> impl Iterator<Item = TruthRecord> {
        let data = self.state().snapshot();
        let count = data.count(entity);
        (0..count).filter_map(move |index| data.record(entity, data.id_at(entity, index)))
    }

    /// Ids of gifts deleted so far (contacts are archived, never deleted).
    pub fn deleted_ids(&self, entity: Entity) -> Vec<u64> {
        self.state().snapshot().deleted_ids(entity)
    }
}

impl ApiSimulator for VirtuousState {
    type Data = VirtuousData;
    type Config = VirtuousConfig;

    fn credentials(config: &mut VirtuousConfig) -> Vec<Credential<'_>> {
        vec![Credential::exact("api_key", &mut config.api_key)]
    }

    fn describe(config: &VirtuousConfig) -> String {
        format!(
            "virtuous: {} contacts, {} gifts",
            config.contacts.initial, config.gifts.initial
        )
    }

    fn knobs() -> Vec<Knob> {
        vec![
            Knob::count("contacts", "/contacts/initial", "contacts at the start"),
            Knob::count("gifts", "/gifts/initial", "gifts at the start"),
            Knob::count("projects", "/projects/initial", "projects at the start"),
            Knob::count("campaigns", "/campaigns/initial", "campaigns at the start"),
            Knob::text(
                "now",
                "/data_end",
                "the simulated 'now' of the initial data (RFC 3339)",
            ),
            Knob::flag(
                "total-as-string",
                "/total_as_string",
                "send page totals as strings",
            ),
            Knob::each(
                "poison",
                "/poison",
                "ENTITY:ID (e.g. gift:25) whose pages always fail with 500; repeatable",
                poison_record,
            ),
        ]
    }

    fn new(config: Self::Config, control: Arc<SimControl>) -> Self {
        VirtuousState::new(config, control)
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

/// Reads `ENTITY:ID` (`gift:25`, `Contact:7`) as a [`PoisonRecord`] in its settings form.
fn poison_record(text: &str) -> Result<Value, String> {
    let bad =
        || format!("'{text}' is not ENTITY:ID (contact, gift, project or campaign, and a number)");
    let (entity, id) = text.split_once(':').ok_or_else(bad)?;
    let entity = Entity::ALL
        .into_iter()
        .find(|e| format!("{e:?}").eq_ignore_ascii_case(entity.trim()))
        .ok_or_else(bad)?;
    let id: u64 = id.trim().parse().map_err(|_| bad())?;
    serde_json::to_value(PoisonRecord { entity, id }).map_err(|e| e.to_string())
}
