//! The API's error shapes: `google.rpc.Status` JSON with a `SearchAds360Failure` detail, and
//! Google's OAuth token-endpoint errors.
//!
//! ```json
//! {"error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT",
//!   "details": [{"@type": "type.googleapis.com/google.ads.searchads360.v0.errors.SearchAds360Failure",
//!                "errors": [{"errorCode": {"queryError": "UNRECOGNIZED_FIELD"}, "message": "..."}],
//!                "requestId": "..."}]}}
//! ```
//! Errors Google's front end raises before the API sees the call (a missing credential, a body that
//! is not the request message, the gRPC message-size limit) carry no `SearchAds360Failure`.

use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// The `@type` of the failure detail.
pub(crate) const FAILURE_TYPE: &str =
    "type.googleapis.com/google.ads.searchads360.v0.errors.SearchAds360Failure";

/// One `SearchAds360Error`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sa360Error {
    /// The `ErrorCode` oneof member (`queryError`, `requestError`, ...).
    pub(crate) family: &'static str,
    /// The enum value (`UNRECOGNIZED_FIELD`).
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// `trigger`, a `google.ads.searchads360.v0.common.Value`.
    pub(crate) trigger: Option<Value>,
    /// `details` (quota errors).
    pub(crate) details: Option<Value>,
}

impl Sa360Error {
    pub(crate) fn new(
        family: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            family,
            code,
            message: message.into(),
            trigger: None,
            details: None,
        }
    }

    /// Adds a string `trigger`.
    pub(crate) fn triggered_by(mut self, value: impl Into<String>) -> Self {
        self.trigger = Some(json!({ "stringValue": value.into() }));
        self
    }

    fn json(&self) -> Value {
        let mut error = json!({
            "errorCode": { self.family: self.code },
            "message": self.message,
        });
        if let Some(trigger) = &self.trigger {
            error["trigger"] = trigger.clone();
        }
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        error
    }
}

/// A failed call: HTTP status, canonical gRPC status, message, and the API's errors (if the API,
/// not the front end, refused it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub(crate) http: StatusCode,
    pub(crate) status: &'static str,
    pub(crate) message: String,
    pub(crate) errors: Vec<Sa360Error>,
}

const INVALID_ARGUMENT: &str = "Request contains an invalid argument.";
const UNAUTHENTICATED: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
const MISSING_CREDENTIAL: &str = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
const PERMISSION_DENIED: &str = "The caller does not have permission";
const RESOURCE_EXHAUSTED: &str = "Resource has been exhausted (e.g. check quota).";

impl ApiError {
    fn with(http: StatusCode, status: &'static str, message: &str, error: Sa360Error) -> Self {
        Self {
            http,
            status,
            message: message.to_owned(),
            errors: vec![error],
        }
    }

    /// 400 with one API error.
    pub(crate) fn invalid(error: Sa360Error) -> Self {
        Self::with(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            INVALID_ARGUMENT,
            error,
        )
    }

    /// 400 `RequestError`.
    pub(crate) fn request(code: &'static str, message: impl Into<String>) -> Self {
        Self::invalid(Sa360Error::new("requestError", code, message))
    }

