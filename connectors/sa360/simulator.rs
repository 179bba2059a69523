//! A faithful simulator of the Google Search Ads 360 Reporting API v0 (`docs/apis.md` §4), for
//! tests, benchmarks and the out-of-the-box `debug` run.
//!
//! What it reproduces:
//! - the OAuth refresh-token grant at `POST /oauth2/v3/token` (and `/token`): form-encoded
//!   `grant_type=refresh_token`, `client_id`, `client_secret`, `refresh_token` →
//!   `{"access_token","expires_in","scope","token_type":"Bearer"}`; Google's errors
//!   (`400 invalid_grant` for a wrong refresh token, `401 invalid_client` for a wrong client id or
//!   secret, `400 unsupported_grant_type`, `400 invalid_request`); tokens expire after
//!   `token_lifetime_seconds` on the simulated clock, after which API calls get
//!   `401 UNAUTHENTICATED` with an `AuthenticationError` `OAUTH_TOKEN_EXPIRED`;
//! - `GET /v0/customers:listAccessibleCustomers`, and a manager → client hierarchy: a client is
//!   reached through a manager above it named in `login-customer-id` (digits only); without it, or
//!   with a manager not above the client, the call is refused with the documented
//!   `AuthorizationError`s; canceled accounts answer `CUSTOMER_NOT_ENABLED`;
//! - `POST /v0/customers/{id}/searchAds360:search` (`query`, `pageToken`, `pageSize` 1..10000 with
//!   unset meaning 10,000 and larger clamped, `returnTotalResultsCount`, `summaryRowSetting`,
//!   `validateOnly`) with opaque page tokens tied to their query and customer, and
//!   `POST .../searchAds360:searchStream` (`batchSize`) answering one JSON array of batches,
//!   streamed, errors included as an element holding `error`;
//! - the query language subset of the `gaql` module (SELECT, FROM, WHERE with `=`, `!=`, `<`…,
//!   `IN`, `NOT IN`, `LIKE`, `BETWEEN`, `DURING`, `IS NULL`, joined by AND; ORDER BY; LIMIT), its
//!   `QueryError` codes, and the catalogue of resources and fields in [`Resource`]: `customer`,
//!   `customer_client`, `campaign`, `ad_group`, `ad_group_ad`, `ad_group_criterion`,
//!   `keyword_view`, `conversion_action`, `bidding_strategy`, `label`, with `metrics.*` and
//!   `segments.date` on the report resources; `GET /v0/customers/{id}/customColumns` and
//!   `custom_columns.id[N]` in queries;
//! - proto3 JSON: lowerCamelCase names, int64 as strings, money in micros, `fieldMask`,
//!   `resourceName` on every resource of a row (`customers/1/adGroupAds/123~45678`), fields
//!   without explicit presence left out when at their default;
//! - daily metrics fixed per (entity, date) from the seed, restated on every `advance` for the last
//!   `restatement_days` days and never before; entities added, paused and removed on `advance`;
//!   years of daily rows for thousands of keywords derived row by row, never stored;
//! - query quotas (`429 RESOURCE_EXHAUSTED` with a `QuotaError` and its retry delay), the
//!   oversized-response `429` with no `SearchAds360Failure` (the gRPC 4 MiB limit, on a search
//!   page; a stream shrinks its batches instead, the documented way around it), a
//!   `SizeLimitError` for result sets over a row limit, `5xx` with `InternalError`s from the shared
//!   fault plan, and a `request-id` header on every response.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fivetran_source::simulator::SimError> {
//! use fivetran_source::connectors::sa360::simulator::{Resource, Sa360Config, Sa360Simulator};
//! let sim = Sa360Simulator::start(Sa360Config::small()).await?;
//! // A connector gets sim.token_url(), sim.base_url() and sim.config().credentials ...
//! sim.advance(1);
//! let data = sim.data();
//! let keywords = data.dimension(4_100_000_001, Resource::AdGroupCriterion);
//! let yesterday = data.today().pred_opt().unwrap();
//! let rows: Vec<_> = data.report(4_100_000_001, Resource::KeywordView, yesterday, yesterday).collect();
//! # let _ = (keywords, rows); Ok(()) }
//! ```

