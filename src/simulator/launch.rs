//! Starting a connector's bundled simulator for `debug`, `simulate` and tests, written once.
//!
//! A configuration whose `base_url` is [`SIMULATOR_URL`] asks for the connector's simulator. Launching
//! one means the same three steps for every API: make the simulator and the configuration agree on
//! credentials (a value the user configured is what the simulator accepts; a missing one is filled in
//! from the simulator's own), start it on a port, and point `base_url` (and any other
//! [endpoint](BundledSimulator::endpoints) the API has, like an OAuth token URL) at it. A simulator
//! takes part by implementing [`BundledSimulator`]; the registry names
//! [`launch::<ItsSimulator>`](launch).

use std::collections::HashMap;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;

use super::options::{common_knobs, Knob, SimulatorOptions};
use super::{ServerOptions, SimControl, SimError};

/// The `base_url` value that asks for the connector's bundled simulator.
pub const SIMULATOR_URL: &str = "simulator";

/// What a host asks of a simulator.
#[derive(Debug, Clone, Default)]
pub struct SimulatorRequest {
    /// Port to listen on (`None`: any free port).
    pub port: Option<u16>,
    /// The user's configuration: the simulator accepts its credentials.
    pub configuration: HashMap<String, String>,
    /// What the user set on the simulator itself: knobs, settings, faults, latency.
    pub options: SimulatorOptions,
}

/// A running simulator. Dropping it stops the simulator.
pub struct RunningSimulator {
    /// The configuration to sync against it: the request's, with `base_url` and the credentials filled in.
    pub configuration: HashMap<String, String>,
    /// A one-line description for the user (URL, data size).
    pub description: String,
    /// Keeps the simulator alive.
    pub guard: Box<dyn std::any::Any + Send>,
}

impl std::fmt::Debug for RunningSimulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Configuration values may be secrets: show the description only.
        f.debug_struct("RunningSimulator")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// Starts a connector's simulator.
pub type StartSimulator =
    fn(SimulatorRequest) -> BoxFuture<'static, Result<RunningSimulator, String>>;

/// A connector's bundled simulator, as the registry holds it.
#[derive(Clone, Copy)]
pub struct SimulatorEntry {
    /// Starts it.
    pub start: StartSimulator,
    /// Its knobs, the common ones first (for `simulate NAME --help`).
    pub knobs: fn() -> Vec<Knob>,
    /// Its default settings as JSON (for `simulate NAME --print-settings`).
    pub defaults: fn() -> serde_json::Value,
}

/// The registry entry of simulator `S`.
pub const fn bundled<S: BundledSimulator>() -> SimulatorEntry {
    SimulatorEntry {
        start: launch::<S>,
        knobs: knobs::<S>,
        defaults: defaults::<S>,
    }
}

fn knobs<S: BundledSimulator>() -> Vec<Knob> {
    let mut all = common_knobs();
    all.extend(S::knobs());
    all
}

fn defaults<S: BundledSimulator>() -> serde_json::Value {
    // A `Config` is plain data: serializing its default cannot fail.
    serde_json::to_value(S::Config::default()).unwrap_or_default()
}

/// One credential both sides must agree on: the configuration field, and the value the simulator
/// accepts (which the launch may replace with the configured one).
#[derive(Debug)]
pub struct Credential<'a> {
    /// The configuration field, e.g. `api_key`.
    pub field: &'static str,
    /// What the simulator accepts.
    pub accepted: &'a mut String,
    /// Whether the connector trims the configured value before sending it (passwords are sent as typed).
    pub trimmed: bool,
}

impl<'a> Credential<'a> {
    /// A credential the connector trims (user names, codes, keys).
    pub fn trimmed(field: &'static str, accepted: &'a mut String) -> Self {
        Self {
            field,
            accepted,
            trimmed: true,
        }
    }

    /// A credential sent exactly as typed (passwords).
    pub fn exact(field: &'static str, accepted: &'a mut String) -> Self {
        Self {
            field,
            accepted,
            trimmed: false,
        }
    }
}

