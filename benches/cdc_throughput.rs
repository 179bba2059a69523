//! Benchmark (not a test): the `postgres` and `mysql` connectors against throwaway PostgreSQL and
//! MariaDB servers (tests/cdc/support.rs), through the real server binary to a draining gRPC client
//! on loopback. For each:
//!
//! 1. the physical limit for reading the table: `COPY bench TO STDOUT` through `psql`, or a plain
//!    `SELECT * FROM bench` through the `mariadb` client (`--quick`, rows streamed), into /dev/null;
//! 2. the initial sync (snapshot in key-ordered chunks): rows/s, server CPU, peak RSS;
//! 3. N updates in transactions of 1,000 rows, then an incremental sync (the stream): changes/s and
//!    peak RSS (a fresh server process, so its peak is the stream's alone).
//!
//! `CDC_ROWS` sets N (default 1,000,000; the form is `CDC_ROWS=10000000`); `CDC_DATABASES`
//! picks `postgres`, `mysql` or both (the default, comma-separated). Run:
//! `cargo bench --bench cdc_throughput`; under `cargo test` it is a 20,000-row smoke run.
#[path = "../tests/cdc/support.rs"]
mod cdc;
mod support;

use std::collections::HashMap;
use std::time::Instant;

use support::{connect_when_up, count_records, cpu_and_peak_rss, raw_update};

struct Run {
    records: u64,
    elapsed: f64,
    cpu: f64,
    peak_kib: u64,
    state: Option<String>,
}