mod config;
mod dataset;
mod errors;
mod fields;
mod gaql;
mod metrics;
mod paging;
mod plan;
mod records;
mod routes;
#[cfg(test)]
mod tests;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::Value;

use crate::simulator::launch::Credential;
use crate::simulator::options::Knob;
use crate::simulator::running::{ApiSimulator, Running};
use crate::simulator::{SimControl, SimError};

pub use config::{
    AccountSpec, ChangeRates, Credentials, CustomerStatus, EntityCounts, Limits, Sa360Config,
    StreamFailure,
};
pub use dataset::{Change, ChangeKind, Kind, Sa360Data, Status};
pub use fields::Resource;
pub use metrics::Metrics;
pub use routes::AdvanceSummary;

use dataset::{date_of, day_of, Entity};
use metrics::Level;
pub use routes::Sa360State;

/// One account of the hierarchy, as the simulator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTruth {
    /// The customer id.
    pub customer_id: u64,
    /// `customer.descriptive_name`.
    pub descriptive_name: String,
    /// Whether it is a manager.
    pub manager: bool,
    /// The manager directly above it.
    pub parent: Option<u64>,
    /// Distance from the top of its tree (0 for the top).
    pub depth: u32,
    /// `customer.time_zone`.
    pub time_zone: String,
    /// `customer.currency_code`.
    pub currency_code: String,
    /// `customer.status`.
    pub status: CustomerStatus,
}

/// One row of a dimension table: the resource object exactly as a query selecting every field of
/// the resource serves it (camelCase, int64 as strings, `resourceName` included).
#[derive(Debug, Clone, PartialEq)]
pub struct EntityTruth {
    /// `resourceName`, the primary key.
    pub resource_name: String,
    /// The resource's JSON object.
    pub json: Value,
}

/// One report row: the primary key `(resource_name, date)` and its metrics now.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRowTruth {
    /// The report resource's `resourceName` (`customers/1/keywordViews/2~3`).
    pub resource_name: String,
    /// `segments.date`.
    pub date: NaiveDate,
    /// The metrics as of the current generation.
    pub metrics: Metrics,
}

impl Sa360Data {
    /// Every account, in configuration order.
    pub fn accounts(&self) -> Vec<AccountTruth> {
        self.accounts
            .iter()
            .map(|node| AccountTruth {
                customer_id: node.spec.id,
                descriptive_name: node.spec.descriptive_name.clone(),
                manager: node.spec.manager,
                parent: node.spec.parent,
                depth: node.depth,
                time_zone: node.spec.time_zone.clone(),
                currency_code: node.spec.currency_code.clone(),
                status: node.spec.status,
            })
            .collect()
    }

    /// Every row of a dimension table of `customer_id` (all statuses, removed included), in id
    /// order. For `customer_client`, the account and every account below it. Empty for an unknown
    /// customer.
    pub fn dimension(&self, customer_id: u64, resource: Resource) -> Vec<EntityTruth> {
        let Some(account) = self.account_index(customer_id) else {
            return Vec::new();
        };
        let names: Vec<&str> = fields::fields_of(resource)
            .map(|field| field.name)
            .collect();
        let query = format!("SELECT {} FROM {}", names.join(", "), resource.name());
        let Ok(plan) = plan::plan(&query, self, account) else {
            return Vec::new();
        };
        let key = resource.json_key();
        let mut out = Vec::new();
        plan.scan(self, 0, |_, row| {
            let rendered = plan.render(&row);
            let json = rendered.get(&key).cloned().unwrap_or(Value::Null);
            let resource_name = json["resourceName"].as_str().unwrap_or_default().to_owned();
            out.push(EntityTruth {
                resource_name,
                json,
            });
            true
        });
        out
    }

