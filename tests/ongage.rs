//! The OnGage connector end to end: the debug runner (the real gRPC server and the SQLite warehouse)
//! syncing from the OnGage simulator, compared with the simulator's truth.
//!
//! The account: Newsletter (60 contacts, below the big-list threshold of 100 used here: one search),
//! Promotions (500 contacts over six years with a four-month quiet stretch: 3-month windows, some empty)
//! and Bursts (20 contacts, eight quiet months, then ten contacts a day: 3-month windows there hold more
//! than the simulator completes, so they shrink to 2 weeks). Searches poll every 5 ms and count as not
//! completing after 300 ms; the rate budget is raised (the simulator has none here). The simulator's clock
//! is frozen, so no assertion depends on timing.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use fivetran_source::connectors::ongage::simulator::{
    ContactChangeKind, ListSpec, OngageConfig, OngageSimulator, QuietStretch, SearchStatus,
    SearchSummary,
};
use fivetran_source::connectors::ongage::Ongage;
use fivetran_source::debug::host::{self, HostOptions};
use fivetran_source::debug::runner::{run_debug, DebugError, DebugOptions, DebugOutcome};
use fivetran_source::simulator::{Fault, FaultRule};
use serde_json::Value;

const NEWSLETTER: u64 = 120_001;
const PROMOTIONS: u64 = 120_002;
const BURSTS: u64 = 120_003;
const LISTS: [u64; 3] = [NEWSLETTER, PROMOTIONS, BURSTS];

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The test account; searches matching more than `never_complete_above` contacts never complete.
fn account(never_complete_above: u64) -> OngageConfig {
    let mut config = OngageConfig::small();
    config.lists.push(ListSpec {
        id: BURSTS,
        name: "Bursts".into(),
        contacts: 1_240,
        first_contact: at("2024-01-01T00:00:00Z"),
        quiet: Some(QuietStretch {
            start: at("2024-01-03T00:00:00Z"),
            end: at("2024-09-01T00:00:00Z"),
        }),
    });
    config.search.never_complete_above = Some(never_complete_above);
    config
}

