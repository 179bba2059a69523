//! A simulator of the Close API (developer.close.com; `docs/apis.md` §5c), for tests and the
//! out-of-the-box `debug` run. Written from Close's documentation, never from the definition.
//!
//! What it reproduces:
//! - HTTP Basic auth with the API key as user name and an empty password; a refused key is a 401;
//! - `GET /api/v1/me/`;
//! - `GET /api/v1/{lead,contact,opportunity,activity,task,user}/`: `{"has_more": .., "data": [..]}`
//!   (leads add `total_results`), `_skip` and `_limit` (default 100; above the resource's maximum a
//!   400), a maximum `_skip` per resource (past it a 400 whose message names `max_skip = N`),
//!   `date_updated__gte|gt|lte|lt` and `date_created__…` filters, `_order_by` (`date_updated`,
//!   `-date_updated`, `date_created`, `-date_created`; default newest created first, ties by
//!   creation order), and for leads Close's search `query` with `date_updated>="…"` (also `>`,
//!   `<=`, `<`) and `sort:date_updated` / `sort:-date_updated`;
//! - `GET /api/v1/event/`: the event log, newest first, `object_type`, `action`, `object_id`,
//!   `lead_id`, `date_updated__gte|gt|lte|lt`, `_cursor` / `cursor_next`, `_limit` (at most 50);
//!   events older than 30 days by the simulated clock are gone;
//! - timestamps as Close writes them, ISO 8601 with microseconds and `+00:00`;
//! - every response carries `ratelimit: limit=N, remaining=N, reset=N`; a 429 carries it too, with
//!   `retry-after` and the body `{"error": {"rate_reset": .., "message": .., "rate_limit": ..,
//!   "rate_window": .., "rate_limit_type": "key"}}`;
//! - generations ([`CloseSimulator::advance`]) create, update (moving `date_updated`) and delete
//!   records, each with its event (`action` `created`, `updated`, `deleted`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
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

/// The resources the simulator serves, as their paths name them.
pub const KINDS: &[&str] = &["lead", "contact", "opportunity", "activity", "task", "user"];
/// How long the event log keeps events.
pub const EVENT_RETENTION_DAYS: i64 = 30;
/// The event log's largest page.
pub const EVENT_MAX_LIMIT: usize = 50;

/// The simulator's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseConfig {
    /// Seed of the data and of random faults.
    pub seed: u64,
    /// The API key it accepts.
    pub api_key: String,
    /// Records per resource; a resource not named has none.
    pub volumes: BTreeMap<String, Volume>,
    /// The largest `_limit` per resource (default 100 where not named).
    pub max_limit: BTreeMap<String, usize>,
    /// The largest `_skip` any list accepts (Close's varies per resource; one value here).
    pub max_skip: usize,
    /// The simulated "now" of the initial data.
    pub data_end: DateTime<Utc>,
    /// Simulated time per generation.
    pub generation_interval: Duration,
    /// The request budget (per API key).
    pub rate_limit: RateLimitConfig,
    /// Port and clock.
    pub server: ServerOptions,
}

crate::simulator::sim_settings!(CloseConfig);

