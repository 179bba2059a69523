//! The shared HTTP layer every API connector uses: one `reqwest` client per connector with timeouts, gzip
//! and bounded bodies; authentication (bearer, basic, custom headers, OAuth2 refresh); classification of
//! failures into fail-fast, retry, or shrink; full-jitter retries; a shared rate budget and concurrency
//! limit; and an injectable clock so all of it is tested on virtual time.

#![warn(missing_docs)]

mod auth;
mod backoff;
mod body;
mod classify;
mod client;
mod clock;
mod error;
mod rate;
mod tuning;
mod turn;

pub use auth::{Auth, OAuth2, OAuth2Config};
pub use backoff::RetryPolicy;
pub use body::Download;
pub use client::{
    BodyCheck, HttpClient, HttpClientBuilder, HttpConfig, JsonBody, JsonResponse, RateLimit,
    Request, ResponseHook, SHRINKABLE_ATTEMPTS,
};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use error::{Endpoint, ErrorKind, HttpError, Verdict};
pub use rate::{ConcurrencyLimit, RateBudget};
pub use reqwest::Method;
pub use tuning::Tuning;
pub use turn::{Turn, TurnQueue};

#[cfg(test)]
mod tests;
