//! One page of records, and the [`Envelope`] that reads it out of a response: where the records, the
//! total and the next page's position sit. Reading a page is also where response integrity is checked,
//! once for every connector, inside the HTTP client's retry loop (so a bad page is retried like a 5xx):
//! - a body without its records array is unreadable, never an empty page;
//! - a page shorter than asked for while the API's own total says more records follow it contradicts
//!   itself (an emptied or cut page) and is unreadable too.

use reqwest::header::HeaderMap;
use serde_json::Value;

use std::sync::Arc;

use crate::http::{HttpClient, HttpError, JsonResponse, Request};
use crate::sdk::json::{JsonDoc, JsonView, Kind, Record};
use crate::sdk::table::{read, FieldPath};

/// One page as an API returned it: records as `serde_json::Value`s, or as [`Record`]s of the page's
/// [`JsonDoc`] ([`Envelope::fetch_records`]), which cost a fraction of the CPU and memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<R = Value> {
    /// The records, in the API's order.
    pub records: Vec<R>,
    /// The API's count of every record the query matches, if it reports one.
    pub total: Option<u64>,
    /// Where the next page is (a token or an absolute link), if the API says; `None` on the last page.
    pub next: Option<String>,
}

/// Where the next page's position comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Positions are computed by the caller (ids, offsets, page numbers).
    Computed,
    /// A token or absolute URL in the body (`nextPageLink`, `paging.next.after`, `nextPageToken`).
    Body(FieldPath),
    /// The `rel="next"` URL of the `Link` header.
    LinkHeader,
    /// A field of the last record (`starting_after=<last id>`), while the body's `has_more` flag (if
    /// given) is true.
    LastRecord {
        /// The field of the last record.
        field: FieldPath,
        /// The body's flag that says whether more pages follow, e.g. `has_more`.
        has_more: Option<FieldPath>,
    },
    /// A GraphQL Relay connection's `pageInfo` object: the next page is `after: endCursor` while
    /// `hasNextPage` is true (the last page still names an `endCursor`, which must not be followed).
    Relay {
        /// The `pageInfo` object (`data.repository.issues.pageInfo`).
        page_info: FieldPath,
    },
}

/// What a page request asked for, so a page can be checked against the API's total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    /// Records skipped before this page, within the query the total counts.
    pub skip: u64,
    /// Records asked for.
    pub take: u64,
}

/// Where a page's parts sit in a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    records: FieldPath,
    total: Option<FieldPath>,
    next: Next,
    absent_when_empty: bool,
}

impl Envelope {
    /// Records at `records` (`list`, `items`, `data`, `payload`; `""` when the body is the array).
    pub fn new(records: &str) -> Self {
        Self {
            records: FieldPath::parse(records),
            total: None,
            next: Next::Computed,
            absent_when_empty: false,
        }
    }

    /// The API leaves the records array out of an empty answer (proto3 JSON omits an empty
    /// repeated field: SA360's `results`, Google's list calls): an answer without it is an empty
    /// page, unless the body names a next page (only the last page of a paged answer may be
    /// empty, so that answer was emptied or cut, and is unreadable like a missing array).
    pub fn absent_when_empty(mut self) -> Self {
        self.absent_when_empty = true;
        self
    }

    /// The API's total count at `path` (a number, or a numeric string).
    pub fn total(mut self, path: &str) -> Self {
        self.total = Some(FieldPath::parse(path));
        self
    }

    /// The next page's position comes from `next`.
    pub fn next(mut self, next: Next) -> Self {
        self.next = next;
        self
    }

    /// The next page's token or link is at `path` of the body.
    pub fn next_in_body(self, path: &str) -> Self {
        self.next(Next::Body(FieldPath::parse(path)))
    }

    /// A GraphQL Relay connection at `connection` (`data.repository.issues`): records at its `nodes`,
    /// the next page by its `pageInfo { hasNextPage endCursor }` ([`Next::Relay`]).
    pub fn relay(connection: &str) -> Self {
        let at = |field: &str| {
            if connection.is_empty() {
                field.to_owned()
            } else {
                format!("{connection}.{field}")
            }
        };
        Self::new(&at("nodes")).next(Next::Relay {
            page_info: FieldPath::parse(&at("pageInfo")),
        })
    }

    /// Checks a response without taking it apart: `Err` says what is wrong.
    pub fn check(&self, response: &JsonResponse, asked: Option<Asked>) -> Result<(), String> {
        self.check_body(&response.body, &response.headers, asked)
    }

