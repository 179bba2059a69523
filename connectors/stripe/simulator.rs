//! A simulator of the Stripe API (`docs/apis.md` §5a), for tests and the out-of-the-box `debug` run.
//!
//! What it reproduces:
//! - `GET /v1/{customers,charges,invoices,subscriptions,products,prices,refunds,balance_transactions,events}`:
//!   `{"object":"list","url":..,"has_more":..,"data":[..]}`, newest first (ties by creation order),
//!   `limit` 1–100 (default 10, larger values clamped), `starting_after` / `ending_before` (both at
//!   once, or an unknown id: 400 `invalid_request_error`), `created[gte|gt|lte|lt]` in Unix seconds;
//!   deleted customers and products leave the lists; subscriptions hide `canceled` unless
//!   `status=all` or `status=canceled`;
//! - `GET /v1/<list>/{id}`: the object; a deleted customer is `{"id","object":"customer","deleted":true}`,
//!   a deleted product a 404 `resource_missing`; `GET /v1/invoices/{id}/lines` pages an invoice's
//!   lines; invoices embed their first 10 lines and subscriptions their items as list objects;
//! - `GET /v1/events` with `types[]` (exact names, up to 20), `type` (one name, `*` wildcards) and
//!   `created[...]`; each event is `{id, object:"event", type, created, data:{object}}`; events older
//!   than 30 days (by the simulated clock) are gone;
//! - bearer auth, or basic auth with the key as user name; a refused key is a 401 with Stripe's error
//!   body; 429s carry `Stripe-Should-Retry: true` and no `Retry-After`, as Stripe's do; 5xx bodies are
//!   `api_error`s;
//! - generations ([`StripeSimulator::advance`]) create, update and delete objects, each with its
//!   `*.created` / `*.updated` / `*.deleted` event, several objects sharing one `created` second.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
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
    Volume,
};

/// The most objects one list page returns.
pub const MAX_LIMIT: usize = 100;
/// How long events are kept.
pub const EVENT_RETENTION_DAYS: i64 = 30;

/// The object kinds the simulator serves, as list paths name them.
pub const KINDS: &[&str] = &[
    "customers",
    "products",
    "prices",
    "charges",
    "refunds",
    "subscriptions",
    "invoices",
    "balance_transactions",
];

/// The simulator's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeConfig {
    /// Seed of the data and of random faults.
    pub seed: u64,
    /// The secret key it accepts.
    pub api_key: String,
    /// Objects per kind (by list name); a kind not named has none.
    pub volumes: BTreeMap<String, Volume>,
    /// The simulated "now" of the initial data.
    pub data_end: DateTime<Utc>,
    /// Simulated time per generation.
    pub generation_interval: Duration,
    /// The request budget.
    pub rate_limit: RateLimitConfig,
    /// Port and clock.
    pub server: ServerOptions,
}

crate::simulator::sim_settings!(StripeConfig);

impl Default for StripeConfig {
    fn default() -> Self {
        let volume =
            |initial, added, modified, removed| Volume::changing(initial, added, modified, removed);
        Self {
            seed: 20_221_115,
            api_key: "sk_test_simulator".to_owned(),
            volumes: [
                ("customers", volume(400, 10, 10, 2)),
                ("products", volume(20, 1, 2, 1)),
                ("prices", volume(40, 1, 2, 0)),
                ("charges", volume(1500, 30, 10, 0)),
                ("refunds", volume(60, 2, 1, 0)),
                ("subscriptions", volume(200, 5, 5, 2)),
                ("invoices", volume(600, 10, 10, 1)),
                ("balance_transactions", volume(1500, 30, 0, 0)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            data_end: "2026-11-01T00:00:00Z".parse().expect("valid literal"),
            generation_interval: Duration::from_secs(3600),
            rate_limit: RateLimitConfig::per_window(100, 1),
            server: ServerOptions::default(),
        }
    }
}

impl StripeConfig {
    /// A small data set for tests: a frozen clock, no rate limit.
    pub fn small() -> Self {
        let mut config = Self::default();
        for (kind, v) in config.volumes.iter_mut() {
            let initial = if kind == "products" || kind == "prices" {
                8
            } else {
                30
            };
            *v = Volume::changing(initial, 3, 3, u64::from(v.removed_per_generation > 0));
        }
        config.rate_limit = RateLimitConfig::unlimited();
        config.server.clock_mode = ClockMode::Frozen;
        config
    }
}

/// One object as the simulator holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    /// Its id (`cus_…`).
    pub id: String,
    /// Creation order, the tie-break of equal `created` seconds.
    pub serial: u64,
    /// Unix seconds.
    pub created: i64,
    /// Deleted (customers, products): gone from lists.
    pub deleted: bool,
    /// Its JSON as the API returns it.
    pub body: Value,
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    serial: u64,
    created: i64,
    body: Value,
}

/// The data at one generation.
#[derive(Debug, Clone)]
pub struct StripeData {
    seed: u64,
    generation: u32,
    now: i64,
    interval: i64,
    serial: u64,
    volumes: BTreeMap<String, Volume>,
    objects: BTreeMap<String, Vec<StoredObject>>,
    events: Vec<StoredEvent>,
}

/// A change one generation made: (kind, id, event type).
pub type Change = (String, String, String);

fn object_name(kind: &str) -> &'static str {
    match kind {
        "customers" => "customer",
        "products" => "product",
        "prices" => "price",
        "charges" => "charge",
        "refunds" => "refund",
        "subscriptions" => "subscription",
        "invoices" => "invoice",
        _ => "balance_transaction",
    }
}

