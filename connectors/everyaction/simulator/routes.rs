//! The VAN API v4 HTTP surface: routes, Basic auth with `key|mode`, the repeated-parameter
//! guard, the standard `errors[]` body, list and job handlers, streamed CSV downloads, and the
//! API-specific answers the shared pipeline asks for (429/5xx bodies, `Retry-After`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{json, Value};

use crate::simulator::Timeline;
use crate::simulator::{empty_page_default, SimControl, SimulatorHooks};

use super::config::EveryActionConfig;
use super::dataset::{Change, EveryActionData, Mode};
pub(crate) use super::errors::ApiError;
use super::errors::{json_text, json_value};
use super::export::Resource;
use super::jobs::{parse_file_name, Acceptance, Job, Outcome};
use super::lists::{self, Item, ListEndpoint, RawQuery};
use super::records::ApiKeyProfile;

/// Units (records, or people) rendered per streamed download chunk.
const DOWNLOAD_CHUNK: u64 = 2_000;

/// What an advance did: the generation reached and every change, in order.
pub type AdvanceSummary = crate::simulator::AdvanceSummary<Change>;

/// A request refused because a query parameter was repeated (the client bug of re-adding
/// parameters to a `nextPageLink`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The request path.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// The first parameter that occurred twice.
    pub parameter: String,
}

/// Shared state of a running EveryAction simulator.
pub struct EveryActionState {
    pub(crate) config: EveryActionConfig,
    pub(crate) control: Arc<SimControl>,
    pub(crate) data: Timeline<EveryActionData>,
    jobs: Mutex<Vec<Arc<Job>>>,
    refusals: Mutex<Vec<Refusal>>,
}

/// The database the caller's key works in.
#[derive(Debug, Clone, Copy)]
struct Caller(Mode);

impl EveryActionState {
    pub(crate) fn new(config: EveryActionConfig, control: Arc<SimControl>) -> Self {
        let data = EveryActionData::new(&config);
        Self {
            data: Timeline::new(data, Arc::clone(&control), config.generation_interval),
            config,
            control,
            jobs: Mutex::new(Vec::new()),
            refusals: Mutex::new(Vec::new()),
        }
    }

    /// The data as of now; later advances do not change the returned snapshot.
    pub(crate) fn snapshot(&self) -> Arc<EveryActionData> {
        self.data.snapshot()
    }

    pub(crate) fn jobs(&self) -> Vec<Arc<Job>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn refusals(&self) -> Vec<Refusal> {
        self.refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn job(&self, id: u64) -> Option<Arc<Job>> {
        self.jobs().into_iter().find(|job| job.id == id)
    }

    /// The key profile a caller in `mode` sees.
    pub(crate) fn profile(&self, mode: Mode) -> ApiKeyProfile {
        let spec = self.config.database(mode);
        let key = &self.config.api_key;
        ApiKeyProfile {
            database_name: spec.database_name.clone(),
            has_my_voters: true,
            has_my_campaign: true,
            committee_name: spec.committee_name.clone(),
            api_key_type_name: "Custom Integration",
            key_reference: key
                .chars()
                .skip(key.chars().count().saturating_sub(4))
                .collect(),
            user_first_name: "API",
            user_last_name: "Integration",
            username: format!("{}.api", self.config.application_name.to_lowercase()),
        }
    }

    /// The list items a caller in `mode` sees for `endpoint` with `query`, sorted.
    pub(crate) fn list_items(
        &self,
        mode: Mode,
        endpoint: ListEndpoint,
        query: &RawQuery,
    ) -> Result<Vec<Item>, ApiError> {
        if endpoint == ListEndpoint::Users && self.config.users_forbidden {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "The API key does not have permission to access users",
            ));
        }
        let data = self.snapshot();
        let mut items = match endpoint {
            ListEndpoint::ApiKeyProfiles => vec![Item::of(&self.profile(mode))],
            _ => lists::items(data.database(mode), endpoint, query)?,
        };
        lists::order(&mut items, query)?;
        Ok(items)
    }
}

type Shared = State<Arc<EveryActionState>>;

