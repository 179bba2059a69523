//! The `fivetran_source` executable: the gRPC server (default), plus the local tools.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Arg, ArgAction, ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use fivetran_source::debug::inputs;
use fivetran_source::debug::naming::Naming;
use fivetran_source::debug::runner::{run_debug, DebugOptions};
use fivetran_source::registry;
use fivetran_source::simulator::launch::SimulatorRequest;
use fivetran_source::simulator::options::{SimulatorOptions, FAULT_KINDS};
use fivetran_source::simulator::FaultRule;
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
    /// Run a connector's API simulator on loopback and print the configuration to use against it
    /// (`simulate NAME --help` lists its options).
    Simulate,
    /// List the registered connectors.
    Connectors,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Port to listen on (IPv4 and IPv6); 0 picks a free one (logged).
    #[arg(long, default_value_t = server::DEFAULT_PORT)]
    port: u16,
    /// On SIGTERM or SIGINT, how long a running sync may go on without reaching a checkpoint before
    /// it is stopped; a second signal exits at once.
    #[arg(long, value_name = "SECONDS", default_value_t = server::DEFAULT_SHUTDOWN_GRACE.as_secs())]
    shutdown_grace: u64,
    /// Connector to serve.
    #[arg(long, env = "FIVETRAN_SOURCE_CONNECTOR", default_value = registry::DEFAULT_CONNECTOR)]
    connector: String,
    /// Serve this declarative definition (TOML, docs/declarative.md) instead of a registered connector.
    #[arg(long, value_name = "FILE")]
    definition: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DebugArgs {
    /// Connector to run.
    #[arg(long, env = "FIVETRAN_SOURCE_CONNECTOR", default_value = registry::DEFAULT_CONNECTOR)]
    connector: String,
    /// Run this declarative definition (TOML, docs/declarative.md) instead of a registered connector.
    #[arg(long, value_name = "FILE")]
    definition: Option<PathBuf>,
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
    /// An option of the bundled simulator, NAME=VALUE (repeatable), as in the configuration's
    /// `simulator` object: a knob of `simulate NAME --help`, fault_rate, fault_kinds, latency_ms.
    #[arg(long = "sim", value_name = "NAME=VALUE")]
    sim: Vec<String>,
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

fn main() -> ExitCode {
    let matches = Cli::command()
        .mut_subcommand("simulate", with_simulators)
        .get_matches();
    if let Some(("simulate", matches)) = matches.subcommand() {
        return report(run_simulate(matches));
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        None => run_serve(cli.serve),
        Some(Command::Serve(args)) => run_serve(args),
        Some(Command::Debug(args)) => return run_debug_command(args),
        Some(Command::Reset(args)) => run_reset(args),
        Some(Command::Simulate) => unreachable!("simulate is dispatched above"),
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
    report(result)
}

/// Makes glibc's malloc use one arena for the server process, before any thread starts, unless
/// `MALLOC_ARENA_MAX` says otherwise. Pages are allocated on one thread and freed on another (bodies
/// on the runtime, documents on the rayon pool); with an arena per thread each keeps what the others
/// freed. Measured on 1 M Virtuous gifts: peak RSS 47-48 -> 41-44 MiB, no more CPU (README). Not for
/// `debug`, whose process also runs the simulator, the host and the warehouse: there the threads
/// contend for the one arena (CPU 3.3-3.9 -> 4.2-5.8 s).
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        const M_ARENA_MAX: std::os::raw::c_int = -8;
        extern "C" {
            fn mallopt(
                param: std::os::raw::c_int,
                value: std::os::raw::c_int,
            ) -> std::os::raw::c_int;
        }
        // SAFETY: mallopt only sets an allocator tunable, and no other thread exists yet.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
        }
    }
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each cause once: errors that already print their source
/// (`cannot read x: Is a directory`) would otherwise show it twice.
fn describe(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}

