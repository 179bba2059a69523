//! What a simulator tells the shared machinery about its API.

use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::rate_limit::WindowStatus;

/// The API-specific pieces of the shared request pipeline and control endpoints.
///
/// Every method has a neutral default, so a new simulator implements only what its API does
/// differently. Implementations must be cheap: they run on every request.
pub trait SimulatorHooks: Send + Sync + 'static {
    /// The API's answer to a call over its rate limit or a scripted 429, telling the client to
    /// wait `retry_after`.
    fn too_many_requests(&self, retry_after: Duration) -> Response {
        let seconds = retry_after.as_secs().max(1).to_string();
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, seconds)],
            "Too Many Requests",
        )
            .into_response()
    }

    /// The API's error response for `status` (scripted 5xx, late timeout answers).
    fn error_response(&self, status: StatusCode) -> Response {
        let reason = status.canonical_reason().unwrap_or("Error");
        (status, reason).into_response()
    }

    /// The API's answer for a path it does not serve.
    fn not_found(&self) -> Response {
        (StatusCode::NOT_FOUND, "Not Found").into_response()
    }

    /// Adds the API's rate-limit headers (if it has any) to a response.
    fn rate_limit_headers(&self, _window: &WindowStatus, _headers: &mut HeaderMap) {}

    /// Rewrites a successful response body into an "empty page" of the same shape.
    fn empty_page(&self, content_type: Option<&str>, body: Bytes) -> Bytes {
        empty_page_default(content_type, body)
    }

    /// Lower-case names of headers whose values the request log must not keep.
    fn secret_headers(&self) -> &'static [&'static str] {
        &["authorization", "proxy-authorization", "cookie"]
    }

    /// Applies `generations` rounds of data mutations (`POST /__sim/advance`) and reports what
    /// changed. The default simulator has no data to mutate.
    fn advance(&self, generations: u32) -> serde_json::Value {
        serde_json::json!({ "generations": generations, "changed": false })
    }

    /// A JSON description of the simulator's data and settings (`GET /__sim/info`).
    fn info(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}

/// The generic "empty page": a JSON array becomes `[]`, every array-valued field of a JSON
/// object becomes `[]` (other fields, such as totals, stay), and CSV keeps only its header row.
/// Anything else is returned unchanged.
pub fn empty_page_default(content_type: Option<&str>, body: Bytes) -> Bytes {
    let content_type = content_type.unwrap_or_default();
    if content_type.starts_with("text/csv") {
        let header_end = body
            .iter()
            .position(|byte| *byte == b'\n')
            .map_or(body.len(), |at| at + 1);
        return body.slice(..header_end);
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    match &mut value {
        serde_json::Value::Array(items) => items.clear(),
        serde_json::Value::Object(fields) => fields
            .values_mut()
            .filter_map(serde_json::Value::as_array_mut)
            .for_each(Vec::clear),
        _ => return body,
    }
    Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_page_keeps_totals_and_csv_header() {
        let json = empty_page_default(
            Some("application/json"),
            Bytes::from_static(br#"{"list":[1,2],"total":2}"#),
        );
        assert_eq!(&json[..], br#"{"list":[],"total":2}"#);
        let csv = empty_page_default(Some("text/csv"), Bytes::from_static(b"id,email\n1,a\n"));
        assert_eq!(&csv[..], b"id,email\n");
        let text = empty_page_default(None, Bytes::from_static(b"hello"));
        assert_eq!(&text[..], b"hello");
    }
}
