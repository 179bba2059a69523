//! `fivetran_source debug`: one full sync of a registered connector through the production code path
//! into the local warehouse, starting its bundled simulator when the configuration asks for one. The
//! sync itself is the [host seam](crate::debug::host).
//!
//! Inputs are validated before anything is written: configuration values must be strings, required
//! fields present, and the state must parse as the connector's state.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::debug::host::{self, HostOptions};
use crate::debug::inputs;
use crate::debug::naming::Naming;
use crate::registry;
use crate::simulator::launch::{RunningSimulator, SimulatorRequest, SIMULATOR_URL};
use crate::simulator::options::SimulatorOptions;

pub use crate::debug::host::{DebugError, DebugOutcome};

/// What to sync and where.
#[derive(Debug, Clone)]
pub struct DebugOptions {
    /// Registered connector name.
    pub connector: String,
    /// `--definition FILE`: run this declarative definition instead (its bundled simulator, for
    /// `"base_url": "simulator"`, is that of the registered connector of the same name, if any).
    pub definition: Option<PathBuf>,
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
    /// What to set on the bundled simulator (knobs, settings, faults).
    pub simulator: SimulatorOptions,
    /// Cancelled to stop at the next checkpoint (see [`HostOptions::stop`]).
    pub stop: Option<tokio_util::sync::CancellationToken>,
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
            definition: None,
            configuration,
            configuration_source: PathBuf::from("(configuration)"),
            files_dir: files_dir.into(),
            state_file: None,
            limit: None,
            naming: Naming::Fivetran,
            show_progress: false,
            simulator: SimulatorOptions::default(),
            stop: None,
        }
    }
}

/// Runs one sync. `Err` means nothing was synced (bad input, failed setup test); a sync that failed
/// midway is an `Ok` outcome with `failure` set.
pub async fn run_debug(options: DebugOptions) -> Result<DebugOutcome, DebugError> {
    let (registration, connector) = match &options.definition {
        None => {
            let registration = registry::find(&options.connector)?;
            (registration, (registration.build)())
        }
        Some(path) => {
            let loaded = crate::declarative::load_file(path)?;
            let registration =
                registry::find(&loaded.definition().name).unwrap_or(&registry::NO_SIMULATOR);
            (
                registration,
                Arc::new(loaded) as Arc<dyn crate::sdk::DynConnector>,
            )
        }
    };

    let state_source = options
        .state_file
        .clone()
        .unwrap_or_else(|| options.files_dir.join("state.json"));
    let state_json = inputs::read_state(options.state_file.as_deref(), &options.files_dir)?;
    // Refuse a bad state before starting anything, naming the connector.
    connector
        .check_state(Some(&state_json))
        .map_err(|e| DebugError::State {
            path: state_source.display().to_string(),
            connector: options.connector.clone(),
            reason: e.to_string(),
        })?;

    let (configuration, _simulator_guard, simulator) = start_simulator_if_asked(
        registration,
        &options.configuration,
        options.simulator.clone(),
    )
    .await?;
    let host_options = HostOptions {
        configuration,
        configuration_source: options.configuration_source,
        files_dir: options.files_dir,
        state_json: Some(state_json),
        state_source,
        selection: None,
        limit: options.limit,
        naming: options.naming,
        show_progress: options.show_progress,
        setup_tests: true,
        stop_after_checkpoints: None,
        stop: options.stop,
    };
    let mut outcome = host::sync(connector, host_options).await?;
    outcome.simulator = simulator;
    Ok(outcome)
}

type SimulatorStart = (
    HashMap<String, String>,
    Option<RunningSimulator>,
    Option<String>,
);

async fn start_simulator_if_asked(
    registration: &registry::Registration,
    configuration: &HashMap<String, String>,
    simulator: SimulatorOptions,
) -> Result<SimulatorStart, DebugError> {
    if configuration.get("base_url").map(String::as_str) != Some(SIMULATOR_URL) {
        if simulator != SimulatorOptions::default() {
            return Err(DebugError::Simulator(format!(
                "simulator options apply only with \"base_url\": \"{SIMULATOR_URL}\" in the configuration"
            )));
        }
        return Ok((configuration.clone(), None, None));
    }
    let Some(entry) = registration.simulator else {
        return Err(DebugError::Simulator(format!(
            "connector '{}' has no bundled simulator; set base_url to the API's URL",
            registration.name
        )));
    };
    let running = (entry.start)(SimulatorRequest {
        configuration: configuration.clone(),
        options: simulator,
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
