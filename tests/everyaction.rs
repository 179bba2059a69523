//! The EveryAction connector end to end: the debug runner (the real gRPC server and the SQLite warehouse)
//! syncing from the EveryAction simulator, compared with the simulator's truth by primary key for every
//! table, before and after the source changes; multi-file jobs, faults and resumes, expired links,
//! failing jobs, selection, a forbidden `users`, bad credentials and the bundled simulator.
//!
//! The organisation is the simulator's `small()` one: a few hundred records per database, all created in
//! the 60 days before its clock (frozen), so the 90-day export window reaches every record and no
//! assertion depends on timing. Jobs are polled every few milliseconds.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use fivetran_source::connectors::everyaction::simulator::{
    EveryActionConfig, EveryActionSimulator, JobStatus, ListEndpoint, Mode, Resource,
};
use fivetran_source::connectors::everyaction::{EveryAction, CREDENTIALS_HINT};
use fivetran_source::debug::host::{self, HostOptions};
use fivetran_source::debug::naming::Naming;
use fivetran_source::debug::runner::{run_debug, DebugError, DebugOptions, DebugOutcome};
use fivetran_source::http::Tuning;
use fivetran_source::proto;
use fivetran_source::sdk::selection::only_tables;
use fivetran_source::simulator::{Fault, FaultRule, LoggedRequest};