    /// The custom columns of `customer_id` exactly as `GET customers/{id}/customColumns` serves
    /// them, in id order. Empty for a manager or an unknown customer.
    pub fn custom_columns(&self, customer_id: u64) -> Vec<EntityTruth> {
        let Some(client) = self
            .account_index(customer_id)
            .and_then(|account| self.client_of(account))
        else {
            return Vec::new();
        };
        client
            .table(Kind::CustomColumn)
            .iter()
            .enumerate()
            .map(|(index, column)| {
                let json = routes::custom_column_json(customer_id, index, column.id);
                EntityTruth {
                    resource_name: json["resourceName"].as_str().unwrap_or_default().to_owned(),
                    json,
                }
            })
            .collect()
    }

    /// The report rows of `resource` for `customer_id` between `from` and `to` (inclusive), entity
    /// by entity in id order, then by date: one row per entity per day it existed on, whatever its
    /// status (paused days have zero metrics). Lazy: rows are derived one at a time. Computed
    /// without the query engine, so tests can hold the API's answers against it. Empty for a
    /// resource without metrics, a manager, or an unknown customer.
    pub fn report(
        &self,
        customer_id: u64,
        resource: Resource,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Iterator<Item = ReportRowTruth> + '_ {
        let first = day_of(from).max(self.data_start);
        let last = day_of(to).min(self.today_day());
        let account = self
            .account_index(customer_id)
            .filter(|account| !self.accounts[*account].spec.manager && resource.has_metrics());
        let subjects = match account {
            None => Vec::new(),
            Some(account) => self.report_subjects(account, resource, first, last),
        };
        subjects.into_iter().flat_map(move |subject| {
            (subject.start..=subject.end).map(move |day| ReportRowTruth {
                resource_name: subject.resource_name.clone(),
                date: date_of(day),
                metrics: metrics::daily(
                    self.seed,
                    subject.level,
                    subject.id,
                    day,
                    self.today_day() - day,
                    self.restatement_days,
                    metrics::serving(&subject.chain, day),
                ),
            })
        })
    }

    /// The report row of `resource_name` on `date`, if there is one.
    pub fn report_row(
        &self,
        customer_id: u64,
        resource: Resource,
        resource_name: &str,
        date: NaiveDate,
    ) -> Option<ReportRowTruth> {
        self.report(customer_id, resource, date, date)
            .find(|row| row.resource_name == resource_name)
    }

    fn report_subjects(
        &self,
        account: usize,
        resource: Resource,
        first: i32,
        last: i32,
    ) -> Vec<ReportSubject<'_>> {
        let cid = self.accounts[account].spec.id;
        if resource == Resource::Customer {
            let start = first.max(self.accounts[account].created);
            return if start <= last {
                vec![ReportSubject {
                    resource_name: format!("customers/{cid}"),
                    id: cid,
                    level: Level::Customer,
                    chain: Vec::new(),
                    start,
                    end: last,
                }]
            } else {
                Vec::new()
            };
        }
        let Some(client) = self.client_of(account) else {
            return Vec::new();
        };
        let groups = client.table(Kind::AdGroup);
        let campaigns = client.table(Kind::Campaign);
        let (kind, level) = match resource {
            Resource::Campaign => (Kind::Campaign, Level::Campaign),
            Resource::AdGroup => (Kind::AdGroup, Level::AdGroup),
            Resource::AdGroupAd => (Kind::Ad, Level::Ad),
            _ => (Kind::Keyword, Level::Keyword),
        };
        client
            .table(kind)
            .iter()
            .filter_map(|entity| {
                let (start, end) = entity.row_days(first, last)?;
                let (name, chain) = match kind {
                    Kind::Campaign => (
                        format!("customers/{cid}/campaigns/{}", entity.id),
                        vec![entity],
                    ),
                    Kind::AdGroup => {
                        let campaign = &campaigns[entity.parent as usize];
                        (
                            format!("customers/{cid}/adGroups/{}", entity.id),
                            vec![entity, campaign],
                        )
                    }
                    _ => {
                        let group = &groups[entity.parent as usize];
                        let campaign = &campaigns[group.parent as usize];
                        let path = if kind == Kind::Ad {
                            "adGroupAds"
                        } else {
                            "keywordViews"
                        };
                        (
                            format!("customers/{cid}/{path}/{}~{}", group.id, entity.id),
                            vec![entity, group, campaign],
                        )
                    }
                };
                Some(ReportSubject {
                    resource_name: name,
                    id: entity.id,
                    level,
                    chain,
                    start,
                    end,
                })
            })
            .collect()
    }
}

