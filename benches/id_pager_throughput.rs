//! Throughput of the ID cursor pager through the real HTTP layer: a local axum server on 127.0.0.1 serves
//! 1,000,000 small JSON records by id with skip/take; the pager reads them all with 8 pages in flight.
//! Prints records/s and CPU µs per record (whole process, and without the server thread).
//!
//! Run: `cargo bench --bench id_pager_throughput`. CPU times come from /proc (Linux), in clock ticks of
//! 1/100 s.

mod support;
use support::cpu_ticks;

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use fivetran_source::http::{HttpClient, HttpConfig, Request, SystemClock};
use fivetran_source::sync::{IdPager, IdPagerConfig, Page, PageRequest, PagerItem};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// 1 M records under `cargo bench` (which passes `--bench`); a quick smoke run under `cargo test`.
fn record_total() -> u64 {
    static RECORDS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *RECORDS.get_or_init(|| {
        if std::env::args().any(|a| a == "--bench") {
            1_000_000
        } else {
            20_000
        }
    })
}

#[derive(Deserialize)]
struct PageQuery {
    cursor: Option<u64>,
    skip: u64,
    take: u64,
}

#[derive(Serialize)]
struct Record {
    id: u64,
    name: String,
    amount: u64,
    active: bool,
}

#[derive(Serialize)]
struct PageBody {
    list: Vec<Record>,
    total: u64,
}

/// Ids are 1..=record_total(), so `id > cursor` starts at index `cursor`.
async fn records(Query(q): Query<PageQuery>) -> Json<PageBody> {
    let first = q.cursor.unwrap_or(0) + q.skip + 1;
    let last = (first + q.take).min(record_total() + 1);
    let list = (first..last)
        .map(|id| Record {
            id,
            name: format!("record {id}"),
            amount: id % 1000,
            active: id % 2 == 0,
        })
        .collect();
    Json(PageBody {
        list,
        total: record_total() - q.cursor.unwrap_or(0),
    })
}

/// CPU ticks (user + system) of the calling thread.
async fn thread_cpu() -> String {
    cpu_ticks("/proc/thread-self/stat").to_string()
}

/// Serves on one dedicated thread so its CPU can be told apart from the client's.
fn start_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("send addr");
            let app = Router::new()
                .route("/records", get(records))
                .route("/cpu", get(thread_cpu));
            axum::serve(listener, app).await.expect("serve");
        });
    });
    rx.recv().expect("server address")
}

fn main() {
    let addr = start_server();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("client runtime");
    runtime.block_on(async move {
        let mut config = HttpConfig::new(format!("http://{addr}"));
        config.max_in_flight = 8;
        let client = HttpClient::builder(config).build().expect("client");
        let fetch_client = client.clone();
        let fetch = move |request: PageRequest<u64>| {
            let client = fetch_client.clone();
            async move {
                let mut req = Request::get("/records")
                    .query("skip", request.skip)
                    .query("take", request.take)
                    .shrinkable();
                if let Some(cursor) = request.cursor {
                    req = req.query("cursor", cursor);
                }
                let mut body = client.json(&req).await?;
                let records = match body.get_mut("list").map(Value::take) {
                    Some(Value::Array(list)) => list,
                    _ => Vec::new(),
                };
                Ok(Page {
                    records,
                    total: body.get("total").and_then(Value::as_u64),
                    next: None,
                })
            }
        };
        let id_of = |record: &Value| record.get("id").and_then(Value::as_u64);
        let config = IdPagerConfig::default();
        let mut pager = IdPager::new(None, fetch, id_of, config, SystemClock::shared());

        let cpu_before = cpu_ticks("/proc/self/stat");
        let server_before = server_cpu(&client).await;
        let started = Instant::now();
        let mut count = 0u64;
        let mut last = 0u64;
        while let Some(item) = pager.next().await.expect("pager") {
            if let PagerItem::Records {
                records,
                checkpoint,
            } = item
            {
                count += records.len() as u64;
                let top = checkpoint.expect("checkpoint");
                assert!(top > last, "checkpoint must advance");
                last = top;
            }
        }
        let elapsed = started.elapsed();
        let cpu = cpu_ticks("/proc/self/stat") - cpu_before;
        let server = server_cpu(&client).await - server_before;
        assert_eq!(count, record_total(), "every record once");
        let per_record = |ticks: u64| ticks as f64 * 10_000.0 / count as f64;
        println!(
            "id_pager_throughput: {count} records in {:.2} s",
            elapsed.as_secs_f64()
        );
        println!(
            "  records/s:                      {:.0}",
            count as f64 / elapsed.as_secs_f64()
        );
        println!("  process CPU µs/record:          {:.2}", per_record(cpu));
        println!(
            "  client CPU µs/record (no server): {:.2}",
            per_record(cpu.saturating_sub(server))
        );
    });
}

async fn server_cpu(client: &HttpClient) -> u64 {
    client
        .json(&Request::get("/cpu"))
        .await
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}
