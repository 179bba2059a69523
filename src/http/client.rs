//! The connector's HTTP client: one `reqwest` client with timeouts and gzip, authentication, the shared
//! rate budget and concurrency limit, response classification and the retry loop.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

use crate::sdk::json::JsonDoc;

use super::auth::{header_name, sensitive_value, Auth};
use super::backoff::RetryPolicy;
use super::body::{read_bounded, BodyError, Download};
use super::classify::{classify_failure, rate_limit_headers, Failure};
use super::clock::{SharedClock, SystemClock};
use super::error::{describe_reqwest_error, endpoint_of, Attempt, Endpoint, HttpError, Verdict};
use super::rate::{ConcurrencyLimit, RateBudget};
use super::tuning::Tuning;

/// An API-specific inspection of response bodies (successful or not), for APIs that signal errors or
/// "too much data" in the body. Returning `None` keeps the default classification.
pub trait ResponseHook: Send + Sync {
    /// Looks at a status and (bounded) body and optionally overrides the verdict.
    fn inspect(&self, status: u16, body: &[u8]) -> Option<Verdict>;
}

impl<F> ResponseHook for F
where
    F: Fn(u16, &[u8]) -> Option<Verdict> + Send + Sync,
{
    fn inspect(&self, status: u16, body: &[u8]) -> Option<Verdict> {
        self(status, body)
    }
}

/// A documented request-rate limit, e.g. 5000 per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per `period`.
    pub limit: u32,
    /// The period the limit is counted over.
    pub period: Duration,
    /// Requests that may go out back to back before pacing starts.
    pub burst: u32,
}

/// Everything about one connector's HTTP behaviour. Defaults suit production; tests shrink the durations.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Base URL that request paths are appended to, e.g. `https://api.virtuoussoftware.com`.
    pub base_url: String,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed between two reads of the response.
    pub read_timeout: Duration,
    /// Time allowed for one attempt from connect to the end of the body (override per request).
    pub request_timeout: Duration,
    /// Largest JSON body accepted; a larger one is a [`HttpError::TooLarge`], never buffered.
    pub max_body_bytes: u64,
    /// Largest streamed download accepted.
    pub max_download_bytes: u64,
    /// Retry behaviour for transient failures.
    pub retry: RetryPolicy,
    /// The API's documented rate limit, if any.
    pub rate_limit: Option<RateLimit>,
    /// Largest number of requests in flight at once.
    pub max_in_flight: usize,
    /// `User-Agent` header.
    pub user_agent: String,
    /// What a 401 tells the user to check, e.g. "check the api key".
    pub credentials_hint: String,
    /// After this many requests in a row to one endpoint failed (each after all its retries), with
    /// no success in between, the endpoint counts as down: the next failure is
    /// [`HttpError::Down`], which nobody shrinks or retries, so a dead API fails the sync in minutes.
    pub down_after_failed_requests: u32,
}

impl HttpConfig {
    /// Production defaults for `base_url`: 10 s connect, 60 s read, 120 s per attempt, 64 MiB bodies,
    /// 4 GiB downloads, 8 in flight, no rate limit; an endpoint is down after 8 failed requests in a row.
    pub fn new(base_url: impl Into<String>) -> Self {
        let tuning = Tuning::default();
        Self {
            base_url: base_url.into(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            request_timeout: tuning.request_timeout,
            max_body_bytes: 64 * 1024 * 1024,
            max_download_bytes: 4 * 1024 * 1024 * 1024,
            retry: tuning.retry,
            rate_limit: None,
            max_in_flight: 8,
            user_agent: concat!("fivetran_source/", env!("CARGO_PKG_VERSION")).into(),
            credentials_hint: "check the api key".into(),
            down_after_failed_requests: 8,
        }
    }
}

/// Bodies at least this large are parsed on the rayon pool, not on the async runtime: a page of a
/// thousand full records takes milliseconds to parse, far longer than an async worker should block.
const PARSE_OFF_RUNTIME_BYTES: usize = 32 * 1024;

/// What a JSON response body is decoded into: a `serde_json::Value`, or a [`JsonDoc`] (a page's
/// records without a `Value` tree; see [`crate::sdk::json`]).
pub trait JsonBody: Send + Sized + 'static {
    /// The body of a response with no content.
    fn empty() -> Self;
    /// Decodes `bytes`; `Err` is the parser's message.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
}