/// One entity of a report with what its rows need: its key, level, serving chain and days.
struct ReportSubject<'a> {
    resource_name: String,
    id: u64,
    level: Level,
    chain: Vec<&'a Entity>,
    start: i32,
    end: i32,
}

/// A running simulator (see [`Running`]). Dropping it shuts the server down.
pub type Sa360Simulator = Running<Sa360State>;

impl Running<Sa360State> {
    /// The absolute URL of the token endpoint (`{base_url}/oauth2/v3/token`).
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/v3/token", self.base_url())
    }

    /// Successful token refreshes so far.
    pub fn token_refreshes(&self) -> u64 {
        self.state().tokens.refreshes()
    }

    /// Queries admitted so far (a `search` without page token, or a `searchStream`): what the
    /// quota counts.
    pub fn queries(&self) -> u64 {
        self.state().queries.load(Ordering::SeqCst)
    }

    /// `search` responses served (every page).
    pub fn pages_served(&self) -> u64 {
        self.state().pages.load(Ordering::SeqCst)
    }

    /// `searchStream` calls that passed validation.
    pub fn streams(&self) -> u64 {
        self.state().streams.load(Ordering::SeqCst)
    }

    /// Makes every access token issued so far expire now (the next API call gets
    /// `OAUTH_TOKEN_EXPIRED`).
    pub fn expire_access_tokens(&self) {
        self.state().tokens.expire_all(self.control().clock().now());
    }

    /// Replaces the query quotas (`None`: unlimited) and starts fresh windows.
    pub fn set_query_quota(&self, per_minute: Option<u32>, per_day: Option<u32>) {
        self.state().set_query_quota(per_minute, per_day);
    }

    /// Makes the next `searchStream` send `after_batches` batches, then an element holding
    /// `error` (`INTERNAL`), and end; with 0 the call fails outright with HTTP 500.
    pub fn fail_next_stream(&self, after_batches: u32) {
        self.state().fail_next_stream(after_batches);
    }
}

impl ApiSimulator for Sa360State {
    type Data = Sa360Data;
    type Config = Sa360Config;

    fn credentials(config: &mut Sa360Config) -> Vec<Credential<'_>> {
        let credentials = &mut config.credentials;
        vec![
            Credential::trimmed("client_id", &mut credentials.client_id),
            Credential::exact("client_secret", &mut credentials.client_secret),
            Credential::exact("refresh_token", &mut credentials.refresh_token),
        ]
    }

    fn describe(config: &Sa360Config) -> String {
        let clients = config.client_accounts().count();
        let e = &config.entities;
        let keywords = e.campaigns_per_client * e.ad_groups_per_campaign * e.keywords_per_ad_group;
        format!(
            "sa360: {} accounts ({clients} clients), {} campaigns and {keywords} keywords per client, daily metrics {} to {}",
            config.accounts.len(),
            e.campaigns_per_client,
            config.data_start,
            config.today
        )
    }

    fn knobs() -> Vec<Knob> {
        vec![
            Knob::text("today", "/today", "the simulated 'today' (YYYY-MM-DD)"),
            Knob::text(
                "data-start",
                "/data_start",
                "the first day with metrics (YYYY-MM-DD)",
            ),
            Knob::count(
                "campaigns",
                "/entities/campaigns_per_client",
                "campaigns per client account",
            ),
            Knob::count(
                "ad-groups",
                "/entities/ad_groups_per_campaign",
                "ad groups per campaign",
            ),
            Knob::count(
                "restatement-days",
                "/restatement_days",
                "days whose metrics still change",
            ),
        ]
    }

    fn new(config: Self::Config, control: Arc<SimControl>) -> Self {
        Sa360State::new(config, control)
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

    fn prepare(config: &mut Self::Config) -> Result<(), SimError> {
        config.validate()
    }

    /// Google's token endpoint lives on another host than the API: the simulator serves both.
    fn endpoints(server: &str) -> Vec<(&'static str, String)> {
        vec![("token_url", format!("{server}/oauth2/v3/token"))]
    }
}
