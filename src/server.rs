//! The tonic `SourceConnector` service: Fivetran's worker is the client, this is the server.
//!
//! Every RPC goes through the connector's [`DynConnector`] face. `Update` runs the connector on its own
//! task, feeding a bounded queue the response stream drains; when the client goes away the queue's
//! receiver is dropped, which stops the connector at its next await (within a second, even mid-request,
//! because the task races the connector against the queue's `closed()` signal).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::proto;
use crate::sdk::wire::CellEncoding;
use crate::sdk::wire::UpdateResponse;
use crate::sdk::Error;
use crate::sdk::{task_message, DynConnector, Emitter, EmitterOptions, Selection, QUEUE_CAPACITY};

/// The generated server trait and service wrapper (with `UpdateResponse` mapped to [`crate::sdk::wire`]).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod generated {
    include!(concat!(env!("OUT_DIR"), "/server/fivetran_sdk.v2.rs"));
}

use generated::source_connector_server::{SourceConnector, SourceConnectorServer};

/// Fivetran's maximum gRPC message size, both ways (128 MiB).
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024 * 1024;
/// The port the partner pipeline and Fivetran's docs use.
pub const DEFAULT_PORT: u16 = 50051;

/// How long a sync may run on after a shutdown began, when no checkpoint comes first.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The `SourceConnector` service for one connector.
pub struct SourceService {
    connector: Arc<dyn DynConnector>,
    options: EmitterOptions,
    stop: CancellationToken,
    grace: Duration,
}

impl SourceService {
    /// A service serving `connector`, with the cell encoding the process's environment asks for
    /// ([`CellEncoding::from_env`]).
    pub fn new(connector: Arc<dyn DynConnector>) -> Self {
        let options = EmitterOptions {
            cells: CellEncoding::from_env(),
            ..EmitterOptions::default()
        };
        Self::with_options(connector, options)
    }