/// The API routes (state applied; the shared server adds the pipeline and control routes).
pub(crate) fn router(state: Arc<EveryActionState>) -> Router {
    let list_route = |endpoint: ListEndpoint| {
        get(
            move |state: Shared, caller: Extension<Caller>, headers: HeaderMap, uri: Uri| async move {
                list(state, caller, headers, uri, endpoint)
            },
        )
    };
    let mut api = Router::new();
    for endpoint in ListEndpoint::ALL {
        api = api.route(endpoint.path(), list_route(endpoint));
    }
    let api = api
        .route("/v4/changedEntityExportJobs", post(create_job))
        .route("/v4/changedEntityExportJobs/resources", get(resources))
        .route(
            "/v4/changedEntityExportJobs/fields/{resource_type}",
            get(fields),
        )
        .route(
            "/v4/changedEntityExportJobs/changeTypes/{resource_type}",
            get(change_types),
        )
        .route(
            "/v4/changedEntityExportJobs/{export_job_id}",
            get(job_status),
        )
        .route_layer(from_fn_with_state(Arc::clone(&state), authenticate));
    // Download links point at blob storage: no Basic auth there.
    let files = Router::new().route("/changed-entity-exports/{name}", get(download));
    api.merge(files)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "The requested method is not allowed",
            )
        })
        .layer(from_fn_with_state(
            Arc::clone(&state),
            refuse_repeated_parameters,
        ))
        .with_state(state)
}

/// Standard base64 (with or without padding) to bytes.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let symbols: Vec<u8> = text.trim().bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(symbols.len() * 3 / 4);
    for chunk in symbols.chunks(4) {
        let mut acc = 0u32;
        for (n, c) in chunk.iter().enumerate() {
            acc |= value(*c)? << (18 - 6 * n);
        }
        let bytes = acc.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => out.extend_from_slice(&bytes[1..3]),
            2 => out.push(bytes[1]),
            _ => return None,
        }
    }
    Some(out)
}

/// The mode a `Basic` header grants, if its application name and key are right.
fn caller_mode(config: &EveryActionConfig, headers: &HeaderMap) -> Option<Mode> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded)?).ok()?;
    let (application, password) = decoded.split_once(':')?;
    let (key, mode) = password.rsplit_once('|')?;
    let valid = application == config.application_name && key.eq_ignore_ascii_case(&config.api_key);
    valid.then(|| Mode::from_code(mode)).flatten()
}

async fn authenticate(State(state): Shared, mut request: Request, next: Next) -> Response {
    match caller_mode(&state.config, request.headers()) {
        Some(mode) => {
            request.extensions_mut().insert(Caller(mode));
            next.run(request).await
        }
        None => {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "Authorization has been denied for this request.",
            )
            .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"api.securevan.com\""),
            );
            response
        }
    }
}

/// A client that re-adds its parameters to a `nextPageLink` makes them pile up until the live
/// URL 404s (seen around `$skip=700` on events); the simulator 404s at the first repetition and
/// remembers the request, so tests catch such clients at once.
async fn refuse_repeated_parameters(
    State(state): Shared,
    request: Request,
    next: Next,
) -> Response {
    let query = RawQuery::parse(request.uri().query());
    let Some(parameter) = query.repeated().map(str::to_owned) else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_owned();
    tracing::warn!(%path, %parameter, "query parameter repeated: a client re-added parameters to a nextPageLink");
    state
        .refusals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Refusal {
            path,
            query: request.uri().query().unwrap_or_default().to_owned(),
            parameter: parameter.clone(),
        });
    ApiError::not_found(format!(
        "The requested URL was not found (query parameter '{parameter}' occurs more than once)"
    ))
    .into_response()
}

/// `http://host` of the request, for absolute links.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn list(
    State(state): Shared,
    Extension(Caller(mode)): Extension<Caller>,
    headers: HeaderMap,
    uri: Uri,
    endpoint: ListEndpoint,
) -> Response {
    let query = RawQuery::parse(uri.query());
    let items = match state.list_items(mode, endpoint, &query) {
        Ok(items) => items,
        Err(error) => return error.into_response(),
    };
    let Some(limits) = endpoint.limits() else {
        return json_text(StatusCode::OK, lists::array(&items));
    };
    let keep_link =
        endpoint == ListEndpoint::SavedLists && state.config.saved_lists_link_on_empty_page;
    match lists::page(
        &items,
        &query,
        limits,
        &base_url(&headers),
        uri.path(),
        keep_link,
    ) {
        Ok(body) => json_text(StatusCode::OK, body),
        Err(error) => error.into_response(),
    }
}

