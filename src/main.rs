//! The `fivetran_source` executable: the gRPC server (default), plus the local tools.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use fivetran_source::debug::inputs;
use fivetran_source::debug::naming::Naming;
use fivetran_source::debug::runner::{run_debug, DebugOptions};
use fivetran_source::registry;
use fivetran_source::simulator::launch::SimulatorRequest;
use fivetran_source::{logging, server};

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
    /// Run one sync locally into files/warehouse.db through the same gRPC server.
    Debug(DebugArgs),
    /// Delete files/ (the local warehouse and state).
    Reset(ResetArgs),
    /// Run a connector's API simulator on loopback and print the configuration to use against it.
    Simulate(SimulateArgs),
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

#[derive(Debug, Args)]
struct DebugArgs {
    /// Connector to run.
    #[arg(long, env = "FIVETRAN_SOURCE_CONNECTOR", default_value = registry::DEFAULT_CONNECTOR)]
    connector: String,
    /// Configuration file (default: $FIVETRAN_CONFIGURATION, else ./configuration.json).
    #[arg(long)]
    configuration: Option<PathBuf>,
    /// State file to start from (default: files/state.json, else {}).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Stop each table after about N records, at a consistent checkpoint.
    #[arg(long)]
    limit: Option<u64>,
    /// Destination naming: `fivetran` (userData -> user_data) or `source` (names as sent).
    #[arg(long, default_value = "fivetran")]
    naming: String,
    /// Where the warehouse and state live.
    #[arg(long, default_value = "files")]
    files: PathBuf,
}

#[derive(Debug, Args)]
struct ResetArgs {
    /// Do not ask for confirmation.
    #[arg(long, short)]
    yes: bool,
    /// The directory to delete.
    #[arg(long, default_value = "files")]
    files: PathBuf,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// Connector whose simulator to run.
    name: String,
    /// Port on 127.0.0.1 (default: any free port).
    #[arg(long)]
    port: Option<u16>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run_serve(cli.serve),
        Some(Command::Serve(args)) => run_serve(args),
        Some(Command::Debug(args)) => return run_debug_command(args),
        Some(Command::Reset(args)) => run_reset(args),
        Some(Command::Simulate(args)) => run_simulate(args),
        Some(Command::Connectors) => {
            for r in registry::CONNECTORS {
                let sim = if r.simulator.is_some() {
                    " (bundled simulator)"
                } else {
                    ""
                };
                println!("{:<10} {}{sim}", r.name, r.description);
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

fn run_debug_command(args: DebugArgs) -> ExitCode {
    logging::init(logging::LogMode::Human);
    match debug(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            println!("SYNC FAILED");
            ExitCode::FAILURE
        }
    }
}

/// Runs the sync; `Ok(false)` when it failed midway (already reported).
fn debug(args: DebugArgs) -> anyhow::Result<bool> {
    let naming: Naming = args.naming.parse()?;
    let config_path = inputs::configuration_path(args.configuration.as_deref());
    let configuration = inputs::read_configuration(&config_path)?;
    let options = DebugOptions {
        connector: args.connector.clone(),
        configuration,
        configuration_source: config_path.clone(),
        files_dir: args.files.clone(),
        state_file: args.state,
        limit: args.limit,
        naming,
        show_progress: true,
        simulator_settings: None,
    };
    eprintln!(
        "debug: connector '{}', configuration {}, warehouse {}",
        args.connector,
        config_path.display(),
        args.files.join("warehouse.db").display()
    );
    let outcome = runtime()?.block_on(run_debug(options))?;
    if let Some(sim) = &outcome.simulator {
        eprintln!("debug: synced from the bundled simulator ({sim})");
    }
    println!("{}", outcome.summary);
    let secs = outcome.elapsed.as_secs_f64().max(1e-9);
    let records: u64 = outcome.records_by_table.values().sum();
    println!(
        "Elapsed {secs:.2} s · {records} records · {:.0} records/s",
        records as f64 / secs
    );
    let db = args.files.join("warehouse.db");
    match &outcome.failure {
        None => {
            println!("SYNC SUCCEEDED");
            println!(
                "Look at the rows: sqlite3 {} '.tables'   (tables are named \"<schema>.<table>\", e.g. select * from \"tester.{}\" limit 5)",
                db.display(),
                outcome.records_by_table.keys().next().map_or("<table>", String::as_str)
            );
            println!(
                "Run `fivetran_source debug` again for an incremental sync, `fivetran_source reset` to start over."
            );
            Ok(true)
        }
        Some(error) => {
            println!("SYNC FAILED: {error}");
            println!(
                "The warehouse and {} hold the last checkpoint; the next run resumes from there.",
                args.files.join("state.json").display()
            );
            Ok(false)
        }
    }
}

fn run_reset(args: ResetArgs) -> anyhow::Result<()> {
    if !args.files.exists() {
        println!("nothing to reset: {} does not exist", args.files.display());
        return Ok(());
    }
    if !args.yes && !confirm(&args.files)? {
        println!("reset cancelled");
        return Ok(());
    }
    std::fs::remove_dir_all(&args.files)
        .with_context(|| format!("removing {}", args.files.display()))?;
    println!(
        "removed {} (warehouse and state): the next debug run is a fresh sync",
        args.files.display()
    );
    Ok(())
}

fn confirm(files: &Path) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!(
            "refusing to delete {} without confirmation; pass --yes",
            files.display()
        );
    }
    print!(
        "delete {} (the local warehouse and state)? [y/N] ",
        files.display()
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn run_simulate(args: SimulateArgs) -> anyhow::Result<()> {
    logging::init(logging::LogMode::Human);
    let registration = registry::find(&args.name)?;
    let start = registration
        .simulator
        .with_context(|| format!("connector '{}' has no simulator", registration.name))?;
    runtime()?.block_on(async {
        let running = start(SimulatorRequest {
            port: args.port,
            ..SimulatorRequest::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("starting the simulator: {e}"))?;
        eprintln!(
            "{} simulator running: {}",
            registration.name, running.description
        );
        eprintln!("configuration to sync against it (Ctrl-C stops the simulator):");
        let config: std::collections::BTreeMap<_, _> = running.configuration.iter().collect();
        println!("{}", serde_json::to_string_pretty(&config)?);
        server::shutdown_signal().await;
        drop(running);
        Ok(())
    })
}
