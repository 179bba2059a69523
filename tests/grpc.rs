//! End-to-end gRPC round trips against the real server on loopback: every RPC, batching, checkpoint
//! order, every value type, selection, the error paths, several Updates per process, disconnects.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fivetran_source::connectors::demo::Demo;
use fivetran_source::proto::{self, update_response::Operation, value_type::Inner};
use fivetran_source::sdk::Error;
use fivetran_source::sdk::{
    ColumnType, ConfigError, Configuration, Connector, Emitter, Form, FromConfiguration, Row,
    Schema, TableDef,
};
use fivetran_source::server::{Client, LocalServer, SourceService};

async fn start(connector: impl fivetran_source::sdk::DynConnector) -> (LocalServer, Client) {
    let server = LocalServer::start(SourceService::new(Arc::new(connector)))
        .await
        .unwrap();
    let client = server.client().await.unwrap();
    (server, client)
}

fn config(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect()
}

async fn update(
    client: &mut Client,
    request: proto::UpdateRequest,
) -> (Vec<Operation>, Option<tonic::Status>) {
    let mut stream = client.update(request).await.unwrap().into_inner();
    let mut ops = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(m)) => ops.push(m.operation.expect("operation set")),
            Ok(None) => return (ops, None),
            Err(status) => return (ops, Some(status)),
        }
    }
}

