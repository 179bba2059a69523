//! The Virtuous HTTP surface: routes, bearer auth, paging, envelopes, latency and poison, and
//! the API-specific answers the shared pipeline asks for (429 body, rate-limit headers).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query as QueryString, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::{json, Value};

use crate::simulator::Timeline;
use crate::simulator::{SimControl, SimulatorHooks, WindowStatus};

use super::config::{DeadlineAction, VirtuousConfig};
use super::dataset::{Change, Entity, VirtuousData};
use super::query::{self, QueryError, DATE_OPERATORS, NUMBER_OPERATORS};
use super::records::{render, Rendered, Shape};

/// The largest `take` the API accepts.
pub(crate) const MAX_TAKE: u64 = 1000;
/// `take` when the query string has none.
pub(crate) const DEFAULT_TAKE: u64 = 10;
/// The 401 body, verbatim from the API.
pub(crate) const UNAUTHORIZED_BODY: &str = "Authorization has been denied for this request.";

/// What an advance did: the generation reached and every change, in order.
pub type AdvanceSummary = crate::simulator::AdvanceSummary<Change>;

/// Shared state of a running Virtuous simulator.
pub struct VirtuousState {
    pub(crate) config: VirtuousConfig,
    pub(crate) control: Arc<SimControl>,
    pub(crate) data: Timeline<VirtuousData>,
}

impl VirtuousState {
    pub(crate) fn new(config: VirtuousConfig, control: Arc<SimControl>) -> Self {
        let data = VirtuousData::new(&config);
        Self {
            data: Timeline::new(data, Arc::clone(&control), config.generation_interval),
            config,
            control,
        }
    }

    /// The data as of now; later advances do not change the returned snapshot.
    pub(crate) fn snapshot(&self) -> Arc<VirtuousData> {
        self.data.snapshot()
    }
}

/// The API routes (state applied; the shared server adds the pipeline and control routes).
pub(crate) fn router(state: Arc<VirtuousState>) -> Router {
    let query_route = |entity: Entity, shape: Shape| {
        post(
            move |State(state): State<Arc<VirtuousState>>,
                  QueryString(params): QueryString<Vec<(String, String)>>,
                  body: Bytes| { answer_query(state, params, body, entity, shape) },
        )
    };
    let options_route = |entity: Entity| get(move || async move { query_options(entity) });
    Router::new()
        .route(
            "/api/Contact/Query",
            query_route(Entity::Contact, Shape::Short),
        )
        .route(
            "/api/Contact/Query/FullContact",
            query_route(Entity::Contact, Shape::Full),
        )
        .route("/api/Gift/Query", query_route(Entity::Gift, Shape::Short))
        .route(
            "/api/Gift/Query/FullGift",
            query_route(Entity::Gift, Shape::Full),
        )
        .route(
            "/api/Project/Query",
            query_route(Entity::Project, Shape::Full),
        )
        .route(
            "/api/Campaign/Query",
            query_route(Entity::Campaign, Shape::Full),
        )
        .route("/api/Contact/QueryOptions", options_route(Entity::Contact))
        .route("/api/Gift/QueryOptions", options_route(Entity::Gift))
        .route("/api/Project/QueryOptions", options_route(Entity::Project))
        .route(
            "/api/Campaign/QueryOptions",
            options_route(Entity::Campaign),
        )
        .route(
            "/api/Contact/{id}",
            get(|s, p| single(s, p, Entity::Contact)),
        )
        .route("/api/Gift/{id}", get(|s, p| single(s, p, Entity::Gift)))
        .route_layer(from_fn_with_state(Arc::clone(&state), require_bearer))
        .with_state(state)
}

async fn require_bearer(
    State(state): State<Arc<VirtuousState>>,
    request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    if token == Some(state.config.api_key.as_str()) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        UNAUTHORIZED_BODY,
    )
        .into_response()
}

