//! The SA360 HTTP surface: the OAuth token endpoint, bearer auth and `request-id`s, customer
//! access through the manager hierarchy and `login-customer-id`, `search` and `searchStream`,
//! custom columns, query quotas, and the API-specific answers the shared pipeline asks for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::simulator::oauth::{OAuthClient, OAuthTokens, RefreshRejection, TokenStatus};
use crate::simulator::rng::{self, tag};
use crate::simulator::Timeline;
use crate::simulator::{RateDecision, RateLimitConfig, RateLimiter, SimControl, SimulatorHooks};

use super::config::{Sa360Config, StreamFailure};
use super::dataset::{enabled, Change, Kind, Sa360Data};
use super::errors::{json_response, oauth_error, ApiError, Sa360Error};
use super::paging::{self, base64url, Cursor, Cursors, Execution, SummarySetting, TokenProblem};
use super::plan;
use super::records;

/// What an advance did: the generation reached and every change, in order.
pub type AdvanceSummary = crate::simulator::AdvanceSummary<Change>;

/// The OAuth scope the simulated refresh token carries.
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/doubleclicksearch";

/// This request's id (also in the `request-id` header).
#[derive(Debug, Clone)]
pub(crate) struct RequestId(Arc<str>);

/// Shared state of a running SA360 simulator.
pub struct Sa360State {
    pub(crate) config: Sa360Config,
    pub(crate) control: Arc<SimControl>,
    pub(crate) data: Timeline<Sa360Data>,
    pub(crate) tokens: OAuthTokens,
    cursors: Mutex<Cursors>,
    per_minute: RateLimiter,
    per_day: RateLimiter,
    requests: AtomicU64,
    pub(crate) queries: AtomicU64,
    pub(crate) pages: AtomicU64,
    pub(crate) streams: AtomicU64,
    stream_failures: Mutex<Vec<StreamFailure>>,
}

fn quota(limit: Option<u32>, window_seconds: u64) -> RateLimitConfig {
    RateLimitConfig {
        limit,
        window_seconds,
        max_concurrent: None,
    }
}

impl Sa360State {
    pub(crate) fn new(config: Sa360Config, control: Arc<SimControl>) -> Self {
        let client = OAuthClient {
            client_id: config.credentials.client_id.clone(),
            client_secret: config.credentials.client_secret.clone(),
            refresh_token: config.credentials.refresh_token.clone(),
        };
        Self {
            data: Timeline::new(
                Sa360Data::new(&config),
                Arc::clone(&control),
                Duration::from_secs(86_400),
            ),
            tokens: OAuthTokens::new(
                config.seed,
                "ya29.sim-",
                client,
                Duration::from_secs(config.token_lifetime_seconds),
            ),
            cursors: Mutex::new(Cursors::new(config.seed)),
            per_minute: RateLimiter::new(quota(config.limits.queries_per_minute, 60)),
            per_day: RateLimiter::new(quota(config.limits.queries_per_day, 86_400)),
            requests: AtomicU64::new(0),
            queries: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            streams: AtomicU64::new(0),
            stream_failures: Mutex::new(config.stream_failures.clone()),
            config,
            control,
        }
    }

    /// The data as of now; later advances do not change the returned snapshot.
    pub(crate) fn snapshot(&self) -> Arc<Sa360Data> {
        self.data.snapshot()
    }

    /// Replaces the query quotas (and starts fresh windows).
    pub(crate) fn set_query_quota(&self, per_minute: Option<u32>, per_day: Option<u32>) {
        self.per_minute.configure(quota(per_minute, 60));
        self.per_day.configure(quota(per_day, 86_400));
    }

    /// Scripts the next `searchStream` to fail after `batches` batches.
    pub(crate) fn fail_next_stream(&self, after_batches: u32) {
        let stream = self.streams.load(Ordering::SeqCst) + 1;
        self.stream_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(StreamFailure {
                stream,
                after_batches,
            });
    }