impl Default for CloseConfig {
    fn default() -> Self {
        let volume = |n, a, m, r| Volume::changing(n, a, m, r);
        Self {
            seed: 20_130_201,
            api_key: "api_simulator_key".to_owned(),
            volumes: [
                ("lead", volume(500, 10, 10, 2)),
                ("contact", volume(800, 15, 10, 3)),
                ("opportunity", volume(300, 5, 8, 1)),
                ("activity", volume(2000, 40, 10, 2)),
                ("task", volume(400, 10, 10, 2)),
                ("user", volume(12, 0, 1, 0)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            max_limit: [
                ("lead", 200),
                ("opportunity", 250),
                ("task", 1000),
                ("user", 1000),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            max_skip: 10_000,
            data_end: "2026-11-01T00:00:00Z".parse().expect("valid literal"),
            generation_interval: Duration::from_secs(3600),
            rate_limit: RateLimitConfig::per_window(20, 1),
            server: ServerOptions::default(),
        }
    }
}

impl CloseConfig {
    /// A small data set for tests: a frozen clock, no rate limit, and more leads (250), contacts
    /// and activities (150 each) than one page holds with a maximum skip of 40, so their full lists
    /// have to restart past it.
    pub fn small() -> Self {
        let mut config = Self::default();
        for (kind, v) in config.volumes.iter_mut() {
            let initial = match kind.as_str() {
                "user" => 5,
                "lead" => 250,
                "contact" | "activity" => 150,
                _ => 30,
            };
            *v = Volume::changing(initial, 3, 3, u64::from(v.removed_per_generation > 0));
        }
        config.max_skip = 40;
        config.rate_limit = RateLimitConfig::unlimited();
        config.server.clock_mode = ClockMode::Frozen;
        config
    }
}

/// One record as the simulator holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// Its id (`lead_…`).
    pub id: String,
    /// Creation order, the tie-break of equal instants.
    pub serial: u64,
    /// `date_created`, microseconds since the epoch.
    pub created: i64,
    /// `date_updated`, microseconds since the epoch.
    pub updated: i64,
    /// Deleted: gone from lists.
    pub deleted: bool,
    /// Its JSON as the API returns it.
    pub body: Value,
}

#[derive(Debug, Clone, PartialEq)]
struct StoredEvent {
    serial: u64,
    updated: i64,
    body: Value,
}

/// The data at one generation.
#[derive(Debug, Clone)]
pub struct CloseData {
    seed: u64,
    generation: u32,
    now: i64,
    interval: i64,
    serial: u64,
    volumes: BTreeMap<String, Volume>,
    records: BTreeMap<String, Vec<StoredRecord>>,
    events: Vec<StoredEvent>,
}

/// A change one generation made: (resource, id, action).
pub type Change = (String, String, String);

const MICROS: i64 = 1_000_000;

/// Close's timestamp: ISO 8601 with microseconds and an explicit UTC offset.
fn iso(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}

fn prefix(kind: &str) -> &'static str {
    match kind {
        "lead" => "lead_",
        "contact" => "cont_",
        "opportunity" => "oppo_",
        "activity" => "acti_",
        "task" => "task_",
        "user" => "user_",
        _ => "ev_",
    }
}

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ORGANIZATION: &str = "orga_simulator";

impl CloseData {
    fn new(config: &CloseConfig) -> Self {
        let mut data = Self {
            seed: config.seed,
            generation: 0,
            now: config.data_end.timestamp() * MICROS,
            interval: config.generation_interval.as_secs().max(2) as i64 * MICROS,
            serial: 0,
            volumes: config.volumes.clone(),
            records: BTreeMap::new(),
            events: Vec::new(),
        };
        let span = 400 * 86_400 * MICROS;
        for kind in KINDS {
            let n = data.volume(kind).initial as i64;
            for i in 0..n {
                let created = data.now - span + span / n.max(1) * i;
                let mut rng = SeededRng::new(data.seed, &[i as u64, 0xC105E]);
                // Updated some time after creation; every third on a whole second, so several records
                // share one `date_updated` and `>=` and `>` differ.
                let mut updated =
                    (created + rng.below(30 * 86_400) as i64 * MICROS).min(data.now - MICROS);
                if i % 3 == 0 {
                    updated -= updated.rem_euclid(MICROS);
                }
                data.create(kind, created, updated.max(created));
            }
        }
        data
    }

    fn volume(&self, kind: &str) -> Volume {
        self.volumes.get(kind).copied().unwrap_or(Volume::fixed(0))
    }

    fn id(&mut self, kind: &str) -> (String, u64) {
        self.serial += 1;
        let mut rng = SeededRng::new(self.seed, &[self.serial, 0x1D]);
        let tail: String = (0..22)
            .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char)
            .collect();
        (format!("{}{tail}", prefix(kind)), self.serial)
    }

    fn pick(&self, kind: &str, rng: &mut SeededRng) -> Value {
        let live: Vec<&StoredRecord> = self.live(kind).collect();
        if live.is_empty() {
            return Value::Null;
        }
        json!(live[rng.below(live.len() as u64) as usize].id)
    }

    /// The event log's `object_type` of a record (`task.lead`, `activity.note`, as Close names them).
    fn object_type(kind: &str, body: &Value) -> String {
        match kind {
            "task" => "task.lead".to_owned(),
            "activity" => format!(
                "activity.{}",
                body["_type"]
                    .as_str()
                    .unwrap_or("note")
                    .to_ascii_lowercase()
            ),
            other => other.to_owned(),
        }
    }

