//! The compliance suite for every registered connector (see `fivetran_source::compliance`), and the
//! proof that it catches a connector that checkpoints ahead of its rows.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;

use compliance::{Expect, When};
use fivetran_source::compliance::{self, Sim, Subject, Truth};
use fivetran_source::registry;
use fivetran_source::sdk::{
    ColumnType, ConfigError, Configuration, Connector, ConnectorState, DynConnector, Emitter,
    Error, Form, FromConfiguration, Row, Schema, TableDef,
};
use fivetran_source::simulator::{Fault, FaultRule, SimControl};

#[path = "cdc/support.rs"]
mod cdc_support;
#[path = "compliance/close.rs"]
mod close_subject;
#[path = "compliance/demo.rs"]
mod demo_subject;
#[path = "compliance/everyaction.rs"]
mod everyaction_subject;
#[path = "compliance/github.rs"]
mod github_subject;
#[path = "compliance/hubspot.rs"]
mod hubspot_subject;
#[path = "compliance/mysql.rs"]
mod mysql_subject;
#[path = "compliance/ongage.rs"]
mod ongage_subject;
#[path = "compliance/postgres.rs"]
mod postgres_subject;
#[path = "compliance/sa360.rs"]
mod sa360_subject;
#[path = "compliance/stripe.rs"]
mod stripe_subject;
#[path = "compliance/virtuous.rs"]
mod virtuous_subject;

/// Every registered connector's subject.
fn subjects() -> Vec<Box<dyn Subject>> {
    vec![
        Box::new(demo_subject::DemoSubject),
        Box::new(everyaction_subject::EveryActionSubject),
        Box::new(virtuous_subject::VirtuousSubject),
        Box::new(ongage_subject::OngageSubject),
        Box::new(sa360_subject::Sa360Subject),
        Box::new(postgres_subject::PostgresSubject),
        Box::new(mysql_subject::MysqlSubject),
        Box::new(stripe_subject::StripeSubject),
        Box::new(close_subject::CloseSubject),
        Box::new(hubspot_subject::HubspotSubject),
        Box::new(github_subject::GithubSubject),
    ]
}

/// The subject named `name`.
fn subject(name: &str) -> Box<dyn Subject> {
    subjects()
        .into_iter()
        .find(|s| s.name() == name)
        .unwrap_or_else(|| panic!("no compliance subject named '{name}'"))
}