    fn next_request_id(&self) -> RequestId {
        let n = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let mut bytes = [0u8; 16];
        bytes[..8]
            .copy_from_slice(&rng::hash(self.config.seed, &[tag(b"request-id"), n]).to_le_bytes());
        bytes[8..].copy_from_slice(
            &rng::hash(self.config.seed, &[tag(b"request-id-2"), n]).to_le_bytes(),
        );
        RequestId(base64url(&bytes).into())
    }

    /// Spends one query of quota, or says which window is spent.
    fn admit_query(&self) -> Result<(), ApiError> {
        let now = self.control.clock().now();
        for (limiter, name) in [
            (&self.per_minute, "Queries per minute per project"),
            (&self.per_day, "Queries per day per project"),
        ] {
            if let Some(status) = limiter.status(now) {
                if status.remaining == 0 {
                    return Err(ApiError::quota(name, status.retry_after(now)));
                }
            }
        }
        for limiter in [&self.per_minute, &self.per_day] {
            if let RateDecision::OverBudget(status) = limiter.check(now, 0) {
                return Err(ApiError::quota(
                    "Queries per minute per project",
                    status.retry_after(now),
                ));
            }
        }
        self.queries.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// The account (index) a call for customer `raw_id` may act on, given `login-customer-id`.
    fn authorize(
        &self,
        data: &Sa360Data,
        raw_id: &str,
        headers: &HeaderMap,
    ) -> Result<usize, ApiError> {
        let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        if !digits(raw_id) {
            return Err(ApiError::request(
                "INVALID_CUSTOMER_ID",
                format!("Invalid customer ID '{raw_id}'."),
            ));
        }
        let denied = || {
            ApiError::permission(
                "USER_PERMISSION_DENIED",
                "User doesn't have permission to access customer. Note: If you're accessing a client customer, the manager's customer id must be set in the 'login-customer-id' header. See https://developers.google.com/search-ads/reporting/concepts/call-structure#login_customer_id_header",
            )
        };
        let target = raw_id
            .parse()
            .ok()
            .and_then(|id| data.account_index(id))
            .ok_or_else(denied)?;
        let accessible: Vec<usize> = self
            .config
            .accessible_customers
            .iter()
            .filter_map(|id| data.account_index(*id))
            .collect();
        let reachable = |account: usize| {
            accessible
                .iter()
                .any(|root| data.is_at_or_above(*root, account))
        };
        match headers.get("login-customer-id") {
            None => {
                if !accessible.contains(&target) {
                    return Err(denied());
                }
            }
            Some(value) => {
                let login = value.to_str().unwrap_or_default().trim();
                if !digits(login) {
                    return Err(ApiError::invalid(Sa360Error::new(
                        "headerError",
                        "INVALID_LOGIN_CUSTOMER_ID",
                        "The login customer ID could not be validated.",
                    )));
                }
                let login = login
                    .parse()
                    .ok()
                    .and_then(|id| data.account_index(id))
                    .filter(|account| reachable(*account))
                    .ok_or_else(denied)?;
                if !data.is_at_or_above(login, target) {
                    return Err(ApiError::permission(
                        "INVALID_LOGIN_CUSTOMER_ID_SERVING_CUSTOMER_ID_COMBINATION",
                        "The login customer specified does not have access to the account specified, so the request is invalid.",
                    ));
                }
            }
        }
        if !enabled(&data.accounts[target]) {
            return Err(ApiError::permission(
                "CUSTOMER_NOT_ENABLED",
                "The customer account can't be accessed because it is not yet enabled or has been deactivated.",
            ));
        }
        Ok(target)
    }
}

type Shared = State<Arc<Sa360State>>;

/// The API routes (state applied; the shared server adds the pipeline and control routes).
pub(crate) fn router(state: Arc<Sa360State>) -> Router {
    Router::new()
        .route("/oauth2/v3/token", post(token))
        .route("/token", post(token))
        .route(
            "/v0/customers:listAccessibleCustomers",
            get(list_accessible),
        )
        .route(
            "/v0/customers/{customer_id}/searchAds360:search",
            post(search),
        )
        .route(
            "/v0/customers/{customer_id}/searchAds360:searchStream",
            post(search_stream),
        )
        .route(
            "/v0/customers/{customer_id}/customColumns",
            get(list_custom_columns),
        )
        .route(
            "/v0/customers/{customer_id}/customColumns/{column_id}",
            get(get_custom_column),
        )
        .route_layer(from_fn_with_state(Arc::clone(&state), gate))
        .with_state(state)
}

/// Gives every call a `request-id` and checks the bearer token of API calls.
async fn gate(State(state): Shared, mut request: Request, next: Next) -> Response {
    let id = state.next_request_id();
    let path = request.uri().path().to_owned();
    let streamed = path.ends_with(":searchStream");
    let mut response = if path.starts_with("/v0/") {
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let refused = match state
            .tokens
            .check(authorization, state.control.clock().now())
        {
            TokenStatus::Valid => None,
            TokenStatus::Missing => Some(ApiError::missing_credential()),
            TokenStatus::Malformed => Some(ApiError::unauthenticated(
                "OAUTH_TOKEN_HEADER_INVALID",
                "OAuth token HTTP header is malformed.",
            )),
            TokenStatus::Unknown => Some(ApiError::unauthenticated(
                "OAUTH_TOKEN_INVALID",
                "OAuth token in the header is not valid.",
            )),
            TokenStatus::Expired => Some(ApiError::unauthenticated(
                "OAUTH_TOKEN_EXPIRED",
                "OAuth token in the header has expired.",
            )),
        };
        match refused {
            Some(error) => error.response(&id.0, streamed),
            None => {
                request.extensions_mut().insert(id.clone());
                next.run(request).await
            }
        }
    } else {
        next.run(request).await
    };
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert("request-id", value);
    }
    response
}