    fn create(&mut self, kind: &str, created: i64, updated: i64) -> String {
        let (id, serial) = self.id(kind);
        let mut rng = SeededRng::new(self.seed, &[serial, 0xB0D]);
        let user = self.pick("user", &mut rng);
        let lead = self.pick("lead", &mut rng);
        let (c, u) = (iso(created), iso(updated));
        let mut body = match kind {
            "lead" => json!({
                "id": id, "display_name": format!("Company {serial}"), "name": format!("Company {serial}"),
                "description": "", "url": format!("https://company{serial}.example.com"),
                "status_id": "stat_potential", "status_label": "Potential", "organization_id": ORGANIZATION,
                "html_url": format!("https://app.close.com/lead/{id}/"),
                "created_by": user, "updated_by": user, "contacts": [], "opportunities": [], "tasks": [],
                "addresses": [], "custom": {},
            }),
            "contact" => json!({
                "id": id, "lead_id": lead, "organization_id": ORGANIZATION, "name": format!("Person {serial}"),
                "title": if serial % 4 == 0 { "CEO" } else { "Buyer" },
                "emails": [{"type": "office", "email": format!("person{serial}@example.com")}],
                "phones": [], "created_by": user, "updated_by": user,
            }),
            "opportunity" => json!({
                "id": id, "lead_id": lead, "organization_id": ORGANIZATION, "status_id": "stat_active",
                "status_label": "Active", "status_type": "active", "value": rng.between(1_000, 900_000),
                "value_currency": "USD", "value_period": "one_time", "confidence": rng.between(0, 100),
                "note": "", "date_won": null, "user_id": user,
            }),
            "activity" => {
                let call = serial % 2 == 0;
                json!({
                    "id": id, "_type": if call { "Call" } else { "Note" }, "lead_id": lead,
                    "organization_id": ORGANIZATION, "user_id": user,
                    "note": if call { Value::Null } else { json!(format!("Note {serial}")) },
                    "duration": if call { json!(rng.between(10, 900)) } else { Value::Null },
                    "direction": if call { json!("outbound") } else { Value::Null },
                })
            }
            "task" => json!({
                "id": id, "_type": "lead", "lead_id": lead, "organization_id": ORGANIZATION,
                "assigned_to": user, "text": format!("Follow up {serial}"), "is_complete": false,
                "date": iso(created + 7 * 86_400 * MICROS)[..10].to_owned(),
            }),
            _ => json!({
                "id": id, "first_name": "User", "last_name": format!("{serial}"),
                "email": format!("user{serial}@example.com"), "image": null,
            }),
        };
        body["date_created"] = json!(c);
        body["date_updated"] = json!(u);
        self.event(kind, "created", &body, updated);
        self.records
            .entry(kind.to_owned())
            .or_default()
            .push(StoredRecord {
                id: id.clone(),
                serial,
                created,
                updated,
                deleted: false,
                body,
            });
        id
    }

    fn event(&mut self, kind: &str, action: &str, body: &Value, at: i64) {
        let (id, serial) = self.id("event");
        let lead_id = if kind == "lead" {
            body["id"].clone()
        } else {
            body.get("lead_id").cloned().unwrap_or(Value::Null)
        };
        let data = if action == "deleted" {
            Value::Null
        } else {
            body.clone()
        };
        let previous = if action == "created" {
            Value::Null
        } else {
            body.clone()
        };
        let event = json!({
            "id": id, "date_created": iso(at), "date_updated": iso(at), "organization_id": ORGANIZATION,
            "user_id": body.get("updated_by").cloned().unwrap_or(Value::Null), "request_id": format!("req_{serial}"),
            "api_key_id": null, "object_type": Self::object_type(kind, body), "object_id": body["id"],
            "lead_id": lead_id, "action": action,
            "changed_fields": if action == "updated" { json!(["date_updated"]) } else { json!([]) },
            "meta": {}, "data": data, "previous_data": previous,
        });
        self.events.push(StoredEvent {
            serial,
            updated: at,
            body: event,
        });
    }

