//! Tests of the Virtuous simulator: the data model and planner directly, the API over HTTP.

use std::time::Duration;

use serde_json::{json, Value};

use super::dataset::Entity;
use super::query::{self, parse_date_interval};
use super::*;
use crate::simulator::test_client::client;
use crate::simulator::{Fault, FaultRule, RateLimitConfig};

fn small_data_after(generations: u32) -> VirtuousData {
    let mut config = VirtuousConfig::small();
    config.contacts.initial = 300;
    config.gifts.initial = 700;
    config.contacts.modified_per_generation = 15;
    config.contacts.removed_per_generation = 6;
    config.gifts.removed_per_generation = 9;
    let mut data = VirtuousData::new(&config);
    for _ in 0..generations {
        data.advance();
    }
    data
}

/// The planner's answer must equal a brute-force scan with the same predicate.
fn assert_planner_matches_scan(data: &VirtuousData, entity: Entity, body: Value) {
    let query = query::parse(entity, body.to_string().as_bytes(), false).unwrap();
    let include_archived = body["includeArchived"] == json!(true);
    let everything = query::execute(data, entity, &query, 0, u64::MAX);
    for (skip, take) in [(0, 1), (0, 7), (5, 13), (40, 1000)] {
        let page = query::execute(data, entity, &query, skip, take);
        assert_eq!(page.total, everything.total, "total for {body}");
        let expected: Vec<u64> = everything
            .views
            .iter()
            .skip(skip as usize)
            .take(take as usize)
            .map(|view| view.id)
            .collect();
        let got: Vec<u64> = page.views.iter().map(|view| view.id).collect();
        assert_eq!(got, expected, "page {skip}/{take} for {body}");
    }
    // Independent check against the rendered records (no planner code involved).
    let scanned = data
        .truth(entity)
        .filter(|record| include_archived || !record.archived)
        .filter(|record| condition_holds(&body, record))
        .count() as u64;
    assert_eq!(everything.total, scanned, "scan total for {body}");
}

/// A tiny independent evaluator for the condition shapes the tests use.
fn condition_holds(body: &Value, record: &TruthRecord) -> bool {
    let Some(groups) = body["groups"].as_array() else {
        return true;
    };
    groups.iter().any(|group| {
        group["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|condition| {
                let value = condition["value"].as_str().unwrap();
                match (
                    condition["parameter"].as_str().unwrap(),
                    condition["operator"].as_str().unwrap(),
                ) {
                    (_, "GreaterThan" | "Greater Than") => record.id > value.parse().unwrap(),
                    ("Last Modified Date", "OnOrAfter" | "Is After Or On") => {
                        record.modified.timestamp_millis() >= parse_date_interval(value).unwrap().0
                    }
                    ("Last Modified Date", "OnOrBefore") => {
                        record.modified.timestamp_millis() < parse_date_interval(value).unwrap().1
                    }
                    ("Create Date", "Is Before") => {
                        let created = record.json["createDateTimeUtc"].as_str().unwrap();
                        parse_date_interval(created).unwrap().0
                            < parse_date_interval(value).unwrap().0
                    }
                    other => panic!("evaluator does not know {other:?}"),
                }
            })
    })
}

#[test]
fn newest_first_queries_agree_with_brute_force_before_and_after_edits() {
    // Before any generation nothing is edited, so every answer comes from the early-stopping walk.
    for generations in [0, 2] {
        let data = small_data_after(generations);
        for entity in [Entity::Contact, Entity::Gift] {
            for body in [
                json!({"sortBy": "Last Modified Date", "descending": true}),
                json!({"sortBy": "Last Modified Date", "descending": true, "includeArchived": true}),
                json!({"sortBy": "Create Date", "descending": true}),
            ] {
                assert_planner_matches_scan(&data, entity, body);
            }
        }
    }
}

