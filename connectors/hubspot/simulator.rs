//! A simulator of HubSpot's CRM v3 objects API (developers.hubspot.com; `docs/apis.md` §5b), for
//! tests and the out-of-the-box `debug` run. Written from HubSpot's documentation, never from the
//! definition.
//!
//! What it reproduces:
//! - `Authorization: Bearer <private app token>` (or the retired `?hapikey=`); anything else is a 401 with HubSpot's error body
//!   (`{"status":"error","message":..,"correlationId":..,"category":"INVALID_AUTHENTICATION"}`);
//! - `GET /crm/v3/objects/{contacts,companies,deals,tickets}`: `{"results":[..],"paging":{"next":
//!   {"after":"..","link":".."}}}` (no `paging` on the last page), ascending by id, `limit` 1–100
//!   (default 10), an opaque `after`, `properties=a,b` (else only the default properties),
//!   `associations=companies,contacts`, `archived=true` for archived records only (with `archivedAt`);
//! - `POST /crm/v3/objects/{type}/search`: `filterGroups` (OR of groups, AND of filters; `EQ`,
//!   `NEQ`, `GT`, `GTE`, `LT`, `LTE` on any property, dates compared as epoch milliseconds),
//!   `sorts`, `properties`, `limit` (at most 200), `after` as an offset; `{"total":..,"results":[..],
//!   "paging":{"next":{"after":".."}}}`; no associations, no archived records; a 400 when `after +
//!   limit` passes the result cap (10,000; smaller in tests);
//! - every property value a string; contacts' last-modified property is `lastmodifieddate`, the
//!   others' `hs_lastmodifieddate`; `createdAt`/`updatedAt` on every record;
//! - `X-HubSpot-RateLimit-Max`, `-Remaining` and `-Interval-Milliseconds` on every answer; a 429
//!   carries HubSpot's body (`"errorType":"RATE_LIMIT"`, `policyName`) and no `Retry-After`;
//! - generations ([`HubspotSimulator::advance`]) create, update and archive records.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::simulator::launch::Credential;
use crate::simulator::options::Knob;
use crate::simulator::rng::SeededRng;
use crate::simulator::running::{ApiSimulator, Running};
use crate::simulator::{
    ClockMode, Generational, RateLimitConfig, ServerOptions, SimControl, SimulatorHooks, Timeline,
    Volume, WindowStatus,
};

/// The object types the simulator serves.
pub const TYPES: &[&str] = &["contacts", "companies", "deals", "tickets"];
/// The largest list page.
pub const LIST_MAX_LIMIT: usize = 100;
/// The largest search page.
pub const SEARCH_MAX_LIMIT: usize = 200;

/// The simulator's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubspotConfig {
    /// Seed of the data and of random faults.
    pub seed: u64,
    /// The private app token it accepts.
    pub token: String,
    /// Records per object type.
    pub volumes: BTreeMap<String, Volume>,
    /// The most results one search reaches (HubSpot: 10,000).
    pub search_cap: usize,
    /// The simulated "now" of the initial data.
    pub data_end: DateTime<Utc>,
    /// Simulated time per generation.
    pub generation_interval: Duration,
    /// The request budget (HubSpot: 100 or more per 10 s).
    pub rate_limit: RateLimitConfig,
    /// Port and clock.
    pub server: ServerOptions,
}

crate::simulator::sim_settings!(HubspotConfig);