impl JsonBody for Value {
    fn empty() -> Self {
        Value::Null
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

impl JsonBody for JsonDoc {
    fn empty() -> Self {
        JsonDoc::null()
    }
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        JsonDoc::parse(bytes).map_err(|e| e.to_string())
    }
}

/// Parses a JSON body, off the async runtime when it is large.
async fn parse_json<B: JsonBody>(body: bytes::Bytes) -> Result<B, String> {
    if body.len() < PARSE_OFF_RUNTIME_BYTES {
        return B::decode(&body);
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(B::decode(&body));
    });
    rx.await
        .unwrap_or_else(|_| Err("the json parser stopped before answering".to_owned()))
}

/// Attempts a shrinkable request gets for plain failures (5xx, cuts, unreadable bodies) before its
/// caller is told to shrink it; waits the server asked for (429) do not count.
pub const SHRINKABLE_ATTEMPTS: u32 = 2;

/// One request: method, path (or absolute URL), query, body, extra headers. `Debug` shows query keys and
/// header names but no values, since APIs carry keys in both.
#[derive(Clone)]
pub struct Request {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    json: Option<Value>,
    form: Option<Vec<(String, String)>>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    shrinkable: bool,
    /// A link followed exactly as given: adding query parameters to it is a bug.
    exact: bool,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys =
            |pairs: &[(String, String)]| pairs.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path.split('?').next().unwrap_or_default())
            .field("query_keys", &keys(&self.query))
            .field("header_names", &keys(&self.headers))
            .field("has_body", &(self.json.is_some() || self.form.is_some()))
            .field("shrinkable", &self.shrinkable)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// A request with `method` to `path` (appended to the base URL) or to an absolute `http(s)://` URL.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            json: None,
            form: None,
            headers: Vec::new(),
            timeout: None,
            shrinkable: false,
            exact: false,
        }
    }

    /// A `GET` of an absolute next-page link, sent exactly as the API gave it. The link already holds
    /// every parameter of the first request; adding them again makes them pile up page after page, so
    /// [`Request::query`] on a followed link is a bug (it panics in debug builds and is ignored in
    /// release builds).
    pub fn follow(link: impl Into<String>) -> Self {
        Self {
            exact: true,
            ..Self::new(Method::GET, link)
        }
    }

    /// A `GET` request.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// A `POST` request.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    /// Adds a query parameter (never shown in errors).
    pub fn query(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        debug_assert!(
            !self.exact,
            "a followed next-page link already carries its parameters"
        );
        if !self.exact {
            self.query.push((key.into(), value.to_string()));
        }
        self
    }

    /// Marks the request shrinkable only when it can still shrink (a page of more than one record):
    /// at the smallest size a timeout or 504 is an ordinary transient failure, retried.
    pub fn shrinkable_if(self, can_shrink: bool) -> Self {
        if can_shrink {
            self.shrinkable()
        } else {
            self
        }
    }

    /// Sends `body` as JSON.
    pub fn json(mut self, body: Value) -> Self {
        self.json = Some(body);
        self
    }

    /// Sends `fields` as a urlencoded form.
    pub fn form(mut self, fields: Vec<(String, String)>) -> Self {
        self.form = Some(fields);
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Overrides the per-attempt deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Marks the request as one the caller can shrink (a page or window): timeouts and 504s are then
    /// reported at once as [`HttpError::TooLarge`] instead of being retried unchanged.
    pub fn shrinkable(mut self) -> Self {
        self.shrinkable = true;
        self
    }
}

