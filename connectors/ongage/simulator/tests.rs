//! Tests of the OnGage simulator: data and search semantics directly, the API over HTTP.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::search::{self, date_operand};
use super::*;
use crate::simulator::test_client::client;
use crate::simulator::{Fault, FaultRule, RateLimitConfig};

const NEWSLETTER: u64 = 120_001;
const PROMOTIONS: u64 = 120_002;

fn unix(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp()
}

fn window(from: i64, to: i64) -> Value {
    json!({"title": "window", "combined_as_and": true, "filters": {"type": "All", "criteria": [
        {"type": "email", "field_name": "email", "operator": "notempty", "operand": [""], "case_sensitive": 0, "condition": "and"},
        {"type": "date_absolute", "field_name": "ocx_created_date", "operator": ">=", "operand": [from], "case_sensitive": 0, "condition": "and"},
        {"type": "date_absolute", "field_name": "ocx_created_date", "operator": "<", "operand": [to], "case_sensitive": 0, "condition": "and"}]}})
}

/// Counts matches by the search code and independently from the truth JSON.
fn assert_count_matches_truth(
    data: &OngageData,
    list: u64,
    body: Value,
    oracle: impl Fn(&Value) -> bool,
) {
    let query = search::parse(&body).unwrap();
    let table = data.table(list).unwrap();
    let counted = query.count(data, table, u64::MAX);
    let expected = data
        .truth(list)
        .filter(|contact| oracle(&contact.json))
        .count() as u64;
    assert_eq!(counted, expected, "{body}");
}

fn date(contact: &Value, field: &str) -> Option<i64> {
    contact[field].as_i64()
}

#[test]
fn search_semantics_agree_with_an_independent_oracle() {
    let mut data = OngageData::new(&OngageConfig::small());
    data.advance();
    data.advance();
    let (from, to) = (unix("2021-01-01T00:00:00Z"), unix("2022-06-01T00:00:00Z"));
    assert_count_matches_truth(&data, PROMOTIONS, window(from, to), |c| {
        (from..to).contains(&date(c, "ocx_created_date").unwrap())
    });
    let active = json!({"filters": {"type": "Active", "criteria": []}});
    assert_count_matches_truth(&data, PROMOTIONS, active, |c| c["ocx_status"] == "Active");
    let not_active = json!({"filters": {"type": "Not Active"}});
    assert_count_matches_truth(&data, PROMOTIONS, not_active, |c| {
        c["ocx_status"] != "Active"
    });
    let since = unix("2025-01-01T00:00:00Z");
    for field in [
        "ocx_unsubscribe_date",
        "ocx_bounce_date",
        "ocx_complaint_date",
        "ocx_resubscribe_date",
    ] {
        let body = json!({"filters": {"type": "All", "criteria": [
            {"type": "date_absolute", "field_name": field, "operator": ">=", "operand": [since.to_string()]}]}});
        assert_count_matches_truth(&data, PROMOTIONS, body, |c| {
            date(c, field).is_some_and(|d| d >= since)
        });
    }
    let either = json!({"combined_as_and": false, "filters": {"criteria": [
        {"field_name": "ocx_bounce_date", "operator": "notempty", "operand": []},
        {"field_name": "email", "operator": "LIKE_", "operand": ["maria."], "case_sensitive": 0}]}});
    assert_count_matches_truth(&data, NEWSLETTER, either, |c| {
        !c["ocx_bounce_date"].is_null() || c["email"].as_str().unwrap().starts_with("maria.")
    });
    let day = json!({"filters": {"criteria": [{"field_name": "ocx_created_date", "operator": "=", "operand": ["2024-03-05"]}]}});
    let (start, end) = date_operand(&json!("2024-03-05")).unwrap();
    assert_count_matches_truth(&data, PROMOTIONS, day, |c| {
        (start..end).contains(&date(c, "ocx_created_date").unwrap())
    });
    assert!(search::parse(&json!({"filters": {"type": "Sleeping"}})).is_err());
    assert!(search::parse(
        &json!({"filters": {"criteria": [{"field_name": "shoe_size", "operator": "="}]}})
    )
    .is_err());
}