/// Resolves on the first SIGINT or SIGTERM after `stop` is cancelled by an earlier one: the caller
/// stops gracefully on the first signal, and this second one means "now".
async fn on_signals(stop: CancellationToken, first: &'static str) {
    server::shutdown_signal().await;
    eprintln!("{first}");
    stop.cancel();
    server::shutdown_signal().await;
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    one_malloc_arena();
    logging::init(logging::LogMode::FivetranJson);
    let (name, connector) = match &args.definition {
        Some(path) => {
            let loaded = fivetran_source::declarative::load_file(path)?;
            let name = loaded.definition().name.clone();
            (
                name,
                std::sync::Arc::new(loaded)
                    as std::sync::Arc<dyn fivetran_source::sdk::DynConnector>,
            )
        }
        None => {
            let registration = registry::find(&args.connector)?;
            (registration.name.to_owned(), (registration.build)())
        }
    };
    runtime()?.block_on(async {
        let listener = server::bind(args.port)?;
        let port = listener.local_addr().map_or(args.port, |a| a.port());
        tracing::info!(
            connector = name,
            port,
            version = env!("CARGO_PKG_VERSION"),
            "fivetran_source listening"
        );
        let grace = std::time::Duration::from_secs(args.shutdown_grace);
        let stop = CancellationToken::new();
        let signals = on_signals(
            stop.clone(),
            "stopping: running syncs end at their next checkpoint; a second signal exits now",
        );
        tokio::spawn(async move {
            signals.await;
            tracing::warn!("second signal: exiting now; syncs resume from their last checkpoint");
            std::process::exit(130);
        });
        {
            // A sync that ignores its grace (stuck outside any await) must not hold the process.
            let stop = stop.clone();
            tokio::spawn(async move {
                stop.cancelled().await;
                tracing::info!(
                    grace_seconds = args.shutdown_grace,
                    "stopping: running syncs end at their next checkpoint"
                );
                tokio::time::sleep(grace + std::time::Duration::from_secs(5)).await;
                tracing::warn!("shutdown took longer than the grace period; exiting");
                std::process::exit(1);
            });
        }
        server::serve(connector, listener, stop, grace).await?;
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
            eprintln!("error: {}", describe(&e));
            println!("SYNC FAILED");
            ExitCode::FAILURE
        }
    }
}