fn prefix(kind: &str) -> &'static str {
    match kind {
        "customers" => "cus_",
        "products" => "prod_",
        "prices" => "price_",
        "charges" => "ch_",
        "refunds" => "re_",
        "subscriptions" => "sub_",
        "invoices" => "in_",
        "events" => "evt_",
        "lines" => "il_",
        "items" => "si_",
        _ => "txn_",
    }
}

/// The event type family of a kind (`customer.subscription.*` for subscriptions, as Stripe names it).
fn event_family(kind: &str) -> &'static str {
    match kind {
        "subscriptions" => "customer.subscription",
        other => object_name(other),
    }
}

/// The event a new object of `kind` fires: a charge has no `charge.created`, it succeeds (or fails).
fn created_event(kind: &str) -> String {
    match kind {
        "charges" => "charge.succeeded".to_owned(),
        other => format!("{}.created", event_family(other)),
    }
}

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl StripeData {
    fn new(config: &StripeConfig) -> Self {
        let mut data = Self {
            seed: config.seed,
            generation: 0,
            now: config.data_end.timestamp(),
            interval: config.generation_interval.as_secs().max(2) as i64,
            serial: 0,
            volumes: config.volumes.clone(),
            objects: BTreeMap::new(),
            events: Vec::new(),
        };
        let span = 400 * 86_400_i64;
        for kind in KINDS {
            let n = data.volume(kind).initial;
            for i in 0..n {
                // Three objects per second, the newest a second before "now": gte and gt differ.
                let created =
                    data.now - 1 - ((n - 1 - i) as i64 / 3) * (span / n.max(1) as i64).max(1);
                data.create(kind, created);
            }
        }
        data
    }

    fn volume(&self, kind: &str) -> Volume {
        self.volumes.get(kind).copied().unwrap_or(Volume::fixed(0))
    }

    fn id(&mut self, kind: &str) -> (String, u64) {
        self.serial += 1;
        let mut rng = SeededRng::new(self.seed, &[self.serial, 0x5717]);
        let tail: String = (0..14)
            .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char)
            .collect();
        (format!("{}{tail}", prefix(kind)), self.serial)
    }

    fn rng(&self, serial: u64) -> SeededRng {
        SeededRng::new(self.seed, &[serial, u64::from(self.generation)])
    }

    fn pick_id(&self, kind: &str, rng: &mut SeededRng) -> Value {
        let live: Vec<&StoredObject> = self
            .objects
            .get(kind)
            .into_iter()
            .flatten()
            .filter(|o| !o.deleted)
            .collect();
        if live.is_empty() {
            return Value::Null;
        }
        json!(live[rng.below(live.len() as u64) as usize].id)
    }

    fn create(&mut self, kind: &str, created: i64) -> String {
        let (id, serial) = self.id(kind);
        let mut rng = self.rng(serial);
        let amount = rng.between(100, 50_000) as i64;
        let body = match kind {
            "customers" => json!({
                "id": id, "object": "customer", "created": created, "livemode": false,
                "email": format!("customer{serial}@example.com"), "name": format!("Customer {serial}"),
                "description": null, "currency": "usd", "balance": 0, "delinquent": false,
                "address": {"city": "Lisbon", "country": "PT", "line1": format!("Rua {serial}"), "postal_code": "1000-001"},
                "metadata": {},
            }),
            "products" => json!({
                "id": id, "object": "product", "created": created, "updated": created, "livemode": false,
                "name": format!("Product {serial}"), "description": null, "active": true, "metadata": {},
            }),
            "prices" => json!({
                "id": id, "object": "price", "created": created, "livemode": false,
                "product": self.pick_id("products", &mut rng), "active": true, "currency": "usd",
                "unit_amount": amount, "type": "recurring",
                "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
            }),
            "charges" => json!({
                "id": id, "object": "charge", "created": created, "livemode": false,
                "customer": self.pick_id("customers", &mut rng), "amount": amount, "amount_captured": amount,
                "amount_refunded": 0, "currency": "usd", "status": "succeeded", "paid": true,
                "captured": true, "refunded": false, "description": null, "metadata": {},
            }),
            "refunds" => json!({
                "id": id, "object": "refund", "created": created, "charge": self.pick_id("charges", &mut rng),
                "amount": amount / 10, "currency": "usd", "status": "succeeded", "reason": "requested_by_customer",
            }),
            "subscriptions" => {
                let items: Vec<Value> = (0..rng.between(1, 2))
                    .map(|_| {
                        let (item, _) = self.id("items");
                        json!({"id": item, "object": "subscription_item", "created": created,
                               "quantity": rng.between(1, 5), "price": {"id": self.pick_id("prices", &mut rng), "object": "price"}})
                    })
                    .collect();
                json!({
                    "id": id, "object": "subscription", "created": created, "livemode": false,
                    "customer": self.pick_id("customers", &mut rng), "status": "active",
                    "current_period_start": created, "current_period_end": created + 30 * 86_400,
                    "cancel_at_period_end": false, "canceled_at": null, "metadata": {},
                    "items": {"object": "list", "data": items, "has_more": false, "total_count": items.len(),
                              "url": format!("/v1/subscription_items?subscription={id}")},
                })
            }
            "invoices" => {
                let lines: Vec<Value> = (0..rng.between(1, 3))
                    .map(|_| {
                        let (line, _) = self.id("lines");
                        json!({"id": line, "object": "line_item", "amount": rng.between(100, 9_000), "currency": "usd",
                               "description": "1 × Plan", "quantity": rng.between(1, 3),
                               "price": {"id": self.pick_id("prices", &mut rng), "object": "price"},
                               "period": {"start": created, "end": created + 30 * 86_400}})
                    })
                    .collect();
                let total: u64 = lines.iter().filter_map(|l| l["amount"].as_u64()).sum();
                json!({
                    "id": id, "object": "invoice", "created": created, "livemode": false,
                    "customer": self.pick_id("customers", &mut rng), "subscription": self.pick_id("subscriptions", &mut rng),
                    "number": format!("INV-{serial:06}"), "status": "open", "currency": "usd",
                    "amount_due": total, "amount_paid": 0, "total": total, "paid": false,
                    "period_start": created, "period_end": created + 30 * 86_400, "metadata": {},
                    "lines": {"object": "list", "data": lines, "has_more": false, "total_count": lines.len(),
                              "url": format!("/v1/invoices/{id}/lines")},
                })
            }
            _ => json!({
                "id": id, "object": "balance_transaction", "created": created, "available_on": created + 2 * 86_400,
                "amount": amount, "fee": amount * 3 / 100 + 30, "net": amount - (amount * 3 / 100 + 30),
                "currency": "usd", "type": "charge", "status": "available", "source": self.pick_id("charges", &mut rng),
            }),
        };
        let object = StoredObject {
            id: id.clone(),
            serial,
            created,
            deleted: false,
            body,
        };
        if created >= self.now - EVENT_RETENTION_DAYS * 86_400 && kind != "balance_transactions" {
            self.event(&created_event(kind), created, object.body.clone());
        }
        self.objects
            .entry((*kind).to_owned())
            .or_default()
            .push(object);
        id
    }

    fn event(&mut self, kind: &str, created: i64, object: Value) {
        let (id, serial) = self.id("events");
        let body = json!({
            "id": id, "object": "event", "type": kind, "created": created, "livemode": false,
            "api_version": "2022-11-15", "pending_webhooks": 0, "request": {"id": null},
            "data": {"object": object},
        });
        self.events.push(StoredEvent {
            serial,
            created,
            body,
        });
    }

    /// Updates a live object of `kind`; returns its id and the event type.
    fn modify(&mut self, kind: &str, at: i64, rng: &mut SeededRng) -> Option<(String, String)> {
        let live: Vec<usize> = self
            .objects
            .get(kind)?
            .iter()
            .enumerate()
            .filter(|(_, o)| !o.deleted)
            .map(|(i, _)| i)
            .collect();
        if live.is_empty() {
            return None;
        }
        let index = live[rng.below(live.len() as u64) as usize];
        let family = event_family(kind);
        let n = rng.between(1, 1000);
        let object = &mut self.objects.get_mut(kind)?[index];
        let b = &mut object.body;
        let event = match kind {
            "customers" => {
                b["balance"] = json!(n as i64 * -10);
                b["email"] = json!(format!("changed{n}.{}@example.com", object.serial));
                "updated"
            }
            "products" => {
                b["name"] = json!(format!("Product {} v{n}", object.serial));
                b["updated"] = json!(at);
                "updated"
            }
            "prices" => {
                b["active"] = json!(!b["active"].as_bool().unwrap_or(true));
                "updated"
            }
            "charges" => {
                let amount = b["amount"].as_i64().unwrap_or(0);
                b["amount_refunded"] = json!(amount);
                b["refunded"] = json!(true);
                "refunded"
            }
            "refunds" => {
                b["status"] = json!("failed");
                "updated"
            }
            "subscriptions" => {
                if let Some(item) = b["items"]["data"].get_mut(0) {
                    item["quantity"] = json!(n % 9 + 1);
                }
                b["cancel_at_period_end"] = json!(true);
                "updated"
            }
            "invoices" => {
                if let Some(line) = b["lines"]["data"].get_mut(0) {
                    line["quantity"] = json!(n % 7 + 1);
                }
                b["status"] = json!("paid");
                b["paid"] = json!(true);
                b["amount_paid"] = b["amount_due"].clone();
                "paid"
            }
            _ => return None,
        };
        let (id, body) = (object.id.clone(), object.body.clone());
        let kind_name = format!("{family}.{event}");
        self.event(&kind_name, at, body);
        Some((id, kind_name))
    }

    /// Removes a live object the way Stripe does for its kind.
    fn remove(&mut self, kind: &str, at: i64, rng: &mut SeededRng) -> Option<(String, String)> {
        let live: Vec<usize> = self
            .objects
            .get(kind)?
            .iter()
            .enumerate()
            .filter(|(_, o)| {
                !o.deleted && o.body["status"] != "canceled" && o.body["status"] != "void"
            })
            .map(|(i, _)| i)
            .collect();
        if live.is_empty() {
            return None;
        }
        let index = live[rng.below(live.len() as u64) as usize];
        let object = &mut self.objects.get_mut(kind)?[index];
        let event = match kind {
            "customers" | "products" => {
                object.deleted = true;
                "deleted"
            }
            "subscriptions" => {
                object.body["status"] = json!("canceled");
                object.body["canceled_at"] = json!(at);
                "deleted"
            }
            "invoices" => {
                object.body["status"] = json!("void");
                "voided"
            }
            _ => return None,
        };
        let (id, body) = (object.id.clone(), object.body.clone());
        let kind_name = format!("{}.{event}", event_family(kind));
        self.event(&kind_name, at, body);
        Some((id, kind_name))
    }

    /// Live objects of `kind` in creation order (what the warehouse must hold).
    pub fn live(&self, kind: &str) -> impl Iterator<Item = &StoredObject> {
        self.objects
            .get(kind)
            .into_iter()
            .flatten()
            .filter(|o| !o.deleted)
    }

    fn find(&self, kind: &str, id: &str) -> Option<&StoredObject> {
        self.objects.get(kind)?.iter().find(|o| o.id == id)
    }
}