    /// [`Envelope::check`] for a response decoded as a [`JsonDoc`].
    pub fn check_records(
        &self,
        response: &JsonResponse<JsonDoc>,
        asked: Option<Asked>,
    ) -> Result<(), String> {
        self.check_body(response.body.root(), &response.headers, asked)
    }

    fn check_body<'a>(
        &self,
        body: impl JsonView<'a>,
        headers: &HeaderMap,
        asked: Option<Asked>,
    ) -> Result<(), String> {
        let records = match self.records.get(body).map(|r| (r.kind(), r)) {
            Some((Kind::Array, records)) => records.items().count() as u64,
            Some((Kind::Null, _)) | None
                if self.absent_when_empty && matches!(body.kind(), Kind::Object) =>
            {
                if self.read_next(body, headers).is_some() {
                    return Err(format!(
                        "the response has no '{}' array but names a next page: an emptied or cut page",
                        self.records
                    ));
                }
                0
            }
            Some((Kind::Null, _)) | None => {
                return Err(format!("the response has no '{}' array", self.records))
            }
            Some(_) => return Err(format!("'{}' is not an array", self.records)),
        };
        let total = self.read_total(body)?;
        // A page that holds records and names the next one is not the last, whatever its length
        // (servers clamp the page size); an empty page, or a last page, must square with the total.
        let continues = records > 0 && self.read_next(body, headers).is_some();
        if let (Some(asked), Some(total), false) = (asked, total, continues) {
            if records < asked.take && asked.skip + records < total {
                return Err(format!(
                    "the page holds {records} records after skipping {} while the api counts {total}: an emptied or cut page",
                    asked.skip
                ));
            }
        }
        Ok(())
    }

    /// Takes the page out of a response (already [`Envelope::check`]ed, or checked here).
    pub fn read(&self, mut response: JsonResponse) -> Result<Page, String> {
        self.check(&response, None)?;
        let total = self.read_total(&response.body)?;
        let next = self.read_next(&response.body, &response.headers);
        let records = take_at(&mut response.body, &self.records);
        let next = match (&self.next, next) {
            (Next::LastRecord { field, .. }, Some(_)) => {
                records.last().and_then(|r| text(field.get(r)?))
            }
            (_, next) => next,
        };
        Ok(Page {
            records,
            total,
            next,
        })
    }

    /// [`Envelope::read`] for a response decoded as a [`JsonDoc`]: the records share the page's document.
    pub fn read_records(&self, response: JsonResponse<JsonDoc>) -> Result<Page<Record>, String> {
        let body = response.body.root();
        self.check_body(body, &response.headers, None)?;
        let total = self.read_total(body)?;
        let next = self.read_next(body, &response.headers);
        let next = match (&self.next, next) {
            (Next::LastRecord { field, .. }, Some(_)) => self
                .records
                .get(body)
                .and_then(|records| records.items().last())
                .and_then(|r| text(field.get(r)?)),
            (_, next) => next,
        };
        let count = self.records.get(body).map_or(0, |r| r.items().count());
        let doc = Arc::new(response.body);
        let mut records = Vec::with_capacity(count);
        if let Some(array) = self.records.get(doc.root()) {
            records.extend(array.items().map(|r| r.to_record(&doc)));
        }
        Ok(Page {
            records,
            total,
            next,
        })
    }

    /// [`Envelope::fetch`] with the body decoded as a [`JsonDoc`]: no `Value` tree is built, and the
    /// page's records are [`Record`]s of it.
    pub async fn fetch_records(
        &self,
        http: &HttpClient,
        request: &Request,
        asked: Option<Asked>,
    ) -> Result<Page<Record>, HttpError> {
        let check = |r: &JsonResponse<JsonDoc>| self.check_records(r, asked);
        let response = http.send_json_checked(request, &check).await?;
        self.read_records(response)
            .map_err(|message| HttpError::Decode {
                endpoint: http.endpoint(request),
                message,
            })
    }

    /// Sends `request` and reads its page, retrying a response that fails [`Envelope::check`] (for
    /// `asked`, when given) like a 5xx; after the retries the error is [`HttpError::Decode`].
    pub async fn fetch(
        &self,
        http: &HttpClient,
        request: &Request,
        asked: Option<Asked>,
    ) -> Result<Page, HttpError> {
        Ok(self.fetch_with_server_time(http, request, asked).await?.0)
    }

    /// [`Envelope::fetch`], with the server's clock (its `Date` header) when it sent one.
    pub async fn fetch_with_server_time(
        &self,
        http: &HttpClient,
        request: &Request,
        asked: Option<Asked>,
    ) -> Result<(Page, Option<chrono::DateTime<chrono::Utc>>), HttpError> {
        let response = http
            .send_json_checked(request, &|r| self.check(r, asked))
            .await?;
        let server_time = response.server_time();
        let page = self.read(response).map_err(|message| HttpError::Decode {
            endpoint: http.endpoint(request),
            message,
        })?;
        Ok((page, server_time))
    }

    fn read_total<'a>(&self, body: impl JsonView<'a>) -> Result<Option<u64>, String> {
        let Some(path) = &self.total else {
            return Ok(None);
        };
        match path.get(body) {
            None => Ok(None),
            Some(raw) if raw.is_null() => Ok(None),
            Some(raw) => read::unsigned(raw).map(Some).ok_or_else(|| {
                format!(
                    "the total '{path}' is not a count: {}",
                    raw.to_json_string()
                )
            }),
        }
    }

    fn read_next<'a>(&self, body: impl JsonView<'a>, headers: &HeaderMap) -> Option<String> {
        match &self.next {
            Next::Computed => None,
            Next::Body(path) => text(path.get(body)?),
            Next::LinkHeader => next_link_header(headers),
            Next::Relay { page_info } => {
                let info = page_info.get(body)?;
                let more = FieldPath::parse("hasNextPage")
                    .get(info)
                    .and_then(read::boolean)?;
                if more {
                    text(FieldPath::parse("endCursor").get(info)?)
                } else {
                    None
                }
            }
            Next::LastRecord { has_more, .. } => match has_more {
                Some(flag) => flag
                    .get(body)
                    .and_then(read::boolean)
                    .unwrap_or(false)
                    .then(String::new),
                None => Some(String::new()),
            },
        }
    }
}