/// Runs the sync; `Ok(false)` when it failed midway (already reported).
fn debug(args: DebugArgs) -> anyhow::Result<bool> {
    let naming: Naming = args.naming.parse()?;
    let config_path = inputs::configuration_path(args.configuration.as_deref());
    let file = inputs::read_configuration(&config_path)?;
    let mut simulator = file.simulator;
    for pair in &args.sim {
        simulator
            .set(pair)
            .map_err(|e| anyhow::anyhow!("--sim: {e}"))?;
    }
    let stop = CancellationToken::new();
    let options = DebugOptions {
        connector: args.connector.clone(),
        definition: args.definition.clone(),
        configuration: file.values,
        configuration_source: config_path.clone(),
        files_dir: args.files.clone(),
        state_file: args.state,
        limit: args.limit,
        naming,
        show_progress: true,
        simulator,
        stop: Some(stop.clone()),
    };
    let running = match &args.definition {
        Some(path) => format!("definition {}", path.display()),
        None => format!("connector '{}'", args.connector),
    };
    eprintln!(
        "debug: {running}, configuration {}, warehouse {}",
        config_path.display(),
        args.files.join("warehouse.db").display()
    );
    let signals = on_signals(
        stop.clone(),
        "debug: stopping at the next checkpoint (a second Ctrl-C exits now)",
    );
    let outcome = runtime()?.block_on(async {
        tokio::select! {
            outcome = run_debug(options) => Ok(outcome),
            () = signals => Err(()),
        }
    });
    let Ok(outcome) = outcome else {
        // SQLite's journal keeps the warehouse at its last committed checkpoint.
        println!(
            "SYNC FAILED: interrupted twice; the warehouse and state hold the last checkpoint"
        );
        std::process::exit(130);
    };
    let outcome = outcome?;
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
        Some(_) if stop.is_cancelled() => {
            println!(
                "SYNC FAILED: interrupted; stopped at a checkpoint. The warehouse and {} hold it; the next run resumes from there.",
                args.files.join("state.json").display()
            );
            Ok(false)
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

/// `simulate`'s subcommands: one per bundled simulator, with the common options and its knobs.
fn with_simulators(simulate: clap::Command) -> clap::Command {
    let mut simulate = simulate
        .subcommand_required(true)
        .arg_required_else_help(true);
    for registration in registry::CONNECTORS {
        let Some(entry) = registration.simulator else {
            continue;
        };
        let mut command = clap::Command::new(registration.name)
            .about(format!("Run the {} API simulator", registration.name))
            .after_help(
                "Knobs set paths in the settings; --print-settings shows them all, and --settings FILE \
                 changes any of them. Fault rules take the control API's JSON (POST /__sim/faults).",
            )
            .arg(
                Arg::new("port")
                    .long("port")
                    .value_parser(clap::value_parser!(u16))
                    .help("Port on 127.0.0.1 (default: any free port)"),
            )
            .arg(
                Arg::new("settings")
                    .long("settings")
                    .value_name("FILE")
                    .help("A JSON object of settings merged over the defaults"),
            )
            .arg(
                Arg::new("print-settings")
                    .long("print-settings")
                    .action(ArgAction::SetTrue)
                    .help("Print the settings these options give, as JSON, and exit"),
            )
            .arg(
                Arg::new("fault-rate")
                    .long("fault-rate")
                    .value_name("FRACTION")
                    .help("Fault this fraction of API requests (0.1: 10 %), the kinds mixed evenly"),
            )
            .arg(
                Arg::new("fault-kinds")
                    .long("fault-kinds")
                    .value_delimiter(',')
                    .value_name("KINDS")
                    .help(format!(
                        "The kinds the fault rate mixes (default: all but empty_page): {}",
                        FAULT_KINDS.join(", ")
                    )),
            )
            .arg(
                Arg::new("fault-rules")
                    .long("fault-rules")
                    .value_name("FILE")
                    .help("Fault rules as JSON (one rule or a list), as POST /__sim/faults takes them"),
            )
            .arg(
                Arg::new("latency-ms")
                    .long("latency-ms")
                    .value_parser(clap::value_parser!(u64))
                    .help("Delay every API response by this many milliseconds"),
            );
        for knob in (entry.knobs)() {
            let action = if knob.repeats() {
                ArgAction::Append
            } else {
                ArgAction::Set
            };
            command = command.arg(
                Arg::new(knob.name)
                    .long(knob.name)
                    .value_name("VALUE")
                    .action(action)
                    .help(knob.help),
            );
        }
        simulate = simulate.subcommand(command);
    }
    simulate
}

fn read_json(path: &str, what: &str) -> anyhow::Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {what} file {path}"))?;
    serde_json::from_str(text.strip_prefix('\u{feff}').unwrap_or(&text))
        .with_context(|| format!("{what} file {path} is not JSON"))
}

/// The options `simulate NAME` was given.
fn simulator_options(matches: &ArgMatches) -> anyhow::Result<SimulatorOptions> {
    let mut options = SimulatorOptions::default();
    if let Some(path) = matches.get_one::<String>("settings") {
        options.settings = Some(read_json(path, "settings")?);
    }
    if let Some(rate) = matches.get_one::<String>("fault-rate") {
        options
            .set(&format!("fault_rate={rate}"))
            .map_err(anyhow::Error::msg)?;
    }
    if let Some(kinds) = matches.get_many::<String>("fault-kinds") {
        options.fault_kinds = kinds.cloned().collect();
    }
    if let Some(path) = matches.get_one::<String>("fault-rules") {
        let rules = match read_json(path, "fault rules")? {
            list @ serde_json::Value::Array(_) => serde_json::from_value::<Vec<FaultRule>>(list),
            one => serde_json::from_value::<FaultRule>(one).map(|r| vec![r]),
        };
        options.fault_rules =
            rules.with_context(|| format!("fault rules file {path} does not hold fault rules"))?;
    }
    options.latency_ms = matches.get_one::<u64>("latency-ms").copied();
    for id in matches.ids() {
        let name = id.as_str();
        if matches!(
            name,
            "port"
                | "settings"
                | "print-settings"
                | "fault-rate"
                | "fault-kinds"
                | "fault-rules"
                | "latency-ms"
        ) {
            continue;
        }
        if let Ok(Some(values)) = matches.try_get_many::<String>(name) {
            for value in values {
                options.knobs.push((name.to_owned(), value.clone()));
            }
        }
    }
    Ok(options)
}

fn run_simulate(matches: &ArgMatches) -> anyhow::Result<()> {
    logging::init(logging::LogMode::Human);
    let Some((name, matches)) = matches.subcommand() else {
        anyhow::bail!("name a simulator: fivetran_source simulate NAME");
    };
    let registration = registry::find(name)?;
    let entry = registration
        .simulator
        .with_context(|| format!("connector '{}' has no simulator", registration.name))?;
    let options = simulator_options(matches)?;
    if matches.get_flag("print-settings") {
        let settings = options
            .settings_over((entry.defaults)(), &(entry.knobs)())
            .map_err(anyhow::Error::msg)?;
        println!("{}", serde_json::to_string_pretty(&settings)?);
        return Ok(());
    }
    let faults = options.fault_plan().map_err(anyhow::Error::msg)?.len();
    runtime()?.block_on(async {
        let running = (entry.start)(SimulatorRequest {
            port: matches.get_one::<u16>("port").copied(),
            options,
            ..SimulatorRequest::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("starting the simulator: {e}"))?;
        eprintln!(
            "{} simulator running: {}{}",
            registration.name,
            running.description,
            if faults > 0 {
                format!(" ({faults} fault rules; GET /__sim/faults shows them)")
            } else {
                String::new()
            }
        );
        eprintln!("configuration to sync against it (Ctrl-C stops the simulator):");
        let config: std::collections::BTreeMap<_, _> = running.configuration.iter().collect();
        println!("{}", serde_json::to_string_pretty(&config)?);
        server::shutdown_signal().await;
        drop(running);
        Ok(())
    })
}