fn configuration(sim: &EveryActionSimulator) -> HashMap<String, String> {
    [
        ("application_name", sim.application_name().to_owned()),
        ("api_key", sim.config().api_key.clone()),
        ("database_mode", "MyCampaign/EveryAction (1)".to_owned()),
        ("base_url", sim.api_url()),
        ("advanced", "true".to_owned()),
        ("job_poll_seconds", "0.002".to_owned()),
        ("job_timeout_seconds", "10".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn with(mut config: HashMap<String, String>, pairs: &[(&str, &str)]) -> HashMap<String, String> {
    for (k, v) in pairs {
        config.insert((*k).to_owned(), (*v).to_owned());
    }
    config
}

async fn debug_sync(config: &HashMap<String, String>, files: &Path) -> DebugOutcome {
    run_debug(DebugOptions::new("everyaction", config.clone(), files))
        .await
        .unwrap()
}

/// What one sync through the harness left behind.
struct Synced {
    state: Json,
    warnings: Vec<String>,
    failure: Option<String>,
    records: BTreeMap<String, u64>,
}

/// One sync through the real server into the warehouse at `files`, like `debug`, but with the fast test
/// tuning (millisecond retries) and an optional selection.
async fn sync(
    files: &Path,
    config: &HashMap<String, String>,
    selection: Option<proto::Selection>,
) -> Synced {
    let connector = EveryAction::with_tuning(Tuning::fast());
    let mut options = HostOptions::new(config.clone(), files);
    options.setup_tests = false;
    options.selection = selection;
    let outcome = host::sync(Arc::new(connector), options).await.unwrap();
    Synced {
        state: state(files),
        warnings: outcome.warnings,
        failure: outcome.failure,
        records: outcome.records_by_table,
    }
}

fn state(files: &Path) -> Json {
    std::fs::read_to_string(files.join("state.json"))
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap_or(Json::Null)
}

/// A compared value as text, the same for the warehouse and the truth: instants normalised to UTC,
/// booleans as 0/1, empty text as null.
fn normal(text: &str) -> String {
    if text.is_empty() {
        return "null".into();
    }
    if text.len() >= 19 && text.as_bytes()[4] == b'-' && text.as_bytes()[10] == b'T' {
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return t.with_timezone(&Utc).to_rfc3339();
        }
    }
    text.to_owned()
}

fn show_json(value: &Json) -> String {
    match value {
        Json::Null => "null".into(),
        Json::Bool(b) => u8::from(*b).to_string(),
        Json::String(s) => normal(s),
        other => other.to_string(),
    }
}

fn show_sql(value: rusqlite::types::Value) -> String {
    use rusqlite::types::Value as V;
    match value {
        V::Null => "null".into(),
        V::Integer(i) => i.to_string(),
        V::Real(f) => f.to_string(),
        V::Text(s) => normal(&s),
        V::Blob(_) => "blob".into(),
    }
}

/// Rows of a table by key: the compared columns as text.
type Rows = BTreeMap<String, Vec<String>>;

/// The warehouse's rows of `table` (live ones, or deleted ones), projected on `columns` (source names);
/// a column the warehouse never created reads as null.
fn warehouse_rows(files: &Path, table: &str, key: &str, columns: &[String], deleted: bool) -> Rows {
    let db = rusqlite::Connection::open(files.join("warehouse.db")).unwrap();
    let name = format!("tester.{}", Naming::Fivetran.table(table));
    let present: BTreeSet<String> = {
        let mut stmt = db
            .prepare(&format!("select name from pragma_table_info('{name}')"))
            .unwrap();
        let names = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
        names.map(Result::unwrap).collect()
    };
    if present.is_empty() {
        return Rows::new();
    }
    let select: Vec<String> = columns
        .iter()
        .map(|c| {
            let c = Naming::Fivetran.column(c);
            if present.contains(&c) {
                format!("\"{c}\"")
            } else {
                "null".into()
            }
        })
        .collect();
    let sql = format!(
        "select \"{}\"{}{} from \"{name}\" where _fivetran_deleted = {}",
        Naming::Fivetran.column(key),
        if select.is_empty() { "" } else { ", " },
        select.join(", "),
        u8::from(deleted)
    );
    let mut stmt = db.prepare(&sql).unwrap();
    let rows = stmt
        .query_map([], |r| {
            let key = show_sql(r.get(0)?);
            let values = (0..columns.len())
                .map(|i| r.get(i + 1).map(show_sql))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((key, values))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// The list tables: table, endpoint, `$expand`, key, compared fields.
const LISTS: &[(&str, ListEndpoint, &str, &str, &[&str])] = &[
    (
        "activist_codes",
        ListEndpoint::ActivistCodes,
        "",
        "activistCodeId",
        &["name", "status", "type", "isMultiAssign"],
    ),
    (
        "survey_questions",
        ListEndpoint::SurveyQuestions,
        "",
        "surveyQuestionId",
        &["name", "status", "cycle"],
    ),
    (
        "events",
        ListEndpoint::Events,
        "shifts,locations",
        "eventId",
        &["name", "isActive", "startDate", "createdDate"],
    ),
    (
        "event_types",
        ListEndpoint::EventTypes,
        "",
        "eventTypeId",
        &["name", "color"],
    ),
    (
        "codes",
        ListEndpoint::Codes,
        "supportedEntities",
        "codeId",
        &["name", "codePath", "dateCreated"],
    ),
    (
        "saved_lists",
        ListEndpoint::SavedLists,
        "",
        "savedListId",
        &["name", "listCount"],
    ),
    (
        "users",
        ListEndpoint::Users,
        "",
        "userId",
        &["firstName", "lastName"],
    ),
    (
        "custom_fields",
        ListEndpoint::CustomFields,
        "",
        "customFieldId",
        &["customFieldName", "customFieldGroupType"],
    ),
];

/// The export tables: table, resource, compared standard columns (custom fields are added).
const EXPORTS: &[(&str, Resource, &[&str])] = &[
    (
        "contacts",
        Resource::Contacts,
        &[
            "FirstName",
            "LastName",
            "Email",
            "City",
            "EmployerName",
            "DateChanged",
        ],
    ),
    (
        "contributions",
        Resource::Contributions,
        &[
            "VanID",
            "PaymentType",
            "Note",
            "DateReceived",
            "DateChanged",
        ],
    ),
    (
        "contacts_activist_codes",
        Resource::ContactsActivistCodes,
        &["VanID", "ActivistCodeID", "ActivistCodeName", "DateChanged"],
    ),
    (
        "contacts_survey_responses",
        Resource::ContactsSurveyResponses,
        &[
            "VanID",
            "SurveyQuestionID",
            "SurveyResponseID",
            "DateChanged",
        ],
    ),
];

/// Compares a table of the warehouse with its truth; returns a description of every difference.
fn differences(table: &str, got: &Rows, want: &Rows) -> Vec<String> {
    let mut out = Vec::new();
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    let differ: Vec<_> = want
        .iter()
        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
        .map(|(k, v)| format!("{k}: {:?} != {v:?}", got[k]))
        .collect();
    if !missing.is_empty() || !extra.is_empty() || !differ.is_empty() {
        out.push(format!(
            "{table}: {} rows, {} in the source; missing {:?}, extra {:?}, differing {:?}",
            got.len(),
            want.len(),
            missing.iter().take(5).collect::<Vec<_>>(),
            extra.iter().take(5).collect::<Vec<_>>(),
            differ.iter().take(3).collect::<Vec<_>>()
        ));
    }
    out
}

/// Every table of the warehouse at `files` equals the simulator's truth for `mode` (users excepted
/// where `users` is false); deleted list records and inactive export records are soft-deleted or
/// absent.
fn assert_matches_truth(sim: &EveryActionSimulator, files: &Path, mode: Mode, users: bool) {
    let truth = sim.truth();
    let mut problems = Vec::new();
    for (table, endpoint, expand, key, fields) in LISTS {
        if *table == "users" && !users {
            continue;
        }
        let columns: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        let want: Rows = truth
            .list(mode, *endpoint, expand)
            .iter()
            .map(|item| {
                (
                    show_json(&item[*key]),
                    fields.iter().map(|f| show_json(&item[*f])).collect(),
                )
            })
            .collect();
        problems.extend(differences(
            table,
            &warehouse_rows(files, table, key, &columns, false),
            &want,
        ));
        let deleted = warehouse_rows(files, table, key, &[], true);
        for id in truth.deleted_list_ids(mode, *endpoint) {
            if !deleted.contains_key(&id.to_string())
                && warehouse_rows(files, table, key, &[], false).contains_key(&id.to_string())
            {
                problems.push(format!("{table}: deleted record {id} is live"));
            }
        }
    }
    for (table, resource, fields) in EXPORTS {
        let key = truth_key(*resource);
        let mut columns: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        columns.extend(
            truth
                .export_columns(mode, *resource)
                .into_iter()
                .filter(|c| c.starts_with("CF")),
        );
        let want: Rows = truth
            .export(mode, *resource)
            .filter(|r| r.active)
            .map(|r| {
                let values = columns
                    .iter()
                    .map(|c| normal(r.fields.get(c).map_or("", String::as_str)))
                    .collect();
                (r.key.to_string(), values)
            })
            .collect();
        assert!(!want.is_empty(), "{table} has live records");
        problems.extend(differences(
            table,
            &warehouse_rows(files, table, key, &columns, false),
            &want,
        ));
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

fn truth_key(resource: Resource) -> &'static str {
    resource.key_column()
}

/// Successful downloads of export files, as `(job, file index)`, in order.
fn downloads(sim: &EveryActionSimulator) -> Vec<(u64, usize)> {
    sim.control()
        .log()
        .entries()
        .into_iter()
        .filter(|r| r.path.starts_with("/changed-entity-exports/") && r.status == Some(200))
        .map(|r| {
            let name = r.path.rsplit('/').next().unwrap().to_owned();
            let mut parts = name.split('_');
            (
                parts.next().unwrap().parse().unwrap(),
                parts.next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

fn jobs_of(sim: &EveryActionSimulator, resource: Resource) -> usize {
    sim.jobs().iter().filter(|j| j.resource == resource).count()
}

#[tokio::test]
async fn a_full_sync_then_an_incremental_one_equal_the_source_with_changes_and_deletes() {
    let mut small = EveryActionConfig::small();
    small.saved_lists_link_on_empty_page = true;
    let sim = EveryActionSimulator::start(small).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let config = configuration(&sim);

    let first = debug_sync(&config, &files).await;
    assert!(first.succeeded(), "{:?}", first.failure);
    assert_matches_truth(&sim, &files, Mode::MyCampaign, true);
    assert!(
        sim.refusals().is_empty(),
        "a nextPageLink was changed: {:?}",
        sim.refusals()
    );
    // The first sync warns, once per export table, that records unchanged for 90 days are out of
    // reach.
    assert_eq!(first.summary.warnings, 4);
    // One job per resource, every one complete, each file downloaded once.
    assert_eq!(sim.jobs().len(), 4);
    assert!(sim
        .jobs()
        .iter()
        .all(|j| j.finished == Some(JobStatus::Complete)));
    let fetched = downloads(&sim);
    assert_eq!(fetched.len(), fetched.iter().collect::<BTreeSet<_>>().len());
    let synced = state(&files);
    for table in ["contacts", "contributions"] {
        assert_eq!(
            synced["exports"][table]["windows"]["synced_through"], "2025-01-01T00:00:00Z",
            "{synced}"
        );
    }
    assert!(synced["lists"]["codes"]["known"].as_array().unwrap().len() > 10);

    // Between syncs: edits, suppressions, deletions, new people and gifts, codes and responses applied
    // and removed, list edits and deletions.
    let changes = sim.advance(1).changes;
    assert!(changes.iter().any(|c| c.table == "Contacts"));
    assert!(!sim
        .truth()
        .deleted_list_ids(Mode::MyCampaign, ListEndpoint::Codes)
        .is_empty());
    let second = debug_sync(&config, &files).await;
    assert!(second.succeeded(), "{:?}", second.failure);
    assert_matches_truth(&sim, &files, Mode::MyCampaign, true);
    assert!(sim.refusals().is_empty());
    assert_eq!(
        second.summary.warnings, 0,
        "an incremental sync reaches everything"
    );
    // Deleted codes and suppressed or deleted people are soft-deleted, not left behind.
    let deleted_codes = warehouse_rows(&files, "codes", "codeId", &[], true);
    for id in sim
        .truth()
        .deleted_list_ids(Mode::MyCampaign, ListEndpoint::Codes)
    {
        assert!(deleted_codes.contains_key(&id.to_string()), "code {id}");
    }
    let gone = warehouse_rows(&files, "contacts", "VanID", &[], true);
    let inactive = sim
        .truth()
        .inactive_keys(Mode::MyCampaign, Resource::Contacts);
    assert!(
        inactive.iter().any(|k| gone.contains_key(&k.to_string())),
        "people removed since the first sync are deleted"
    );
    // The incremental jobs start an hour before the first walk ended.
    let later: Vec<_> = sim.jobs().into_iter().skip(4).collect();
    assert_eq!(later.len(), 4);
    let bodies: Vec<Json> = sim
        .control()
        .log()
        .entries()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v4/changedEntityExportJobs")
        .filter_map(|r| r.body)
        .collect();
    assert_eq!(bodies[4]["dateChangedFrom"], "2024-12-31T23:00:00Z");
    assert_eq!(bodies[4]["dateChangedTo"], "2025-01-02T00:00:00Z");
    assert_eq!(bodies[4]["includeInactive"], true);
}

#[tokio::test]
async fn a_job_split_into_many_files_lands_every_record_once() {
    let sim = EveryActionSimulator::start(EveryActionConfig::small())
        .await
        .unwrap();
    // A 429 on a list page and one on a job poll are waited out, not failures.
    sim.control().faults().add(
        FaultRule::on_path(
            "/v4/events",
            Fault::TooManyRequests {
                retry_after_seconds: 0,
            },
        )
        .times(1),
    );
    sim.control().faults().add(
        FaultRule::on_path(
            "/v4/changedEntityExportJobs/",
            Fault::TooManyRequests {
                retry_after_seconds: 0,
            },
        )
        .times(1),
    );
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let config = with(configuration(&sim), &[("file_size_kb_limit", "3")]);
    let outcome = debug_sync(&config, &files).await;
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    assert!(sim
        .control()
        .log()
        .entries()
        .iter()
        .any(|r| r.status == Some(429)));
    assert_matches_truth(&sim, &files, Mode::MyCampaign, true);
    for job in sim.jobs() {
        let table = match job.resource {
            Resource::Contacts => "contacts",
            Resource::Contributions => "contributions",
            Resource::ContactsActivistCodes => "contacts_activist_codes",
            Resource::ContactsSurveyResponses => "contacts_survey_responses",
        };
        if job.resource == Resource::Contacts {
            assert!(job.files >= 3, "{job:?}");
        }
        // Every exported row was sent once: as many records as the job exported.
        assert_eq!(outcome.records_by_table[table], job.rows, "{table}");
        let fetched: Vec<usize> = downloads(&sim)
            .into_iter()
            .filter(|(id, _)| *id == job.id)
            .map(|(_, n)| n)
            .collect();
        assert_eq!(
            fetched,
            (0..job.files).collect::<Vec<_>>(),
            "{table}: in order, once"
        );
    }
}

#[tokio::test]
async fn a_sync_failed_midway_by_a_fault_resumes_at_the_next_file_of_the_same_job() {
    let sim = EveryActionSimulator::start(EveryActionConfig::small())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let config = with(configuration(&sim), &[("file_size_kb_limit", "3")]);
    // The third file download onwards fails, retry after retry: the sync fails in the contacts job.
    sim.control().faults().add(
        FaultRule::on_path(
            "/changed-entity-exports/",
            Fault::ServerError { status: 500 },
        )
        .skipping(2),
    );
    let failed = sync(&files, &config, None).await;
    assert!(failed.failure.is_some(), "the fault fails the sync");
    let job = &failed.state["exports"]["contacts"]["job"];
    assert_eq!(job["files_done"], 2, "{}", failed.state);
    let job_id = job["id"].as_u64().unwrap();
    assert!(job["rows"].as_u64().unwrap() > 0);
    let before = downloads(&sim);
    assert_eq!(before, vec![(job_id, 0), (job_id, 1)]);

    sim.control().faults().clear();
    let resumed = debug_sync(&config, &files).await;
    assert!(resumed.succeeded(), "{:?}", resumed.failure);
    assert_matches_truth(&sim, &files, Mode::MyCampaign, true);
    assert_eq!(
        jobs_of(&sim, Resource::Contacts),
        1,
        "the same job, not a new one"
    );
    let contacts_job = sim
        .jobs()
        .into_iter()
        .find(|j| j.resource == Resource::Contacts)
        .unwrap();
    let of_job: Vec<usize> = downloads(&sim)
        .into_iter()
        .filter(|(id, _)| *id == job_id)
        .map(|(_, n)| n)
        .collect();
    assert_eq!(
        of_job,
        (0..contacts_job.files).collect::<Vec<_>>(),
        "files 0 and 1 before the failure, the rest after it, none twice"
    );
    // No loss, no duplicates: the resumed sync sent exactly the rows of the files it had not read.
    let done_rows = job["rows"].as_u64().unwrap();
    assert_eq!(
        resumed.records_by_table["contacts"] + done_rows,
        contacts_job.rows
    );
}

#[tokio::test]
async fn expired_download_links_re_create_the_job_for_what_is_still_in_reach() {
    let sim = EveryActionSimulator::start(EveryActionConfig::small())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let config = with(configuration(&sim), &[("file_size_kb_limit", "3")]);
    sim.control().faults().add(
        FaultRule::on_path(
            "/changed-entity-exports/",
            Fault::ServerError { status: 500 },
        )
        .skipping(1),
    );
    let failed = sync(&files, &config, None).await;
    assert!(failed.failure.is_some());
    assert_eq!(failed.state["exports"]["contacts"]["job"]["files_done"], 1);
    sim.control().faults().clear();
    // Three weeks later the links (20 days) have expired, and the walk's start is past 90 days.
    sim.control()
        .clock()
        .advance(Duration::from_secs(21 * 86_400));
    let resumed = sync(&files, &config, None).await;
    assert_eq!(resumed.failure, None);
    assert!(sim
        .control()
        .log()
        .entries()
        .iter()
        .any(|r| r.path.starts_with("/changed-entity-exports/") && r.status == Some(410)));
    assert_eq!(jobs_of(&sim, Resource::Contacts), 2, "created again");
    assert!(
        resumed
            .warnings
            .iter()
            .any(|w| w.starts_with("contacts:") && w.contains("cannot be exported")),
        "{:?}",
        resumed.warnings
    );
    // Everything was created in the last 60 days of the old clock: still in reach.
    assert_matches_truth(&sim, &files, Mode::MyCampaign, true);
}

#[tokio::test]
async fn a_job_that_errors_is_split_into_shorter_windows_not_skipped() {
    let mut small = EveryActionConfig::small();
    small.export.fail_jobs = vec![1];
    let sim = EveryActionSimulator::start(small).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let outcome = debug_sync(&configuration(&sim), &files).await;
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    let contacts: Vec<_> = sim
        .jobs()
        .into_iter()
        .filter(|j| j.resource == Resource::Contacts)
        .collect();
    assert_eq!(contacts.len(), 3, "{contacts:?}");
    assert_eq!(contacts[0].finished, Some(JobStatus::Error));
    assert!(contacts[1..]
        .iter()
        .all(|j| j.finished == Some(JobStatus::Complete)));
    let bodies: Vec<Json> = sim
        .control()
        .log()
        .entries()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v4/changedEntityExportJobs")
        .filter_map(|r| r.body)
        .take(3)
        .collect();
    assert_eq!(bodies[1]["dateChangedFrom"], bodies[0]["dateChangedFrom"]);
    assert_eq!(
        bodies[1]["dateChangedTo"], bodies[2]["dateChangedFrom"],
        "the halves meet"
    );
    assert_eq!(bodies[2]["dateChangedTo"], bodies[0]["dateChangedTo"]);
    assert_matches_truth(&sim, &files, Mode::MyCampaign, true);
}

fn requests(sim: &EveryActionSimulator) -> Vec<LoggedRequest> {
    sim.control().log().entries()
}

#[tokio::test]
async fn unselected_tables_make_no_requests() {
    let sim = EveryActionSimulator::start(EveryActionConfig::small())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chosen = only_tables(&[("saved_lists", &[]), ("contributions", &[])]);
    let synced = sync(dir.path(), &configuration(&sim), Some(chosen)).await;
    assert_eq!(synced.failure, None);
    let paths: BTreeSet<String> = requests(&sim)
        .into_iter()
        .filter(|r| !r.path.starts_with("/changed-entity-exports/"))
        .map(|r| r.path)
        .collect();
    let jobs: BTreeSet<String> = sim
        .jobs()
        .iter()
        .map(|j| format!("/v4/changedEntityExportJobs/{}", j.id))
        .collect();
    let expected: BTreeSet<String> = [
        "/v4/savedLists",
        "/v4/apiKeyProfiles",
        "/v4/changedEntityExportJobs/fields/Contributions",
        "/v4/changedEntityExportJobs",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .chain(jobs)
    .collect();
    assert_eq!(paths, expected);
    assert_eq!(
        synced.records.keys().collect::<Vec<_>>(),
        ["contributions", "saved_lists"]
    );
    // The first sync says what its 90 days cannot reach.
    assert_eq!(synced.warnings.len(), 1, "{:?}", synced.warnings);
    assert!(
        synced.warnings[0].starts_with("contributions: ")
            && synced.warnings[0].contains("90 days")
            && synced.warnings[0].contains("2024-10-03T01:00:00+00:00"),
        "{}",
        synced.warnings[0]
    );
}

#[tokio::test]
async fn a_key_without_the_users_permission_skips_users_with_a_warning_in_either_database() {
    let mut small = EveryActionConfig::small();
    small.users_forbidden = true;
    let sim = EveryActionSimulator::start(small).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = with(
        configuration(&sim),
        &[
            ("database_mode", "MyVoters (0)"),
            ("start_date", "2024-12-01"),
        ],
    );
    let synced = sync(dir.path(), &config, None).await;
    assert_eq!(synced.failure, None);
    assert!(
        synced
            .warnings
            .iter()
            .any(|w| w.starts_with("users:") && w.contains("403")),
        "{:?}",
        synced.warnings
    );
    assert!(!synced.records.contains_key("users"));
    // A start date inside the 90 days bounds the first sync without a warning.
    assert_eq!(synced.warnings.len(), 1, "{:?}", synced.warnings);
    let posted: Vec<Json> = requests(&sim)
        .into_iter()
        .filter(|r| r.method == "POST")
        .filter_map(|r| r.body)
        .collect();
    assert!(posted
        .iter()
        .all(|b| b["dateChangedFrom"] == "2024-12-01T00:00:00Z"));
    // The voter file's own records, none of MyCampaign's.
    let ids = warehouse_rows(dir.path(), "activist_codes", "activistCodeId", &[], false);
    let voters: BTreeSet<String> = sim
        .truth()
        .list(Mode::MyVoters, ListEndpoint::ActivistCodes, "")
        .iter()
        .map(|c| c["activistCodeId"].to_string())
        .collect();
    assert_eq!(ids.keys().cloned().collect::<BTreeSet<_>>(), voters);
}

#[tokio::test]
async fn bad_credentials_fail_the_setup_test_saying_what_to_check() {
    let sim = EveryActionSimulator::start(EveryActionConfig::small())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (field, wrong) in [
        ("api_key", "00000000-0000-0000-0000-000000000000"),
        ("application_name", "someoneElse"),
    ] {
        let config = with(configuration(&sim), &[(field, wrong)]);
        let err = run_debug(DebugOptions::new(
            "everyaction",
            config,
            dir.path().join("files"),
        ))
        .await
        .unwrap_err();
        match err {
            DebugError::SetupTest { message, .. } => {
                assert!(message.contains(CREDENTIALS_HINT), "{message}");
                assert!(!message.contains(wrong), "{message}");
            }
            other => panic!("unexpected {other}"),
        }
    }
}

#[tokio::test]
async fn debug_with_the_bundled_simulator_lands_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let config: HashMap<String, String> = [
        ("application_name", "acmeSync"),
        ("api_key", "my-key|1"),
        ("base_url", "simulator"),
        ("advanced", "true"),
        ("job_poll_seconds", "0.01"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let outcome = debug_sync(&config, &files).await;
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    assert!(outcome.simulator.unwrap().contains("40000 people"));
    for (table, ..) in LISTS {
        assert!(
            outcome.records_by_table.get(*table).is_some_and(|n| *n > 0),
            "{table}: {:?}",
            outcome.records_by_table
        );
    }
    for (table, ..) in EXPORTS {
        assert!(
            outcome
                .records_by_table
                .get(*table)
                .is_some_and(|n| *n > 100),
            "{table}: {:?}",
            outcome.records_by_table
        );
    }
}

#[tokio::test]
async fn a_list_pass_failed_midway_resumes_at_its_saved_link_and_deletes_nothing_meanwhile() {
    let sim = EveryActionSimulator::start(EveryActionConfig::small())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let config = configuration(&sim);
    let first = sync(&files, &config, None).await;
    assert_eq!(first.failure, None);
    let events = |deleted| warehouse_rows(&files, "events", "eventId", &[], deleted);
    let all = events(false).len();
    assert!(all > 100);

    // The next sync fails after the first page of events (50), retry after retry.
    sim.control()
        .faults()
        .add(FaultRule::on_path("/v4/events", Fault::ServerError { status: 503 }).skipping(1));
    let failed = sync(&files, &config, None).await;
    assert!(failed.failure.is_some());
    let pass = &failed.state["lists"]["events"]["pass"];
    assert!(
        pass["next"].as_str().unwrap().contains("$skip=50"),
        "{pass}"
    );
    assert_eq!(pass["seen"].as_array().unwrap().len(), 50);
    assert_eq!(
        (events(false).len(), events(true).len()),
        (all, 0),
        "a failed pass leaves every row in place"
    );

    sim.control().faults().clear();
    let before = sim.control().log().total_requests();
    let resumed = sync(&files, &config, None).await;
    assert_eq!(resumed.failure, None);
    let first_events_request = sim
        .control()
        .log()
        .entries()
        .into_iter()
        .filter(|r| r.number > before && r.path == "/v4/events")
        .map(|r| r.query.unwrap_or_default())
        .next()
        .unwrap();
    assert!(
        first_events_request.contains("$skip=50"),
        "resumed at the saved link: {first_events_request}"
    );
    assert_eq!(resumed.records["events"], (all - 50) as u64);
    assert_eq!(events(true).len(), 0);
    assert_matches_truth(&sim, &files, Mode::MyCampaign, true);
    assert!(sim.refusals().is_empty());
}
