//! The VAN API v4 surface the connector uses: requests and raw answers only. No retries, pacing or
//! classification here beyond what the shared [`HttpClient`] does with the settings below, and no
//! emitting.
//!
//! - Authentication is HTTP Basic: the application name, and `<api key>|<mode>` as the password.
//! - Errors come as `{"errors":[{"code","text",...}]}`; [`error_verdict`] turns a refused request into a
//!   message naming the API's code and text (the credentials hint first for a 401). 429s and 5xx keep
//!   the client's retries, `Retry-After` included.
//! - No rate limit is published: the client keeps [`MAX_IN_FLIGHT`] requests in flight at most.
//! - List pages: the first page is built here with `$top` (and `$expand`); every later page is the
//!   `nextPageLink` **followed exactly as given** ([`Request::follow`]): it already carries every
//!   parameter, and re-adding them makes them pile up until the URL 404s. A link is followed only on
//!   the configured API host, so neither the API nor a saved state can send the credentials elsewhere.
//! - Export files are downloaded with no credentials (the shared client sends them to the API host only): download URLs point at blob
//!   storage, which needs none, and the API key has no business there.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value as Json};

use super::models::{ListEndpoint, Resource};
use crate::http::{Auth, Download, HttpClient, HttpConfig, HttpError, Request, Tuning, Verdict};
use crate::sdk::Secret;
use crate::sync::{Asked, Envelope, Page};

/// What a refused key (401) tells the user to check.
pub const CREDENTIALS_HINT: &str = "check the application name and API key (and the database mode)";

/// Requests in flight at most: the API publishes no limit, so the client stays modest.
pub const MAX_IN_FLIGHT: usize = 4;

/// How to reach one EveryAction database.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `https://api.securevan.com/v4`, the international address, or a simulator's.
    pub base_url: String,
    /// The Basic-auth user name.
    pub application_name: String,
    /// `<api key>|<mode>`.
    pub password: Secret,
}

/// The `code: text` of the first entry of an `errors` body, if it is one.
fn error_text(body: &[u8]) -> Option<String> {
    let value: Json = serde_json::from_slice(body).ok()?;
    let first = value.get("errors")?.get(0)?;
    let text = first["text"].as_str().unwrap_or("no text");
    Some(match first["code"].as_str() {
        Some(code) => format!("{code}: {text}"),
        None => text.to_owned(),
    })
}

/// The client's verdict on an error answer: 429, 408 and 5xx keep the client's retries (`None`);
/// any other refusal fails at once with the API's code and text, the credentials hint first for a
/// 401. The status stays on the error, so callers can tell a 403 from a 404.
pub fn error_verdict(status: u16, body: &[u8]) -> Option<Verdict> {
    if status < 400 || matches!(status, 408 | 429) || status >= 500 {
        return None;
    }
    let said = error_text(body).unwrap_or_else(|| "no error body".to_owned());
    Some(Verdict::Permanent(match status {
        401 => format!("{CREDENTIALS_HINT} ({said})"),
        403 => format!("the API key may not do this ({said})"),
        _ => format!("the api refused the request ({said})"),
    }))
}

/// The status of a refused request, if that is what `error` is.
pub fn refused_status(error: &HttpError) -> Option<u16> {
    match error {
        HttpError::Permanent { status, .. } => Some(*status),
        _ => None,
    }
}

/// The records of a list page: `{"items":[...],"nextPageLink":..,"count":N}`.
fn page_envelope() -> Envelope {
    Envelope::new("items")
        .total("count")
        .next_in_body("nextPageLink")
}

/// The request for the first page of `endpoint`: `$top` at its page size, `$expand` where it has one.
pub fn first_page(endpoint: ListEndpoint) -> Request {
    let mut request = Request::get(endpoint.path());
    if let Some(top) = endpoint.page_size() {
        request = request.query("$top", top);
    }
    if let Some(expand) = endpoint.expand() {
        request = request.query("$expand", expand);
    }
    request
}

