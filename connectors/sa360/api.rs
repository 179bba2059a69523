//! The Search Ads 360 Reporting API v0 (`docs/apis.md` §4): requests and raw JSON answers only. No
//! paging, windows or emitting here; the shared [`HttpClient`] retries, paces and refreshes the
//! token with the settings below.
//!
//! - Auth is Google's OAuth 2.0 refresh-token grant ([`OAuth2`]: one refresh in flight; a `401`
//!   `OAUTH_TOKEN_EXPIRED` drops the token, refreshes it once and retries the call once). A call for
//!   a customer under a manager carries `login-customer-id` with the manager's id.
//! - Errors are `google.rpc.Status` bodies (a `searchStream` wraps them in a one-element array) with
//!   a `SearchAds360Failure` detail; [`verdict`] turns them into the client's verdicts: a
//!   `QuotaError` waits its `retryDelay` through the shared rate budget, a `SizeLimitError` or the
//!   bare `429 RESOURCE_EXHAUSTED` of the gRPC message-size limit asks for a smaller request,
//!   authorization and query errors fail at once with the API's code and message.
//! - The documented quota (3,000 queries a minute per project) is the client's rate budget.

use std::time::Duration;

use serde_json::{json, Value as Json};

use super::models;
use crate::http::{
    Auth, Download, HttpClient, HttpConfig, HttpError, OAuth2, OAuth2Config, RateLimit, Request,
    Tuning, Verdict,
};
use crate::sdk::json::{JsonDoc, JsonRef, JsonView, Kind};
use crate::sdk::Secret;
use crate::sync::{Asked, Envelope, Page};

/// What a 401 that survives a token refresh tells the user.
pub const CREDENTIALS_HINT: &str =
    "check the oauth client id, client secret and refresh token (reauthorize the connector)";
/// Queries per minute per project (the documented quota).
pub const QUERIES_PER_MINUTE: u32 = 3_000;
/// The largest `search` page.
pub const MAX_PAGE_SIZE: u32 = 10_000;
/// The header naming the manager a call goes through.
pub const LOGIN_HEADER: &str = "login-customer-id";

/// The client's budget: a burst of 50 queries, then paced at the rest of the minute's quota, so no
/// minute exceeds it.
pub const RATE_LIMIT: RateLimit = RateLimit {
    limit: QUERIES_PER_MINUTE - 50,
    period: Duration::from_secs(60),
    burst: 50,
};

/// How to reach the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `https://searchads360.googleapis.com` or a simulator's URL.
    pub base_url: String,
    /// The OAuth token endpoint.
    pub token_url: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: Secret,
    /// The user's refresh token.
    pub refresh_token: Secret,
}

/// A customer a call acts on, and the manager it goes through (`login-customer-id`), if any.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Account {
    /// The customer id, digits only.
    pub customer_id: String,
    /// The manager's customer id, digits only.
    pub login: Option<String>,
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.login {
            Some(login) if *login != self.customer_id => {
                write!(f, "customer {} (through manager {login})", self.customer_id)
            }
            _ => write!(f, "customer {}", self.customer_id),
        }
    }
}

/// An API error as the body tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiFailure {
    /// `error.code` (the HTTP status).
    pub code: u16,
    /// `error.status` (`RESOURCE_EXHAUSTED`, `PERMISSION_DENIED`, ...).
    pub status: String,
    /// `error.message`.
    pub message: String,
    /// The first `SearchAds360Error`: its family (`quotaError`), code (`RESOURCE_EXHAUSTED`) and
    /// message; `None` when the API's front end answered (no `SearchAds360Failure`).
    pub error: Option<(String, String, String)>,
    /// `quotaErrorDetails.retryDelay`.
    pub retry_delay: Option<Duration>,
}

impl ApiFailure {
    /// Reads a `google.rpc.Status` object (`{"code", "message", "status", "details"}`).
    pub fn read(error: &Json) -> Self {
        let failure = error["details"].as_array().and_then(|details| {
            details.iter().find(|d| {
                d["@type"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("SearchAds360Failure"))
            })
        });
        let first = failure.and_then(|f| f["errors"].get(0));
        let error_code = first
            .and_then(|e| e["errorCode"].as_object())
            .and_then(|o| o.iter().next());
        let retry_delay = first
            .and_then(|e| e["details"]["quotaErrorDetails"]["retryDelay"].as_str())
            .and_then(duration);
        Self {
            code: error["code"]
                .as_u64()
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(0),
            status: error["status"].as_str().unwrap_or_default().to_owned(),
            message: error["message"].as_str().unwrap_or_default().to_owned(),
            error: error_code.map(|(family, code)| {
                (
                    family.clone(),
                    code.as_str().unwrap_or_default().to_owned(),
                    first
                        .and_then(|e| e["message"].as_str())
                        .unwrap_or_default()
                        .to_owned(),
                )
            }),
            retry_delay,
        }
    }

