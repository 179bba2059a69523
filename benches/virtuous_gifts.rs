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
use support::{selection, sync_through_server};

#[tokio::main]
async fn main() {
    let (gifts, _) = support::size_arg(1_000_000, 20_000);
    let (sim, configuration) = support::virtuous_simulator(1_000, gifts).await;
    let drained = sync_through_server(
        "virtuous",
        configuration,
        Some(selection(&["gifts", "gift_designations"])),
    )
    .await;
    let synced_gifts = drained.of("gifts");
    assert!(
        synced_gifts >= gifts,
        "{synced_gifts} gifts synced of {gifts}"
    );
    println!(
        "virtuous_gifts: {} designations, {} api requests",
        drained.of("gift_designations"),
        sim.control().log().total_requests()
    );
    drained.print("virtuous_gifts", "gifts", synced_gifts);
}
