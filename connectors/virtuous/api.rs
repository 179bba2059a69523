//! The Virtuous CRM+ API (`docs/apis.md` §1): request builders and raw JSON answers. No retries, no
//! paging and no emitting happen here: the shared [`HttpClient`] retries and paces, the sync's pager
//! pages.
//!
//! Every list is a `POST /api/{Entity}/Query[/Full…]?skip=&take=` with a JSON body of condition
//! groups; this module writes those bodies: `{"groups":[{"conditions":[…]}], "sortBy": "Gift Id",
//! "descending": false, "includeArchived": true}` (archived contacts are left out unless asked for).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::http::{Auth, HttpClient, HttpConfig, HttpError, RateLimit, Request, Tuning};
use crate::sdk::json::Record;
use crate::sdk::Secret;
use crate::sync::{Asked, Envelope, Page};

use super::models::{Entity, Shape};

/// Where Virtuous serves its API.
pub const DEFAULT_BASE_URL: &str = "https://api.virtuoussoftware.com";

/// What a 401 tells the user.
pub const KEY_REFUSED: &str =
    "the api key was refused: check it in Virtuous under Settings → Connectivity → API Keys";

/// The documented budget: 5,000 requests per hour per organisation, shared by every key.
pub const RATE_LIMIT: RateLimit = RateLimit {
    limit: 5000,
    period: Duration::from_secs(3600),
    burst: 5000,
};

/// The query path of `entity` for `shape` (projects and campaigns have one shape).
pub fn query_path(entity: Entity, shape: Shape) -> &'static str {
    match (entity, shape) {
        (Entity::Campaign, _) => "/api/Campaign/Query",
        (Entity::Project, _) => "/api/Project/Query",
        (Entity::Contact, Shape::Short) => "/api/Contact/Query",
        (Entity::Contact, Shape::Full) => "/api/Contact/Query/FullContact",
        (Entity::Gift, Shape::Short) => "/api/Gift/Query",
        (Entity::Gift, Shape::Full) => "/api/Gift/Query/FullGift",
    }
}

/// The query parameter (and sort field) of `entity`'s id.
pub fn id_parameter(entity: Entity) -> &'static str {
    match entity {
        Entity::Campaign => "Campaign Id",
        Entity::Project => "Project Id",
        Entity::Contact => "Contact Id",
        Entity::Gift => "Gift Id",
    }
}

/// Which records a query selects; every bound set is ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Ids above this (the pager's cursor).
    pub after_id: Option<u64>,
    /// Ids at most this.
    pub max_id: Option<u64>,
    /// `Last Modified Date` on or after this.
    pub modified_since: Option<DateTime<Utc>>,
}

/// What a query is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Id ascending: the pager's order.
    IdAscending,
    /// Id descending: the newest record first.
    IdDescending,
    /// `Last Modified Date` descending: the latest change first.
    ModifiedDescending,
}

/// The JSON body of a query of `entity` for `filter`, sorted by `sort`, archived records included.
pub fn query_body(entity: Entity, filter: &Filter, sort: Sort) -> Value {
    let id = id_parameter(entity);
    let mut conditions = Vec::new();
    if let Some(after) = filter.after_id {
        conditions.push(condition(id, "GreaterThan", after.to_string()));
    }
    if let Some(max) = filter.max_id {
        conditions.push(condition(id, "LessThanOrEqual", max.to_string()));
    }
    if let Some(since) = filter.modified_since {
        let value = since.to_rfc3339_opts(SecondsFormat::Secs, true);
        conditions.push(condition("Last Modified Date", "OnOrAfter", value));
    }
    let groups = if conditions.is_empty() {
        json!([])
    } else {
        json!([{ "conditions": conditions }])
    };
    let (sort_by, descending) = match sort {
        Sort::IdAscending => (id, false),
        Sort::IdDescending => (id, true),
        Sort::ModifiedDescending => ("Last Modified Date", true),
    };
    json!({
        "groups": groups,
        "sortBy": sort_by,
        "descending": descending,
        "includeArchived": true,
    })
}

fn condition(parameter: &str, operator: &str, value: String) -> Value {
    json!({"parameter": parameter, "operator": operator, "value": value})
}

/// Every list answer: `{"list": [...], "total": n}` (`total` a number, or a string as in the spec).
fn envelope() -> Envelope {
    Envelope::new("list").total("total")
}

/// The Virtuous API over a shared [`HttpClient`] (cheap to clone).
#[derive(Debug, Clone)]
pub struct VirtuousApi {
    http: HttpClient,
}

