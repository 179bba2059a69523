//! Benchmark (not a test): rows per second into the local SQLite warehouse, the `debug` runner's sink.
//!
//! 200,000 upserts of 15-column rows (every common type), in batches of 100 with a checkpoint every 100
//! batches, applied through `LocalWarehouse::apply` exactly as the runner's warehouse thread does. Prints
//! wall and CPU rows/s for the applying thread.
//!
//! Run: `cargo bench --bench warehouse_throughput [-- <rows>]`; under `cargo test` it is a quick smoke run.

use std::collections::BTreeMap;
use std::time::Instant;

use fivetran_source::debug::warehouse::{LocalWarehouse, WarehouseOptions};
use fivetran_source::proto::{
    self, update_response::Operation, value_type::Inner, Checkpoint, DataType, RecordType,
    StructuredRecord, StructuredRecords, UpdateResponse, ValueType,
};

const COLUMNS: [(&str, DataType); 15] = [
    ("id", DataType::Long),
    ("name", DataType::String),
    ("email", DataType::String),
    ("age", DataType::Int),
    ("score", DataType::Double),
    ("active", DataType::Boolean),
    ("amount", DataType::Decimal),
    ("created", DataType::UtcDatetime),
    ("birthday", DataType::NaiveDate),
    ("city", DataType::String),
    ("country", DataType::String),
    ("tags", DataType::Json),
    ("visits", DataType::Long),
    ("ratio", DataType::Float),
    ("notes", DataType::String),
];

fn schema() -> proto::SchemaResponse {
    let columns = COLUMNS
        .iter()
        .map(|(name, ty)| proto::Column {
            name: (*name).to_owned(),
            r#type: *ty as i32,
            primary_key: *name == "id",
            params: None,
        })
        .collect();
    proto::SchemaResponse {
        response: Some(proto::schema_response::Response::WithoutSchema(
            proto::TableList {
                tables: vec![proto::Table {
                    name: "people".into(),
                    columns,
                }],
            },
        )),
        selection_not_supported: None,
    }
}

fn value(inner: Inner) -> ValueType {
    ValueType { inner: Some(inner) }
}

fn row(id: i64) -> StructuredRecord {
    let at = prost_types::Timestamp {
        seconds: 1_700_000_000 + id,
        nanos: 0,
    };
    let data: BTreeMap<String, ValueType> = [
        ("id", Inner::Long(id)),
        ("name", Inner::String(format!("person {id}"))),
        ("email", Inner::String(format!("p{id}@example.org"))),
        ("age", Inner::Int((id % 90) as i32)),
        ("score", Inner::Double(id as f64 / 7.0)),
        ("active", Inner::Bool(id % 2 == 0)),
        ("amount", Inner::Decimal(format!("{}.{:02}", id, id % 100))),
        ("created", Inner::UtcDatetime(at)),
        (
            "birthday",
            Inner::NaiveDate(prost_types::Timestamp {
                seconds: 86_400 * (id % 20_000),
                nanos: 0,
            }),
        ),
        ("city", Inner::String("Lisbon".into())),
        ("country", Inner::String("PT".into())),
        ("tags", Inner::Json(r#"["a","b"]"#.into())),
        ("visits", Inner::Long(id * 3)),
        ("ratio", Inner::Float(0.5)),
        ("notes", Inner::String("nothing to say".into())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), value(v)))
    .collect();
    StructuredRecord {
        schema_name: None,
        table_name: "people".into(),
        r#type: RecordType::Upsert as i32,
        data,
        row_data: BTreeMap::new(),
    }
}

/// This thread's CPU time in nanoseconds (Linux), if known.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let smoke = !args.iter().any(|a| a == "--bench");
    let total: i64 = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if smoke { 2_000 } else { 200_000 });
    let batches: Vec<UpdateResponse> = (0..total / 100)
        .map(|b| UpdateResponse {
            operation: Some(Operation::StructuredRecords(StructuredRecords {
                structured_records: (0..100).map(|i| row(b * 100 + i)).collect(),
            })),
        })
        .collect();
    let checkpoint = UpdateResponse {
        operation: Some(Operation::Checkpoint(Checkpoint {
            state_json: r#"{"n":1}"#.into(),
        })),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut warehouse =
        LocalWarehouse::open(dir.path(), WarehouseOptions::default()).expect("open");
    warehouse.apply_schema(&schema()).expect("schema");
    let (started, cpu_started) = (Instant::now(), thread_cpu_ns());
    for (n, batch) in batches.iter().enumerate() {
        warehouse.apply(batch).expect("apply");
        if n % 100 == 99 {
            warehouse.apply(&checkpoint).expect("checkpoint");
        }
    }
    warehouse.finish().expect("finish");
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = match (cpu_started, thread_cpu_ns()) {
        (Some(a), Some(b)) => format!(
            "{:.0} rows/s of the applying thread's CPU",
            total as f64 / ((b - a) as f64 / 1e9)
        ),
        _ => "cpu time unavailable".into(),
    };
    println!(
        "warehouse_throughput: {total} upserts of 15-column rows in {elapsed:.2} s: {:.0} rows/s wall, {cpu}",
        total as f64 / elapsed
    );
}
