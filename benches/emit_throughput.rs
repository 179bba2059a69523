//! Benchmark (not a test): 1 M records from the `demo` connector through the real server binary to a
//! draining gRPC client on loopback. Prints records/s, server CPU µs per record and server peak RSS.
//!
//! Run: `cargo bench --bench emit_throughput` (optionally `-- <records>`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fivetran_source::proto::{self, update_response::Operation};
use fivetran_source::server::Client;

/// utime + stime of `pid` in seconds, and its peak RSS in KiB.
fn cpu_and_peak_rss(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of /proc/pid/stat (utime, stime) are at 11 and 12 after the comm field.
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, hwm)
}

#[tokio::main]
async fn main() {
    let records: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let port = 50000 + (std::process::id() % 10000) as u16;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fivetran_source"))
        .args(["--port", &port.to_string(), "--connector", "demo"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start server");
    let pid = child.id();

    let channel = loop {
        match tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
        {
            Ok(c) => break c,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let mut client = Client::new(channel).max_decoding_message_size(128 << 20);
    let config = [
        ("record_count".to_string(), records.to_string()),
        ("checkpoint_every".to_string(), "100000".to_string()),
    ]
    .into_iter()
    .collect();

    let (cpu_before, _) = cpu_and_peak_rss(pid);
    let started = Instant::now();
    let mut stream = client
        .update(proto::UpdateRequest {
            configuration: config,
            selection: None,
            state_json: None,
        })
        .await
        .expect("update")
        .into_inner();
    let (mut received, mut batches, mut checkpoints) = (0u64, 0u64, 0u64);
    while let Some(msg) = stream.message().await.expect("stream") {
        match msg.operation {
            Some(Operation::StructuredRecords(r)) => {
                received += r.structured_records.len() as u64;
                batches += 1;
            }
            Some(Operation::Checkpoint(_)) => checkpoints += 1,
            _ => {}
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu_after, peak_kib) = cpu_and_peak_rss(pid);
    let _ = child.kill();
    let _ = child.wait();

    let server_cpu = cpu_after - cpu_before;
    println!("emit_throughput: demo connector, 15 columns of every type, gzip off, loopback");
    println!("  records received     {received} in {batches} batches, {checkpoints} checkpoints");
    println!("  wall time            {elapsed:.2} s");
    println!(
        "  throughput           {:.0} records/s",
        received as f64 / elapsed
    );
    println!(
        "  server CPU           {:.2} s = {:.3} µs/record (includes building rows in the connector)",
        server_cpu,
        server_cpu * 1e6 / received.max(1) as f64
    );
    println!("  server peak RSS      {:.1} MiB", peak_kib as f64 / 1024.0);
}
