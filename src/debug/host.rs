//! The host seam: one full sync of any connector, in Fivetran's call order, into the local warehouse.
//! `debug`, every connector's tests, the compliance suite and the benchmarks go through it, so nobody
//! writes the `Update` loop again.
//!
//! It is a Fivetran host in miniature. It starts the real gRPC server on loopback (the same service
//! `serve` exposes), then calls it in Fivetran's order: `ConfigurationForm`, every setup `Test`, `Schema`,
//! `Update`. Every `UpdateResponse` goes to the SQLite warehouse on its own thread (SQLite is blocking;
//! the server and an in-process simulator share this runtime). A checkpoint commits the rows before it
//! and then writes `files/state.json`; a failed sync rolls back to the last checkpoint.
//!
//! [`HostOptions::stop_after_checkpoints`] makes the host go away right after a given checkpoint, as a
//! worker that dies would: the warehouse and state stay at that checkpoint, and the next sync resumes
//! from it. That is how the compliance suite rehearses a kill at a checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::debug::inputs::{self, InputError};
use crate::debug::naming::Naming;
use crate::debug::progress::Progress;
use crate::debug::warehouse::{
    Alert, Applied, LocalWarehouse, SyncSummary, WarehouseError, WarehouseOptions,
};
use crate::proto::{self, update_response::Operation};
use crate::registry;
use crate::sdk::{DynConnector, EmitterOptions};
use crate::server::{LocalServer, SourceService};

/// What to sync and where, for [`sync`].
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The configuration map (already read and checked to be all strings).
    pub configuration: HashMap<String, String>,
    /// Where the configuration came from, for messages.
    pub configuration_source: PathBuf,
    /// The `files/` directory: `warehouse.db` and `state.json`.
    pub files_dir: PathBuf,
    /// The starting state (JSON); `None`: `files/state.json`, else `{}`.
    pub state_json: Option<String>,
    /// Where that state came from, for messages.
    pub state_source: PathBuf,
    /// Table and column selection sent with `Update`; `None`: everything.
    pub selection: Option<proto::Selection>,
    /// Stop each table after about this many records, at a consistent checkpoint.
    pub limit: Option<u64>,
    /// Destination naming.
    pub naming: Naming,
    /// Print progress on stderr.
    pub show_progress: bool,
    /// Run the form's setup tests before syncing (Fivetran does at setup; tests may skip them).
    pub setup_tests: bool,
    /// Go away right after this many checkpoints were committed (a worker killed there).
    pub stop_after_checkpoints: Option<u64>,
    /// Cancelled to stop the sync at its next checkpoint (a signal), or within
    /// [`DEBUG_STOP_GRACE`] without one; the outcome is then a failure saying so.
    pub stop: Option<tokio_util::sync::CancellationToken>,
}

/// How long a stopped `debug` sync may run on without reaching a checkpoint.
pub const DEBUG_STOP_GRACE: Duration = Duration::from_secs(10);

impl HostOptions {
    /// A sync of `configuration` into `files_dir` from its `state.json`: setup tests run, Fivetran
    /// naming, everything selected, no limit, no progress output.
    pub fn new(configuration: HashMap<String, String>, files_dir: impl Into<PathBuf>) -> Self {
        let files_dir = files_dir.into();
        Self {
            configuration,
            configuration_source: PathBuf::from("(configuration)"),
            state_source: files_dir.join("state.json"),
            files_dir,
            state_json: None,
            selection: None,
            limit: None,
            naming: Naming::Fivetran,
            show_progress: false,
            setup_tests: true,
            stop_after_checkpoints: None,
            stop: None,
        }
    }
}