/// A decoded JSON response with the status and headers a caller may need (e.g. pagination links).
#[derive(Debug, Clone)]
pub struct JsonResponse<B = Value> {
    /// HTTP status (2xx).
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body; JSON `null` for an empty body.
    pub body: B,
}

impl<B> JsonResponse<B> {
    /// The server's clock, from the `Date` header, if it sent one: an API's own "now", which its
    /// date filters and retention limits are measured against.
    pub fn server_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let value = self.headers.get(reqwest::header::DATE)?.to_str().ok()?;
        httpdate::parse_http_date(value)
            .ok()
            .map(chrono::DateTime::<chrono::Utc>::from)
    }
}

/// The connector's HTTP client. Cheap to clone; clones share the connection pool, token, rate budget and
/// concurrency limit. `Debug` shows no secret.
#[derive(Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    config: HttpConfig,
    auth: Auth,
    budget: Option<RateBudget>,
    in_flight: ConcurrencyLimit,
    clock: SharedClock,
    hook: Option<Arc<dyn ResponseHook>>,
    /// Requests in a row that failed after every retry, per endpoint; a success resets it.
    failures: std::sync::Mutex<std::collections::HashMap<Endpoint, u32>>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("base_url", &self.inner.config.base_url)
            .field("auth", &self.inner.auth)
            .field("rate_limit", &self.inner.config.rate_limit)
            .field("max_in_flight", &self.inner.config.max_in_flight)
            .finish_non_exhaustive()
    }
}

/// Builds an [`HttpClient`].
pub struct HttpClientBuilder {
    config: HttpConfig,
    auth: Auth,
    clock: SharedClock,
    hook: Option<Arc<dyn ResponseHook>>,
}

impl HttpClientBuilder {
    /// Sets the authentication scheme.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Applies `tuning`: its retry policy, request deadline and clock.
    pub fn tuning(mut self, tuning: &Tuning) -> Self {
        self.config.retry = tuning.retry.clone();
        self.config.request_timeout = tuning.request_timeout;
        self.clock = tuning.clock.clone();
        self
    }

    /// Replaces the real clock (tests pass a [`super::ManualClock`]).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Installs an API-specific response inspection.
    pub fn hook(mut self, hook: impl ResponseHook + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Builds the client (installing the `ring` TLS provider if no provider is installed yet).
    pub fn build(self) -> Result<HttpClient, HttpError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let c = &self.config;
        let client = reqwest::Client::builder()
            .connect_timeout(c.connect_timeout)
            .read_timeout(c.read_timeout)
            .gzip(true)
            .user_agent(c.user_agent.clone())
            .build()
            .map_err(|e| HttpError::Client(describe_reqwest_error(e)))?;
        let budget = c
            .rate_limit
            .map(|r| RateBudget::new(r.limit, r.period, r.burst, self.clock.clone()));
        let in_flight = ConcurrencyLimit::new(c.max_in_flight);
        Ok(HttpClient {
            inner: Arc::new(Inner {
                client,
                config: self.config,
                auth: self.auth,
                budget,
                in_flight,
                clock: self.clock,
                hook: self.hook,
                failures: std::sync::Mutex::default(),
            }),
        })
    }
}

/// What a successful attempt produced.
enum Success<B> {
    Json(JsonResponse<B>),
    Stream(reqwest::Response, Option<tokio::sync::OwnedSemaphorePermit>),
    /// A 2xx JSON body read but not yet decoded.
    Received(Received),
}

/// A 2xx response's status, headers and whole body.
struct Received {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: bytes::Bytes,
}

/// Decodes a received body and runs the caller's check, once the task's decode turn is reached
/// ([`super::turn`]): a page that came early waits as bytes, holding no permit.
async fn decode<B: JsonBody>(
    received: Received,
    mode: Mode<'_, B>,
) -> Result<JsonResponse<B>, AttemptFailure> {
    let Mode::Json(check) = mode else {
        unreachable!("only json requests are received whole")
    };
    super::turn::wait_for_turn().await;
    let Received {
        status,
        headers,
        body,
    } = received;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        B::empty()
    } else {
        parse_json(body)
            .await
            .map_err(|e| AttemptFailure::Unreadable(format!("the body is not valid json: {e}")))?
    };
    let response = JsonResponse {
        status,
        headers,
        body,
    };
    check(&response).map_err(AttemptFailure::Unreadable)?;
    Ok(response)
}

