//! Measurement helpers shared by the benchmarks (Linux `/proc`).

#![allow(dead_code)] // each bench uses a subset

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