/// What a page link asks for (`$skip`, `$top`), so the page can be checked against the API's count.
/// Reading the link never changes it.
fn asked_by(link: &str, default_top: u32) -> Asked {
    let url = reqwest::Url::parse(link).ok();
    let param = |name: &str| {
        url.as_ref().and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.parse::<u64>().ok())
        })
    };
    Asked {
        skip: param("$skip").unwrap_or(0),
        take: param("$top").unwrap_or(u64::from(default_top)),
    }
}

/// The EveryAction API client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EveryActionApi {
    http: HttpClient,
    base_url: String,
    download_timeout: Duration,
}

impl EveryActionApi {
    /// A client for `config` with `tuning`.
    pub fn new(config: ApiConfig, tuning: &Tuning) -> Result<Self, HttpError> {
        let mut http = HttpConfig::new(config.base_url.clone());
        http.max_in_flight = MAX_IN_FLIGHT;
        http.credentials_hint = CREDENTIALS_HINT.into();
        let auth = Auth::Basic {
            username: config.application_name,
            password: config.password,
        };
        let http = HttpClient::builder(http)
            .tuning(tuning)
            .auth(auth)
            .hook(error_verdict)
            .build()?;
        Ok(Self {
            http,
            base_url: config.base_url,
            download_timeout: tuning.download_timeout,
        })
    }

    /// The underlying client (its clock drives job polling).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Whether `link` is on the configured API host (the only place the client sends credentials).
    pub fn is_api_link(&self, link: &str) -> bool {
        self.http.is_api_origin(&Request::follow(link))
    }

    /// `GET apiKeyProfiles`: the key's profile (one item), with the server's clock (the `Date` header)
    /// when it sent one.
    pub async fn profile(&self) -> Result<(Vec<Json>, Option<DateTime<Utc>>), HttpError> {
        let request = Request::get("apiKeyProfiles");
        let (page, server_time) = page_envelope()
            .fetch_with_server_time(&self.http, &request, None)
            .await?;
        Ok((page.records, server_time))
    }

    /// The request for a page of `endpoint`: the first page, or the `nextPageLink` `link` followed
    /// exactly as given (refused when it leaves the API host).
    pub fn page_request(
        &self,
        endpoint: ListEndpoint,
        link: Option<&str>,
    ) -> Result<Request, HttpError> {
        match link {
            None => Ok(first_page(endpoint)),
            Some(link) if self.is_api_link(link) => Ok(Request::follow(link)),
            Some(link) => Err(HttpError::InvalidRequest {
                endpoint: crate::http::Endpoint {
                    method: "GET".into(),
                    path: reqwest::Url::parse(link)
                        .ok()
                        .and_then(|u| u.host_str().map(str::to_owned))
                        .unwrap_or_else(|| "?".into()),
                },
                message: format!(
                    "the nextPageLink of {} leaves the api host {}: the credentials are not sent there",
                    endpoint.path(),
                    self.base_url
                ),
            }),
        }
    }

    /// One page of a paged endpoint (see [`EveryActionApi::page_request`]), checked against its
    /// `count` inside the client's retries (a page without `items`, or cut short, is retried).
    pub async fn page(
        &self,
        endpoint: ListEndpoint,
        link: Option<&str>,
    ) -> Result<Page, HttpError> {
        let request = self.page_request(endpoint, link)?;
        let top = endpoint.page_size().unwrap_or(u32::MAX);
        let asked = match link {
            None => Asked {
                skip: 0,
                take: u64::from(top),
            },
            Some(link) => asked_by(link, top),
        };
        page_envelope()
            .fetch(&self.http, &request, Some(asked))
            .await
    }

    /// Every item of an endpoint that answers a bare array (`events/types`, `customFields`).
    pub async fn array(&self, endpoint: ListEndpoint) -> Result<Vec<Json>, HttpError> {
        let request = Request::get(endpoint.path());
        Ok(Envelope::new("")
            .fetch(&self.http, &request, None)
            .await?
            .records)
    }

