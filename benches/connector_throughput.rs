//! Benchmark (not a test): the EveryAction and Search Ads 360 connectors at volume, each from its
//! in-process simulator (no latency, no quotas) through the real server binary (production
//! settings) to a draining gRPC client on loopback. Prints records/s, server CPU µs per record and
//! the server's peak RSS.
//!
//! - `everyaction`: N contacts (default 1 M) changed in the last 80 days, through one changed-entity
//!   export job (its files downloaded and streamed as CSV); only `contacts` is selected.
//! - `sa360`: a year of daily keyword metrics (default 365 days; 10 campaigns × 10 ad groups × 25
//!   keywords per client account, the days each keyword has metrics: over 1 M rows) through
//!   `searchStream`; only `keyword_stats` is selected.
//!
//! Run: `cargo bench --bench connector_throughput [-- everyaction|sa360]`; under `cargo test` it is a
//! quick smoke run of both.
mod support;
use support::{selection, sync_through_server};

use chrono::TimeDelta;
use fivetran_source::connectors::everyaction::simulator::{
    EveryActionConfig, EveryActionSimulator,
};
use fivetran_source::connectors::sa360::simulator::{Sa360Config, Sa360Simulator};

async fn everyaction(contacts: u64) {
    let mut config = EveryActionConfig::small();
    config.my_campaign.contacts.initial = contacts;
    // every contact inside the first sync's 90-day window
    config.data_start = config.data_end - TimeDelta::days(80);
    config.export.pending_polls = 0;
    config.export.in_process_polls = 1;
    let sim = EveryActionSimulator::start(config)
        .await
        .expect("start the simulator");
    let configuration = [
        ("application_name", sim.application_name().to_owned()),
        ("api_key", sim.config().api_key.clone()),
        ("database_mode", "MyCampaign/EveryAction (1)".to_owned()),
        ("base_url", sim.api_url()),
        ("advanced", "true".to_owned()),
        ("job_poll_seconds", "0.01".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let drained =
        sync_through_server("everyaction", configuration, Some(selection(&["contacts"]))).await;
    let synced = drained.of("contacts");
    assert!(synced >= contacts, "{synced} contacts synced of {contacts}");
    println!(
        "everyaction_contacts: {} api requests",
        sim.control().log().total_requests()
    );
    drained.print("everyaction_contacts", "contacts", synced);
}

async fn sa360(days: i64) {
    let mut config = Sa360Config::small();
    config.entities.campaigns_per_client = 10;
    config.entities.ad_groups_per_campaign = 10;
    config.entities.keywords_per_ad_group = 25;
    config.data_start = config.today - TimeDelta::days(days - 1);
    let start = config.data_start.to_string();
    let sim = Sa360Simulator::start(config)
        .await
        .expect("start the simulator");
    let c = &sim.config().credentials;
    let configuration = [
        ("client_id", c.client_id.clone()),
        ("client_secret", c.client_secret.clone()),
        ("refresh_token", c.refresh_token.clone()),
        ("base_url", sim.base_url()),
        ("token_url", sim.token_url()),
        ("start_date", start),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let drained =
        sync_through_server("sa360", configuration, Some(selection(&["keyword_stats"]))).await;
    let rows = drained.of("keyword_stats");
    assert!(rows > 0, "no keyword metrics synced");
    println!(
        "sa360_keyword_stats: {days} days, {} api requests",
        sim.control().log().total_requests()
    );
    drained.print("sa360_keyword_stats", "rows", rows);
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let only: Option<String> = std::env::args()
        .skip(1)
        .find(|a| a == "everyaction" || a == "sa360");
    if only.as_deref() != Some("sa360") {
        everyaction(if full { 1_000_000 } else { 5_000 }).await;
    }
    if only.as_deref() != Some("everyaction") {
        sa360(if full { 365 } else { 20 }).await;
    }
}