async fn token(State(state): Shared, body: Bytes) -> Response {
    match state.tokens.refresh(&body, state.control.clock().now()) {
        Ok(issued) => {
            let mut response = json_response(
                StatusCode::OK,
                &json!({
                    "access_token": issued.access_token,
                    "expires_in": issued.expires_in,
                    "scope": SCOPE,
                    "token_type": "Bearer",
                }),
            );
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, no-store, max-age=0, must-revalidate"),
            );
            response
        }
        Err(RefreshRejection::MissingParameter(name)) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("Missing required parameter: {name}"),
        ),
        Err(RefreshRejection::UnsupportedGrantType(grant)) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {grant}"),
        ),
        Err(RefreshRejection::UnknownClient) => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        ),
        Err(RefreshRejection::WrongClientSecret) => {
            oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized")
        }
        Err(RefreshRejection::InvalidGrant) => {
            oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad Request")
        }
    }
}

async fn list_accessible(State(state): Shared) -> Response {
    let names: Vec<String> = state
        .config
        .accessible_customers
        .iter()
        .map(|id| format!("customers/{id}"))
        .collect();
    json_response(StatusCode::OK, &json!({ "resourceNames": names }))
}

/// A custom column as `customColumns` serves it.
pub(crate) fn custom_column_json(customer_id: u64, index: usize, id: u64) -> Value {
    let (name, description, value_type, render) = records::custom_column(index);
    json!({
        "resourceName": format!("customers/{customer_id}/customColumns/{id}"),
        "id": id.to_string(),
        "name": name,
        "description": description,
        "valueType": value_type,
        "referencesMetrics": true,
        "queryable": true,
        "referencedSystemColumns": ["metrics.conversions_value", "metrics.cost_micros"],
        "renderType": render,
    })
}