async fn resources() -> Response {
    let names: Vec<&str> = Resource::ALL.iter().map(|r| r.name()).collect();
    json_value(StatusCode::OK, &json!(names))
}

fn resource_or_404(name: &str) -> Result<Resource, ApiError> {
    Resource::from_name(name)
        .ok_or_else(|| ApiError::not_found(format!("'{name}' is not an available resourceType")))
}

async fn fields(
    State(state): Shared,
    Extension(Caller(mode)): Extension<Caller>,
    Path(resource_type): Path<String>,
) -> Response {
    let resource = match resource_or_404(&resource_type) {
        Ok(resource) => resource,
        Err(error) => return error.into_response(),
    };
    let data = state.snapshot();
    let mode_data = data.database(mode);
    let standard = resource.fields().iter().map(|field| {
        json!({
            "fieldName": field.name,
            "fieldType": field.kind.letter(),
            "maxTextboxCharacters": field.max_chars,
            "isCoreField": field.core,
            "availableValues": null,
            "bulkImportFields": null,
        })
    });
    let custom = resource.custom_fields(mode_data).into_iter().map(|spec| {
        let (kind, values) = match spec.type_id {
            "S" => (
                "T",
                json!(super::records::selection_values()
                    .iter()
                    .enumerate()
                    .map(|(k, name)| json!({"id": k + 1, "name": name}))
                    .collect::<Vec<_>>()),
            ),
            other => (other, Value::Null),
        };
        json!({
            "fieldName": super::export::custom_column_name(spec.id),
            "fieldType": kind,
            "maxTextboxCharacters": (kind == "T").then_some(100),
            "isCoreField": false,
            "availableValues": values,
            "bulkImportFields": null,
        })
    });
    json_value(
        StatusCode::OK,
        &Value::Array(standard.chain(custom).collect()),
    )
}

async fn change_types(Path(resource_type): Path<String>) -> Response {
    match resource_or_404(&resource_type) {
        Ok(resource) => {
            let types: Vec<Value> = resource
                .change_types()
                .iter()
                .map(|(id, name, description)| {
                    json!({"changeTypeID": id, "changeTypeName": name, "Description": description})
                })
                .collect();
            json_value(StatusCode::OK, &Value::Array(types))
        }
        Err(error) => error.into_response(),
    }
}

async fn create_job(
    State(state): Shared,
    Extension(Caller(mode)): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !is_json {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "The request must have Content-Type: application/json",
        )
        .into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return ApiError::invalid("The request body is not valid JSON").into_response();
    };
    let data = state.snapshot();
    let now = state.control.clock().now();
    let mut jobs = state.jobs.lock().unwrap_or_else(|p| p.into_inner());
    let acceptance = Acceptance {
        data: data.database(mode),
        now,
        behaviour: &state.config.export,
        number: jobs.len() as u64 + 1,
    };
    match acceptance.accept(&body) {
        Ok((job, accepted)) => {
            jobs.push(Arc::new(job));
            json_value(StatusCode::CREATED, &accepted)
        }
        Err(error) => error.into_response(),
    }
}

async fn job_status(
    State(state): Shared,
    Extension(Caller(mode)): Extension<Caller>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let job = id
        .parse::<u64>()
        .ok()
        .and_then(|id| state.job(id))
        .filter(|job| job.mode() == mode);
    let Some(job) = job else {
        return ApiError::not_found(format!("Export job {id} was not found")).into_response();
    };
    let now = state.control.clock().now();
    let status = job
        .poll(
            &state.config.export,
            state.snapshot(),
            now,
            state.config.seed,
        )
        .await;
    json_value(
        StatusCode::OK,
        &job.json(status, &base_url(&headers), state.config.seed),
    )
}

