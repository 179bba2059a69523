//! The declarative engine and the Stripe simulator beyond the compliance suite: Stripe's list and
//! events facts as the simulator serves them, and the events' retention cliff.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

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