async fn list_custom_columns(
    State(state): Shared,
    Path(customer_id): Path<String>,
    Extension(id): Extension<RequestId>,
    headers: HeaderMap,
) -> Response {
    let data = state.snapshot();
    match state.authorize(&data, &customer_id, &headers) {
        Err(error) => error.response(&id.0, false),
        Ok(account) => {
            let cid = data.accounts[account].spec.id;
            let columns: Vec<Value> = data
                .client_of(account)
                .map(|client| client.table(Kind::CustomColumn))
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(index, column)| custom_column_json(cid, index, column.id))
                .collect();
            // proto3 JSON leaves an empty repeated field out.
            let body = if columns.is_empty() {
                json!({})
            } else {
                json!({ "customColumns": columns })
            };
            json_response(StatusCode::OK, &body)
        }
    }
}

async fn get_custom_column(
    State(state): Shared,
    Path((customer_id, column_id)): Path<(String, String)>,
    Extension(id): Extension<RequestId>,
    headers: HeaderMap,
) -> Response {
    let data = state.snapshot();
    let account = match state.authorize(&data, &customer_id, &headers) {
        Ok(account) => account,
        Err(error) => return error.response(&id.0, false),
    };
    let cid = data.accounts[account].spec.id;
    let found = column_id.parse::<u64>().ok().and_then(|wanted| {
        data.client_of(account)?
            .table(Kind::CustomColumn)
            .iter()
            .position(|column| column.id == wanted)
            .map(|index| custom_column_json(cid, index, wanted))
    });
    match found {
        Some(column) => json_response(StatusCode::OK, &column),
        None => ApiError {
            http: StatusCode::NOT_FOUND,
            status: "NOT_FOUND",
            message: "Requested entity was not found.".to_owned(),
            errors: vec![Sa360Error::new(
                "customColumnError",
                "CUSTOM_COLUMN_NOT_FOUND",
                "The custom column has not been found.",
            )],
        }
        .response(&id.0, false),
    }
}

/// An int32 given as a JSON number or a string (both are valid proto3 JSON).
fn int32<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|n| i32::try_from(*n).is_ok())
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid int32 value {n}"))),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i32>()
            .map(|n| Some(i64::from(n)))
            .map_err(|_| serde::de::Error::custom(format!("invalid int32 value \"{s}\""))),
        Some(other) => Err(serde::de::Error::custom(format!(
            "invalid int32 value {other}"
        ))),
    }
}

/// `SearchSearchAds360Request` (both JSON spellings of each name are accepted, as proto3 does).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchBody {
    #[serde(default)]
    query: Option<String>,
    #[serde(default, rename = "pageToken", alias = "page_token")]
    page_token: Option<String>,
    #[serde(
        default,
        rename = "pageSize",
        alias = "page_size",
        deserialize_with = "int32"
    )]
    page_size: Option<i64>,
    #[serde(default, rename = "validateOnly", alias = "validate_only")]
    validate_only: Option<bool>,
    #[serde(
        default,
        rename = "returnTotalResultsCount",
        alias = "return_total_results_count"
    )]
    return_total_results_count: Option<bool>,
    #[serde(default, rename = "summaryRowSetting", alias = "summary_row_setting")]
    summary_row_setting: Option<String>,
    #[serde(default, rename = "customerId", alias = "customer_id")]
    _customer_id: Option<String>,
}

/// `SearchSearchAds360StreamRequest`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamBody {
    #[serde(default)]
    query: Option<String>,
    #[serde(
        default,
        rename = "batchSize",
        alias = "batch_size",
        deserialize_with = "int32"
    )]
    batch_size: Option<i64>,
    #[serde(default, rename = "summaryRowSetting", alias = "summary_row_setting")]
    summary_row_setting: Option<String>,
    #[serde(default, rename = "customerId", alias = "customer_id")]
    _customer_id: Option<String>,
}

/// Parses a request message the way Google's front end does (a bad body never reaches the API).
fn parse_body<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|error| {
        let text = error.to_string();
        let message = match text
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
        {
            Some((name, _)) => format!(
                "Invalid JSON payload received. Unknown name \"{name}\": Cannot find field."
            ),
            None => format!("Invalid JSON payload received. {text}"),
        };
        ApiError::bad_payload(message)
    })
}

