//! `fivetran_source debug`: one full sync through the production code path into the local warehouse.
//!
//! The runner is a Fivetran host in miniature. It starts the real gRPC server on loopback (the same
//! service `serve` exposes), then calls it in Fivetran's order: `ConfigurationForm`, every setup `Test`,
//! `Schema`, `Update`. Every `UpdateResponse` goes to the SQLite warehouse on its own thread (SQLite is
//! blocking; the server and an in-process simulator share this runtime). A checkpoint commits the rows
//! before it and then writes `files/state.json`; a failed sync rolls back to the last checkpoint.
//!
//! Inputs are validated before anything is written: configuration values must be strings, required
//! fields present, and the state must parse as the connector's state.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::debug::inputs::{self, InputError};
use crate::debug::naming::Naming;
use crate::debug::progress::Progress;
use crate::debug::warehouse::{
    Applied, LocalWarehouse, SyncSummary, WarehouseError, WarehouseOptions,
};
use crate::proto::{self, update_response::Operation};
use crate::registry;
use crate::sdk::EmitterOptions;
use crate::server::{LocalServer, SourceService};
use crate::simulator::launch::{RunningSimulator, SimulatorRequest, SIMULATOR_URL};

/// What to sync and where.
#[derive(Debug, Clone)]
pub struct DebugOptions {
    /// Registered connector name.
    pub connector: String,
    /// The configuration map (already read and checked to be all strings).
    pub configuration: HashMap<String, String>,
    /// Where the configuration came from, for messages.
    pub configuration_source: PathBuf,
    /// The `files/` directory: `warehouse.db` and `state.json`.
    pub files_dir: PathBuf,
    /// `--state FILE`: the starting state instead of `files/state.json`.
    pub state_file: Option<PathBuf>,
    /// `--limit N`: stop each table after about N records, at a consistent checkpoint.
    pub limit: Option<u64>,
    /// Destination naming.
    pub naming: Naming,
    /// Print progress on stderr.
    pub show_progress: bool,
}

impl DebugOptions {
    /// Options for `connector` with `configuration`, writing into `files_dir`, Fivetran naming, no
    /// limit, no progress output.
    pub fn new(
        connector: &str,
        configuration: HashMap<String, String>,
        files_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            connector: connector.to_owned(),
            configuration,
            configuration_source: PathBuf::from("(configuration)"),
            files_dir: files_dir.into(),
            state_file: None,
            limit: None,
            naming: Naming::Fivetran,
            show_progress: false,
        }
    }
}

/// Why a debug run could not sync at all (nothing was written in any of these cases).
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
    /// `base_url` asks for a simulator the connector does not have, or it failed to start.
    #[error("simulator: {0}")]
    Simulator(String),
    /// A setup test failed.
    #[error("setup test '{test}' failed: {message}")]
    SetupTest {
        /// The test's name.
        test: String,
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
    /// Records received per source table.
    pub records_by_table: std::collections::BTreeMap<String, u64>,
    /// Wall time of the sync.
    pub elapsed: Duration,
    /// Where the simulator ran, when one was started.
    pub simulator: Option<String>,
}

