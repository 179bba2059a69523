//! The SA360 connector end to end: the debug runner (the real gRPC server and the SQLite warehouse)
//! syncing from the SA360 simulator, compared with the simulator's truth by primary key for every
//! table, before and after the source restates its metrics; token expiry, windows too large, a
//! sync stopped by an injected fault, refused credentials and accounts, selection and the bundled
//! `debug` run on the way.
//!
//! The simulator runs `Sa360Config::small()`: a manager with a sub-manager and four client accounts
//! under them (one canceled) plus a stand-alone advertiser, 60 days of metrics (the last 3 restated
//! on every `advance`), a frozen clock. Tests that inject faults use a connector with millisecond
//! retries through the same server and warehouse.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use serde_json::Value as Json;

use fivetran_source::connectors::sa360::simulator::{
    CustomerStatus, Resource, Sa360Config, Sa360Simulator,
};
use fivetran_source::connectors::sa360::Sa360;
use fivetran_source::debug::host::{self, HostOptions};
use fivetran_source::debug::runner::{run_debug, DebugError, DebugOptions, DebugOutcome};
use fivetran_source::http::{RetryPolicy, Tuning};
use fivetran_source::proto;
use fivetran_source::sdk::selection::only_tables;
use fivetran_source::simulator::{Fault, FaultRule, LoggedRequest};