fn summary_setting(text: Option<&str>) -> Result<SummarySetting, ApiError> {
    SummarySetting::parse(text).ok_or_else(|| {
        ApiError::bad_payload(format!(
            "Invalid value at 'summary_row_setting' (type.googleapis.com/google.ads.searchads360.v0.enums.SummaryRowSettingEnum.SummaryRowSetting), \"{}\"",
            text.unwrap_or_default()
        ))
    })
}

/// The page or batch size asked for: unset means the maximum, larger is clamped.
fn size(requested: Option<i64>, max: u64, field: &str) -> Result<u64, ApiError> {
    match requested {
        None | Some(0) => Ok(max),
        Some(n) if n < 0 => Err(ApiError::request(
            "INVALID_PAGE_SIZE",
            format!("The {field} must be between 1 and {max}."),
        )),
        Some(n) => Ok((n as u64).min(max)),
    }
}

fn required_query(query: Option<String>) -> Result<String, ApiError> {
    query.filter(|q| !q.trim().is_empty()).ok_or_else(|| {
        ApiError::request(
            "REQUIRED_FIELD_MISSING",
            "Required field 'query' is missing.",
        )
    })
}

/// Plans a new query for `account`, checks the summary row setting against it, spends a query of
/// quota (unless `validate_only`) and prepares the execution.
fn new_execution(
    state: &Sa360State,
    data: Arc<Sa360Data>,
    account: usize,
    query: &str,
    return_total: bool,
    summary: SummarySetting,
    validate_only: bool,
) -> Result<Execution, ApiError> {
    let plan = plan::plan(query, &data, account).map_err(ApiError::invalid)?;
    if summary != SummarySetting::None && validate_only {
        return Err(ApiError::request(
            "CANNOT_RETURN_SUMMARY_ROW_FOR_VALIDATE_ONLY_REQUESTS",
            "A summary row cannot be returned for a validate-only request.",
        ));
    }
    if summary != SummarySetting::None && !plan.selects_metrics {
        return Err(ApiError::request(
            "CANNOT_RETURN_SUMMARY_ROW_FOR_REQUEST_WITHOUT_METRICS",
            "A summary row cannot be returned for a request that selects no metrics.",
        ));
    }
    let binding = paging::binding(state.config.seed, data.accounts[account].spec.id, query);
    if validate_only {
        return Ok(Execution::unexecuted(data, plan, binding, summary));
    }
    // A valid query costs quota; a refused one does not.
    state.admit_query()?;
    let execution = Execution::new(data, plan, binding, return_total, summary);
    if let Some(limit) = state.config.limits.max_result_rows {
        let rows = execution.returned_rows();
        if rows > limit {
            return Err(ApiError::too_many_rows(rows, limit));
        }
    }
    Ok(execution)
}

/// Serialises a response object, refusing it when it breaks the message-size limit.
fn sized(state: &Sa360State, body: &Value) -> Result<Vec<u8>, ApiError> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    match state.config.limits.max_response_bytes {
        Some(limit) if bytes.len() as u64 > limit => {
            Err(ApiError::message_too_large(bytes.len(), limit))
        }
        _ => Ok(bytes),
    }
}

async fn search(
    State(state): Shared,
    Path(customer_id): Path<String>,
    Extension(id): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let worker = Arc::clone(&state);
    let answer = tokio::task::spawn_blocking(move || worker.search(&customer_id, &headers, &body))
        .await
        .unwrap_or_else(|_| Err(ApiError::server(StatusCode::INTERNAL_SERVER_ERROR)));
    match answer {
        Ok(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
            bytes,
        )
            .into_response(),
        Err(error) => error.response(&id.0, false),
    }
}