async fn update(
    connector: &str,
    configuration: HashMap<String, String>,
    state: Option<String>,
) -> Run {
    let port = 46000 + (std::process::id() % 9000) as u16;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_fivetran_source"))
        .args(["--port", &port.to_string(), "--connector", connector])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start server");
    let pid = child.id();
    let channel = connect_when_up(port).await;
    let request = fivetran_source::proto::UpdateRequest {
        configuration,
        selection: None,
        state_json: Some(state.unwrap_or_else(|| "{}".to_owned())),
    };
    let (cpu_before, _) = cpu_and_peak_rss(pid);
    let started = Instant::now();
    let mut stream = raw_update(channel, request, false).await;
    let mut counts = HashMap::new();
    let mut last_state = None;
    while let Some(msg) = stream.message().await.expect("stream") {
        if let Some(body) = msg.records {
            count_records(body, &mut counts);
        }
        if let Some(checkpoint) = msg.checkpoint {
            last_state = Some(checkpoint.state_json);
        }
        if let Some(task) = msg.task {
            panic!("the sync failed: {}", task.message);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu_after, peak_kib) = cpu_and_peak_rss(pid);
    let _ = child.kill();
    let _ = child.wait();
    Run {
        records: counts.values().sum(),
        elapsed,
        cpu: cpu_after - cpu_before,
        peak_kib,
        state: last_state,
    }
}

fn report(name: &str, unit: &str, units: u64, run: &Run) {
    println!(
        "{name}: {units} {unit} ({} records) in {:.2} s = {:.0} {unit}/s; server CPU {:.2} s = {:.2} µs per {}; peak RSS {:.1} MiB",
        run.records,
        run.elapsed,
        units as f64 / run.elapsed,
        run.cpu,
        run.cpu * 1e6 / units.max(1) as f64,
        unit.trim_end_matches('s'),
        run.peak_kib as f64 / 1024.0
    );
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().all(|a| a != "--bench");
    let rows: u64 = std::env::var("CDC_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 20_000 } else { 1_000_000 });
    let databases = std::env::var("CDC_DATABASES").unwrap_or_else(|_| "postgres,mysql".into());
    if databases.split(',').any(|d| d.trim() == "postgres") {
        postgres(rows).await;
    }
    if databases.split(',').any(|d| d.trim() == "mysql") {
        mysql(rows).await;
    }
}

/// The update statements of the stream step: `rows` updates in transactions of 1,000.
fn update_script(rows: u64, set: &str) -> String {
    let mut script = String::new();
    let per_transaction = 1_000;
    let mut at = 1;
    while at <= rows {
        let end = (at + per_transaction - 1).min(rows);
        script.push_str(&format!(
            "UPDATE bench SET {set} WHERE id BETWEEN {at} AND {end};\n"
        ));
        at = end + 1;
    }
    script
}

async fn postgres(rows: u64) {
    let Some(pg) = cdc::PgServer::start() else {
        println!("cdc_throughput: skipped (no PostgreSQL server binaries)");
        return;
    };
    let started = Instant::now();
    pg.script(&format!(
        "CREATE TABLE bench (id bigint PRIMARY KEY, name text, amount numeric(12,2), at timestamptz, flag boolean, n integer); \
         INSERT INTO bench SELECT g, 'name ' || g, g * 0.01, TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1 second', g % 2 = 0, g % 1000 \
           FROM generate_series(1, {rows}) g; \
         VACUUM ANALYZE bench; \
         CREATE PUBLICATION fivetran_pub FOR ALL TABLES; GRANT SELECT ON bench TO {};",
        cdc::CDC_USER
    ));
    println!(
        "cdc_throughput: {rows} rows loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let copy_started = Instant::now();
    let bytes = pg.psql_count_bytes("COPY bench TO STDOUT");
    let copy_seconds = copy_started.elapsed().as_secs_f64();
    println!(
        "COPY bench TO STDOUT (psql): {rows} rows, {:.1} MiB in {copy_seconds:.2} s = {:.0} rows/s",
        bytes as f64 / (1 << 20) as f64,
        rows as f64 / copy_seconds
    );

    let mut configuration = pg.configuration();
    configuration.insert("chunk_rows".into(), "50000".into());
    configuration.insert("max_stream_seconds".into(), "3600".into());
    let snapshot = update("postgres", configuration.clone(), None).await;
    assert_eq!(snapshot.records, rows, "the snapshot sent every row");
    report("snapshot", "rows", rows, &snapshot);
    println!(
        "snapshot vs COPY: {:.0} % of COPY's rows/s",
        100.0 * copy_seconds / snapshot.elapsed
    );

    let changes = rows;
    let load = Instant::now();
    let per_transaction = 1_000;
    let script = update_script(changes, "n = n + 1, name = 'changed ' || id");
    pg.script(&script);
    println!(
        "{changes} updates in transactions of {per_transaction} made in {:.1} s",
        load.elapsed().as_secs_f64()
    );
    let streamed = update("postgres", configuration, snapshot.state).await;
    assert_eq!(streamed.records, changes, "the stream sent every change");
    report("stream", "changes", changes, &streamed);
}

async fn mysql(rows: u64) {
    let Some(db) = cdc::MariaServer::start() else {
        println!("cdc_throughput: mysql skipped (no MariaDB server binaries)");
        return;
    };
    let started = Instant::now();
    db.script(&format!(
        "CREATE TABLE bench (id bigint PRIMARY KEY, name varchar(40), amount decimal(12,2), at timestamp NULL, flag tinyint(1), n int); \
         INSERT INTO bench SELECT seq, CONCAT('name ', seq), seq * 0.01, '2024-01-01 00:00:00' + INTERVAL seq SECOND, seq % 2 = 0, seq % 1000 \
           FROM seq_1_to_{rows}; \
         ANALYZE TABLE bench;"
    ));
    println!(
        "cdc_throughput (mysql): {rows} rows loaded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let select_started = Instant::now();
    let bytes = db.sql_count_bytes("SELECT * FROM bench");
    let select_seconds = select_started.elapsed().as_secs_f64();
    println!(
        "SELECT * FROM bench (mariadb --quick): {rows} rows, {:.1} MiB in {select_seconds:.2} s = {:.0} rows/s",
        bytes as f64 / (1 << 20) as f64,
        rows as f64 / select_seconds
    );
    let mut configuration = db.configuration();
    configuration.insert("chunk_rows".into(), "50000".into());
    configuration.insert("max_stream_seconds".into(), "3600".into());
    let snapshot = update("mysql", configuration.clone(), None).await;
    assert_eq!(snapshot.records, rows, "the snapshot sent every row");
    report("mysql snapshot", "rows", rows, &snapshot);
    println!(
        "mysql snapshot vs SELECT: {:.0} % of SELECT's rows/s",
        100.0 * select_seconds / snapshot.elapsed
    );
    let load = Instant::now();
    db.script(&update_script(
        rows,
        "n = n + 1, name = CONCAT('changed ', id)",
    ));
    println!(
        "{rows} updates in transactions of 1000 made in {:.1} s",
        load.elapsed().as_secs_f64()
    );
    let streamed = update("mysql", configuration, snapshot.state).await;
    assert_eq!(streamed.records, rows, "the stream sent every change");
    report("mysql stream", "changes", rows, &streamed);
}
