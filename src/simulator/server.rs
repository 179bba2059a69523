//! Binding, serving and stopping a simulator's HTTP server.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::middleware::from_fn_with_state;
use axum::Router;
use tokio::task::JoinHandle;

use super::control::SimControl;
use super::hooks::SimulatorHooks;
use super::pipeline::{self, Pipeline};
use super::{http_control, SimError};

/// How long [`SimServer::shutdown`] waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running simulator server on 127.0.0.1. Dropping it (or calling [`SimServer::shutdown`])
/// stops accepting connections, cancels hung and slow requests, and lets open ones finish.
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    control: Arc<SimControl>,
    task: Option<JoinHandle<()>>,
}

impl SimServer {
    /// Serves `api` (a router with its state applied) on `127.0.0.1:port` (0: any free port),
    /// wrapped in the shared pipeline and merged with the `/__sim` control endpoints.
    ///
    /// Must be called inside a Tokio runtime.
    pub async fn start(
        port: u16,
        api: Router,
        control: Arc<SimControl>,
        hooks: Arc<dyn SimulatorHooks>,
    ) -> Result<Self, SimError> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;

        let pipeline = Pipeline {
            control: Arc::clone(&control),
            hooks: Arc::clone(&hooks),
        };
        let fallback_hooks = Arc::clone(&hooks);
        let app = api
            .fallback(move || {
                let hooks = Arc::clone(&fallback_hooks);
                async move { hooks.not_found() }
            })
            .layer(from_fn_with_state(pipeline.clone(), pipeline::run))
            .merge(http_control::router(pipeline));

        let shutdown = control.shutdown_token().clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "simulator server stopped with an error");
            }
        });
        tracing::debug!(%addr, "simulator listening");
        Ok(Self {
            addr,
            control,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:<port>` without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared control state.
    pub fn control(&self) -> &Arc<SimControl> {
        &self.control
    }

    /// Stops the server and waits (up to a few seconds) for open connections to close.
    pub async fn shutdown(mut self) {
        self.control.shutdown_token().cancel();
        if let Some(task) = self.task.take() {
            // A client holding a streamed download open must not block shutdown forever.
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, task).await;
        }
    }

    /// Resolves when the server stops (after a shutdown, or never), for `simulate` commands.
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.control.shutdown_token().cancel();
    }
}