/// The `{"error":{code,message,details}}` body the API is moving to.
fn error_body(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response {
    let details = match field {
        Some(field) => json!([{"field": field, "code": code, "message": message}]),
        None => json!([]),
    };
    let body = json!({"error": {"code": code, "message": message, "details": details}});
    json_response(status, &body)
}

/// A query's answer: `{"list": [...], "total": N}`.
#[derive(Serialize)]
struct QueryPage {
    list: Vec<Rendered>,
    total: Total,
}

/// `total` as a number, or as the string some Virtuous deployments send.
#[derive(Serialize)]
#[serde(untagged)]
enum Total {
    Number(u64),
    Text(String),
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    bytes_response(status, serde_json::to_vec(body).unwrap_or_default())
}

/// A response of JSON already serialized.
fn bytes_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        bytes,
    )
        .into_response()
}

/// A refused `skip`/`take`, turned into a 400 by the caller.
struct PagingError {
    field: &'static str,
    code: &'static str,
    message: String,
}

impl PagingError {
    fn response(&self) -> Response {
        error_body(
            StatusCode::BAD_REQUEST,
            self.code,
            &self.message,
            Some(self.field),
        )
    }
}

/// Reads `skip` and `take` (names case-insensitive, as ASP.NET binds them).
fn paging(params: &[(String, String)]) -> Result<(u64, u64), PagingError> {
    let read = |name: &'static str, default: u64| -> Result<u64, PagingError> {
        let Some((_, raw)) = params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
        else {
            return Ok(default);
        };
        raw.trim().parse::<u64>().map_err(|_| PagingError {
            field: name,
            code: "BAD_REQUEST",
            message: format!("The value '{raw}' is not valid for {name}."),
        })
    };
    let skip = read("skip", 0)?;
    let take = read("take", DEFAULT_TAKE)?;
    if take > MAX_TAKE {
        return Err(PagingError {
            field: "take",
            code: "OUT_OF_RANGE",
            message: format!("take must be between 0 and {MAX_TAKE}."),
        });
    }
    Ok((skip, take))
}

fn query_error(error: &QueryError) -> Response {
    error_body(
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
        &error.to_string(),
        Some(error.field()),
    )
}

async fn answer_query(
    state: Arc<VirtuousState>,
    params: Vec<(String, String)>,
    body: Bytes,
    entity: Entity,
    shape: Shape,
) -> Response {
    let (skip, take) = match paging(&params) {
        Ok(paging) => paging,
        Err(error) => return error.response(),
    };
    let query = match query::parse(entity, &body, state.config.ignore_unknown_parameters) {
        Ok(query) => query,
        Err(error) => return query_error(&error),
    };
    let data = state.snapshot();
    let poison: Vec<u64> = state
        .config
        .poison
        .iter()
        .filter(|record| record.entity == entity)
        .map(|record| record.id)
        .collect();
    let total_as_string = state.config.total_as_string;
    // Scanning a large date window, rendering and serializing a page are CPU work; keep them off
    // the async workers. `None`: the page holds a poisoned record.
    let answered = tokio::task::spawn_blocking(move || {
        let page = query::execute(&data, entity, &query, skip, take);
        let returned = page.views.len() as u64;
        if page.views.iter().any(|view| poison.contains(&view.id)) {
            return (returned, None);
        }
        let total = if total_as_string {
            Total::Text(page.total.to_string())
        } else {
            Total::Number(page.total)
        };
        let list: Vec<Rendered> = page
            .views
            .iter()
            .map(|view| render(&data, view, shape))
            .collect();
        let body = serde_json::to_vec(&QueryPage { list, total }).unwrap_or_default();
        (returned, Some(body))
    })
    .await;
    let Ok((returned, body)) = answered else {
        return json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"message": "An error has occurred."}),
        );
    };

    let full_records = if shape == Shape::Full { returned } else { 0 };
    if let Some(late) = wait_latency(&state, full_records, skip).await {
        return late;
    }
    match body {
        Some(body) => bytes_response(StatusCode::OK, body),
        None => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"message": "An error has occurred."}),
        ),
    }
}

