//! Scripted-fault tests of the HTTP layer against a local mockito server, on a virtual clock.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use mockito::{Matcher, Server};
use serde_json::json;

use super::*;
use crate::sdk::Secret;

fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

fn config(server: &Server) -> HttpConfig {
    let mut c = HttpConfig::new(server.url());
    c.retry = RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(30),
        max_rate_limit_wait: Duration::from_secs(600),
    };
    c.request_timeout = Duration::from_secs(5);
    c
}

fn client(server: &Server, clock: &ManualClock, auth: Auth) -> HttpClient {
    HttpClient::builder(config(server))
        .clock(clock.shared())
        .auth(auth)
        .build()
        .unwrap()
}

#[tokio::test]
async fn unauthorized_fails_fast_naming_the_endpoint_and_what_to_check() {
    let mut server = Server::new_async().await;
    let m = server
        .mock("GET", "/api/Contact")
        .match_query(Matcher::Any)
        .with_status(401)
        .with_body(r#"{"message":"Authorization has been denied"}"#)
        .expect(1)
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let c = client(&server, &clock, Auth::Bearer(Secret::new("tok-SECRET")));
    let request = Request::get("/api/Contact")
        .query("api_key", "QUERY-SECRET")
        .header("X-Key", "HEADER-SECRET");
    assert!(!format!("{request:?}").contains("SECRET"), "{request:?}");
    let err = c.json(&request).await.unwrap_err();
    m.assert_async().await;
    assert!(err.is_permanent());
    let text = err.to_string();
    assert!(text.contains("GET /api/Contact"), "{text}");
    assert!(text.contains("check the api key"), "{text}");
    assert!(text.contains("Authorization has been denied"), "{text}");
    for shown in [text, format!("{err:?}")] {
        assert!(!shown.contains("SECRET"), "{shown}");
    }
    assert!(clock.sleeps().is_empty(), "a 401 must not be retried");
}

#[tokio::test]
async fn server_errors_are_retried_with_capped_jitter_then_succeed() {
    let mut server = Server::new_async().await;
    let failing = server
        .mock("GET", "/items")
        .with_status(503)
        .expect(2)
        .create_async()
        .await;
    let ok = server
        .mock("GET", "/items")
        .with_body(r#"{"items":[1,2]}"#)
        .expect(1)
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let c = client(&server, &clock, Auth::None);
    let body = c.json(&Request::get("/items")).await.unwrap();
    assert_eq!(body, json!({"items":[1,2]}));
    failing.assert_async().await;
    ok.assert_async().await;
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2);
    assert!(sleeps[0] <= Duration::from_secs(1) && sleeps[1] <= Duration::from_secs(2));
}

#[tokio::test]
async fn server_errors_give_up_after_the_attempt_budget() {
    let mut server = Server::new_async().await;
    let m = server
        .mock("GET", "/items")
        .with_status(500)
        .expect(4)
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let err = client(&server, &clock, Auth::None)
        .json(&Request::get("/items"))
        .await
        .unwrap_err();
    m.assert_async().await;
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.to_string().contains("after 4 attempts"), "{err}");
}

#[tokio::test]
async fn too_many_requests_honours_retry_after_seconds() {
    let mut server = Server::new_async().await;
    server
        .mock("GET", "/x")
        .with_status(429)
        .with_header("retry-after", "7")
        .expect(1)
        .create_async()
        .await;
    server
        .mock("GET", "/x")
        .with_body("{}")
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    client(&server, &clock, Auth::None)
        .json(&Request::get("/x"))
        .await
        .unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(7)]);
}

#[tokio::test]
async fn too_many_requests_honours_retry_after_http_date_through_the_rate_budget() {
    let mut server = Server::new_async().await;
    let at = httpdate::fmt_http_date(SystemTime::from(start_time()) + Duration::from_secs(120));
    server
        .mock("GET", "/x")
        .with_status(429)
        .with_header("retry-after", &at)
        .expect(1)
        .create_async()
        .await;
    server
        .mock("GET", "/x")
        .with_body("{}")
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let mut cfg = config(&server);
    cfg.rate_limit = Some(RateLimit {
        limit: 300,
        period: Duration::from_secs(60),
        burst: 10,
    });
    let c = HttpClient::builder(cfg)
        .clock(clock.shared())
        .build()
        .unwrap();
    c.json(&Request::get("/x")).await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(120)]);
}