/// A check of a decoded JSON response; `Err` says what is wrong with it.
pub type BodyCheck<'a, B = Value> = &'a (dyn Fn(&JsonResponse<B>) -> Result<(), String> + Sync);

enum Mode<'a, B> {
    Json(BodyCheck<'a, B>),
    Stream,
}

impl<B> Clone for Mode<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B> Copy for Mode<'_, B> {}

impl HttpClient {
    /// Starts building a client for `config` (no auth, real clock, no hook).
    pub fn builder(config: HttpConfig) -> HttpClientBuilder {
        HttpClientBuilder {
            config,
            auth: Auth::None,
            clock: SystemClock::shared(),
            hook: None,
        }
    }

    /// The shared rate budget, if a rate limit is configured.
    pub fn rate_budget(&self) -> Option<&RateBudget> {
        self.inner.budget.as_ref()
    }

    /// The clock this client waits on.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.inner.config
    }

    /// Sends `request` with retries and returns the decoded JSON body with status and headers. A body
    /// that does not decode (an HTML error page, truncated JSON, a cut connection) is retried like a
    /// 5xx, then reported as [`HttpError::Decode`]: never an empty result.
    pub async fn send_json(&self, request: &Request) -> Result<JsonResponse, HttpError> {
        self.send_json_checked(request, &|_| Ok(())).await
    }

    /// Like [`HttpClient::send_json`], and a decoded body that `check` refuses (say, a page without its
    /// records array) is retried the same way; the final error carries `check`'s reason.
    /// The body is decoded as `B`: a `Value`, or a [`JsonDoc`] for pages of records.
    pub async fn send_json_checked<B: JsonBody>(
        &self,
        request: &Request,
        check: BodyCheck<'_, B>,
    ) -> Result<JsonResponse<B>, HttpError> {
        match self.execute(request, Mode::Json(check)).await? {
            Success::Json(r) => Ok(r),
            Success::Stream(..) | Success::Received(_) => unreachable_mode(&self.endpoint(request)),
        }
    }

    /// Sends `request` with retries and returns only the decoded JSON body.
    pub async fn json(&self, request: &Request) -> Result<Value, HttpError> {
        Ok(self.send_json(request).await?.body)
    }

    /// Sends `request` with retries until response headers arrive, then streams the body. A failure
    /// mid-stream is yielded by the stream and is not retried here (the caller restarts the download).
    pub async fn download(&self, request: &Request) -> Result<Download, HttpError> {
        let endpoint = self.endpoint(request);
        match self.execute::<Value>(request, Mode::Stream).await? {
            Success::Stream(response, permit) => Ok(Download::new(
                response,
                endpoint,
                self.inner.config.max_download_bytes,
                permit,
                request.shrinkable,
            )),
            Success::Json(_) | Success::Received(_) => unreachable_mode(&endpoint),
        }
    }

    /// Whether `request` goes to the base URL's origin (scheme, host and port): relative paths always
    /// do; an absolute URL only when it names the same origin.
    pub fn is_api_origin(&self, request: &Request) -> bool {
        let absolute = request.path.starts_with("http://") || request.path.starts_with("https://");
        if !absolute {
            return true;
        }
        let origin = |url: &str| {
            reqwest::Url::parse(url).ok().map(|u| {
                (
                    u.scheme().to_owned(),
                    u.host_str().map(str::to_ascii_lowercase),
                    u.port_or_known_default(),
                )
            })
        };
        origin(&request.path).is_some_and(|o| Some(o) == origin(&self.inner.config.base_url))
    }

    /// The method and path of `request`, as errors name it.
    pub fn endpoint(&self, request: &Request) -> Endpoint {
        endpoint_of(request.method.as_str(), &self.url(request))
    }

    fn url(&self, request: &Request) -> String {
        if request.path.starts_with("http://") || request.path.starts_with("https://") {
            request.path.clone()
        } else {
            format!(
                "{}/{}",
                self.inner.config.base_url.trim_end_matches('/'),
                request.path.trim_start_matches('/')
            )
        }
    }

    async fn execute<B: JsonBody>(
        &self,
        request: &Request,
        mode: Mode<'_, B>,
    ) -> Result<Success<B>, HttpError> {
        let result = self.execute_with_retries(request, mode).await;
        let endpoint = self.endpoint(request);
        let mut failures = self
            .inner
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Err(e @ (HttpError::Transient { .. } | HttpError::Decode { .. })) => {
                let count = failures.entry(endpoint.family()).or_insert(0);
                *count += 1;
                if *count >= self.inner.config.down_after_failed_requests.max(1) {
                    return Err(HttpError::Down {
                        endpoint,
                        requests: *count,
                        last: e.to_string(),
                    });
                }
                Err(e)
            }
            Ok(success) => {
                failures.remove(&endpoint.family());
                Ok(success)
            }
            other => other,
        }
    }

    async fn execute_with_retries<B: JsonBody>(
        &self,
        request: &Request,
        mode: Mode<'_, B>,
    ) -> Result<Success<B>, HttpError> {
        let endpoint = self.endpoint(request);
        let policy = &self.inner.config.retry;
        let max_attempts = policy.max_attempts.max(1);
        let mut attempt = 0u32;
        let mut plain_failures = 0u32;
        let mut refreshed_after_401 = false;
        let mut unreadable_body = None;
        loop {
            attempt += 1;
            if let Some(budget) = &self.inner.budget {
                budget.acquire().await;
            }
            let permit = self.inner.in_flight.acquire().await;
            let outcome = self.attempt(request, &endpoint, mode).await;
            let failure = match outcome {
                Ok(Success::Stream(response, _)) => return Ok(Success::Stream(response, permit)),
                Ok(Success::Received(received)) => {
                    drop(permit);
                    match decode(received, mode).await {
                        Ok(response) => return Ok(Success::Json(response)),
                        Err(failure) => failure,
                    }
                }
                Ok(success) => return Ok(success),
                Err(failure) => {
                    drop(permit);
                    failure
                }
            };
            let (last, server_wait) = match failure {
                AttemptFailure::Unauthorized(generation) if !refreshed_after_401 => {
                    if let Auth::OAuth2(oauth) = &self.inner.auth {
                        oauth.invalidate(generation).await;
                    }
                    refreshed_after_401 = true;
                    // The refresh retry does not count against the transient-failure budget.
                    attempt -= 1;
                    continue;
                }
                AttemptFailure::Unauthorized(_) => return Err(self.unauthorized(&endpoint)),
                AttemptFailure::Other(Attempt::Fail(e)) => return Err(e),
                AttemptFailure::Unreadable(why) => {
                    unreadable_body = Some(why.clone());
                    plain_failures += 1;
                    (why, None)
                }
                AttemptFailure::Other(Attempt::Retry(last)) => {
                    unreadable_body = None;
                    plain_failures += 1;
                    (last, None)
                }
                AttemptFailure::Other(Attempt::RetryAfter(last, wait)) => (last, wait),
            };
            // A page that can shrink is retried briefly: if it keeps failing, a smaller page is the
            // better next try (and a record that fails every page is isolated sooner).
            let shrink_now = request.shrinkable && plain_failures >= SHRINKABLE_ATTEMPTS;
            if attempt >= max_attempts || shrink_now {
                if let Some(message) = unreadable_body {
                    return Err(HttpError::Decode { endpoint, message });
                }
                return Err(HttpError::Transient {
                    endpoint,
                    attempts: attempt,
                    last,
                });
            }
            tracing::info!(%endpoint, attempt, error = %last, "retrying after a transient failure");
            match (server_wait, &self.inner.budget) {
                (Some(wait), Some(budget)) => budget.pause_for(policy.cap_rate_limit_wait(wait)),
                (Some(wait), None) => {
                    self.inner
                        .clock
                        .sleep(policy.cap_rate_limit_wait(wait))
                        .await
                }
                (None, _) => self.inner.clock.sleep(policy.backoff(attempt)).await,
            }
        }
    }

    async fn attempt<B: JsonBody>(
        &self,
        request: &Request,
        endpoint: &Endpoint,
        mode: Mode<'_, B>,
    ) -> Result<Success<B>, AttemptFailure> {
        let cfg = &self.inner.config;
        let timeout = request.timeout.unwrap_or(cfg.request_timeout);
        let mut builder = self
            .inner
            .client
            .request(request.method.clone(), self.url(request))
            .timeout(timeout);
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if let Some(body) = &request.json {
            builder = builder.json(body);
        }
        if let Some(form) = &request.form {
            builder = builder.form(form);
        }
        for (name, value) in &request.headers {
            builder = builder.header(header_name(name, endpoint).map_err(fail)?, value.as_str());
        }
        let mut token_generation = None;
        // Credentials go only to the API's own origin: a next-page link or a download URL on another
        // host (blob storage, a CDN) is fetched without them.
        let auth = if self.is_api_origin(request) {
            &self.inner.auth
        } else {
            &Auth::None
        };
        builder = match auth {
            Auth::None => builder,
            Auth::Bearer(token) => builder.header(
                reqwest::header::AUTHORIZATION,
                sensitive_value(&format!("Bearer {}", token.expose()), endpoint).map_err(fail)?,
            ),
            Auth::Basic { username, password } => {
                builder.basic_auth(username, Some(password.expose()))
            }
            Auth::Query { name, value } => builder.query(&[(name.as_str(), value.expose())]),
            Auth::Headers(pairs) => {
                for (name, value) in pairs {
                    builder = builder.header(
                        header_name(name, endpoint).map_err(fail)?,
                        sensitive_value(value.expose(), endpoint).map_err(fail)?,
                    );
                }
                builder
            }
            Auth::OAuth2(oauth) => {
                let token = oauth
                    .token(&self.inner.client, &self.inner.clock, timeout)
                    .await
                    .map_err(|e| match e {
                        HttpError::Transient { last, .. } => {
                            AttemptFailure::Other(Attempt::Retry(last))
                        }
                        other => fail(other),
                    })?;
                token_generation = Some(token.generation);
                builder.header(
                    reqwest::header::AUTHORIZATION,
                    sensitive_value(&format!("Bearer {}", token.value.expose()), endpoint)
                        .map_err(fail)?,
                )
            }
        };

        let response = builder
            .send()
            .await
            .map_err(|e| AttemptFailure::Other(self.transport_failure(e, request, endpoint)))?;
        let status = response.status().as_u16();
        let (remaining, reset) = rate_limit_headers(response.headers(), self.inner.clock.now_utc());
        if let Some(budget) = &self.inner.budget {
            let policy = &self.inner.config.retry;
            budget.observe(remaining, reset.map(|r| policy.cap_rate_limit_wait(r)));
        }

        if (200..300).contains(&status) {
            let Mode::Json(_) = mode else {
                return Ok(Success::Stream(response, None));
            };
            let headers = response.headers().clone();
            let body = read_bounded(response, cfg.max_body_bytes)
                .await
                .map_err(|e| AttemptFailure::Other(self.body_failure(e, request, endpoint)))?;
            if let Some(verdict) = self
                .inner
                .hook
                .as_ref()
                .and_then(|h| h.inspect(status, &body))
            {
                return Err(AttemptFailure::Other(verdict_to_attempt(
                    verdict, endpoint, status,
                )));
            }
            // Decoded by the caller once the concurrency permit is released (see `decode`).
            return Ok(Success::Received(Received {
                status,
                headers,
                body,
            }));
        }

        if let (401, Some(generation)) = (status, token_generation) {
            return Err(AttemptFailure::Unauthorized(generation));
        }
        let headers = response.headers().clone();
        // Error bodies only feed messages and hooks: read a bounded prefix and ignore transport errors.
        let body = read_bounded(response, 64 * 1024).await.unwrap_or_default();
        if let Some(verdict) = self
            .inner
            .hook
            .as_ref()
            .and_then(|h| h.inspect(status, &body))
        {
            return Err(AttemptFailure::Other(verdict_to_attempt(
                verdict, endpoint, status,
            )));
        }
        let failure = classify_failure(
            status,
            &headers,
            &body,
            request.shrinkable,
            self.inner.clock.now_utc(),
        );
        Err(AttemptFailure::Other(match failure {
            Failure::Permanent { hint, detail } => Attempt::Fail(HttpError::Permanent {
                endpoint: endpoint.clone(),
                status,
                hint: if status == 401 {
                    cfg.credentials_hint.clone()
                } else {
                    hint
                },
                detail,
            }),
            Failure::TooLarge(reason) => Attempt::Fail(HttpError::TooLarge {
                endpoint: endpoint.clone(),
                reason,
            }),
            Failure::Transient(last) => Attempt::Retry(last),
            Failure::RateLimited(last, wait) => Attempt::RetryAfter(last, wait),
        }))
    }

    fn unauthorized(&self, endpoint: &Endpoint) -> HttpError {
        HttpError::Permanent {
            endpoint: endpoint.clone(),
            status: 401,
            hint: self.inner.config.credentials_hint.clone(),
            detail: ": still unauthorized after refreshing the token".into(),
        }
    }

    fn transport_failure(
        &self,
        e: reqwest::Error,
        request: &Request,
        endpoint: &Endpoint,
    ) -> Attempt {
        let timed_out = e.is_timeout();
        let message = describe_reqwest_error(e);
        if timed_out && request.shrinkable {
            return Attempt::Fail(HttpError::TooLarge {
                endpoint: endpoint.clone(),
                reason: format!("timed out: {message}"),
            });
        }
        if message.contains("builder error") {
            return Attempt::Fail(HttpError::InvalidRequest {
                endpoint: endpoint.clone(),
                message,
            });
        }
        Attempt::Retry(message)
    }

    fn body_failure(&self, e: BodyError, request: &Request, endpoint: &Endpoint) -> Attempt {
        match e {
            BodyError::OverLimit(limit) => Attempt::Fail(HttpError::TooLarge {
                endpoint: endpoint.clone(),
                reason: format!("response body exceeds the {limit}-byte limit"),
            }),
            BodyError::Transport(e) => self.transport_failure(e, request, endpoint),
        }
    }
}