/// Why a sync could not start at all (nothing was written in any of these cases).
#[derive(Debug, thiserror::Error)]
pub enum DebugError {
    /// Bad configuration or state input.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The state does not fit the connector.
    #[error("state in {path} does not fit connector '{connector}': {reason}")]
    State {
        /// The state's source.
        path: String,
        /// The connector.
        connector: String,
        /// What is wrong.
        reason: String,
    },
    /// Unknown connector name.
    #[error(transparent)]
    UnknownConnector(#[from] registry::UnknownConnector),
    /// `--definition FILE` does not load.
    #[error(transparent)]
    Definition(#[from] crate::declarative::DefinitionError),
    /// `base_url` asks for a simulator the connector does not have, or it failed to start.
    #[error("simulator: {0}")]
    Simulator(String),
    /// A setup test failed.
    #[error("setup test '{test}' failed with configuration file {}: {message}", path.display())]
    SetupTest {
        /// The test's name.
        test: String,
        /// The configuration file.
        path: PathBuf,
        /// Its message.
        message: String,
    },
    /// The local server could not start or a setup RPC failed.
    #[error("{0}")]
    Rpc(String),
    /// The warehouse could not be opened.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

/// The result of a sync that reached the warehouse.
#[derive(Debug, Clone)]
pub struct DebugOutcome {
    /// What the warehouse applied.
    pub summary: SyncSummary,
    /// `None` when the sync succeeded; else the error (the warehouse rolled back to the last checkpoint).
    pub failure: Option<String>,
    /// The connector's warnings, in order.
    pub warnings: Vec<String>,
    /// Records received per source table.
    pub records_by_table: BTreeMap<String, u64>,
    /// Checkpoints committed.
    pub checkpoints: u64,
    /// Whether the host went away at [`HostOptions::stop_after_checkpoints`].
    pub stopped_early: bool,
    /// Wall time of the sync.
    pub elapsed: Duration,
    /// Where the simulator ran, when one was started.
    pub simulator: Option<String>,
}

impl DebugOutcome {
    /// Whether the sync ran to its end and succeeded.
    pub fn succeeded(&self) -> bool {
        self.failure.is_none() && !self.stopped_early
    }
}

enum ToWarehouse {
    Schema(Box<proto::SchemaResponse>),
    Update(Box<proto::UpdateResponse>),
}

enum WarehouseEnd {
    Finish,
    Abort,
}

/// Runs one sync of `connector`. `Err` means nothing was synced (bad state, failed setup test); a sync
/// that failed midway is an `Ok` outcome with `failure` set.
pub async fn sync(
    connector: Arc<dyn DynConnector>,
    options: HostOptions,
) -> Result<DebugOutcome, DebugError> {
    let state_json = match &options.state_json {
        Some(state) => state.clone(),
        None => inputs::read_state(None, &options.files_dir)?,
    };
    connector
        .check_state(Some(&state_json))
        .map_err(|e| DebugError::State {
            path: options.state_source.display().to_string(),
            connector: "this connector".to_owned(),
            reason: e.to_string(),
        })?;

    let mut service = SourceService::with_options(
        Arc::clone(&connector),
        EmitterOptions {
            record_limit_per_table: options.limit,
            cells: crate::sdk::wire::CellEncoding::from_env(),
            ..EmitterOptions::default()
        },
    );
    if let Some(stop) = &options.stop {
        service = service.stopping_on(stop.clone(), DEBUG_STOP_GRACE);
    }
    let server = LocalServer::start(service)
        .await
        .map_err(|e| DebugError::Rpc(format!("cannot start the local server: {e}")))?;
    let mut client = server
        .client()
        .await
        .map_err(|e| DebugError::Rpc(format!("cannot connect to the local server: {e}")))?;

    let form = client
        .configuration_form(proto::ConfigurationFormRequest {})
        .await
        .map_err(|s| DebugError::Rpc(format!("ConfigurationForm failed: {}", s.message())))?
        .into_inner();
    let input_warnings =
        inputs::check_against_form(&form, &options.configuration, &options.configuration_source)?;
    for warning in &input_warnings {
        tracing::warn!("{warning}");
    }
    if options.setup_tests {
        for test in &form.tests {
            let response = client
                .test(proto::TestRequest {
                    name: test.name.clone(),
                    configuration: options.configuration.clone(),
                })
                .await
                .map_err(|s| {
                    DebugError::Rpc(format!("Test '{}' failed: {}", test.name, s.message()))
                })?
                .into_inner();
            if let Some(proto::test_response::Response::Failure(message)) = response.response {
                return Err(DebugError::SetupTest {
                    test: test.name.clone(),
                    path: options.configuration_source.clone(),
                    message,
                });
            }
        }
    }
    let schema = client
        .schema(proto::SchemaRequest {
            configuration: options.configuration.clone(),
        })
        .await
        .map_err(|s| DebugError::Rpc(format!("Schema failed: {}", s.message())))?
        .into_inner();

    // Inputs are good: from here on the warehouse is written.
    let warehouse = LocalWarehouse::open(
        &options.files_dir,
        WarehouseOptions {
            naming: options.naming,
            starting_state: Some(state_json.clone()),
            ..WarehouseOptions::default()
        },
    )?;
    let (to_wh, from_runner) = std_mpsc::sync_channel::<ToWarehouse>(64);
    let (end_tx, end_rx) = std_mpsc::sync_channel::<WarehouseEnd>(1);
    let writer = std::thread::Builder::new()
        .name("warehouse".into())
        .spawn(move || warehouse_thread(warehouse, from_runner, end_rx))
        .map_err(|e| DebugError::Rpc(format!("cannot start the warehouse thread: {e}")))?;

    let mut progress = Progress::new(options.show_progress);
    let request = proto::UpdateRequest {
        configuration: options.configuration.clone(),
        selection: options.selection.clone(),
        state_json: Some(state_json),
    };
    let streamed = stream_update(
        &mut client,
        request,
        schema,
        &to_wh,
        &mut progress,
        options.stop_after_checkpoints,
    )
    .await;
    progress.finish();
    drop(to_wh);
    let _ = end_tx.send(if streamed.failure.is_none() && !streamed.stopped_early {
        WarehouseEnd::Finish
    } else {
        WarehouseEnd::Abort
    });
    let (summary, wh_failure) = writer
        .join()
        .map_err(|_| DebugError::Rpc("the warehouse thread panicked".into()))?;
    drop(client);
    server.stop().await;
    Ok(DebugOutcome {
        summary,
        failure: streamed.failure.or(wh_failure),
        warnings: input_warnings
            .into_iter()
            .chain(streamed.warnings)
            .collect(),
        records_by_table: progress.tables().clone(),
        checkpoints: streamed.checkpoints,
        stopped_early: streamed.stopped_early,
        elapsed: progress.elapsed(),
        simulator: None,
    })
}

/// What streaming one `Update` saw.
struct Streamed {
    failure: Option<String>,
    warnings: Vec<String>,
    checkpoints: u64,
    stopped_early: bool,
}

/// Streams one `Update` into the warehouse thread.
async fn stream_update(
    client: &mut crate::server::Client,
    request: proto::UpdateRequest,
    schema: proto::SchemaResponse,
    to_wh: &std_mpsc::SyncSender<ToWarehouse>,
    progress: &mut Progress,
    stop_after_checkpoints: Option<u64>,
) -> Streamed {
    let mut seen = Streamed {
        failure: None,
        warnings: Vec::new(),
        checkpoints: 0,
        stopped_early: false,
    };
    // The warehouse thread stopping early (an error) closes the channel: stop reading then.
    let forward = |msg: ToWarehouse| to_wh.send(msg).is_ok();
    if !forward(ToWarehouse::Schema(Box::new(schema))) {
        seen.failure = Some("the warehouse stopped before the sync started".into());
        return seen;
    }
    let mut stream = match client.update(request).await {
        Ok(r) => r.into_inner(),
        Err(status) => {
            seen.failure = Some(format!("Update failed: {}", status.message()));
            return seen;
        }
    };
    loop {
        match stream.message().await {
            Ok(Some(msg)) => {
                let mut task = None;
                match &msg.operation {
                    Some(Operation::StructuredRecords(r)) => count_records(progress, r),
                    Some(Operation::StructuredRecord(r)) => progress.records(&r.table_name, 1),
                    Some(Operation::Checkpoint(_)) => {
                        progress.checkpoint();
                        seen.checkpoints += 1;
                    }
                    Some(Operation::Warning(w)) => {
                        seen.warnings.push(Alert::parse(&w.message).message)
                    }
                    Some(Operation::Task(t)) => task = Some(Alert::parse(&t.message).message),
                    _ => {}
                }
                if !forward(ToWarehouse::Update(Box::new(msg))) {
                    seen.failure = Some("the warehouse stopped applying records".into());
                    return seen;
                }
                if task.is_some() {
                    seen.failure = task;
                    return seen;
                }
                if stop_after_checkpoints.is_some_and(|k| seen.checkpoints >= k) {
                    seen.stopped_early = true;
                    return seen; // dropping the stream is the host going away
                }
                progress.tick();
            }
            Ok(None) => return seen,
            Err(status) => {
                seen.failure = Some(format!("{} ({:?})", status.message(), status.code()));
                return seen;
            }
        }
    }
}

/// Counts a batch's records by table (batches are per table in practice: one lookup per batch then).
fn count_records(progress: &mut Progress, batch: &proto::StructuredRecords) {
    let Some(first) = batch.structured_records.first() else {
        return;
    };
    if batch
        .structured_records
        .iter()
        .all(|r| r.table_name == first.table_name)
    {
        progress.records(&first.table_name, batch.structured_records.len() as u64);
    } else {
        for record in &batch.structured_records {
            progress.records(&record.table_name, 1);
        }
    }
}

/// Applies everything it receives, then finishes or aborts. Returns the summary and the warehouse's own
/// failure, if one happened.
fn warehouse_thread(
    mut warehouse: LocalWarehouse,
    messages: std_mpsc::Receiver<ToWarehouse>,
    end: std_mpsc::Receiver<WarehouseEnd>,
) -> (SyncSummary, Option<String>) {
    let mut failure = None;
    for msg in messages.iter() {
        let result = match msg {
            ToWarehouse::Schema(s) => warehouse.apply_schema(&s).map(|()| Applied::SchemaChanged),
            ToWarehouse::Update(u) => warehouse.apply(&u),
        };
        match result {
            Ok(Applied::Warning(alert)) => tracing::warn!("connector warning: {}", alert.message),
            Ok(_) => {}
            Err(e) => {
                failure = Some(format!("the local warehouse failed: {e}"));
                break; // dropping `messages` tells the runner to stop
            }
        }
    }
    drop(messages);
    let end = if failure.is_some() {
        WarehouseEnd::Abort
    } else {
        end.recv().unwrap_or(WarehouseEnd::Abort)
    };
    let closing = match end {
        WarehouseEnd::Finish => warehouse.finish(),
        WarehouseEnd::Abort => warehouse.abort(),
    };
    if let (Err(e), None) = (closing, &failure) {
        failure = Some(format!("the local warehouse failed to close the sync: {e}"));
    }
    (warehouse.summary(), failure)
}