#[tokio::test]
async fn rate_budget_is_corrected_by_rate_limit_headers() {
    let mut server = Server::new_async().await;
    server
        .mock("GET", "/x")
        .with_header("x-ratelimit-remaining", "0")
        .with_header("x-ratelimit-reset", "30")
        .with_body("{}")
        .expect(1)
        .create_async()
        .await;
    server
        .mock("GET", "/x")
        .with_body("{}")
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let mut cfg = config(&server);
    cfg.rate_limit = Some(RateLimit {
        limit: 5000,
        period: Duration::from_secs(3600),
        burst: 100,
    });
    let c = HttpClient::builder(cfg)
        .clock(clock.shared())
        .build()
        .unwrap();
    c.json(&Request::get("/x")).await.unwrap();
    assert!(clock.sleeps().is_empty());
    c.json(&Request::get("/x")).await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(30)]);
}

/// Close's `RateLimit` header and HubSpot's interval headers pause the connector before it is refused,
/// as the `X-RateLimit-*` pair does.
#[tokio::test]
async fn close_and_hubspot_rate_limit_headers_pause_before_the_next_request() {
    let dialects: [&[(&str, &str)]; 2] = [
        &[("ratelimit", "limit=20, remaining=0, reset=2")],
        &[
            ("x-hubspot-ratelimit-max", "100"),
            ("x-hubspot-ratelimit-remaining", "0"),
            ("x-hubspot-ratelimit-interval-milliseconds", "2000"),
        ],
    ];
    for dialect in dialects {
        let mut server = Server::new_async().await;
        let mut first = server.mock("GET", "/x").with_body("{}").expect(1);
        for (name, value) in dialect {
            first = first.with_header(*name, value);
        }
        first.create_async().await;
        server
            .mock("GET", "/x")
            .with_body("{}")
            .create_async()
            .await;
        let clock = ManualClock::new(start_time());
        let mut cfg = config(&server);
        cfg.rate_limit = Some(RateLimit {
            limit: 100,
            period: Duration::from_secs(10),
            burst: 10,
        });
        let c = HttpClient::builder(cfg)
            .clock(clock.shared())
            .build()
            .unwrap();
        c.json(&Request::get("/x")).await.unwrap();
        assert!(clock.sleeps().is_empty(), "{dialect:?}");
        c.json(&Request::get("/x")).await.unwrap();
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(2)], "{dialect:?}");
    }
}

