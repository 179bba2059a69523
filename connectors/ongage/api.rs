//! The OnGage API surface the connector uses: requests and raw answers only (JSON payloads, the server's
//! clock, streamed CSV). No retries, pacing or classification here beyond what the shared
//! [`HttpClient`] does with the settings below, and no emitting.
//!
//! - Authentication is the three underscore headers `X_USERNAME`, `X_PASSWORD`, `X_ACCOUNT_CODE`.
//! - Every JSON answer is the `{"metadata": {"error", "total"}, "payload"}` envelope; [`envelope_verdict`]
//!   turns an error envelope (also one sent with status 200) and the documented 429 body into the client's
//!   verdicts, so a rate-limited call is retried and an API message reaches the user.
//! - The documented limits (300 calls per minute, 10 in flight) are the client's rate budget and
//!   concurrency limit, shared by every request of a sync.
//! - Contact searches are created with `filters.type = "All"`, so every status (active, unsubscribed,
//!   bounced, complained) is exported, and with date criteria from a [`SearchSpec`].

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::http::{
    Auth, Download, HttpClient, HttpConfig, HttpError, RateLimit, Request, RetryPolicy, Tuning,
    Verdict,
};
use crate::sdk::Secret;
use crate::sync::{Asked, Envelope, Page};

/// What a 401 tells the user to check.
pub const CREDENTIALS_HINT: &str = "check the username, password and account code";
/// OnGage's default rate limit: 300 calls per 60 seconds (an account's own limit is on its Profile page).
pub const CALLS_PER_MINUTE: u32 = 300;
/// OnGage's documented limit on calls in flight.
pub const MAX_IN_FLIGHT: usize = 10;

/// How to reach an OnGage account.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `https://api.ongage.net` or a simulator's URL.
    pub base_url: String,
    /// `X_USERNAME`.
    pub username: String,
    /// `X_PASSWORD`.
    pub password: Secret,
    /// `X_ACCOUNT_CODE` (the alphanumeric code, not the numeric account id).
    pub account_code: String,
    /// The account's rate limit, calls per minute.
    pub calls_per_minute: u32,
}

/// OnGage's production retry policy: 8 attempts, backoff from 2 s up to a minute, so a per-minute
/// limit has reset before the attempts run out.
pub fn retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        initial_backoff: Duration::from_secs(2),
        max_backoff: Duration::from_secs(60),
        max_rate_limit_wait: Duration::from_secs(15 * 60),
    }
}

/// Every JSON answer: `{"metadata": {"error", "total"}, "payload": [...]}`.
fn envelope() -> Envelope {
    Envelope::new("payload").total("metadata.total")
}

/// An `ocx_*` date a contact search can filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateField {
    /// `ocx_created_date`: when the contact joined the list.
    Created,
    /// `ocx_unsubscribe_date`.
    Unsubscribe,
    /// `ocx_resubscribe_date`.
    Resubscribe,
    /// `ocx_bounce_date`.
    Bounce,
    /// `ocx_complaint_date`.
    Complaint,
}

impl DateField {
    /// Every date a contact's row changes with: creation and each status change.
    pub const ALL: [DateField; 5] = [
        DateField::Created,
        DateField::Unsubscribe,
        DateField::Resubscribe,
        DateField::Bounce,
        DateField::Complaint,
    ];

    /// The API's field name.
    pub fn name(self) -> &'static str {
        match self {
            DateField::Created => "ocx_created_date",
            DateField::Unsubscribe => "ocx_unsubscribe_date",
            DateField::Resubscribe => "ocx_resubscribe_date",
            DateField::Bounce => "ocx_bounce_date",
            DateField::Complaint => "ocx_complaint_date",
        }
    }
}