const MCC: u64 = 9_100_000_001;
const US: u64 = 4_100_000_001;
const UK: u64 = 4_100_000_002;
const DE: u64 = 4_100_000_003;
const LEGACY: u64 = 4_100_000_004;
const SOLO: u64 = 5_200_000_001;
/// The enabled client accounts, in the order the connector finds them.
const CLIENTS: [u64; 4] = [US, UK, DE, SOLO];
/// `Sa360Config::small().data_start`.
const START: &str = "2024-11-16";

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn configuration(sim: &Sa360Simulator, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let c = &sim.config().credentials;
    let mut map: HashMap<String, String> = [
        ("client_id", c.client_id.clone()),
        ("client_secret", c.client_secret.clone()),
        ("refresh_token", c.refresh_token.clone()),
        ("base_url", sim.base_url()),
        ("token_url", sim.token_url()),
        ("start_date", START.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    map
}

async fn sync(sim: &Sa360Simulator, files: &Path) -> DebugOutcome {
    run_debug(DebugOptions::new("sa360", configuration(sim, &[]), files))
        .await
        .unwrap()
}

fn state(files: &Path) -> Json {
    serde_json::from_str(&std::fs::read_to_string(files.join("state.json")).unwrap()).unwrap()
}

/// Millisecond retries, so injected faults cost little time.
fn fast() -> Tuning {
    Tuning {
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            max_rate_limit_wait: Duration::from_millis(20),
        },
        ..Tuning::fast()
    }
}

/// One sync through the real server into the warehouse in `files` with a fast-retrying connector
/// and an optional selection; returns the failure, if any.
async fn sync_fast(
    files: &Path,
    config: &HashMap<String, String>,
    selection: Option<proto::Selection>,
) -> Option<String> {
    let mut options = HostOptions::new(config.clone(), files);
    options.setup_tests = false;
    options.selection = selection;
    host::sync(Arc::new(Sa360::with_tuning(fast())), options)
        .await
        .unwrap()
        .failure
}

/// Rows of a table by primary key, projected onto the compared columns, as text.
type Rows = BTreeMap<Vec<String>, Vec<String>>;

/// Compared columns, with the paths of their values in the resource's JSON.
type Columns = &'static [(&'static str, &'static str)];

/// Dimension tables: the resource, and the columns compared.
const DIMENSIONS: &[(&str, Resource, Columns)] = &[
    (
        "customers",
        Resource::Customer,
        &[
            ("descriptive_name", "descriptiveName"),
            ("time_zone", "timeZone"),
            ("currency_code", "currencyCode"),
            ("status", "status"),
            ("manager_id", "managerId"),
            ("creation_time", "creationTime"),
        ],
    ),
    (
        "campaigns",
        Resource::Campaign,
        &[
            ("id", "id"),
            ("name", "name"),
            ("status", "status"),
            ("start_date", "startDate"),
            ("labels", "labels"),
            ("bidding_strategy", "biddingStrategy"),
            (
                "network_settings_target_google_search",
                "networkSettings.targetGoogleSearch",
            ),
            ("creation_time", "creationTime"),
        ],
    ),
    (
        "ad_groups",
        Resource::AdGroup,
        &[
            ("name", "name"),
            ("status", "status"),
            ("cpc_bid_micros", "cpcBidMicros"),
        ],
    ),
    (
        "ads",
        Resource::AdGroupAd,
        &[
            ("status", "status"),
            ("ad_id", "ad.id"),
            ("ad_final_urls", "ad.finalUrls"),
        ],
    ),
    (
        "keywords",
        Resource::AdGroupCriterion,
        &[
            ("status", "status"),
            ("keyword_text", "keyword.text"),
            ("keyword_match_type", "keyword.matchType"),
            ("quality_score", "qualityInfo.qualityScore"),
            ("cpc_bid_micros", "cpcBidMicros"),
        ],
    ),
    (
        "conversion_actions",
        Resource::ConversionAction,
        &[
            ("name", "name"),
            ("status", "status"),
            ("value_settings_default_value", "valueSettings.defaultValue"),
        ],
    ),
    (
        "bidding_strategies",
        Resource::BiddingStrategy,
        &[
            ("name", "name"),
            ("status", "status"),
            ("campaign_count", "campaignCount"),
        ],
    ),
    (
        "labels",
        Resource::Label,
        &[
            ("name", "name"),
            ("status", "status"),
            ("text_label_background_color", "textLabel.backgroundColor"),
        ],
    ),
];

const CUSTOMER_CLIENTS: &[(&str, &str)] = &[
    ("id", "id"),
    ("level", "level"),
    ("manager", "manager"),
    ("status", "status"),
    ("time_zone", "timeZone"),
];

const CUSTOM_COLUMNS: &[(&str, &str)] = &[
    ("id", "id"),
    ("name", "name"),
    ("value_type", "valueType"),
    ("referenced_system_columns", "referencedSystemColumns"),
];

const REPORTS: &[(&str, Resource)] = &[
    ("customer_stats", Resource::Customer),
    ("campaign_stats", Resource::Campaign),
    ("ad_group_stats", Resource::AdGroup),
    ("keyword_stats", Resource::KeywordView),
    ("ad_stats", Resource::AdGroupAd),
];

const METRICS: [&str; 7] = [
    "impressions",
    "clicks",
    "cost_micros",
    "conversions",
    "all_conversions",
    "conversions_value",
    "all_conversions_value",
];

/// A JSON value as the warehouse text of its column: int64 strings and numbers alike, booleans as
/// 0/1, `YYYY-MM-DD HH:MM:SS` local times with a `T`, arrays as compact JSON.
fn show(value: Option<&Json>) -> String {
    match value {
        None | Some(Json::Null) => "null".into(),
        Some(Json::Bool(b)) => u8::from(*b).to_string(),
        Some(Json::Number(n)) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => format!("{}", n.as_f64().unwrap()),
        },
        Some(Json::String(s)) => {
            let b = s.as_bytes();
            if s.len() >= 19 && b[4] == b'-' && b[10] == b' ' && b[13] == b':' {
                s.replacen(' ', "T", 1)
            } else {
                s.clone()
            }
        }
        Some(other) => other.to_string(),
    }
}

fn at<'a>(json: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('.').try_fold(json, |v, key| v.get(key))
}