#[tokio::test]
async fn oauth_refresh_is_single_flight_and_a_401_refreshes_once() {
    let mut server = Server::new_async().await;
    let token_url = format!("{}/oauth/token", server.url());
    let first = server
        .mock("POST", "/oauth/token")
        .match_body(Matcher::UrlEncoded(
            "refresh_token".into(),
            "REFRESH-SECRET".into(),
        ))
        .with_body(r#"{"access_token":"tok1","expires_in":3600}"#)
        .expect(1)
        .create_async()
        .await;
    let second = server
        .mock("POST", "/oauth/token")
        .with_body(r#"{"access_token":"tok2","expires_in":3600}"#)
        .expect(1)
        .create_async()
        .await;
    let stale = server
        .mock("GET", "/data")
        .match_header("authorization", "Bearer tok1")
        .with_status(401)
        .create_async()
        .await;
    let fresh = server
        .mock("GET", "/data")
        .match_header("authorization", "Bearer tok2")
        .with_body(r#"{"ok":true}"#)
        .expect(16)
        .create_async()
        .await;
    let oauth = OAuth2::new(OAuth2Config {
        token_url,
        client_id: "client".into(),
        client_secret: Secret::new("CLIENT-SECRET"),
        refresh_token: Secret::new("REFRESH-SECRET"),
        expiry_margin: Duration::from_secs(60),
    });
    let clock = ManualClock::new(start_time());
    let mut cfg = config(&server);
    cfg.max_in_flight = 16;
    let c = HttpClient::builder(cfg)
        .clock(clock.shared())
        .auth(Auth::OAuth2(oauth.clone()))
        .build()
        .unwrap();
    let calls = (0..16).map(|_| {
        let c = c.clone();
        async move { c.json(&Request::get("/data")).await }
    });
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.unwrap(), json!({"ok":true}));
    }
    first.assert_async().await;
    second.assert_async().await;
    fresh.assert_async().await;
    drop(stale);
    assert_eq!(
        oauth.refresh_count(),
        2,
        "one initial refresh and one after the 401, not one per request"
    );
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("SECRET") && !shown.contains("tok1") && !shown.contains("tok2"),
        "{shown}"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_too_large_not_buffered() {
    let mut server = Server::new_async().await;
    server
        .mock("GET", "/big")
        .with_body(vec![b' '; 10_000])
        .create_async()
        .await;
    server
        .mock("GET", "/chunked")
        .with_chunked_body(|w| {
            for _ in 0..100 {
                w.write_all(&[b' '; 100])?;
            }
            Ok(())
        })
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let mut cfg = config(&server);
    cfg.max_body_bytes = 1000;
    let c = HttpClient::builder(cfg)
        .clock(clock.shared())
        .build()
        .unwrap();
    for path in ["/big", "/chunked"] {
        let err = c.json(&Request::get(path)).await.unwrap_err();
        assert!(err.is_too_large(), "{path}: {err}");
        assert!(err.to_string().contains("1000-byte limit"), "{err}");
    }
}

#[tokio::test]
async fn a_timeout_on_a_shrinkable_request_is_too_large() {
    let mut server = Server::new_async().await;
    server
        .mock("GET", "/slow")
        .with_chunked_body(|w| {
            std::thread::sleep(Duration::from_millis(300));
            w.write_all(b"{}")
        })
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let c = client(&server, &clock, Auth::None);
    let request = Request::get("/slow")
        .timeout(Duration::from_millis(50))
        .shrinkable();
    let err = c.json(&request).await.unwrap_err();
    assert!(err.is_too_large(), "{err}");
    assert!(
        clock.sleeps().is_empty(),
        "a shrinkable timeout must not be retried unchanged"
    );
}

/// Defect 7/16: a poison record cost 6 attempts with backoff at every rung of the take ladder.
#[tokio::test]
async fn defect_07_a_failing_shrinkable_page_is_tried_twice_then_handed_back_to_shrink() {
    let mut server = Server::new_async().await;
    let failing = server
        .mock("GET", "/page")
        .with_status(500)
        .expect(SHRINKABLE_ATTEMPTS as usize)
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let c = client(&server, &clock, Auth::None);
    let err = c
        .json(&Request::get("/page").shrinkable())
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::Transient { attempts: 2, .. }),
        "{err}"
    );
    failing.assert_async().await;

    // the smallest page (not shrinkable) gets the whole budget
    let single = server
        .mock("GET", "/one")
        .with_status(500)
        .expect(4)
        .create_async()
        .await;
    let err = c.json(&Request::get("/one")).await.unwrap_err();
    assert!(
        matches!(err, HttpError::Transient { attempts: 4, .. }),
        "{err}"
    );
    single.assert_async().await;
}