    /// `GET changedEntityExportJobs/fields/{resourceType}`: the resource's CSV columns, custom fields
    /// included.
    pub async fn fields(&self, resource: Resource) -> Result<Json, HttpError> {
        let request = Request::get(format!(
            "changedEntityExportJobs/fields/{}",
            resource.api_name()
        ));
        // A resource always has fields: an empty list is an emptied answer, never a real one (it
        // would export every record with its columns missing).
        let check = |r: &crate::http::JsonResponse| {
            r.body
                .as_array()
                .is_some_and(|fields| !fields.is_empty())
                .then_some(())
                .ok_or_else(|| "the answer is not a non-empty array of fields".to_owned())
        };
        Ok(self.http.send_json_checked(&request, &check).await?.body)
    }

    /// `POST changedEntityExportJobs`: creates a job; returns the `201` answer.
    pub async fn create_job(&self, body: Json) -> Result<Json, HttpError> {
        let request = Request::post("changedEntityExportJobs").json(body);
        self.object(&request).await
    }

    /// `GET changedEntityExportJobs/{id}`: the job.
    pub async fn job(&self, id: u64) -> Result<Json, HttpError> {
        self.object(&Request::get(format!("changedEntityExportJobs/{id}")))
            .await
    }

    /// Streams one file of a complete job (a blob-storage URL: the client sends no credentials to
    /// another host).
    pub async fn download(&self, url: &str) -> Result<Download, HttpError> {
        let request = Request::get(url).timeout(self.download_timeout);
        self.http.download(&request).await
    }

    /// A JSON object answer; anything else is retried like a 5xx.
    async fn object(&self, request: &Request) -> Result<Json, HttpError> {
        let check = |r: &crate::http::JsonResponse| {
            r.body
                .is_object()
                .then_some(())
                .ok_or_else(|| "the answer is not a JSON object".to_owned())
        };
        Ok(self.http.send_json_checked(request, &check).await?.body)
    }
}

/// What a job exports: the changes of one resource in `[from, to]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// The resource.
    pub resource: Resource,
    /// `dateChangedFrom`.
    pub from: DateTime<Utc>,
    /// `dateChangedTo`.
    pub to: DateTime<Utc>,
    /// `requestedFields`: standard fields (core fields come anyway).
    pub fields: Vec<String>,
    /// `requestedCustomFieldIds` (sent only when there are some).
    pub custom_fields: Vec<u64>,
    /// `fileSizeKbLimit`: the output is split into files of about this size.
    pub file_size_kb: u64,
}

