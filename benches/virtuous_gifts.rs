//! Benchmark (not a test): 1 M gifts from the in-process Virtuous simulator (no latency, no rate limit)
//! through the real server binary (`--connector virtuous`, production settings: FullGift pages of 1000,
//! 8 in flight) to a draining gRPC client on loopback. Prints gifts/s and records/s (gifts plus their
//! designations), server CPU µs per gift and per record, and the server's peak RSS.
//!
//! Only `gifts` and `gift_designations` are selected. The simulator renders its JSON in this process,
//! so the server's CPU is the connector's own work: HTTP, JSON parsing, models, emitter, gRPC. The client
//! counts records from the raw `structured_records` bytes instead of decoding them.
//!
//! Run: `cargo bench --bench virtuous_gifts [-- <gifts>]`; under `cargo test` it is a quick smoke run.
mod support;
use support::{connect_when_up, cpu_and_peak_rss, raw_update};

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Instant;

use bytes::Buf;
use fivetran_source::connectors::virtuous::simulator::{VirtuousConfig, VirtuousSimulator};
use fivetran_source::proto;

/// Counts the records of a `StructuredRecords` body by table, reading only each record's leading
/// `schema_name`/`table_name` fields (the emitter writes them first).
fn count_records(mut body: bytes::Bytes, counts: &mut HashMap<Vec<u8>, u64>) {
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

fn selection(tables: &[&str]) -> proto::Selection {
    proto::Selection {
        selection: Some(proto::selection::Selection::WithoutSchema(
            proto::TablesWithNoSchema {
                tables: tables
                    .iter()
                    .map(|name| proto::TableSelection {
                        included: true,
                        table_name: (*name).to_owned(),
                        columns: HashMap::new(),
                        include_new_columns: true,
                    })
                    .collect(),
                include_new_tables: false,
            },
        )),
    }
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let gifts: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 20_000 });
    let sim = VirtuousSimulator::start(VirtuousConfig::sized(1_000, gifts))
        .await
        .expect("start the simulator");

    let port = 45000 + (std::process::id() % 10000) as u16;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fivetran_source"))
        .args(["--port", &port.to_string(), "--connector", "virtuous"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start server");
    let pid = child.id();
    let channel = connect_when_up(port).await;
    let request = proto::UpdateRequest {
        configuration: [
            ("api_key".to_owned(), sim.api_key().to_owned()),
            ("base_url".to_owned(), sim.base_url()),
        ]
        .into_iter()
        .collect(),
        selection: Some(selection(&["gifts", "gift_designations"])),
        state_json: None,
    };
    let (cpu_before, _) = cpu_and_peak_rss(pid);
    let started = Instant::now();
    let mut stream = raw_update(channel, request, false).await;
    let (mut counts, mut batches, mut checkpoints) = (HashMap::new(), 0u64, 0u64);
    while let Some(msg) = stream.message().await.expect("stream") {
        if let Some(body) = msg.records {
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
    let _ = child.kill();
    let _ = child.wait();

    let synced_gifts = counts.get(&b"gifts"[..]).copied().unwrap_or(0);
    let records: u64 = counts.values().sum();
    assert!(
        synced_gifts >= gifts,
        "{synced_gifts} gifts synced of {gifts}"
    );
    let requests = sim.control().log().total_requests();
    let server_cpu = cpu_after - cpu_before;
    println!(
        "virtuous_gifts: {synced_gifts} gifts, {records} records ({} designations) in {batches} batches, \
         {checkpoints} checkpoints, {requests} api requests",
        counts.get(&b"gift_designations"[..]).copied().unwrap_or(0)
    );
    println!("  wall time            {elapsed:.2} s");
    println!(
        "  throughput           {:.0} gifts/s, {:.0} records/s",
        synced_gifts as f64 / elapsed,
        records as f64 / elapsed
    );
    println!(
        "  server CPU           {server_cpu:.2} s = {:.2} µs/gift, {:.2} µs/record",
        server_cpu * 1e6 / synced_gifts.max(1) as f64,
        server_cpu * 1e6 / records.max(1) as f64
    );
    println!("  server peak RSS      {:.1} MiB", peak_kib as f64 / 1024.0);
}