#[test]
fn creation_order_quiet_stretch_and_ids() {
    let config = OngageConfig::small();
    let quiet = config.lists[1].quiet.unwrap();
    let data = OngageData::new(&config);
    let contacts: Vec<ContactTruth> = data.truth(PROMOTIONS).collect();
    assert_eq!(contacts.len(), 500);
    assert!(contacts
        .windows(2)
        .all(|pair| pair[0].created <= pair[1].created));
    assert!(contacts
        .iter()
        .all(|c| c.created < quiet.start.timestamp() || c.created >= quiet.end.timestamp()));
    let ids: std::collections::BTreeSet<&str> = contacts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), contacts.len());
    assert!(contacts
        .iter()
        .all(|c| c.id.len() == 24 && c.id.chars().all(|ch| ch.is_ascii_hexdigit())));
    let table = data.table(PROMOTIONS).unwrap();
    assert_eq!(data.index_of(table, &contacts[123].id), Some(123));
    let statuses: std::collections::BTreeSet<&str> =
        contacts.iter().map(|c| c.status.as_str()).collect();
    assert_eq!(statuses.len(), 4, "every status occurs: {statuses:?}");
}

#[test]
fn same_seed_same_contacts_and_changes() {
    let config = OngageConfig::small();
    let (mut a, mut b) = (OngageData::new(&config), OngageData::new(&config));
    assert_eq!(a.advance(), b.advance());
    let x: Vec<Value> = a.truth(NEWSLETTER).map(|c| c.json).collect();
    let y: Vec<Value> = b.truth(NEWSLETTER).map(|c| c.json).collect();
    assert_eq!(x, y);
    let mut other = config.clone();
    other.seed += 1;
    assert_ne!(
        x[0],
        OngageData::new(&other)
            .truth(NEWSLETTER)
            .next()
            .unwrap()
            .json
    );
}

#[test]
fn a_million_contacts_search_a_window_without_materialising_them() {
    let mut data = OngageData::new(&OngageConfig::default());
    assert_eq!(data.count(PROMOTIONS), 1_050_000);
    let body = window(unix("2024-05-01T00:00:00Z"), unix("2024-05-15T00:00:00Z"));
    let query = search::parse(&body).unwrap();
    let table = data.table(PROMOTIONS).unwrap();
    let range = query.candidates(&data, table);
    let matches = query.count(&data, table, u64::MAX);
    assert_eq!(
        matches,
        range.end - range.start,
        "a created window is an exact index range"
    );
    assert!((5_000..20_000).contains(&matches), "{matches}");
    assert_eq!(data.overlay_len(PROMOTIONS), 0);
    data.advance();
    assert!(data.overlay_len(PROMOTIONS) <= 40);
    assert_eq!(data.count(PROMOTIONS), 1_050_025);
}

// ---- over HTTP ----

fn auth(request: reqwest::RequestBuilder, config: &OngageConfig) -> reqwest::RequestBuilder {
    request
        .header("x_username", &config.username)
        .header("x_password", &config.password)
        .header("x_account_code", &config.account_code)
}