impl Sa360State {
    /// One `search` call: the response body, or the error to answer with.
    fn search(
        &self,
        customer_id: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Vec<u8>, ApiError> {
        let data = self.snapshot();
        let account = self.authorize(&data, customer_id, headers)?;
        let request: SearchBody = parse_body(body)?;
        let query = required_query(request.query)?;
        let summary = summary_setting(request.summary_row_setting.as_deref())?;
        let page_size = size(
            request.page_size,
            self.config.limits.max_page_size,
            "page size",
        )?;
        let validate_only = request.validate_only.unwrap_or(false);
        let return_total = request.return_total_results_count.unwrap_or(false);
        let now = self.control.clock().now();
        let page_token = request.page_token.filter(|token| !token.is_empty());

        let (execution, next, emitted) = match page_token {
            Some(token) => {
                if validate_only {
                    return Err(ApiError::request(
                        "VALIDATE_ONLY_REQUEST_HAS_PAGE_TOKEN",
                        "A validate-only request cannot have a page token.",
                    ));
                }
                let cursor = self
                    .cursors
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&token, now, self.config.limits.page_token_ttl_seconds)
                    .map_err(|problem| match problem {
                        TokenProblem::Invalid => {
                            ApiError::request("INVALID_PAGE_TOKEN", "Page token is invalid.")
                        }
                        TokenProblem::Expired => {
                            ApiError::request("EXPIRED_PAGE_TOKEN", "Page token has expired.")
                        }
                    })?;
                let execution = cursor.execution;
                let binding =
                    paging::binding(self.config.seed, data.accounts[account].spec.id, &query);
                if binding != execution.binding {
                    return Err(ApiError::request(
                        "INVALID_PAGE_TOKEN",
                        "Page token is invalid: it belongs to another query or customer. Send the same query with each page token.",
                    ));
                }
                if return_total && !execution.return_total {
                    return Err(ApiError::request(
                        "TOTAL_RESULTS_COUNT_NOT_ORIGINALLY_REQUESTED",
                        "The total results count cannot be returned if it was not requested in the original request.",
                    ));
                }
                if summary != execution.summary {
                    return Err(ApiError::request(
                        "INCONSISTENT_RETURN_SUMMARY_ROW_VALUE",
                        "summary_row_setting must be the same in every request of a paged query.",
                    ));
                }
                (execution, cursor.next, cursor.emitted)
            }
            None => {
                let execution = new_execution(
                    self,
                    data,
                    account,
                    &query,
                    return_total,
                    summary,
                    validate_only,
                )?;
                if validate_only {
                    let mut object = Map::new();
                    execution.decorate(&mut object);
                    return sized(self, &Value::Object(object));
                }
                (Arc::new(execution), 0, 0)
            }
        };

        let page = if execution.summary == SummarySetting::Only {
            paging::Page {
                rows: Vec::new(),
                more: None,
            }
        } else {
            execution.page(next, emitted, page_size)
        };
        let mut object = Map::new();
        if !page.rows.is_empty() {
            object.insert("results".to_owned(), Value::Array(page.rows));
        }
        if let Some(total) = execution.total.filter(|total| *total > 0 && return_total) {
            object.insert(
                "totalResultsCount".to_owned(),
                Value::String(total.to_string()),
            );
        }
        execution.decorate(&mut object);
        if page.more.is_none() && execution.summary != SummarySetting::None {
            object.insert("summaryRow".to_owned(), execution.summary_row());
        }
        if let Some((next, emitted)) = page.more {
            let token = self
                .cursors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .issue(Cursor {
                    execution: Arc::clone(&execution),
                    next,
                    emitted,
                    issued: now,
                });
            object.insert("nextPageToken".to_owned(), Value::String(token));
        }
        let bytes = sized(self, &Value::Object(object))?;
        self.pages.fetch_add(1, Ordering::SeqCst);
        Ok(bytes)
    }
}

/// What the stream does after its first batch.
struct StreamState {
    state: Arc<Sa360State>,
    execution: Arc<Execution>,
    request_id: Arc<str>,
    batch_size: u64,
    next: Option<(u64, u64)>,
    sent: u32,
    fail_after: Option<u32>,
    summary_sent: bool,
    done: bool,
}