    fn live_indexes(&self, kind: &str) -> Vec<usize> {
        self.records
            .get(kind)
            .map(|rs| {
                rs.iter()
                    .enumerate()
                    .filter(|(_, r)| !r.deleted)
                    .map(|(i, _)| i)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn modify(&mut self, kind: &str, at: i64, rng: &mut SeededRng) -> Option<String> {
        let live = self.live_indexes(kind);
        if live.is_empty() {
            return None;
        }
        let index = live[rng.below(live.len() as u64) as usize];
        let n = rng.between(1, 1000);
        let record = &mut self.records.get_mut(kind)?[index];
        let b = &mut record.body;
        match kind {
            "lead" => {
                b["status_label"] = json!("Qualified");
                b["status_id"] = json!("stat_qualified");
                b["description"] = json!(format!("changed {n}"));
            }
            "contact" => b["title"] = json!(format!("Director {n}")),
            "opportunity" => {
                b["status_type"] = json!("won");
                b["status_label"] = json!("Won");
                b["value"] = json!(n * 100);
            }
            "activity" => b["note"] = json!(format!("Edited {n}")),
            "task" => b["is_complete"] = json!(true),
            _ => b["last_name"] = json!(format!("Renamed {n}")),
        }
        record.updated = at;
        b["date_updated"] = json!(iso(at));
        let (id, body) = (record.id.clone(), record.body.clone());
        self.event(kind, "updated", &body, at);
        Some(id)
    }

    fn remove(&mut self, kind: &str, at: i64, rng: &mut SeededRng) -> Option<String> {
        let live = self.live_indexes(kind);
        if live.is_empty() || kind == "user" {
            return None;
        }
        let index = live[rng.below(live.len() as u64) as usize];
        let record = &mut self.records.get_mut(kind)?[index];
        record.deleted = true;
        let (id, body) = (record.id.clone(), record.body.clone());
        self.event(kind, "deleted", &body, at);
        Some(id)
    }

    /// Live records of `kind` in creation order (what the warehouse must hold).
    pub fn live(&self, kind: &str) -> impl Iterator<Item = &StoredRecord> {
        self.records
            .get(kind)
            .into_iter()
            .flatten()
            .filter(|r| !r.deleted)
    }
}

impl Generational for CloseData {
    type Change = Change;

    fn advance_one(&mut self) -> Vec<Change> {
        self.generation += 1;
        let start = self.now;
        self.now += self.interval;
        let mut changes = Vec::new();
        let mut rng = SeededRng::new(self.seed, &[u64::from(self.generation), 0xADD]);
        // Changes land in the first half of the generation, two per second, so some share one.
        let (mut tick, half) = (0_i64, self.interval / 2);
        let mut at = move || {
            tick += 1;
            start + MICROS + (tick / 2 * MICROS).min(half)
        };
        for kind in KINDS {
            let v = self.volume(kind);
            for _ in 0..v.added_per_generation {
                let t = at();
                let id = self.create(kind, t, t);
                changes.push(((*kind).to_owned(), id, "created".to_owned()));
            }
            for _ in 0..v.modified_per_generation {
                if let Some(id) = self.modify(kind, at(), &mut rng) {
                    changes.push(((*kind).to_owned(), id, "updated".to_owned()));
                }
            }
            for _ in 0..v.removed_per_generation {
                if let Some(id) = self.remove(kind, at(), &mut rng) {
                    changes.push(((*kind).to_owned(), id, "deleted".to_owned()));
                }
            }
        }
        changes
    }

    fn generation_number(&self) -> u32 {
        self.generation
    }
}

/// The running simulator's state.
pub struct CloseState {
    config: CloseConfig,
    control: Arc<SimControl>,
    data: Timeline<CloseData>,
}

/// A running Close simulator.
pub type CloseSimulator = Running<CloseState>;

impl Running<CloseState> {
    /// The API key it accepts.
    pub fn api_key(&self) -> &str {
        &self.state().config.api_key
    }

    /// The live records of `kind`, current content.
    pub fn truth(&self, kind: &str) -> Vec<StoredRecord> {
        self.data().live(kind).cloned().collect()
    }
}

fn ratelimit_value(limit: u32, remaining: u32, reset: u64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "limit={limit}, remaining={remaining}, reset={reset}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("limit=0, remaining=0, reset=1"))
}

impl SimulatorHooks for CloseState {
    fn too_many_requests(&self, retry_after: Duration) -> Response {
        let reset = retry_after.as_secs_f64().max(0.4);
        let limit = self.control.rate_limiter().config().limit.unwrap_or(20);
        let body = json!({"error": {"rate_reset": reset, "message": "API call count exceeded for this period",
            "rate_limit": limit, "rate_window": 1, "rate_limit_type": "key"}});
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        let seconds = reset.ceil() as u64;
        let headers = response.headers_mut();
        headers.insert("ratelimit", ratelimit_value(limit, 0, seconds));
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        response
    }

    fn error_response(&self, status: StatusCode) -> Response {
        (
            status,
            axum::Json(json!({"error": "Internal server error. Please try again."})),
        )
            .into_response()
    }

    fn not_found(&self) -> Response {
        (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "Not found"})),
        )
            .into_response()
    }

