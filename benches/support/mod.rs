//! Measurement helpers shared by the benchmarks (Linux `/proc`).

#![allow(dead_code)] // each bench uses a subset

use bytes::Buf;

/// utime + stime in clock ticks (100 per second on Linux) from a `/proc/.../stat` file: fields 14 and 15,
/// counted after the parenthesised command name (which may contain spaces).
pub fn cpu_ticks(stat_path: &str) -> u64 {
    let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    tick(11) + tick(12)
}

/// CPU seconds used so far by process `pid`, and its peak resident set size in KiB.
pub fn cpu_and_peak_rss(pid: u32) -> (f64, u64) {
    let cpu = cpu_ticks(&format!("/proc/{pid}/stat")) as f64 / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, hwm)
}

/// A channel to the server that was just started on `127.0.0.1:port`, retried until it accepts, with
/// grpc-java's default flow-control window (Fivetran's worker is a Java gRPC client; h2's own 64 KiB
/// default would make the server stall on WINDOW_UPDATEs).
pub async fn connect_when_up(port: u16) -> tonic::transport::Channel {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .initial_stream_window_size(1 << 20)
        .initial_connection_window_size(1 << 20);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match endpoint.connect().await {
            Ok(channel) => return channel,
            Err(e) if std::time::Instant::now() > deadline => panic!("server never came up: {e}"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// `UpdateResponse` with only what a bench needs: the records batch as raw bytes (not decoded into maps,
/// so the client is never the bottleneck), a checkpoint and a task.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RawUpdate {
    /// `structured_records = 6`, undecoded.
    #[prost(bytes = "bytes", optional, tag = "6")]
    pub records: Option<bytes::Bytes>,
    /// `checkpoint = 3`.
    #[prost(message, optional, tag = "3")]
    pub checkpoint: Option<fivetran_source::proto::Checkpoint>,
    /// `task = 5`.
    #[prost(message, optional, tag = "5")]
    pub task: Option<fivetran_source::proto::Task>,
}

/// Starts `Update` on `channel` and returns its stream of [`RawUpdate`]s.
pub async fn raw_update(
    channel: tonic::transport::Channel,
    request: fivetran_source::proto::UpdateRequest,
    gzip: bool,
) -> tonic::Streaming<RawUpdate> {
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(128 << 20);
    if gzip {
        grpc = grpc.accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    }
    grpc.ready().await.expect("ready");
    let codec =
        tonic_prost::ProstCodec::<fivetran_source::proto::UpdateRequest, RawUpdate>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
        "/fivetran_sdk.v2.SourceConnector/Update",
    );
    grpc.server_streaming(tonic::Request::new(request), path, codec)
        .await
        .expect("update")
        .into_inner()
}

/// Counts the records of a `StructuredRecords` body by table, reading only each record's leading
/// `schema_name`/`table_name` fields (the emitter writes them first).
pub fn count_records(mut body: bytes::Bytes, counts: &mut std::collections::HashMap<Vec<u8>, u64>) {
    while body.has_remaining() {
        let key = prost::encoding::decode_varint(&mut body).expect("key");
        let len = prost::encoding::decode_varint(&mut body).expect("len") as usize;
        if key >> 3 == 1 {
            let Some(table) = upserted_table(&body[..len]) else {
                body.advance(len);
                continue;
            };
            match counts.get_mut(table) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(table.to_vec(), 1);
                }
            }
        }
        body.advance(len);
    }
}

/// Field 2 (`table_name`) of an encoded `StructuredRecord` (skipping an optional field 1), unless the
/// record is a TRUNCATE (field 3 = 3), which is not a row.
fn upserted_table(mut record: &[u8]) -> Option<&[u8]> {
    let mut table: &[u8] = b"";
    while record.has_remaining() {
        let key = prost::encoding::decode_varint(&mut record).expect("key");
        match (key >> 3, key & 7) {
            (1 | 2, 2) => {
                let len = prost::encoding::decode_varint(&mut record).expect("len") as usize;
                if key >> 3 == 2 {
                    table = &record[..len];
                }
                record.advance(len);
            }
            (3, 0) => {
                let kind = prost::encoding::decode_varint(&mut record).expect("type");
                return (kind != 3).then_some(table);
            }
            _ => break,
        }
    }
    Some(table)
}

/// Only `tables` selected, every column of each.
pub fn selection(tables: &[&str]) -> fivetran_source::proto::Selection {
    let tables: Vec<(&str, &[&str])> = tables.iter().map(|t| (*t, &[][..])).collect();
    fivetran_source::sdk::selection::only_tables(&tables)
}

/// What one full `Update` through the server binary took.
pub struct Drained {
    /// Records upserted, by table name.
    pub counts: std::collections::HashMap<Vec<u8>, u64>,
    /// `StructuredRecords` messages received.
    pub batches: u64,
    /// Checkpoints received.
    pub checkpoints: u64,
    /// Wall time from the request to the end of the stream, in seconds.
    pub elapsed: f64,
    /// Wall time from the request to the first batch of records, in seconds.
    pub first_record: f64,
    /// The server's CPU seconds over the sync.
    pub server_cpu: f64,
    /// The server's peak RSS, in KiB.
    pub peak_kib: u64,
}

