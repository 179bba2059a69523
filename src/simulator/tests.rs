//! End-to-end tests of the shared machinery over real HTTP, with a trivial API.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::test_client::client;
use super::*;

struct PlainApi;
impl SimulatorHooks for PlainApi {}

fn t0() -> DateTime<Utc> {
    "2025-01-01T00:00:00Z".parse().unwrap()
}

async fn start(rate: RateLimitConfig) -> SimServer {
    let options = ServerOptions {
        clock_mode: ClockMode::Frozen,
        ..ServerOptions::default()
    };
    let control = Arc::new(SimControl::new(7, t0(), &options, rate));
    let api = Router::new()
        .route(
            "/items",
            get(|| async { Json(json!({"items": [1, 2, 3], "total": 3})) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(150)).await;
                "done"
            }),
        );
    SimServer::start(0, api, control, Arc::new(PlainApi))
        .await
        .unwrap()
}

#[tokio::test]
async fn faults_scripted_over_http_replace_real_responses() {
    let server = start(RateLimitConfig::unlimited()).await;
    let http = client();
    let base = server.base_url();
    let rules = json!([
        {"when": {"request": 1}, "fault": {"kind": "server_error", "status": 503}},
        {"when": {"request": 2}, "fault": {"kind": "invalid_json"}},
        {"when": {"request": 3}, "fault": {"kind": "truncated_body"}},
        {"when": {"request": 4}, "fault": {"kind": "empty_page"}},
        {"when": {"request": 5}, "fault": {"kind": "too_many_requests", "retry_after_seconds": 9}},
        {"when": {"request": 6}, "fault": {"kind": "cut_connection"}}
    ]);
    let added: Value = http
        .post(format!("{base}/__sim/faults"))
        .json(&rules)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added["added"], 6);

    let items = format!("{base}/items");
    let first = http.get(&items).send().await.unwrap();
    assert_eq!(first.status(), 503);
    let second = http.get(&items).send().await.unwrap().text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&second).is_err());
    let third = http.get(&items).send().await.unwrap().text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&third).is_err());
    assert!(r#"{"items":[1,2,3],"total":3}"#.starts_with(&third));
    let fourth: Value = http.get(&items).send().await.unwrap().json().await.unwrap();
    assert_eq!(fourth, json!({"items": [], "total": 3}));
    let fifth = http.get(&items).send().await.unwrap();
    assert_eq!(fifth.status(), 429);
    assert_eq!(fifth.headers()["retry-after"], "9");
    let sixth = match http.get(&items).send().await {
        Ok(response) => response.bytes().await.map(drop),
        Err(error) => Err(error),
    };
    assert!(sixth.is_err(), "a cut connection must fail the exchange");
    let seventh: Value = http.get(&items).send().await.unwrap().json().await.unwrap();
    assert_eq!(seventh["total"], 3);

    let log = server.control().log().entries();
    assert_eq!(log.len(), 7);
    assert_eq!(log[0].outcome.as_deref(), Some("fault:server_error(503)"));
    assert_eq!(log[6].outcome, None);
    server.shutdown().await;
}

#[tokio::test]
async fn hanging_request_ends_at_client_timeout_and_shutdown_is_prompt() {
    let server = start(RateLimitConfig::unlimited()).await;
    server.control().faults().add(
        FaultRule::on_path(
            "/items",
            Fault::Timeout {
                after_ms: None,
                status: 504,
            },
        )
        .times(1),
    );
    let http = client();
    let outcome = http
        .get(format!("{}/items", server.base_url()))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(outcome.unwrap_err().is_timeout());
    let late = server
        .control()
        .faults()
        .rules()
        .into_iter()
        .map(|rule| rule.fired)
        .sum::<u64>();
    assert_eq!(late, 1);
    tokio::time::timeout(Duration::from_secs(3), server.shutdown())
        .await
        .expect("shutdown does not wait for hung requests");
}

#[tokio::test]
async fn late_timeout_answers_with_the_status_after_the_delay() {
    let server = start(RateLimitConfig::unlimited()).await;
    server.control().faults().add(FaultRule::on_request(
        1,
        Fault::Timeout {
            after_ms: Some(50),
            status: 504,
        },
    ));
    let started = std::time::Instant::now();
    let response = client()
        .get(format!("{}/items", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[tokio::test]
async fn rate_limit_window_and_concurrency_and_clock_control() {
    let server = start(RateLimitConfig::per_window(2, 3600).with_max_concurrent(2)).await;
    let http = client();
    let base = server.base_url();
    let statuses = |responses: Vec<reqwest::Response>| {
        responses
            .iter()
            .map(|r| r.status().as_u16())
            .collect::<Vec<_>>()
    };
    let mut sequential = Vec::new();
    for _ in 0..3 {
        sequential.push(http.get(format!("{base}/items")).send().await.unwrap());
    }
    assert_eq!(statuses(sequential), vec![200, 200, 429]);

    // A new window after moving the clock an hour through the control endpoint.
    let clock: Value = http
        .post(format!("{base}/__sim/clock"))
        .json(&json!({"advance_seconds": 3600}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(clock["now"], "2025-01-01T01:00:00Z");
    server
        .control()
        .rate_limiter()
        .configure(RateLimitConfig::per_window(100, 60).with_max_concurrent(2));
    let parallel =
        futures::future::join_all((0..4).map(|_| http.get(format!("{base}/slow")).send()))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect::<Vec<_>>();
    let mut codes = statuses(parallel);
    codes.sort_unstable();
    assert_eq!(codes, vec![200, 200, 429, 429]);
    // The refused calls finish at once, so the peak is at least the two slow ones plus one.
    assert!(server.control().log().max_concurrency() >= 3);
}

#[tokio::test]
async fn control_endpoints_expose_log_stats_and_unknown_paths_are_logged() {
    let server = start(RateLimitConfig::unlimited()).await;
    let http = client();
    let base = server.base_url();
    let missing = http
        .get(format!("{base}/nope?take=5"))
        .header("authorization", "Bearer secret")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let log: Value = http
        .get(format!("{base}/__sim/log?path=/nope"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log[0]["query_pairs"], json!([["take", "5"]]));
    let auth = log[0]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == "authorization")
        .unwrap()
        .clone();
    assert_eq!(auth[1], "Bearer ***");
    let stats: Value = http
        .get(format!("{base}/__sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["total_requests"], 1, "control calls are not counted");
    let advanced: Value = http
        .post(format!("{base}/__sim/advance"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(advanced["generations"], 1);
}