    fn rate_limit_headers(&self, window: &WindowStatus, headers: &mut HeaderMap) {
        let reset = window.retry_after(self.control.clock().now()).as_secs();
        headers.insert(
            "ratelimit",
            ratelimit_value(window.limit, window.remaining, reset),
        );
    }

    fn advance(&self, generations: u32) -> Value {
        self.data.advance_report(generations)
    }

    fn info(&self) -> Value {
        let data = self.data.snapshot();
        let counts: BTreeMap<&str, usize> =
            KINDS.iter().map(|k| (*k, data.live(k).count())).collect();
        json!({"generation": data.generation, "live": counts, "events": data.events.len()})
    }
}

impl ApiSimulator for CloseState {
    type Config = CloseConfig;
    type Data = CloseData;

    fn config(&self) -> &CloseConfig {
        &self.config
    }

    fn timeline(&self) -> &Timeline<CloseData> {
        &self.data
    }

    fn new(config: CloseConfig, control: Arc<SimControl>) -> Self {
        let data = Timeline::new(
            CloseData::new(&config),
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
            .route("/api/v1/me/", get(me))
            .route("/api/v1/event/", get(events))
            .route("/api/v1/{kind}/", get(list))
            .route_layer(from_fn_with_state(Arc::clone(&state), require_key))
            .with_state(state)
    }

    fn credentials(config: &mut CloseConfig) -> Vec<Credential<'_>> {
        vec![Credential::exact("api_key", &mut config.api_key)]
    }

    fn describe(config: &CloseConfig) -> String {
        let n = |k: &str| config.volumes.get(k).map_or(0, |v| v.initial);
        format!(
            "close: {} leads, {} contacts, {} activities (max _skip {})",
            n("lead"),
            n("contact"),
            n("activity"),
            config.max_skip
        )
    }

    fn knobs() -> Vec<Knob> {
        vec![
            Knob::count("leads", "/volumes/lead/initial", "leads at the start"),
            Knob::count(
                "contacts",
                "/volumes/contact/initial",
                "contacts at the start",
            ),
            Knob::count("max-skip", "/max_skip", "the largest _skip a list accepts"),
        ]
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn require_key(
    State(state): State<Arc<CloseState>>,
    request: Request,
    next: Next,
) -> Response {
    let user = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b| decode_base64(b.trim()))
        .and_then(|raw| String::from_utf8(raw).ok())
        .map(|text| {
            text.split_once(':')
                .map_or(text.clone(), |(u, _)| u.to_owned())
        });
    match user {
        Some(key) if key == state.config.api_key => next.run(request).await,
        _ => error(StatusCode::UNAUTHORIZED, "The API key is invalid or missing. Use it as the HTTP Basic user name with an empty password."),
    }
}

/// Standard base64 (with padding), for Basic credentials.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0_u32, 0);
    for c in text.trim_end_matches('=').bytes() {
        acc = (acc << 6) | u32::from(digit(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

async fn me(State(state): State<Arc<CloseState>>) -> Response {
    let data = state.data.snapshot();
    let user = data
        .live("user")
        .next()
        .map_or(Value::Null, |u| u.body.clone());
    axum::Json(json!({"id": user["id"], "email": user["email"], "organizations": [{"id": ORGANIZATION, "name": "Simulated"}]}))
        .into_response()
}

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// An instant in a filter: RFC 3339 (with or without an offset, to the minute or finer) or a date.
fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim().trim_matches('"');
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
}

/// One bound: (field, operator, instant).
type Bound = (String, &'static str, i64);

/// The `date_updated__gte`-style filters, or the 400 for a bad value.
fn filter_bounds(params: &Params) -> Result<Vec<Bound>, Box<Response>> {
    let mut bounds = Vec::new();
    for (k, v) in params {
        let Some((field, op)) = k.split_once("__") else {
            continue;
        };
        if field != "date_updated" && field != "date_created" {
            continue;
        }
        let op: &'static str = match op {
            "gte" => "gte",
            "gt" => "gt",
            "lte" => "lte",
            "lt" => "lt",
            _ => continue,
        };
        let t = parse_instant(v).ok_or_else(|| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid date for {k}: '{v}'"),
            ))
        })?;
        bounds.push((field.to_owned(), op, t));
    }
    Ok(bounds)
}

