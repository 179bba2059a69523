//! The Virtuous connector end to end: the real gRPC server, the in-process simulator and the local
//! SQLite warehouse. The warehouse is compared with the simulator's truth by primary key for every
//! table, before and after the source changes; faults, a poison record, selection, the setup test and
//! `debug --limit` are exercised on the way. Sizes are small and latencies near zero.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value as Json};

use fivetran_source::connectors::virtuous::simulator::{
    Entity, PoisonRecord, VirtuousConfig, VirtuousData, VirtuousSimulator,
};
use fivetran_source::connectors::virtuous::Virtuous;
use fivetran_source::debug::host::{self, HostOptions};
use fivetran_source::debug::runner::{run_debug, DebugOptions};
use fivetran_source::debug::warehouse::{LocalWarehouse, TableName, WarehouseOptions};
use fivetran_source::http::{RetryPolicy, Tuning};
use fivetran_source::proto;
use fivetran_source::sdk::selection::only_tables;
use fivetran_source::sdk::DynConnector;
use fivetran_source::simulator::{Fault, FaultRule, LoggedRequest};

/// Millisecond retries and a 3 s request deadline, so faults cost little time (a shorter deadline
/// turns a slow page on a loaded machine into a shrink the take-sequence assertions do not expect).
fn fast() -> Tuning {
    Tuning {
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            max_rate_limit_wait: Duration::from_millis(20),
        },
        request_timeout: Duration::from_secs(3),
        ..Tuning::fast()
    }
}