    /// 400 from the front end: the body is not a valid request message (no API detail).
    pub(crate) fn bad_payload(message: impl Into<String>) -> Self {
        Self {
            http: StatusCode::BAD_REQUEST,
            status: "INVALID_ARGUMENT",
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// 401 with an `AuthenticationError`.
    pub(crate) fn unauthenticated(code: &'static str, message: &str) -> Self {
        Self::with(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            UNAUTHENTICATED,
            Sa360Error::new("authenticationError", code, message),
        )
    }

    /// 401 from the front end: no credential at all.
    pub(crate) fn missing_credential() -> Self {
        Self {
            http: StatusCode::UNAUTHORIZED,
            status: "UNAUTHENTICATED",
            message: MISSING_CREDENTIAL.to_owned(),
            errors: Vec::new(),
        }
    }

    /// 403 with an `AuthorizationError`.
    pub(crate) fn permission(code: &'static str, message: impl Into<String>) -> Self {
        Self::with(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            PERMISSION_DENIED,
            Sa360Error::new("authorizationError", code, message),
        )
    }

    /// 429 with a `QuotaError` and its `quotaErrorDetails`.
    pub(crate) fn quota(rate_name: &str, retry: Duration) -> Self {
        let seconds = retry.as_secs().max(1);
        let mut error = Sa360Error::new(
            "quotaError",
            "RESOURCE_EXHAUSTED",
            format!("Too many requests. Retry in {seconds} seconds."),
        );
        error.details = Some(json!({"quotaErrorDetails": {
            "rateScope": "DEVELOPER",
            "rateName": rate_name,
            "retryDelay": format!("{seconds}s"),
        }}));
        Self::with(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            RESOURCE_EXHAUSTED,
            error,
        )
    }

    /// 429 from gRPC itself: a response message over the size limit (no API detail).
    pub(crate) fn message_too_large(size: usize, limit: u64) -> Self {
        Self {
            http: StatusCode::TOO_MANY_REQUESTS,
            status: "RESOURCE_EXHAUSTED",
            message: format!("Received message larger than max ({size} vs. {limit})"),
            errors: Vec::new(),
        }
    }

    /// 429 with a `SizeLimitError` `RESPONSE_SIZE_LIMIT_EXCEEDED`.
    pub(crate) fn too_many_rows(rows: u64, limit: u64) -> Self {
        Self::with(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            RESOURCE_EXHAUSTED,
            Sa360Error::new(
                "sizeLimitError",
                "RESPONSE_SIZE_LIMIT_EXCEEDED",
                format!("The number of entries in the response exceeds the system limit ({rows} rows, limit {limit})."),
            ),
        )
    }

    /// A server-side failure with an `InternalError` of the matching kind.
    pub(crate) fn server(http: StatusCode) -> Self {
        let (status, message, code) = match http.as_u16() {
            503 => (
                "UNAVAILABLE",
                "The service is currently unavailable.",
                "TRANSIENT_ERROR",
            ),
            504 => (
                "DEADLINE_EXCEEDED",
                "Deadline expired before operation could complete.",
                "DEADLINE_EXCEEDED",
            ),
            _ => ("INTERNAL", "Internal error encountered.", "INTERNAL_ERROR"),
        };
        Self::with(
            http,
            status,
            message,
            Sa360Error::new(
                "internalError",
                code,
                "An internal error has occurred. Please retry your request.",
            ),
        )
    }

    /// 404 for a path the API does not serve.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self {
            http: StatusCode::NOT_FOUND,
            status: "NOT_FOUND",
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// The `{"error": {...}}` body; the failure detail carries `request_id`.
    pub(crate) fn body(&self, request_id: &str) -> Value {
        let mut error = json!({
            "code": self.http.as_u16(),
            "message": self.message,
            "status": self.status,
        });
        if !self.errors.is_empty() {
            let errors: Vec<Value> = self.errors.iter().map(Sa360Error::json).collect();
            error["details"] = json!([{
                "@type": FAILURE_TYPE,
                "errors": errors,
                "requestId": request_id,
            }]);
        }
        json!({ "error": error })
    }

    /// The HTTP response; `streamed` wraps the body in a one-element array, as `searchStream`
    /// answers errors.
    pub(crate) fn response(&self, request_id: &str, streamed: bool) -> Response {
        let body = if streamed {
            Value::Array(vec![self.body(request_id)])
        } else {
            self.body(request_id)
        };
        json_response(self.http, &body)
    }
}

/// A JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        serde_json::to_vec(body).unwrap_or_default(),
    )
        .into_response()
}

/// Google's token-endpoint error: `{"error": "...", "error_description": "..."}`.
pub(crate) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}