/// A non-empty string or number as text.
fn text<'a>(value: impl JsonView<'a>) -> Option<String> {
    match value.kind() {
        Kind::Str(s) if !s.trim().is_empty() => Some(s.to_owned()),
        Kind::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Moves the array at `path` out of `body`.
fn take_at(body: &mut Value, path: &FieldPath) -> Vec<Value> {
    if path.first().is_none() {
        return match body.take() {
            Value::Array(records) => records,
            _ => Vec::new(),
        };
    }
    let pointer = format!("/{}", path.to_string().replace('.', "/"));
    match body.pointer_mut(&pointer).map(Value::take) {
        Some(Value::Array(records)) => records,
        _ => Vec::new(),
    }
}

/// The `rel="next"` target of a `Link` header (RFC 8288), e.g. `<https://api/x?page=2>; rel="next"`.
pub fn next_link_header(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let value = value.to_str().ok()?;
        for link in value.split(',') {
            let (target, params) = link.split_once(';')?;
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                let target = target.trim().trim_start_matches('<').trim_end_matches('>');
                return Some(target.to_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(body: Value) -> JsonResponse {
        JsonResponse {
            status: 200,
            headers: HeaderMap::new(),
            body,
        }
    }

    #[test]
    fn records_total_and_next_come_out_of_their_places() {
        let envelope = Envelope::new("items")
            .total("count")
            .next_in_body("nextPageLink");
        let page = envelope
            .read(response(
                json!({"items": [{"id": 1}], "count": "41", "nextPageLink": "https://x/y?$skip=1"}),
            ))
            .unwrap();
        assert_eq!((page.records.len(), page.total), (1, Some(41)));
        assert_eq!(page.next.as_deref(), Some("https://x/y?$skip=1"));
        let last = envelope
            .read(response(
                json!({"items": [], "count": 0, "nextPageLink": null}),
            ))
            .unwrap();
        assert_eq!((last.records.len(), last.next), (0, None));
        let nested = Envelope::new("payload.rows").total("metadata.total");
        let page = nested
            .read(response(
                json!({"payload": {"rows": [1, 2]}, "metadata": {"total": 2}}),
            ))
            .unwrap();
        assert_eq!(page.records, vec![json!(1), json!(2)]);
        let bare = Envelope::new("").read(response(json!([1, 2, 3]))).unwrap();
        assert_eq!(bare.records.len(), 3);
    }

    #[test]
    fn a_relay_connection_pages_by_end_cursor_while_has_next_page() {
        let envelope = Envelope::relay("data.repository.issues");
        let body = |more: bool| {
            json!({"data": {"repository": {"issues": {"nodes": [{"id": "I_1"}],
                "pageInfo": {"hasNextPage": more, "endCursor": "Y3Vyc29yOjE="}}}}})
        };
        let page = envelope.read(response(body(true))).unwrap();
        assert_eq!(page.records, vec![json!({"id": "I_1"})]);
        assert_eq!(page.next.as_deref(), Some("Y3Vyc29yOjE="));
        // The last page still names its endCursor: following it would loop.
        let last = envelope.read(response(body(false))).unwrap();
        assert_eq!((last.records.len(), last.next), (1, None));
        let missing = envelope.read(response(json!({"data": {"repository": null}})));
        assert!(missing.is_err(), "{missing:?}");
    }

    #[test]
    fn a_short_page_that_names_the_next_one_is_not_the_last() {
        let envelope = Envelope::new("results")
            .total("totalResultsCount")
            .next_in_body("nextPageToken");
        let clamped =
            response(json!({"results": [1, 2], "totalResultsCount": "57", "nextPageToken": "t"}));
        assert!(envelope
            .check(&clamped, Some(Asked { skip: 0, take: 100 }))
            .is_ok());
        let cut = response(json!({"results": [1, 2], "totalResultsCount": "57"}));
        assert!(envelope
            .check(&cut, Some(Asked { skip: 0, take: 100 }))
            .is_err());
        let emptied =
            response(json!({"results": [], "totalResultsCount": "57", "nextPageToken": "t"}));
        assert!(envelope
            .check(&emptied, Some(Asked { skip: 0, take: 100 }))
            .is_err());
    }

    #[test]
    fn a_missing_array_or_a_page_contradicting_its_total_is_unreadable() {
        let envelope = Envelope::new("list").total("total");
        let err = envelope
            .check(&response(json!({"message": "hi"})), None)
            .unwrap_err();
        assert!(err.contains("no 'list' array"), "{err}");
        let emptied = response(json!({"list": [], "total": 12}));
        let asked = Some(Asked {
            skip: 0,
            take: 1000,
        });
        assert!(envelope
            .check(&emptied, asked)
            .unwrap_err()
            .contains("counts 12"));
        let last = response(json!({"list": [1, 2], "total": 12}));
        assert!(envelope
            .check(
                &last,
                Some(Asked {
                    skip: 10,
                    take: 1000
                })
            )
            .is_ok());
        assert!(envelope
            .check(&response(json!({"list": [], "total": "x"})), None)
            .is_err());
    }

    #[test]
    fn an_absent_array_is_an_empty_last_page_where_the_api_omits_empty_arrays() {
        let envelope = Envelope::new("results")
            .next_in_body("nextPageToken")
            .absent_when_empty();
        let page = envelope
            .read(response(json!({"fieldMask": "campaign.id"})))
            .unwrap();
        assert_eq!((page.records.len(), page.next), (0, None));
        let emptied = response(json!({"fieldMask": "campaign.id", "nextPageToken": "t"}));
        assert!(envelope
            .check(&emptied, None)
            .unwrap_err()
            .contains("next page"));
        assert!(envelope.check(&response(json!([1])), None).is_err());
        assert!(Envelope::new("results")
            .check(&response(json!({})), None)
            .is_err());
    }

    #[test]
    fn cursors_come_from_the_last_record_and_link_headers() {
        let stripe = Envelope::new("data").next(Next::LastRecord {
            field: FieldPath::parse("id"),
            has_more: Some(FieldPath::parse("has_more")),
        });
        let more = stripe
            .read(response(
                json!({"data": [{"id": "cus_1"}, {"id": "cus_2"}], "has_more": true}),
            ))
            .unwrap();
        assert_eq!(more.next.as_deref(), Some("cus_2"));
        let done = stripe
            .read(response(
                json!({"data": [{"id": "cus_3"}], "has_more": false}),
            ))
            .unwrap();
        assert_eq!(done.next, None);
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::LINK,
            r#"<https://api.x/items?page=1>; rel="prev", <https://api.x/items?page=3>; rel="next""#
                .parse()
                .unwrap(),
        );
        assert_eq!(
            next_link_header(&headers).as_deref(),
            Some("https://api.x/items?page=3")
        );
    }
}