/// Close's search `query` for leads, the part this simulator knows: `date_updated>="…"` bounds
/// and `sort:`. Returns the bounds and the sort.
fn lead_query(query: &str) -> Result<(Vec<Bound>, Option<String>), Box<Response>> {
    let mut bounds = Vec::new();
    let mut sort = None;
    let mut rest = query.trim();
    while !rest.is_empty() {
        // A term runs to the next space outside quotes.
        let mut quoted = false;
        let end = rest
            .char_indices()
            .find(|(_, c)| {
                if *c == '"' {
                    quoted = !quoted;
                }
                c.is_whitespace() && !quoted
            })
            .map_or(rest.len(), |(i, _)| i);
        let term = &rest[..end];
        rest = rest[end..].trim_start();
        if let Some(s) = term.strip_prefix("sort:") {
            sort = Some(s.to_owned());
            continue;
        }
        let parsed = ["date_updated", "date_created"].iter().find_map(|field| {
            let after = term.strip_prefix(field)?;
            let (op, value) = [(">=", "gte"), ("<=", "lte"), (">", "gt"), ("<", "lt")]
                .iter()
                .find_map(|(sym, op)| after.strip_prefix(sym).map(|v| (*op, v)))?;
            Some(((*field).to_owned(), op, parse_instant(value)?))
        });
        match parsed {
            Some(bound) => bounds.push(bound),
            None => {
                return Err(Box::new(error(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid query: cannot parse '{term}'"),
                )))
            }
        }
    }
    Ok((bounds, sort))
}

fn passes(bounds: &[Bound], created: i64, updated: i64) -> bool {
    bounds.iter().all(|(field, op, t)| {
        let v = if field == "date_created" {
            created
        } else {
            updated
        };
        match *op {
            "gte" => v >= *t,
            "gt" => v > *t,
            "lte" => v <= *t,
            _ => v < *t,
        }
    })
}

fn limit_of(params: &Params, max: usize) -> Result<usize, Box<Response>> {
    match param(params, "_limit") {
        None => Ok(100.min(max)),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            Ok(n) if n > max => Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid _limit: {n} is above the maximum of {max} for this resource"),
            ))),
            _ => Err(Box::new(error(StatusCode::BAD_REQUEST, "Invalid _limit"))),
        },
    }
}

async fn list(
    State(state): State<Arc<CloseState>>,
    Path(kind): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    if !KINDS.contains(&kind.as_str()) {
        return state.not_found();
    }
    let config = &state.config;
    let max = config.max_limit.get(&kind).copied().unwrap_or(100);
    let limit = match limit_of(&params, max) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let skip: usize = match param(&params, "_skip").map(str::parse) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return error(StatusCode::BAD_REQUEST, "Invalid _skip"),
    };
    if skip > config.max_skip {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "The skip you set is larger than the maximum skip for this resource (max_skip = {}). Please refine your search query.",
                config.max_skip
            ),
        );
    }
    let mut bounds = match filter_bounds(&params) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let mut order = param(&params, "_order_by").map(str::to_owned);
    if kind == "lead" {
        if let Some(q) = param(&params, "query") {
            match lead_query(q) {
                Ok((more, sort)) => {
                    bounds.extend(more);
                    order = sort.or(order);
                }
                Err(r) => return *r,
            }
        }
    }
    let data = state.data.snapshot();
    let mut rows: Vec<&StoredRecord> = data
        .live(&kind)
        .filter(|r| passes(&bounds, r.created, r.updated))
        .collect();
    match order.as_deref().unwrap_or("-date_created") {
        "date_updated" => rows.sort_by_key(|r| (r.updated, r.serial)),
        "-date_updated" => rows.sort_by_key(|r| std::cmp::Reverse((r.updated, r.serial))),
        "date_created" => rows.sort_by_key(|r| (r.created, r.serial)),
        "-date_created" => rows.sort_by_key(|r| std::cmp::Reverse((r.created, r.serial))),
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Invalid _order_by: '{other}'"),
            )
        }
    }
    let total = rows.len();
    let page: Vec<Value> = rows
        .iter()
        .skip(skip)
        .take(limit)
        .map(|r| r.body.clone())
        .collect();
    let has_more = skip + page.len() < total;
    let mut body = json!({"has_more": has_more, "data": page});
    if kind == "lead" {
        body["total_results"] = json!(total);
    }
    axum::Json(body).into_response()
}