async fn download(State(state): Shared, Path(name): Path<String>) -> Response {
    let missing = || ApiError::not_found("The specified blob does not exist.").into_response();
    let Some((id, file)) = parse_file_name(state.config.seed, &name) else {
        return missing();
    };
    let Some(job) = state.job(id) else {
        return missing();
    };
    let Some(Outcome::Complete {
        plan, expires_at, ..
    }) = job.outcome()
    else {
        return missing();
    };
    if file >= plan.files.len() {
        return missing();
    }
    if state.control.clock().now() > *expires_at {
        return ApiError::new(
            StatusCode::GONE,
            "FILE_EXPIRED",
            "The download link has expired.",
        )
        .into_response();
    }
    let plan = Arc::clone(plan);
    let first = plan.files[file].first;
    let header_bytes = Bytes::from(plan.header.clone());
    let rows = futures::stream::unfold((plan, first), move |(plan, next)| async move {
        if next >= plan.files[file].end {
            return None;
        }
        let worker = Arc::clone(&plan);
        let (bytes, after) =
            tokio::task::spawn_blocking(move || worker.chunk(file, next, DOWNLOAD_CHUNK))
                .await
                .ok()?;
        Some((
            Ok::<Bytes, std::io::Error>(Bytes::from(bytes)),
            (plan, after),
        ))
    });
    let body = futures::stream::StreamExt::chain(
        futures::stream::once(async move { Ok::<Bytes, std::io::Error>(header_bytes) }),
        rows,
    );
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

impl SimulatorHooks for EveryActionState {
    fn too_many_requests(&self, retry_after: Duration) -> Response {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "Too many requests; slow down and retry later",
        )
        .into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry_after.as_secs().max(1)),
        );
        response
    }

    fn error_response(&self, status: StatusCode) -> Response {
        let code = match status {
            StatusCode::SERVICE_UNAVAILABLE => "SERVICE_UNAVAILABLE",
            StatusCode::GATEWAY_TIMEOUT => "GATEWAY_TIMEOUT",
            _ => "INTERNAL_SERVER_ERROR",
        };
        let reference = format!(
            "{:08X}",
            crate::simulator::rng::hash(self.config.seed, &[u64::from(status.as_u16())]) as u32
        );
        let mut response = ApiError::new(
            status,
            code,
            "An unexpected error occurred; please try again",
        )
        .with_reference(reference)
        .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            if let Some(seconds) = self.config.retry_after_503_seconds {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
        }
        response
    }

    fn not_found(&self) -> Response {
        ApiError::not_found("The requested resource was not found").into_response()
    }

    fn empty_page(&self, content_type: Option<&str>, body: Bytes) -> Bytes {
        // Keep the envelope's own field order: items, nextPageLink, count.
        if let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) {
            if fields.contains_key("items") {
                let text = format!(
                    "{{\"items\":[],\"nextPageLink\":{},\"count\":{}}}",
                    fields.get("nextPageLink").unwrap_or(&Value::Null),
                    fields.get("count").unwrap_or(&json!(0)),
                );
                return Bytes::from(text);
            }
        }
        empty_page_default(content_type, body)
    }

    fn advance(&self, generations: u32) -> Value {
        serde_json::to_value(self.data.advance(generations)).unwrap_or_default()
    }

    fn info(&self) -> Value {
        let data = self.snapshot();
        let databases: Vec<Value> = Mode::ALL
            .iter()
            .map(|mode| {
                let db = data.database(*mode);
                json!({
                    "mode": mode.code(),
                    "people_ever_created": db.people_ever_created(),
                    "overlay_entries": db.overlay_len(),
                })
            })
            .collect();
        let jobs: Vec<Value> = self
            .jobs()
            .iter()
            .map(|job| json!({"exportJobId": job.id, "mode": job.mode().code(), "resourceType": job.spec.resource.name()}))
            .collect();
        json!({
            "simulator": "everyaction",
            "seed": self.config.seed,
            "generation": data.generation(),
            "databases": databases,
            "jobs": jobs,
            "repeated_parameter_refusals": self.refusals().len(),
            "config": self.config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::base64_decode;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64_decode("YXBwOmtleXwx").unwrap(), b"app:key|1");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI").unwrap(), b"ab");
        assert!(base64_decode("*").is_none());
    }
}