#[test]
fn planner_agrees_with_brute_force() {
    let data = small_data_after(4);
    let cutoff = "2024-12-20";
    let queries = [
        json!({}),
        json!({"includeArchived": true}),
        json!({"groups": [{"conditions": [{"parameter": "Contact Id", "operator": "GreaterThan", "value": "1300"}]}]}),
        json!({"groups": [{"conditions": [{"parameter": "Last Modified Date", "operator": "OnOrAfter", "value": cutoff}]}], "includeArchived": true}),
        json!({"groups": [{"conditions": [{"parameter": "Last Modified Date", "operator": "Is After Or On", "value": "2025-01-02T00:00:00Z"}]}], "includeArchived": true, "sortBy": "Last Modified Date"}),
        json!({"groups": [{"conditions": [{"parameter": "Last Modified Date", "operator": "OnOrBefore", "value": "2021-06-30"}]},
                          {"conditions": [{"parameter": "Contact Id", "operator": "Greater Than", "value": "1800"}]}],
               "sortBy": "Contact Id", "descending": true}),
        json!({"groups": [{"conditions": [{"parameter": "Create Date", "operator": "Is Before", "value": "2022-03-04T05:06:07"}]}], "sortBy": "Create Date"}),
        // Newest first over every record: answered without a full scan.
        json!({"sortBy": "Last Modified Date", "descending": true}),
        json!({"sortBy": "Last Modified Date", "descending": true, "includeArchived": true}),
        json!({"sortBy": "Create Date", "descending": true}),
        json!({"groups": [{"conditions": [{"parameter": "Contact Id", "operator": "GreaterThan", "value": "1300"}]}], "sortBy": "Last Modified Date", "descending": true}),
    ];
    for body in queries {
        assert_planner_matches_scan(&data, Entity::Contact, body);
    }
    let gift_queries = [
        json!({"groups": [{"conditions": [{"parameter": "Gift Id", "operator": "GreaterThan", "value": "501000"}]}], "sortBy": "Gift Id"}),
        json!({"groups": [{"conditions": [{"parameter": "Last Modified Date", "operator": "OnOrAfter", "value": "2025-01-01"}]}], "sortBy": "Last Modified Date", "descending": true}),
        json!({"sortBy": "Last Modified Date", "descending": true, "includeArchived": true}),
        json!({"sortBy": "Create Date", "descending": true}),
    ];
    for body in gift_queries {
        assert_planner_matches_scan(&data, Entity::Gift, body);
    }
}

#[test]
fn ids_and_creation_times_grow_with_the_index_and_archived_counts_are_exact() {
    let data = small_data_after(3);
    let count = data.count(Entity::Contact);
    let mut previous_id = 0;
    let mut previous_floor = i64::MIN;
    for index in 0..count {
        let id = data.id_at(Entity::Contact, index);
        assert!(id > previous_id);
        assert_eq!(data.index_of(Entity::Contact, id), Some(index));
        let floor = data.created_floor_ms(Entity::Contact, index);
        assert!(floor >= previous_floor, "creation order at {index}");
        previous_id = id;
        previous_floor = floor;
    }
    for (lo, hi) in [(0, count), (3, 17), (10, 11), (50, 40)] {
        let brute = (lo..hi.max(lo))
            .filter(|i| data.base_archived(Entity::Contact, *i))
            .count() as u64;
        assert_eq!(data.base_archived_in(Entity::Contact, lo, hi), brute);
    }
}

#[test]
fn same_seed_same_data_and_changes_other_seed_differs() {
    let a = small_data_after(2);
    let b = small_data_after(2);
    let first: Vec<Value> = a.truth(Entity::Gift).take(50).map(|r| r.json).collect();
    assert_eq!(
        first,
        b.truth(Entity::Gift)
            .take(50)
            .map(|r| r.json)
            .collect::<Vec<_>>()
    );
    let mut config = VirtuousConfig::small();
    config.seed += 1;
    let other = VirtuousData::new(&config);
    assert_ne!(first[0], other.truth(Entity::Gift).next().unwrap().json);
    let (mut x, mut y) = (a.clone(), b.clone());
    assert_eq!(x.advance(), y.advance());
}

#[test]
fn timestamps_mix_spellings_and_parse_back() {
    let data = small_data_after(0);
    let spellings: std::collections::BTreeSet<String> = data
        .truth(Entity::Contact)
        .map(|record| {
            let text = record.json["modifiedDateTimeUtc"]
                .as_str()
                .unwrap()
                .to_owned();
            let (ms, _) = parse_date_interval(&text).expect("parseable");
            assert_eq!(ms, record.modified.timestamp_millis(), "{text}");
            match (text.ends_with('Z'), text.contains('.')) {
                (true, true) => "zulu+fraction",
                (true, false) => "zulu",
                (false, true) => "bare+fraction",
                (false, false) => "bare",
            }
            .to_owned()
        })
        .collect();
    assert_eq!(spellings.len(), 4, "{spellings:?}");
}

