//! Benchmark (not a test): 1 M records from the `demo` connector through the real server binary to a
//! draining gRPC client on loopback. Prints records/s, server CPU µs per record and server peak RSS, for
//! two row shapes:
//! - `narrow`: 4 fixed-width columns built without allocation: the SDK path alone (emitter, encoding,
//!   tonic, HTTP/2);
//! - `full`: 15 columns of every type with formatted strings: a realistic connector's rows, also with
//!   gzip (the client accepts it, so the server compresses every message).
//!
//! The client counts records from the raw `structured_records` bytes instead of decoding every map, so
//! the client is not the bottleneck. The client's HTTP/2 window is grpc-java's default (1 MiB). Run: `cargo bench --bench emit_throughput [-- <records>]`.
mod support;
use support::{connect_when_up, cpu_and_peak_rss, raw_update};

use std::process::{Command, Stdio};
use std::time::Instant;

use bytes::Buf;
use fivetran_source::proto;

/// Number of `structured_records = 1` entries in a `StructuredRecords` body.
fn count_records(mut body: bytes::Bytes) -> u64 {
    let mut n = 0;
    while body.has_remaining() {
        let key = prost::encoding::decode_varint(&mut body).expect("key");
        let len = prost::encoding::decode_varint(&mut body).expect("len") as usize;
        if key >> 3 == 1 {
            n += 1;
        }
        body.advance(len);
    }
    n
}

async fn run(shape: &str, gzip: bool, records: u64, port: u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fivetran_source"))
        .args(["--port", &port.to_string(), "--connector", "demo"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start server");
    let pid = child.id();
    let channel = connect_when_up(port).await;
    let request = proto::UpdateRequest {
        configuration: [
            ("record_count".to_string(), records.to_string()),
            ("checkpoint_every".to_string(), "100000".to_string()),
            ("shape".to_string(), shape.to_string()),
        ]
        .into_iter()
        .collect(),
        selection: None,
        state_json: None,
    };
    let (cpu_before, _) = cpu_and_peak_rss(pid);
    let started = Instant::now();
    let mut stream = raw_update(channel, request, gzip).await;
    let (mut received, mut batches, mut checkpoints) = (0u64, 0u64, 0u64);
    while let Some(msg) = stream.message().await.expect("stream") {
        if let Some(body) = msg.records {
            received += count_records(body);
            batches += 1;
        }
        checkpoints += u64::from(msg.checkpoint.is_some());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu_after, peak_kib) = cpu_and_peak_rss(pid);
    let _ = child.kill();
    let _ = child.wait();
    let server_cpu = cpu_after - cpu_before;
    println!("emit_throughput shape={shape} gzip={gzip}: {received} records in {batches} batches, {checkpoints} checkpoints");
    println!("  wall time            {elapsed:.2} s");
    println!(
        "  throughput           {:.0} records/s",
        received as f64 / elapsed
    );
    println!(
        "  server CPU           {server_cpu:.2} s = {:.3} µs/record",
        server_cpu * 1e6 / received.max(1) as f64
    );
    println!("  server peak RSS      {:.1} MiB", peak_kib as f64 / 1024.0);
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`: 1 M records. Under `cargo test` this is a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let records: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 20_000 });
    let base = 40000 + (std::process::id() % 10000) as u16;
    // `-- narrow` (or `full`, `gzip`) runs one case only, e.g. under a profiler.
    let only = std::env::args().find(|a| ["narrow", "full", "gzip"].contains(&a.as_str()));
    let cases = [
        ("narrow", false, "narrow"),
        ("full", false, "full"),
        ("full", true, "gzip"),
    ];
    for (i, (shape, gzip, name)) in cases.into_iter().enumerate() {
        if only.as_deref().is_none_or(|o| o == name) {
            run(shape, gzip, records, base + i as u16).await;
        }
    }
}