fn records(ops: &[Operation]) -> Vec<&proto::StructuredRecord> {
    ops.iter()
        .filter_map(|o| match o {
            Operation::StructuredRecords(r) => Some(r.structured_records.iter()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn last_state(ops: &[Operation]) -> String {
    ops.iter()
        .rev()
        .find_map(|o| match o {
            Operation::Checkpoint(c) => Some(c.state_json.clone()),
            _ => None,
        })
        .expect("a checkpoint")
}

#[tokio::test]
async fn configuration_form_test_and_schema() {
    let (_server, mut client) = start(Demo).await;
    let form = client
        .configuration_form(proto::ConfigurationFormRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(form.tests[0].name, "configuration");
    assert!(form.fields.iter().any(|f| f.name == "record_count"));

    let ok = client
        .test(proto::TestRequest {
            name: "configuration".into(),
            configuration: config(&[]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        ok.response,
        Some(proto::test_response::Response::Success(true))
    );

    let bad = client
        .test(proto::TestRequest {
            name: "configuration".into(),
            configuration: config(&[("record_count", "lots")]),
        })
        .await
        .unwrap()
        .into_inner();
    let Some(proto::test_response::Response::Failure(msg)) = bad.response else {
        panic!("expected failure")
    };
    assert!(
        msg.contains("'record_count'") && msg.contains("lots"),
        "{msg}"
    );

    let unknown = client
        .test(proto::TestRequest {
            name: "nope".into(),
            configuration: config(&[]),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
    assert!(unknown.message().contains("configuration"));

    let schema = client
        .schema(proto::SchemaRequest {
            configuration: config(&[]),
        })
        .await
        .unwrap()
        .into_inner();
    let Some(proto::schema_response::Response::WithoutSchema(tables)) = schema.response else {
        panic!()
    };
    assert_eq!(
        tables
            .tables
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["items", "events"]
    );
    assert_eq!(schema.selection_not_supported, Some(false));
}

#[tokio::test]
async fn two_updates_in_one_process_with_batching_order_and_values() {
    // Through gzip both ways, as Fivetran's worker may ask.
    let server = LocalServer::start(SourceService::new(Arc::new(Demo)))
        .await
        .unwrap();
    let mut client = server.gzip_client().await.unwrap();
    let cfg = config(&[("record_count", "250"), ("checkpoint_every", "120")]);
    let (ops, status) = update(
        &mut client,
        proto::UpdateRequest {
            configuration: cfg.clone(),
            selection: None,
            state_json: Some("{}".into()),
        },
    )
    .await;
    assert!(status.is_none(), "{status:?}");
    // Batches never exceed 100 records; each checkpoint follows every record emitted before it.
    let mut shape = Vec::new();
    let mut seen = 0;
    for op in &ops {
        match op {
            Operation::StructuredRecords(r) => {
                assert!(r.structured_records.len() <= 100);
                seen += r.structured_records.len();
            }
            Operation::Checkpoint(c) => {
                let state: serde_json::Value = serde_json::from_str(&c.state_json).unwrap();
                let next_id = state["next_id"].as_u64().unwrap() as usize;
                assert!(
                    seen >= next_id,
                    "checkpoint at {next_id} before its records ({seen} seen)"
                );
                shape.push(next_id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(shape, vec![120, 240, 250]);
    let recs = records(&ops);
    assert_eq!(recs.len(), 251); // 250 items + 1 event
    let item = recs
        .iter()
        .find(|r| r.table_name == "items" && r.data["id"].inner == Some(Inner::Long(4)))
        .unwrap();
    assert_eq!(
        item.data["name"].inner,
        Some(Inner::String("item-4".into()))
    );
    assert_eq!(
        item.data["price"].inner,
        Some(Inner::Decimal("4.04".into()))
    );
    assert!(matches!(
        item.data["created_at"].inner,
        Some(Inner::UtcDatetime(_))
    ));
    assert!(matches!(item.data["day"].inner, Some(Inner::NaiveDate(_))));
    assert!(matches!(
        item.data["local_time"].inner,
        Some(Inner::NaiveDatetime(_))
    ));
    assert!(matches!(item.data["ratio"].inner, Some(Inner::Float(_))));
    assert!(matches!(item.data["score"].inner, Some(Inner::Double(_))));
    assert!(matches!(
        item.data["short_code"].inner,
        Some(Inner::Short(4))
    ));
    assert!(matches!(item.data["quantity"].inner, Some(Inner::Int(4))));
    assert!(matches!(item.data["payload"].inner, Some(Inner::Binary(_))));
    assert!(matches!(item.data["doc"].inner, Some(Inner::Xml(_))));
    assert!(matches!(item.data["meta"].inner, Some(Inner::Json(_))));
    assert!(matches!(item.data["active"].inner, Some(Inner::Bool(true))));

    // Second Update on the same process, resuming from the first one's state.
    let state = last_state(&ops);
    let (ops2, status2) = update(
        &mut client,
        proto::UpdateRequest {
            configuration: cfg,
            selection: None,
            state_json: Some(state),
        },
    )
    .await;
    assert!(status2.is_none());
    let recs2 = records(&ops2);
    let kinds: Vec<i32> = recs2.iter().take(2).map(|r| r.r#type).collect();
    assert_eq!(
        kinds,
        vec![
            proto::RecordType::Update as i32,
            proto::RecordType::Delete as i32
        ]
    );
    assert!(recs2
        .iter()
        .any(|r| r.data.get("id").and_then(|v| v.inner.clone()) == Some(Inner::Long(250))));
}

#[tokio::test]
async fn selection_is_honoured() {
    let (_server, mut client) = start(Demo).await;
    let selection = proto::Selection {
        selection: Some(proto::selection::Selection::WithoutSchema(
            proto::TablesWithNoSchema {
                tables: vec![proto::TableSelection {
                    included: true,
                    table_name: "items".into(),
                    columns: [("meta".to_string(), false), ("payload".to_string(), false)].into(),
                    include_new_columns: true,
                }],
                include_new_tables: false,
            },
        )),
    };
    let (ops, status) = update(
        &mut client,
        proto::UpdateRequest {
            configuration: config(&[("record_count", "10")]),
            selection: Some(selection),
            state_json: None,
        },
    )
    .await;
    assert!(status.is_none());
    let recs = records(&ops);
    assert_eq!(recs.len(), 10, "events is not selected");
    for r in recs {
        assert_eq!(r.table_name, "items");
        assert!(!r.data.contains_key("meta") && !r.data.contains_key("payload"));
        assert!(r.data.contains_key("id") && r.data.contains_key("name"));
    }
}

#[tokio::test]
async fn a_failing_sync_sends_a_task_then_a_status_after_its_checkpointed_work() {
    let (_server, mut client) = start(Demo).await;
    let (ops, status) = update(
        &mut client,
        proto::UpdateRequest {
            configuration: config(&[
                ("record_count", "50"),
                ("checkpoint_every", "10"),
                ("fail_after", "25"),
            ]),
            selection: None,
            state_json: None,
        },
    )
    .await;
    let status = status.expect("error status");
    assert_eq!(status.code(), tonic::Code::Internal);
    assert!(status.message().contains("fail_after"));
    let Some(Operation::Task(task)) = ops.last() else {
        panic!("last message is a task: {ops:?}")
    };
    let task: serde_json::Value = serde_json::from_str(&task.message).unwrap();
    assert!(task["message"].as_str().unwrap().contains("fail_after"));
    assert!(task["trace"].is_string());
    assert_eq!(
        last_state(&ops),
        r#"{"version":1,"next_id":20,"oldest_live":0,"syncs":0}"#
    );
}

#[tokio::test]
async fn bad_state_and_bad_configuration_fail_before_any_record() {
    let (_server, mut client) = start(Demo).await;
    let (ops, status) = update(
        &mut client,
        proto::UpdateRequest {
            configuration: config(&[]),
            selection: None,
            state_json: Some(r#"{"next":"x"}"#.into()),
        },
    )
    .await;
    let status = status.unwrap();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(status.message().contains("state"), "{}", status.message());
    assert!(records(&ops).is_empty());

    let (ops, status) = update(
        &mut client,
        proto::UpdateRequest {
            configuration: config(&[("record_count", "-1")]),
            selection: None,
            state_json: None,
        },
    )
    .await;
    assert_eq!(status.unwrap().code(), tonic::Code::InvalidArgument);
    assert!(records(&ops).is_empty());
}

/// A connector whose "API call" never returns, flagging when its work is dropped.
struct Stuck {
    dropped: Arc<AtomicBool>,
}

struct Flag(Arc<AtomicBool>);
impl Drop for Flag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct NoConfig;
impl FromConfiguration for NoConfig {
    fn from_configuration(_: &Configuration<'_>) -> Result<Self, ConfigError> {
        Ok(NoConfig)
    }
}

#[async_trait]
impl Connector for Stuck {
    type Config = NoConfig;
    type State = serde_json::Map<String, serde_json::Value>;
    fn form(&self) -> Form {
        Form::new()
    }
    async fn test(&self, _: &str, _: &NoConfig) -> Result<(), Error> {
        Ok(())
    }
    async fn schema(&self, _: &NoConfig) -> Result<Schema, Error> {
        Ok(Schema::new(vec![
            TableDef::new("t").key("id", ColumnType::Long)
        ]))
    }
    async fn update(&self, _: &NoConfig, _: Self::State, out: &mut Emitter) -> Result<(), Error> {
        let _flag = Flag(Arc::clone(&self.dropped));
        out.upsert("t", &Row::new().with("id", 1i64)).await?;
        out.checkpoint(
            &serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(r#"{"at": 1}"#)
                .unwrap(),
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(3600)).await; // a request that hangs
        Ok(())
    }
}

#[tokio::test]
async fn a_disconnecting_client_stops_the_connector_within_a_second() {
    let dropped = Arc::new(AtomicBool::new(false));
    let (_server, mut client) = start(Stuck {
        dropped: Arc::clone(&dropped),
    })
    .await;
    let mut stream = client
        .update(proto::UpdateRequest {
            configuration: HashMap::new(),
            selection: None,
            state_json: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());
    assert!(stream.message().await.unwrap().is_some());
    assert!(!dropped.load(Ordering::SeqCst));
    drop(stream);
    drop(client);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while !dropped.load(Ordering::SeqCst) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        dropped.load(Ordering::SeqCst),
        "connector still running 1 s after the client left"
    );
}
