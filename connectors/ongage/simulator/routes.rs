//! The OnGage HTTP surface: routes, underscore-header auth, the `metadata`/`payload` envelope,
//! list resolution, the search state machine over HTTP, CSV export, and the API-specific
//! answers the shared pipeline asks for (the documented 429 body).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query as QueryString, Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use serde_json::{json, Value};

use crate::simulator::Timeline;
use crate::simulator::{rng, SimControl, SimulatorHooks};

use super::config::{ExportDates, OngageConfig, TotalEncoding};
use super::dataset::{ContactChange, OngageData};
use super::records::{contact_json, csv_row, list_counts, list_json, ListCounts, CSV_COLUMNS};
use super::search::{self, SearchQuery};

/// The header names OnGage authenticates with (hyper stores names lower-cased).
pub(crate) const AUTH_HEADERS: [&str; 3] = ["x_username", "x_password", "x_account_code"];
/// The documented 429 body.
pub(crate) const RATE_LIMIT_BODY: &str = r#"{"metadata":{"error":true},"payload":{"code":429,"errors":[],"message":"Calls per minute exceeded"}}"#;
/// Candidate contacts examined per CSV chunk.
const EXPORT_CHUNK: u64 = 2_000;
/// Search ids start here, so they never look like list ids.
const FIRST_SEARCH_ID: u64 = 5_000_001;

/// What an advance did: the generation reached and every change, in order.
pub type AdvanceSummary = crate::simulator::AdvanceSummary<ContactChange>;

/// The search statuses of `GET .../contact_search/{id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SearchStatus {
    /// 1: still running.
    Pending,
    /// 2: results can be exported.
    Completed,
    /// 3: failed (undocumented value the seed connector handles).
    Failed,
}

impl SearchStatus {
    fn code(self) -> u8 {
        match self {
            SearchStatus::Pending => 1,
            SearchStatus::Completed => 2,
            SearchStatus::Failed => 3,
        }
    }

    fn description(self) -> &'static str {
        match self {
            SearchStatus::Pending => "Pending",
            SearchStatus::Completed => "Completed",
            SearchStatus::Failed => "Failed",
        }
    }
}

/// One search and its fate, fixed when it was created.
pub(crate) struct SearchRecord {
    pub(crate) id: u64,
    pub(crate) list_id: u64,
    pub(crate) title: String,
    pub(crate) created: i64,
    /// The data as of creation: later `advance`s do not change a search's results.
    data: Arc<OngageData>,
    query: SearchQuery,
    /// Matching contacts (capped just above the never-complete threshold).
    pub(crate) matches: u64,
    never_completes: bool,
    pending_polls: u32,
    fails: bool,
    polls: AtomicU32,
}

impl SearchRecord {
    fn status_after(&self, polls: u32) -> SearchStatus {
        if self.never_completes || polls <= self.pending_polls {
            SearchStatus::Pending
        } else if self.fails {
            SearchStatus::Failed
        } else {
            SearchStatus::Completed
        }
    }