impl Default for HubspotConfig {
    fn default() -> Self {
        let v = |n, a, m, r| Volume::changing(n, a, m, r);
        Self {
            seed: 20_240_826,
            token: "pat-na1-simulator".to_owned(),
            volumes: [
                ("contacts", v(600, 10, 10, 2)),
                ("companies", v(200, 5, 5, 1)),
                ("deals", v(300, 5, 8, 1)),
                ("tickets", v(150, 5, 5, 1)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            search_cap: 10_000,
            data_end: "2026-11-01T00:00:00Z".parse().expect("valid literal"),
            generation_interval: Duration::from_secs(3600),
            rate_limit: RateLimitConfig::per_window(100, 10),
            server: ServerOptions::default(),
        }
    }
}

impl HubspotConfig {
    /// A small data set for tests: a frozen clock, no rate limit, a search cap of 200 results (one
    /// page of the definition's), so a search for more changes than that (ten generations' worth)
    /// restarts past it.
    pub fn small() -> Self {
        let mut config = Self::default();
        for v in config.volumes.values_mut() {
            *v = Volume::changing(40, 10, 20, 2);
        }
        config.search_cap = 200;
        config.rate_limit = RateLimitConfig::unlimited();
        config.server.clock_mode = ClockMode::Frozen;
        config
    }
}

/// One record as the simulator holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// Its numeric id.
    pub id: u64,
    /// Last modified, epoch milliseconds.
    pub modified: i64,
    /// Archived: only in `archived=true` lists.
    pub archived: bool,
    /// All its properties (strings).
    pub properties: BTreeMap<String, String>,
    /// Associated records: (to type, id).
    pub associations: Vec<(String, u64)>,
}

/// The data at one generation.
#[derive(Debug, Clone)]
pub struct HubspotData {
    seed: u64,
    generation: u32,
    now: i64,
    interval: i64,
    next_id: u64,
    volumes: BTreeMap<String, Volume>,
    records: BTreeMap<String, Vec<StoredRecord>>,
}

/// A change: (type, id, what).
pub type Change = (String, u64, &'static str);

fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The last-modified property of an object type, as HubSpot names it.
pub fn modified_property(kind: &str) -> &'static str {
    if kind == "contacts" {
        "lastmodifieddate"
    } else {
        "hs_lastmodifieddate"
    }
}

fn default_properties(kind: &str) -> &'static [&'static str] {
    match kind {
        "contacts" => &[
            "createdate",
            "email",
            "firstname",
            "hs_object_id",
            "lastmodifieddate",
            "lastname",
        ],
        "companies" => &[
            "createdate",
            "domain",
            "hs_lastmodifieddate",
            "hs_object_id",
            "name",
        ],
        "deals" => &[
            "amount",
            "closedate",
            "createdate",
            "dealname",
            "dealstage",
            "hs_lastmodifieddate",
            "hs_object_id",
            "pipeline",
        ],
        _ => &[
            "content",
            "createdate",
            "hs_lastmodifieddate",
            "hs_object_id",
            "hs_pipeline",
            "hs_pipeline_stage",
            "subject",
        ],
    }
}

impl HubspotData {
    fn new(config: &HubspotConfig) -> Self {
        let mut data = Self {
            seed: config.seed,
            generation: 0,
            now: config.data_end.timestamp_millis(),
            interval: config.generation_interval.as_millis().max(2) as i64,
            next_id: 100,
            volumes: config.volumes.clone(),
            records: BTreeMap::new(),
        };
        let span = 300 * 86_400_000_i64;
        for kind in ["companies", "contacts", "deals", "tickets"] {
            let n = data.volume(kind).initial as i64;
            for i in 0..n {
                let created = data.now - span + span / n.max(1) * i;
                let mut rng = SeededRng::new(data.seed, &[i as u64, 0x4B5]);
                let modified = (created + rng.below(20 * 86_400_000) as i64).min(data.now - 1000);
                data.create(kind, created, modified);
            }
        }
        data
    }

    fn volume(&self, kind: &str) -> Volume {
        self.volumes.get(kind).copied().unwrap_or(Volume::fixed(0))
    }

    fn pick(&self, kind: &str, rng: &mut SeededRng) -> Option<u64> {
        let live: Vec<u64> = self.live(kind).map(|r| r.id).collect();
        (!live.is_empty()).then(|| live[rng.below(live.len() as u64) as usize])
    }

