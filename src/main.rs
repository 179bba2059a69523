//! The `fivetran_source` executable: the gRPC server (default), plus the local tools.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use fivetran_source::{logging, registry, server};

/// A Fivetran SourceConnector gRPC server and local connector toolkit.
#[derive(Debug, Parser)]
#[command(
    name = "fivetran_source",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the SourceConnector gRPC service (the default).
    Serve(ServeArgs),
    /// List the registered connectors.
    Connectors,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Port to listen on (IPv4 and IPv6).
    #[arg(long, default_value_t = server::DEFAULT_PORT)]
    port: u16,
    /// Connector to serve.
    #[arg(long, env = "FIVETRAN_SOURCE_CONNECTOR", default_value = registry::DEFAULT_CONNECTOR)]
    connector: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run_serve(cli.serve),
        Some(Command::Serve(args)) => run_serve(args),
        Some(Command::Connectors) => {
            for r in registry::CONNECTORS {
                println!("{:<12} {}", r.name, r.description);
            }
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    logging::init(logging::LogMode::FivetranJson);
    let registration = registry::find(&args.connector)?;
    runtime()?.block_on(async {
        let listener = server::bind(args.port)?;
        tracing::info!(
            connector = registration.name,
            port = args.port,
            version = env!("CARGO_PKG_VERSION"),
            "fivetran_source listening"
        );
        server::serve((registration.build)(), listener, server::shutdown_signal()).await?;
        tracing::info!("server stopped");
        Ok(())
    })
}