    /// What the client does about it (`None`: its default for the HTTP status).
    pub fn verdict(&self, http_status: u16) -> Option<Verdict> {
        let status = if http_status == 0 {
            self.code
        } else {
            http_status
        };
        let (family, code, detail) = match &self.error {
            Some((family, code, detail)) => (family.as_str(), code.as_str(), detail.as_str()),
            None => ("", "", ""),
        };
        Some(match (family, self.status.as_str()) {
            ("quotaError", _) => Verdict::RateLimited {
                reason: format!("query quota exhausted ({code}): {detail}"),
                retry_after: self.retry_delay,
            },
            ("sizeLimitError", _) => Verdict::TooLarge(format!("{code}: {detail}")),
            ("", "RESOURCE_EXHAUSTED") => Verdict::TooLarge(format!(
                "the answer is over the api's message size limit: {}",
                self.message
            )),
            // The client refreshes the token after a 401, and retries a 5xx.
            _ if status == 401 || status >= 500 => return None,
            ("internalError", _) | (_, "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "INTERNAL") => {
                Verdict::Transient(format!("{} {code}: {}", self.status, self.message))
            }
            ("", _) => Verdict::Permanent(format!(
                "the api refused the request ({}): {}",
                self.status, self.message
            )),
            (family, _) => Verdict::Permanent(format!(
                "the api refused the request ({family} {code}): {detail}"
            )),
        })
    }
}

/// `"7s"`, `"1.5s"` (proto3 JSON durations).
fn duration(text: &str) -> Option<Duration> {
    let seconds: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// The `error` object of an error body: `{"error": {...}}`, or `[{"error": {...}}]` from a stream.
fn error_object(body: &Json) -> Option<&Json> {
    let error = match body {
        Json::Array(elements) => &elements.first()?["error"],
        other => &other["error"],
    };
    error.is_object().then_some(error)
}

/// The client's verdict on an SA360 answer (see the module docs); `None` keeps the default.
pub fn verdict(status: u16, body: &[u8]) -> Option<Verdict> {
    if (200..300).contains(&status) {
        return None;
    }
    let body: Json = serde_json::from_slice(body).ok()?;
    ApiFailure::read(error_object(&body)?).verdict(status)
}

/// The rows of one `searchStream` element (none when `results` is left out), or the failure it
/// holds instead.
pub fn batch_rows(
    batch: &JsonDoc,
) -> Result<impl Iterator<Item = JsonRef<'_>> + Send, Box<ApiFailure>> {
    let batch = batch.root();
    if let Some(error) = batch.get("error").filter(|e| e.kind() == Kind::Object) {
        return Err(Box::new(ApiFailure::read(&error.to_value())));
    }
    Ok(batch.get("results").into_iter().flat_map(JsonView::items))
}

/// `search` pages: `results` (left out when empty) and `nextPageToken`.
fn search_envelope() -> Envelope {
    Envelope::new("results")
        .next_in_body("nextPageToken")
        .total("totalResultsCount")
        .absent_when_empty()
}

