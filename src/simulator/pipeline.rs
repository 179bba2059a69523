//! The middleware every API request passes through: log, rate limit, fault injection.
//!
//! Order matters and mirrors a real API gateway: the request is logged on arrival (so refused
//! calls are visible too), then the rate limiter decides, then a scripted fault may replace or
//! mangle the real response, and finally the API's rate-limit headers are added to whatever
//! goes out. Control requests (`/__sim/...`) never pass through here.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body, HttpBody};
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::control::SimControl;
use super::faults::Fault;
use super::hooks::SimulatorHooks;
use super::log::{Arrival, InFlight};
use super::rate_limit::RateDecision;

/// Request bodies larger than this are refused (the APIs we simulate take small JSON bodies).
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// What the middleware needs: the shared control state and the simulator's hooks.
#[derive(Clone)]
pub(crate) struct Pipeline {
    pub(crate) control: Arc<SimControl>,
    pub(crate) hooks: Arc<dyn SimulatorHooks>,
}

/// The middleware function (used with `axum::middleware::from_fn_with_state`).
pub(crate) async fn run(
    State(pipeline): State<Pipeline>,
    request: Request,
    next: Next,
) -> Response {
    let Pipeline { control, hooks } = pipeline;
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, MAX_REQUEST_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let now = control.clock().now();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_owned();
    let mut in_flight = control.log().begin(Arrival {
        method: method.clone(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_owned),
        query_pairs: query_pairs(&parts.uri),
        body: serde_json::from_slice(&body).ok(),
        headers: redacted_headers(&parts.headers, hooks.secret_headers()),
        sim_time: now,
    });
    let request = Request::from_parts(parts, Body::from(body));

    let decision = control
        .rate_limiter()
        .check(now, in_flight.in_flight_at_start());
    let mut response = match decision {
        RateDecision::OverBudget(window) => {
            in_flight.set_outcome("rate_limited");
            hooks.too_many_requests(window.retry_after(now))
        }
        RateDecision::OverConcurrency(_) => {
            in_flight.set_outcome("concurrency_limited");
            hooks.too_many_requests(Duration::from_secs(1))
        }
        RateDecision::Admitted(_) => {
            match control.faults().pick(in_flight.number(), &method, &path) {
                None => next.run(request).await,
                Some(fault) => {
                    in_flight.set_outcome(fault.label());
                    inject(fault, request, next, &control, hooks.as_ref()).await
                }
            }
        }
    };
    if let Some(window) = decision.window() {
        hooks.rate_limit_headers(&window, response.headers_mut());
    }
    // Every answer carries the server's clock in `Date` (RFC 9110 §6.6.1): the simulated clock, which
    // decides the simulator's "now" (retention limits, windows, expiry), not the host's.
    let date = httpdate::fmt_http_date(std::time::SystemTime::from(control.clock().now()));
    if let Ok(date) = header::HeaderValue::from_str(&date) {
        response.headers_mut().insert(header::DATE, date);
    }
    in_flight.set_status(response.status().as_u16());
    complete_when_sent(response, in_flight)
}

/// Produces the response for a scripted fault, calling the real handler where the fault
/// mangles a real response.
async fn inject(
    fault: Fault,
    request: Request,
    next: Next,
    control: &SimControl,
    hooks: &dyn SimulatorHooks,
) -> Response {
    match fault {
        Fault::TooManyRequests {
            retry_after_seconds,
        } => hooks.too_many_requests(Duration::from_secs(retry_after_seconds)),
        Fault::ServerError { status } => hooks.error_response(status_or_500(status)),
        Fault::Timeout { after_ms, status } => {
            let shutdown = control.shutdown_token();
            match after_ms {
                Some(ms) => {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                        _ = shutdown.cancelled() => {}
                    }
                }
                None => shutdown.cancelled().await,
            }
            hooks.error_response(status_or_500(status))
        }
        Fault::Slow { delay_ms } => {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(delay_ms)) => next.run(request).await,
                _ = control.shutdown_token().cancelled() => hooks.error_response(StatusCode::SERVICE_UNAVAILABLE),
            }
        }
        Fault::InvalidJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            "<html><body><h1>Service temporarily unavailable</h1></body></html>",
        )
            .into_response(),
        Fault::TruncatedBody => {
            let (mut parts, body) = next.run(request).await.into_parts();
            let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)))
        }
        Fault::CutConnection => {
            let (mut parts, body) = next.run(request).await.into_parts();
            let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
            // Announce the full length, send half, then fail the body: hyper aborts the
            // connection, which the client sees as an incomplete message.
            parts
                .headers
                .insert(header::CONTENT_LENGTH, bytes.len().into());
            let half = bytes.slice(..bytes.len() / 2);
            // The pause lets hyper flush the headers and the first half before the error.
            let cut = futures::stream::once(async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "simulated connection cut",
                ))
            });
            let body = futures::stream::iter([Ok(half)]).chain(cut);
            Response::from_parts(parts, Body::from_stream(body))
        }
        Fault::EmptyPage => {
            let response = next.run(request).await;
            if !response.status().is_success() {
                return response;
            }
            let (mut parts, body) = response.into_parts();
            let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok());
            let emptied = hooks.empty_page(content_type, bytes);
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(emptied))
        }
    }
}

fn status_or_500(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Completes the log entry when the body has been sent: at once for bodies of known size,
/// otherwise when the streamed body ends or is dropped (a client hanging up mid-download).
fn complete_when_sent(response: Response, in_flight: InFlight) -> Response {
    if response.body().size_hint().exact().is_some() {
        in_flight.finish();
        return response;
    }
    let (parts, body) = response.into_parts();
    let guarded = body.into_data_stream().map(move |chunk| {
        let _keep_until_stream_ends = &in_flight;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(guarded))
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|Query(pairs)| pairs)
        .unwrap_or_default()
}

/// Header names and values for the log, with secret values replaced. An auth scheme word
/// (`Bearer`, `Basic`) is kept so tests can still see which scheme was used.
fn redacted_headers(headers: &HeaderMap, secret: &[&str]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let name = name.as_str().to_owned();
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            if !secret.contains(&name.as_str()) {
                return (name, value);
            }
            let redacted = match value.split_once(' ') {
                Some((scheme, _)) => format!("{scheme} ***"),
                None => "***".to_owned(),
            };
            (name, redacted)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_scheme_and_other_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        headers.insert("x_password", "hunter2".parse().unwrap());
        headers.insert("accept", "application/json".parse().unwrap());
        let logged = redacted_headers(&headers, &["authorization", "x_password"]);
        let get = |name: &str| logged.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(get("authorization"), "Bearer ***");
        assert_eq!(get("x_password"), "***");
        assert_eq!(get("accept"), "application/json");
    }
}
