//! The control endpoints under `/__sim/`, so a process outside the test binary can drive a
//! simulator. They bypass auth, rate limits, faults and the request log.
//!
//! | Method | Path | Body / query | Effect |
//! |---|---|---|---|
//! | GET | `/__sim/log` | `?path=fragment` | logged requests, oldest first |
//! | DELETE | `/__sim/log` | | forget entries and peak concurrency |
//! | GET | `/__sim/stats` | | `{total_requests, in_flight, max_concurrency, now}` |
//! | GET | `/__sim/faults` | | rules with `matched`/`fired` counters |
//! | POST | `/__sim/faults` | a [`FaultRule`] or an array of them | append rules |
//! | DELETE | `/__sim/faults` | | remove every rule |
//! | GET | `/__sim/clock` | | `{now, mode}` |
//! | POST | `/__sim/clock` | `{"advance_seconds":n}`, `{"set":"RFC 3339"}`, `{"mode":"frozen"}` | move the clock |
//! | GET/POST | `/__sim/rate_limit` | a [`RateLimitConfig`] (POST) | read/replace the limits |
//! | POST | `/__sim/advance` | `{"generations":n}` (default 1) | mutate the data, see the simulator |
//! | GET | `/__sim/info` | | simulator description (seed, sizes, generation) |

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::clock::ClockMode;
use super::faults::FaultRule;
use super::pipeline::Pipeline;
use super::rate_limit::RateLimitConfig;

/// The `/__sim` router for one simulator.
pub(crate) fn router(pipeline: Pipeline) -> Router {
    Router::new()
        .route("/__sim/log", get(read_log).delete(clear_log))
        .route("/__sim/stats", get(stats))
        .route(
            "/__sim/faults",
            get(list_faults).post(add_faults).delete(clear_faults),
        )
        .route("/__sim/clock", get(read_clock).post(change_clock))
        .route(
            "/__sim/rate_limit",
            get(read_rate_limit).post(set_rate_limit),
        )
        .route("/__sim/advance", post(advance))
        .route("/__sim/info", get(info))
        .with_state(pipeline)
}

#[derive(Debug, Deserialize)]
struct LogFilter {
    path: Option<String>,
}

async fn read_log(State(p): State<Pipeline>, Query(filter): Query<LogFilter>) -> Response {
    let log = p.control.log();
    let entries = match filter.path {
        Some(fragment) => log.matching(&fragment),
        None => log.entries(),
    };
    Json(entries).into_response()
}

async fn clear_log(State(p): State<Pipeline>) -> StatusCode {
    p.control.log().clear();
    StatusCode::NO_CONTENT
}

async fn stats(State(p): State<Pipeline>) -> Response {
    let log = p.control.log();
    Json(json!({
        "total_requests": log.total_requests(),
        "in_flight": log.in_flight(),
        "max_concurrency": log.max_concurrency(),
        "now": p.control.clock().now(),
    }))
    .into_response()
}

async fn list_faults(State(p): State<Pipeline>) -> Response {
    Json(p.control.faults().rules()).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<FaultRule>),
    One(FaultRule),
}

async fn add_faults(State(p): State<Pipeline>, Json(rules): Json<OneOrMany>) -> Response {
    let rules = match rules {
        OneOrMany::Many(rules) => rules,
        OneOrMany::One(rule) => vec![rule],
    };
    let added = rules.len();
    for rule in rules {
        p.control.faults().add(rule);
    }
    Json(json!({ "added": added })).into_response()
}

async fn clear_faults(State(p): State<Pipeline>) -> StatusCode {
    p.control.faults().clear();
    StatusCode::NO_CONTENT
}

fn clock_view(p: &Pipeline) -> Response {
    let clock = p.control.clock();
    Json(json!({ "now": clock.now(), "mode": clock.mode() })).into_response()
}

async fn read_clock(State(p): State<Pipeline>) -> Response {
    clock_view(&p)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    #[serde(default)]
    advance_seconds: Option<u64>,
    #[serde(default)]
    set: Option<DateTime<Utc>>,
    #[serde(default)]
    mode: Option<ClockMode>,
}

async fn change_clock(State(p): State<Pipeline>, Json(change): Json<ClockChange>) -> Response {
    let clock = p.control.clock();
    if let Some(mode) = change.mode {
        clock.set_mode(mode);
    }
    if let Some(time) = change.set {
        clock.set(time);
    }
    if let Some(seconds) = change.advance_seconds {
        clock.advance(Duration::from_secs(seconds));
    }
    clock_view(&p)
}

async fn read_rate_limit(State(p): State<Pipeline>) -> Response {
    Json(p.control.rate_limiter().config()).into_response()
}

async fn set_rate_limit(
    State(p): State<Pipeline>,
    Json(config): Json<RateLimitConfig>,
) -> Response {
    p.control.rate_limiter().configure(config.clone());
    Json(config).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceRequest {
    #[serde(default)]
    generations: Option<u32>,
}

async fn advance(State(p): State<Pipeline>, body: Option<Json<AdvanceRequest>>) -> Response {
    let generations = body
        .and_then(|Json(request)| request.generations)
        .unwrap_or(1);
    let hooks = Arc::clone(&p.hooks);
    // Advancing a large data set can take a while; keep it off the async workers.
    match tokio::task::spawn_blocking(move || hooks.advance(generations)).await {
        Ok(summary) => Json(summary).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "advance failed").into_response(),
    }
}

async fn info(State(p): State<Pipeline>) -> Response {
    Json(p.hooks.info()).into_response()
}
