//! The HTTP layer's error type and its classification into what a caller should do next.

use std::fmt;
use std::time::Duration;

/// Which request failed: method and path only. The query string is never kept because APIs carry keys in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// URL path without query string, e.g. `/api/Contact/Query`.
    pub path: String,
}

impl Endpoint {
    /// The endpoint with its id segments (all digits) blanked: `/v0/customers/{id}/…`. Failures are
    /// counted per family, since an endpoint that fails for every account is down, not one account.
    pub fn family(&self) -> Endpoint {
        let path = self
            .path
            .split('/')
            .map(|segment| {
                if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
                    "{id}"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        Endpoint {
            method: self.method.clone(),
            path,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// What the caller should do about an [`HttpError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Retrying the same request will not help: fix configuration or credentials.
    Permanent,
    /// Retried until the attempt budget ran out; may succeed later or with a smaller request.
    Transient,
    /// The request asks for too much at once (413, timeout on a big page, API-specific body, body over the
    /// size limit): shrink it instead of retrying it unchanged.
    TooLarge,
}

/// Why an HTTP call failed. Messages are lowercase, name the endpoint, and never contain secrets or query strings.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The API rejected the request in a way retrying cannot fix.
    #[error("{endpoint} failed with status {status}: {hint}{detail}")]
    Permanent {
        /// The failing endpoint.
        endpoint: Endpoint,
        /// HTTP status, 0 when the verdict came from a body hook on a non-error status.
        status: u16,
        /// What the user should check, e.g. "check the api key".
        hint: String,
        /// `": <api message>"` when the API gave one, else empty.
        detail: String,
    },
    /// The request kept failing with transient errors (5xx, timeouts, resets, 429) until attempts ran out.
    #[error("{endpoint} still failing after {attempts} attempts: {last}")]
    Transient {
        /// The failing endpoint.
        endpoint: Endpoint,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The request is too large for the API to serve; the caller should shrink it.
    #[error(
        "{endpoint} asked for too much at once ({reason}); a smaller page or window is needed"
    )]
    TooLarge {
        /// The failing endpoint.
        endpoint: Endpoint,
        /// What signalled it (413, timeout, body size limit, API message).
        reason: String,
    },
    /// The endpoint failed this many requests in a row (each after all its retries) with nothing
    /// succeeding in between: it is down, and shrinking or retrying more would only take longer.
    #[error("{endpoint} is not answering: {requests} requests in a row failed after every retry; the last: {last}")]
    Down {
        /// The failing endpoint.
        endpoint: Endpoint,
        /// Requests that failed in a row.
        requests: u32,
        /// The last failure.
        last: String,
    },
    /// The response could not be read as the expected format (after retries).
    #[error("{endpoint} returned a body that cannot be read: {message}")]
    Decode {
        /// The failing endpoint.
        endpoint: Endpoint,
        /// The decoder's message.
        message: String,
    },
    /// The request could not be built (bad url, invalid header value).
    #[error("invalid request to {endpoint}: {message}")]
    InvalidRequest {
        /// The endpoint as far as known.
        endpoint: Endpoint,
        /// What was wrong.
        message: String,
    },
    /// The HTTP client itself could not be constructed.
    #[error("cannot build the http client: {0}")]
    Client(String),
}

impl HttpError {
    /// Whether to fail fast, give up for now, or shrink the request.
    pub fn kind(&self) -> ErrorKind {
        match self {
            HttpError::Transient { .. } => ErrorKind::Transient,
            HttpError::TooLarge { .. } => ErrorKind::TooLarge,
            // A page that fails to decode may hold one malformed record: shrinking isolates it.
            HttpError::Decode { .. } => ErrorKind::Transient,
            HttpError::Permanent { .. }
            | HttpError::Down { .. }
            | HttpError::InvalidRequest { .. }
            | HttpError::Client(_) => ErrorKind::Permanent,
        }
    }

    /// Shorthand for `kind() == ErrorKind::TooLarge`.
    pub fn is_too_large(&self) -> bool {
        self.kind() == ErrorKind::TooLarge
    }

    /// Shorthand for `kind() == ErrorKind::Permanent`.
    pub fn is_permanent(&self) -> bool {
        self.kind() == ErrorKind::Permanent
    }
}

/// An API-specific verdict on a response, returned by a [`crate::http::ResponseHook`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Fail fast with this hint for the user.
    Permanent(String),
    /// Retry with backoff; the string says why.
    Transient(String),
    /// Report as too large; the string says why.
    TooLarge(String),
    /// Rate limited: retry after the wait the body asks for (APIs that put the delay in the body
    /// rather than a `Retry-After` header, e.g. Google's `retryDelay`), capped like `Retry-After`
    /// and shared through the rate budget; without a wait, retry with backoff.
    RateLimited {
        /// Why, for logs and the final error.
        reason: String,
        /// The wait the API asked for, if it gave one.
        retry_after: Option<Duration>,
    },
}

/// One failed attempt, before the retry loop decides what to do with it.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// Retry after backoff.
    Retry(String),
    /// Retry after at least this wait (429 / rate-limit headers).
    RetryAfter(String, Option<Duration>),
    /// Stop now with this error.
    Fail(HttpError),
}

/// The method and path of `url`, without query string or credentials.
pub(crate) fn endpoint_of(method: &str, url: &str) -> Endpoint {
    let path = match reqwest::Url::parse(url) {
        Ok(u) => u.path().to_owned(),
        Err(_) => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
    };
    Endpoint {
        method: method.to_owned(),
        path,
    }
}

/// A lowercase description of a transport error with its causes, without the URL (which may carry keys).
pub(crate) fn describe_reqwest_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.to_lowercase()
}

impl HttpError {
    /// The SDK error this failure becomes, carrying `message` (the error's own text, or that text with
    /// the caller's context): the HTTP verdict decides the gRPC status.
    pub fn to_sdk(&self, message: String) -> crate::sdk::Error {
        use crate::sdk::Error;
        match self {
            HttpError::Permanent { status: 401, .. } => Error::Unauthenticated(message),
            HttpError::Permanent { status: 403, .. } => Error::PermissionDenied(message),
            HttpError::Permanent { .. } | HttpError::InvalidRequest { .. } => {
                Error::SourceRejected(message)
            }
            HttpError::Transient { .. }
            | HttpError::TooLarge { .. }
            | HttpError::Decode { .. }
            | HttpError::Down { .. } => Error::Unavailable(message),
            HttpError::Client(_) => Error::Connector(message),
        }
    }
}

impl From<HttpError> for crate::sdk::Error {
    fn from(e: HttpError) -> Self {
        let message = e.to_string();
        e.to_sdk(message)
    }
}