/// Every live row of `table` in the warehouse: keys, then `columns`.
fn warehouse_rows(files: &Path, table: &str, keys: &[&str], columns: &[&str]) -> Rows {
    let db = rusqlite::Connection::open(files.join("warehouse.db")).unwrap();
    let all: Vec<&str> = keys.iter().chain(columns).copied().collect();
    let sql = format!(
        r#"select {} from "tester.{table}" where _fivetran_deleted = 0"#,
        all.join(", ")
    );
    let Ok(mut stmt) = db.prepare(&sql) else {
        return Rows::new(); // the table was never created: nothing synced into it
    };
    let rows = stmt
        .query_map([], |r| {
            let text = |i: usize| -> rusqlite::Result<String> {
                Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                    rusqlite::types::Value::Null => "null".into(),
                    rusqlite::types::Value::Integer(n) => n.to_string(),
                    rusqlite::types::Value::Real(x) => format!("{x}"),
                    rusqlite::types::Value::Text(s) => s,
                    rusqlite::types::Value::Blob(b) => format!("{b:?}"),
                })
            };
            let key = (0..keys.len()).map(text).collect::<Result<Vec<_>, _>>()?;
            let values = (keys.len()..all.len())
                .map(text)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((key, values))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// The roots the connector starts from without a login customer id.
fn roots(sim: &Sa360Simulator) -> Vec<u64> {
    sim.config().accessible_customers.clone()
}

/// The truth of every table, for reports from `START` to the data's today.
fn truth(sim: &Sa360Simulator) -> BTreeMap<&'static str, Rows> {
    let data = sim.data();
    let enabled: Vec<u64> = data
        .accounts()
        .into_iter()
        .filter(|a| !a.manager && a.status == CustomerStatus::Enabled)
        .map(|a| a.customer_id)
        .collect();
    assert_eq!(enabled.len(), CLIENTS.len());
    let project = |json: &Json, columns: &[(&str, &str)]| -> Vec<String> {
        columns
            .iter()
            .map(|(_, path)| show(at(json, path)))
            .collect()
    };
    let mut all = BTreeMap::new();
    for (table, resource, columns) in DIMENSIONS {
        let rows: Rows = enabled
            .iter()
            .flat_map(|c| {
                data.dimension(*c, *resource)
                    .into_iter()
                    .map(move |e| (vec![c.to_string(), e.resource_name.clone()], e))
            })
            .map(|(key, e)| (key, project(&e.json, columns)))
            .collect();
        assert!(!rows.is_empty(), "{table}");
        all.insert(*table, rows);
    }
    let hierarchy: Rows = roots(sim)
        .into_iter()
        .flat_map(|root| {
            data.dimension(root, Resource::CustomerClient)
                .into_iter()
                .map(move |e| (vec![root.to_string(), e.resource_name.clone()], e))
        })
        .map(|(key, e)| (key, project(&e.json, CUSTOMER_CLIENTS)))
        .collect();
    all.insert("customer_clients", hierarchy);
    let custom: Rows = enabled
        .iter()
        .flat_map(|c| {
            data.custom_columns(*c)
                .into_iter()
                .map(move |e| (vec![c.to_string(), e.resource_name.clone()], e))
        })
        .map(|(key, e)| (key, project(&e.json, CUSTOM_COLUMNS)))
        .collect();
    all.insert("custom_columns", custom);
    for (table, resource) in REPORTS {
        let mut rows = Rows::new();
        for c in &enabled {
            for r in data.report(*c, *resource, date(START), data.today()) {
                let m = r.metrics;
                rows.insert(
                    vec![c.to_string(), r.resource_name, r.date.to_string()],
                    vec![
                        m.impressions.to_string(),
                        m.clicks.to_string(),
                        m.cost_micros.to_string(),
                        format!("{}", m.conversions),
                        format!("{}", m.all_conversions),
                        format!("{}", m.conversions_value),
                        format!("{}", m.all_conversions_value),
                    ],
                );
            }
        }
        assert!(!rows.is_empty(), "{table}");
        all.insert(*table, rows);
    }
    all
}