/// What a simulator tells the launcher about itself.
pub trait BundledSimulator: Sized + Send + 'static {
    /// Its settings; `Default` is the `debug` run's data, and any field may be overridden from JSON.
    type Config: Default + DeserializeOwned + serde::Serialize + Send + 'static;

    /// The server options inside `config` (the launcher sets the port).
    fn server_options(config: &mut Self::Config) -> &mut ServerOptions;
    /// The credentials inside `config` that the connector's configuration must match.
    fn credentials(config: &mut Self::Config) -> Vec<Credential<'_>>;
    /// One line on the data it serves, e.g. "12,000 contacts, 30,000 gifts".
    fn describe(config: &Self::Config) -> String;
    /// The knobs a person may set by name, beyond [`common_knobs`].
    fn knobs() -> Vec<Knob> {
        Vec::new()
    }
    /// Starts serving `config`.
    fn start(config: Self::Config) -> BoxFuture<'static, Result<Self, SimError>>;
    /// Its control state (where the fault plan goes).
    fn control(&self) -> &SimControl;
    /// `http://127.0.0.1:<port>`.
    fn base_url(&self) -> String;
    /// Configuration fields besides `base_url` that must point at the running simulator, such as
    /// an OAuth token endpoint the API has on another host (`token_url`). They replace whatever the
    /// configuration held: with `base_url` set to the simulator, a production URL there is wrong.
    fn endpoints(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// Makes `configuration` and the simulator agree on every credential: a configured value becomes the
/// accepted one (trimmed where the connector trims it); a missing one is filled in from the simulator.
pub fn agree_on_credentials(
    configuration: &mut HashMap<String, String>,
    credentials: Vec<Credential<'_>>,
) {
    for credential in credentials {
        match configuration
            .get(credential.field)
            .filter(|v| !v.trim().is_empty())
        {
            Some(given) if credential.trimmed => given.trim().clone_into(credential.accepted),
            Some(given) => given.clone_into(credential.accepted),
            None => {
                configuration.insert(credential.field.to_owned(), credential.accepted.clone());
            }
        }
    }
}

/// The settings `S` starts with under `options` (its defaults, the settings object, the knobs).
pub fn settings<S: BundledSimulator>(options: &SimulatorOptions) -> Result<S::Config, String> {
    let value = options.settings_over(defaults::<S>(), &knobs::<S>())?;
    serde_json::from_value(value).map_err(|e| format!("the simulator settings do not fit: {e}"))
}

/// Starts simulator `S` for `request`: settings, credentials, port, then `base_url` in the configuration.
pub fn launch<S: BundledSimulator>(
    request: SimulatorRequest,
) -> BoxFuture<'static, Result<RunningSimulator, String>> {
    Box::pin(async move {
        let mut config = settings::<S>(&request.options)?;
        let faults = request.options.fault_plan()?;
        if let Some(port) = request.port {
            S::server_options(&mut config).port = port;
        }
        let mut configuration = request.configuration;
        agree_on_credentials(&mut configuration, S::credentials(&mut config));
        let about = S::describe(&config);
        let sim = S::start(config).await.map_err(|e| e.to_string())?;
        for rule in faults {
            sim.control().faults().add(rule);
        }
        let base_url = sim.base_url();
        configuration.insert("base_url".to_owned(), base_url.clone());
        for (field, url) in sim.endpoints() {
            configuration.insert(field.to_owned(), url);
        }
        Ok(RunningSimulator {
            configuration,
            description: format!("{base_url}: {about}"),
            guard: Box::new(sim),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_credentials_win_and_missing_ones_are_filled_in() {
        let mut configuration: HashMap<String, String> = [
            ("user".to_owned(), " me ".to_owned()),
            ("password".to_owned(), " pa ss".to_owned()),
        ]
        .into_iter()
        .collect();
        let (mut user, mut password, mut code) =
            ("sim".to_owned(), "sim".to_owned(), "SIM".to_owned());
        agree_on_credentials(
            &mut configuration,
            vec![
                Credential::trimmed("user", &mut user),
                Credential::exact("password", &mut password),
                Credential::trimmed("code", &mut code),
            ],
        );
        assert_eq!((user.as_str(), password.as_str()), ("me", " pa ss"));
        assert_eq!(configuration["code"], "SIM");
    }
}