async fn get(sim: &OngageSimulator, path: &str) -> (u16, Value) {
    let response = auth(
        client().get(format!("{}{path}", sim.base_url())),
        sim.config(),
    )
    .send()
    .await
    .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(sim: &OngageSimulator, path: &str, body: &Value) -> (u16, Value) {
    let response = auth(
        client().post(format!("{}{path}", sim.base_url())),
        sim.config(),
    )
    .json(body)
    .send()
    .await
    .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Sends a raw HTTP/1.1 request so header names keep their upper case and underscores on the
/// wire (reqwest would lower-case them).
async fn raw_status(base_url: &str, headers: &str) -> String {
    let addr = base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET /api/lists HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn underscore_headers_authenticate_in_any_case() {
    let sim = OngageSimulator::start(OngageConfig::small()).await.unwrap();
    let c = sim.config();
    let upper = format!(
        "X_USERNAME: {}\r\nX_PASSWORD: {}\r\nX_ACCOUNT_CODE: {}\r\n",
        c.username, c.password, c.account_code
    );
    assert!(raw_status(&sim.base_url(), &upper).await.contains(" 200 "));
    let hyphens = upper.replace("X_", "X-");
    assert!(raw_status(&sim.base_url(), &hyphens)
        .await
        .contains(" 401 "));

    let wrong = client()
        .get(format!("{}/api/lists", sim.base_url()))
        .header("x_username", &c.username)
        .header("x_password", "nope")
        .header("x_account_code", &c.account_code)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["metadata"]["error"], true);
    assert_eq!(body["payload"]["code"], 401);
    let logged = sim.control().log().entries();
    assert_eq!(logged.last().unwrap().header("x_password"), Some("***"));
}

#[tokio::test]
async fn lists_fields_and_envelopes() {
    let sim = OngageSimulator::start(OngageConfig::small()).await.unwrap();
    let (status, lists) = get(&sim, "/api/lists?sort=id&order=desc&limit=1").await;
    assert_eq!(status, 200);
    assert_eq!(lists["metadata"], json!({"error": false, "total": "2"}));
    assert_eq!(lists["payload"][0]["id"], PROMOTIONS);
    assert_eq!(lists["payload"][0]["last_count"], 500);
    let (_, one) = get(&sim, &format!("/api/lists/{NEWSLETTER}")).await;
    assert_eq!(one["payload"]["name"], "Newsletter");
    let truth = sim
        .truth(NEWSLETTER)
        .filter(|c| c.status == Status::Active)
        .count();
    assert_eq!(one["payload"]["last_active_count"], truth);
    let (missing, error) = get(&sim, "/api/lists/42").await;
    assert_eq!(missing, 404);
    assert_eq!(error["metadata"]["error"], true);
    let (_, fields) = get(&sim, &format!("/{PROMOTIONS}/api/list_fields")).await;
    assert!(fields["metadata"]["total"].is_u64());
    assert_eq!(fields["payload"][0]["list_id"], PROMOTIONS);
}

#[tokio::test]
async fn list_id_precedence_body_query_path_default() {
    let sim = OngageSimulator::start(OngageConfig::small()).await.unwrap();
    let body = json!({"filters": {"type": "All"}});
    let mut with_list = body.clone();
    with_list["list_id"] = json!(NEWSLETTER.to_string());
    let cases = [
        (
            format!("/{PROMOTIONS}/api/contact_search?list_id={PROMOTIONS}"),
            with_list.clone(),
            NEWSLETTER,
        ),
        (
            format!("/{PROMOTIONS}/api/contact_search?list_id={NEWSLETTER}"),
            body.clone(),
            NEWSLETTER,
        ),
        (
            format!("/{PROMOTIONS}/api/contact_search"),
            body.clone(),
            PROMOTIONS,
        ),
        ("/api/contact_search".to_owned(), body.clone(), NEWSLETTER),
    ];
    for (path, body, expected) in cases {
        let (status, created) = post(&sim, &path, &body).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(created["payload"]["list_id"], expected, "{path}");
    }
    let (missing, _) = post(&sim, "/999/api/contact_search", &body).await;
    assert_eq!(missing, 404);
}

async fn poll_until_done(sim: &OngageSimulator, list: u64, id: u64, max_polls: usize) -> Vec<u64> {
    let mut statuses = Vec::new();
    for _ in 0..max_polls {
        let (_, status) = get(sim, &format!("/{list}/api/contact_search/{id}")).await;
        let code = status["payload"]["status"].as_u64().unwrap();
        statuses.push(code);
        if code != 1 {
            break;
        }
    }
    statuses
}

#[tokio::test]
async fn search_polls_then_exports_csv_with_mixed_dates() {
    let mut config = OngageConfig::small();
    config.search.base_polls = 2;
    let sim = OngageSimulator::start(config).await.unwrap();
    let (from, to) = (unix("2020-01-01T00:00:00Z"), unix("2024-01-01T00:00:00Z"));
    let (_, created) = post(
        &sim,
        &format!("/{PROMOTIONS}/api/contact_search"),
        &window(from, to),
    )
    .await;
    let id = created["payload"]["id"].as_u64().unwrap();
    assert_eq!(created["payload"]["status"], 1);
    let (early, _) = get(
        &sim,
        &format!("/{PROMOTIONS}/api/contact_search/{id}/export"),
    )
    .await;
    assert_eq!(early, 400, "no export before completion");
    assert_eq!(
        poll_until_done(&sim, PROMOTIONS, id, 10).await,
        vec![1, 1, 2]
    );

    let csv_text = auth(
        client().get(format!(
            "{}/{PROMOTIONS}/api/contact_search/{id}/export",
            sim.base_url()
        )),
        sim.config(),
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "id");
    assert!(headers.iter().any(|h| h == "ocx_unsubscribe_date"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let expected: Vec<ContactTruth> = sim
        .truth(PROMOTIONS)
        .filter(|c| (from..to).contains(&c.created))
        .collect();
    assert_eq!(rows.len(), expected.len());
    assert!(rows
        .iter()
        .zip(&expected)
        .all(|(row, truth)| row[0] == truth.id));
    let created_column = headers
        .iter()
        .position(|h| h == "ocx_created_date")
        .unwrap();
    let unix_style = rows
        .iter()
        .filter(|r| r[created_column].parse::<i64>().is_ok())
        .count();
    let text_style = rows
        .iter()
        .filter(|r| r[created_column].contains(' '))
        .count();
    assert!(unix_style > 0 && text_style > 0 && unix_style + text_style == rows.len());
    for (row, truth) in rows.iter().zip(&expected) {
        let (seconds, _) = date_operand(&json!(&row[created_column])).unwrap();
        assert_eq!(seconds, truth.created);
    }

    let (_, page) = get(
        &sim,
        &format!("/{PROMOTIONS}/api/contact_search/{id}/result?offset=5&limit=3"),
    )
    .await;
    assert_eq!(page["metadata"]["total"], expected.len());
    assert_eq!(page["payload"][0], expected[5].json);

    let (_, listed) = get(&sim, "/api/contact_search").await;
    assert_eq!(listed["metadata"]["total"], "1");
    assert_eq!(listed["payload"][0]["status"], 2);
}

#[tokio::test]
async fn big_windows_never_complete_and_quiet_windows_are_empty() {
    let mut config = OngageConfig::small();
    config.search.never_complete_above = Some(100);
    config.search.fail_searches = vec![3];
    let quiet = config.lists[1].quiet.unwrap();
    let sim = OngageSimulator::start(config).await.unwrap();
    let everything = json!({"filters": {"type": "All"}});
    let (_, big) = post(
        &sim,
        &format!("/{PROMOTIONS}/api/contact_search"),
        &everything,
    )
    .await;
    let big_id = big["payload"]["id"].as_u64().unwrap();
    assert_eq!(
        poll_until_done(&sim, PROMOTIONS, big_id, 20).await,
        vec![1; 20]
    );

    let (_, silent) = post(
        &sim,
        &format!("/{PROMOTIONS}/api/contact_search"),
        &window(quiet.start.timestamp(), quiet.end.timestamp()),
    )
    .await;
    let silent_id = silent["payload"]["id"].as_u64().unwrap();
    assert_eq!(
        poll_until_done(&sim, PROMOTIONS, silent_id, 5).await.last(),
        Some(&2)
    );
    let export = auth(
        client().get(format!(
            "{}/api/contact_search/{silent_id}/export",
            sim.base_url()
        )),
        sim.config(),
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert_eq!(export.lines().count(), 1, "header only for a quiet window");

    let (_, doomed) = post(
        &sim,
        &format!("/{NEWSLETTER}/api/contact_search"),
        &everything,
    )
    .await;
    let doomed_id = doomed["payload"]["id"].as_u64().unwrap();
    assert_eq!(
        poll_until_done(&sim, NEWSLETTER, doomed_id, 5).await,
        vec![1, 3]
    );
    let summaries = sim.searches();
    assert_eq!(summaries.len(), 3);
    assert_eq!(
        summaries[0].matches, 101,
        "counting stops just past the threshold"
    );
}

#[tokio::test]
async fn bigger_searches_stay_pending_longer() {
    let mut config = OngageConfig::small();
    config.search.base_polls = 1;
    config.search.matches_per_extra_poll = 100;
    let sim = OngageSimulator::start(config).await.unwrap();
    let mut pending_polls = Vec::new();
    for list in [NEWSLETTER, PROMOTIONS] {
        let (_, created) = post(&sim, &format!("/{list}/api/contact_search"), &json!({})).await;
        let id = created["payload"]["id"].as_u64().unwrap();
        let statuses = poll_until_done(&sim, list, id, 20).await;
        assert_eq!(statuses.last(), Some(&2));
        pending_polls.push(statuses.len() - 1);
    }
    // 60 matches: 1 + 0 extra polls; 500 matches: 1 + 5.
    assert_eq!(pending_polls, vec![1, 6]);
}

#[tokio::test]
async fn rate_limits_return_the_documented_body() {
    let mut config = OngageConfig::small();
    config.rate_limit = RateLimitConfig::per_window(3, 60).with_max_concurrent(2);
    let sim = OngageSimulator::start(config).await.unwrap();
    for _ in 0..3 {
        assert_eq!(get(&sim, "/api/lists").await.0, 200);
    }
    let response = auth(
        client().get(format!("{}/api/lists", sim.base_url())),
        sim.config(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"metadata":{"error":true},"payload":{"code":429,"errors":[],"message":"Calls per minute exceeded"}}"#
    );

    sim.control().clock().advance(Duration::from_secs(60));
    sim.control().faults().add(FaultRule::on_path(
        "/api/lists",
        Fault::Slow { delay_ms: 200 },
    ));
    let calls = (0..3).map(|_| {
        auth(
            client().get(format!("{}/api/lists", sim.base_url())),
            sim.config(),
        )
        .send()
    });
    let mut codes: Vec<u16> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        vec![200, 200, 429],
        "the third concurrent call is refused"
    );
}

#[tokio::test]
async fn advance_changes_status_dates_and_adds_contacts() {
    let sim = OngageSimulator::start(OngageConfig::small()).await.unwrap();
    let summary = crate::simulator::test_client::advance_over_http(&sim.base_url(), 2).await;
    assert_eq!(summary["generation"], 2);
    let changes = summary["changes"].as_array().unwrap();
    let unsubscribed: Vec<&str> = changes
        .iter()
        .filter(|c| c["list_id"] == PROMOTIONS && c["kind"] == "unsubscribed")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(!unsubscribed.is_empty());
    let since = sim.config().data_end.timestamp();
    let body = json!({"filters": {"type": "Unsubscribed", "criteria": [
        {"type": "date_absolute", "field_name": "ocx_unsubscribe_date", "operator": ">=", "operand": [since]}]}});
    let (_, created) = post(&sim, &format!("/{PROMOTIONS}/api/contact_search"), &body).await;
    let id = created["payload"]["id"].as_u64().unwrap();
    poll_until_done(&sim, PROMOTIONS, id, 5).await;
    let (_, result) = get(
        &sim,
        &format!("/{PROMOTIONS}/api/contact_search/{id}/result?limit=1000"),
    )
    .await;
    let found: std::collections::BTreeSet<&str> = result["payload"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let resubscribed_later: std::collections::BTreeSet<&str> = changes
        .iter()
        .filter(|c| c["kind"] == "resubscribed")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let expected: std::collections::BTreeSet<&str> = unsubscribed
        .into_iter()
        .filter(|id| !resubscribed_later.contains(id))
        .collect();
    assert_eq!(found, expected);

    let added = changes
        .iter()
        .filter(|c| c["kind"] == "added" && c["list_id"] == NEWSLETTER)
        .count();
    assert_eq!(added, 6);
    let (_, fresh) = post(
        &sim,
        &format!("/{NEWSLETTER}/api/contact_search"),
        &window(since, since + 3 * 86_400),
    )
    .await;
    let fresh_id = fresh["payload"]["id"].as_u64().unwrap();
    poll_until_done(&sim, NEWSLETTER, fresh_id, 5).await;
    let (_, fresh_page) = get(&sim, &format!("/api/contact_search/{fresh_id}/result")).await;
    assert_eq!(fresh_page["metadata"]["total"], 6);
    assert_eq!(sim.data().count(NEWSLETTER), 66);
}

#[tokio::test]
async fn same_seed_exports_identical_bytes() {
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let sim = OngageSimulator::start(OngageConfig::small()).await.unwrap();
        let (_, created) = post(
            &sim,
            &format!("/{NEWSLETTER}/api/contact_search"),
            &json!({"filters": {"type": "All"}}),
        )
        .await;
        let id = created["payload"]["id"].as_u64().unwrap();
        poll_until_done(&sim, NEWSLETTER, id, 5).await;
        let bytes = auth(
            client().get(format!("{}/api/contact_search/{id}/export", sim.base_url())),
            sim.config(),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
        bodies.push(bytes);
    }
    assert_eq!(bodies[0], bodies[1]);
    assert!(bodies[0].len() > 1000);
}

#[tokio::test]
async fn the_date_header_is_the_simulated_clock() {
    let sim = OngageSimulator::start(OngageConfig::small()).await.unwrap();
    sim.advance(1);
    let response = auth(
        client().get(format!("{}/api/lists", sim.base_url())),
        sim.config(),
    )
    .send()
    .await
    .unwrap();
    let date = response.headers()[reqwest::header::DATE].to_str().unwrap();
    let at = chrono::DateTime::<chrono::Utc>::from(httpdate::parse_http_date(date).unwrap());
    assert_eq!(at, sim.control().clock().now());
    assert_eq!(at.to_rfc3339(), "2025-01-02T00:00:00+00:00");
}