    /// The status a poll now returns (counts the poll).
    fn poll(&self) -> SearchStatus {
        self.status_after(self.polls.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// The status without counting a poll (listings).
    pub(crate) fn status(&self) -> SearchStatus {
        self.status_after(self.polls.load(Ordering::SeqCst))
    }

    fn payload(&self, status: SearchStatus) -> Value {
        json!({
            "id": self.id,
            "list_id": self.list_id,
            "title": self.title,
            "status": status.code(),
            "status_desc": status.description(),
            "created": self.created,
        })
    }
}

/// Shared state of a running OnGage simulator.
pub struct OngageState {
    pub(crate) config: OngageConfig,
    pub(crate) control: Arc<SimControl>,
    pub(crate) data: Timeline<OngageData>,
    searches: Mutex<Vec<Arc<SearchRecord>>>,
    counts: Mutex<HashMap<(u64, u32), ListCounts>>,
}

impl OngageState {
    pub(crate) fn new(config: OngageConfig, control: Arc<SimControl>) -> Self {
        let data = OngageData::new(&config);
        Self {
            data: Timeline::new(data, Arc::clone(&control), config.generation_interval),
            config,
            control,
            searches: Mutex::new(Vec::new()),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// The data as of now; later advances do not change the returned snapshot.
    pub(crate) fn snapshot(&self) -> Arc<OngageData> {
        self.data.snapshot()
    }

    /// Every search so far, oldest first.
    pub(crate) fn searches(&self) -> Vec<Arc<SearchRecord>> {
        self.searches
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn search(&self, id: u64) -> Option<Arc<SearchRecord>> {
        self.searches().into_iter().find(|search| search.id == id)
    }

    fn counts(&self, data: &OngageData, list_id: u64) -> ListCounts {
        let key = (list_id, data.generation());
        if let Some(counts) = self
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return *counts;
        }
        let counts = data
            .table(list_id)
            .map(|table| list_counts(data, table))
            .unwrap_or_default();
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, counts);
        counts
    }

    fn total(&self, listing: bool, total: u64) -> Value {
        let as_string = match self.config.total_encoding {
            TotalEncoding::String => true,
            TotalEncoding::Number => false,
            TotalEncoding::PerEndpoint => listing,
        };
        if as_string {
            json!(total.to_string())
        } else {
            json!(total)
        }
    }
}

type Shared = State<Arc<OngageState>>;
type Params = QueryString<Vec<(String, String)>>;

/// The API routes (state applied; the shared server adds the pipeline and control routes).
/// List-scoped endpoints exist both as `/api/...` and `/{list_id}/api/...`.
pub(crate) fn router(state: Arc<OngageState>) -> Router {
    let mut router = Router::new()
        .route("/api/lists", get(lists))
        .route("/api/lists/{id}", get(one_list));
    for prefix in ["", "/{list_id}"] {
        router = router
            .route(&format!("{prefix}/api/list_fields"), get(list_fields))
            .route(
                &format!("{prefix}/api/contact_search"),
                get(list_searches).post(create_search),
            )
            .route(
                &format!("{prefix}/api/contact_search/{{search_id}}"),
                get(search_status),
            )
            .route(
                &format!("{prefix}/api/contact_search/{{search_id}}/export"),
                get(export),
            )
            .route(
                &format!("{prefix}/api/contact_search/{{search_id}}/result"),
                get(result),
            )
            .route(
                &format!("{prefix}/api/contacts/by_id/{{contact_id}}"),
                get(contact_by_id),
            );
    }
    router
        .route_layer(from_fn_with_state(Arc::clone(&state), require_credentials))
        .with_state(state)
}

async fn require_credentials(State(state): Shared, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let expected = [
        state.config.username.as_str(),
        state.config.password.as_str(),
        state.config.account_code.as_str(),
    ];
    let valid = AUTH_HEADERS.iter().zip(expected).all(|(name, expected)| {
        headers
            .get(*name)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value == expected)
    });
    if valid {
        next.run(request).await
    } else {
        failure(StatusCode::UNAUTHORIZED, "Unauthorized")
    }
}

fn envelope(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(body).unwrap_or_default(),
    )
        .into_response()
}

/// A success envelope; `total` goes into `metadata` when given.
fn success(payload: Value, total: Option<Value>) -> Response {
    let metadata = match total {
        Some(total) => json!({"error": false, "total": total}),
        None => json!({"error": false}),
    };
    envelope(
        StatusCode::OK,
        &json!({"metadata": metadata, "payload": payload}),
    )
}

/// An error envelope: `{"metadata":{"error":true},"payload":{code, errors, message}}`.
fn failure(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "metadata": {"error": true},
        "payload": {"code": status.as_u16(), "errors": [], "message": message},
    });
    envelope(status, &body)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn number_param(params: &[(String, String)], name: &str, default: u64) -> u64 {
    param(params, name)
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(default)
}

