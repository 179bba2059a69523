//! Generates the `fivetran_sdk.v2` types without a system `protoc`: `protox` parses `proto/` in Rust.
//!
//! Two passes over the same descriptors:
//! - `fivetran_sdk.v2.rs`: every message plus the gRPC client, the standard prost types any host decodes with;
//! - `server/fivetran_sdk.v2.rs`: only the server trait, with `UpdateResponse` mapped to the hand-written
//!   wire type in `src/sdk/wire.rs` (records pre-encoded once, no per-record map) and everything else to the
//!   standard types.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    // Baked into `registry::DEFAULT_CONNECTOR` (one build per connector for the partner pipeline).
    println!("cargo:rerun-if-env-changed=FIVETRAN_SOURCE_DEFAULT_CONNECTOR");
    let fds = protox::compile(["connector_sdk.proto"], ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);

    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        // A host decodes a map per record: a B-tree of a dozen cells costs less to build than a
        // SipHash table rehashed as it grows (callgrind, the README's main job: map decoding
        // 6.66 G -> 5.64 G instructions), and iterates in name order.
        .btree_map(".fivetran_sdk.v2.StructuredRecord.data")
        .btree_map(".fivetran_sdk.v2.StructuredRecord.row_data")
        // The client's responses decode from one slice each (`src/proto/codec.rs`).
        .codec_path("crate::proto::codec::SliceCodec")
        .out_dir(&out)
        .compile_fds(fds.clone())?;

    let server_out = out.join("server");
    std::fs::create_dir_all(&server_out)?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .extern_path(
            ".fivetran_sdk.v2.UpdateResponse",
            "crate::sdk::wire::UpdateResponse",
        )
        .extern_path(".fivetran_sdk.v2", "crate::proto")
        .out_dir(&server_out)
        .compile_fds(fds)?;
    Ok(())
}