fn configuration(sim: &VirtuousSimulator) -> HashMap<String, String> {
    [
        ("api_key", sim.api_key().to_owned()),
        ("base_url", sim.base_url()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// What one sync left behind.
struct Synced {
    warehouse: LocalWarehouse,
    state: Json,
    warnings: Vec<String>,
    failure: Option<String>,
}

/// One sync through the host seam (the real server) into the warehouse in `files`, with a connector
/// tuned for tests and an optional selection.
async fn sync(
    files: &Path,
    config: &HashMap<String, String>,
    selection: Option<proto::Selection>,
) -> Synced {
    let mut options = HostOptions::new(config.clone(), files);
    options.selection = selection;
    options.setup_tests = false;
    let outcome = host::sync(Arc::new(Virtuous::with_tuning(fast())), options)
        .await
        .unwrap();
    let warehouse = LocalWarehouse::open(files, WarehouseOptions::default()).unwrap();
    let state = std::fs::read_to_string(files.join("state.json")).unwrap_or_else(|_| "{}".into());
    Synced {
        warehouse,
        state: serde_json::from_str(&state).unwrap(),
        warnings: outcome.warnings,
        failure: outcome.failure,
    }
}

/// A table's rows by id, projected onto the columns a test compares, as text.
type Rows = BTreeMap<String, BTreeMap<&'static str, String>>;

/// The columns compared per table.
const COMPARED: &[(&str, &[&str])] = &[
    ("campaigns", &["name"]),
    ("projects", &["name", "project_code"]),
    (
        "contacts",
        &["name", "is_archived", "modified_date_time_utc"],
    ),
    ("contact_individuals", &["contact_id", "first_name"]),
    ("contact_methods", &["contact_individual_id", "value"]),
    ("gifts", &["contact_id", "amount", "modified_date_time_utc"]),
    (
        "gift_designations",
        &["gift_id", "project_id", "amount_designated"],
    ),
];

/// One value as comparison text, the same for the warehouse and the truth: money at cent precision,
/// instants in UTC, flags as words, everything else as its text.
fn show(column: &str, value: &Json) -> String {
    match (column, value) {
        (_, Json::Null) => "null".into(),
        ("amount" | "amount_designated", Json::Number(n)) => format!("{:.2}", n.as_f64().unwrap()),
        ("amount" | "amount_designated", Json::String(s)) => {
            format!("{:.2}", s.parse::<f64>().unwrap())
        }
        (c, Json::String(s)) if c.ends_with("_utc") => instant(s),
        ("is_archived", Json::Number(n)) => (n.as_i64() == Some(1)).to_string(),
        (_, Json::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

/// An instant as UTC text with milliseconds (the warehouse writes `…Z`, the truth `+00:00`).
fn instant(s: &str) -> String {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|_| panic!("not a timestamp: {s}"))
        .with_timezone(&Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Live rows of every compared table in the warehouse.
fn warehouse_rows(warehouse: &LocalWarehouse) -> BTreeMap<&'static str, Rows> {
    COMPARED
        .iter()
        .map(|(table, columns)| {
            let rows = warehouse
                .rows(&TableName::new("tester", *table))
                .unwrap_or_default()
                .into_iter()
                .filter(|row| row["_fivetran_deleted"] == json!(0))
                .map(|row| {
                    let projected = columns.iter().map(|c| (*c, show(c, &row[*c]))).collect();
                    (row["id"].as_str().unwrap().to_owned(), projected)
                })
                .collect();
            (*table, rows)
        })
        .collect()
}

/// The same projection of the simulator's truth (`skip`: ids of gifts the sync cannot read).
fn truth_rows(sim: &VirtuousSimulator, skip: &[u64]) -> BTreeMap<&'static str, Rows> {
    let mut all: BTreeMap<&'static str, Rows> =
        COMPARED.iter().map(|(t, _)| (*t, Rows::new())).collect();
    let mut put = |table: &'static str, id: &Json, values: &[(&'static str, &Json)]| {
        let row = values.iter().map(|(c, v)| (*c, show(c, v))).collect();
        all.get_mut(table).unwrap().insert(text_id(id), row);
    };
    for r in sim.truth(Entity::Campaign) {
        put(
            "campaigns",
            &r.json["campaignId"],
            &[("name", &r.json["name"])],
        );
    }
    for r in sim.truth(Entity::Project) {
        let j = &r.json;
        put(
            "projects",
            &j["id"],
            &[("name", &j["name"]), ("project_code", &j["projectCode"])],
        );
    }
    for r in sim.truth(Entity::Contact) {
        let j = &r.json;
        let modified = json!(r.modified.to_rfc3339());
        let archived = json!(r.archived);
        put(
            "contacts",
            &j["id"],
            &[
                ("name", &j["name"]),
                ("is_archived", &archived),
                ("modified_date_time_utc", &modified),
            ],
        );
        for individual in j["contactIndividuals"].as_array().unwrap() {
            put(
                "contact_individuals",
                &individual["id"],
                &[
                    ("contact_id", &j["id"]),
                    ("first_name", &individual["firstName"]),
                ],
            );
            for method in individual["contactMethods"].as_array().unwrap() {
                put(
                    "contact_methods",
                    &method["id"],
                    &[
                        ("contact_individual_id", &individual["id"]),
                        ("value", &method["value"]),
                    ],
                );
            }
        }
    }
    for r in sim.truth(Entity::Gift).filter(|r| !skip.contains(&r.id)) {
        let j = &r.json;
        let modified = json!(r.modified.to_rfc3339());
        put(
            "gifts",
            &j["id"],
            &[
                ("contact_id", &j["contactId"]),
                ("amount", &j["amount"]),
                ("modified_date_time_utc", &modified),
            ],
        );
        for d in j["giftDesignations"].as_array().unwrap() {
            put(
                "gift_designations",
                &d["id"],
                &[
                    ("gift_id", &j["id"]),
                    ("project_id", &d["projectId"]),
                    ("amount_designated", &d["amountDesignated"]),
                ],
            );
        }
    }
    all
}

fn text_id(id: &Json) -> String {
    match id {
        Json::Number(n) => n.to_string(),
        Json::String(s) => s.clone(),
        _ => "null".into(),
    }
}

/// Asserts table by table that `actual` equals `expected`, naming the first differences.
fn assert_tables_equal(
    actual: &BTreeMap<&'static str, Rows>,
    expected: &BTreeMap<&'static str, Rows>,
    only: &[&str],
) {
    for (table, want) in expected
        .iter()
        .filter(|(t, _)| only.is_empty() || only.contains(t))
    {
        let got = &actual[table];
        let missing: Vec<_> = want
            .keys()
            .filter(|k| !got.contains_key(*k))
            .take(5)
            .collect();
        let extra: Vec<_> = got
            .keys()
            .filter(|k| !want.contains_key(*k))
            .take(5)
            .collect();
        let differ: Vec<_> = want
            .iter()
            .filter_map(|(k, v)| got.get(k).filter(|g| *g != v).map(|g| (k, v, g)))
            .take(3)
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty() && differ.is_empty(),
            "{table}: {} rows expected, {} live; missing {missing:?}, extra {extra:?}, differing (want, got) {differ:?}",
            want.len(),
            got.len()
        );
        assert!(
            !want.is_empty(),
            "{table}: the simulator has no rows to compare"
        );
    }
}

fn small() -> VirtuousConfig {
    let mut config = VirtuousConfig::small();
    config.contacts.initial = 150;
    config.gifts.initial = 400;
    config
}

fn requests(sim: &VirtuousSimulator, path: &str) -> Vec<LoggedRequest> {
    sim.control().log().matching(path)
}

/// The value of the condition on `parameter` in a logged query body.
fn condition(request: &LoggedRequest, parameter: &str) -> Option<String> {
    request.body.as_ref()?["groups"]
        .as_array()?
        .iter()
        .flat_map(|g| g["conditions"].as_array().into_iter().flatten())
        .find(|c| c["parameter"] == parameter)
        .map(|c| c["value"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn first_and_incremental_syncs_match_the_simulator_table_by_table() {
    let sim = VirtuousSimulator::start(small()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = configuration(&sim);

    let first = sync(dir.path(), &config, None).await;
    assert_eq!(first.failure, None);
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    assert_tables_equal(
        &warehouse_rows(&first.warehouse),
        &truth_rows(&sim, &[]),
        &[],
    );
    let archived = sim.truth(Entity::Contact).filter(|c| c.archived).count();
    assert!(archived > 0, "archived contacts are synced with their flag");
    let gifts_since = first.state["gifts"]["modified_since"]
        .as_str()
        .unwrap()
        .to_owned();
    let contacts_since = first.state["contacts"]["modified_since"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(first.state["gifts"]["pass"].is_null(), "{}", first.state);
    drop(first);

    // Edits, archives, gift deletions and new records; then an incremental sync.
    let changes = sim.advance(3);
    assert!(changes.changes.len() > 20);
    sim.control().log().clear();
    let second = sync(dir.path(), &config, None).await;
    assert_eq!(second.failure, None);
    let actual = warehouse_rows(&second.warehouse);
    let expected = truth_rows(&sim, &[]);
    // Gift deletions were detected, so gifts and designations were re-imported: exact, and the deleted
    // gifts are soft-deleted rows.
    assert_tables_equal(
        &actual,
        &expected,
        &[
            "campaigns",
            "projects",
            "contacts",
            "contact_individuals",
            "gifts",
            "gift_designations",
        ],
    );
    let deleted = sim.deleted_ids(Entity::Gift);
    assert!(!deleted.is_empty());
    let gifts = second
        .warehouse
        .rows(&TableName::new("tester", "gifts"))
        .unwrap();
    for id in &deleted {
        let row = gifts.iter().find(|r| r["id"] == json!(id.to_string()));
        assert_eq!(
            row.map(|r| &r["_fivetran_deleted"]),
            Some(&json!(1)),
            "gift {id}"
        );
    }
    // Contacts were synced incrementally (a Last Modified Date bound, by id), not re-imported; contact
    // methods removed from an edited contact stay (the documented limit): every live method is either
    // current or belongs to a contact the advance touched.
    let full_contact = requests(&sim, "/Contact/Query/FullContact");
    assert!(!full_contact.is_empty());
    assert!(
        full_contact
            .iter()
            .all(|r| condition(r, "Last Modified Date").is_some()),
        "contacts were re-imported"
    );
    let touched: Vec<String> = changes
        .changes
        .iter()
        .filter(|c| c.entity == Entity::Contact)
        .map(|c| c.id.to_string())
        .collect();
    let methods = &actual["contact_methods"];
    for (id, want) in &expected["contact_methods"] {
        assert_eq!(methods.get(id), Some(want), "contact method {id}");
    }
    let owner: BTreeMap<&String, &String> = expected["contact_individuals"]
        .iter()
        .map(|(id, r)| (id, &r["contact_id"]))
        .collect();
    for (id, row) in methods
        .iter()
        .filter(|(id, _)| !expected["contact_methods"].contains_key(*id))
    {
        let contact = owner[&row["contact_individual_id"]];
        assert!(
            touched.contains(contact),
            "stale method {id} of an untouched contact {contact}"
        );
    }
    // State advanced to the source's newer watermarks.
    assert!(second.state["gifts"]["modified_since"].as_str().unwrap() > gifts_since.as_str());
    assert!(second.state["contacts"]["modified_since"].as_str().unwrap() > contacts_since.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_gift_lands_in_sync_errors_and_is_retried_next_sync() {
    let mut config = small();
    config.contacts.initial = 20;
    config.gifts.initial = 2000;
    config.gifts.removed_per_generation = 0;
    let poison = VirtuousData::new(&config).id_at(Entity::Gift, 1500);
    config.poison = vec![PoisonRecord {
        entity: Entity::Gift,
        id: poison,
    }];
    let sim = VirtuousSimulator::start(config).await.unwrap();
    // The first batch's pages answer slowly, so all of them are seen in flight together.
    sim.control()
        .faults()
        .add(FaultRule::on_path("/FullGift", Fault::Slow { delay_ms: 300 }).times(8));
    let dir = tempfile::tempdir().unwrap();
    let settings = configuration(&sim);

    let first = sync(dir.path(), &settings, None).await;
    assert_eq!(first.failure, None);
    let expected = truth_rows(&sim, &[poison]);
    assert_tables_equal(&warehouse_rows(&first.warehouse), &expected, &[]);
    let errors = first
        .warehouse
        .rows(&TableName::new("tester", "sync_errors"))
        .unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = &errors[0];
    let (after, before) = (
        error["after_id"].as_str().unwrap().to_owned(),
        error["before_id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(error["entity"], "gifts");
    assert!(
        after.parse::<u64>().unwrap() < poison && poison < before.parse::<u64>().unwrap(),
        "{error:?}"
    );
    assert!(
        error["error"].as_str().unwrap().contains("500"),
        "{error:?}"
    );
    assert!(
        error["request"].as_str().unwrap().contains("take 1"),
        "{error:?}"
    );
    assert_eq!(
        first.state["gifts"]["errored"][0]["after"],
        json!(after.parse::<u64>().unwrap())
    );

    // 8 pages in flight; the take shrinks 1000 → 500 → 250 → 50 → 10 → 1 only at the poison.
    // (The first batch is measured: later, pages of a batch cut short by a failure are abandoned by the
    // client while the simulator still counts them until it notices.)
    let pages = requests(&sim, "/FullGift");
    let take = |r: &LoggedRequest| r.query_param("take").unwrap().parse::<u32>().unwrap();
    let first_batch = &pages[..8];
    let mut skips: Vec<u64> = first_batch
        .iter()
        .map(|r| r.query_param("skip").unwrap().parse().unwrap())
        .collect();
    skips.sort_unstable();
    assert_eq!(skips, [0, 999, 1998, 2997, 3996, 4995, 5994, 6993]);
    let in_flight = first_batch.iter().map(|r| r.in_flight_at_start).max();
    assert_eq!(in_flight, Some(7), "8 pages in flight at once");
    let first_failure = pages.iter().position(|r| r.status == Some(500)).unwrap();
    assert!(pages[..first_failure].iter().all(|r| take(r) == 1000));
    let mut rungs: Vec<u32> = Vec::new();
    for r in &pages {
        if !rungs.contains(&take(r)) {
            rungs.push(take(r));
        }
    }
    assert_eq!(rungs, [1000, 500, 250, 50, 10, 1]);
    let cursor =
        |r: &LoggedRequest| condition(r, "Gift Id").map_or(0, |c| c.parse::<u64>().unwrap());
    // Every smaller page starts after the last full page before the poison (records 0..1000).
    let before_poison = VirtuousData::new(sim.config()).id_at(Entity::Gift, 999);
    for r in pages.iter().filter(|r| take(r) < 1000) {
        assert!(
            cursor(r) >= before_poison,
            "a smaller page away from the poison: {:?}",
            r.query
        );
    }
    drop(first);

    // Next sync: the errored range is retried first, by itself, and still fails.
    sim.advance(1);
    sim.control().log().clear();
    let second = sync(dir.path(), &settings, None).await;
    assert_eq!(second.failure, None);
    let pages = requests(&sim, "/FullGift");
    assert_eq!(condition(&pages[0], "Gift Id"), Some(after.clone()));
    assert_eq!(condition(&pages[0], "Last Modified Date"), None);
    assert_eq!(take(&pages[0]), 1);
    assert!(
        pages
            .iter()
            .any(|r| condition(r, "Last Modified Date").is_some()),
        "then the modified pass"
    );
    let errors = second
        .warehouse
        .rows(&TableName::new("tester", "sync_errors"))
        .unwrap();
    let live: Vec<_> = errors
        .iter()
        .filter(|r| r["_fivetran_deleted"] == json!(0))
        .collect();
    assert_eq!(live.len(), 1, "{errors:?}");
    assert_eq!(live[0]["after_id"], json!(after));
    assert_tables_equal(
        &warehouse_rows(&second.warehouse),
        &truth_rows(&sim, &[poison]),
        &["gifts", "gift_designations", "contacts"],
    );
}

#[tokio::test]
async fn injected_429s_5xx_and_timeouts_lose_nothing() {
    let sim = VirtuousSimulator::start(small()).await.unwrap();
    let faults = sim.control().faults();
    faults.add(
        FaultRule::on_path(
            "/FullGift",
            Fault::TooManyRequests {
                retry_after_seconds: 1,
            },
        )
        .times(4),
    );
    faults.add(FaultRule::on_path("/FullContact", Fault::ServerError { status: 503 }).times(4));
    faults.add(FaultRule::on_path("/Project/Query", Fault::ServerError { status: 500 }).times(1));
    faults.add(
        FaultRule::on_path(
            "/FullGift",
            Fault::Timeout {
                after_ms: Some(20),
                status: 504,
            },
        )
        .skipping(2)
        .times(2),
    );
    faults.add(
        FaultRule::on_path(
            "/FullContact",
            Fault::Timeout {
                after_ms: None,
                status: 504,
            },
        )
        .skipping(3)
        .times(1),
    );
    let dir = tempfile::tempdir().unwrap();
    let synced = sync(dir.path(), &configuration(&sim), None).await;
    assert_eq!(synced.failure, None);
    let fired: Vec<u64> = sim
        .control()
        .faults()
        .rules()
        .iter()
        .map(|r| r.fired)
        .collect();
    assert_eq!(fired, [4, 4, 1, 2, 1], "every fault fired");
    assert_tables_equal(
        &warehouse_rows(&synced.warehouse),
        &truth_rows(&sim, &[]),
        &[],
    );
    let errors = synced
        .warehouse
        .rows(&TableName::new("tester", "sync_errors"))
        .unwrap_or_default();
    assert!(errors.is_empty(), "no errored ranges: {errors:?}");
}

#[tokio::test]
async fn a_failed_sync_resumes_from_its_last_checkpoint() {
    let mut config = small();
    config.gifts.initial = 2200;
    let sim = VirtuousSimulator::start(config).await.unwrap();
    // A permanent refusal mid-way through the gifts: the sync fails after some checkpoints.
    sim.control().faults().add(
        FaultRule::on_path("/FullGift", Fault::ServerError { status: 400 })
            .skipping(2)
            .times(1),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut settings = configuration(&sim);
    settings.insert("parallelism".into(), "1".into()); // pages in a known order
    let failed = sync(dir.path(), &settings, None).await;
    let failure = failed.failure.clone().expect("the sync fails");
    assert!(failure.contains("400"), "{failure}");
    let cursor = failed.state["gifts"]["pass"]["cursor"]
        .as_u64()
        .expect("a gift checkpoint");
    let kept = warehouse_rows(&failed.warehouse)["gifts"].len();
    assert!(kept > 0 && kept < 2200, "{kept}");
    assert!(kept as u64 <= sim.truth(Entity::Gift).filter(|g| g.id <= cursor).count() as u64);
    drop(failed);
    sim.control().log().clear();
    let resumed = sync(dir.path(), &settings, None).await;
    assert_eq!(resumed.failure, None);
    let first_gift_page = &requests(&sim, "/FullGift")[0];
    assert_eq!(
        condition(first_gift_page, "Gift Id"),
        Some(cursor.to_string()),
        "resumed at the checkpoint"
    );
    assert_tables_equal(
        &warehouse_rows(&resumed.warehouse),
        &truth_rows(&sim, &[]),
        &[],
    );
}

#[tokio::test]
async fn unselected_tables_are_not_fetched_and_short_columns_use_the_short_endpoint() {
    let sim = VirtuousSimulator::start(small()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let full_only = [
        "contact_individual_id",
        "segment_id",
        "receipt_date",
        "exchange_rate",
        "notes",
        "is_private",
        "is_tax_deductible",
        "gift_premiums",
        "pledge_payments",
        "recurring_gift_payments",
        "custom_fields",
    ];
    let chosen = only_tables(&[("gifts", &full_only), ("projects", &[])]);
    let synced = sync(dir.path(), &configuration(&sim), Some(chosen)).await;
    assert_eq!(synced.failure, None);
    assert!(requests(&sim, "/Contact/").is_empty() && requests(&sim, "/Campaign/").is_empty());
    assert!(
        requests(&sim, "/FullGift").is_empty(),
        "the short endpoint serves the selected columns"
    );
    assert!(!requests(&sim, "/Gift/Query").is_empty());
    let actual = warehouse_rows(&synced.warehouse);
    assert_tables_equal(&actual, &truth_rows(&sim, &[]), &["gifts", "projects"]);
    assert!(actual["gift_designations"].is_empty() && actual["contacts"].is_empty());
}

#[tokio::test]
async fn the_setup_test_names_a_refused_key_and_an_unreachable_host() {
    let sim = VirtuousSimulator::start(small()).await.unwrap();
    let connector = Virtuous::with_tuning(fast());
    let mut good = configuration(&sim);
    DynConnector::test(&connector, "connection", &good)
        .await
        .unwrap();
    good.insert("api_key".into(), "wrong".into());
    let refused = DynConnector::test(&connector, "connection", &good)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("Settings → Connectivity → API Keys"),
        "{refused}"
    );
    good.insert("base_url".into(), "http://127.0.0.1:9".into());
    let unreachable = DynConnector::test(&connector, "connection", &good)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        unreachable.contains("cannot reach Virtuous at http://127.0.0.1:9"),
        "{unreachable}"
    );
}

#[tokio::test]
async fn debug_with_the_bundled_simulator_stops_at_the_limit_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let settings: HashMap<String, String> = [
        ("api_key", "simulator-key"),
        ("base_url", "simulator"),
        ("parallelism", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    let mut options = DebugOptions::new("virtuous", settings.clone(), &files);
    options.limit = Some(300);
    let outcome = run_debug(options).await.unwrap();
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    assert!(outcome.simulator.unwrap().contains("20000 contacts"));
    let state: Json =
        serde_json::from_str(&std::fs::read_to_string(files.join("state.json")).unwrap()).unwrap();
    let first_cursor = state["gifts"]["pass"]["cursor"]
        .as_u64()
        .expect("gifts stopped mid-pass");
    assert!(state["contacts"]["pass"]["cursor"].is_u64(), "{state}");
    let gifts = outcome.records_by_table["gifts"];
    assert!(
        (300..2000).contains(&gifts),
        "{gifts} gifts for a limit of 300"
    );

    let mut options = DebugOptions::new("virtuous", settings, &files);
    options.limit = Some(300);
    let again = run_debug(options).await.unwrap();
    assert!(again.succeeded(), "{:?}", again.failure);
    let state: Json =
        serde_json::from_str(&std::fs::read_to_string(files.join("state.json")).unwrap()).unwrap();
    assert!(
        state["gifts"]["pass"]["cursor"].as_u64().unwrap() > first_cursor,
        "resumed, not restarted"
    );
}
