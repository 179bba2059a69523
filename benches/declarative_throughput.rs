//! Benchmark (not a test): the same gifts from one in-process Virtuous simulator (no latency, no rate
//! limit) through the real server binary twice, side by side: once as the hand-written `virtuous`
//! connector (its IdPager, FullGift pages of 1000, 8 in flight) and once as the definition
//! `benches/virtuous_gifts.toml` run by the declarative engine (offset pages of 1000 of the same
//! FullGift endpoint, the same 23 columns). Only `gifts` is selected. Prints server CPU µs per gift for
//! both and their ratio (the goal: the definition within 10 % of the hand-written path).
//!
//! Run: `cargo bench --bench declarative_throughput [-- <gifts>]`; under `cargo test` it is a quick
//! smoke run.
mod support;
use support::{selection, sync_through_server, sync_through_server_with};

#[tokio::main]
async fn main() {
    let (gifts, _) = support::size_arg(200_000, 5_000);
    let (_sim, configuration) = support::virtuous_simulator(100, gifts).await;
    let definition = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/virtuous_gifts.toml");

    let mut per_gift = Vec::new();
    for (name, run) in [("hand-written", 0), ("definition", 1)] {
        let drained = if run == 0 {
            sync_through_server(
                "virtuous",
                configuration.clone(),
                Some(selection(&["gifts"])),
            )
            .await
        } else {
            sync_through_server_with(
                &["--definition", definition],
                configuration.clone(),
                Some(selection(&["gifts"])),
            )
            .await
        };
        let synced = drained.of("gifts");
        assert!(synced >= gifts, "{name}: {synced} gifts synced of {gifts}");
        drained.print(&format!("declarative_throughput {name}"), "gifts", synced);
        per_gift.push(drained.server_cpu * 1e6 / synced as f64);
    }
    println!(
        "declarative_throughput: server CPU per gift: hand-written {:.2} µs, definition {:.2} µs, ratio {:.3}",
        per_gift[0],
        per_gift[1],
        per_gift[1] / per_gift[0]
    );
}
