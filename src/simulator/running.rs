//! A running API simulator, written once: the API's own state behind the shared server.
//!
//! An API simulator implements [`ApiSimulator`] on its state (what its settings are, how its control
//! state and routes are made, which configuration fields it fills in for a connector) and is then
//! `Running<ItsState>`: started, addressed, stopped and launched for `debug` the same way as every
//! other. Its own accessors (truth, advance, counters) go in an `impl Running<ItsState>` block of its
//! module.

use std::sync::Arc;

use axum::Router;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::launch::{BundledSimulator, Credential};
use super::options::Knob;
use super::{
    AdvanceSummary, Generational, ServerOptions, SimControl, SimError, SimServer, SimSettings,
    SimulatorHooks, Timeline,
};

/// What an API simulator's state tells the shared machinery.
pub trait ApiSimulator: SimulatorHooks + Sized {
    /// Its settings; `Default` is the `debug` run's data.
    type Config: SimSettings + Default + DeserializeOwned + Serialize + Send + 'static;
    /// Its data, changing in generations.
    type Data: Generational;

    /// The settings it runs with.
    fn config(&self) -> &Self::Config;
    /// Its data's timeline.
    fn timeline(&self) -> &Timeline<Self::Data>;

    /// Settles `config` before anything starts (normalising what a launch filled in) and refuses a
    /// contradictory one.
    fn prepare(_config: &mut Self::Config) -> Result<(), SimError> {
        Ok(())
    }
    /// The control state (seed, clock, request log, faults, rate limit) for `config`.
    fn control(config: &Self::Config) -> SimControl {
        SimControl::new(
            config.seed(),
            config.data_end(),
            config.server(),
            config.rate_limit().clone(),
        )
    }
    /// The state serving `config`.
    fn new(config: Self::Config, control: Arc<SimControl>) -> Self;
    /// The API's routes over the state.
    fn router(state: Arc<Self>) -> Router;
    /// The server options inside `config`.
    fn server_options(config: &mut Self::Config) -> &mut ServerOptions {
        config.server_mut()
    }
    /// The credentials inside `config` that a connector's configuration must match.
    fn credentials(config: &mut Self::Config) -> Vec<Credential<'_>>;
    /// One line on the data it serves.
    fn describe(config: &Self::Config) -> String;
    /// The knobs a person may set by name (`simulate NAME --help`), beyond the common ones.
    fn knobs() -> Vec<Knob> {
        Vec::new()
    }
    /// The `base_url` a connector is configured with, given the server's address (the API's path
    /// prefix, if its base URL has one).
    fn connector_base_url(server: &str) -> String {
        server.to_owned()
    }
    /// Other configuration fields that must point at the simulator (an OAuth token URL), given the
    /// server's address.
    fn endpoints(_server: &str) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// A simulator serving on loopback. Dropping it shuts the server down.
pub struct Running<S> {
    state: Arc<S>,
    server: SimServer,
}

impl<S> std::fmt::Debug for Running<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.server.addr())
            .finish_non_exhaustive()
    }
}

impl<S: ApiSimulator> Running<S> {
    /// Starts the simulator on `127.0.0.1` at the configured port (0: a free one).
    pub async fn start(mut config: S::Config) -> Result<Self, SimError> {
        S::prepare(&mut config)?;
        let control = Arc::new(S::control(&config));
        let port = S::server_options(&mut config).port;
        let state = Arc::new(S::new(config, Arc::clone(&control)));
        let server = SimServer::start(
            port,
            S::router(Arc::clone(&state)),
            control,
            Arc::clone(&state) as Arc<dyn SimulatorHooks>,
        )
        .await?;
        Ok(Self { state, server })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Clock, request log, faults and rate limiter.
    pub fn control(&self) -> &SimControl {
        self.server.control()
    }

    /// The API's state (its settings, data and counters).
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The settings it runs with.
    pub fn config(&self) -> &S::Config {
        self.state.config()
    }

    /// The data as it is now (an immutable snapshot; cheap).
    pub fn data(&self) -> Arc<S::Data> {
        self.state.timeline().snapshot()
    }

    /// Applies `generations` generations of changes and moves the simulated clock on with them.
    /// Deterministic: the same seed and generation number always make the same changes.
    pub fn advance(&self, generations: u32) -> AdvanceSummary<<S::Data as Generational>::Change> {
        self.state.timeline().advance(generations)
    }

    /// The API's state, shared (for views that outlive a borrow of the simulator).
    pub fn shared_state(&self) -> Arc<S> {
        Arc::clone(&self.state)
    }

    /// Stops the server and waits briefly for open connections.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }

    /// Serves until the process ends (for `simulate NAME`).
    pub async fn wait(self) {
        self.server.wait().await;
    }
}

impl<S: ApiSimulator> BundledSimulator for Running<S> {
    type Config = S::Config;

    fn server_options(config: &mut S::Config) -> &mut ServerOptions {
        S::server_options(config)
    }

    fn credentials(config: &mut S::Config) -> Vec<Credential<'_>> {
        S::credentials(config)
    }

    fn describe(config: &S::Config) -> String {
        S::describe(config)
    }

    fn knobs() -> Vec<Knob> {
        S::knobs()
    }

    fn start(config: S::Config) -> BoxFuture<'static, Result<Self, SimError>> {
        Box::pin(Self::start(config))
    }

    fn control(&self) -> &SimControl {
        Running::control(self)
    }

    fn base_url(&self) -> String {
        S::connector_base_url(&self.server.base_url())
    }

    fn endpoints(&self) -> Vec<(&'static str, String)> {
        S::endpoints(&self.server.base_url())
    }
}