/// One stream element (`SearchSearchAds360StreamResponse`).
fn batch_json(execution: &Execution, rows: Vec<Value>, request_id: &str) -> Value {
    let mut object = Map::new();
    if !rows.is_empty() {
        object.insert("results".to_owned(), Value::Array(rows));
    }
    execution.decorate(&mut object);
    object.insert("requestId".to_owned(), Value::String(request_id.to_owned()));
    Value::Object(object)
}

fn summary_json(execution: &Execution, request_id: &str) -> Value {
    let mut object = Map::new();
    object.insert("summaryRow".to_owned(), execution.summary_row());
    execution.decorate(&mut object);
    object.insert("requestId".to_owned(), Value::String(request_id.to_owned()));
    Value::Object(object)
}

impl StreamState {
    /// The batch starting at `next`, serialised. A batch over the message-size limit is not an
    /// error on a stream: the server sends fewer rows per batch (halving until they fit), which is
    /// why streaming is the documented way around the limit. Only a single row too big to send
    /// fails.
    fn fitted_batch(&mut self, next: u64, emitted: u64) -> Result<Vec<u8>, ApiError> {
        loop {
            let page = self.execution.page(next, emitted, self.batch_size);
            let more = page.more;
            let element = batch_json(&self.execution, page.rows, &self.request_id);
            match sized(&self.state, &element) {
                Ok(bytes) => {
                    self.next = more;
                    return Ok(bytes);
                }
                Err(_) if self.batch_size > 1 => self.batch_size = (self.batch_size / 2).max(1),
                Err(error) => return Err(error),
            }
        }
    }

    /// The next chunk of the body (`,{...}` or the closing `]`), or `None` when done.
    fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let fail = |this: &mut Self, error: ApiError| {
            this.done = true;
            let element = error.body(&this.request_id);
            Some(Bytes::from(format!(",{element}]")))
        };
        if let Some((next, emitted)) = self.next {
            if self.fail_after.is_some_and(|after| self.sent >= after) {
                return fail(self, ApiError::server(StatusCode::INTERNAL_SERVER_ERROR));
            }
            return match self.fitted_batch(next, emitted) {
                Ok(bytes) => {
                    self.sent += 1;
                    let mut chunk = Vec::with_capacity(bytes.len() + 1);
                    chunk.push(b',');
                    chunk.extend_from_slice(&bytes);
                    Some(Bytes::from(chunk))
                }
                Err(error) => fail(self, error),
            };
        }
        if self.execution.summary == SummarySetting::WithResults && !self.summary_sent {
            self.summary_sent = true;
            let element = summary_json(&self.execution, &self.request_id);
            return Some(Bytes::from(format!(",{element}")));
        }
        self.done = true;
        Some(Bytes::from_static(b"]"))
    }
}

async fn search_stream(
    State(state): Shared,
    Path(customer_id): Path<String>,
    Extension(id): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let worker = Arc::clone(&state);
    let rid = Arc::clone(&id.0);
    let started = tokio::task::spawn_blocking(move || {
        worker.start_stream(&customer_id, &headers, &body, rid)
    })
    .await
    .unwrap_or_else(|_| Err(ApiError::server(StatusCode::INTERNAL_SERVER_ERROR)));
    let (first, stream) = match started {
        Ok(started) => started,
        Err(error) => return error.response(&id.0, true),
    };
    let chunks = futures::stream::unfold(Some(stream), |stream| async move {
        let mut stream = stream?;
        let (chunk, stream) = tokio::task::spawn_blocking(move || {
            let chunk = stream.next_chunk();
            (chunk, stream)
        })
        .await
        .ok()?;
        chunk.map(|chunk| (Ok::<Bytes, std::io::Error>(chunk), Some(stream)))
    });
    let head = futures::stream::iter([Ok::<Bytes, std::io::Error>(first)]);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        Body::from_stream(futures::StreamExt::chain(head, chunks)),
    )
        .into_response()
}