impl DebugOutcome {
    /// Whether the sync succeeded.
    pub fn succeeded(&self) -> bool {
        self.failure.is_none()
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

/// Runs one sync. `Err` means nothing was synced (bad input, failed setup test); a sync that failed
/// midway is an `Ok` outcome with `failure` set.
pub async fn run_debug(options: DebugOptions) -> Result<DebugOutcome, DebugError> {
    let registration = registry::find(&options.connector)?;
    let connector = (registration.build)();

    let state_json = inputs::read_state(options.state_file.as_deref(), &options.files_dir)?;
    connector
        .check_state(Some(&state_json))
        .map_err(|e| DebugError::State {
            path: options
                .state_file
                .clone()
                .unwrap_or_else(|| options.files_dir.join("state.json"))
                .display()
                .to_string(),
            connector: options.connector.clone(),
            reason: e.to_string(),
        })?;

    let (configuration, _simulator_guard, simulator) =
        start_simulator_if_asked(registration, &options.configuration).await?;

    let service = SourceService::with_options(
        Arc::clone(&connector),
        EmitterOptions {
            record_limit_per_table: options.limit,
        },
    );
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
    inputs::check_required(&form, &options.configuration, &options.configuration_source)?;
    for test in &form.tests {
        let response = client
            .test(proto::TestRequest {
                name: test.name.clone(),
                configuration: configuration.clone(),
            })
            .await
            .map_err(|s| DebugError::Rpc(format!("Test '{}' failed: {}", test.name, s.message())))?
            .into_inner();
        if let Some(proto::test_response::Response::Failure(message)) = response.response {
            return Err(DebugError::SetupTest {
                test: test.name.clone(),
                message,
            });
        }
    }
    let schema = client
        .schema(proto::SchemaRequest {
            configuration: configuration.clone(),
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
    let failure = stream_update(
        &mut client,
        configuration,
        state_json,
        schema,
        &to_wh,
        &mut progress,
    )
    .await;
    progress.finish();
    drop(to_wh);
    let _ = end_tx.send(if failure.is_none() {
        WarehouseEnd::Finish
    } else {
        WarehouseEnd::Abort
    });
    let (summary, wh_failure) = writer
        .join()
        .map_err(|_| DebugError::Rpc("the warehouse thread panicked".into()))?;
    server.stop().await;
    Ok(DebugOutcome {
        summary,
        failure: failure.or(wh_failure),
        records_by_table: progress.tables().clone(),
        elapsed: progress.elapsed(),
        simulator,
    })
}

type SimulatorStart = (
    HashMap<String, String>,
    Option<RunningSimulator>,
    Option<String>,
);

async fn start_simulator_if_asked(
    registration: &registry::Registration,
    configuration: &HashMap<String, String>,
) -> Result<SimulatorStart, DebugError> {
    if configuration.get("base_url").map(String::as_str) != Some(SIMULATOR_URL) {
        return Ok((configuration.clone(), None, None));
    }
    let Some(start) = registration.simulator else {
        return Err(DebugError::Simulator(format!(
            "connector '{}' has no bundled simulator; set base_url to the API's URL",
            registration.name
        )));
    };
    let running = start(SimulatorRequest {
        configuration: configuration.clone(),
        ..SimulatorRequest::default()
    })
    .await
    .map_err(DebugError::Simulator)?;
    let description = running.description.clone();
    Ok((
        running.configuration.clone(),
        Some(running),
        Some(description),
    ))
}

/// Streams one `Update` into the warehouse thread; returns the failure, if any.
async fn stream_update(
    client: &mut crate::server::Client,
    configuration: HashMap<String, String>,
    state_json: String,
    schema: proto::SchemaResponse,
    to_wh: &std_mpsc::SyncSender<ToWarehouse>,
    progress: &mut Progress,
) -> Option<String> {
    // The warehouse thread stopping early (an error) closes the channel: stop reading then.
    let forward = |msg: ToWarehouse| to_wh.send(msg).is_ok();
    if !forward(ToWarehouse::Schema(Box::new(schema))) {
        return Some("the warehouse stopped before the sync started".into());
    }
    let request = proto::UpdateRequest {
        configuration,
        selection: None,
        state_json: Some(state_json),
    };
    let mut stream = match client.update(request).await {
        Ok(r) => r.into_inner(),
        Err(status) => return Some(format!("Update failed: {}", status.message())),
    };
    let mut task: Option<String> = None;
    loop {
        match stream.message().await {
            Ok(Some(msg)) => {
                match &msg.operation {
                    Some(Operation::StructuredRecords(r)) => {
                        if let Some(first) = r.structured_records.first() {
                            // Batches are per table in practice; count exactly anyway.
                            if r.structured_records
                                .iter()
                                .all(|x| x.table_name == first.table_name)
                            {
                                progress
                                    .records(&first.table_name, r.structured_records.len() as u64);
                            } else {
                                for rec in &r.structured_records {
                                    progress.records(&rec.table_name, 1);
                                }
                            }
                        }
                    }
                    Some(Operation::StructuredRecord(r)) => progress.records(&r.table_name, 1),
                    Some(Operation::Checkpoint(_)) => progress.checkpoint(),
                    Some(Operation::Task(t)) => {
                        task = Some(crate::debug::warehouse::Alert::parse(&t.message).message);
                    }
                    _ => {}
                }
                if !forward(ToWarehouse::Update(Box::new(msg))) {
                    return Some("the warehouse stopped applying records".into());
                }
                if task.is_some() {
                    return task;
                }
                progress.tick();
            }
            Ok(None) => return task,
            Err(status) => {
                return Some(
                    task.unwrap_or_else(|| format!("{} ({:?})", status.message(), status.code())),
                )
            }
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