/// Which contacts a search selects (always every status). Bounds are Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchSpec {
    /// Contacts whose `field` lies in `[from, to)`; a missing bound is open.
    Range {
        /// The date filtered on.
        field: DateField,
        /// Inclusive lower bound.
        from: Option<i64>,
        /// Exclusive upper bound.
        to: Option<i64>,
    },
    /// Contacts created or with any status change at or after `from` (the criteria OR-ed).
    ChangedSince {
        /// Inclusive lower bound.
        from: i64,
    },
}

impl fmt::Display for SearchSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |s: i64| DateTime::from_timestamp(s, 0).map_or(s.to_string(), |d| d.to_rfc3339());
        match *self {
            SearchSpec::Range { field, from, to } => write!(
                f,
                "{} in [{}, {})",
                field.name(),
                from.map_or("start".to_owned(), at),
                to.map_or("now".to_owned(), at)
            ),
            SearchSpec::ChangedSince { from } => {
                write!(f, "contacts created or changed since {}", at(from))
            }
        }
    }
}

fn criterion(field: DateField, operator: &str, operand: Value, condition: &str) -> Value {
    json!({"type": "date_absolute", "field_name": field.name(), "operator": operator,
           "operand": [operand], "case_sensitive": 0, "condition": condition})
}

/// The body of `POST /{list_id}/api/contact_search` for `spec`.
pub fn search_body(spec: &SearchSpec, title: &str) -> Value {
    let (criteria, all) = match *spec {
        SearchSpec::Range { field, from, to } => {
            let mut criteria: Vec<Value> = from
                .map(|s| criterion(field, ">=", json!(s), "and"))
                .into_iter()
                .chain(to.map(|s| criterion(field, "<", json!(s), "and")))
                .collect();
            if criteria.is_empty() {
                // A search needs a criterion; every contact has a creation date.
                criteria.push(criterion(field, "notempty", json!(""), "and"));
            }
            (criteria, true)
        }
        SearchSpec::ChangedSince { from } => {
            let criteria = DateField::ALL
                .iter()
                .map(|f| criterion(*f, ">=", json!(from), "or"))
                .collect();
            (criteria, false)
        }
    };
    json!({
        "title": title,
        "include_behavior": false,
        "combined_as_and": all,
        "filters": {"type": "All", "user_type": "all", "criteria": criteria},
    })
}

/// The client's verdict on an OnGage answer carrying an error envelope, whatever its status: the
/// documented 429 body and 5xx codes are retried (`None` for a 5xx status keeps the client's own retry);
/// anything else fails at once with the API's message, the credentials hint first for a 401.
pub fn envelope_verdict(status: u16, body: &[u8]) -> Option<Verdict> {
    let envelope: Value = serde_json::from_slice(body).ok()?;
    if envelope["metadata"]["error"] != json!(true) {
        return None;
    }
    let payload = &envelope["payload"];
    let code = match &payload["code"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .unwrap_or(u64::from(status));
    let message = payload["message"].as_str().unwrap_or("no message");
    match (status, code) {
        (_, 429) | (429, _) => Some(Verdict::Transient(format!(
            "rate limited: {}",
            message.to_lowercase()
        ))),
        (408 | 500..=599, _) => None,
        (_, 408 | 500..=599) => Some(Verdict::Transient(format!("error {code}: {message}"))),
        (_, 401) | (401, _) => Some(Verdict::Permanent(format!(
            "{CREDENTIALS_HINT} ({message})"
        ))),
        _ => Some(Verdict::Permanent(format!(
            "the api reported error {code}: {message}"
        ))),
    }
}

/// The client's budget for `per_minute` calls a minute: a burst of up to 10 calls, then paced at the
/// rest of the limit, so no 60-second span (hence no fixed window the server counts in) exceeds it.
pub fn rate_limit(per_minute: u32) -> RateLimit {
    let burst = (per_minute / 30).clamp(1, 10);
    RateLimit {
        limit: per_minute.saturating_sub(burst).max(1),
        period: Duration::from_secs(60),
        burst,
    }
}

/// The OnGage API client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OngageApi {
    http: HttpClient,
    export_timeout: Duration,
}