    fn create(&mut self, kind: &str, created: i64, modified: i64) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let mut rng = SeededRng::new(self.seed, &[id, 0x11]);
        let mut p: BTreeMap<String, String> = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            p.insert(k.to_owned(), v);
        };
        match kind {
            "contacts" => {
                set("email", format!("contact{id}@example.com"));
                set("firstname", "Pat".into());
                set("lastname", format!("Number {id}"));
                set("lifecyclestage", "lead".into());
            }
            "companies" => {
                set("name", format!("Company {id}"));
                set("domain", format!("company{id}.example.com"));
                set("industry", "COMPUTER_SOFTWARE".into());
            }
            "deals" => {
                set("dealname", format!("Deal {id}"));
                set("amount", format!("{}", rng.between(100, 90_000)));
                set("dealstage", "appointmentscheduled".into());
                set("pipeline", "default".into());
                set("closedate", iso(created + 30 * 86_400_000));
            }
            _ => {
                set("subject", format!("Ticket {id}"));
                set("content", "Printer on fire".into());
                set("hs_pipeline", "0".into());
                set("hs_pipeline_stage", "1".into());
            }
        }
        p.insert("createdate".into(), iso(created));
        p.insert("hs_object_id".into(), id.to_string());
        p.insert(modified_property(kind).into(), iso(modified));
        let associations = match kind {
            "contacts" => self
                .pick("companies", &mut rng)
                .map(|c| ("companies".to_owned(), c))
                .into_iter()
                .collect(),
            "deals" => self
                .pick("companies", &mut rng)
                .map(|c| ("companies".to_owned(), c))
                .into_iter()
                .collect(),
            "tickets" => self
                .pick("contacts", &mut rng)
                .map(|c| ("contacts".to_owned(), c))
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        self.records
            .entry(kind.to_owned())
            .or_default()
            .push(StoredRecord {
                id,
                modified,
                archived: false,
                properties: p,
                associations,
            });
        id
    }

    /// Live (not archived) records of `kind`, ascending by id.
    pub fn live(&self, kind: &str) -> impl Iterator<Item = &StoredRecord> {
        self.records
            .get(kind)
            .into_iter()
            .flatten()
            .filter(|r| !r.archived)
    }

    fn live_index(&self, kind: &str, rng: &mut SeededRng) -> Option<usize> {
        let live: Vec<usize> = self
            .records
            .get(kind)?
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.archived)
            .map(|(i, _)| i)
            .collect();
        (!live.is_empty()).then(|| live[rng.below(live.len() as u64) as usize])
    }
}

impl Generational for HubspotData {
    type Change = Change;

    fn advance_one(&mut self) -> Vec<Change> {
        self.generation += 1;
        let start = self.now;
        self.now += self.interval;
        let mut changes = Vec::new();
        let mut rng = SeededRng::new(self.seed, &[u64::from(self.generation), 0xADD]);
        // Several changes share one millisecond, as batch updates do.
        let mut tick = 0_i64;
        let mut at = move || {
            tick += 1;
            start + 1000 + tick / 3 * 1000
        };
        for kind in TYPES {
            let v = self.volume(kind);
            for _ in 0..v.added_per_generation {
                let t = at();
                let id = self.create(kind, t, t);
                changes.push(((*kind).to_owned(), id, "created"));
            }
            for _ in 0..v.modified_per_generation {
                let t = at();
                let Some(i) = self.live_index(kind, &mut rng) else {
                    continue;
                };
                let n = rng.between(1, 1000);
                let Some(r) = self.records.get_mut(*kind).and_then(|rs| rs.get_mut(i)) else {
                    continue;
                };
                let field = match *kind {
                    "contacts" => "lifecyclestage",
                    "companies" => "industry",
                    "deals" => "dealstage",
                    _ => "hs_pipeline_stage",
                };
                r.properties.insert(field.into(), format!("stage{n}"));
                r.properties.insert(modified_property(kind).into(), iso(t));
                r.modified = t;
                changes.push(((*kind).to_owned(), r.id, "updated"));
            }
            for _ in 0..v.removed_per_generation {
                let t = at();
                let Some(i) = self.live_index(kind, &mut rng) else {
                    continue;
                };
                let Some(r) = self.records.get_mut(*kind).and_then(|rs| rs.get_mut(i)) else {
                    continue;
                };
                r.archived = true;
                r.modified = t;
                changes.push(((*kind).to_owned(), r.id, "archived"));
            }
        }
        changes
    }

    fn generation_number(&self) -> u32 {
        self.generation
    }
}

/// The running simulator's state.
pub struct HubspotState {
    config: HubspotConfig,
    control: Arc<SimControl>,
    data: Timeline<HubspotData>,
}

/// A running HubSpot simulator.
pub type HubspotSimulator = Running<HubspotState>;

impl Running<HubspotState> {
    /// The private app token it accepts.
    pub fn token(&self) -> &str {
        &self.state().config.token
    }

    /// The live records of `kind`, current content.
    pub fn truth(&self, kind: &str) -> Vec<StoredRecord> {
        self.data().live(kind).cloned().collect()
    }
}