impl Drained {
    /// Records of `table`.
    pub fn of(&self, table: &str) -> u64 {
        self.counts.get(table.as_bytes()).copied().unwrap_or(0)
    }

    /// Records of every table.
    pub fn records(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The common report lines: wall time, throughput, server CPU per record, peak RSS.
    pub fn print(&self, name: &str, unit: &str, units: u64) {
        let records = self.records();
        println!(
            "{name}: {units} {unit}, {records} records in {} batches, {} checkpoints",
            self.batches, self.checkpoints
        );
        println!("  wall time            {:.2} s", self.elapsed);
        println!(
            "  first record         {:.1} ms after the request",
            self.first_record * 1e3
        );
        println!(
            "  throughput           {:.0} {unit}/s, {:.0} records/s",
            units as f64 / self.elapsed,
            records as f64 / self.elapsed
        );
        println!(
            "  server CPU           {:.2} s = {:.2} µs/{}, {:.2} µs/record",
            self.server_cpu,
            self.server_cpu * 1e6 / units.max(1) as f64,
            unit.trim_end_matches('s'),
            self.server_cpu * 1e6 / records.max(1) as f64
        );
        println!(
            "  server peak RSS      {:.1} MiB",
            self.peak_kib as f64 / 1024.0
        );
    }
}

/// Runs one full sync of `connector` with `configuration` and `selection` through the real server
/// binary (production settings) to a draining client that counts records from the raw bytes.
pub async fn sync_through_server(
    connector: &str,
    configuration: std::collections::HashMap<String, String>,
    selection: Option<fivetran_source::proto::Selection>,
) -> Drained {
    sync_through_server_with(&["--connector", connector], configuration, selection).await
}

/// [`sync_through_server`] with the server started with `args` (`--definition FILE`).
pub async fn sync_through_server_with(
    args: &[&str],
    configuration: std::collections::HashMap<String, String>,
    selection: Option<fivetran_source::proto::Selection>,
) -> Drained {
    let port = 45000 + (std::process::id() % 10000) as u16;
    // BENCH_SERVER_BIN runs another build of the server (say, the previous commit's) for a before/after.
    let binary = std::env::var("BENCH_SERVER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_fivetran_source").to_owned());
    let mut child = std::process::Command::new(binary)
        .args(["--port", &port.to_string()])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start server");
    let request = fivetran_source::proto::UpdateRequest {
        configuration,
        selection,
        state_json: None,
    };
    let drained = drain_update(child.id(), port, request).await;
    let _ = child.kill();
    let _ = child.wait();
    drained
}

/// Sends one `Update` to the server process `pid` listening on `port` (any implementation of the
/// contract) and drains it, counting records from the raw bytes; CPU and peak RSS are the process's own.
pub async fn drain_update(
    pid: u32,
    port: u16,
    request: fivetran_source::proto::UpdateRequest,
) -> Drained {
    let channel = connect_when_up(port).await;
    let (cpu_before, _) = cpu_and_peak_rss(pid);
    let started = std::time::Instant::now();
    let mut stream = raw_update(channel, request, false).await;
    let (mut counts, mut batches, mut checkpoints) = (std::collections::HashMap::new(), 0u64, 0u64);
    let mut first_record = None;
    while let Some(msg) = stream.message().await.expect("stream") {
        if let Some(body) = msg.records {
            first_record.get_or_insert_with(|| started.elapsed().as_secs_f64());
            count_records(body, &mut counts);
            batches += 1;
        }
        checkpoints += u64::from(msg.checkpoint.is_some());
        if let Some(task) = msg.task {
            panic!("the sync failed: {}", task.message);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu_after, peak_kib) = cpu_and_peak_rss(pid);
    Drained {
        counts,
        batches,
        checkpoints,
        elapsed,
        first_record: first_record.unwrap_or(elapsed),
        server_cpu: cpu_after - cpu_before,
        peak_kib,
    }
}

/// The benchmark's size: the first number on the command line, else `full` under `cargo bench` and
/// `smoke` under `cargo test`. Also whether this is a full run.
pub fn size_arg(full: u64, smoke: u64) -> (u64, bool) {
    let is_full = std::env::args().any(|a| a == "--bench");
    let size = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if is_full { full } else { smoke });
    (size, is_full)
}

/// An in-process Virtuous simulator (no latency, no rate limit) with `contacts` contacts and `gifts`
/// gifts, and the configuration that reaches it (with `parallelism` from `BENCH_PARALLELISM` when set,
/// to measure what pages in flight cost).
pub async fn virtuous_simulator(
    contacts: u64,
    gifts: u64,
) -> (
    fivetran_source::connectors::virtuous::simulator::VirtuousSimulator,
    std::collections::HashMap<String, String>,
) {
    use fivetran_source::connectors::virtuous::simulator::{VirtuousConfig, VirtuousSimulator};
    let sim = VirtuousSimulator::start(VirtuousConfig::sized(contacts, gifts))
        .await
        .expect("start the simulator");
    let mut configuration: std::collections::HashMap<String, String> = [
        ("api_key".to_owned(), sim.api_key().to_owned()),
        ("base_url".to_owned(), sim.base_url()),
    ]
    .into_iter()
    .collect();
    if let Ok(parallelism) = std::env::var("BENCH_PARALLELISM") {
        configuration.insert("parallelism".to_owned(), parallelism);
    }
    (sim, configuration)
}