impl OngageApi {
    /// A client for `config` with `tuning`, OnGage's rate limit, concurrency limit and envelope
    /// verdicts.
    pub fn new(config: ApiConfig, tuning: &Tuning) -> Result<Self, HttpError> {
        let mut http = HttpConfig::new(config.base_url);
        http.rate_limit = Some(rate_limit(config.calls_per_minute));
        http.max_in_flight = MAX_IN_FLIGHT;
        http.credentials_hint = CREDENTIALS_HINT.into();
        let auth = Auth::headers([
            ("X_USERNAME", Secret::new(config.username)),
            ("X_PASSWORD", config.password),
            ("X_ACCOUNT_CODE", Secret::new(config.account_code)),
        ]);
        let http = HttpClient::builder(http)
            .tuning(tuning)
            .auth(auth)
            .hook(envelope_verdict)
            .build()?;
        Ok(Self {
            http,
            export_timeout: tuning.download_timeout,
        })
    }

    /// The underlying client (its clock drives job polling).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// `GET /api/lists`, sorted by id, `limit` lists from `offset`, with the server's clock (the
    /// `Date` header) when it sent one.
    pub async fn lists(
        &self,
        offset: u64,
        limit: u32,
    ) -> Result<(Page, Option<DateTime<Utc>>), HttpError> {
        let request = Request::get("/api/lists")
            .query("sort", "id")
            .query("order", "asc")
            .query("offset", offset)
            .query("limit", limit);
        let asked = Asked {
            skip: offset,
            take: u64::from(limit),
        };
        envelope()
            .fetch_with_server_time(&self.http, &request, Some(asked))
            .await
    }

    /// `GET /{list_id}/api/list_fields`: the list's field records (all of them: a page shorter than
    /// the envelope's total is refused).
    pub async fn list_fields(&self, list_id: &str) -> Result<Vec<Value>, HttpError> {
        let request = Request::get(format!("/{list_id}/api/list_fields"));
        let everything = Asked {
            skip: 0,
            take: u64::MAX,
        };
        let page = envelope()
            .fetch(&self.http, &request, Some(everything))
            .await?;
        Ok(page.records)
    }

    /// How many contacts a completed search matched: `metadata.total` of its first result page.
    pub async fn search_total(
        &self,
        list_id: &str,
        search_id: &str,
    ) -> Result<Option<u64>, HttpError> {
        let request = Request::get(format!("/{list_id}/api/contact_search/{search_id}/result"))
            .query("offset", 0)
            .query("limit", 1);
        Ok(envelope().fetch(&self.http, &request, None).await?.total)
    }

    /// `POST /{list_id}/api/contact_search`: creates a search; returns its payload (`id`, `status`).
    pub async fn create_search(
        &self,
        list_id: &str,
        spec: &SearchSpec,
    ) -> Result<Value, HttpError> {
        let title = format!("fivetran_source list {list_id}: {spec}");
        let request =
            Request::post(format!("/{list_id}/api/contact_search")).json(search_body(spec, &title));
        self.payload(&request).await
    }

    /// `GET /{list_id}/api/contact_search/{id}`: the search's payload (`status` 1 pending, 2 completed,
    /// 3 failed).
    pub async fn search(&self, list_id: &str, search_id: &str) -> Result<Value, HttpError> {
        let request = Request::get(format!("/{list_id}/api/contact_search/{search_id}"));
        self.payload(&request).await
    }

    /// The `payload` object of an answer; an answer without one is retried like a 5xx.
    async fn payload(&self, request: &Request) -> Result<Value, HttpError> {
        let check = |r: &crate::http::JsonResponse| {
            r.body["payload"]
                .is_object()
                .then_some(())
                .ok_or_else(|| "the answer has no 'payload' object".to_owned())
        };
        let mut response = self.http.send_json_checked(request, &check).await?;
        Ok(response.body["payload"].take())
    }