fn hubspot_error(status: StatusCode, message: &str, category: &str) -> Response {
    let body = json!({"status": "error", "message": message, "correlationId": "0b9a1c5e-5b4d-4a3f-9d8e-simulator", "category": category});
    (status, axum::Json(body)).into_response()
}

impl SimulatorHooks for HubspotState {
    fn too_many_requests(&self, _retry_after: Duration) -> Response {
        let body = json!({"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT", "correlationId": "c033cdaa-2c40-4a64-ae48-b4cec88dad24",
            "policyName": "TEN_SECONDLY_ROLLING", "requestId": "simulator"});
        (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
    }

    fn error_response(&self, status: StatusCode) -> Response {
        hubspot_error(status, "internal error", "INTERNAL_ERROR")
    }

    fn not_found(&self) -> Response {
        hubspot_error(
            StatusCode::NOT_FOUND,
            "resource not found",
            "OBJECT_NOT_FOUND",
        )
    }

    fn rate_limit_headers(&self, window: &WindowStatus, headers: &mut HeaderMap) {
        let window_ms = self.control.rate_limiter().config().window_seconds * 1000;
        headers.insert("x-hubspot-ratelimit-max", HeaderValue::from(window.limit));
        headers.insert(
            "x-hubspot-ratelimit-remaining",
            HeaderValue::from(window.remaining),
        );
        headers.insert(
            "x-hubspot-ratelimit-interval-milliseconds",
            HeaderValue::from(window_ms),
        );
    }

    fn advance(&self, generations: u32) -> Value {
        self.data.advance_report(generations)
    }

    fn info(&self) -> Value {
        let data = self.data.snapshot();
        let counts: BTreeMap<&str, usize> =
            TYPES.iter().map(|k| (*k, data.live(k).count())).collect();
        json!({"generation": data.generation, "live": counts})
    }
}

impl ApiSimulator for HubspotState {
    type Config = HubspotConfig;
    type Data = HubspotData;

    fn config(&self) -> &HubspotConfig {
        &self.config
    }

    fn timeline(&self) -> &Timeline<HubspotData> {
        &self.data
    }

    fn new(config: HubspotConfig, control: Arc<SimControl>) -> Self {
        let data = Timeline::new(
            HubspotData::new(&config),
            Arc::clone(&control),
            config.generation_interval,
        );
        Self {
            config,
            control,
            data,
        }
    }

    fn router(state: Arc<Self>) -> Router {
        Router::new()
            .route("/crm/v3/objects/{kind}", get(list))
            .route("/crm/v3/objects/{kind}/search", post(search))
            .route_layer(from_fn_with_state(Arc::clone(&state), require_token))
            .with_state(state)
    }

    fn credentials(config: &mut HubspotConfig) -> Vec<Credential<'_>> {
        vec![Credential::exact("access_token", &mut config.token)]
    }

    fn describe(config: &HubspotConfig) -> String {
        let n = |k: &str| config.volumes.get(k).map_or(0, |v| v.initial);
        format!(
            "hubspot: {} contacts, {} companies, {} deals, {} tickets (search cap {})",
            n("contacts"),
            n("companies"),
            n("deals"),
            n("tickets"),
            config.search_cap
        )
    }

    fn knobs() -> Vec<Knob> {
        vec![
            Knob::count(
                "contacts",
                "/volumes/contacts/initial",
                "contacts at the start",
            ),
            Knob::count(
                "search-cap",
                "/search_cap",
                "the most results one search reaches",
            ),
        ]
    }
}

async fn require_token(
    State(state): State<Arc<HubspotState>>,
    request: Request,
    next: Next,
) -> Response {
    // The legacy API key (`hapikey`, retired by HubSpot in 2022) in the query, else the bearer token.
    let legacy = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("hapikey="))
            .map(str::to_owned)
    });
    let token = legacy.or_else(|| {
        request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned)
    });
    match token {
        Some(t) if t == state.config.token => next.run(request).await,
        _ => hubspot_error(
            StatusCode::UNAUTHORIZED,
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            "INVALID_AUTHENTICATION",
        ),
    }
}