fn configuration(sim: &OngageSimulator) -> HashMap<String, String> {
    let c = sim.config();
    [
        ("username", c.username.as_str()),
        ("password", c.password.as_str()),
        ("account_code", c.account_code.as_str()),
        ("base_url", &sim.base_url()),
        ("advanced", "true"),
        ("big_list_threshold", "100"),
        ("search_timeout_seconds", "0.3"),
        ("search_poll_seconds", "0.005"),
        ("calls_per_minute", "600000"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

async fn sync(sim: &OngageSimulator, files: &Path) -> DebugOutcome {
    run_debug(DebugOptions::new("ongage", configuration(sim), files))
        .await
        .unwrap()
}

fn state(files: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(files.join("state.json")).unwrap()).unwrap()
}

/// A contact as compared: email, status and the five dates (ISO text, as the warehouse stores them).
type Contact = Vec<Option<String>>;
const COMPARED: [&str; 7] = [
    "email",
    "ocx_status",
    "ocx_created_date",
    "ocx_unsubscribe_date",
    "ocx_resubscribe_date",
    "ocx_bounce_date",
    "ocx_complaint_date",
];

fn warehouse_contacts(files: &Path) -> BTreeMap<(String, String), Contact> {
    let db = rusqlite::Connection::open(files.join("warehouse.db")).unwrap();
    let sql = format!(
        r#"select list_id, id, {} from "tester.contacts" where _fivetran_deleted = 0"#,
        COMPARED.join(", ")
    );
    let mut stmt = db.prepare(&sql).unwrap();
    let rows = stmt
        .query_map([], |r| {
            let key = (r.get::<_, String>(0)?, r.get::<_, String>(1)?);
            let values = (0..COMPARED.len())
                .map(|i| r.get::<_, Option<String>>(i + 2))
                .collect::<Result<Contact, _>>()?;
            Ok((key, values))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn truth(sim: &OngageSimulator, lists: &[u64]) -> BTreeMap<(String, String), Contact> {
    let iso = |v: &Value| {
        v.as_i64().map(|s| {
            DateTime::from_timestamp(s, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
    };
    lists
        .iter()
        .flat_map(|list| sim.truth(*list))
        .map(|c| {
            let values = COMPARED
                .iter()
                .map(|f| match &c.json[*f] {
                    Value::String(s) => Some(s.clone()),
                    other => iso(other),
                })
                .collect();
            ((c.list_id.to_string(), c.id.clone()), values)
        })
        .collect()
}

fn assert_matches_truth(sim: &OngageSimulator, files: &Path, lists: &[u64]) {
    let (got, want) = (warehouse_contacts(files), truth(sim, lists));
    let missing = want.keys().filter(|k| !got.contains_key(*k)).count();
    let extra = got.keys().filter(|k| !want.contains_key(*k)).count();
    let differ = want
        .iter()
        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
        .count();
    assert_eq!(
        (missing, extra, differ),
        (0, 0, 0),
        "{} contacts in the warehouse, {} in the source",
        got.len(),
        want.len()
    );
}

/// Every search with its `ocx_created_date` bounds (Unix seconds), in creation order. The connector
/// creates one search at a time, so the logged bodies and the searches line up.
fn searches(sim: &OngageSimulator) -> Vec<(SearchSummary, Option<i64>, Option<i64>)> {
    let bodies: Vec<Value> = sim
        .control()
        .log()
        .entries()
        .into_iter()
        .filter(|r| {
            r.method == "POST" && r.path.ends_with("/contact_search") && r.status == Some(200)
        })
        .map(|r| r.body.unwrap())
        .collect();
    let all = sim.searches();
    assert_eq!(bodies.len(), all.len());
    all.into_iter()
        .zip(bodies)
        .map(|(search, body)| {
            let bound = |op: &str| {
                body["filters"]["criteria"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["field_name"] == "ocx_created_date" && c["operator"] == op)
                    .map(|c| c["operand"][0].as_i64().unwrap())
            };
            (search, bound(">="), bound("<"))
        })
        .collect()
}

#[tokio::test]
async fn every_contact_of_every_list_then_status_changes_on_the_next_sync() {
    let sim = OngageSimulator::start(account(150)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");

    let first = sync(&sim, &files).await;
    assert!(first.succeeded(), "{:?}", first.failure);
    assert_matches_truth(&sim, &files, &LISTS);
    assert_eq!(first.records_by_table["lists"], 3);
    assert_eq!(first.records_by_table["list_fields"], 33);

    let runs = searches(&sim);
    let of = |list: u64| runs.iter().filter(move |(s, ..)| s.list_id == list);
    // Newsletter: one search over everything.
    assert_eq!(of(NEWSLETTER).count(), 1);
    // Promotions: empty windows inside the quiet stretch did not end the backfill (the truth check
    // above sees the contacts after it).
    let (quiet_start, quiet_end) = (at("2023-02-01T00:00:00Z"), at("2023-06-15T00:00:00Z"));
    assert!(of(PROMOTIONS).any(|(s, from, to)| s.matches == 0
        && from.is_some_and(|f| f >= quiet_start.timestamp())
        && to.is_some_and(|t| t <= quiet_end.timestamp())));
    // Bursts: windows that never completed, and 2-week windows that did.
    let two_weeks = TimeDelta::days(14).num_seconds();
    assert!(of(BURSTS).any(|(s, ..)| s.status == SearchStatus::Pending));
    assert!(
        of(BURSTS).any(|(s, from, to)| s.status == SearchStatus::Completed
            && s.matches > 100
            && to.zip(*from).is_some_and(|(t, f)| t - f == two_weeks))
    );
    let done = state(&files);
    for list in LISTS {
        assert_eq!(
            done["lists"][list.to_string()]["synced_through"],
            "2025-01-01T00:00:00Z",
            "{done}"
        );
    }

    // Between syncs: unsubscribes, bounces, complaints and resubscribes of existing contacts.
    let changes = sim.advance(1).changes;
    assert!(changes.iter().any(|c| matches!(
        c.kind,
        ContactChangeKind::Unsubscribed | ContactChangeKind::Bounced
    )));
    let before = warehouse_contacts(&files);
    let second = sync(&sim, &files).await;
    assert!(second.succeeded(), "{:?}", second.failure);
    assert_matches_truth(&sim, &files, &LISTS);
    let changed = changes
        .iter()
        .filter(|c| c.kind != ContactChangeKind::Added)
        .filter(|c| {
            let key = (c.list_id.to_string(), c.id.clone());
            before.get(&key) != warehouse_contacts(&files).get(&key)
        })
        .count();
    assert!(changed > 0, "no existing contact changed in the warehouse");
}

/// Runs one sync through the host seam into the warehouse at `files`, the host going away (a kill, as
/// far as the connector can tell) right after `checkpoints` checkpoints.
async fn sync_and_kill(sim: &OngageSimulator, files: &Path, checkpoints: u64) {
    let mut options = HostOptions::new(configuration(sim), files);
    options.stop_after_checkpoints = Some(checkpoints);
    let outcome = host::sync(std::sync::Arc::new(Ongage::new()), options)
        .await
        .unwrap();
    assert!(outcome.stopped_early, "the sync ended before the kill");
    assert_eq!(outcome.checkpoints, checkpoints);
}

#[tokio::test]
async fn a_sync_killed_mid_backfill_resumes_at_its_last_completed_window() {
    let sim = OngageSimulator::start(account(150)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");

    // Newsletter: its window and the list (2 checkpoints); then Promotions' windows. The host goes away
    // right after the 10th checkpoint.
    sync_and_kill(&sim, &files, 10).await;
    let killed = state(&files);
    let walk = &killed["lists"][PROMOTIONS.to_string()];
    assert!(walk["synced_through"].is_null(), "{killed}");
    let resume_at = at(walk["walk"]["resume_at"].as_str().unwrap()).timestamp();
    let searches_before = sim.searches().len();

    let resumed = sync(&sim, &files).await;
    assert!(resumed.succeeded(), "{:?}", resumed.failure);
    assert_matches_truth(&sim, &files, &LISTS);
    // The resumed backfill of Promotions starts where the killed one had completed, not earlier.
    let again: Vec<_> = searches(&sim)
        .into_iter()
        .skip(searches_before)
        .filter(|(s, ..)| s.list_id == PROMOTIONS)
        .collect();
    assert_eq!(
        again.first().map(|(_, from, _)| *from),
        Some(Some(resume_at))
    );
    assert!(again
        .iter()
        .all(|(_, from, _)| from.is_some_and(|f| f >= resume_at)));
    // Every window was searched to completion exactly once across both syncs.
    let completed: Vec<_> = searches(&sim)
        .into_iter()
        .filter(|(s, ..)| s.list_id == PROMOTIONS && s.status == SearchStatus::Completed)
        .map(|(_, from, to)| (from, to))
        .collect();
    let mut distinct = completed.clone();
    distinct.dedup();
    assert_eq!(completed.len(), distinct.len(), "{completed:?}");
}

#[tokio::test]
async fn a_two_week_window_that_never_completes_fails_the_sync_at_the_last_completed_window() {
    // Ten contacts a day: two weeks hold about 140 contacts, more than 90 ever complete.
    let sim = OngageSimulator::start(account(90)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");

    let failed = sync(&sim, &files).await;
    let message = failed.failure.expect("the sync fails");
    let saved = state(&files);
    let bursts = &saved["lists"][BURSTS.to_string()];
    let resume_at = bursts["walk"]["resume_at"]
        .as_str()
        .expect("windows completed before");
    let window_end = (at(resume_at) + TimeDelta::days(14)).to_rfc3339();
    for part in [
        "list 120003 (Bursts)",
        "3 attempts",
        &at(resume_at).to_rfc3339(),
        &window_end,
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    // The window was tried three times at two weeks, never completing, and nothing after it.
    let tries: Vec<_> = searches(&sim)
        .into_iter()
        .filter(|(s, ..)| s.list_id == BURSTS)
        .rev()
        .take(3)
        .collect();
    assert!(tries
        .iter()
        .all(|(s, from, to)| s.status == SearchStatus::Pending
            && *from == Some(at(resume_at).timestamp())
            && *to == Some(at(&window_end).timestamp())));
    // The lists before it completed.
    for list in [NEWSLETTER, PROMOTIONS] {
        assert!(saved["lists"][list.to_string()]["synced_through"].is_string());
    }
}

#[tokio::test]
async fn bad_credentials_fail_the_setup_test_saying_what_to_check() {
    let sim = OngageSimulator::start(OngageConfig::small()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = configuration(&sim);
    config.insert("password".into(), "wrong".into());
    let err = run_debug(DebugOptions::new(
        "ongage",
        config,
        dir.path().join("files"),
    ))
    .await
    .unwrap_err();
    match err {
        DebugError::SetupTest { message, .. } => assert!(
            message.contains("check the username, password and account code"),
            "{message}"
        ),
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn the_documented_429_is_retried_and_every_request_carries_the_underscore_headers() {
    let sim = OngageSimulator::start(OngageConfig::small()).await.unwrap();
    sim.control().faults().add(
        FaultRule::on_path(
            "/contact_search",
            Fault::TooManyRequests {
                retry_after_seconds: 0,
            },
        )
        .times(1),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = configuration(&sim);
    config.insert("list_filter".into(), "newsletter".into());
    let files = dir.path().join("files");
    let outcome = run_debug(DebugOptions::new("ongage", config, &files))
        .await
        .unwrap();
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    let log = sim.control().log().entries();
    assert!(log.iter().any(|r| r.status == Some(429)));
    assert!(log.iter().all(|r| r.header("x_account_code").is_some()));
    assert_matches_truth(&sim, &files, &[NEWSLETTER]);
}

#[tokio::test]
async fn a_failed_search_is_tried_again_over_a_smaller_window_not_skipped() {
    let mut account = OngageConfig::small();
    account.search.fail_searches = vec![1];
    let sim = OngageSimulator::start(account).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = configuration(&sim);
    config.insert("list_filter".into(), NEWSLETTER.to_string());
    let files = dir.path().join("files");
    let outcome = run_debug(DebugOptions::new("ongage", config, &files))
        .await
        .unwrap();
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    let runs = searches(&sim);
    assert_eq!(runs[0].0.status, SearchStatus::Failed);
    // The whole-list search failed; its halves completed.
    assert!(runs[1..]
        .iter()
        .all(|(s, ..)| s.status == SearchStatus::Completed));
    assert_eq!(runs[1].2, runs[2].1, "the halves meet");
    assert_matches_truth(&sim, &files, &[NEWSLETTER]);
}