    /// `GET /{list_id}/api/contact_search/{id}/export`: the completed search as a streamed CSV.
    pub async fn export(&self, list_id: &str, search_id: &str) -> Result<Download, HttpError> {
        let request = Request::get(format!("/{list_id}/api/contact_search/{search_id}/export"))
            .timeout(self.export_timeout);
        self.http.download(&request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_search_covers_every_status_with_half_open_bounds() {
        let spec = SearchSpec::Range {
            field: DateField::Created,
            from: Some(100),
            to: Some(200),
        };
        let body = search_body(&spec, "t");
        assert_eq!(body["filters"]["type"], "All");
        assert_eq!(body["combined_as_and"], true);
        let criteria = body["filters"]["criteria"].as_array().unwrap();
        let ops: Vec<(&str, &str, i64)> = criteria
            .iter()
            .map(|c| {
                (
                    c["field_name"].as_str().unwrap(),
                    c["operator"].as_str().unwrap(),
                    c["operand"][0].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ops,
            vec![
                ("ocx_created_date", ">=", 100),
                ("ocx_created_date", "<", 200)
            ]
        );
    }

    #[test]
    fn an_unbounded_range_still_has_a_criterion_and_changed_since_ors_every_date() {
        let open = SearchSpec::Range {
            field: DateField::Created,
            from: None,
            to: None,
        };
        let criteria = &search_body(&open, "t")["filters"]["criteria"];
        assert_eq!(criteria[0]["operator"], "notempty");

        let body = search_body(&SearchSpec::ChangedSince { from: 5 }, "t");
        assert_eq!(body["combined_as_and"], false);
        let fields: Vec<&str> = body["filters"]["criteria"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field_name"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            DateField::ALL.iter().map(|f| f.name()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn envelopes_become_verdicts() {
        let limited = br#"{"metadata":{"error":true},"payload":{"code":429,"errors":[],"message":"Calls per minute exceeded"}}"#;
        assert!(matches!(
            envelope_verdict(429, limited),
            Some(Verdict::Transient(m)) if m.contains("calls per minute exceeded")
        ));
        assert!(matches!(
            envelope_verdict(200, limited),
            Some(Verdict::Transient(_))
        ));
        let unauthorized =
            br#"{"metadata":{"error":true},"payload":{"code":"401","message":"Unauthorized"}}"#;
        for status in [200, 401] {
            assert!(matches!(
                envelope_verdict(status, unauthorized),
                Some(Verdict::Permanent(m)) if m.contains(CREDENTIALS_HINT)
            ));
        }
        let bad = br#"{"metadata":{"error":true},"payload":{"code":400,"message":"bad filter"}}"#;
        assert!(matches!(
            envelope_verdict(200, bad),
            Some(Verdict::Permanent(m)) if m.contains("bad filter")
        ));
        assert_eq!(
            envelope_verdict(200, br#"{"metadata":{"error":false},"payload":[]}"#),
            None
        );
        assert_eq!(envelope_verdict(500, b"not json"), None);
        let failing = br#"{"metadata":{"error":true},"payload":{"code":503,"message":"busy"}}"#;
        assert_eq!(envelope_verdict(503, failing), None);
        assert!(matches!(
            envelope_verdict(200, failing),
            Some(Verdict::Transient(_))
        ));
    }

    #[test]
    fn the_budget_never_exceeds_the_limit_in_a_minute() {
        for per_minute in [10, 60, 300, 6_000] {
            let r = rate_limit(per_minute);
            assert!(r.burst >= 1 && r.limit + r.burst <= per_minute, "{r:?}");
        }
        assert_eq!(rate_limit(CALLS_PER_MINUTE).burst, 10);
    }

    #[test]
    fn specs_describe_their_window() {
        let spec = SearchSpec::Range {
            field: DateField::Bounce,
            from: Some(0),
            to: None,
        };
        assert_eq!(
            spec.to_string(),
            "ocx_bounce_date in [1970-01-01T00:00:00+00:00, now)"
        );
    }
}