impl Sa360State {
    /// Validates a `searchStream` call and builds its first element (`[` included); the rest of
    /// the body comes from the returned [`StreamState`].
    fn start_stream(
        self: &Arc<Self>,
        customer_id: &str,
        headers: &HeaderMap,
        body: &[u8],
        request_id: Arc<str>,
    ) -> Result<(Bytes, StreamState), ApiError> {
        let data = self.snapshot();
        let account = self.authorize(&data, customer_id, headers)?;
        let request: StreamBody = parse_body(body)?;
        let query = required_query(request.query)?;
        let summary = summary_setting(request.summary_row_setting.as_deref())?;
        let batch_size = size(
            request.batch_size,
            self.config.limits.max_page_size,
            "batch size",
        )?;
        let execution = Arc::new(new_execution(
            self, data, account, &query, false, summary, false,
        )?);
        let number = self.streams.fetch_add(1, Ordering::SeqCst) + 1;
        let fail_after = self
            .stream_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|failure| failure.stream == number)
            .map(|failure| failure.after_batches);
        if fail_after == Some(0) {
            return Err(ApiError::server(StatusCode::INTERNAL_SERVER_ERROR));
        }
        let mut stream = StreamState {
            state: Arc::clone(self),
            execution: Arc::clone(&execution),
            request_id: Arc::clone(&request_id),
            batch_size,
            next: None,
            sent: 1,
            fail_after,
            summary_sent: false,
            done: false,
        };
        let bytes = if summary == SummarySetting::Only {
            stream.summary_sent = true;
            sized(self, &summary_json(&execution, &request_id))?
        } else {
            stream.fitted_batch(0, 0)?
        };
        let mut chunk = Vec::with_capacity(bytes.len() + 1);
        chunk.push(b'[');
        chunk.extend_from_slice(&bytes);
        Ok((Bytes::from(chunk), stream))
    }
}

impl SimulatorHooks for Sa360State {
    fn too_many_requests(&self, retry_after: Duration) -> Response {
        let id = self.next_request_id();
        let mut response =
            ApiError::quota("Requests per minute per project", retry_after).response(&id.0, false);
        if let Ok(value) = HeaderValue::from_str(&id.0) {
            response.headers_mut().insert("request-id", value);
        }
        response
    }

    fn error_response(&self, status: StatusCode) -> Response {
        let id = self.next_request_id();
        let mut response = ApiError::server(status).response(&id.0, false);
        if let Ok(value) = HeaderValue::from_str(&id.0) {
            response.headers_mut().insert("request-id", value);
        }
        response
    }

    fn not_found(&self) -> Response {
        let id = self.next_request_id();
        let mut response = ApiError::not_found("The requested URL was not found on this server.")
            .response(&id.0, false);
        if let Ok(value) = HeaderValue::from_str(&id.0) {
            response.headers_mut().insert("request-id", value);
        }
        response
    }

    fn empty_page(&self, _content_type: Option<&str>, body: Bytes) -> Bytes {
        let Ok(mut value) = serde_json::from_slice::<Value>(&body) else {
            return body;
        };
        match &mut value {
            Value::Object(object) => {
                object.remove("results");
            }
            Value::Array(elements) => {
                for element in elements.iter_mut().filter_map(Value::as_object_mut) {
                    element.remove("results");
                }
            }
            _ => return body,
        }
        Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
    }

    fn secret_headers(&self) -> &'static [&'static str] {
        &["authorization", "proxy-authorization", "cookie"]
    }

    fn advance(&self, generations: u32) -> Value {
        serde_json::to_value(self.data.advance(generations)).unwrap_or_default()
    }

    fn info(&self) -> Value {
        let data = self.snapshot();
        json!({
            "simulator": "sa360",
            "seed": self.config.seed,
            "generation": data.generation(),
            "today": records::iso(data.today()),
            "data_start": records::iso(data.data_start()),
            "entities": data.entity_count(),
            "token_refreshes": self.tokens.refreshes(),
            "queries": self.queries.load(Ordering::SeqCst),
            "config": self.config,
        })
    }
}
