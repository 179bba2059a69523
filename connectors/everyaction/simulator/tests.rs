//! Tests of the EveryAction simulator: the data model directly, the API over HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::dataset::Entity;
use super::export::{ExportSpec, Plan};
use super::*;
use crate::simulator::test_client::client;
use crate::simulator::{Fault, FaultRule};

/// A Basic-auth client for one database of a running simulator.
struct Api {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
}

impl Api {
    fn new(sim: &EveryActionSimulator, mode: Mode) -> Self {
        Self {
            http: client(),
            base: sim.base_url(),
            user: sim.application_name().to_owned(),
            password: sim.password(mode),
        }
    }

    fn with_password(sim: &EveryActionSimulator, user: &str, password: &str) -> Self {
        Self {
            user: user.to_owned(),
            password: password.to_owned(),
            ..Self::new(sim, Mode::MyCampaign)
        }
    }

    /// GET of `target`: a path (`/v4/...`) or an absolute URL, used as given.
    async fn get_text(&self, target: &str) -> (StatusCode, String) {
        let url = if target.starts_with("http") {
            target.to_owned()
        } else {
            format!("{}{target}", self.base)
        };
        let response = self
            .http
            .get(url)
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    async fn get(&self, target: &str) -> (StatusCode, Value) {
        let (status, text) = self.get_text(target).await;
        let value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON from {target}: {text}"));
        (status, value)
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password))
            .json(body)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        (status, response.json().await.expect("JSON body"))
    }

    /// Follows `nextPageLink` exactly as given; returns every item.
    async fn all_pages(&self, first: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(target) = next {
            let (status, page) = self.get(&target).await;
            assert_eq!(status, StatusCode::OK, "{target}: {page}");
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            next = page["nextPageLink"].as_str().map(str::to_owned);
        }
        items
    }

    /// Creates a job, polls it to the end; returns the creation answer and the final job.
    async fn run_job(&self, body: &Value) -> (Value, Value) {
        let (status, created) = self.post("/v4/changedEntityExportJobs", body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["exportJobId"].as_u64().unwrap();
        for _ in 0..20 {
            let (status, job) = self.get(&format!("/v4/changedEntityExportJobs/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{job}");
            if matches!(job["jobStatus"].as_str(), Some("Complete" | "Error")) {
                return (created, job);
            }
        }
        panic!("job {id} never finished");
    }

    /// Downloads every file of a complete job: (header, rows) per file.
    async fn files(&self, job: &Value) -> Vec<CsvFile> {
        let mut files = Vec::new();
        for file in job["files"].as_array().unwrap() {
            let url = file["downloadUrl"].as_str().unwrap();
            let (status, text) = self.get_text(url).await;
            assert_eq!(status, StatusCode::OK, "{url}: {text}");
            files.push(parse_csv(&text));
        }
        files
    }
}

/// A downloaded CSV file: its header and its rows as column → value maps.
type CsvFile = (Vec<String>, Vec<BTreeMap<String, String>>);

fn parse_csv(text: &str) -> CsvFile {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|record| {
            header
                .iter()
                .cloned()
                .zip(record.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, rows)
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn days_ago(sim: &EveryActionSimulator, days: i64) -> String {
    rfc3339(sim.now() - TimeDelta::days(days))
}

async fn small() -> EveryActionSimulator {
    EveryActionSimulator::start(EveryActionConfig::small())
        .await
        .unwrap()
}

fn ids(items: &[Value], key: &str) -> Vec<u64> {
    items
        .iter()
        .map(|item| item[key].as_u64().unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The data model

#[test]
fn ids_and_creation_times_grow_with_the_index_and_invert() {
    let mut data = EveryActionData::new(&EveryActionConfig::small());
    data.advance();
    data.advance();
    for mode in Mode::ALL {
        let db = data.database(mode);
        for entity in Entity::ALL {
            let mut previous = (0, i64::MIN);
            for index in 0..db.count(entity) {
                let (id, created) = (db.id(entity, index), db.created(entity, index));
                assert!(
                    id > previous.0 && created > previous.1,
                    "{entity:?} {index}"
                );
                assert_eq!(db.index_of(entity, id), Some(index));
                previous = (id, created);
            }
            let middle = db.created(entity, db.count(entity) / 2);
            assert_eq!(
                db.first_created_at_or_after(entity, middle),
                db.count(entity) / 2
            );
        }
    }
    let (a, b) = (
        data.database(Mode::MyVoters),
        data.database(Mode::MyCampaign),
    );
    assert_ne!(a.id(Entity::Contact, 0), b.id(Entity::Contact, 0));
}

/// The planner (candidate bound + overlay) must select exactly what a scan of every record
/// selects, for any window.
#[test]
fn export_planner_agrees_with_a_full_scan() {
    let mut config = EveryActionConfig::small();
    config.data_start = config.data_end - TimeDelta::days(300);
    config.my_campaign.contacts.initial = 900;
    config.my_campaign.contributions.initial = 700;
    config.my_campaign.contacts.modified_per_generation = 30;
    config.my_campaign.child_changes_per_generation = 40;
    let mut data = EveryActionData::new(&config);
    for _ in 0..5 {
        data.advance();
    }
    let data = std::sync::Arc::new(data);
    let db = data.database(Mode::MyCampaign);
    let end = super::dataset::ticks_of(config.data_end);
    let day = 86_400 * super::dataset::TICKS_PER_SECOND;
    for resource in Resource::ALL {
        for (from, to) in [
            (end - 80 * day, end + 5 * day),
            (end - 3 * day, end + 2 * day),
            (end - 200 * day, end - 150 * day),
        ] {
            for include_inactive in [false, true] {
                let spec = ExportSpec {
                    mode: Mode::MyCampaign,
                    resource,
                    from,
                    to,
                    include_inactive,
                    columns: super::export::all_columns(db, resource),
                    requested: vec![3, 400],
                };
                let plan =
                    Plan::compute(std::sync::Arc::clone(&data), spec.clone(), 4_096, None).unwrap();
                let mut planned = Vec::new();
                for file in 0..plan.files.len() {
                    planned.extend(plan.chunk(file, plan.files[file].first, u64::MAX).0);
                }
                let entity = if resource == Resource::Contributions {
                    Entity::Contribution
                } else {
                    Entity::Contact
                };
                let mut scanned = Vec::new();
                for index in 0..db.count(entity) {
                    super::export::unit_rows(db, &spec, index, &mut scanned);
                }
                assert_eq!(
                    String::from_utf8_lossy(&planned),
                    String::from_utf8_lossy(&scanned),
                    "{resource:?} {from}..{to} inactive={include_inactive}"
                );
                assert!(
                    plan.rows > 0 || from < end - 100 * day,
                    "{resource:?} selects rows"
                );
            }
        }
    }
}

#[test]
fn same_seed_same_changes_other_seed_differs() {
    let config = EveryActionConfig::small();
    let (mut a, mut b) = (EveryActionData::new(&config), EveryActionData::new(&config));
    assert_eq!(a.advance(), b.advance());
    let mut other = config.clone();
    other.seed += 1;
    let mut c = EveryActionData::new(&other);
    assert_ne!(a.advance(), c.advance());
}

// ---------------------------------------------------------------------------------------------
// Auth and modes

/// The `Date` header is the server's clock, the one its 90-day limit and default
/// `dateChangedTo` use; the host's clock (years later here) would mislead a client that asks the
/// server what time it is.
#[tokio::test]
async fn the_date_header_is_the_simulated_clock() {
    let sim = small().await;
    let date_of = |response: &reqwest::Response| {
        let text = response.headers()["date"].to_str().unwrap().to_owned();
        DateTime::<Utc>::from(httpdate::parse_http_date(&text).unwrap())
    };
    let api = Api::new(&sim, Mode::MyCampaign);
    let profile = api
        .http
        .get(format!("{}/v4/apiKeyProfiles", api.base))
        .basic_auth(&api.user, Some(&api.password))
        .send()
        .await
        .unwrap();
    assert_eq!(date_of(&profile), sim.now());
    sim.advance(2);
    let refused = client()
        .get(format!("{}/v4/apiKeyProfiles", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(date_of(&refused), sim.now());
    assert_eq!(
        sim.now(),
        sim.config().data_end + TimeDelta::days(2),
        "frozen, moved by advance only"
    );
}

#[tokio::test]
async fn modes_reach_different_databases_and_bad_credentials_get_401() {
    let sim = small().await;
    let campaign = Api::new(&sim, Mode::MyCampaign);
    let voters = Api::new(&sim, Mode::MyVoters);
    let (status, profile) = campaign.get("/v4/apiKeyProfiles").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["count"], 1);
    assert_eq!(profile["nextPageLink"], Value::Null);
    assert_eq!(
        profile["items"][0]["databaseName"],
        sim.config().my_campaign.database_name
    );
    let (_, voter_profile) = voters.get("/v4/apiKeyProfiles").await;
    assert_eq!(
        voter_profile["items"][0]["databaseName"],
        sim.config().my_voters.database_name
    );

    let (_, ours) = campaign.get("/v4/activistCodes").await;
    let (_, theirs) = voters.get("/v4/activistCodes").await;
    let (ours, theirs) = (
        ids(ours["items"].as_array().unwrap(), "activistCodeId"),
        ids(theirs["items"].as_array().unwrap(), "activistCodeId"),
    );
    assert_eq!(
        ours.len() as u64,
        sim.config().my_campaign.activist_codes.initial
    );
    assert_eq!(
        theirs.len() as u64,
        sim.config().my_voters.activist_codes.initial
    );
    assert!(ours.iter().all(|id| !theirs.contains(id)));

    let key = sim.config().api_key.clone();
    let app = sim.application_name().to_owned();
    for (user, password) in [
        (app.as_str(), format!("{key}|2")),
        (app.as_str(), key.clone()),
        (
            app.as_str(),
            "00000000-0000-0000-0000-000000000000|1".to_owned(),
        ),
        ("someoneElse", format!("{key}|1")),
    ] {
        let (status, body) = Api::with_password(&sim, user, &password)
            .get("/v4/activistCodes")
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{user}:{password}");
        assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
        assert!(body["errors"][0]["text"]
            .as_str()
            .unwrap()
            .contains("denied"));
    }
    let anonymous = client()
        .get(format!("{}/v4/events", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    // The key's GUID is case-insensitive.
    let upper = Api::with_password(&sim, &app, &format!("{}|1", key.to_uppercase()));
    assert_eq!(upper.get("/v4/apiKeyProfiles").await.0, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// Lists

#[tokio::test]
async fn top_has_a_default_a_maximum_and_a_400_above_it() {
    let sim = small().await;
    let api = Api::new(&sim, Mode::MyCampaign);
    let (status, page) = api.get("/v4/events").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 50);
    assert_eq!(page["count"], 130);
    let next = page["nextPageLink"].as_str().unwrap();
    assert_eq!(
        next,
        format!("{}/v4/events?$top=50&$skip=50", sim.base_url())
    );

    let (status, refused) = api.get("/v4/events?$top=51").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(refused["errors"][0]["code"], "INVALID_PARAMETER");
    assert_eq!(refused["errors"][0]["properties"], json!(["$top"]));
    assert_eq!(api.get("/v4/codes?$top=200").await.0, StatusCode::OK);
    assert_eq!(
        api.get("/v4/codes?$top=201").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(api.get("/v4/codes?$top=0").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        api.get("/v4/codes?$top=ten").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.get("/v4/codes?$skip=-1").await.0,
        StatusCode::BAD_REQUEST
    );

    // `users` has a default but no maximum: an empty `$top=` returns everything.
    let (_, users) = api.get("/v4/users?$top=").await;
    assert_eq!(
        users["items"].as_array().unwrap().len() as u64,
        sim.config().my_campaign.users
    );
    assert_eq!(users["nextPageLink"], Value::Null);
    let (_, two) = api.get("/v4/users?$top=2").await;
    assert_eq!(two["items"].as_array().unwrap().len(), 2);
    assert_eq!(api.get("/v4/users?$top=5000").await.0, StatusCode::OK);

    // $orderby
    let (_, sorted) = api.get("/v4/codes?$orderby=name%20desc&$top=200").await;
    let names: Vec<String> = sorted["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(names.windows(2).all(|pair| pair[0] >= pair[1]), "{names:?}");
    assert_eq!(
        api.get("/v4/codes?$orderby=shoeSize").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn next_page_link_as_given_reaches_every_record_once_and_re_adding_parameters_is_caught() {
    let sim = small().await;
    let api = Api::new(&sim, Mode::MyCampaign);
    let after = "2024-11-01";
    let first = format!("/v4/events?startingAfter={after}&$expand=shifts,locations&$top=20");
    let (_, page) = api.get(&first).await;
    let next = page["nextPageLink"].as_str().unwrap().to_owned();
    assert!(next.starts_with(&sim.base_url()), "absolute: {next}");
    assert!(
        next.contains("startingAfter=2024-11-01") && next.contains("$expand=shifts,locations"),
        "{next}"
    );
    assert!(
        next.contains("$top=20") && next.contains("$skip=20"),
        "{next}"
    );

    let items = api.all_pages(&first).await;
    let got = ids(&items, "eventId");
    let unique: BTreeSet<u64> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "no record twice");
    assert!(items.iter().all(|event| event["shifts"].is_array()
        && event["locations"].is_array()
        && event["roles"].is_null()));
    let cutoff: DateTime<Utc> = "2024-11-01T04:00:00Z".parse().unwrap();
    let expected: BTreeSet<u64> = sim
        .truth()
        .list(Mode::MyCampaign, ListEndpoint::Events, "shifts,locations")
        .iter()
        .filter(|event| {
            DateTime::parse_from_rfc3339(event["startDate"].as_str().unwrap()).unwrap() > cutoff
        })
        .map(|event| event["eventId"].as_u64().unwrap())
        .collect();
    assert_eq!(unique, expected);
    assert!(expected.len() > 40, "several pages: {}", expected.len());
    assert!(sim.refusals().is_empty());

    // The parsons bug: re-adding the original parameters to the link.
    let piled = format!("{next}&startingAfter={after}&$expand=shifts,locations&$top=20");
    let (status, body) = api.get(&piled).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errors"][0]["code"], "NOT_FOUND");
    let refusals = sim.refusals();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].path, "/v4/events");
    assert_eq!(refusals[0].parameter, "startingAfter");
    assert_eq!(
        api.get("/v4/codes?$top=5&$TOP=5").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn empty_results_have_the_documented_shape() {
    let sim = small().await;
    let api = Api::new(&sim, Mode::MyCampaign);
    let (status, text) = api.get_text("/v4/activistCodes?name=no-such-code").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, r#"{"items":[],"nextPageLink":null,"count":0}"#);
    let (_, beyond) = api.get("/v4/activistCodes?$skip=500").await;
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["nextPageLink"], Value::Null);
    assert_eq!(
        beyond["count"],
        sim.config().my_campaign.activist_codes.initial
    );
    // The shared empty-page fault keeps the envelope's shape.
    sim.control()
        .faults()
        .add(FaultRule::on_path("/v4/savedLists", Fault::EmptyPage).times(1));
    let (_, emptied) = api.get_text("/v4/savedLists").await;
    assert!(
        emptied.starts_with(r#"{"items":[],"nextPageLink":null,"count":"#),
        "{emptied}"
    );
}

#[tokio::test]
async fn saved_lists_can_keep_a_next_link_on_empty_pages() {
    let mut config = EveryActionConfig::small();
    config.saved_lists_link_on_empty_page = true;
    let sim = EveryActionSimulator::start(config).await.unwrap();
    let api = Api::new(&sim, Mode::MyCampaign);
    let mut seen = Vec::new();
    let mut target = "/v4/savedLists?$top=5".to_owned();
    let mut pages = 0;
    loop {
        let (_, page) = api.get(&target).await;
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(
            page["nextPageLink"].is_string(),
            "page {pages} keeps a link"
        );
        if items.is_empty() {
            break; // what parsons does
        }
        seen.extend(ids(items, "savedListId"));
        target = page["nextPageLink"].as_str().unwrap().to_owned();
    }
    assert_eq!(pages, 3);
    let truth = ids(
        &sim.truth()
            .list(Mode::MyCampaign, ListEndpoint::SavedLists, ""),
        "savedListId",
    );
    assert_eq!(seen, truth);

    let plain = small().await;
    let (_, last) = Api::new(&plain, Mode::MyCampaign)
        .get("/v4/savedLists?$top=5&$skip=5")
        .await;
    assert_eq!(last["nextPageLink"], Value::Null);
}

#[tokio::test]
async fn users_can_be_forbidden_and_bare_arrays_are_bare() {
    let mut config = EveryActionConfig::small();
    config.users_forbidden = true;
    let sim = EveryActionSimulator::start(config).await.unwrap();
    let api = Api::new(&sim, Mode::MyCampaign);
    let (status, body) = api.get("/v4/users").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["errors"][0]["code"], "FORBIDDEN");

    let (status, types) = api.get("/v4/events/types").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        types.as_array().unwrap().len() as u64,
        sim.config().my_campaign.event_types
    );
    assert!(types[0]["roles"].is_array() && types[0]["statuses"].is_array());
    let (_, contact_fields) = api
        .get("/v4/customFields?customFieldsGroupType=Contacts")
        .await;
    let (_, gift_fields) = api
        .get("/v4/customFields?customFieldsGroupType=Contributions")
        .await;
    assert_eq!(
        contact_fields.as_array().unwrap().len() as u64,
        sim.config().my_campaign.contact_custom_fields
    );
    assert_eq!(
        gift_fields.as_array().unwrap().len() as u64,
        sim.config().my_campaign.contribution_custom_fields
    );
    assert!(gift_fields
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["customFieldGroupType"] == "Contributions"));
    assert_eq!(
        api.get("/v4/customFields?customFieldsGroupType=Events")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    let (_, questions) = api.get("/v4/surveyQuestions").await;
    assert!(questions["items"][0]["responses"].as_array().unwrap().len() >= 2);
    let (_, codes) = api.get("/v4/codes?$expand=supportedEntities").await;
    assert!(codes["items"][0]["supportedEntities"].is_array());
    assert_eq!(
        api.get("/v4/events?$expand=tickets").await.0,
        StatusCode::BAD_REQUEST
    );
}

// ---------------------------------------------------------------------------------------------
// Changed entity export jobs

#[tokio::test]
async fn discovery_endpoints_describe_the_csv() {
    let sim = small().await;
    let api = Api::new(&sim, Mode::MyCampaign);
    let (_, resources) = api.get("/v4/changedEntityExportJobs/resources").await;
    assert_eq!(
        resources,
        json!([
            "Contacts",
            "ContactsActivistCodes",
            "ContactsSurveyResponses",
            "Contributions"
        ])
    );
    let (_, fields) = api.get("/v4/changedEntityExportJobs/fields/Contacts").await;
    let names: Vec<&str> = fields
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fieldName"].as_str().unwrap())
        .collect();
    assert_eq!(
        &names[..4],
        ["VanID", "ChangeTypeID", "DateChanged", "DateCreated"]
    );
    assert!(
        names.iter().any(|name| name.starts_with("CF")),
        "custom fields listed: {names:?}"
    );
    assert_eq!(
        names.len(),
        sim.truth()
            .export_columns(Mode::MyCampaign, Resource::Contacts)
            .len()
    );
    let (_, types) = api
        .get("/v4/changedEntityExportJobs/changeTypes/Contacts")
        .await;
    assert_eq!(
        types[3],
        json!({"changeTypeID": 4, "changeTypeName": "Suppressed", "Description": "The contact was suppressed"})
    );
    assert_eq!(
        api.get("/v4/changedEntityExportJobs/fields/Shoes").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_job_goes_pending_in_process_complete_and_splits_its_csv_by_size() {
    let sim = small().await;
    let api = Api::new(&sim, Mode::MyCampaign);
    let body = json!({
        "dateChangedFrom": days_ago(&sim, 89),
        "dateChangedTo": null,
        "resourceType": "Contacts",
        "requestedFields": ["Email", "City"],
        "requestedCustomFieldIds": [157],
        "fileSizeKbLimit": 2,
        "includeInactive": false,
        "excludeChangesFromSelf": true,
        "shoeSize": 42,
    });
    let (status, created) = api.post("/v4/changedEntityExportJobs", &body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["jobStatus"], "Pending");
    assert_eq!(created["resourceType"], "Contacts");
    assert_eq!(created["requestedFields"], json!(["Email", "City"]));
    assert_eq!(created["requestedCustomFieldIds"], json!([157]));
    assert_eq!(created["fileSizeKbLimit"], 2);
    assert_eq!(created["excludeChangesFromSelf"], true);
    assert!(
        created.get("shoeSize").is_none(),
        "unknown properties are not accepted"
    );
    assert!(created["dateChangedTo"]
        .as_str()
        .unwrap()
        .ends_with("-04:00"));
    let id = created["exportJobId"].as_u64().unwrap();

    let mut statuses = Vec::new();
    let mut job = Value::Null;
    for _ in 0..3 {
        job = api
            .get(&format!("/v4/changedEntityExportJobs/{id}"))
            .await
            .1;
        statuses.push(job["jobStatus"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses, ["Pending", "InProcess", "Complete"]);
    assert_eq!(job["message"], "Finished processing export job");
    assert_eq!(job["code"], Value::Null);
    assert_eq!(job["includeInactive"], "false");
    let expired = job["files"][0]["dateExpired"].as_str().unwrap();
    let fraction = expired.split('.').nth(1).unwrap();
    assert_eq!(
        fraction.len(),
        "2106809-04:00".len(),
        "seven digits and an offset: {expired}"
    );

    let files = api.files(&job).await;
    assert!(files.len() >= 3, "{} files", files.len());
    let header = &files[0].0;
    assert_eq!(header.last().unwrap(), "CF157");
    assert!(header.contains(&"Email".to_owned()) && !header.contains(&"Phone".to_owned()));
    let mut keys = Vec::new();
    for (file_header, rows) in &files {
        assert_eq!(file_header, header, "every file repeats the header");
        keys.extend(rows.iter().map(|row| row["VanID"].parse::<u64>().unwrap()));
    }
    for file in job["files"].as_array().unwrap() {
        let bytes = api
            .get_text(file["downloadUrl"].as_str().unwrap())
            .await
            .1
            .len();
        assert!(bytes <= 2 * 1024, "file of {bytes} bytes");
    }
    assert_eq!(
        keys.len() as u64,
        job["exportedRecordCount"].as_u64().unwrap()
    );
    let unique: BTreeSet<u64> = keys.iter().copied().collect();
    assert_eq!(unique.len(), keys.len(), "every record once");
    let live: BTreeSet<u64> = sim
        .truth()
        .live_keys(Mode::MyCampaign, Resource::Contacts)
        .into_iter()
        .collect();
    assert_eq!(
        unique, live,
        "the small data set lies wholly inside the window"
    );

    // The rows are the truth's rows.
    let truth: BTreeMap<u64, ExportRecord> = sim
        .truth()
        .export(Mode::MyCampaign, Resource::Contacts)
        .map(|r| (r.key, r))
        .collect();
    for (_, rows) in &files {
        for row in rows {
            let record = &truth[&row["VanID"].parse::<u64>().unwrap()];
            for (column, value) in row {
                assert_eq!(&record.fields[column], value, "{column}");
            }
        }
    }
    // The other database cannot see the job.
    let (status, _) = Api::new(&sim, Mode::MyVoters)
        .get(&format!("/v4/changedEntityExportJobs/{id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn job_requests_are_validated() {
    let sim = small().await;
    let api = Api::new(&sim, Mode::MyCampaign);
    let post = |body: Value| {
        let api = &api;
        async move { api.post("/v4/changedEntityExportJobs", &body).await }
    };
    let (status, body) =
        post(json!({"resourceType": "Contacts", "dateChangedFrom": days_ago(&sim, 91)})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["code"], "INVALID_PARAMETER");
    assert_eq!(body["errors"][0]["properties"], json!(["dateChangedFrom"]));
    assert!(body["errors"][0]["text"]
        .as_str()
        .unwrap()
        .contains("90 days"));
    let (status, _) =
        post(json!({"resourceType": "Contacts", "dateChangedFrom": days_ago(&sim, 90)})).await;
    assert_eq!(status, StatusCode::CREATED, "exactly 90 days is allowed");
    let future = rfc3339(sim.now() + TimeDelta::hours(1));
    assert_eq!(
        post(json!({"resourceType": "Contacts", "dateChangedFrom": future}))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let (status, body) = post(json!({"resourceType": "Contacts", "dateChangedFrom": days_ago(&sim, 5), "dateChangedTo": days_ago(&sim, 6)})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["errors"][0]["properties"],
        json!(["dateChangedFrom", "dateChangedTo"])
    );
    assert_eq!(
        post(json!({"resourceType": "Shoes", "dateChangedFrom": days_ago(&sim, 5)}))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(json!({"dateChangedFrom": days_ago(&sim, 5)})).await.0,
        StatusCode::BAD_REQUEST
    );
    let (_, body) = post(json!({"resourceType": "Contacts", "dateChangedFrom": days_ago(&sim, 5), "requestedFields": ["Email", "ShoeSize"]})).await;
    assert_eq!(
        body["errors"][0]["properties"],
        json!(["requestedFields[1]"])
    );
    assert_eq!(
        post(json!({"resourceType": "Contacts", "dateChangedFrom": "yesterday"}))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(post(json!({"resourceType": "Contacts", "dateChangedFrom": days_ago(&sim, 5), "fileSizeKbLimit": 0})).await.0, StatusCode::BAD_REQUEST);
    // Dates may carry an offset or be local dates.
    let (status, created) = post(
        json!({"resourceType": "contributions", "dateChangedFrom": "2024-12-01T10:00:00+02:00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["dateChangedFrom"], "2024-12-01T04:00:00-04:00");
    let (_, created) = post(json!({"resourceType": "ContactsActivistCodes", "dateChangedFrom": "2024-12-01", "requestedCustomFieldIds": [157]})).await;
    assert_eq!(created["dateChangedFrom"], "2024-12-01T00:00:00-04:00");
    assert!(
        created.get("requestedCustomFieldIds").is_none(),
        "no custom fields there: not accepted"
    );

    let not_json = client()
        .post(format!("{}/v4/changedEntityExportJobs", sim.base_url()))
        .basic_auth(sim.application_name(), Some(sim.password(Mode::MyCampaign)))
        .header("content-type", "text/plain")
        .body(r#"{"resourceType":"Contacts"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        api.get("/v4/changedEntityExportJobs/999").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn download_links_expire_on_the_simulated_clock() {
    let sim = small().await;
    let api = Api::new(&sim, Mode::MyCampaign);
    let (_, job) = api
        .run_job(&json!({"resourceType": "Contributions", "dateChangedFrom": days_ago(&sim, 30)}))
        .await;
    let url = job["files"][0]["downloadUrl"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&sim.base_url()));
    let anonymous = client().get(&url).send().await.unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::OK,
        "blob links need no auth"
    );
    assert!(anonymous.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    sim.control()
        .clock()
        .advance(Duration::from_secs(19 * 86_400));
    assert_eq!(api.get_text(&url).await.0, StatusCode::OK);
    sim.control()
        .clock()
        .advance(Duration::from_secs(2 * 86_400));
    let (status, body) = api.get(&url).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(body["errors"][0]["code"], "FILE_EXPIRED");
    let forged = url.replace(".csv", "0.csv");
    assert_eq!(api.get_text(&forged).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_record_changed_after_the_job_was_created_is_exported_in_its_current_version() {
    let sim = small().await;
    let api = Api::new(&sim, Mode::MyCampaign);
    let (_, created) = api
        .post(
            "/v4/changedEntityExportJobs",
            &json!({"resourceType": "Contacts", "dateChangedFrom": days_ago(&sim, 89), "requestedFields": ["Email", "Phone", "City"]}),
        )
        .await;
    let id = created["exportJobId"].as_u64().unwrap();
    assert_eq!(
        api.get(&format!("/v4/changedEntityExportJobs/{id}"))
            .await
            .1["jobStatus"],
        "Pending"
    );
    let before: BTreeMap<u64, ExportRecord> = sim
        .truth()
        .export(Mode::MyCampaign, Resource::Contacts)
        .map(|r| (r.key, r))
        .collect();
    let summary = sim.advance(1);
    let edited: Vec<u64> = summary
        .changes
        .iter()
        .filter(|c| {
            c.mode == Mode::MyCampaign && c.table == "Contacts" && c.kind == ChangeKind::Modified
        })
        .map(|c| c.id)
        .collect();
    assert!(!edited.is_empty());
    let mut job = Value::Null;
    for _ in 0..2 {
        job = api
            .get(&format!("/v4/changedEntityExportJobs/{id}"))
            .await
            .1;
    }
    assert_eq!(job["jobStatus"], "Complete");
    let rows: BTreeMap<u64, BTreeMap<String, String>> = api
        .files(&job)
        .await
        .into_iter()
        .flat_map(|(_, rows)| rows)
        .map(|row| (row["VanID"].parse().unwrap(), row))
        .collect();
    let now: BTreeMap<u64, ExportRecord> = sim
        .truth()
        .export(Mode::MyCampaign, Resource::Contacts)
        .map(|r| (r.key, r))
        .collect();
    let edited: Vec<u64> = edited.into_iter().filter(|id| now[id].active).collect();
    assert!(!edited.is_empty());
    for id in edited {
        let row = &rows[&id];
        assert_eq!(
            row["DateChanged"], now[&id].fields["DateChanged"],
            "current version of {id}"
        );
        assert_ne!(row["DateChanged"], before[&id].fields["DateChanged"]);
        let changed = DateTime::parse_from_rfc3339(&row["DateChanged"]).unwrap();
        let to = DateTime::parse_from_rfc3339(job["dateChangedTo"].as_str().unwrap()).unwrap();
        assert!(changed > to, "changed after dateChangedTo, still exported");
        assert_eq!(row["ChangeTypeID"], "2");
    }
}

#[tokio::test]
async fn include_inactive_adds_suppressed_and_deleted_rows_marked_as_such() {
    let sim = small().await;
    sim.advance(2);
    let api = Api::new(&sim, Mode::MyCampaign);
    let inactive: BTreeSet<u64> = sim
        .truth()
        .inactive_keys(Mode::MyCampaign, Resource::Contacts)
        .into_iter()
        .collect();
    assert!(inactive.len() >= 3, "{inactive:?}");
    let keys_of = |files: Vec<CsvFile>| -> BTreeMap<u64, String> {
        files
            .into_iter()
            .flat_map(|(_, rows)| rows)
            .map(|row| (row["VanID"].parse().unwrap(), row["ChangeTypeID"].clone()))
            .collect()
    };
    let body = |include: bool| json!({"resourceType": "Contacts", "dateChangedFrom": days_ago(&sim, 89), "includeInactive": include});
    let (_, without) = api.run_job(&body(false)).await;
    let without = keys_of(api.files(&without).await);
    assert!(without.keys().all(|key| !inactive.contains(key)));
    let (_, with) = api.run_job(&body(true)).await;
    let with = keys_of(api.files(&with).await);
    for key in &inactive {
        assert!(
            matches!(with[key].as_str(), "3" | "4"),
            "{key} marked {}",
            with[key]
        );
    }
    assert_eq!(with.len(), without.len() + inactive.len());
    assert!(with.values().any(|t| t == "4") && with.values().any(|t| t == "3"));

    // Per-person tables too: removed codes come back only with includeInactive.
    let body = |include: bool| json!({"resourceType": "ContactsActivistCodes", "dateChangedFrom": days_ago(&sim, 89), "includeInactive": include});
    let (_, job) = api.run_job(&body(true)).await;
    let rows: Vec<BTreeMap<String, String>> = api
        .files(&job)
        .await
        .into_iter()
        .flat_map(|(_, rows)| rows)
        .collect();
    let all: BTreeSet<u64> = rows
        .iter()
        .map(|r| r["ContactsActivistCodeID"].parse().unwrap())
        .collect();
    let truth_all: BTreeSet<u64> = sim
        .truth()
        .export(Mode::MyCampaign, Resource::ContactsActivistCodes)
        .map(|r| r.key)
        .collect();
    assert_eq!(all, truth_all);
    assert!(
        rows.iter().any(|r| r["ChangeTypeID"] == "3"),
        "a removed code"
    );
    let (_, job) = api.run_job(&body(false)).await;
    let live: BTreeSet<u64> = api
        .files(&job)
        .await
        .into_iter()
        .flat_map(|(_, rows)| rows)
        .map(|r| r["ContactsActivistCodeID"].parse().unwrap())
        .collect();
    assert_eq!(
        live,
        sim.truth()
            .live_keys(Mode::MyCampaign, Resource::ContactsActivistCodes)
            .into_iter()
            .collect()
    );
}

#[tokio::test]
async fn jobs_fail_when_scripted_or_too_big() {
    let mut config = EveryActionConfig::small();
    config.export.fail_jobs = vec![1];
    config.export.max_export_bytes = Some(4_000);
    let sim = EveryActionSimulator::start(config).await.unwrap();
    let api = Api::new(&sim, Mode::MyCampaign);
    let body = json!({"resourceType": "Contacts", "dateChangedFrom": days_ago(&sim, 89)});
    let (_, scripted) = api.run_job(&body).await;
    assert_eq!(scripted["jobStatus"], "Error");
    assert!(scripted["code"].is_string());
    assert_eq!(scripted["files"], json!([]));
    let (_, too_big) = api.run_job(&body).await;
    assert_eq!(too_big["jobStatus"], "Error");
    assert!(too_big["message"]
        .as_str()
        .unwrap()
        .contains("maximum size"));
    let small_window = json!({"resourceType": "Contacts", "dateChangedFrom": rfc3339(sim.now() - TimeDelta::hours(2))});
    let (_, fits) = api.run_job(&small_window).await;
    assert_eq!(fits["jobStatus"], "Complete", "{fits}");
    let jobs = sim.jobs();
    assert_eq!(
        jobs.iter().map(|j| j.finished).collect::<Vec<_>>(),
        [
            Some(JobStatus::Error),
            Some(JobStatus::Error),
            Some(JobStatus::Complete)
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Generations, determinism, faults, scale

#[tokio::test]
async fn advance_changes_suppresses_and_adds_deterministically() {
    let (a, b) = (small().await, small().await);
    let (api_a, api_b) = (
        Api::new(&a, Mode::MyCampaign),
        Api::new(&b, Mode::MyCampaign),
    );
    let live_before = a.truth().live_keys(Mode::MyCampaign, Resource::Contacts);
    let codes_before = a
        .truth()
        .list(Mode::MyCampaign, ListEndpoint::ActivistCodes, "");
    let summary = a.advance(3);
    assert_eq!(summary, b.advance(3));
    assert_eq!(a.generation(), 3);
    assert_eq!(a.now(), a.config().data_end + TimeDelta::days(3));
    let of = |kind: ChangeKind, table: &str| -> Vec<u64> {
        summary
            .changes
            .iter()
            .filter(|c| c.kind == kind && c.table == table && c.mode == Mode::MyCampaign)
            .map(|c| c.id)
            .collect()
    };
    let truth = a.truth();
    let live_after: BTreeSet<u64> = truth
        .live_keys(Mode::MyCampaign, Resource::Contacts)
        .into_iter()
        .collect();
    for id in of(ChangeKind::Added, "Contacts") {
        assert!(live_after.contains(&id) && !live_before.contains(&id));
    }
    let inactive: BTreeSet<u64> = truth
        .inactive_keys(Mode::MyCampaign, Resource::Contacts)
        .into_iter()
        .collect();
    for id in of(ChangeKind::Suppressed, "Contacts")
        .into_iter()
        .chain(of(ChangeKind::Deleted, "Contacts"))
    {
        assert!(inactive.contains(&id));
    }
    assert!(!of(ChangeKind::Suppressed, "Contacts").is_empty());
    assert!(!of(ChangeKind::Added, "Contributions").is_empty());
    assert!(!of(ChangeKind::Added, "ContactsSurveyResponses").is_empty());
    let codes_after = truth.list(Mode::MyCampaign, ListEndpoint::ActivistCodes, "");
    assert_ne!(codes_before, codes_after, "list edits");
    assert!(codes_after.iter().any(|c| c["status"] == "Archived"));
    for id in of(ChangeKind::Deleted, "codes") {
        assert!(truth
            .deleted_list_ids(Mode::MyCampaign, ListEndpoint::Codes)
            .contains(&id));
    }

    // Same seed, byte-identical pages and files.
    for path in [
        "/v4/events?$expand=shifts,locations,codes&$top=50&$skip=50",
        "/v4/surveyQuestions",
        "/v4/savedLists?$orderby=listCount%20desc",
    ] {
        let (page_a, page_b) = (api_a.get_text(path).await.1, api_b.get_text(path).await.1);
        let page_b = page_b.replace(&b.base_url(), &a.base_url());
        assert_eq!(page_a, page_b, "{path}");
    }
    let body = json!({"resourceType": "Contributions", "dateChangedFrom": days_ago(&a, 80), "requestedFields": ["Note", "PaymentType"], "requestedCustomFieldIds": [163]});
    let (_, job_a) = api_a.run_job(&body).await;
    let (_, job_b) = api_b.run_job(&body).await;
    let file_a = api_a
        .get_text(job_a["files"][0]["downloadUrl"].as_str().unwrap())
        .await
        .1;
    let file_b = api_b
        .get_text(job_b["files"][0]["downloadUrl"].as_str().unwrap())
        .await
        .1;
    assert_eq!(file_a, file_b);
    assert!(
        file_a.contains("\"Pledge fulfilled\nthank-you letter sent\""),
        "quoted line breaks"
    );

    let mut other = EveryActionConfig::small();
    other.seed += 1;
    let c = EveryActionSimulator::start(other).await.unwrap();
    assert_ne!(
        api_a.get_text("/v4/surveyQuestions").await.1,
        Api::new(&c, Mode::MyCampaign)
            .get_text("/v4/surveyQuestions")
            .await
            .1
    );
}

#[tokio::test]
async fn faults_answer_with_the_api_error_body_and_retry_after() {
    let sim = small().await;
    let api = Api::new(&sim, Mode::MyCampaign);
    sim.control().faults().add(FaultRule::on_request(
        1,
        Fault::TooManyRequests {
            retry_after_seconds: 7,
        },
    ));
    sim.control()
        .faults()
        .add(FaultRule::on_request(2, Fault::ServerError { status: 503 }));
    let response = client()
        .get(format!("{}/v4/events", sim.base_url()))
        .basic_auth(sim.application_name(), Some(sim.password(Mode::MyCampaign)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "TOO_MANY_REQUESTS");
    let response = client()
        .get(format!("{}/v4/events", sim.base_url()))
        .basic_auth(sim.application_name(), Some(sim.password(Mode::MyCampaign)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "SERVICE_UNAVAILABLE");
    assert!(body["errors"][0]["referenceCode"].is_string());
    assert_eq!(api.get("/v4/events?$top=1").await.0, StatusCode::OK);
    let (status, body) = api.get("/v4/nothingHere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errors"][0]["code"], "NOT_FOUND");
    let log = sim.control().log().matching("/v4/events");
    assert_eq!(log[0].header("authorization"), Some("Basic ***"));
}

#[tokio::test]
async fn a_million_people_serve_an_export_without_materialising_them() {
    let sim = EveryActionSimulator::start(EveryActionConfig::with_contacts(1_000_000))
        .await
        .unwrap();
    assert_eq!(sim.data().database(Mode::MyCampaign).overlay_len(), 0);
    let api = Api::new(&sim, Mode::MyCampaign);
    let started = Instant::now();
    let (_, job) = api
        .run_job(&json!({"resourceType": "Contacts", "dateChangedFrom": rfc3339(sim.now() - TimeDelta::hours(12)), "fileSizeKbLimit": 64}))
        .await;
    assert_eq!(job["jobStatus"], "Complete");
    let rows = job["exportedRecordCount"].as_u64().unwrap();
    assert!(rows > 100, "{rows} rows in the last 12 hours");
    let (header, first) = api.files(&job).await.swap_remove(0);
    assert_eq!(header[0], "VanID");
    assert!(!first.is_empty());
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    assert!(sim.jobs()[0].bytes < 2_000_000, "bounded output");
    assert_eq!(
        sim.data().database(Mode::MyCampaign).people_ever_created(),
        1_000_000
    );
    assert_eq!(
        sim.data().database(Mode::MyCampaign).overlay_len(),
        0,
        "nothing materialised"
    );
    sim.advance(1);
    let overlay = sim.data().database(Mode::MyCampaign).overlay_len();
    assert!(overlay > 0 && overlay < 100, "overlay of {overlay}");
}

#[tokio::test]
async fn the_default_debug_organisation_is_large_but_quick() {
    let config = EveryActionConfig::default();
    let json = serde_json::to_string(&config).unwrap();
    let back: EveryActionConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, config, "the configuration round-trips through JSON");
    let sim = EveryActionSimulator::start(config).await.unwrap();
    let api = Api::new(&sim, Mode::MyCampaign);
    let started = Instant::now();
    let events = api.all_pages("/v4/events?$expand=shifts").await;
    assert_eq!(events.len() as u64, sim.config().my_campaign.events.initial);
    let (_, job) = api
        .run_job(&json!({"resourceType": "Contributions", "dateChangedFrom": days_ago(&sim, 10)}))
        .await;
    assert_eq!(job["jobStatus"], "Complete");
    assert!(job["exportedRecordCount"].as_u64().unwrap() > 500);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    let response = client()
        .delete(format!("{}/v4/events", sim.base_url()))
        .basic_auth(sim.application_name(), Some(sim.password(Mode::MyCampaign)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "METHOD_NOT_ALLOWED");
}