impl VirtuousApi {
    /// The API at `base_url` with bearer `api_key`, the documented rate limit, `parallelism` requests
    /// in flight and `tuning`.
    pub fn new(
        base_url: &str,
        api_key: &Secret,
        parallelism: usize,
        tuning: &Tuning,
    ) -> Result<Self, HttpError> {
        let config = HttpConfig {
            rate_limit: Some(RATE_LIMIT),
            max_in_flight: parallelism,
            credentials_hint: KEY_REFUSED.to_owned(),
            ..HttpConfig::new(base_url)
        };
        let http = HttpClient::builder(config)
            .tuning(tuning)
            .auth(Auth::Bearer(api_key.clone()))
            .build()?;
        Ok(Self { http })
    }

    /// The underlying client (its clock times the pager).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// `GET /api/Contact/QueryOptions`: a cheap authenticated call for the setup test.
    pub async fn query_options(&self) -> Result<Value, HttpError> {
        self.http
            .json(&Request::get("/api/Contact/QueryOptions"))
            .await
    }

    /// One page of `entity` in `shape`: records matching `filter` by id ascending, after `skip`, at most
    /// `take`. A page of more than one record is shrinkable: a timeout or 504 reports it as too large
    /// instead of retrying it; a page without its list, or shorter than its total says, is retried.
    pub async fn page(
        &self,
        entity: Entity,
        shape: Shape,
        filter: &Filter,
        skip: u64,
        take: u32,
    ) -> Result<Page<Record>, HttpError> {
        let request = Request::post(query_path(entity, shape))
            .query("skip", skip)
            .query("take", take)
            .json(query_body(entity, filter, Sort::IdAscending))
            .shrinkable_if(take > 1);
        let asked = Asked {
            skip,
            take: u64::from(take),
        };
        envelope()
            .fetch_records(&self.http, &request, Some(asked))
            .await
    }

    /// The first record by `sort` among those matching `filter`, and how many match (short shape).
    pub async fn first(
        &self,
        entity: Entity,
        filter: &Filter,
        sort: Sort,
    ) -> Result<(Option<Value>, u64), HttpError> {
        let request = Request::post(query_path(entity, Shape::Short))
            .query("skip", 0)
            .query("take", 1)
            .json(query_body(entity, filter, sort));
        let asked = Asked { skip: 0, take: 1 };
        let page = envelope().fetch(&self.http, &request, Some(asked)).await?;
        let total = page.total.unwrap_or(page.records.len() as u64);
        Ok((page.records.into_iter().next(), total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_carry_the_id_cursor_modified_bound_and_archived_flag() {
        let since = "2024-05-06T07:08:09.5Z".parse().unwrap();
        let filter = Filter {
            after_id: Some(500_123),
            max_id: None,
            modified_since: Some(since),
        };
        assert_eq!(
            query_body(Entity::Gift, &filter, Sort::IdAscending),
            json!({
                "groups": [{"conditions": [
                    {"parameter": "Gift Id", "operator": "GreaterThan", "value": "500123"},
                    {"parameter": "Last Modified Date", "operator": "OnOrAfter", "value": "2024-05-06T07:08:09Z"},
                ]}],
                "sortBy": "Gift Id",
                "descending": false,
                "includeArchived": true,
            })
        );
        let everything = query_body(
            Entity::Contact,
            &Filter::default(),
            Sort::ModifiedDescending,
        );
        assert_eq!(everything["groups"], json!([]));
        assert_eq!(everything["sortBy"], "Last Modified Date");
        assert_eq!(everything["descending"], true);
        let census = query_body(
            Entity::Gift,
            &Filter {
                max_id: Some(9),
                ..Filter::default()
            },
            Sort::IdDescending,
        );
        assert_eq!(
            census["groups"][0]["conditions"][0],
            json!({"parameter": "Gift Id", "operator": "LessThanOrEqual", "value": "9"})
        );
    }

    #[test]
    fn paths_and_ids_per_entity() {
        assert_eq!(
            query_path(Entity::Gift, Shape::Full),
            "/api/Gift/Query/FullGift"
        );
        assert_eq!(
            query_path(Entity::Project, Shape::Full),
            "/api/Project/Query"
        );
        assert_eq!(
            Entity::Campaign.record_id(&json!({"campaignId": "12", "id": 3})),
            Some(12)
        );
        assert_eq!(Entity::Contact.record_id(&json!({"id": 7})), Some(7));
        assert_eq!(Entity::Contact.record_id(&json!({"id": null})), None);
    }
}