#[tokio::test]
async fn custom_header_auth_sends_underscored_headers() {
    let mut server = Server::new_async().await;
    let m = server
        .mock("POST", "/api/contacts/search")
        .match_header("x_username", "user")
        .match_header("x_password", "PASS-SECRET")
        .match_header("x_account_code", "acct")
        .match_body(Matcher::Json(json!({"limit": 5})))
        .with_body(r#"{"payload":[]}"#)
        .expect(1)
        .create_async()
        .await;
    let auth = Auth::headers([
        ("X_USERNAME", "user"),
        ("X_PASSWORD", "PASS-SECRET"),
        ("X_ACCOUNT_CODE", "acct"),
    ]);
    assert!(!format!("{auth:?}").contains("PASS-SECRET"));
    let clock = ManualClock::new(start_time());
    let c = client(&server, &clock, auth);
    let body = c
        .json(&Request::post("/api/contacts/search").json(json!({"limit": 5})))
        .await
        .unwrap();
    assert_eq!(body, json!({"payload": []}));
    m.assert_async().await;
}

#[tokio::test]
async fn a_hook_turns_api_specific_bodies_into_verdicts() {
    let mut server = Server::new_async().await;
    server
        .mock("GET", "/report")
        .with_body(
            r#"{"metadata":{"error":true},"payload":"Too much data, narrow the date range"}"#,
        )
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let c = HttpClient::builder(config(&server))
        .clock(clock.shared())
        .hook(|_status: u16, body: &[u8]| {
            let text = String::from_utf8_lossy(body);
            text.contains("Too much data")
                .then(|| Verdict::TooLarge("the api says too much data".into()))
        })
        .build()
        .unwrap();
    let err = c.json(&Request::get("/report")).await.unwrap_err();
    assert!(err.is_too_large(), "{err}");
}

#[tokio::test]
async fn a_hook_can_ask_for_the_wait_an_error_body_gives() {
    let mut server = Server::new_async().await;
    server
        .mock("POST", "/query")
        .with_status(429)
        .with_body(r#"{"error":{"status":"RESOURCE_EXHAUSTED","retryDelay":"7s"}}"#)
        .expect(1)
        .create_async()
        .await;
    server
        .mock("POST", "/query")
        .with_body("{}")
        .expect(1)
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let c = HttpClient::builder(config(&server))
        .clock(clock.shared())
        .hook(|status: u16, body: &[u8]| {
            let text = String::from_utf8_lossy(body);
            (status == 429 && text.contains("\"7s\"")).then(|| Verdict::RateLimited {
                reason: "quota".into(),
                retry_after: Some(Duration::from_secs(7)),
            })
        })
        .build()
        .unwrap();
    c.json(&Request::post("/query")).await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(7)]);
}

#[tokio::test]
async fn downloads_stream_and_enforce_their_limit() {
    use futures::StreamExt;
    let mut server = Server::new_async().await;
    server
        .mock("GET", "/file")
        .with_body(vec![b'a'; 5000])
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let mut cfg = config(&server);
    cfg.max_download_bytes = 10_000;
    let c = HttpClient::builder(cfg.clone())
        .clock(clock.shared())
        .build()
        .unwrap();
    let mut stream = c
        .download(&Request::get("/file"))
        .await
        .unwrap()
        .into_stream();
    let mut total = 0;
    while let Some(chunk) = stream.next().await {
        total += chunk.unwrap().len();
    }
    assert_eq!(total, 5000);

    cfg.max_download_bytes = 1000;
    let c = HttpClient::builder(cfg)
        .clock(clock.shared())
        .build()
        .unwrap();
    let mut stream = c
        .download(&Request::get("/file"))
        .await
        .unwrap()
        .into_stream();
    let mut failed = None;
    while let Some(chunk) = stream.next().await {
        if let Err(e) = chunk {
            failed = Some(e);
        }
    }
    assert!(failed.is_some_and(|e| e.is_too_large()));
}

#[tokio::test]
async fn a_shrinkable_download_that_stalls_mid_body_is_too_large() {
    use futures::StreamExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n5\r\n[1,2,\r\n";
                let _ = socket.write_all(head.as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(5)).await;
            });
        }
    });
    let mut cfg = HttpConfig::new(url);
    cfg.request_timeout = Duration::from_millis(300);
    let c = HttpClient::builder(cfg).build().unwrap();
    for (shrinkable, too_large) in [(true, true), (false, false)] {
        let download = c
            .download(&Request::get("/stream").shrinkable_if(shrinkable))
            .await
            .unwrap();
        let chunks: Vec<_> = download.into_stream().collect().await;
        let err = chunks
            .into_iter()
            .find_map(Result::err)
            .expect("the stall ends the body");
        assert_eq!(err.is_too_large(), too_large, "{err}");
    }
}