/// The warehouse, projected like [`truth`].
fn warehouse(files: &Path) -> BTreeMap<&'static str, Rows> {
    fn names(columns: &[(&'static str, &'static str)]) -> Vec<&'static str> {
        columns.iter().map(|(c, _)| *c).collect()
    }
    let dimension_keys = ["customer_id", "resource_name"];
    let mut all = BTreeMap::new();
    for (table, _, columns) in DIMENSIONS {
        all.insert(
            *table,
            warehouse_rows(files, table, &dimension_keys, &names(columns)),
        );
    }
    all.insert(
        "customer_clients",
        warehouse_rows(
            files,
            "customer_clients",
            &dimension_keys,
            &names(CUSTOMER_CLIENTS),
        ),
    );
    all.insert(
        "custom_columns",
        warehouse_rows(
            files,
            "custom_columns",
            &dimension_keys,
            &names(CUSTOM_COLUMNS),
        ),
    );
    for (table, _) in REPORTS {
        all.insert(
            *table,
            warehouse_rows(
                files,
                table,
                &["customer_id", "resource_name", "date"],
                &METRICS,
            ),
        );
    }
    all
}

/// Every table of the warehouse equals the truth by primary key, value for value.
fn assert_matches_truth(sim: &Sa360Simulator, files: &Path) {
    let (want, got) = (truth(sim), warehouse(files));
    for (table, expected) in &want {
        let actual = &got[table];
        let missing: Vec<_> = expected
            .keys()
            .filter(|k| !actual.contains_key(*k))
            .collect();
        let extra: Vec<_> = actual
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .collect();
        let differ: Vec<_> = expected
            .iter()
            .filter_map(|(k, v)| {
                let a = actual.get(k)?;
                (a != v).then(|| format!("{k:?}: warehouse {a:?}, source {v:?}"))
            })
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty() && differ.is_empty(),
            "{table}: {} rows in the warehouse, {} in the source; missing {:?}; extra {:?}; differing {:?}",
            actual.len(),
            expected.len(),
            missing.iter().take(3).collect::<Vec<_>>(),
            extra.iter().take(3).collect::<Vec<_>>(),
            differ.iter().take(3).collect::<Vec<_>>()
        );
    }
}

/// The query text of a logged `search`/`searchStream` call.
fn query_of(r: &LoggedRequest) -> Option<String> {
    r.body.as_ref()?["query"].as_str().map(str::to_owned)
}

/// The calls that asked for report rows (`segments.date BETWEEN`).
fn report_calls(sim: &Sa360Simulator) -> Vec<LoggedRequest> {
    sim.control()
        .log()
        .entries()
        .into_iter()
        .filter(|r| query_of(r).is_some_and(|q| q.contains("BETWEEN")))
        .collect()
}

/// The `(first, last)` dates of a report query.
fn between(query: &str) -> (NaiveDate, NaiveDate) {
    let rest = query.split("BETWEEN '").nth(1).unwrap();
    let first = &rest[..10];
    let last = rest.split("AND '").nth(1).unwrap();
    (date(first), date(&last[..10]))
}

/// The report windows read successfully for `customer` from `resource`, in order.
fn windows(calls: &[LoggedRequest], customer: u64, resource: &str) -> Vec<(NaiveDate, NaiveDate)> {
    let from = format!("FROM {resource} WHERE");
    calls
        .iter()
        .filter(|r| r.path.contains(&format!("/customers/{customer}/")) && r.status == Some(200))
        .filter_map(|r| query_of(r).filter(|q| q.contains(&from)))
        .map(|q| between(&q))
        .collect()
}