fn record_json(
    kind: &str,
    r: &StoredRecord,
    properties: Option<&[String]>,
    associations: &[String],
) -> Value {
    let wanted: Vec<String> = match properties {
        Some(p) => p.to_vec(),
        None => default_properties(kind)
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
    };
    let props: serde_json::Map<String, Value> = wanted
        .iter()
        .map(|k| {
            (
                k.clone(),
                r.properties.get(k).map_or(Value::Null, |v| json!(v)),
            )
        })
        .collect();
    let created = r.properties.get("createdate").cloned().unwrap_or_default();
    let mut body = json!({"id": r.id.to_string(), "properties": props, "createdAt": created,
        "updatedAt": iso(r.modified), "archived": r.archived});
    if r.archived {
        body["archivedAt"] = json!(iso(r.modified));
    }
    let mut assoc = serde_json::Map::new();
    for to in associations {
        let results: Vec<Value> = r
            .associations
            .iter()
            .filter(|(t, _)| t == to)
            .map(|(_, id)| json!({"id": id.to_string(), "type": format!("{}_to_{}", singular(kind), singular(to))}))
            .collect();
        if !results.is_empty() {
            assoc.insert(to.clone(), json!({"results": results}));
        }
    }
    if !assoc.is_empty() {
        body["associations"] = Value::Object(assoc);
    }
    body
}