    /// A service whose `Update` emitters use `options` (the debug runner's `--limit`).
    pub fn with_options(connector: Arc<dyn DynConnector>, options: EmitterOptions) -> Self {
        Self {
            connector,
            options,
            stop: CancellationToken::new(),
            grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }

    /// Stops on `stop`: new `Update`s are refused, running ones end at their next checkpoint, or
    /// after `grace` without one, with `UNAVAILABLE` (the next sync resumes from the last checkpoint).
    pub fn stopping_on(mut self, stop: CancellationToken, grace: Duration) -> Self {
        self.stop = stop;
        self.grace = grace;
        self
    }

    /// The tonic service: gzip accepted and sent, 128 MiB message limits both ways.
    pub fn into_server(self) -> SourceConnectorServer<Self> {
        SourceConnectorServer::new(self)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

#[tonic::async_trait]
impl SourceConnector for SourceService {
    async fn configuration_form(
        &self,
        _request: Request<proto::ConfigurationFormRequest>,
    ) -> Result<Response<proto::ConfigurationFormResponse>, Status> {
        Ok(Response::new(self.connector.form().to_proto()))
    }

    async fn test(
        &self,
        request: Request<proto::TestRequest>,
    ) -> Result<Response<proto::TestResponse>, Status> {
        use proto::test_response::Response as R;
        let request = request.into_inner();
        let response = match self
            .connector
            .test(&request.name, &request.configuration)
            .await
        {
            Ok(()) => {
                tracing::info!(test = %request.name, "setup test passed");
                R::Success(true)
            }
            Err(e @ Error::UnknownTest { .. }) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(test = %request.name, error = %e, "setup test failed");
                R::Failure(e.to_string())
            }
        };
        Ok(Response::new(proto::TestResponse {
            response: Some(response),
        }))
    }

    async fn schema(
        &self,
        request: Request<proto::SchemaRequest>,
    ) -> Result<Response<proto::SchemaResponse>, Status> {
        let config = request.into_inner().configuration;
        let schema = self.connector.schema(&config).await?;
        Ok(Response::new(schema.to_proto()))
    }

    type UpdateStream = ReceiverStream<Result<UpdateResponse, Status>>;

    async fn update(
        &self,
        request: Request<proto::UpdateRequest>,
    ) -> Result<Response<Self::UpdateStream>, Status> {
        if self.stop.is_cancelled() {
            return Err(Error::ShuttingDown.into());
        }
        let request = request.into_inner();
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let connector = Arc::clone(&self.connector);
        let options = EmitterOptions {
            stop: Some(self.stop.clone()),
            ..self.options.clone()
        };
        let deadline = {
            let (stop, grace) = (self.stop.clone(), self.grace);
            async move {
                stop.cancelled().await;
                tokio::time::sleep(grace).await;
            }
        };
        tokio::spawn(run_update(connector, request, tx, options, deadline));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// One sync on its own task: schema, emitter, connector; errors become a Task then a status. The
/// sync also ends when the client goes away, and when `deadline` passes (a shutdown's grace).
async fn run_update(
    connector: Arc<dyn DynConnector>,
    request: proto::UpdateRequest,
    tx: mpsc::Sender<Result<UpdateResponse, Status>>,
    options: EmitterOptions,
    deadline: impl std::future::Future<Output = ()>,
) {
    let started = Instant::now();
    tracing::info!("sync started");
    let closed = tx.clone();
    let work = sync_once(&*connector, &request, tx.clone(), options);
    let result = tokio::select! {
        r = work => r,
        () = closed.closed() => Err(Error::Cancelled),
        () = deadline => Err(Error::ShuttingDown),
    };
    match result {
        Ok(stats) => tracing::info!(
            records = stats.records,
            batches = stats.batches,
            checkpoints = stats.checkpoints,
            seconds = format!("{:.3}", started.elapsed().as_secs_f64()),
            "sync finished"
        ),
        Err(Error::Cancelled) => tracing::warn!("client disconnected; sync stopped"),
        // Not a Task: nothing is wrong with the connection, the next sync just resumes.
        Err(e @ Error::ShuttingDown) => {
            tracing::warn!("sync stopped for shutdown");
            let _ = tx.send(Err(e.into())).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "sync failed");
            let _ = tx
                .send(Ok(task_message(&e.to_string(), &error_chain(&e))))
                .await;
            let _ = tx.send(Err(e.into())).await;
        }
    }
}

async fn sync_once(
    connector: &dyn DynConnector,
    request: &proto::UpdateRequest,
    tx: mpsc::Sender<Result<UpdateResponse, Status>>,
    options: EmitterOptions,
) -> Result<crate::sdk::EmitterStats, Error> {
    let config: &HashMap<String, String> = &request.configuration;
    // Fail on bad state before touching the source.
    connector.check_state(request.state_json.as_deref())?;
    let schema = connector.schema(config).await?;
    let selection = Selection::from_proto(request.selection.clone());
    let mut emitter = Emitter::new(tx, &schema, &selection, options);
    let synced = connector
        .update(config, request.state_json.as_deref(), &mut emitter)
        .await;
    // Unreadable values are worth knowing about whether or not the sync finished.
    let reported = emitter.report_issues().await;
    synced?;
    reported?;
    emitter.flush().await?;
    Ok(emitter.stats())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join("\ncaused by: ")
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The port could not be bound (in use, or neither IPv6 nor IPv4 available).
    #[error("cannot listen on port {port}: {source}")]
    Bind {
        /// The port.
        port: u16,
        /// The IPv4 bind error.
        source: std::io::Error,
    },
    /// The transport failed while serving.
    #[error("grpc server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Binds `[::]:port` dual-stack (IPv4 and IPv6), falling back to `0.0.0.0:port` where IPv6 is absent,
/// as Fivetran's partner guide asks.
pub fn bind(port: u16) -> Result<tokio::net::TcpListener, ServeError> {
    let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    match bind_one(v6, true) {
        Ok(l) => Ok(l),
        // A taken port is taken on IPv4 too: report it as such, not as missing IPv6.
        Err(source) if source.kind() == std::io::ErrorKind::AddrInUse => {
            Err(ServeError::Bind { port, source })
        }
        Err(e6) => {
            tracing::warn!(error = %e6, "ipv6 unavailable, listening on ipv4 only");
            bind_one(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)), false)
                .map_err(|source| ServeError::Bind { port, source })
        }
    }
}

fn bind_one(addr: SocketAddr, dual_stack: bool) -> std::io::Result<tokio::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(socket.into())
}

/// Serves `connector` on `listener` until `stop` is cancelled; running syncs then end at their next
/// checkpoint or after `grace` (see [`SourceService::stopping_on`]) and the server returns.
pub async fn serve(
    connector: Arc<dyn DynConnector>,
    listener: tokio::net::TcpListener,
    stop: CancellationToken,
    grace: Duration,
) -> Result<(), ServeError> {
    let service = SourceService::new(connector).stopping_on(stop.clone(), grace);
    tonic::transport::Server::builder()
        .add_service(service.into_server())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop.cancelled_owned())
        .await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received");
}

/// A gRPC client of the `SourceConnector` service.
pub type Client =
    crate::proto::source_connector_client::SourceConnectorClient<tonic::transport::Channel>;

/// A server on an ephemeral loopback port, for the debug runner, tests and benchmarks: the same
/// service and transport as production, without a fixed port.
pub struct LocalServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl LocalServer {
    /// Starts `service` on `127.0.0.1:0`.
    pub async fn start(service: SourceService) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service.into_server())
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = rx.await;
                }),
        );
        Ok(Self {
            addr,
            shutdown: Some(tx),
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A connected client with 128 MiB limits and no compression (on loopback gzip only burns CPU).
    pub async fn client(&self) -> Result<Client, tonic::transport::Error> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))?
            .connect()
            .await?;
        Ok(Client::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// A connected client that sends and accepts gzip, as Fivetran's worker may.
    pub async fn gzip_client(&self) -> Result<Client, tonic::transport::Error> {
        Ok(self
            .client()
            .await?
            .send_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Gzip))
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Regression: a port already in use was logged as "ipv6 unavailable" before failing.
    #[tokio::test]
    async fn a_taken_port_is_reported_as_in_use_without_blaming_ipv6() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let logs = Buf::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .finish();
        let first = bind(0).expect("bind an ephemeral port");
        let port = first.local_addr().expect("addr").port();
        let err = tracing::subscriber::with_default(subscriber, || bind(port))
            .expect_err("second bind must fail");
        let ServeError::Bind { source, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse, "{err}");
        let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(!logged.contains("ipv6"), "misleading log: {logged}");
    }
}