enum AttemptFailure {
    /// A 401 while using the OAuth2 token of this generation.
    Unauthorized(u64),
    /// A 2xx whose body cannot be read or fails the caller's check: retried, then a decode error.
    Unreadable(String),
    Other(Attempt),
}

fn fail(e: HttpError) -> AttemptFailure {
    AttemptFailure::Other(Attempt::Fail(e))
}

fn verdict_to_attempt(verdict: Verdict, endpoint: &Endpoint, status: u16) -> Attempt {
    match verdict {
        Verdict::Permanent(hint) => Attempt::Fail(HttpError::Permanent {
            endpoint: endpoint.clone(),
            status,
            hint,
            detail: String::new(),
        }),
        Verdict::Transient(why) => Attempt::Retry(why),
        Verdict::RateLimited {
            reason,
            retry_after,
        } => Attempt::RetryAfter(reason, retry_after),
        Verdict::TooLarge(reason) => Attempt::Fail(HttpError::TooLarge {
            endpoint: endpoint.clone(),
            reason,
        }),
    }
}

fn unreachable_mode<T>(endpoint: &Endpoint) -> Result<T, HttpError> {
    Err(HttpError::InvalidRequest {
        endpoint: endpoint.clone(),
        message: "internal: response mode mismatch".into(),
    })
}