/// `contact` for `contacts`, `company` for `companies` (association type names).
fn singular(kind: &str) -> String {
    match kind.strip_suffix("ies") {
        Some(stem) => format!("{stem}y"),
        None => kind.trim_end_matches('s').to_owned(),
    }
}

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn split(v: Option<&str>) -> Option<Vec<String>> {
    v.map(|s| {
        s.split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// The list's opaque `after`: the last id served, base64 of its decimal digits.
fn encode_after(id: u64) -> String {
    let digits = id.to_string();
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = digits.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn decode_after(text: &str) -> Option<u64> {
    let digit = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let (mut acc, mut bits, mut out) = (0u32, 0, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        acc = (acc << 6) | u32::from(digit(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    String::from_utf8(out).ok()?.parse().ok()
}

async fn list(
    State(state): State<Arc<HubspotState>>,
    Path(kind): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    if !TYPES.contains(&kind.as_str()) {
        return state.not_found();
    }
    let limit = match param(&params, "limit").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (1..=LIST_MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return hubspot_error(
                StatusCode::BAD_REQUEST,
                "limit must be between 1 and 100",
                "VALIDATION_ERROR",
            )
        }
    };
    let after = match param(&params, "after") {
        None => 0,
        Some(a) => match decode_after(a) {
            Some(id) => id,
            None => {
                return hubspot_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid input JSON: after is not valid",
                    "VALIDATION_ERROR",
                )
            }
        },
    };
    let archived = param(&params, "archived") == Some("true");
    let properties = split(param(&params, "properties"));
    let associations = split(param(&params, "associations")).unwrap_or_default();
    let data = state.data.snapshot();
    let rows: Vec<&StoredRecord> = data
        .records
        .get(&kind)
        .into_iter()
        .flatten()
        .filter(|r| r.archived == archived && r.id > after)
        .take(limit + 1)
        .collect();
    let more = rows.len() > limit;
    let results: Vec<Value> = rows
        .iter()
        .take(limit)
        .map(|r| record_json(&kind, r, properties.as_deref(), &associations))
        .collect();
    let mut body = json!({"results": results});
    if let (true, Some(last)) = (more, rows.get(limit - 1)) {
        let token = encode_after(last.id);
        body["paging"] = json!({"next": {"after": token, "link": format!("https://api.hubapi.com/crm/v3/objects/{kind}?after={token}")}});
    }
    axum::Json(body).into_response()
}

/// A property's value for filters and sorts: epoch ms for dates, the number for numbers, else text.
fn comparable(raw: &str) -> Result<f64, String> {
    if let Ok(n) = raw.parse::<f64>() {
        return Ok(n);
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis() as f64)
        .map_err(|_| raw.to_owned())
}

fn filter_passes(r: &StoredRecord, filter: &Value) -> Result<bool, String> {
    let name = filter["propertyName"]
        .as_str()
        .ok_or("a filter needs propertyName")?;
    let op = filter["operator"]
        .as_str()
        .ok_or("a filter needs operator")?;
    let value = match &filter["value"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    };
    let have = r.properties.get(name).map(String::as_str);
    if op == "HAS_PROPERTY" {
        return Ok(have.is_some());
    }
    let Some(have) = have else { return Ok(false) };
    let ordering = match (comparable(have), comparable(&value)) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b),
        _ => Some(have.cmp(value.as_str())),
    };
    use std::cmp::Ordering::*;
    Ok(match (op, ordering) {
        ("EQ", Some(o)) => o == Equal,
        ("NEQ", Some(o)) => o != Equal,
        ("GT", Some(o)) => o == Greater,
        ("GTE", Some(o)) => o != Less,
        ("LT", Some(o)) => o == Less,
        ("LTE", Some(o)) => o != Greater,
        (other, _) if !["EQ", "NEQ", "GT", "GTE", "LT", "LTE"].contains(&other) => {
            return Err(format!("unknown operator {other}"))
        }
        _ => false,
    })
}

async fn search(
    State(state): State<Arc<HubspotState>>,
    Path(kind): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !TYPES.contains(&kind.as_str()) {
        return state.not_found();
    }
    let bad = |m: &str| hubspot_error(StatusCode::BAD_REQUEST, m, "VALIDATION_ERROR");
    let limit = match body.get("limit").map(|l| {
        l.as_u64()
            .or_else(|| l.as_str().and_then(|s| s.parse().ok()))
    }) {
        None => 10,
        Some(Some(n)) if (1..=SEARCH_MAX_LIMIT as u64).contains(&n) => n as usize,
        Some(_) => return bad("limit must be between 1 and 200"),
    };
    let after = match body.get("after").map(|a| {
        a.as_u64()
            .or_else(|| a.as_str().and_then(|s| s.parse().ok()))
    }) {
        None => 0,
        Some(Some(n)) => n as usize,
        Some(None) => return bad("after must be a number"),
    };
    let cap = state.config.search_cap;
    if after + limit > cap {
        return bad(&format!("Search results are limited to {cap}; this request asks for results past them (after + limit > {cap}). Narrow the search with filters."));
    }
    let groups = body["filterGroups"].as_array().cloned().unwrap_or_default();
    let filters: usize = groups
        .iter()
        .map(|g| g["filters"].as_array().map_or(0, Vec::len))
        .sum();
    if groups.len() > 5
        || filters > 25
        || groups
            .iter()
            .any(|g| g["filters"].as_array().map_or(0, Vec::len) > 10)
    {
        return bad(
            "too many filterGroups or filters (at most 5 groups, 10 filters per group, 25 in all)",
        );
    }
    let data = state.data.snapshot();
    let mut rows = Vec::new();
    for r in data.live(&kind) {
        let mut any = groups.is_empty();
        for g in &groups {
            let mut all = true;
            for f in g["filters"].as_array().into_iter().flatten() {
                match filter_passes(r, f) {
                    Ok(pass) => all &= pass,
                    Err(m) => return bad(&m),
                }
            }
            any |= all;
        }
        if any {
            rows.push(r);
        }
    }
    if let Some(sort) = body["sorts"].as_array().and_then(|s| s.first()) {
        let name = sort["propertyName"]
            .as_str()
            .unwrap_or("hs_object_id")
            .to_owned();
        let key = |r: &StoredRecord| {
            (
                r.properties
                    .get(&name)
                    .and_then(|v| comparable(v).ok())
                    .unwrap_or(f64::MIN),
                r.id,
            )
        };
        rows.sort_by(|a, b| {
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        if sort["direction"].as_str() == Some("DESCENDING") {
            rows.reverse();
        }
    }
    let properties: Option<Vec<String>> = body["properties"].as_array().map(|p| {
        p.iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    });
    let total = rows.len();
    let results: Vec<Value> = rows
        .iter()
        .skip(after)
        .take(limit)
        .map(|r| record_json(&kind, r, properties.as_deref(), &[]))
        .collect();
    let mut out = json!({"total": total, "results": results});
    if after + limit < total {
        out["paging"] = json!({"next": {"after": (after + limit).to_string()}});
    }
    axum::Json(out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_tokens_round_trip_and_generations_archive() {
        for id in [1, 101, 99_999, 1_234_567] {
            assert_eq!(decode_after(&encode_after(id)), Some(id));
        }
        let mut data = HubspotData::new(&HubspotConfig::small());
        let before = data.live("contacts").count();
        let changes = data.advance_one();
        assert!(changes.iter().any(|c| c.2 == "archived"));
        assert_eq!(data.live("contacts").count(), before + 10 - 2);
    }
}