fn id_value(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// The path's list segment: `Ok(None)` for `/api/...`, `Err` for a non-numeric segment.
fn path_list(uri: &Uri) -> Result<Option<u64>, ()> {
    let first = uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    if first == "api" {
        return Ok(None);
    }
    first.parse().map(Some).map_err(|_| ())
}

/// The list a call uses, highest precedence first: `list_id` in the JSON body, `?list_id=`,
/// the path segment, the account's default list.
fn resolve_list(uri: &Uri, params: &[(String, String)], body: Option<&Value>) -> Option<u64> {
    let from_body = body.and_then(|body| body.get("list_id")).and_then(id_value);
    let from_query = param(params, "list_id").and_then(|value| value.trim().parse().ok());
    let from_path = path_list(uri).ok()?;
    from_body.or(from_query).or(from_path)
}

/// The segment after `marker` in the path (`contact_search/{id}`).
fn segment_after(uri: &Uri, marker: &str) -> Option<String> {
    let mut segments = uri.path().split('/');
    segments.find(|segment| *segment == marker)?;
    segments.next().map(str::to_owned)
}

fn sorted_page<T>(
    mut items: Vec<T>,
    params: &[(String, String)],
    key: impl Fn(&T, &str) -> Value,
) -> (u64, Vec<T>) {
    let sort = param(params, "sort").unwrap_or("id").to_owned();
    let descending = param(params, "order").is_some_and(|order| order.eq_ignore_ascii_case("desc"));
    items.sort_by(|a, b| compare(&key(a, &sort), &key(b, &sort)));
    if descending {
        items.reverse();
    }
    let total = items.len() as u64;
    let offset = number_param(params, "offset", 0) as usize;
    let limit = number_param(params, "limit", 50) as usize;
    (total, items.into_iter().skip(offset).take(limit).collect())
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

async fn lists(State(state): Shared, QueryString(params): Params) -> Response {
    let worker = Arc::clone(&state);
    let records = tokio::task::spawn_blocking(move || {
        let data = worker.snapshot();
        data.lists
            .iter()
            .filter_map(|spec| {
                let table = data.table(spec.id)?;
                let counts = worker.counts(&data, spec.id);
                Some(list_json(&data, table, counts, worker.config.account_id))
            })
            .collect::<Vec<Value>>()
    })
    .await
    .unwrap_or_default();
    let name = param(&params, "name").map(str::to_lowercase);
    let kind = param(&params, "type").map(str::to_owned);
    let filtered: Vec<Value> = records
        .into_iter()
        .filter(|list| {
            name.as_deref().is_none_or(|name| {
                list["name"]
                    .as_str()
                    .is_some_and(|n| n.to_lowercase().contains(name))
            }) && kind.as_deref().is_none_or(|kind| list["type"] == kind)
        })
        .collect();
    let (total, page) = sorted_page(filtered, &params, |list, sort| list[sort].clone());
    success(Value::Array(page), Some(state.total(true, total)))
}

async fn one_list(State(state): Shared, uri: Uri) -> Response {
    let Some(list_id) = segment_after(&uri, "lists").and_then(|id| id.parse::<u64>().ok()) else {
        return failure(StatusCode::NOT_FOUND, "List not found");
    };
    let worker = Arc::clone(&state);
    let record = tokio::task::spawn_blocking(move || {
        let data = worker.snapshot();
        let table = data.table(list_id)?;
        let counts = worker.counts(&data, list_id);
        Some(list_json(&data, table, counts, worker.config.account_id))
    })
    .await
    .ok()
    .flatten();
    match record {
        Some(record) => success(record, None),
        None => failure(StatusCode::NOT_FOUND, "List not found"),
    }
}

async fn list_fields(State(state): Shared, uri: Uri, QueryString(params): Params) -> Response {
    let data = state.snapshot();
    let list_id = resolve_list(&uri, &params, None).or(state.config.default_list());
    let Some(spec) = list_id.and_then(|id| data.lists.iter().find(|list| list.id == id)) else {
        return failure(StatusCode::NOT_FOUND, "List not found");
    };
    let created = spec.first_contact.timestamp() - 30 * 86_400;
    let fields: Vec<Value> = ["email", "first_name", "last_name", "gender", "country", "address", "phone", "language", "ip", "os", "product_id"]
        .iter()
        .enumerate()
        .map(|(position, name)| {
            json!({
                "id": spec.id * 100 + position as u64,
                "list_id": spec.id,
                "name": name,
                "title": name.replace('_', " "),
                "type": if *name == "email" { "email" } else if *name == "product_id" { "numeric" } else { "string" },
                "mandatory": *name == "email",
                "primary": *name == "email",
                "default_value": null,
                "created": created,
                "modified": created,
            })
        })
        .collect();
    let total = fields.len() as u64;
    success(Value::Array(fields), Some(state.total(false, total)))
}

async fn create_search(
    State(state): Shared,
    uri: Uri,
    QueryString(params): Params,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return failure(StatusCode::BAD_REQUEST, "invalid search body");
    };
    let query = match search::parse(&body) {
        Ok(query) => query,
        Err(error) => return failure(StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let list_id = resolve_list(&uri, &params, Some(&body)).or(state.config.default_list());
    let data = state.snapshot();
    let Some(list_id) = list_id.filter(|id| data.table(*id).is_some()) else {
        return failure(StatusCode::NOT_FOUND, "List not found");
    };
    let behaviour = state.config.search.clone();
    let cap = behaviour
        .never_complete_above
        .map_or(u64::MAX, |limit| limit.saturating_add(1));
    let worker_data = Arc::clone(&data);
    let worker_query = query.clone();
    let matches = tokio::task::spawn_blocking(move || {
        let table = worker_data.table(list_id).expect("checked above");
        worker_query.count(&worker_data, table, cap)
    })
    .await
    .unwrap_or_default();

    let record = {
        let mut searches = state.searches.lock().unwrap_or_else(|p| p.into_inner());
        let number = searches.len() as u64 + 1;
        let id = FIRST_SEARCH_ID + number - 1;
        let extra = match behaviour.matches_per_extra_poll {
            0 => 0,
            per => u32::try_from(matches / per).unwrap_or(u32::MAX),
        };
        let draw = rng::unit(rng::hash(
            state.config.seed,
            &[rng::tag(b"search-fails"), number],
        ));
        let record = Arc::new(SearchRecord {
            id,
            list_id,
            title: body
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            created: state.control.clock().now().timestamp(),
            data,
            query,
            matches,
            never_completes: behaviour
                .never_complete_above
                .is_some_and(|limit| matches > limit),
            pending_polls: behaviour.base_polls.saturating_add(extra),
            fails: behaviour.fail_searches.contains(&number) || draw < behaviour.failure_rate,
            polls: AtomicU32::new(0),
        });
        searches.push(Arc::clone(&record));
        record
    };
    success(record.payload(SearchStatus::Pending), None)
}

/// Why a search cannot be used; each becomes an error envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SearchUnavailable {
    Unknown,
    Pending,
    Failed,
}

impl SearchUnavailable {
    fn response(self) -> Response {
        match self {
            SearchUnavailable::Unknown => failure(StatusCode::NOT_FOUND, "Search not found"),
            SearchUnavailable::Pending => {
                failure(StatusCode::BAD_REQUEST, "Search is still pending")
            }
            SearchUnavailable::Failed => failure(StatusCode::BAD_REQUEST, "Search failed"),
        }
    }
}

fn find_search(state: &OngageState, uri: &Uri) -> Result<Arc<SearchRecord>, SearchUnavailable> {
    segment_after(uri, "contact_search")
        .and_then(|id| id.parse::<u64>().ok())
        .and_then(|id| state.search(id))
        .ok_or(SearchUnavailable::Unknown)
}

async fn search_status(State(state): Shared, uri: Uri) -> Response {
    match find_search(&state, &uri) {
        Ok(search) => success(search.payload(search.poll()), None),
        Err(unavailable) => unavailable.response(),
    }
}

async fn list_searches(State(state): Shared, uri: Uri, QueryString(params): Params) -> Response {
    let only_list = path_list(&uri)
        .ok()
        .flatten()
        .or_else(|| param(&params, "list_id").and_then(|value| value.trim().parse().ok()));
    let items: Vec<Value> = state
        .searches()
        .iter()
        .filter(|search| only_list.is_none_or(|list| search.list_id == list))
        .map(|search| search.payload(search.status()))
        .collect();
    let (total, page) = sorted_page(items, &params, |item, sort| item[sort].clone());
    success(Value::Array(page), Some(state.total(true, total)))
}

fn completed_search(
    state: &OngageState,
    uri: &Uri,
) -> Result<Arc<SearchRecord>, SearchUnavailable> {
    let search = find_search(state, uri)?;
    match search.status() {
        SearchStatus::Completed => Ok(search),
        SearchStatus::Pending => Err(SearchUnavailable::Pending),
        SearchStatus::Failed => Err(SearchUnavailable::Failed),
    }
}

async fn export(State(state): Shared, uri: Uri) -> Response {
    let search = match completed_search(&state, &uri) {
        Ok(search) => search,
        Err(unavailable) => return unavailable.response(),
    };
    let dates = state.config.export_dates;
    let range = {
        let table = search
            .data
            .table(search.list_id)
            .expect("search lists exist");
        search.query.candidates(&search.data, table)
    };
    let start = (search, range.start, range.end, false);
    let chunks = futures::stream::unfold(start, move |(search, next, end, started)| async move {
        if started && next >= end {
            return None;
        }
        let worker = Arc::clone(&search);
        let (bytes, after) =
            tokio::task::spawn_blocking(move || csv_chunk(&worker, next, end, !started, dates))
                .await
                .ok()?;
        Some((
            Ok::<Bytes, std::io::Error>(bytes),
            (search, after, end, true),
        ))
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"contact_search.csv\"",
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}

/// CSV for matches among candidates `next..end` (at most [`EXPORT_CHUNK`] examined), with the
/// header row first when asked; returns the bytes and where to continue.
fn csv_chunk(
    search: &SearchRecord,
    next: u64,
    end: u64,
    header: bool,
    dates: ExportDates,
) -> (Bytes, u64) {
    let data = &search.data;
    let table = data.table(search.list_id).expect("search lists exist");
    let mut writer = csv::Writer::from_writer(Vec::new());
    if header {
        let _ = writer.write_record(CSV_COLUMNS);
    }
    let stop = end.min(next.saturating_add(EXPORT_CHUNK));
    for index in next..stop {
        let view = data.view(table, index);
        if search.query.admits(data, table, &view) {
            let _ = writer.write_record(csv_row(data, table, &view, dates));
        }
    }
    (Bytes::from(writer.into_inner().unwrap_or_default()), stop)
}

async fn result(State(state): Shared, uri: Uri, QueryString(params): Params) -> Response {
    let search = match completed_search(&state, &uri) {
        Ok(search) => search,
        Err(unavailable) => return unavailable.response(),
    };
    let offset = number_param(&params, "offset", 0);
    let limit = number_param(&params, "limit", 50).min(1000);
    let worker = Arc::clone(&search);
    let page = tokio::task::spawn_blocking(move || {
        let data = &worker.data;
        let table = data.table(worker.list_id).expect("search lists exist");
        worker
            .query
            .candidates(data, table)
            .map(|index| data.view(table, index))
            .filter(|view| worker.query.admits(data, table, view))
            .skip(offset as usize)
            .take(limit as usize)
            .map(|view| contact_json(data, table, &view))
            .collect::<Vec<Value>>()
    })
    .await
    .unwrap_or_default();
    success(Value::Array(page), Some(state.total(false, search.matches)))
}

async fn contact_by_id(State(state): Shared, uri: Uri, QueryString(params): Params) -> Response {
    let data = state.snapshot();
    let list_id = resolve_list(&uri, &params, None).or(state.config.default_list());
    let found = list_id.and_then(|list_id| {
        let table = data.table(list_id)?;
        let id = segment_after(&uri, "by_id")?;
        let index = data.index_of(table, &id)?;
        Some(contact_json(&data, table, &data.view(table, index)))
    });
    match found {
        Some(contact) => success(contact, None),
        None => failure(StatusCode::NOT_FOUND, "Contact not found"),
    }
}

impl SimulatorHooks for OngageState {
    fn too_many_requests(&self, _retry_after: Duration) -> Response {
        // No Retry-After: OnGage documents none, only the body.
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "application/json")],
            RATE_LIMIT_BODY,
        )
            .into_response()
    }

    fn error_response(&self, status: StatusCode) -> Response {
        failure(status, status.canonical_reason().unwrap_or("Error"))
    }

    fn not_found(&self) -> Response {
        failure(StatusCode::NOT_FOUND, "Not Found")
    }

    fn secret_headers(&self) -> &'static [&'static str] {
        &[
            "x_username",
            "x_password",
            "x_account_code",
            "authorization",
        ]
    }

    fn advance(&self, generations: u32) -> Value {
        serde_json::to_value(self.data.advance(generations)).unwrap_or_default()
    }

    fn info(&self) -> Value {
        let data = self.snapshot();
        let lists: Vec<Value> = data
            .lists
            .iter()
            .map(|list| json!({"id": list.id, "contacts_ever_created": data.count(list.id)}))
            .collect();
        json!({
            "simulator": "ongage",
            "seed": self.config.seed,
            "generation": data.generation(),
            "data_now": data.data_now(),
            "lists": lists,
            "searches": self.searches().len(),
            "config": self.config,
        })
    }
}
