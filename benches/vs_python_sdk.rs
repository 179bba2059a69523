//! Benchmark (not a test): the same Virtuous gifts sync on this server and on Fivetran's Python
//! Connector SDK 2.13.1, side by side in one run, with the ratios.
//!
//! Both sides sync `gifts` with the same five columns (id, contact_id, gift_date, amount,
//! modified_date_time_utc) from one in-process Virtuous simulator (no latency, no rate limit), and both
//! are drained by the same gRPC client, which counts records from the raw bytes. The Python side is
//! `benches/python_sdk/connector.py`, written the way seed 002 writes its Virtuous connector (ID cursor,
//! take 1000, 8 threads, `requests`) and served by the SDK's own `Connector.run`; its virtualenv,
//! `.venv-sdk/`, is made by `benches/python_sdk/setup.sh` on first use (it needs PyPI).
//!
//! Prints, per side, wall time, records/s, server CPU µs per record, peak RSS and time to the first
//! record; then the ratios, and which side limits the throughput (the simulator's own CPU time per
//! record, measured in this process, is the bound neither side can beat).
//!
//! Run: `cargo bench --bench vs_python_sdk [-- <gifts>]` (default 200,000 gifts). Under `cargo test` it
//! is a smoke run of the Rust side only, plus the Python side when `.venv-sdk/` already exists.
mod support;
use support::{cpu_ticks, drain_update, sync_through_server, Drained};

const COLUMNS: [&str; 5] = [
    "id",
    "contact_id",
    "gift_date",
    "amount",
    "modified_date_time_utc",
];

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `.venv-sdk/bin/python`, made by setup.sh when `create` (a full run), else only if it exists.
fn python(create: bool) -> Option<std::path::PathBuf> {
    let python = repo().join(".venv-sdk/bin/python");
    if create {
        let status = std::process::Command::new("bash")
            .arg(repo().join("benches/python_sdk/setup.sh"))
            .status()
            .expect("run benches/python_sdk/setup.sh");
        assert!(status.success(), "benches/python_sdk/setup.sh failed");
    }
    python.exists().then_some(python)
}

/// One sync on the Python SDK's server.
async fn python_side(
    python: &std::path::Path,
    configuration: std::collections::HashMap<String, String>,
) -> Drained {
    let port = 46000 + (std::process::id() % 10000) as u16;
    let mut child = std::process::Command::new(python)
        .arg(repo().join("benches/python_sdk/connector.py"))
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the Python connector");
    let request = fivetran_source::proto::UpdateRequest {
        configuration,
        selection: Some(selection()),
        // The SDK parses the state unconditionally; Fivetran sends `{}` on a first sync.
        state_json: Some("{}".to_owned()),
    };
    let drained = drain_update(child.id(), port, request).await;
    let _ = child.kill();
    let _ = child.wait();
    drained
}

/// `gifts` with only [`COLUMNS`] (the Python side declares only those).
fn selection() -> fivetran_source::proto::Selection {
    use fivetran_source::proto;
    proto::Selection {
        selection: Some(proto::selection::Selection::WithoutSchema(
            proto::TablesWithNoSchema {
                tables: vec![proto::TableSelection {
                    included: true,
                    table_name: "gifts".to_owned(),
                    columns: COLUMNS.iter().map(|c| ((*c).to_owned(), true)).collect(),
                    include_new_columns: false,
                }],
                include_new_tables: false,
            },
        )),
    }
}

/// This process's CPU seconds: the simulator's, since the draining client's share is small.
fn own_cpu() -> f64 {
    cpu_ticks("/proc/self/stat") as f64 / 100.0
}

#[tokio::main]
async fn main() {
    let (gifts, full) = support::size_arg(200_000, 5_000);
    let (_sim, configuration) = support::virtuous_simulator(1_000, gifts).await;

    let before = own_cpu();
    let ours = sync_through_server("virtuous", configuration.clone(), Some(selection())).await;
    let sim_cpu_ours = own_cpu() - before;
    assert_eq!(ours.of("gifts"), gifts, "gifts synced by fivetran_source");
    ours.print("fivetran_source", "gifts", gifts);

    let Some(python) = python(full) else {
        println!("python side skipped: no .venv-sdk/ (a full run, `cargo bench --bench vs_python_sdk`, makes it)");
        return;
    };
    let before = own_cpu();
    let theirs = python_side(&python, configuration).await;
    let sim_cpu_theirs = own_cpu() - before;
    assert_eq!(theirs.of("gifts"), gifts, "gifts synced by the Python SDK");
    theirs.print("fivetran-connector-sdk 2.13.1", "gifts", gifts);

    let per_record = |d: &Drained| d.server_cpu * 1e6 / d.records().max(1) as f64;
    println!("ratios (Python SDK / fivetran_source):");
    println!(
        "  server CPU per record  {:.1}x less ({:.2} vs {:.2} µs)",
        per_record(&theirs) / per_record(&ours),
        per_record(&ours),
        per_record(&theirs)
    );
    println!(
        "  peak RSS               {:.1}x less ({:.1} vs {:.1} MiB)",
        theirs.peak_kib as f64 / ours.peak_kib as f64,
        ours.peak_kib as f64 / 1024.0,
        theirs.peak_kib as f64 / 1024.0
    );
    println!(
        "  records/s              {:.1}x more ({:.0} vs {:.0})",
        theirs.elapsed / ours.elapsed,
        ours.records() as f64 / ours.elapsed,
        theirs.records() as f64 / theirs.elapsed
    );
    println!(
        "  first record           {:.1} vs {:.1} ms",
        ours.first_record * 1e3,
        theirs.first_record * 1e3
    );
    // Who limits the rate: a side whose server was busy for most of the wall time is CPU-bound on its
    // own work; otherwise it waited for the simulator (which ran in this process).
    for (name, d, sim_cpu) in [
        ("fivetran_source", &ours, sim_cpu_ours),
        ("python sdk", &theirs, sim_cpu_theirs),
    ] {
        println!(
            "  {name}: server busy {:.0} % of the wall time (of one core), simulator+client {:.0} %: the bottleneck is {}",
            100.0 * d.server_cpu / d.elapsed,
            100.0 * sim_cpu / d.elapsed,
            if d.server_cpu > sim_cpu { "the server" } else { "the simulator" }
        );
    }
}