#[tokio::test]
async fn a_full_sync_equals_the_truth_and_after_a_restatement_every_date_still_does() {
    let sim = Sa360Simulator::start(Sa360Config::small()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");

    let first = sync(&sim, &files).await;
    assert!(first.succeeded(), "{:?}", first.failure);
    assert_matches_truth(&sim, &files);
    assert_eq!(
        first.records_by_table["customers"], 4,
        "the canceled client and the managers are not synced as customers"
    );
    let today = sim.data().today();
    let done = state(&files);
    for client in CLIENTS {
        for (table, _) in REPORTS {
            assert_eq!(
                done["customers"][client.to_string()]["reports"][table]["complete_until"],
                (today + chrono::TimeDelta::days(1)).to_string(),
                "{done}"
            );
        }
    }
    // Calls for an account under a manager name the manager; nothing touches the canceled client.
    let log = sim.control().log().entries();
    let uk: Vec<_> = log
        .iter()
        .filter(|r| r.path.contains(&format!("/customers/{UK}/")))
        .collect();
    assert!(!uk.is_empty());
    assert!(uk
        .iter()
        .all(|r| r.header("login-customer-id") == Some(&MCC.to_string())));
    assert!(!log
        .iter()
        .any(|r| r.path.contains(&format!("/customers/{LEGACY}/"))));
    // The first sync walked each report from the start date in two windows.
    let calls = report_calls(&sim);
    let first_walk = windows(&calls, DE, "keyword_view");
    assert_eq!(first_walk.first().unwrap().0, date(START));
    assert_eq!(first_walk.last().unwrap().1, today);
    sim.control().log().clear();

    // A day later: the last three days are restated, entities added, paused and removed.
    let summary = sim.advance(1);
    assert!(!summary.changes.is_empty());
    let second = sync(&sim, &files).await;
    assert!(second.succeeded(), "{:?}", second.failure);
    assert_matches_truth(&sim, &files);
    // The second walk re-read the 30-day restatement window before the last end, then the new day.
    let calls = report_calls(&sim);
    let again = windows(&calls, DE, "keyword_view");
    let last_end = today + chrono::TimeDelta::days(1);
    assert_eq!(
        again.first().unwrap().0,
        last_end - chrono::TimeDelta::days(30)
    );
    assert_eq!(again.last().unwrap().1, sim.data().today());
}

#[tokio::test]
async fn the_token_expires_mid_sync_and_the_sync_continues_with_one_refresh() {
    let sim = Sa360Simulator::start(Sa360Config::small()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let sync = sync(&sim, &files);
    let expire = async {
        while sim.streams() < 12 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        sim.expire_access_tokens();
    };
    let (outcome, ()) = tokio::join!(sync, expire);
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    assert_matches_truth(&sim, &files);
    let log = sim.control().log().entries();
    let refused: Vec<_> = log.iter().filter(|r| r.status == Some(401)).collect();
    assert_eq!(refused.len(), 1, "one call met the expired token");
    let refreshes_after = log
        .iter()
        .filter(|r| r.number > refused[0].number && r.path.ends_with("/token"))
        .count();
    assert_eq!(refreshes_after, 1, "one refresh, then the sync went on");
}

#[tokio::test]
async fn a_window_too_large_is_split_and_every_day_lands_once() {
    let mut config = Sa360Config::small();
    // A month of keyword rows is over the row limit; a few days are not.
    config.limits.max_result_rows = Some(150);
    let sim = Sa360Simulator::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let outcome = sync(&sim, &files).await;
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    assert_matches_truth(&sim, &files);
    let calls = report_calls(&sim);
    assert!(calls
        .iter()
        .any(|r| r.status == Some(429)
            && query_of(r).is_some_and(|q| q.contains("FROM keyword_view"))));
    let today = sim.data().today();
    for client in CLIENTS {
        for resource in ["keyword_view", "ad_group_ad", "campaign"] {
            let read = windows(&calls, client, resource);
            assert_eq!(read.first().unwrap().0, date(START), "{client} {resource}");
            for pair in read.windows(2) {
                assert_eq!(
                    pair[0].1 + chrono::TimeDelta::days(1),
                    pair[1].0,
                    "{client} {resource}: {read:?}"
                );
            }
            assert!(read.last().unwrap().1 >= today);
            if resource == "keyword_view" {
                assert!(read.len() > 2, "{client} {resource} was split: {read:?}");
            }
        }
    }
}

#[tokio::test]
async fn a_sync_stopped_by_a_fault_resumes_at_its_last_window_losing_and_duplicating_nothing() {
    let sim = Sa360Simulator::start(Sa360Config::small()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let config = configuration(&sim, &[]);
    // UK's queries: 8 dimensions, its today, 2 customer_stats windows, then the first campaign_stats
    // window; everything after that fails.
    sim.control().faults().add(
        FaultRule::on_path(
            format!("/customers/{UK}/searchAds360"),
            Fault::ServerError { status: 503 },
        )
        .skipping(12),
    );
    let failure = sync_fast(&files, &config, None)
        .await
        .expect("the sync fails");
    assert!(failure.contains(&UK.to_string()), "{failure}");
    assert!(failure.contains("1 of 4 accounts failed"), "{failure}");
    let stopped = state(&files);
    let uk = &stopped["customers"][UK.to_string()]["reports"];
    assert!(
        uk["customer_stats"]["complete_until"].is_string(),
        "{stopped}"
    );
    let resume_at = date(uk["campaign_stats"]["resume_at"].as_str().unwrap());
    assert!(uk["keyword_stats"].is_null(), "{stopped}");
    // The accounts after the failing one were synced in the same run.
    for other in [DE, SOLO] {
        assert!(
            stopped["customers"][other.to_string()]["reports"]["ad_stats"]["complete_until"]
                .is_string()
        );
    }

    sim.control().faults().clear();
    sim.control().log().clear();
    assert!(sync_fast(&files, &config, None).await.is_none());
    assert_matches_truth(&sim, &files);
    let calls = report_calls(&sim);
    // UK's campaign report continued at its last completed window, not earlier.
    assert_eq!(
        windows(&calls, UK, "campaign").first().unwrap().0,
        resume_at
    );
    assert_eq!(
        windows(&calls, UK, "keyword_view").first().unwrap().0,
        date(START)
    );
    // Completed reports only re-read their restatement window.
    let end = sim.data().today() + chrono::TimeDelta::days(1);
    assert_eq!(
        windows(&calls, DE, "keyword_view").first().unwrap().0,
        end - chrono::TimeDelta::days(30)
    );
}

#[tokio::test]
async fn quota_errors_wait_their_retry_delay_and_the_sync_goes_on() {
    let sim = Sa360Simulator::start(Sa360Config::small()).await.unwrap();
    sim.control().faults().add(
        FaultRule::on_path(
            ":searchStream",
            Fault::TooManyRequests {
                retry_after_seconds: 1,
            },
        )
        .skipping(5)
        .times(4),
    );
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    assert_eq!(
        sync_fast(&files, &configuration(&sim, &[]), None).await,
        None
    );
    assert_matches_truth(&sim, &files);
    let log = sim.control().log().entries();
    assert_eq!(log.iter().filter(|r| r.status == Some(429)).count(), 4);
}

#[tokio::test]
async fn a_stream_that_breaks_is_read_again_in_search_pages() {
    let mut config = Sa360Config::small();
    // Batches and pages of 40 rows. The 24th stream breaks after its first batch: after the setup
    // tests (6 streams) and the hierarchy (2), the first account's 8 dimensions, its today and 6
    // report windows, that is its first keyword window (hundreds of rows).
    config.limits.max_page_size = 40;
    config.stream_failures = vec![
        fivetran_source::connectors::sa360::simulator::StreamFailure {
            stream: 24,
            after_batches: 1,
        },
    ];
    let sim = Sa360Simulator::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let outcome = sync(&sim, &files).await;
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    assert_matches_truth(&sim, &files);
    let log = sim.control().log().entries();
    let pages: Vec<&LoggedRequest> = log.iter().filter(|r| r.path.ends_with(":search")).collect();
    let broken = query_of(pages[0]).unwrap();
    assert!(broken.contains("FROM keyword_view"), "{broken}");
    assert!(log
        .iter()
        .any(|r| r.path.ends_with(":searchStream") && query_of(r).as_deref() == Some(&broken)));
    assert!(pages.len() >= 2, "the broken query was read in pages");
    assert!(pages
        .iter()
        .all(|r| query_of(r).as_deref() == Some(&broken)));
    assert!(pages[1..]
        .iter()
        .all(|r| r.body.as_ref().unwrap()["pageToken"].is_string()));
}

#[tokio::test]
async fn a_refused_refresh_token_fails_the_setup_test_saying_so() {
    let sim = Sa360Simulator::start(Sa360Config::small()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = configuration(&sim, &[("refresh_token", "1//XYZZY-not-granted")]);
    let err = run_debug(DebugOptions::new("sa360", config, dir.path().join("files")))
        .await
        .unwrap_err();
    match err {
        DebugError::SetupTest { test, message, .. } => {
            assert_eq!(test, "token");
            assert!(
                message.contains("the refresh token was refused: reauthorize"),
                "{message}"
            );
            assert!(!message.contains("XYZZY"), "never the token: {message}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[tokio::test]
async fn a_customer_without_access_fails_its_test_naming_it() {
    let sim = Sa360Simulator::start(Sa360Config::small()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = configuration(
        &sim,
        &[
            ("login_customer_id", "910-000-0001"),
            ("customer_ids", "410-000-0001, 4100000004, 520-000-0001"),
        ],
    );
    let err = run_debug(DebugOptions::new("sa360", config, dir.path().join("files")))
        .await
        .unwrap_err();
    let DebugError::SetupTest { test, message, .. } = err else {
        panic!("unexpected {err}")
    };
    assert_eq!(test, "customers");
    assert!(
        message.contains("customer 4100000004") && message.contains("CUSTOMER_NOT_ENABLED"),
        "the canceled account is named: {message}"
    );
    assert!(
        message.contains("customer 5200000001")
            && message.contains("INVALID_LOGIN_CUSTOMER_ID_SERVING_CUSTOMER_ID_COMBINATION"),
        "the account outside the manager is named: {message}"
    );
    assert!(!message.contains("4100000001 "), "{message}");

    // A manager listed as a customer to sync is refused with what to do instead.
    let config = configuration(&sim, &[("customer_ids", "9100000002")]);
    let err = run_debug(DebugOptions::new("sa360", config, dir.path().join("files")))
        .await
        .unwrap_err();
    let DebugError::SetupTest { message, .. } = err else {
        panic!("unexpected {err}")
    };
    assert!(
        message.contains("9100000002") && message.contains("is a manager account"),
        "{message}"
    );
}

#[tokio::test]
async fn unselected_tables_and_columns_are_never_asked_for() {
    let sim = Sa360Simulator::start(Sa360Config::small()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let config = configuration(&sim, &[]);
    let chosen = only_tables(&[("campaigns", &[]), ("campaign_stats", &["cost_micros"])]);
    assert_eq!(sync_fast(&files, &config, Some(chosen)).await, None);
    let queries: Vec<String> = sim
        .control()
        .log()
        .entries()
        .iter()
        .filter_map(query_of)
        .collect();
    assert!(!queries.is_empty());
    for query in &queries {
        let from = query.split(" FROM ").nth(1).unwrap();
        let resource = from.split_whitespace().next().unwrap();
        assert!(
            ["customer_client", "campaign", "customer"].contains(&resource),
            "{query}"
        );
        if resource == "customer" {
            assert!(query.contains("DURING TODAY"), "no account report: {query}");
        }
        assert!(!query.contains("metrics.cost_micros"), "{query}");
    }
    assert!(sim.control().log().matching("customColumns").is_empty());
    let stats = warehouse_rows(
        &files,
        "campaign_stats",
        &["customer_id", "resource_name", "date"],
        &["clicks"],
    );
    assert!(!stats.is_empty());
    assert!(warehouse_rows(&files, "keywords", &["resource_name"], &[]).is_empty());
}

#[tokio::test]
async fn debug_against_the_bundled_simulator_lands_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let config: HashMap<String, String> = [
        ("client_id", "my-client.apps.googleusercontent.com"),
        ("client_secret", "my-secret"),
        ("refresh_token", "1//my-refresh-token"),
        ("base_url", "simulator"),
        ("start_date", "2025-01-12"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let mut options = DebugOptions::new("sa360", config, dir.path().join("files"));
    options.limit = Some(1_000);
    let outcome = run_debug(options).await.unwrap();
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    assert!(outcome.simulator.is_some());
    let schema = fivetran_source::connectors::sa360::models::schema(
        &fivetran_source::connectors::sa360::config::Report::ALL,
    );
    for table in &schema.tables {
        assert!(
            outcome
                .records_by_table
                .get(&table.name)
                .is_some_and(|n| *n > 0),
            "{} landed nothing: {:?}",
            table.name,
            outcome.records_by_table
        );
    }
}