#[test]
fn a_million_contacts_answer_a_page_without_materialising_them() {
    let data = VirtuousData::new(&VirtuousConfig::sized(1_000_000, 3_000_000));
    let body = json!({"groups": [{"conditions": [{"parameter": "Gift Id", "operator": "GreaterThan", "value": "8000000"}]}], "sortBy": "Gift Id"});
    let query = query::parse(Entity::Gift, body.to_string().as_bytes(), false).unwrap();
    let page = query::execute(&data, Entity::Gift, &query, 0, 1000);
    assert_eq!(page.views.len(), 1000);
    assert!(page.views[0].id > 8_000_000);
    let near = (8_000_000 - 500_000) / 3;
    let first = if data.id_at(Entity::Gift, near) > 8_000_000 {
        near
    } else {
        near + 1
    };
    assert_eq!(page.views[0].id, data.id_at(Entity::Gift, first));
    assert_eq!(page.total, 3_000_000 - first);
    // The only per-record memory is the overlay, empty until `advance`, then tiny.
    assert_eq!(data.overlay_len(Entity::Gift), 0);
    let mut data = data;
    data.advance();
    assert!(data.overlay_len(Entity::Gift) <= 10);
    assert!(data.overlay_len(Entity::Contact) <= 10);
    assert_eq!(data.count(Entity::Contact), 1_000_002);
}

// ---- over HTTP ----