/// A fixed seed per run of the suite; `COMPLIANCE_SEED` picks another.
fn seed() -> u64 {
    std::env::var("COMPLIANCE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_201)
}

#[test]
fn every_registered_connector_runs_the_suite() {
    let subjects: Vec<&str> = subjects().iter().map(|s| s.name()).collect();
    let missing: Vec<&str> = registry::valid_names()
        .into_iter()
        .filter(|name| !subjects.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "registered connectors without a compliance subject: {missing:?}"
    );
}

macro_rules! suite {
    ($($subject:ident => $name:literal),* $(,)?) => {
        $(mod $subject {
            use super::*;

            async fn check(f: for<'a> fn(&'a dyn Subject, u64) -> BoxFuture<'a, Result<(), String>>) {
                let subject = super::subject($name);
                if let Some(why) = subject.skip_reason() {
                    assert!(std::env::var("CI").as_deref() != Ok("true"), "{}: {why}; CI=true requires it", $name);
                    eprintln!("COMPLIANCE SKIPPED: {}: {why}", $name);
                    return;
                }
                if let Err(failure) = f(&*subject, seed()).await {
                    panic!("{failure}");
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn full_sync_equals_truth() {
                check(|s, seed| Box::pin(compliance::full_sync_equals_truth(s, seed))).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn second_sync_after_changes_equals_truth() {
                check(|s, seed| Box::pin(compliance::second_sync_after_changes_equals_truth(s, seed))).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn kill_and_resume_loses_nothing() {
                check(|s, seed| Box::pin(compliance::kill_and_resume_loses_nothing(s, seed))).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bad_credentials_are_refused_with_advice() {
                check(|s, seed| Box::pin(compliance::bad_credentials_are_refused_with_advice(s, seed))).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn unselected_tables_make_no_requests() {
                check(|s, seed| Box::pin(compliance::unselected_tables_make_no_requests(s, seed))).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn random_faults_lose_nothing() {
                check(|s, seed| Box::pin(compliance::random_faults_lose_nothing(s, seed))).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn single_faults_never_lose_rows() {
                check(|s, seed| Box::pin(compliance::single_faults_never_lose_rows(s, seed))).await;
            }

            /// Defect 8 of issue 16: a dead endpoint kept a sync running for 15 minutes and more.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn defect_08_a_dead_endpoint_fails_the_sync_naming_it() {
                check(|s, seed| {
                    Box::pin(compliance::dead_endpoint_fails_naming_it(
                        s,
                        seed,
                        Fault::ServerError { status: 503 },
                    ))
                })
                .await;
            }
        })*
    };
}

suite! {
    demo => "demo",
    everyaction => "everyaction",
    virtuous => "virtuous",
    ongage => "ongage",
    sa360 => "sa360",
    postgres => "postgres",
    mysql => "mysql",
    stripe => "stripe",
    close => "close",
    hubspot => "hubspot",
    github => "github",
}

// ---- the defects of issue 16, reproduced with the rules they were found with ----

/// Rules as posted to `/__sim/faults`.
fn rules(json: &str) -> Vec<FaultRule> {
    serde_json::from_str(json).expect("fault rules in the control API's JSON")
}

async fn scripted(name: &str, json: &str, when: When, expect: Expect) {
    let subject = subject(name);
    if let Err(failure) =
        compliance::scripted_faults_lose_nothing(&*subject, seed(), rules(json), when, expect).await
    {
        panic!("{failure}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_01_ongage_a_truncated_export_is_never_accepted() {
    let rule =
        r#"[{"when":{"path_contains":"/export"},"fault":{"kind":"truncated_body"},"times":1}]"#;
    scripted("ongage", rule, When::FirstSync, Expect::SuccessOrResume).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_02_ongage_an_html_or_emptied_export_is_not_an_empty_list() {
    for kind in ["invalid_json", "empty_page"] {
        let rule = format!(
            r#"[{{"when":{{"path_contains":"/export"}},"fault":{{"kind":"{kind}"}},"times":1}}]"#
        );
        scripted("ongage", &rule, When::FirstSync, Expect::SuccessOrResume).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_03_one_emptied_reference_page_deletes_nothing() {
    let campaigns =
        r#"[{"when":{"path_contains":"/Campaign/Query"},"fault":{"kind":"empty_page"},"times":1}]"#;
    scripted(
        "virtuous",
        campaigns,
        When::SecondSync,
        Expect::SuccessOrResume,
    )
    .await;
    let fields =
        r#"[{"when":{"path_contains":"/list_fields"},"fault":{"kind":"empty_page"},"times":1}]"#;
    scripted("ongage", fields, When::SecondSync, Expect::SuccessOrResume).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_04_ongage_one_undecodable_body_or_cut_download_is_retried() {
    for rule in [
        r#"[{"when":{"path_contains":"/contact_search/","method":"GET"},"fault":{"kind":"invalid_json"},"times":1}]"#,
        r#"[{"when":{"path_contains":"/contact_search","method":"POST"},"fault":{"kind":"invalid_json"},"times":1}]"#,
        r#"[{"when":{"path_contains":"/api/lists"},"fault":{"kind":"invalid_json"},"times":1}]"#,
        r#"[{"when":{"path_contains":"/list_fields"},"fault":{"kind":"invalid_json"},"times":1}]"#,
        r#"[{"when":{"path_contains":"/export"},"fault":{"kind":"cut_connection"},"times":1}]"#,
    ] {
        scripted("ongage", rule, When::FirstSync, Expect::Success).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_05_virtuous_a_decode_error_on_a_single_record_call_is_retried() {
    // The first Gift query of a pass is the take=1 watermark/census call, not a page.
    let rule = r#"[{"when":{"path_contains":"/api/Gift/Query"},"fault":{"kind":"invalid_json"},"times":1}]"#;
    scripted("virtuous", rule, When::FirstSync, Expect::Success).await;
    scripted("virtuous", rule, When::SecondSync, Expect::Success).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_07_virtuous_one_transient_fault_per_request_sends_nothing_to_sync_errors() {
    // Five 504s walk the take ladder down to 1 (a 504 on a page that can shrink shrinks it); the
    // sixth hits the single-record request, which must be retried, not reported as errored.
    let rule = r#"[{"when":{"path_contains":"/FullGift"},"fault":{"kind":"server_error","status":504},"times":6}]"#;
    scripted("virtuous", rule, When::FirstSync, Expect::Success).await;
}

/// Found by the reliability suite: a dead `searchStream` failed the sync after 78 stream requests
/// and 165 s, though `search` answered; now the sync reads pages once the stream is down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sa360_a_dead_stream_is_read_in_search_pages() {
    let rule = r#"[{"when":{"path_contains":"searchAds360:searchStream"},"fault":{"kind":"server_error","status":503}}]"#;
    scripted("sa360", rule, When::FirstSync, Expect::Success).await;
}

// ---- the suite catches a connector that checkpoints ahead of its rows ----

/// 100 items in pages of 10, each page followed by a checkpoint of the next position; the broken
/// variant saves the position after the page *before* emitting it.
struct Counter {
    checkpoint_ahead: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CounterState {
    next: u64,
}

impl ConnectorState for CounterState {
    const VERSION: u32 = 1;
}

struct NoConfig;

impl FromConfiguration for NoConfig {
    fn from_configuration(_: &Configuration<'_>) -> Result<Self, ConfigError> {
        Ok(NoConfig)
    }
}

const COUNTED: u64 = 100;

#[async_trait]
impl Connector for Counter {
    type Config = NoConfig;
    type State = CounterState;

    fn form(&self) -> Form {
        Form::new()
    }

    async fn test(&self, _: &str, _: &NoConfig) -> Result<(), Error> {
        Ok(())
    }

    async fn schema(&self, _: &NoConfig) -> Result<Schema, Error> {
        Ok(Schema::new(vec![
            TableDef::new("items").key("id", ColumnType::Long)
        ]))
    }

    async fn update(
        &self,
        _: &NoConfig,
        mut state: CounterState,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        while state.next < COUNTED {
            let page = state.next..(state.next + 10).min(COUNTED);
            if self.checkpoint_ahead {
                out.checkpoint(&CounterState { next: page.end }).await?;
            }
            for id in page.clone() {
                out.upsert("items", &Row::new().with("id", id as i64))
                    .await?;
            }
            state.next = page.end;
            out.checkpoint(&state).await?;
        }
        Ok(())
    }
}

struct CounterSubject {
    checkpoint_ahead: bool,
}

struct CounterSource;

impl Sim for CounterSource {
    fn configuration(&self) -> HashMap<String, String> {
        HashMap::new()
    }
    fn bad_credentials(&self) -> HashMap<String, String> {
        HashMap::new()
    }
    fn control(&self) -> Option<&SimControl> {
        None
    }
    fn truth(&self) -> Truth {
        let items = (0..COUNTED)
            .map(|id| [("id".to_owned(), json!(id))].into_iter().collect())
            .collect();
        [("items".to_owned(), items)].into()
    }
    fn advance(&self) -> bool {
        false
    }
}

impl Subject for CounterSubject {
    fn name(&self) -> &'static str {
        if self.checkpoint_ahead {
            "counter-checkpointing-ahead"
        } else {
            "counter"
        }
    }
    fn connector(&self) -> Arc<dyn DynConnector> {
        Arc::new(Counter {
            checkpoint_ahead: self.checkpoint_ahead,
        })
    }
    fn start(&self, _seed: u64) -> BoxFuture<'static, Box<dyn Sim>> {
        Box::pin(async { Box::new(CounterSource) as Box<dyn Sim> })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_fails_a_connector_that_checkpoints_ahead_of_its_rows() {
    let honest = CounterSubject {
        checkpoint_ahead: false,
    };
    let broken = CounterSubject {
        checkpoint_ahead: true,
    };
    // Each run kills at three checkpoints; every other checkpoint of the broken counter leads its rows.
    for seed in 0..3 {
        compliance::kill_and_resume_loses_nothing(&honest, seed)
            .await
            .unwrap_or_else(|e| panic!("the honest counter failed: {e}"));
        let failure = compliance::kill_and_resume_loses_nothing(&broken, seed)
            .await
            .expect_err("a connector that checkpoints ahead of its rows must fail");
        assert!(failure.contains("lost"), "{failure}");
    }
}