impl Generational for StripeData {
    type Change = Change;

    fn advance_one(&mut self) -> Vec<Change> {
        self.generation += 1;
        let start = self.now;
        self.now += self.interval;
        let mut changes = Vec::new();
        let mut rng = SeededRng::new(self.seed, &[u64::from(self.generation), 0xADD]);
        // Changes land inside the first half of the generation, two per second, so some share a second.
        let (mut tick, half) = (0_i64, self.interval / 2);
        let mut at = move || {
            tick += 1;
            start + 1 + (tick / 2).min(half)
        };
        for kind in KINDS {
            let v = self.volume(kind);
            for _ in 0..v.added_per_generation {
                let id = self.create(kind, at());
                changes.push(((*kind).to_owned(), id, created_event(kind)));
            }
            for _ in 0..v.modified_per_generation {
                if let Some((id, event)) = self.modify(kind, at(), &mut rng) {
                    changes.push(((*kind).to_owned(), id, event));
                }
            }
            for _ in 0..v.removed_per_generation {
                if let Some((id, event)) = self.remove(kind, at(), &mut rng) {
                    changes.push(((*kind).to_owned(), id, event));
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
pub struct StripeState {
    config: StripeConfig,
    control: Arc<SimControl>,
    data: Timeline<StripeData>,
}

/// A running Stripe simulator.
pub type StripeSimulator = Running<StripeState>;

impl Running<StripeState> {
    /// The secret key it accepts.
    pub fn api_key(&self) -> &str {
        &self.state().config.api_key
    }

    /// The live objects of `kind` (a list name), current content.
    pub fn truth(&self, kind: &str) -> Vec<StoredObject> {
        self.data().live(kind).cloned().collect()
    }
}

impl SimulatorHooks for StripeState {
    fn too_many_requests(&self, _retry_after: Duration) -> Response {
        let body = json!({"error": {"type": "invalid_request_error", "code": "rate_limit",
            "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests."}});
        let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert("stripe-should-retry", HeaderValue::from_static("true"));
        response
    }

    fn error_response(&self, status: StatusCode) -> Response {
        let body = json!({"error": {"type": "api_error", "message": "An unknown error occurred"}});
        let mut response = (status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert("stripe-should-retry", HeaderValue::from_static("true"));
        response
    }

    fn not_found(&self) -> Response {
        error(StatusCode::NOT_FOUND, None, "Unrecognized request URL. Please see https://stripe.com/docs or we can help at https://support.stripe.com/.", None)
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

impl ApiSimulator for StripeState {
    type Config = StripeConfig;
    type Data = StripeData;

    fn config(&self) -> &StripeConfig {
        &self.config
    }

    fn timeline(&self) -> &Timeline<StripeData> {
        &self.data
    }

    fn new(config: StripeConfig, control: Arc<SimControl>) -> Self {
        let data = Timeline::new(
            StripeData::new(&config),
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
            .route("/v1/balance", get(balance))
            .route("/v1/{kind}", get(list))
            .route("/v1/{kind}/{id}", get(retrieve))
            .route("/v1/invoices/{id}/lines", get(lines))
            .route_layer(from_fn_with_state(Arc::clone(&state), require_key))
            .with_state(state)
    }

    fn credentials(config: &mut StripeConfig) -> Vec<Credential<'_>> {
        vec![Credential::exact("api_key", &mut config.api_key)]
    }

    fn describe(config: &StripeConfig) -> String {
        let n = |k: &str| config.volumes.get(k).map_or(0, |v| v.initial);
        format!(
            "stripe: {} customers, {} charges, {} invoices",
            n("customers"),
            n("charges"),
            n("invoices")
        )
    }

    fn knobs() -> Vec<Knob> {
        vec![
            Knob::count(
                "customers",
                "/volumes/customers/initial",
                "customers at the start",
            ),
            Knob::count(
                "charges",
                "/volumes/charges/initial",
                "charges at the start",
            ),
            Knob::count(
                "invoices",
                "/volumes/invoices/initial",
                "invoices at the start",
            ),
        ]
    }
}

fn error(status: StatusCode, code: Option<&str>, message: &str, param: Option<&str>) -> Response {
    let mut e = json!({"type": "invalid_request_error", "message": message});
    if let Some(code) = code {
        e["code"] = json!(code);
        e["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    if let Some(param) = param {
        e["param"] = json!(param);
    }
    (status, axum::Json(json!({ "error": e }))).into_response()
}

async fn require_key(
    State(state): State<Arc<StripeState>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .and_then(
            |(scheme, value)| match scheme.to_ascii_lowercase().as_str() {
                "bearer" => Some(value.trim().to_owned()),
                "basic" => {
                    let raw = decode_base64(value.trim())?;
                    let text = String::from_utf8(raw).ok()?;
                    Some(
                        text.split_once(':')
                            .map_or(text.clone(), |(user, _)| user.to_owned()),
                    )
                }
                _ => None,
            },
        );
    match presented {
        Some(key) if key == state.config.api_key => next.run(request).await,
        Some(key) => {
            let tail: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
            error(StatusCode::UNAUTHORIZED, None, &format!("Invalid API Key provided: sk_****{tail}"), None)
        }
        None => error(StatusCode::UNAUTHORIZED, None, "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').", None),
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

async fn balance() -> Response {
    axum::Json(json!({"object": "balance", "livemode": false,
        "available": [{"amount": 0, "currency": "usd"}], "pending": [{"amount": 0, "currency": "usd"}]}))
    .into_response()
}

type Params = Vec<(String, String)>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The `created[...]` bounds as a predicate, or the 400 for a bad value.
fn created_filter(params: &Params) -> Result<impl Fn(i64) -> bool, Box<Response>> {
    let mut bounds = Vec::new();
    for op in ["gte", "gt", "lte", "lt"] {
        if let Some(v) = param(params, &format!("created[{op}]")) {
            let n: i64 = v.parse().map_err(|_| {
                Box::new(error(
                    StatusCode::BAD_REQUEST,
                    Some("parameter_invalid_integer"),
                    "Invalid integer",
                    Some(&format!("created[{op}]")),
                ))
            })?;
            bounds.push((op, n));
        }
    }
    Ok(move |t: i64| {
        bounds.iter().all(|(op, n)| match *op {
            "gte" => t >= *n,
            "gt" => t > *n,
            "lte" => t <= *n,
            _ => t < *n,
        })
    })
}

/// Pages `items` (newest first, each with its (created, serial) key) as Stripe does.
fn page(
    url: &str,
    items: Vec<(i64, u64, String, Value)>,
    params: &Params,
    what: &str,
    all: &dyn Fn(&str) -> Option<(i64, u64)>,
) -> Response {
    let limit = match param(params, "limit") {
        None => 10,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(MAX_LIMIT),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    Some("parameter_invalid_integer"),
                    "Invalid integer",
                    Some("limit"),
                )
            }
        },
    };
    let (after, before) = (
        param(params, "starting_after"),
        param(params, "ending_before"),
    );
    if after.is_some() && before.is_some() {
        return error(
            StatusCode::BAD_REQUEST,
            None,
            "You may only specify one of these parameters: ending_before, starting_after.",
            None,
        );
    }
    let cursor = |id: &str, name: &str| {
        all(id).ok_or_else(|| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                Some("resource_missing"),
                &format!("No such {what}: '{id}'"),
                Some(name),
            ))
        })
    };
    let mut sorted = items;
    sorted.sort_by_key(|x| std::cmp::Reverse((x.0, x.1)));
    let (data, has_more): (Vec<Value>, bool) = if let Some(id) = after {
        let at = match cursor(id, "starting_after") {
            Ok(at) => at,
            Err(r) => return *r,
        };
        let rest: Vec<_> = sorted.into_iter().filter(|x| (x.0, x.1) < at).collect();
        let more = rest.len() > limit;
        (rest.into_iter().take(limit).map(|x| x.3).collect(), more)
    } else if let Some(id) = before {
        let at = match cursor(id, "ending_before") {
            Ok(at) => at,
            Err(r) => return *r,
        };
        let newer: Vec<_> = sorted.into_iter().filter(|x| (x.0, x.1) > at).collect();
        let more = newer.len() > limit;
        let skip = newer.len().saturating_sub(limit);
        (newer.into_iter().skip(skip).map(|x| x.3).collect(), more)
    } else {
        let more = sorted.len() > limit;
        (sorted.into_iter().take(limit).map(|x| x.3).collect(), more)
    };
    axum::Json(json!({"object": "list", "url": url, "has_more": has_more, "data": data}))
        .into_response()
}

async fn list(
    State(state): State<Arc<StripeState>>,
    Path(kind): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let data = state.data.snapshot();
    let created_ok = match created_filter(&params) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let url = format!("/v1/{kind}");
    if kind == "events" {
        let now = state.control.clock().now().timestamp();
        let oldest = now - EVENT_RETENTION_DAYS * 86_400;
        let types: Vec<&str> = params
            .iter()
            .filter(|(k, _)| k == "types[]")
            .map(|(_, v)| v.as_str())
            .collect();
        if types.len() > 20 {
            return error(
                StatusCode::BAD_REQUEST,
                None,
                "You may pass at most 20 types.",
                Some("types"),
            );
        }
        let single = param(&params, "type");
        let matches = |t: &str| {
            (types.is_empty() || types.contains(&t))
                && single.is_none_or(|p| match p.strip_suffix('*') {
                    Some(head) => t.starts_with(head),
                    None => t == p,
                })
        };
        let live = |e: &&StoredEvent| e.created >= oldest && e.created <= now;
        let items = data
            .events
            .iter()
            .filter(live)
            .filter(|e| {
                created_ok(e.created) && matches(e.body["type"].as_str().unwrap_or_default())
            })
            .map(|e| (e.created, e.serial, String::new(), e.body.clone()))
            .collect();
        let all = |id: &str| {
            data.events
                .iter()
                .find(|e| e.body["id"] == id)
                .map(|e| (e.created, e.serial))
        };
        return page(&url, items, &params, "event", &all);
    }
    if !KINDS.contains(&kind.as_str()) {
        return state.not_found();
    }
    let status = param(&params, "status");
    let shown = |o: &&StoredObject| {
        !o.deleted
            && created_ok(o.created)
            && (kind != "subscriptions"
                || match status {
                    Some("all") => true,
                    Some(s) => o.body["status"] == s,
                    None => o.body["status"] != "canceled",
                })
    };
    let items = data
        .objects
        .get(&kind)
        .into_iter()
        .flatten()
        .filter(shown)
        .map(|o| (o.created, o.serial, o.id.clone(), o.body.clone()))
        .collect();
    let all = |id: &str| data.find(&kind, id).map(|o| (o.created, o.serial));
    page(&url, items, &params, object_name(&kind), &all)
}

async fn retrieve(
    State(state): State<Arc<StripeState>>,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    let data = state.data.snapshot();
    if !KINDS.contains(&kind.as_str()) {
        return state.not_found();
    }
    let name = object_name(&kind);
    match data.find(&kind, &id) {
        Some(o) if o.deleted && kind == "customers" => {
            axum::Json(json!({"id": o.id, "object": name, "deleted": true})).into_response()
        }
        Some(o) if !o.deleted => axum::Json(o.body.clone()).into_response(),
        _ => error(
            StatusCode::NOT_FOUND,
            Some("resource_missing"),
            &format!("No such {name}: '{id}'"),
            Some("id"),
        ),
    }
}

async fn lines(
    State(state): State<Arc<StripeState>>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Response {
    let data = state.data.snapshot();
    let Some(invoice) = data.find("invoices", &id) else {
        return error(
            StatusCode::NOT_FOUND,
            Some("resource_missing"),
            &format!("No such invoice: '{id}'"),
            Some("id"),
        );
    };
    let lines: Vec<Value> = invoice.body["lines"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Lines keep their order on the invoice: number them from the top so the newest-first pager keeps it.
    let n = lines.len() as u64;
    let keyed: Vec<(i64, u64, String, Value)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (
                0,
                n - i as u64,
                l["id"].as_str().unwrap_or_default().to_owned(),
                l.clone(),
            )
        })
        .collect();
    let all = |line: &str| keyed.iter().find(|k| k.2 == line).map(|k| (k.0, k.1));
    page(
        &format!("/v1/invoices/{id}/lines"),
        keyed.clone(),
        &params,
        "line item",
        &all,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::Generational;

    #[test]
    fn generations_create_update_and_delete_with_events() {
        let mut data = StripeData::new(&StripeConfig::small());
        let customers = data.live("customers").count();
        let events = data.events.len();
        let changes = data.advance_one();
        assert!(
            changes.iter().any(|c| c.2 == "customer.deleted"),
            "{changes:?}"
        );
        assert!(
            changes
                .iter()
                .any(|c| c.2 == "customer.subscription.deleted"),
            "{changes:?}"
        );
        assert_eq!(data.live("customers").count(), customers + 3 - 1);
        assert_eq!(
            data.events.len(),
            events + changes.len()
                - changes
                    .iter()
                    .filter(|c| c.0 == "balance_transactions")
                    .count()
        );
        // Several objects share a second: gte and gt give different answers.
        let created: Vec<i64> = data.live("charges").map(|o| o.created).collect();
        assert!(created.windows(2).any(|w| w[0] == w[1]));
    }
}