async fn post(sim: &VirtuousSimulator, path_and_query: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}{path_and_query}", sim.base_url()))
        .bearer_auth(sim.api_key())
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn page(sim: &VirtuousSimulator, path_and_query: &str, body: Value) -> Value {
    let response = post(sim, path_and_query, body).await;
    assert_eq!(response.status(), 200, "{path_and_query}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn auth_envelope_paging_and_rate_headers() {
    let mut config = VirtuousConfig::small();
    config.rate_limit = RateLimitConfig::per_window(5000, 3600);
    let sim = VirtuousSimulator::start(config).await.unwrap();
    let url = format!("{}/api/Contact/Query", sim.base_url());
    let missing = client().post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(missing.headers()["x-ratelimit-limit"], "5000");
    assert_eq!(
        missing.text().await.unwrap(),
        "Authorization has been denied for this request."
    );
    let wrong = client()
        .post(&url)
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let default_take = page(&sim, "/api/Contact/Query", json!({})).await;
    assert_eq!(default_take["list"].as_array().unwrap().len(), 10);
    let visible = sim.truth(Entity::Contact).filter(|r| !r.archived).count();
    assert_eq!(default_take["total"], json!(visible));

    let too_big = post(&sim, "/api/Gift/Query?take=1001", json!({})).await;
    assert_eq!(too_big.status(), 400);
    let error: Value = too_big.json().await.unwrap();
    assert_eq!(error["error"]["details"][0]["field"], "take");

    // Walking skip/take yields every visible contact once, in id order.
    let mut seen = Vec::new();
    let mut skip = 0;
    loop {
        let body = page(
            &sim,
            &format!("/api/Contact/Query/FullContact?skip={skip}&take=7"),
            json!({}),
        )
        .await;
        let list = body["list"].as_array().unwrap();
        seen.extend(list.iter().map(|r| r["id"].as_u64().unwrap()));
        skip += 7;
        if list.len() < 7 {
            break;
        }
    }
    let expected: Vec<u64> = sim
        .truth(Entity::Contact)
        .filter(|r| !r.archived)
        .map(|r| r.id)
        .collect();
    assert_eq!(seen, expected);
    let full_first = sim
        .truth(Entity::Contact)
        .find(|r| !r.archived)
        .unwrap()
        .json;
    let served = page(&sim, "/api/Contact/Query/FullContact?take=1", json!({})).await;
    assert_eq!(served["list"][0], full_first);
    assert!(full_first["contactIndividuals"][0]["contactMethods"].is_array());

    let campaigns = page(&sim, "/api/Campaign/Query?take=100", json!({})).await;
    assert_eq!(campaigns["total"], 3);
    assert!(campaigns["list"][0]["campaignId"].is_u64());
    let options = client()
        .get(format!("{}/api/Gift/QueryOptions", sim.base_url()))
        .bearer_auth(sim.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), 200);
    let spent = sim.control().log().total_requests();
    let remaining: u64 = options.headers()["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(remaining, 5000 - spent);
    let reset: i64 = options.headers()["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(reset, sim.config().data_end.timestamp() + 3600);
}

#[tokio::test]
async fn total_as_string_and_unknown_parameter_modes() {
    let mut config = VirtuousConfig::small();
    config.total_as_string = true;
    let sim = VirtuousSimulator::start(config.clone()).await.unwrap();
    let typo = json!({"groups": [{"conditions": [{"parameter": "Last Modifed Date", "operator": "OnOrAfter", "value": "2030-01-01"}]}]});
    let refused = post(&sim, "/api/Gift/Query", typo.clone()).await;
    assert_eq!(refused.status(), 400);
    let all = page(&sim, "/api/Gift/Query", json!({})).await;
    assert!(all["total"].is_string());

    config.ignore_unknown_parameters = true;
    let lenient = VirtuousSimulator::start(config).await.unwrap();
    let everything = page(&lenient, "/api/Gift/Query", typo).await;
    assert_eq!(
        everything["total"], all["total"],
        "a typo silently returns everything"
    );
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let mut config = VirtuousConfig::small();
    config.rate_limit = RateLimitConfig::per_window(3, 3600);
    let sim = VirtuousSimulator::start(config).await.unwrap();
    for expected_remaining in ["2", "1", "0"] {
        let ok = post(&sim, "/api/Project/Query", json!({})).await;
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["x-ratelimit-remaining"], expected_remaining);
    }
    let limited = post(&sim, "/api/Project/Query", json!({})).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(
        limited.headers()["retry-after"],
        "3600",
        "frozen clock at the window start"
    );
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    sim.control().clock().advance(Duration::from_secs(3600));
    assert_eq!(
        post(&sim, "/api/Project/Query", json!({})).await.status(),
        200
    );
}

#[tokio::test]
async fn poison_fails_every_page_holding_it_and_faults_apply() {
    let mut config = VirtuousConfig::small();
    let data = VirtuousData::new(&config);
    let poison_id = data.id_at(Entity::Gift, 25);
    config.poison = vec![PoisonRecord {
        entity: Entity::Gift,
        id: poison_id,
    }];
    let sim = VirtuousSimulator::start(config).await.unwrap();
    let after = |id: u64| json!({"groups": [{"conditions": [{"parameter": "Gift Id", "operator": "GreaterThan", "value": id.to_string()}]}], "sortBy": "Gift Id"});
    let start = data.id_at(Entity::Gift, 20);
    for take in [1000, 50, 10] {
        let response = post(
            &sim,
            &format!("/api/Gift/Query/FullGift?take={take}"),
            after(start),
        )
        .await;
        assert_eq!(response.status(), 500, "take {take}");
    }
    let just_before = post(
        &sim,
        "/api/Gift/Query/FullGift?take=1",
        after(data.id_at(Entity::Gift, 23)),
    )
    .await;
    assert_eq!(just_before.status(), 200);
    let at_poison = post(
        &sim,
        "/api/Gift/Query/FullGift?take=1",
        after(data.id_at(Entity::Gift, 24)),
    )
    .await;
    assert_eq!(at_poison.status(), 500);
    let past = post(&sim, "/api/Gift/Query/FullGift?take=1000", after(poison_id)).await;
    assert_eq!(past.status(), 200);

    sim.control()
        .faults()
        .add(FaultRule::on_path("/api/Gift/Query", Fault::EmptyPage).times(1));
    let empty = page(&sim, "/api/Gift/Query?take=5", json!({})).await;
    assert_eq!(empty["list"], json!([]));
    assert_eq!(empty["total"], json!(sim.truth(Entity::Gift).count()));
    let log = sim.control().log();
    assert_eq!(
        log.query_sequence("/FullGift", "take"),
        vec!["1000", "50", "10", "1", "1", "1000"]
    );
}

#[tokio::test]
async fn full_pages_past_the_deadline_fail_and_small_takes_pass() {
    let mut config = VirtuousConfig::small();
    config.latency = Latency {
        per_full_record: Duration::from_millis(1),
        deadline: Some(Duration::from_millis(30)),
        ..Latency::none()
    };
    let sim = VirtuousSimulator::start(config.clone()).await.unwrap();
    let big = post(&sim, "/api/Gift/Query/FullGift?take=100", json!({})).await;
    assert_eq!(big.status(), 504);
    assert!(big.text().await.unwrap().contains("Gateway"));
    assert_eq!(
        post(&sim, "/api/Gift/Query/FullGift?take=10", json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&sim, "/api/Gift/Query?take=100", json!({}))
            .await
            .status(),
        200,
        "short form is cheap"
    );

    config.latency.on_deadline = DeadlineAction::Hang;
    let hanging = VirtuousSimulator::start(config).await.unwrap();
    let outcome = client()
        .post(format!(
            "{}/api/Gift/Query/FullGift?take=100",
            hanging.base_url()
        ))
        .bearer_auth(hanging.api_key())
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(outcome.unwrap_err().is_timeout());
}

#[tokio::test]
async fn same_seed_serves_byte_identical_pages() {
    let a = VirtuousSimulator::start(VirtuousConfig::small())
        .await
        .unwrap();
    let b = VirtuousSimulator::start(VirtuousConfig::small())
        .await
        .unwrap();
    for path in [
        "/api/Contact/Query/FullContact?take=40",
        "/api/Gift/Query/FullGift?skip=20&take=50",
    ] {
        let x = post(&a, path, json!({"includeArchived": true}))
            .await
            .bytes()
            .await
            .unwrap();
        let y = post(&b, path, json!({"includeArchived": true}))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(x, y, "{path}");
    }
}

#[tokio::test]
async fn changes_from_advance_are_visible_to_incremental_queries() {
    let sim = VirtuousSimulator::start(VirtuousConfig::small())
        .await
        .unwrap();
    let before: Vec<TruthRecord> = sim.truth(Entity::Contact).collect();
    // Drive the advance through the HTTP control endpoint, as an external process would.
    let summary = crate::simulator::test_client::advance_over_http(&sim.base_url(), 1).await;
    assert_eq!(summary["generation"], 1);
    let changes: Vec<Change> = sim.advance(0).changes;
    assert!(changes.is_empty());
    let data = sim.data();
    let since = json!({"groups": [{"conditions": [{"parameter": "Last Modified Date", "operator": "OnOrAfter", "value": "2025-01-01T00:00:01Z"}]}],
                       "sortBy": "Last Modified Date", "includeArchived": true});
    let changed = page(
        &sim,
        "/api/Contact/Query/FullContact?take=1000",
        since.clone(),
    )
    .await;
    let changed_ids: std::collections::BTreeSet<u64> = changed["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    let expected: std::collections::BTreeSet<u64> = summary["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|change| change["entity"] == "Contact")
        .map(|change| change["id"].as_u64().unwrap())
        .collect();
    assert_eq!(changed_ids, expected);
    assert!(!expected.is_empty());

    let archived: Vec<u64> = summary["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|change| change["kind"] == "archived")
        .map(|change| change["id"].as_u64().unwrap())
        .collect();
    assert!(!archived.is_empty());
    let hidden = page(
        &sim,
        "/api/Contact/Query/FullContact?take=1000",
        json!({"groups": since["groups"]}),
    )
    .await;
    let hidden_ids: Vec<u64> = hidden["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    for id in &archived {
        assert!(
            !hidden_ids.contains(id),
            "archived {id} hidden without includeArchived"
        );
        let record = data.record(Entity::Contact, *id).unwrap();
        assert!(record.archived);
        let old = before.iter().find(|r| r.id == *id).unwrap();
        assert!(
            record.modified > old.modified,
            "archiving bumps modifiedDateTimeUtc"
        );
    }

    let deleted = sim.deleted_ids(Entity::Gift);
    assert!(!deleted.is_empty());
    let gifts = page(&sim, "/api/Gift/Query?take=1000", json!({})).await;
    let gift_ids: Vec<u64> = gifts["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert!(deleted.iter().all(|id| !gift_ids.contains(id)));
    assert_eq!(gift_ids.len(), sim.truth(Entity::Gift).count());
    assert_eq!(
        sim.control().clock().now(),
        sim.config().data_end + chrono::TimeDelta::days(1)
    );
}

#[tokio::test]
async fn concurrent_requests_are_counted() {
    let mut config = VirtuousConfig::small();
    config.latency.base = Duration::from_millis(150);
    let sim = VirtuousSimulator::start(config).await.unwrap();
    let http = client();
    let requests = (0..8).map(|i| {
        http.post(format!(
            "{}/api/Gift/Query?skip={}&take=10",
            sim.base_url(),
            i * 10
        ))
        .bearer_auth(sim.api_key())
        .json(&json!({}))
        .send()
    });
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.unwrap().status(), 200);
    }
    assert_eq!(sim.control().log().max_concurrency(), 8);
    let skips = sim.control().log().query_sequence("/Gift/", "skip");
    assert_eq!(skips.len(), 8);
}