#[tokio::test]
async fn connection_failures_are_retried_then_reported_as_transient() {
    // A port that was just released: connections are refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let clock = ManualClock::new(start_time());
    let mut cfg = HttpConfig::new(format!("http://{addr}"));
    cfg.retry.max_attempts = 3;
    let c = HttpClient::builder(cfg)
        .clock(clock.shared())
        .auth(Auth::Basic {
            username: "me".into(),
            password: Secret::new("BASIC-SECRET"),
        })
        .build()
        .unwrap();
    let err = c
        .json(&Request::get("/x").query("key", "QUERY-SECRET"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert_eq!(clock.sleeps().len(), 2, "three attempts, two backoffs");
    for shown in [err.to_string(), format!("{err:?}"), format!("{c:?}")] {
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}

#[tokio::test]
async fn a_refused_refresh_says_which_credential_to_fix() {
    let mut server = Server::new_async().await;
    let token_url = format!("{}/token", server.url());
    for (status, body, hint) in [
        (
            400,
            r#"{"error":"invalid_grant","error_description":"Bad Request"}"#,
            "the refresh token was refused: reauthorize",
        ),
        (
            401,
            r#"{"error":"invalid_client","error_description":"Unauthorized"}"#,
            "check the client id and client secret",
        ),
        (400, "not json", "check the oauth client id"),
    ] {
        let mock = server
            .mock("POST", "/token")
            .with_status(status)
            .with_body(body)
            .expect(1)
            .create_async()
            .await;
        let oauth = OAuth2::new(OAuth2Config {
            token_url: token_url.clone(),
            client_id: "client".into(),
            client_secret: Secret::new("CLIENT-SECRET"),
            refresh_token: Secret::new("REFRESH-SECRET"),
            expiry_margin: Duration::from_secs(60),
        });
        let clock = ManualClock::new(start_time());
        let err = client(&server, &clock, Auth::OAuth2(oauth))
            .json(&Request::get("/data"))
            .await
            .unwrap_err();
        mock.assert_async().await;
        mock.remove_async().await;
        let text = err.to_string();
        assert!(err.is_permanent(), "{text}");
        assert!(text.contains(hint), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
        if status == 400 && body.starts_with('{') {
            assert!(text.contains("invalid_grant (Bad Request)"), "{text}");
        }
    }
}

#[tokio::test]
async fn still_unauthorized_after_one_refresh_fails_permanently() {
    let mut server = Server::new_async().await;
    let token = server
        .mock("POST", "/token")
        .with_body(r#"{"access_token":"tok","expires_in":3600}"#)
        .expect(2)
        .create_async()
        .await;
    let api = server
        .mock("GET", "/data")
        .with_status(401)
        .expect(2)
        .create_async()
        .await;
    let oauth = OAuth2::new(OAuth2Config {
        token_url: format!("{}/token", server.url()),
        client_id: "client".into(),
        client_secret: Secret::new("s"),
        refresh_token: Secret::new("r"),
        expiry_margin: Duration::from_secs(60),
    });
    let clock = ManualClock::new(start_time());
    let err = client(&server, &clock, Auth::OAuth2(oauth))
        .json(&Request::get("/data"))
        .await
        .unwrap_err();
    token.assert_async().await;
    api.assert_async().await;
    assert!(err.is_permanent());
    assert!(
        err.to_string()
            .contains("still unauthorized after refreshing"),
        "{err}"
    );
}

#[tokio::test]
async fn the_concurrency_limit_bounds_requests_in_flight() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let mut server = Server::new_async().await;
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (n, p) = (now.clone(), peak.clone());
    server
        .mock("GET", "/slow")
        .with_chunked_body(move |w| {
            let current = n.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(current, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            n.fetch_sub(1, Ordering::SeqCst);
            w.write_all(b"{}")
        })
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let mut cfg = config(&server);
    cfg.max_in_flight = 2;
    let c = HttpClient::builder(cfg)
        .clock(clock.shared())
        .build()
        .unwrap();
    let calls = (0..8).map(|_| {
        let c = c.clone();
        async move { c.json(&Request::get("/slow")).await }
    });
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert!(
        peak.load(Ordering::SeqCst) <= 2,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn server_requested_waits_are_capped_and_rate_limit_reset_is_used_without_retry_after() {
    let mut server = Server::new_async().await;
    server
        .mock("GET", "/capped")
        .with_status(429)
        .with_header("retry-after", "100000")
        .expect(1)
        .create_async()
        .await;
    server
        .mock("GET", "/capped")
        .with_body("{}")
        .create_async()
        .await;
    server
        .mock("GET", "/reset")
        .with_status(429)
        .with_header("x-ratelimit-remaining", "0")
        .with_header("x-ratelimit-reset", "45")
        .expect(1)
        .create_async()
        .await;
    server
        .mock("GET", "/reset")
        .with_body("{}")
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let c = client(&server, &clock, Auth::None);
    c.json(&Request::get("/capped")).await.unwrap();
    c.json(&Request::get("/reset")).await.unwrap();
    assert_eq!(
        clock.sleeps(),
        vec![Duration::from_secs(600), Duration::from_secs(45)]
    );
}

// Regression (reliability issue, defects 4 and 5): an undecodable body failed the sync at once.
#[tokio::test]
async fn an_unreadable_body_is_retried_like_a_server_error_then_reported_as_unreadable() {
    let mut server = Server::new_async().await;
    let html = server
        .mock("GET", "/items")
        .with_header("content-type", "application/json")
        .with_body("<html>502 bad gateway</html>")
        .expect(1)
        .create_async()
        .await;
    let ok = server
        .mock("GET", "/items")
        .with_body(r#"{"items":[1]}"#)
        .expect(1)
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let c = client(&server, &clock, Auth::None);
    assert_eq!(
        c.json(&Request::get("/items")).await.unwrap(),
        json!({"items":[1]})
    );
    html.assert_async().await;
    ok.assert_async().await;

    let mut server = Server::new_async().await;
    let _truncated = server
        .mock("GET", "/items")
        .with_body(r#"{"items":[1,"#)
        .expect(4)
        .create_async()
        .await;
    let c = client(&server, &clock, Auth::None);
    let err = c.json(&Request::get("/items")).await.unwrap_err();
    assert!(matches!(err, HttpError::Decode { .. }), "{err}");
    assert!(err.to_string().contains("cannot be read"), "{err}");
}

#[tokio::test]
async fn a_body_the_caller_refuses_is_retried_with_its_reason() {
    let mut server = Server::new_async().await;
    let _empty = server
        .mock("GET", "/page")
        .with_body(r#"{"total": 3}"#)
        .expect(1)
        .create_async()
        .await;
    let _full = server
        .mock("GET", "/page")
        .with_body(r#"{"list": [1, 2, 3], "total": 3}"#)
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let c = client(&server, &clock, Auth::None);
    let check = |r: &JsonResponse| {
        r.body["list"]
            .is_array()
            .then_some(())
            .ok_or_else(|| "no 'list' array".to_owned())
    };
    let page = c
        .send_json_checked(&Request::get("/page"), &check)
        .await
        .unwrap();
    assert_eq!(page.body["list"], json!([1, 2, 3]));
}

// Regression (reliability issue, defect 8): a dead endpoint kept a sync retrying for many minutes.
#[tokio::test]
async fn defect_08_an_endpoint_failing_request_after_request_is_reported_down() {
    let mut server = Server::new_async().await;
    let _dead = server
        .mock("GET", "/dead")
        .with_status(503)
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let mut config = config(&server);
    config.retry.max_attempts = 2;
    config.down_after_failed_requests = 3;
    let c = HttpClient::builder(config)
        .clock(clock.shared())
        .build()
        .unwrap();
    for _ in 0..2 {
        let err = c.json(&Request::get("/dead")).await.unwrap_err();
        assert!(matches!(err, HttpError::Transient { .. }), "{err}");
    }
    let err = c.json(&Request::get("/dead")).await.unwrap_err();
    assert!(matches!(err, HttpError::Down { requests: 3, .. }), "{err}");
    assert!(
        err.is_permanent(),
        "nobody shrinks or retries a dead endpoint"
    );
    assert!(err.to_string().contains("GET /dead"), "{err}");
}

/// Defect 8, found again by the compliance suite: SA360's stream is one path per account, so a dead
/// stream endpoint was retried account by account (99 requests) before anyone gave up.
#[tokio::test]
async fn defect_08_failures_count_per_endpoint_family_across_account_ids() {
    let mut server = Server::new_async().await;
    let _dead = server
        .mock("POST", Matcher::Regex(r"^/v0/customers/\d+/search$".into()))
        .with_status(503)
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let mut config = config(&server);
    config.retry.max_attempts = 1;
    config.down_after_failed_requests = 3;
    let c = HttpClient::builder(config)
        .clock(clock.shared())
        .build()
        .unwrap();
    for account in [11, 22] {
        let request = Request::post(format!("/v0/customers/{account}/search"));
        assert!(matches!(
            c.json(&request).await.unwrap_err(),
            HttpError::Transient { .. }
        ));
    }
    let err = c
        .json(&Request::post("/v0/customers/33/search"))
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Down { requests: 3, .. }), "{err}");
    assert!(err.to_string().contains("/v0/customers/33/search"), "{err}");
}

// Regression (reliability issue, defect 6): one 429 drained the budget for the rest of the sync.
#[tokio::test]
async fn defect_06_a_pause_after_a_429_keeps_the_budget() {
    let clock = ManualClock::new(start_time());
    let budget = RateBudget::new(5000, Duration::from_secs(3600), 5000, clock.shared());
    budget.observe(Some(4990), None);
    budget.pause_for(Duration::from_secs(1));
    budget.acquire().await;
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(1)]);
    assert!(budget.available() > 4900.0, "{}", budget.available());
}

#[tokio::test]
async fn credentials_go_only_to_the_api_origin() {
    let mut api = Server::new_async().await;
    let mut elsewhere = Server::new_async().await;
    let _api = api
        .mock("GET", "/items")
        .match_header("authorization", "Bearer tok")
        .with_body("{}")
        .create_async()
        .await;
    let blob = elsewhere
        .mock("GET", "/blob.csv")
        .match_header("authorization", Matcher::Missing)
        .with_body("{}")
        .expect(1)
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let c = client(&api, &clock, Auth::Bearer(Secret::new("tok")));
    c.json(&Request::get("/items")).await.unwrap();
    c.json(&Request::get(format!("{}/items", api.url())))
        .await
        .unwrap();
    c.json(&Request::follow(format!("{}/blob.csv", elsewhere.url())))
        .await
        .unwrap();
    blob.assert_async().await;
    assert!(!c.is_api_origin(&Request::follow(format!("{}/x", elsewhere.url()))));
}

/// Pages over `PARSE_OFF_RUNTIME_BYTES` are parsed on the rayon pool: the same value comes back, and
/// a broken large body is still an unreadable one, retried then reported.
#[tokio::test]
async fn a_large_body_is_parsed_off_the_runtime_with_the_same_result() {
    let mut server = Server::new_async().await;
    let records: Vec<serde_json::Value> = (0..2_000)
        .map(
            |i| json!({"id": i, "name": format!("record number {i}"), "nested": {"a": [i, i + 1]}}),
        )
        .collect();
    let text = serde_json::to_string(&records).unwrap();
    assert!(text.len() > 64 * 1024);
    let _page = server
        .mock("GET", "/large")
        .with_body(text.clone())
        .create_async()
        .await;
    let _broken = server
        .mock("GET", "/broken")
        .with_body(&text[..text.len() - 10])
        .create_async()
        .await;
    let clock = ManualClock::new(start_time());
    let c = client(&server, &clock, Auth::None);
    let body = c.json(&Request::get("/large")).await.unwrap();
    assert_eq!(body, serde_json::Value::Array(records));
    let err = c.json(&Request::get("/broken")).await.unwrap_err();
    assert!(matches!(err, HttpError::Decode { .. }), "{err}");
}