/// The SA360 API client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sa360Api {
    http: HttpClient,
    oauth: OAuth2,
    stream_timeout: Duration,
    /// Set once `searchStream` failed request after request in this sync: queries then go straight
    /// to `search` pages instead of paying the stream's retries again for every query.
    stream_down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Sa360Api {
    /// A client for `config` with `tuning`, the query budget and SA360's error verdicts.
    pub fn new(config: ApiConfig, tuning: &Tuning) -> Result<Self, HttpError> {
        let mut http = HttpConfig::new(config.base_url);
        http.rate_limit = Some(RATE_LIMIT);
        http.credentials_hint = CREDENTIALS_HINT.into();
        let oauth = OAuth2::new(OAuth2Config {
            token_url: config.token_url,
            client_id: config.client_id,
            client_secret: config.client_secret,
            refresh_token: config.refresh_token,
            expiry_margin: Duration::from_secs(60),
        });
        let http = HttpClient::builder(http)
            .tuning(tuning)
            .auth(Auth::OAuth2(oauth.clone()))
            .hook(verdict)
            .build()?;
        Ok(Self {
            http,
            oauth,
            stream_timeout: tuning.download_timeout,
            stream_down: Default::default(),
        })
    }

    /// Whether `searchStream` is worth trying (it has not been found down in this sync).
    pub fn stream_usable(&self) -> bool {
        !self.stream_down.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records that `searchStream` is down: the rest of the sync reads `search` pages.
    pub fn mark_stream_down(&self) {
        self.stream_down
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Access tokens fetched so far.
    pub fn refresh_count(&self) -> u64 {
        self.oauth.refresh_count()
    }

    /// The underlying client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    fn for_account(request: Request, account: &Account) -> Request {
        match &account.login {
            Some(login) => request.header(LOGIN_HEADER, login.clone()),
            None => request,
        }
    }

    /// `GET /v0/customers:listAccessibleCustomers`: the customers the user was granted directly.
    pub async fn accessible_customers(&self) -> Result<Vec<String>, HttpError> {
        let body = self
            .http
            .json(&Request::get("/v0/customers:listAccessibleCustomers"))
            .await?;
        Ok(models::accessible_ids(&body))
    }

    /// `POST .../searchAds360:searchStream`: the answer streamed, one JSON array of batches. A
    /// `shrinkable` stream that times out is reported too large.
    pub async fn search_stream(
        &self,
        account: &Account,
        query: &str,
        shrinkable: bool,
    ) -> Result<Download, HttpError> {
        let request = Request::post(format!(
            "/v0/customers/{}/searchAds360:searchStream",
            account.customer_id
        ))
        .json(json!({ "query": query }))
        .timeout(self.stream_timeout)
        .shrinkable_if(shrinkable);
        self.http
            .download(&Self::for_account(request, account))
            .await
    }

    /// `POST .../searchAds360:search`: one page of `page_size` rows after `page_token`. A page that
    /// times out is reported too large while it can shrink. The first page asks for the total count,
    /// so a first page emptied or cut is told from an empty result (and retried).
    pub async fn search(
        &self,
        account: &Account,
        query: &str,
        page_token: Option<&str>,
        page_size: u32,
        shrinkable: bool,
    ) -> Result<Page, HttpError> {
        let mut body = json!({ "query": query, "pageSize": page_size });
        let asked = match page_token {
            Some(token) => {
                body["pageToken"] = Json::String(token.to_owned());
                None
            }
            None => {
                body["returnTotalResultsCount"] = Json::Bool(true);
                Some(Asked {
                    skip: 0,
                    take: u64::from(page_size),
                })
            }
        };
        let request = Request::post(format!(
            "/v0/customers/{}/searchAds360:search",
            account.customer_id
        ))
        .json(body)
        .shrinkable_if(shrinkable);
        search_envelope()
            .fetch(&self.http, &Self::for_account(request, account), asked)
            .await
    }

    /// How many rows `query` matches for `account` (`search` with `returnTotalResultsCount` and one row).
    pub async fn count(&self, account: &Account, query: &str) -> Result<u64, HttpError> {
        Ok(self
            .search(account, query, None, 1, false)
            .await?
            .total
            .unwrap_or(0))
    }

    /// `GET /v0/customers/{id}/customColumns`: every custom column of the account.
    pub async fn custom_columns(&self, account: &Account) -> Result<Vec<Json>, HttpError> {
        let request = Request::get(format!(
            "/v0/customers/{}/customColumns",
            account.customer_id
        ));
        let page = Envelope::new("customColumns")
            .absent_when_empty()
            .fetch(&self.http, &Self::for_account(request, account), None)
            .await?;
        Ok(page.records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error: Json) -> Vec<u8> {
        serde_json::to_vec(&json!({ "error": error })).unwrap()
    }

    fn failure(code: u16, status: &str, family: &str, value: &str, extra: Json) -> Json {
        let mut error = json!({"errorCode": {family: value}, "message": "the detail"});
        if let (Json::Object(e), Json::Object(x)) = (&mut error, extra) {
            e.extend(x);
        }
        json!({"code": code, "message": "top message", "status": status, "details": [{
            "@type": "type.googleapis.com/google.ads.searchads360.v0.errors.SearchAds360Failure",
            "errors": [error], "requestId": "r"}]})
    }

    #[test]
    fn quota_errors_wait_their_retry_delay_and_size_errors_shrink() {
        let quota = failure(
            429,
            "RESOURCE_EXHAUSTED",
            "quotaError",
            "RESOURCE_EXHAUSTED",
            json!({"details": {"quotaErrorDetails": {"retryDelay": "7s"}}}),
        );
        assert_eq!(
            verdict(429, &body(quota)),
            Some(Verdict::RateLimited {
                reason: "query quota exhausted (RESOURCE_EXHAUSTED): the detail".into(),
                retry_after: Some(Duration::from_secs(7)),
            })
        );
        let rows = failure(
            429,
            "RESOURCE_EXHAUSTED",
            "sizeLimitError",
            "RESPONSE_SIZE_LIMIT_EXCEEDED",
            json!({}),
        );
        assert!(matches!(
            verdict(429, &body(rows)),
            Some(Verdict::TooLarge(_))
        ));
        let bare = json!({"code": 429, "status": "RESOURCE_EXHAUSTED",
                          "message": "Received message larger than max (5000000 vs. 4194304)"});
        assert!(matches!(
            verdict(429, &body(bare.clone())),
            Some(Verdict::TooLarge(m)) if m.contains("larger than max")
        ));
        let streamed = serde_json::to_vec(&json!([{ "error": bare }])).unwrap();
        assert!(matches!(
            verdict(429, &streamed),
            Some(Verdict::TooLarge(_))
        ));
    }

    #[test]
    fn authorization_and_query_errors_fail_with_the_api_code_and_server_errors_retry() {
        let denied = failure(
            403,
            "PERMISSION_DENIED",
            "authorizationError",
            "USER_PERMISSION_DENIED",
            json!({}),
        );
        assert_eq!(
            verdict(403, &body(denied)),
            Some(Verdict::Permanent(
                "the api refused the request (authorizationError USER_PERMISSION_DENIED): the detail"
                    .into()
            ))
        );
        let expired = failure(
            401,
            "UNAUTHENTICATED",
            "authenticationError",
            "OAUTH_TOKEN_EXPIRED",
            json!({}),
        );
        assert_eq!(verdict(401, &body(expired)), None, "the client refreshes");
        let internal = failure(
            500,
            "INTERNAL",
            "internalError",
            "INTERNAL_ERROR",
            json!({}),
        );
        assert_eq!(verdict(500, &body(internal.clone())), None);
        assert_eq!(
            ApiFailure::read(&internal).verdict(0),
            None,
            "a stream element is read with its own code"
        );
        let odd = failure(
            403,
            "INTERNAL",
            "internalError",
            "INTERNAL_ERROR",
            json!({}),
        );
        assert!(matches!(
            verdict(403, &body(odd)),
            Some(Verdict::Transient(_))
        ));
        assert_eq!(verdict(503, b"<html>"), None);
        assert_eq!(verdict(200, b"{}"), None);
        let front =
            json!({"code": 400, "status": "INVALID_ARGUMENT", "message": "Invalid JSON payload"});
        assert!(matches!(
            verdict(400, &body(front)),
            Some(Verdict::Permanent(m)) if m.contains("Invalid JSON payload")
        ));
    }

    #[test]
    fn stream_batches_hold_rows_or_an_error() {
        let doc = |value: Json| JsonDoc::parse(value.to_string().as_bytes()).unwrap();
        let batch = doc(json!({"results": [{"a": 1}], "fieldMask": "a"}));
        assert_eq!(batch_rows(&batch).ok().unwrap().count(), 1);
        let empty = doc(json!({"fieldMask": "a"}));
        assert_eq!(batch_rows(&empty).ok().unwrap().count(), 0);
        let failed = doc(json!({"error": {"code": 500, "status": "INTERNAL", "message": "m"}}));
        let Err(err) = batch_rows(&failed) else {
            panic!("an error batch read as rows")
        };
        assert_eq!((err.code, err.status.as_str()), (500, "INTERNAL"));
        assert_eq!(duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(duration("soon"), None);
    }

    #[test]
    fn an_account_names_its_manager() {
        let under = Account {
            customer_id: "4100000001".into(),
            login: Some("9100000001".into()),
        };
        assert_eq!(
            under.to_string(),
            "customer 4100000001 (through manager 9100000001)"
        );
        let direct = Account {
            customer_id: "5200000001".into(),
            login: Some("5200000001".into()),
        };
        assert_eq!(direct.to_string(), "customer 5200000001");
    }
}