/// The body of `POST changedEntityExportJobs` for `spec`, inactive (deleted, suppressed) records
/// included.
pub fn job_body(spec: &JobSpec) -> Json {
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut body = json!({
        "resourceType": spec.resource.api_name(),
        "dateChangedFrom": at(spec.from),
        "dateChangedTo": at(spec.to),
        "requestedFields": spec.fields,
        "fileSizeKbLimit": spec.file_size_kb,
        "includeInactive": true,
    });
    if !spec.custom_fields.is_empty() {
        body["requestedCustomFieldIds"] = json!(spec.custom_fields);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::everyaction::simulator::{
        EveryActionConfig, EveryActionSimulator, Mode,
    };

    fn api(sim: &EveryActionSimulator) -> EveryActionApi {
        EveryActionApi::new(
            ApiConfig {
                base_url: sim.api_url(),
                application_name: sim.application_name().to_owned(),
                password: Secret::new(sim.password(Mode::MyCampaign)),
            },
            &Tuning::fast(),
        )
        .unwrap()
    }

    /// Pages through `endpoint` with `next_request` building each request after the first; returns
    /// the ids seen, or the first error.
    async fn walk(
        api: &EveryActionApi,
        endpoint: ListEndpoint,
        next_request: impl Fn(&str) -> Request,
    ) -> Result<Vec<u64>, HttpError> {
        let mut ids = Vec::new();
        let mut request = first_page(endpoint);
        loop {
            let mut body = api.http.json(&request).await?;
            for item in body["items"].as_array().unwrap() {
                ids.push(item[endpoint.key()].as_u64().unwrap());
            }
            match body["nextPageLink"].take() {
                Json::String(link) => request = next_request(&link),
                _ => return Ok(ids),
            }
        }
    }

    /// The regression test for re-adding parameters to a `nextPageLink`: following the links the
    /// connector's way reaches every event once with no refusal; a client that re-adds `$top` to the
    /// link (the parsons bug) is refused at once, so this test fails if `page_request` ever did that.
    #[tokio::test]
    async fn next_page_links_are_followed_exactly_and_re_adding_a_parameter_is_caught() {
        let sim = EveryActionSimulator::start(EveryActionConfig::small())
            .await
            .unwrap();
        let api = api(&sim);
        let endpoint = ListEndpoint::Events;
        let truth = sim.truth().list(
            Mode::MyCampaign,
            crate::connectors::everyaction::simulator::ListEndpoint::Events,
            "",
        );
        assert!(truth.len() > 100, "several pages of 50");
        let ours = walk(&api, endpoint, |link| {
            api.page_request(endpoint, Some(link)).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(ours.len(), truth.len());
        assert!(sim.refusals().is_empty(), "{:?}", sim.refusals());

        // What the connector must never do: the link plus its parameters once more.
        let re_added = walk(&api, endpoint, |link| Request::get(link).query("$top", 50))
            .await
            .unwrap_err();
        assert_eq!(refused_status(&re_added), Some(404), "{re_added}");
        assert_eq!(sim.refusals().len(), 1);
        assert_eq!(sim.refusals()[0].parameter, "$top");
    }

    #[tokio::test]
    async fn a_link_to_another_host_is_not_followed_and_pages_are_checked_against_their_count() {
        let sim = EveryActionSimulator::start(EveryActionConfig::small())
            .await
            .unwrap();
        let api = api(&sim);
        assert!(api
            .page_request(
                ListEndpoint::Codes,
                Some("https://evil.example/v4/codes?$top=200")
            )
            .is_err());
        let first = api.page(ListEndpoint::Codes, None).await.unwrap();
        assert_eq!(first.records.len(), 25);
        assert_eq!(first.total, Some(25));
        assert_eq!(first.next, None);
        let (profile, now) = api.profile().await.unwrap();
        assert_eq!(profile.len(), 1);
        assert_eq!(now, Some(sim.now()), "the server's clock, from Date");
        assert_eq!(
            asked_by("http://h/v4/events?$top=50&$expand=shifts&$skip=100", 200),
            Asked {
                skip: 100,
                take: 50
            }
        );
    }

    #[test]
    fn refusals_name_the_api_code_and_text_and_retryable_statuses_stay_retryable() {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","text":"Authorization has been denied for this request."}]}"#;
        match error_verdict(401, body) {
            Some(Verdict::Permanent(m)) => {
                assert!(
                    m.starts_with(CREDENTIALS_HINT) && m.contains("UNAUTHORIZED: Authorization"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            error_verdict(400, br#"{"errors":[{"code":"INVALID_PARAMETER","text":"dateChangedFrom must be within the last 90 days"}]}"#),
            Some(Verdict::Permanent(m)) if m.contains("90 days")
        ));
        for status in [200, 408, 429, 500, 503] {
            assert_eq!(error_verdict(status, body), None, "{status}");
        }
        assert!(
            matches!(error_verdict(404, b"<html>"), Some(Verdict::Permanent(m)) if m.contains("no error body"))
        );
    }

    #[test]
    fn a_job_asks_for_every_change_inactive_records_included() {
        let from: DateTime<Utc> = "2024-10-03T01:00:00Z".parse().unwrap();
        let to: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
        let mut spec = JobSpec {
            resource: Resource::Contacts,
            from,
            to,
            fields: vec!["VanID".into(), "Email".into()],
            custom_fields: vec![3],
            file_size_kb: 500,
        };
        assert_eq!(
            job_body(&spec),
            json!({"resourceType": "Contacts", "dateChangedFrom": "2024-10-03T01:00:00Z",
                "dateChangedTo": "2025-01-01T00:00:00Z", "requestedFields": ["VanID", "Email"],
                "requestedCustomFieldIds": [3], "fileSizeKbLimit": 500, "includeInactive": true})
        );
        spec.custom_fields.clear();
        assert!(job_body(&spec).get("requestedCustomFieldIds").is_none());
    }
}