async fn events(State(state): State<Arc<CloseState>>, Query(params): Query<Params>) -> Response {
    let limit = match limit_of(&params, EVENT_MAX_LIMIT) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let bounds = match filter_bounds(&params) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    // The cursor is the serial of the last event of the previous page (opaque to clients).
    let after: Option<u64> = match param(&params, "_cursor") {
        None | Some("") => None,
        Some(c) => match u64::from_str_radix(c.trim_start_matches("evc"), 16) {
            Ok(n) => Some(n),
            Err(_) => return error(StatusCode::BAD_REQUEST, "Invalid _cursor"),
        },
    };
    let now = state.control.clock().now().timestamp_micros();
    let oldest = now - EVENT_RETENTION_DAYS * 86_400 * MICROS;
    let data = state.data.snapshot();
    let matches = |e: &&StoredEvent| {
        let b = &e.body;
        let eq = |name: &str| param(&params, name).is_none_or(|v| b[name].as_str() == Some(v));
        e.updated >= oldest
            && e.updated <= now
            && passes(&bounds, e.updated, e.updated)
            && eq("object_type")
            && eq("action")
            && eq("object_id")
            && eq("lead_id")
    };
    let mut found: Vec<&StoredEvent> = data.events.iter().filter(matches).collect();
    found.sort_by_key(|e| std::cmp::Reverse((e.updated, e.serial)));
    let start = match after {
        None => 0,
        Some(serial) => match found.iter().position(|e| e.serial == serial) {
            Some(i) => i + 1,
            None => return error(StatusCode::BAD_REQUEST, "Invalid _cursor"),
        },
    };
    let page: Vec<&StoredEvent> = found.iter().skip(start).take(limit).copied().collect();
    let more = start + page.len() < found.len();
    let cursor_next = match (more, page.last()) {
        (true, Some(e)) => json!(format!("evc{:x}", e.serial)),
        _ => Value::Null,
    };
    let body: Vec<Value> = page.iter().map(|e| e.body.clone()).collect();
    axum::Json(json!({"data": body, "cursor_next": cursor_next, "cursor_previous": null}))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_create_update_and_delete_with_events() {
        let mut data = CloseData::new(&CloseConfig::small());
        let leads = data.live("lead").count();
        let events = data.events.len();
        let changes = data.advance_one();
        assert!(
            changes.iter().any(|c| c.0 == "lead" && c.2 == "deleted"),
            "{changes:?}"
        );
        assert_eq!(data.live("lead").count(), leads + 3 - 1);
        assert_eq!(data.events.len(), events + changes.len());
        let deleted = data
            .events
            .iter()
            .filter(|e| e.body["action"] == "deleted")
            .count();
        assert!(deleted >= 4, "{deleted}");
        // Several records share one `date_updated`.
        let mut updated: Vec<i64> = data.live("contact").map(|r| r.updated).collect();
        updated.sort_unstable();
        assert!(updated.windows(2).any(|w| w[0] == w[1]));
    }

    #[test]
    fn lead_queries_parse_bounds_and_sort() {
        let (bounds, sort) =
            lead_query(r#"date_updated>="2026-06-01T12:30" sort:date_updated"#).unwrap();
        assert_eq!(sort.as_deref(), Some("date_updated"));
        assert_eq!(bounds.len(), 1);
        assert_eq!(bounds[0].1, "gte");
        assert!(lead_query("company:acme").is_err());
        assert_eq!(
            iso(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123456+00:00"
        );
    }
}
