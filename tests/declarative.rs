//! The declarative engine and the Stripe simulator beyond the compliance suite: Stripe's list and
//! events facts as the simulator serves them, and the events' retention cliff.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use fivetran_source::connectors::stripe::simulator::{StripeConfig, StripeSimulator};
use fivetran_source::debug::host::{self, HostOptions};
use fivetran_source::declarative;
use fivetran_source::http::Tuning;

async fn get(sim: &StripeSimulator, path: &str) -> (u16, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .bearer_auth(sim.api_key())
        .send()
        .await
        .expect("the simulator answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_simulator_pages_newest_first_with_stripes_rules() {
    let sim = StripeSimulator::start(StripeConfig::small()).await.unwrap();
    let (status, first) = get(&sim, "/v1/customers?limit=7").await;
    assert_eq!(status, 200);
    assert_eq!(first["object"], "list");
    assert_eq!(first["has_more"], true);
    let data = first["data"].as_array().unwrap();
    assert_eq!(data.len(), 7);
    let created: Vec<i64> = data
        .iter()
        .map(|c| c["created"].as_i64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "{created:?}");
    let last = data[6]["id"].as_str().unwrap();
    let (_, next) = get(
        &sim,
        &format!("/v1/customers?limit=100&starting_after={last}"),
    )
    .await;
    assert_eq!(next["data"].as_array().unwrap().len(), 30 - 7);
    assert_eq!(next["has_more"], false);
    let (_, back) = get(&sim, &format!("/v1/customers?limit=3&ending_before={last}")).await;
    let back: Vec<&Value> = back["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(
        back,
        data[3..6].iter().map(|c| &c["id"]).collect::<Vec<_>>()
    );
    let (status, both) = get(
        &sim,
        &format!("/v1/customers?starting_after={last}&ending_before={last}"),
    )
    .await;
    assert_eq!(
        (status, both["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );
    let (status, unknown) = get(&sim, "/v1/customers?starting_after=cus_nope").await;
    assert_eq!(
        (status, unknown["error"]["code"].as_str()),
        (400, Some("resource_missing"))
    );
    let (_, clamped) = get(&sim, "/v1/charges?limit=500").await;
    assert_eq!(clamped["data"].as_array().unwrap().len(), 30);
    // gte and gt differ where objects share a second.
    let t = created[0];
    let (_, gte) = get(&sim, &format!("/v1/customers?limit=100&created[gte]={t}")).await;
    let (_, gt) = get(&sim, &format!("/v1/customers?limit=100&created[gt]={t}")).await;
    let count = |v: &Value| v["data"].as_array().map_or(0, Vec::len);
    assert!(
        count(&gte) > count(&gt) + 1,
        "{} vs {}",
        count(&gte),
        count(&gt)
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let refused = reqwest::Client::new()
        .get(format!("{}/v1/customers", sim.base_url()))
        .bearer_auth("sk_test_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Invalid API Key"));
}

#[tokio::test]
async fn events_name_changes_and_expire_after_30_days() {
    let sim = StripeSimulator::start(StripeConfig::small()).await.unwrap();
    sim.advance(1);
    let (_, events) = get(&sim, "/v1/events?limit=100&types[]=customer.deleted").await;
    let deleted = events["data"].as_array().unwrap();
    assert_eq!(deleted.len(), 1, "{events}");
    let id = deleted[0]["data"]["object"]["id"].as_str().unwrap();
    let (status, gone) = get(&sim, &format!("/v1/customers/{id}")).await;
    assert_eq!((status, gone["deleted"].as_bool()), (200, Some(true)));
    let (_, wildcard) = get(&sim, "/v1/events?limit=100&type=customer.subscription.*").await;
    assert!(!wildcard["data"].as_array().unwrap().is_empty());
    sim.control()
        .clock()
        .advance(Duration::from_secs(31 * 86_400));
    let (_, later) = get(&sim, "/v1/events?limit=100").await;
    assert_eq!(
        later["data"].as_array().unwrap().len(),
        0,
        "events older than 30 days are gone"
    );
}

fn configuration(sim: &StripeSimulator) -> HashMap<String, String> {
    [
        ("api_key".to_owned(), sim.api_key().to_owned()),
        ("base_url".to_owned(), sim.base_url()),
    ]
    .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_past_the_event_retention_reads_everything_again() {
    let sim = StripeSimulator::start(StripeConfig::small()).await.unwrap();
    let connector = declarative::shipped(fivetran_source::connectors::stripe::DEFINITION)
        .unwrap()
        .with_tuning(Tuning::fast());
    let connector = Arc::new(connector);
    let dir = tempfile::tempdir().unwrap();
    let sync = |connector: Arc<declarative::Declarative>| {
        let mut options = HostOptions::new(configuration(&sim), dir.path());
        options.setup_tests = false;
        host::sync(connector, options)
    };
    let first = sync(Arc::clone(&connector)).await.unwrap();
    assert!(first.succeeded(), "{:?}", first.failure);
    let quiet = sync(Arc::clone(&connector)).await.unwrap();
    assert!(
        quiet.succeeded() && quiet.warnings.is_empty(),
        "{:?}",
        quiet.warnings
    );
    // Only the events' 60-second lookback is read again, not the list.
    let reread = quiet
        .records_by_table
        .get("customers")
        .copied()
        .unwrap_or(0);
    assert!(reread < 10, "{reread} customers read again");
    sim.control()
        .clock()
        .advance(Duration::from_secs(31 * 86_400));
    let late = sync(Arc::clone(&connector)).await.unwrap();
    assert!(late.succeeded(), "{:?}", late.failure);
    assert!(
        late.warnings
            .iter()
            .any(|w| w.contains("30-day event retention")),
        "{:?}",
        late.warnings
    );
    // All 30 again (the table's truncate counts as one more operation).
    let again = late.records_by_table.get("customers").copied().unwrap_or(0);
    assert!(again >= 30, "{again} customers read again");
}

// ---- Close: offset pages past the maximum skip, deletes from the event log, 429s ----

#[path = "compliance/close.rs"]
mod close_subject;

use fivetran_source::compliance::{compare, Sim};
use fivetran_source::connectors::close::simulator::{CloseConfig, CloseSimulator};
use fivetran_source::simulator::{Fault, FaultRule, RateLimitConfig};

async fn close_get(sim: &CloseSimulator, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .basic_auth(sim.api_key(), Some(""))
        .send()
        .await
        .expect("the simulator answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_close_simulator_keeps_closes_rules() {
    let sim = CloseSimulator::start(CloseConfig::small()).await.unwrap();
    let (status, headers, first) =
        close_get(&sim, "/api/v1/contact/?_limit=30&_order_by=date_updated").await;
    assert_eq!(status, 200);
    assert_eq!(first["has_more"], true);
    assert_eq!(first["data"].as_array().unwrap().len(), 30);
    let updated: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["date_updated"].as_str().unwrap())
        .collect();
    assert!(updated.windows(2).all(|w| w[0] <= w[1]), "{updated:?}");
    assert!(
        updated[0].ends_with("+00:00") && updated[0].len() == 32,
        "{}",
        updated[0]
    );
    assert!(headers.get("ratelimit").is_none(), "no budget, no header");
    // Past the maximum skip: a 400 that names it.
    let (status, _, refused) = close_get(&sim, "/api/v1/contact/?_skip=41&_limit=10").await;
    assert_eq!(status, 400);
    assert!(
        refused["error"].as_str().unwrap().contains("max_skip = 40"),
        "{refused}"
    );
    let (status, _, _) = close_get(&sim, "/api/v1/lead/?_limit=201").await;
    assert_eq!(status, 400, "above the resource's maximum _limit");
    // Leads by Close's search syntax, and a bound that excludes.
    let since = updated[20];
    let (_, _, leads) = close_get(
        &sim,
        &format!(
            "/api/v1/lead/?query=date_updated%3E%3D%22{}%22%20sort%3Adate_updated&_limit=200",
            since.replace('+', "%2B")
        ),
    )
    .await;
    let all = close_get(&sim, "/api/v1/lead/?_limit=200").await.2;
    let (some, every) = (
        leads["total_results"].as_u64().unwrap(),
        all["total_results"].as_u64().unwrap(),
    );
    assert!(0 < some && some < every, "{some} of {every}");
    let dates: Vec<&str> = leads["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["date_updated"].as_str().unwrap())
        .collect();
    assert!(
        dates.windows(2).all(|w| w[0] <= w[1]) && dates[0] >= since,
        "sort:date_updated"
    );
    assert_eq!(all["total_results"], 250);
    // A refused key.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let refused = reqwest::Client::new()
        .get(format!("{}/api/v1/me/", sim.base_url()))
        .basic_auth("api_wrong", Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    // Deletes land in the event log, and its cursor pages.
    sim.advance(1);
    let (_, _, events) = close_get(&sim, "/api/v1/event/?object_type=lead&action=deleted").await;
    let deleted = events["data"].as_array().unwrap();
    assert_eq!(deleted.len(), 1, "{events}");
    let (_, _, paged) = close_get(&sim, "/api/v1/event/?_limit=2").await;
    let cursor = paged["cursor_next"].as_str().unwrap();
    let (_, _, next) = close_get(&sim, &format!("/api/v1/event/?_limit=2&_cursor={cursor}")).await;
    assert_ne!(paged["data"][0]["id"], next["data"][0]["id"]);
    // Over the budget: Close's 429 body and headers.
    sim.control()
        .rate_limiter()
        .configure(RateLimitConfig::per_window(1, 1));
    let (ok, headers, _) = close_get(&sim, "/api/v1/user/").await;
    assert_eq!(ok, 200);
    assert!(
        headers["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("limit=1, remaining=0"),
        "{headers:?}"
    );
    let (status, headers, body) = close_get(&sim, "/api/v1/user/").await;
    assert_eq!(status, 429);
    assert!(headers.contains_key("retry-after") && headers.contains_key("ratelimit"));
    assert!(
        body["error"]["rate_reset"].as_f64().unwrap() > 0.0,
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_syncs_past_the_maximum_skip_and_lands_changes_and_deletes_exactly() {
    let subject = close_subject::CloseSubject;
    let sim = close_subject::CloseSim(CloseSimulator::start(CloseConfig::small()).await.unwrap());
    let connector = fivetran_source::compliance::Subject::connector(&subject);
    let dir = tempfile::tempdir().unwrap();
    let sync = || {
        let mut options = HostOptions::new(sim.configuration(), dir.path());
        options.setup_tests = false;
        host::sync(Arc::clone(&connector), options)
    };
    let schema = connector.schema(&sim.configuration()).await.unwrap();
    // Two 429s on the first page of contacts, then the rest.
    sim.0.control().faults().add(
        FaultRule::on_path(
            "/api/v1/contact/",
            Fault::TooManyRequests {
                retry_after_seconds: 1,
            },
        )
        .times(2),
    );
    let first = sync().await.unwrap();
    assert!(first.succeeded(), "{:?}", first.failure);
    let diff = compare(dir.path(), &schema, &sim.truth()).unwrap();
    assert!(diff.is_empty(), "{diff}");
    let log = sim.0.control().log();
    let contacts = log.matching("/api/v1/contact/");
    assert_eq!(contacts.iter().filter(|r| r.status == Some(429)).count(), 2);
    // 250 leads in pages of 200 and 150 contacts in pages of 100 with a maximum skip of 40: the
    // second page is refused, and the list restarts from the largest date_updated seen.
    for (path, first_query) in [
        ("/api/v1/lead/", "query"),
        ("/api/v1/contact/", "date_updated__gte"),
    ] {
        let requests = log.matching(path);
        let refused = requests
            .iter()
            .position(|r| r.status == Some(400))
            .unwrap_or_else(|| panic!("{path}: no request past the maximum skip"));
        // The first page of a first sync: leads carry the start date, contacts no bound.
        assert_eq!(
            requests[0].query_param(first_query).is_some(),
            path == "/api/v1/lead/",
            "{path}"
        );
        let restarted = &requests[refused + 1];
        assert_eq!(restarted.query_param("_skip"), Some("0"), "{path}");
        assert!(
            restarted
                .query
                .as_deref()
                .unwrap_or_default()
                .contains("date_updated"),
            "{path}: {:?}",
            restarted.query
        );
    }
    // Changes and deletes between syncs land exactly.
    sim.advance();
    sim.advance();
    let second = sync().await.unwrap();
    assert!(second.succeeded(), "{:?}", second.failure);
    let diff = compare(dir.path(), &schema, &sim.truth()).unwrap();
    assert!(diff.is_empty(), "{diff}");
    let deletes = log.matching("/api/v1/event/");
    assert!(deletes
        .iter()
        .any(|r| r.query_param("action") == Some("deleted")
            && r.query_param("object_type") == Some("activity.call")
            && r.query_param("date_updated__gte").is_some()));
}

// ---- HubSpot: list first, then search by last-modified date past its result cap; archived deletes ----

#[path = "compliance/hubspot.rs"]
mod hubspot_subject;

use fivetran_source::connectors::hubspot::simulator::{HubspotConfig, HubspotSimulator};

#[tokio::test]
async fn the_hubspot_simulator_keeps_hubspots_rules() {
    let sim = HubspotSimulator::start(HubspotConfig::small())
        .await
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let list = |q: &str| {
        client
            .get(format!("{}/crm/v3/objects/contacts?{q}", sim.base_url()))
            .bearer_auth(sim.token())
            .send()
    };
    let page: Value = list("limit=30&associations=companies")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["results"].as_array().unwrap().len(), 30);
    let after = page["paging"]["next"]["after"].as_str().unwrap().to_owned();
    assert!(page["results"][0]["properties"]["lastmodifieddate"].is_string());
    assert!(
        page["results"][0]["properties"]
            .get("lifecyclestage")
            .is_none(),
        "default properties only"
    );
    let last: Value = list(&format!("limit=30&after={after}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(last["results"].as_array().unwrap().len(), 10);
    assert!(last.get("paging").is_none(), "no paging on the last page");
    let search = |body: Value| {
        client
            .post(format!("{}/crm/v3/objects/contacts/search", sim.base_url()))
            .bearer_auth(sim.token())
            .json(&body)
            .send()
    };
    let found: Value = search(json!({"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}]}],
        "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}], "limit": 100})).await.unwrap().json().await.unwrap();
    assert_eq!(found["total"], 40);
    let capped = search(json!({"limit": 200, "after": "100"})).await.unwrap();
    assert_eq!(
        capped.status().as_u16(),
        400,
        "after + limit past the 200-result cap"
    );
    let body: Value = capped.json().await.unwrap();
    assert_eq!(body["category"], "VALIDATION_ERROR");
    sim.control()
        .rate_limiter()
        .configure(RateLimitConfig::per_window(1, 10));
    let ok = list("limit=1").await.unwrap();
    assert_eq!(ok.headers()["x-hubspot-ratelimit-remaining"], "0");
    let limited = list("limit=1").await.unwrap();
    assert_eq!(limited.status().as_u16(), 429);
    assert!(limited.headers().get("retry-after").is_none());
    let body: Value = limited.json().await.unwrap();
    assert_eq!(
        (body["errorType"].as_str(), body["policyName"].as_str()),
        (Some("RATE_LIMIT"), Some("TEN_SECONDLY_ROLLING"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubspot_searches_changes_past_the_result_cap_and_lands_archives_exactly() {
    let subject = hubspot_subject::HubspotSubject;
    let sim = hubspot_subject::HubspotSim(
        HubspotSimulator::start(HubspotConfig::small())
            .await
            .unwrap(),
    );
    let connector = fivetran_source::compliance::Subject::connector(&subject);
    let dir = tempfile::tempdir().unwrap();
    let sync = || {
        let mut options = HostOptions::new(sim.configuration(), dir.path());
        options.setup_tests = false;
        host::sync(Arc::clone(&connector), options)
    };
    let schema = connector.schema(&sim.configuration()).await.unwrap();
    let first = sync().await.unwrap();
    assert!(first.succeeded(), "{:?}", first.failure);
    assert!(compare(dir.path(), &schema, &sim.truth())
        .unwrap()
        .is_empty());
    let log = sim.0.control().log();
    assert!(
        log.matching("/search").is_empty(),
        "a first sync reads the list endpoint"
    );
    // 25 generations: more changed contacts than one search reaches (200); two 429s on the search.
    sim.0.advance(25);
    sim.0.control().faults().add(
        FaultRule::on_path(
            "/crm/v3/objects/contacts/search",
            Fault::TooManyRequests {
                retry_after_seconds: 1,
            },
        )
        .times(2),
    );
    let second = sync().await.unwrap();
    assert!(second.succeeded(), "{:?}", second.failure);
    let diff = compare(dir.path(), &schema, &sim.truth()).unwrap();
    assert!(diff.is_empty(), "{diff}");
    let searches = log.matching("/crm/v3/objects/contacts/search");
    assert_eq!(searches.iter().filter(|r| r.status == Some(429)).count(), 2);
    let refused = searches
        .iter()
        .position(|r| r.status == Some(400))
        .expect("a search past the result cap");
    let filter = |r: &fivetran_source::simulator::LoggedRequest, i: usize| {
        r.body.as_ref().unwrap()["filterGroups"][0]["filters"][i]["value"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    let restarted = &searches[refused + 1];
    assert!(
        restarted.body.as_ref().unwrap().get("after").is_none(),
        "the restart starts at the first page"
    );
    // Sorted by hs_object_id: the restart keeps the date bound and goes on after the last id read
    // (Airbyte's way), so no number of records sharing one date can stop it.
    assert_eq!(
        filter(restarted, 0),
        filter(&searches[0], 0),
        "the date bound is kept"
    );
    assert_eq!(filter(&searches[0], 1), 0, "the first query starts at id 0");
    // Every query's first page goes on after a larger id than the one before.
    let starts: Vec<i64> = searches
        .iter()
        .filter(|r| {
            r.status == Some(200) && r.body.as_ref().is_some_and(|b| b.get("after").is_none())
        })
        .map(|r| filter(r, 1))
        .collect();
    assert!(starts.len() > 1 && starts[1] > 0, "{starts:?}");
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
    assert!(log
        .matching("/crm/v3/objects/deals")
        .iter()
        .any(|r| r.query_param("archived") == Some("true")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_in_the_query_authenticates_and_never_in_a_header() {
    let sim = hubspot_subject::HubspotSim(
        HubspotSimulator::start(HubspotConfig::small())
            .await
            .unwrap(),
    );
    let text = include_str!("../definitions/hubspot.toml").replace(
        "type = \"bearer\"\ntoken = \"{{config.access_token}}\"",
        "type = \"query\"\nparam = \"hapikey\"\nvalue = \"{{config.access_token}}\"",
    );
    assert!(text.contains("hapikey"));
    let connector = declarative::load("hubspot_hapikey.toml", &text)
        .map(declarative::Declarative::new)
        .unwrap()
        .with_tuning(Tuning::fast());
    let dir = tempfile::tempdir().unwrap();
    let mut options = HostOptions::new(sim.configuration(), dir.path());
    options.setup_tests = false;
    let outcome = host::sync(Arc::new(connector), options).await.unwrap();
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    assert!(outcome.failure.is_none() && outcome.records_by_table["contacts"] >= 40);
    let log = sim.0.control().log().entries();
    assert!(!log.is_empty());
    for r in &log {
        assert_eq!(r.query_param("hapikey"), Some(sim.0.token()), "{}", r.path);
        assert!(r.header("authorization").is_none(), "{}", r.path);
    }
}

// ---- GitHub (GraphQL) ----

use fivetran_source::connectors::github::simulator::{GithubConfig, GithubSimulator};
use fivetran_source::sdk::DynConnector;

/// POSTs a GraphQL document to the simulator: (status, headers, body).
async fn graphql(
    sim: &GithubSimulator,
    token: &str,
    query: &str,
    variables: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", sim.base_url()))
        .bearer_auth(token)
        .json(&serde_json::json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("the simulator answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

const ISSUES: &str = "query($owner: String!, $name: String!, $first: Int!, $after: String) {
  rateLimit { cost remaining resetAt }
  repository(owner: $owner, name: $name) {
    issues(first: $first, after: $after, orderBy: {field: UPDATED_AT, direction: ASC}) {
      totalCount pageInfo { hasNextPage endCursor } nodes { id number updatedAt author { login } }
    }
  }
}";

#[tokio::test]
async fn the_github_simulator_parses_validates_and_pages_like_github() {
    let sim = GithubSimulator::start(GithubConfig::small()).await.unwrap();
    let token = sim.token().to_owned();
    let vars = |first: u32, after: Option<&str>| serde_json::json!({"owner": "octo-org", "name": "octo-repo", "first": first, "after": after});
    let (status, headers, page) = graphql(&sim, &token, ISSUES, vars(20, None)).await;
    assert_eq!(status, 200, "{page}");
    let issues = &page["data"]["repository"]["issues"];
    assert_eq!(issues["nodes"].as_array().unwrap().len(), 20);
    assert_eq!(issues["totalCount"], 45);
    assert_eq!(issues["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["data"]["rateLimit"]["cost"], 1);
    assert_eq!(headers["x-ratelimit-resource"], "graphql");
    assert_eq!(headers["x-ratelimit-limit"], "5000");
    assert_eq!(headers["x-ratelimit-remaining"], "4999");
    // The last page still names its endCursor, with hasNextPage false.
    let mut after = issues["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let mut seen = 20;
    loop {
        let (_, _, page) = graphql(&sim, &token, ISSUES, vars(20, Some(&after))).await;
        let issues = &page["data"]["repository"]["issues"];
        seen += issues["nodes"].as_array().unwrap().len();
        after = issues["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
        if issues["pageInfo"]["hasNextPage"] == false {
            break;
        }
    }
    assert_eq!(seen, 45);
    // A field the schema lacks: GraphQL's validation error in a 200, no data.
    let (status, _, bad) = graphql(
        &sim,
        &token,
        "{ repository(owner: \"octo-org\", name: \"octo-repo\") { stars } }",
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    assert!(bad["data"].is_null(), "{bad}");
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("stars"),
        "{bad}"
    );
    // first above 100, a missing first, an unknown repository, a bad cursor.
    let (_, _, big) = graphql(&sim, &token, ISSUES, vars(101, None)).await;
    assert_eq!(big["errors"][0]["type"], "EXCESSIVE_PAGINATION", "{big}");
    assert!(big["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("exceeds the `first` limit of 100 records"));
    let (_, _, unbounded) = graphql(
        &sim,
        &token,
        "{ repository(owner: \"octo-org\", name: \"octo-repo\") { labels { totalCount } } }",
        Value::Null,
    )
    .await;
    assert_eq!(
        unbounded["errors"][0]["type"], "MISSING_PAGINATION_BOUNDARIES",
        "{unbounded}"
    );
    let (_, _, missing) = graphql(
        &sim,
        &token,
        ISSUES,
        serde_json::json!({"owner": "octo-org", "name": "nope", "first": 5}),
    )
    .await;
    assert_eq!(missing["errors"][0]["type"], "NOT_FOUND", "{missing}");
    assert!(missing["data"]["repository"].is_null());
    let (_, _, cursor) = graphql(&sim, &token, ISSUES, vars(5, Some("bm90IGEgY3Vyc29y"))).await;
    assert_eq!(
        cursor["errors"][0]["type"], "INVALID_CURSOR_ARGUMENTS",
        "{cursor}"
    );
    // The node limit: 100 issues × 100 comments × 100 labels.
    // 100 + 100×100 + 100×100×100 = 1,010,100 possible nodes, past the 500,000 limit.
    let huge = "{ repository(owner: \"octo-org\", name: \"octo-repo\") { issues(first: 100) { nodes { repository { issues(first: 100) { nodes { comments(first: 100) { nodes { id } } } } } } } } }";
    let (_, _, over) = graphql(&sim, &token, huge, Value::Null).await;
    assert_eq!(
        over["errors"][0]["type"], "MAX_NODE_LIMIT_EXCEEDED",
        "{over}"
    );
    assert!(
        over["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1010100"),
        "{over}"
    );
    let deeper = "{ repository(owner: \"octo-org\", name: \"octo-repo\") { issues(first: 100) { nodes { comments(first: 100) { nodes { id } } } } pullRequests(first: 100) { nodes { labels(first: 100) { nodes { name } } } } milestones(first: 100) { nodes { id } } } }";
    let (_, _, ok) = graphql(&sim, &token, deeper, Value::Null).await;
    assert!(
        ok["errors"].is_null(),
        "20,200 nodes are within the limit: {ok}"
    );
    let (status, _, refused) = graphql(&sim, "ghp_wrong", ISSUES, vars(5, None)).await;
    assert_eq!(
        (status, refused["message"].as_str()),
        (401, Some("Bad credentials"))
    );
}

fn github_configuration(sim: &GithubSimulator) -> HashMap<String, String> {
    [
        ("access_token".to_owned(), sim.token().to_owned()),
        ("repositories".to_owned(), sim.repositories()),
        ("base_url".to_owned(), sim.base_url()),
    ]
    .into()
}

fn github() -> Arc<declarative::Declarative> {
    let connector = declarative::shipped(fivetran_source::connectors::github::DEFINITION)
        .unwrap()
        .with_tuning(Tuning::fast());
    Arc::new(connector)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_full_sync_then_exactly_the_changes() {
    let sim = GithubSimulator::start(GithubConfig::small()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sync = || {
        let mut options = HostOptions::new(github_configuration(&sim), dir.path());
        options.setup_tests = false;
        host::sync(github(), options)
    };
    let first = sync().await.unwrap();
    assert!(first.succeeded(), "{:?}", first.failure);
    let count = |o: &host::DebugOutcome, t: &str| o.records_by_table.get(t).copied().unwrap_or(0);
    // Two repositories: 45 issues each over pages of 50 and 20; 25 pull requests each.
    let data = sim.data();
    let issues: usize = (0..2).map(|r| data.live_issues(r, false).count()).sum();
    let comments: usize = data
        .repos
        .iter()
        .flat_map(|r| &r.issues)
        .map(|i| i.comments.len())
        .sum();
    // Full-refresh tables count their truncate as one more operation.
    assert_eq!(count(&first, "repositories"), 2 + 1);
    assert!(
        count(&first, "issues") >= issues as u64,
        "{:?}",
        first.records_by_table
    );
    assert!(count(&first, "pull_requests") >= 50);
    assert!(count(&first, "issue_comments") >= comments as u64);
    let before = sim.data();
    let since = sim.control().clock().now().timestamp() - 60;
    sim.advance(1);
    let after = sim.data();
    let second = sync().await.unwrap();
    assert!(second.succeeded(), "{:?}", second.failure);
    // Exactly the issues and pull requests changed since the first sync (by the simulator's data,
    // not the connector's): the 60-second lookback reaches no older change.
    let changed = |pulls: bool| -> u64 {
        (0..2)
            .map(|r| {
                after
                    .live_issues(r, pulls)
                    .filter(|i| i.updated >= since)
                    .count() as u64
            })
            .sum()
    };
    assert!(changed(false) > 0 && changed(true) > 0);
    assert_eq!(
        count(&second, "issues"),
        changed(false),
        "{:?}",
        second.records_by_table
    );
    assert_eq!(
        count(&second, "pull_requests"),
        changed(true),
        "{:?}",
        second.records_by_table
    );
    // Labels are re-read whole after a truncate (the truncate is one more operation).
    let labels: u64 = after
        .repos
        .iter()
        .map(|r| r.labels.iter().filter(|l| !l.deleted).count() as u64)
        .sum();
    assert_eq!(count(&second, "labels"), labels + 1);
    assert_ne!(before.repos[0].updated, after.repos[0].updated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_errors_in_200s_fail_with_the_apis_words() {
    let sim = GithubSimulator::start(GithubConfig::small()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut configuration = github_configuration(&sim);
    configuration.insert(
        "repositories".into(),
        "octo-org/octo-repo, octo-org/missing".into(),
    );
    let mut options = HostOptions::new(configuration, dir.path());
    options.setup_tests = false;
    let outcome = host::sync(github(), options).await.unwrap();
    let failure = outcome
        .failure
        .expect("an unknown repository fails the sync");
    assert!(failure.contains("NOT_FOUND"), "{failure}");
    assert!(
        failure.contains("Could not resolve to a Repository with the name 'octo-org/missing'"),
        "{failure}"
    );
    // Not retried: one request for the missing repository, not a retry loop.
    let mut bad = github_configuration(&sim);
    bad.insert("repositories".into(), "octo-org".into());
    let test = github().test(declarative::CONNECTION_TEST, &bad).await;
    assert!(
        matches!(&test, Err(e) if e.to_string().contains("repositories")),
        "{test:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_waits_for_the_points_reset_instead_of_being_refused() {
    let config = GithubConfig {
        // A budget far below one sync's queries, refilled every 2 seconds of a running clock.
        points: 3,
        points_window: Duration::from_secs(2),
        repositories: "octo-org/octo-repo".into(),
        server: fivetran_source::simulator::ServerOptions {
            clock_mode: fivetran_source::simulator::ClockMode::Running,
            ..Default::default()
        },
        generation_interval: Duration::from_secs(86_400 * 365),
        ..GithubConfig::small()
    };
    let sim = GithubSimulator::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut options = HostOptions::new(github_configuration(&sim), dir.path());
    options.setup_tests = false;
    let started = std::time::Instant::now();
    let outcome = host::sync(github(), options).await.unwrap();
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    // repositories 1 + issues 1 + pull requests 1 + labels 1 + milestones 1 + releases 1 query at
    // least: two windows' 3 points and more.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        sim.rate_limited_answers(),
        0,
        "the connector waited before spending past the budget"
    );
    // 45 issues and the first pass's truncate.
    assert_eq!(
        outcome.records_by_table.get("issues").copied(),
        Some(45 + 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_shrinks_first_past_the_node_limit() {
    // issues(first: 50) with comments(first: 100) and labels(first: 20) asks for up to 6,050 nodes;
    // at first: 20 it is 2,420, under this limit.
    let config = GithubConfig {
        node_limit: 3000,
        ..GithubConfig::small()
    };
    let sim = GithubSimulator::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut options = HostOptions::new(github_configuration(&sim), dir.path());
    options.setup_tests = false;
    let outcome = host::sync(github(), options).await.unwrap();
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    // Both repositories' 45 issues, and the truncate.
    assert_eq!(
        outcome.records_by_table.get("issues").copied(),
        Some(90 + 1)
    );
}

// ---- Date windows, periodic full passes, and an embedded connection's following pages ----

#[path = "compliance/stripe.rs"]
mod stripe_subject;

#[path = "compliance/github.rs"]
mod github_subject;

/// `created[lt] - created[gte]` of a logged Stripe list request, in seconds.
fn window_span(r: &fivetran_source::simulator::LoggedRequest) -> Option<i64> {
    let bound = |k: &str| r.query_param(k).and_then(|v| v.parse::<i64>().ok());
    Some(bound("created[lt]")? - bound("created[gte]")?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_whose_pages_keep_failing_is_halved_and_nothing_is_lost() {
    let subject = stripe_subject::StripeSubject;
    let sim =
        stripe_subject::StripeSim(StripeSimulator::start(StripeConfig::small()).await.unwrap());
    let connector = fivetran_source::compliance::Subject::connector(&subject);
    let schema = connector.schema(&sim.configuration()).await.unwrap();
    // The first customers window fails at every page size after every retry (3 sizes x 3 tries).
    sim.0
        .control()
        .faults()
        .add(FaultRule::on_path("/v1/customers", Fault::ServerError { status: 500 }).times(9));
    let dir = tempfile::tempdir().unwrap();
    let mut options = HostOptions::new(sim.configuration(), dir.path());
    options.setup_tests = false;
    let outcome = host::sync(Arc::clone(&connector), options).await.unwrap();
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    let diff = compare(dir.path(), &schema, &sim.truth()).unwrap();
    assert!(diff.is_empty(), "{diff}");
    let log = sim.0.control().log();
    let customers: Vec<_> = log
        .matching("/v1/customers")
        .into_iter()
        .filter(|r| r.query_param("created[gte]").is_some())
        .collect();
    let failed = customers
        .iter()
        .take_while(|r| r.status == Some(500))
        .count();
    assert_eq!(failed, 9, "{customers:?}");
    let five_years = 1825 * 86_400;
    assert_eq!(window_span(&customers[0]), Some(five_years));
    // The same start again, over half the window.
    let retried = &customers[failed];
    assert_eq!(
        retried.query_param("created[gte]"),
        customers[0].query_param("created[gte]")
    );
    assert_eq!(window_span(retried), Some(five_years / 2));
    // The walk ends with a window without an upper bound, so nothing past the clock is missed.
    let last = customers.last().unwrap();
    assert!(last.query_param("created[lt]").is_none(), "{last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_deletes_land_at_the_full_pass_a_week_later() {
    let subject = github_subject::GithubSubject;
    let sim =
        github_subject::GithubSim(GithubSimulator::start(GithubConfig::small()).await.unwrap());
    let connector = fivetran_source::compliance::Subject::connector(&subject);
    let schema = connector.schema(&sim.configuration()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sync = || {
        let mut options = HostOptions::new(sim.configuration(), dir.path());
        options.setup_tests = false;
        host::sync(Arc::clone(&connector), options)
    };
    let first = sync().await.unwrap();
    assert!(first.succeeded(), "{:?}", first.failure);
    assert!(compare(dir.path(), &schema, &sim.truth())
        .unwrap()
        .is_empty());
    // Generations delete issues; a changes pass cannot see that.
    let deleted = |s: &GithubSimulator| -> usize {
        s.data()
            .repos
            .iter()
            .flat_map(|r| &r.issues)
            .filter(|i| i.deleted)
            .count()
    };
    while deleted(&sim.0) == 0 {
        sim.0.advance(1);
    }
    let second = sync().await.unwrap();
    assert!(second.succeeded(), "{:?}", second.failure);
    let stale = compare(dir.path(), &schema, &sim.truth()).unwrap();
    assert!(
        !stale.is_empty(),
        "a deleted issue is expected to stay until the full pass"
    );
    // A week on by the API's clock: that sync's changes pass marks the next pass full, and the
    // full pass truncates and reads everything, so the deleted issues go.
    sim.0
        .control()
        .clock()
        .advance(Duration::from_secs(8 * 86_400));
    let third = sync().await.unwrap();
    assert!(third.succeeded(), "{:?}", third.failure);
    let fourth = sync().await.unwrap();
    assert!(fourth.succeeded(), "{:?}", fourth.failure);
    let diff = compare(dir.path(), &schema, &sim.truth()).unwrap();
    assert!(diff.is_empty(), "{diff}");
    // The next sync is a changes pass again: few issues read.
    let fifth = sync().await.unwrap();
    let issues = fifth.records_by_table.get("issues").copied().unwrap_or(0);
    assert!(issues < 10, "{issues} issues read after the full pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_reads_every_comment_of_an_issue_past_the_first_100() {
    let subject = github_subject::GithubSubject;
    let config = GithubConfig {
        max_comments: 250,
        ..GithubConfig::small()
    };
    let sim = github_subject::GithubSim(GithubSimulator::start(config).await.unwrap());
    let connector = fivetran_source::compliance::Subject::connector(&subject);
    let schema = connector.schema(&sim.configuration()).await.unwrap();
    let most = sim
        .0
        .data()
        .repos
        .iter()
        .flat_map(|r| &r.issues)
        .map(|i| i.comments.len())
        .max()
        .unwrap();
    assert!(most > 200, "{most}");
    let dir = tempfile::tempdir().unwrap();
    let mut options = HostOptions::new(sim.configuration(), dir.path());
    options.setup_tests = false;
    let outcome = host::sync(Arc::clone(&connector), options).await.unwrap();
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    let diff = compare(dir.path(), &schema, &sim.truth()).unwrap();
    assert!(diff.is_empty(), "{diff}");
    let nodes = sim
        .0
        .control()
        .log()
        .matching("/graphql")
        .into_iter()
        .filter(|r| {
            r.body
                .as_ref()
                .is_some_and(|b| b["query"].as_str().unwrap_or_default().contains("node(id:"))
        })
        .count();
    assert!(
        nodes > 0,
        "no issue's comments were read past the first page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubspot_restarts_its_search_before_the_result_cap_without_a_refusal() {
    // The shipped definition with the test simulator's cap (200) in place of HubSpot's 10,000.
    let shipped = include_str!("../definitions/hubspot.toml");
    let text = shipped.replace("cap = 10000", "cap = 200");
    assert_ne!(text, shipped);
    let connector: Arc<dyn DynConnector> = Arc::new(
        declarative::load("hubspot.toml", &text)
            .map(declarative::Declarative::new)
            .unwrap()
            .with_tuning(Tuning::fast()),
    );
    let sim = hubspot_subject::HubspotSim(
        HubspotSimulator::start(HubspotConfig::small())
            .await
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let sync = || {
        let mut options = HostOptions::new(sim.configuration(), dir.path());
        options.setup_tests = false;
        host::sync(Arc::clone(&connector), options)
    };
    let schema = connector.schema(&sim.configuration()).await.unwrap();
    assert!(sync().await.unwrap().succeeded());
    sim.0.advance(25);
    let second = sync().await.unwrap();
    assert!(second.succeeded(), "{:?}", second.failure);
    let diff = compare(dir.path(), &schema, &sim.truth()).unwrap();
    assert!(diff.is_empty(), "{diff}");
    let searches = sim
        .0
        .control()
        .log()
        .matching("/crm/v3/objects/contacts/search");
    assert!(
        searches.iter().all(|r| r.status == Some(200)),
        "a search was refused: {:?}",
        searches.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // More than one query: the first page of each (no `after`) after the first is a restart.
    let firsts = searches
        .iter()
        .filter(|r| r.body.as_ref().is_some_and(|b| b.get("after").is_none()))
        .count();
    assert!(firsts > 1, "{firsts} queries");
}

// ---- Every pager of the kit from a definition: page numbers and followed links ----

const PAGED: &str = r#"name = "paged"
description = "page numbers, Link headers and links in the body"
base_url = "https://api.paged.test"

[[fields]]
name = "api_key"
label = "API key"
kind = "password"

[auth]
type = "bearer"
token = "{{config.api_key}}"
refused = "the api key was refused"

[test]
label = "Connect"
path = "/me"

[[streams]]
name = "numbered"
path = "/numbered"
records = "items"
paginate = { type = "page", page_param = "page", limit_param = "per_page", limit = 2 }
primary_key = ["id"]
[streams.columns]
id = "long"

[[streams]]
name = "linked"
path = "/linked"
records = ""
paginate = { type = "link", limit_param = "per_page", limit = 2 }
primary_key = ["id"]
[streams.columns]
id = "long"

[[streams]]
name = "body_linked"
path = "/body"
records = "data"
paginate = { type = "link", next = "links.next" }
primary_key = ["id"]
[streams.columns]
id = "long"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_numbers_and_followed_links_read_every_page_once() {
    use mockito::Matcher;
    let mut server = mockito::Server::new_async().await;
    let url = server.url();
    let ids = |range: std::ops::RangeInclusive<u32>| -> Vec<Value> {
        range.map(|id| json!({ "id": id })).collect()
    };
    let exact = |q: &str| Matcher::Exact(q.to_owned());
    let mut mocks = Vec::new();
    // One page of `path` at `query`, asked for exactly once, with a `Link` header if given.
    let mut page = async |path: &str, query: Matcher, body: Value, link: Option<String>| {
        let mut mock = server
            .mock("GET", path)
            .match_query(query)
            .match_header("authorization", "Bearer k")
            .with_header("content-type", "application/json")
            .with_body(body.to_string())
            .expect(1);
        if let Some(link) = link {
            mock = mock.with_header("link", &link);
        }
        mock.create_async().await
    };
    for (n, items) in [(1, ids(1..=2)), (2, ids(3..=4)), (3, ids(5..=5))] {
        let query = exact(&format!("page={n}&per_page=2"));
        mocks.push(page("/numbered", query, json!({ "items": items }), None).await);
    }
    let link = format!("<{url}/linked?per_page=2&cursor=abc>; rel=\"next\", <{url}/linked?per_page=2>; rel=\"first\"");
    mocks.push(
        page(
            "/linked",
            exact("per_page=2"),
            json!(ids(1..=2)),
            Some(link),
        )
        .await,
    );
    let last = json!(ids(3..=3));
    mocks.push(page("/linked", exact("per_page=2&cursor=abc"), last, None).await);
    let first = json!({ "data": ids(1..=1), "links": { "next": format!("{url}/body?after=1") } });
    mocks.push(page("/body", Matcher::Missing, first, None).await);
    let last = json!({ "data": ids(2..=3), "links": { "next": null } });
    mocks.push(page("/body", exact("after=1"), last, None).await);
    let connector = declarative::load("paged.toml", PAGED)
        .map(declarative::Declarative::new)
        .unwrap()
        .with_tuning(Tuning::fast());
    let dir = tempfile::tempdir().unwrap();
    let configuration: HashMap<String, String> = [
        ("api_key".to_owned(), "k".to_owned()),
        ("base_url".to_owned(), url.clone()),
    ]
    .into();
    let mut options = HostOptions::new(configuration, dir.path());
    options.setup_tests = false;
    let outcome = host::sync(Arc::new(connector), options).await.unwrap();
    assert!(outcome.succeeded(), "{:?}", outcome.failure);
    // Each table's rows, plus its truncate (a full pass every sync).
    let count = |t: &str| outcome.records_by_table.get(t).copied().unwrap_or(0);
    assert_eq!(
        (count("numbered"), count("linked"), count("body_linked")),
        (5 + 1, 3 + 1, 3 + 1),
        "{:?}",
        outcome.records_by_table
    );
    for m in &mocks {
        m.assert_async().await;
    }
}