/// Sleeps the page's latency; past the deadline returns the deadline's failure instead.
async fn wait_latency(state: &VirtuousState, full_records: u64, skip: u64) -> Option<Response> {
    let latency = state.config.latency;
    let cost = latency.cost(full_records, skip);
    let over = latency.deadline.filter(|deadline| cost > *deadline);
    let wait = over.unwrap_or(cost);
    let shutdown = state.control.shutdown_token();
    if !wait.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => return Some(state.error_response(StatusCode::SERVICE_UNAVAILABLE)),
        }
    }
    over?;
    match latency.on_deadline {
        DeadlineAction::Respond(status) => {
            Some(state.error_response(
                StatusCode::from_u16(status).unwrap_or(StatusCode::GATEWAY_TIMEOUT),
            ))
        }
        DeadlineAction::Hang => {
            shutdown.cancelled().await;
            Some(state.error_response(StatusCode::SERVICE_UNAVAILABLE))
        }
    }
}

fn query_options(entity: Entity) -> Response {
    // The real response shape was not in the sources; this one lists what the simulator accepts.
    let options: Vec<Value> = query::parameters(entity)
        .into_iter()
        .map(|(parameter, kind)| {
            let operators = if kind == "Date" {
                DATE_OPERATORS
            } else {
                NUMBER_OPERATORS
            };
            json!({"parameter": parameter, "type": kind, "operators": operators})
        })
        .collect();
    json_response(StatusCode::OK, &json!({"options": options}))
}

async fn single(
    State(state): State<Arc<VirtuousState>>,
    Path(id): Path<String>,
    entity: Entity,
) -> Response {
    let data = state.snapshot();
    let view = id
        .parse::<u64>()
        .ok()
        .and_then(|id| data.index_of(entity, id))
        .map(|index| data.view(entity, index))
        .filter(|view| !view.deleted);
    match view {
        Some(view) => json_response(StatusCode::OK, &render(&data, &view, Shape::Full)),
        None => error_body(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The record was not found.",
            None,
        ),
    }
}

impl SimulatorHooks for VirtuousState {
    fn too_many_requests(&self, retry_after: Duration) -> Response {
        let mut response = error_body(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "API rate limit exceeded.",
            None,
        );
        let seconds = retry_after.as_secs().max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        response
    }

    fn error_response(&self, status: StatusCode) -> Response {
        if status == StatusCode::GATEWAY_TIMEOUT {
            // A gateway's page, not the application's JSON: the app never answered.
            return (
                status,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body><h1>504 Gateway Time-out</h1>The server didn't respond in time.</body></html>",
            )
                .into_response();
        }
        json_response(status, &json!({"message": "An error has occurred."}))
    }

    fn not_found(&self) -> Response {
        json_response(
            StatusCode::NOT_FOUND,
            &json!({"message": "No HTTP resource was found that matches the request URI."}),
        )
    }

    fn rate_limit_headers(&self, window: &WindowStatus, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(window.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(window.remaining));
        headers.insert(
            "x-ratelimit-reset",
            HeaderValue::from(window.reset_at.timestamp()),
        );
    }

    fn advance(&self, generations: u32) -> Value {
        serde_json::to_value(self.data.advance(generations)).unwrap_or_default()
    }

    fn info(&self) -> Value {
        let data = self.snapshot();
        let counts: serde_json::Map<String, Value> = Entity::ALL
            .iter()
            .map(|entity| (format!("{entity:?}"), json!(data.count(*entity))))
            .collect();
        json!({
            "simulator": "virtuous",
            "seed": self.config.seed,
            "generation": data.generation(),
            "data_now": data.data_now(),
            "records_ever_created": counts,
            "config": self.config,
        })
    }
}
