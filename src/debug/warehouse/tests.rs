//! Tests of the warehouse semantics, driven through the public API with the messages a host decodes.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use prost_types::Timestamp;
use serde_json::{json, Value};

use super::*;
use crate::proto::{
    update_response::Operation, value_type::Inner, Checkpoint, Column, DataType, RecordType,
    Schema, SchemaList, SchemaResponse, StructuredRecord, StructuredRecords,
    Table as DeclaredTable, TableList, Task, Truncate, UpdateResponse, ValueType, Warning,
};

// ---------- builders ----------

fn val(inner: Inner) -> ValueType {
    ValueType { inner: Some(inner) }
}

fn long(i: i64) -> ValueType {
    val(Inner::Long(i))
}

fn text(s: &str) -> ValueType {
    val(Inner::String(s.to_owned()))
}

fn null() -> ValueType {
    val(Inner::Null(true))
}

fn record(table: &str, kind: RecordType, data: &[(&str, ValueType)]) -> StructuredRecord {
    StructuredRecord {
        schema_name: None,
        table_name: table.to_owned(),
        r#type: kind as i32,
        data: data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        row_data: Default::default(),
    }
}

fn upsert(table: &str, data: &[(&str, ValueType)]) -> StructuredRecord {
    record(table, RecordType::Upsert, data)
}

fn update(table: &str, data: &[(&str, ValueType)]) -> StructuredRecord {
    record(table, RecordType::Update, data)
}

fn delete(table: &str, data: &[(&str, ValueType)]) -> StructuredRecord {
    record(table, RecordType::Delete, data)
}

fn truncate_record(table: &str) -> StructuredRecord {
    record(table, RecordType::Truncate, &[])
}

fn batch(records: Vec<StructuredRecord>) -> UpdateResponse {
    UpdateResponse {
        operation: Some(Operation::StructuredRecords(StructuredRecords {
            structured_records: records,
        })),
    }
}

fn checkpoint(state: &str) -> UpdateResponse {
    UpdateResponse {
        operation: Some(Operation::Checkpoint(Checkpoint {
            state_json: state.to_owned(),
        })),
    }
}

fn truncate_message(table: &str, deferred: bool) -> UpdateResponse {
    UpdateResponse {
        operation: Some(Operation::Truncate(Truncate {
            schema_name: None,
            table_name: table.to_owned(),
            deferred,
        })),
    }
}

fn column(name: &str, data_type: DataType, primary_key: bool) -> Column {
    Column {
        name: name.to_owned(),
        r#type: data_type as i32,
        primary_key,
        params: None,
    }
}

fn declared(name: &str, columns: Vec<Column>) -> DeclaredTable {
    DeclaredTable {
        name: name.to_owned(),
        columns,
    }
}

fn without_schema(tables: Vec<DeclaredTable>) -> SchemaResponse {
    SchemaResponse {
        response: Some(schema_response::Response::WithoutSchema(TableList {
            tables,
        })),
        selection_not_supported: None,
    }
}

/// `users(id LONG key, name STRING, age INT)`.
fn users_schema() -> SchemaResponse {
    without_schema(vec![declared(
        "users",
        vec![
            column("id", DataType::Long, true),
            column("name", DataType::String, false),
            column("age", DataType::Int, false),
        ],
    )])
}

fn open(dir: &Path) -> LocalWarehouse {
    LocalWarehouse::open(dir, WarehouseOptions::default()).unwrap()
}

/// A warehouse with the users schema applied.
fn open_users(dir: &Path) -> LocalWarehouse {
    let mut wh = open(dir);
    wh.apply_schema(&users_schema()).unwrap();
    wh
}

fn apply_all(wh: &mut LocalWarehouse, responses: Vec<UpdateResponse>) {
    for response in responses {
        wh.apply(&response).unwrap();
    }
}

fn tester(table: &str) -> TableName {
    TableName::new(DEFAULT_DESTINATION_SCHEMA, table)
}

/// The rows of `tester.<table>` without `_fivetran_synced`, as one JSON array.
fn data(wh: &LocalWarehouse, table: &str) -> Value {
    let rows = wh.rows(&tester(table)).unwrap();
    Value::Array(
        rows.into_iter()
            .map(|mut row| {
                assert!(row
                    .remove("_fivetran_synced")
                    .is_some_and(|v| v.is_string()));
                serde_json::to_value(row).unwrap()
            })
            .collect(),
    )
}

fn state_text(dir: &Path) -> Option<String> {
    fs::read_to_string(dir.join("state.json")).ok()
}

// ---------- operations ----------

#[test]
fn upsert_replaces_the_whole_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![batch(vec![
            upsert(
                "users",
                &[("id", long(1)), ("name", text("ann")), ("age", long(30))],
            ),
            upsert("users", &[("id", long(2)), ("name", text("bob"))]),
            upsert("users", &[("id", long(1)), ("name", text("anne"))]),
        ])],
    );
    assert_eq!(
        data(&wh, "users"),
        json!([
            {"id": 1, "name": "anne", "age": null, "_fivetran_deleted": 0},
            {"id": 2, "name": "bob", "age": null, "_fivetran_deleted": 0},
        ])
    );
}

#[test]
fn update_changes_only_the_given_columns() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![
            batch(vec![upsert(
                "users",
                &[("id", long(1)), ("name", text("ann")), ("age", long(30))],
            )]),
            batch(vec![update("users", &[("id", long(1)), ("age", long(31))])]),
            batch(vec![update("users", &[("id", long(1)), ("name", null())])]),
        ],
    );
    assert_eq!(
        data(&wh, "users"),
        json!([{"id": 1, "name": null, "age": 31, "_fivetran_deleted": 0}])
    );
}

#[test]
fn update_of_a_missing_row_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![batch(vec![
            update("users", &[("id", long(9)), ("name", text("ghost"))]),
            update("never_upserted", &[("x", long(1))]),
        ])],
    );
    assert_eq!(data(&wh, "users"), json!([]));
    // an update does not create a table that was never upserted
    assert!(wh.tables().iter().all(|t| t.name.table != "never_upserted"));
    assert_eq!(wh.summary().total.updates, 2);
}

#[test]
fn delete_is_soft_and_a_missing_row_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![batch(vec![
            upsert("users", &[("id", long(1)), ("name", text("ann"))]),
            upsert("users", &[("id", long(2)), ("name", text("bob"))]),
            delete("users", &[("id", long(1))]),
            delete("users", &[("id", long(7))]),
        ])],
    );
    assert_eq!(
        data(&wh, "users"),
        json!([
            {"id": 1, "name": "ann", "age": null, "_fivetran_deleted": 1},
            {"id": 2, "name": "bob", "age": null, "_fivetran_deleted": 0},
        ])
    );
    assert_eq!(
        wh.row_counts(&tester("users")).unwrap(),
        RowCounts {
            live: 1,
            deleted: 1
        }
    );
}

#[test]
fn upsert_and_update_revive_a_deleted_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![batch(vec![
            upsert("users", &[("id", long(1)), ("name", text("ann"))]),
            upsert("users", &[("id", long(2)), ("name", text("bob"))]),
            delete("users", &[("id", long(1))]),
            delete("users", &[("id", long(2))]),
            upsert("users", &[("id", long(1)), ("name", text("ann"))]),
            update("users", &[("id", long(2)), ("age", long(5))]),
        ])],
    );
    assert_eq!(
        wh.row_counts(&tester("users")).unwrap(),
        RowCounts {
            live: 2,
            deleted: 0
        }
    );
}

#[test]
fn truncate_soft_deletes_only_rows_synced_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    // all in one batch, so within one clock reading: the order alone must decide
    apply_all(
        &mut wh,
        vec![batch(vec![
            upsert("users", &[("id", long(1))]),
            upsert("users", &[("id", long(2))]),
            truncate_record("users"),
            upsert("users", &[("id", long(3))]),
            upsert("users", &[("id", long(2)), ("name", text("again"))]),
        ])],
    );
    let deleted: Vec<(i64, i64)> = wh
        .rows(&tester("users"))
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["_fivetran_deleted"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(deleted, vec![(1, 1), (2, 0), (3, 0)]);
    assert_eq!(wh.summary().total.truncates, 1);
}

#[test]
fn the_truncate_message_soft_deletes_older_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![
            batch(vec![upsert("users", &[("id", long(1))])]),
            checkpoint("{}"),
            truncate_message("users", false),
            batch(vec![upsert("users", &[("id", long(2))])]),
            // a truncate of a table with no rows (and no SQLite table yet) is harmless
            truncate_message("nothing_here", false),
        ],
    );
    assert_eq!(
        wh.row_counts(&tester("users")).unwrap(),
        RowCounts {
            live: 1,
            deleted: 1
        }
    );
    assert_eq!(wh.summary().total.truncates, 2);
}

#[test]
fn a_deferred_truncate_waits_for_the_end_of_the_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![
            batch(vec![upsert("users", &[("id", long(1))])]),
            truncate_message("users", true),
            batch(vec![upsert("users", &[("id", long(2))])]),
            checkpoint("{}"),
        ],
    );
    assert_eq!(
        wh.row_counts(&tester("users")).unwrap(),
        RowCounts {
            live: 2,
            deleted: 0
        }
    );
    wh.finish().unwrap();
    let rows = wh.rows(&tester("users")).unwrap();
    assert_eq!(rows[0]["_fivetran_deleted"], json!(1));
    assert_eq!(rows[1]["_fivetran_deleted"], json!(0));
}

/// Rows written right after a truncate share its cutoff time (the clock does not move within a batch): they
/// are not older than it, so they stay. Driven below the batch level to make the equal times certain.
#[test]
fn rows_with_the_same_time_as_a_deferred_truncate_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    let t = wh.table_for(None, "users").unwrap();
    wh.apply_record(&upsert("users", &[("id", long(1))]))
        .unwrap();
    wh.truncate(t, true).unwrap();
    let cutoff = wh.clock.text().to_owned();
    wh.apply_record(&upsert("users", &[("id", long(2))]))
        .unwrap();
    wh.finish().unwrap();
    let rows = wh.rows(&tester("users")).unwrap();
    assert_eq!(rows[1]["_fivetran_synced"], json!(cutoff));
    assert_eq!(rows[0]["_fivetran_deleted"], json!(1));
    assert_eq!(rows[1]["_fivetran_deleted"], json!(0));
}

#[test]
fn a_deferred_truncate_survives_a_sync_that_fails_after_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![
            batch(vec![upsert("users", &[("id", long(1))])]),
            checkpoint(r#"{"step":1}"#),
            truncate_message("users", true),
            batch(vec![upsert("users", &[("id", long(2))])]),
            checkpoint(r#"{"step":2}"#),
            batch(vec![upsert("users", &[("id", long(3))])]),
        ],
    );
    wh.abort().unwrap();
    drop(wh);

    let mut wh = open_users(dir.path());
    assert_eq!(wh.starting_state(), r#"{"step":2}"#);
    assert_eq!(
        wh.row_counts(&tester("users")).unwrap(),
        RowCounts {
            live: 2,
            deleted: 0
        }
    );
    apply_all(
        &mut wh,
        vec![batch(vec![upsert("users", &[("id", long(3))])])],
    );
    wh.finish().unwrap();
    let deleted: Vec<_> = wh
        .rows(&tester("users"))
        .unwrap()
        .iter()
        .map(|r| r["_fivetran_deleted"].as_i64().unwrap())
        .collect();
    assert_eq!(deleted, vec![1, 0, 0]);
}

#[test]
fn deferred_truncates_left_by_a_failed_sync_are_dropped_when_the_next_starts_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![
            batch(vec![upsert("users", &[("id", long(1))])]),
            truncate_message("users", true),
            checkpoint("{}"),
        ],
    );
    wh.abort().unwrap();
    drop(wh);
    fs::remove_file(dir.path().join("state.json")).unwrap(); // a reset
    let mut wh = open_users(dir.path());
    wh.finish().unwrap();
    assert_eq!(
        wh.row_counts(&tester("users")).unwrap(),
        RowCounts {
            live: 1,
            deleted: 0
        }
    );
}

#[test]
fn a_table_without_key_is_keyed_by_a_hash_of_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open(dir.path());
    wh.apply_schema(&without_schema(vec![declared(
        "events",
        vec![
            column("kind", DataType::String, false),
            column("n", DataType::Long, false),
        ],
    )]))
    .unwrap();
    apply_all(
        &mut wh,
        vec![batch(vec![
            upsert("events", &[("kind", text("click")), ("n", long(1))]),
            upsert("events", &[("n", long(1)), ("kind", text("click"))]),
            upsert(
                "events",
                &[("kind", text("view")), ("n", long(1)), ("extra", null())],
            ),
            // an undeclared table is keyless too
            upsert("logs", &[("line", text("hello"))]),
            delete("events", &[("kind", text("view")), ("n", long(1))]),
        ])],
    );
    let rows = wh.rows(&tester("events")).unwrap();
    assert_eq!(rows.len(), 2, "the same values make the same row: {rows:?}");
    let click = rows.iter().find(|r| r["kind"] == json!("click")).unwrap();
    let view = rows.iter().find(|r| r["kind"] == json!("view")).unwrap();
    assert_eq!(click["_fivetran_deleted"], json!(0));
    assert_eq!(view["_fivetran_deleted"], json!(1));
    let (kind, n) = (values::Cell::Text("click".into()), values::Cell::Integer(1));
    assert_eq!(
        click["_fivetran_id"],
        json!(row_id::fivetran_id([("kind", &kind), ("n", &n)]))
    );
    let logs = wh
        .tables()
        .into_iter()
        .find(|t| t.name == tester("logs"))
        .unwrap();
    assert_eq!(logs.primary_key, vec!["_fivetran_id"]);
}

#[test]
fn a_null_or_absent_primary_key_is_an_error_naming_the_table() {
    for bad in [
        upsert("users", &[("name", text("no id"))]),
        upsert("users", &[("id", null()), ("name", text("null id"))]),
        update("users", &[("name", text("x"))]),
        delete("users", &[("id", null())]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut wh = open_users(dir.path());
        apply_all(
            &mut wh,
            vec![batch(vec![upsert("users", &[("id", long(1))])])],
        );
        let err = wh.apply(&batch(vec![bad])).unwrap_err();
        assert!(
            matches!(err, WarehouseError::NullPrimaryKey { .. }),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("tester.users") && message.contains("id"),
            "{message}"
        );
        // the sync has failed: nothing more is accepted but abort
        let again = wh.apply(&checkpoint("{}")).unwrap_err();
        assert!(
            matches!(again, WarehouseError::AlreadyFailed { .. }),
            "{again}"
        );
        assert!(wh.finish().is_err());
        wh.abort().unwrap();
    }
}

#[test]
fn odd_input_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    let mut bad = upsert("users", &[("id", long(1))]);
    bad.r#type = 42;
    let err = wh.apply(&batch(vec![bad])).unwrap_err();
    assert_eq!(err.to_string(), "unknown record type 42 for table users");
    wh.abort().unwrap();
    drop(wh); // one process holds the directory at a time

    let mut wh = open_users(dir.path());
    let bad = upsert(
        "users",
        &[
            ("id", long(1)),
            (
                "at",
                val(Inner::UtcDatetime(Timestamp {
                    seconds: 0,
                    nanos: -5,
                })),
            ),
        ],
    );
    let err = wh.apply(&batch(vec![bad])).unwrap_err().to_string();
    assert!(err.contains("column at of table tester.users"), "{err}");
    wh.abort().unwrap();
    drop(wh);

    let mut wh = open(dir.path());
    let err = wh
        .apply(&batch(vec![upsert("", &[("a", long(1))])]))
        .unwrap_err();
    assert!(
        matches!(err, WarehouseError::EmptyName { kind: "table", .. }),
        "{err}"
    );
    wh.abort().unwrap();
    drop(wh);

    let mut wh = open(dir.path());
    assert_eq!(
        wh.apply(&UpdateResponse { operation: None }).unwrap(),
        Applied::Skipped("empty update response")
    );
}

// ---------- values and columns ----------

fn ts(seconds: i64, nanos: i32) -> Timestamp {
    Timestamp { seconds, nanos }
}

#[test]
fn every_value_type_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open(dir.path());
    let declared_columns = vec![
        column("id", DataType::Long, true),
        column("flag", DataType::Boolean, false),
        column("small", DataType::Short, false),
        column("medium", DataType::Int, false),
        column("big", DataType::Long, false),
        column("price", DataType::Decimal, false),
        column("ratio_f", DataType::Float, false),
        column("ratio", DataType::Double, false),
        column("day", DataType::NaiveDate, false),
        column("local_ts", DataType::NaiveDatetime, false),
        column("created_at", DataType::UtcDatetime, false),
        column("blob", DataType::Binary, false),
        column("doc", DataType::Xml, false),
        column("name", DataType::String, false),
        column("meta", DataType::Json, false),
        column("at_time", DataType::NaiveTime, false),
        column("nothing", DataType::String, false),
    ];
    wh.apply_schema(&without_schema(vec![declared(
        "all_types",
        declared_columns,
    )]))
    .unwrap();
    let values = [
        ("id", long(1)),
        ("flag", val(Inner::Bool(true))),
        ("small", val(Inner::Short(-7))),
        ("medium", val(Inner::Int(70_000))),
        ("big", long(i64::MAX)),
        (
            "price",
            val(Inner::Decimal("12345678901234567890.01".into())),
        ),
        ("ratio_f", val(Inner::Float(1.1))),
        ("ratio", val(Inner::Double(1.0 / 3.0))),
        ("day", val(Inner::NaiveDate(ts(1_704_153_600, 0)))),
        (
            "local_ts",
            val(Inner::NaiveDatetime(ts(1_704_164_645, 123_456_000))),
        ),
        ("created_at", val(Inner::UtcDatetime(ts(1_704_110_460, 0)))),
        ("blob", val(Inner::Binary(vec![1, 1, 2]))),
        ("doc", val(Inner::Xml("<a/>".into()))),
        ("name", text("p-1")),
        (
            "meta",
            val(Inner::Json(r#"{"i": 1, "tags": ["a", "b"]}"#.into())),
        ),
        ("at_time", val(Inner::NaiveTime(ts(37_530, 0)))),
        ("nothing", null()),
        // undeclared: inferred
        ("u_bool", val(Inner::Bool(false))),
        ("u_float", val(Inner::Float(1.5))),
        ("u_long", long(10)),
        ("u_json", val(Inner::Json("[1, 2]".into()))),
        ("u_blob", val(Inner::Binary(vec![255]))),
        ("u_date", val(Inner::NaiveDate(ts(0, 0)))),
        ("u_empty", ValueType { inner: None }),
    ];
    apply_all(&mut wh, vec![batch(vec![upsert("all_types", &values)])]);
    let row = &wh.rows(&tester("all_types")).unwrap()[0];
    let expected = json!({
        "id": 1, "flag": 1, "small": -7, "medium": 70000, "big": i64::MAX,
        "price": "12345678901234567890.01", "ratio_f": 1.1, "ratio": 1.0 / 3.0,
        "day": "2024-01-02", "local_ts": "2024-01-02T03:04:05.123456", "created_at": "2024-01-01T12:01:00Z",
        "blob": "AQEC", "doc": "<a/>", "name": "p-1", "meta": r#"{"i": 1, "tags": ["a", "b"]}"#,
        "at_time": "10:25:30", "nothing": null,
        "u_bool": 0, "u_float": 1.5, "u_long": 10, "u_json": "[1, 2]", "u_blob": "/w==", "u_date": "1970-01-01",
        "_fivetran_deleted": 0,
    });
    for (column, want) in expected.as_object().unwrap() {
        assert_eq!(&row[column], want, "column {column}");
    }
    assert!(!row.contains_key("u_empty"), "a null creates no column");

    // the storage classes, not just the values: a decimal must stay text, a blob a blob
    let sql = "SELECT typeof(flag), typeof(price), typeof(ratio_f), typeof(blob), typeof(meta), \
               typeof(u_float), typeof(u_blob), typeof(u_json) FROM \"tester.all_types\"";
    let kinds: Vec<String> = wh
        .conn
        .query_row(sql, [], |r| (0..8).map(|i| r.get(i)).collect())
        .unwrap();
    assert_eq!(
        kinds,
        ["integer", "text", "real", "blob", "text", "real", "blob", "text"]
    );
}

#[test]
fn row_data_cells_are_read_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open(dir.path());
    let mut r = upsert("compact", &[]);
    r.row_data = [
        ("s".to_owned(), b"\x01abc".to_vec()),
        ("b".to_owned(), b"\x03\x00\x01".to_vec()),
        ("d".to_owned(), b"\x050.25".to_vec()),
        ("n".to_owned(), b"\x00".to_vec()),
    ]
    .into_iter()
    .collect();
    apply_all(&mut wh, vec![batch(vec![r])]);
    let row = &wh.rows(&tester("compact")).unwrap()[0];
    assert_eq!(
        (&row["s"], &row["b"], &row["d"]),
        (&json!("abc"), &json!("AAE="), &json!(0.25))
    );
    assert!(!row.contains_key("n"));
}

#[test]
fn columns_are_added_when_a_record_brings_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    let before = wh.summary().total.schema_changes;
    assert_eq!(before, 1, "the declared table");
    apply_all(
        &mut wh,
        vec![
            batch(vec![upsert(
                "users",
                &[("id", long(1)), ("name", text("ann"))],
            )]),
            batch(vec![upsert(
                "users",
                &[
                    ("id", long(2)),
                    ("zeta", text("z")),
                    ("alpha", long(5)),
                    ("only_null", null()),
                ],
            )]),
            batch(vec![update(
                "users",
                &[("id", long(1)), ("score", val(Inner::Double(2.5)))],
            )]),
        ],
    );
    let info = wh
        .tables()
        .into_iter()
        .find(|t| t.name == tester("users"))
        .unwrap();
    assert_eq!(
        info.columns,
        [
            "id",
            "name",
            "age",
            "_fivetran_synced",
            "_fivetran_deleted",
            "alpha",
            "zeta",
            "score"
        ]
    );
    assert_eq!(wh.summary().total.schema_changes, before + 3);
    assert_eq!(
        data(&wh, "users"),
        json!([
            {"id": 1, "name": "ann", "age": null, "alpha": null, "zeta": null, "score": 2.5, "_fivetran_deleted": 0},
            {"id": 2, "name": null, "age": null, "alpha": 5, "zeta": "z", "score": null, "_fivetran_deleted": 0},
        ])
    );
}

#[test]
fn a_value_that_conflicts_with_the_declared_type_is_stored_as_it_came() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![batch(vec![
            upsert("users", &[("id", long(1)), ("age", text("thirty"))]),
            upsert(
                "users",
                &[("id", long(2)), ("age", long(40)), ("name", long(7))],
            ),
            upsert(
                "users",
                &[("id", long(3)), ("age", val(Inner::Double(1.5)))],
            ),
        ])],
    );
    assert_eq!(
        data(&wh, "users"),
        json!([
            {"id": 1, "name": null, "age": "thirty", "_fivetran_deleted": 0},
            {"id": 2, "name": "7", "age": 40, "_fivetran_deleted": 0},
            {"id": 3, "name": null, "age": 1.5, "_fivetran_deleted": 0},
        ])
    );
    // a text key in a declared integer key column is stored too (the table is WITHOUT ROWID)
    apply_all(
        &mut wh,
        vec![batch(vec![upsert("users", &[("id", text("x-1"))])])],
    );
    assert_eq!(wh.row_counts(&tester("users")).unwrap().live, 4);
}

#[test]
fn system_columns_sent_by_the_connector_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![batch(vec![upsert(
            "users",
            &[
                ("id", long(1)),
                ("_fivetran_deleted", val(Inner::Bool(true))),
                ("_fivetran_synced", text("x")),
            ],
        )])],
    );
    assert_eq!(
        wh.row_counts(&tester("users")).unwrap(),
        RowCounts {
            live: 1,
            deleted: 0
        }
    );
}

// ---------- naming ----------

#[test]
fn names_follow_fivetran_rules_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open(dir.path());
    wh.apply_schema(&SchemaResponse {
        response: Some(schema_response::Response::WithSchema(SchemaList {
            schemas: vec![
                Schema {
                    name: "MySchema".into(),
                    tables: vec![declared(
                        "HTTPServer",
                        vec![column("t1", DataType::Long, true)],
                    )],
                },
                Schema {
                    name: String::new(),
                    tables: vec![declared(
                        "_private",
                        vec![column("_private", DataType::String, false)],
                    )],
                },
            ],
        })),
        selection_not_supported: None,
    })
    .unwrap();
    let mut in_schema = upsert("HTTPServer", &[("t1", long(1)), ("userData", text("u"))]);
    in_schema.schema_name = Some("MySchema".into());
    apply_all(
        &mut wh,
        vec![batch(vec![
            in_schema,
            upsert("_private", &[("_private", text("p"))]),
            upsert("Café Menu", &[("user.data", long(1)), ("1abc", long(2))]),
        ])],
    );
    let names: Vec<(String, Vec<String>)> = wh
        .tables()
        .into_iter()
        .map(|t| (t.name.to_string(), t.columns))
        .collect();
    let want = |t: &str, cols: &[&str]| {
        (
            t.to_owned(),
            cols.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        names,
        vec![
            want(
                "tester.cafe_menu",
                &[
                    "_fivetran_id",
                    "_fivetran_synced",
                    "_fivetran_deleted",
                    "_1_abc",
                    "user_data"
                ]
            ),
            want(
                "tester.private",
                &[
                    "_private",
                    "_fivetran_id",
                    "_fivetran_synced",
                    "_fivetran_deleted"
                ]
            ),
            want(
                "tester_myschema.httpserver",
                &["t_1", "_fivetran_synced", "_fivetran_deleted", "user_data"]
            ),
        ]
    );
    let rows = wh
        .rows(&TableName::new("tester_myschema", "httpserver"))
        .unwrap();
    assert_eq!(rows[0]["user_data"], json!("u"));
}

#[test]
fn source_naming_keeps_names_and_the_first_choice_stays() {
    let dir = tempfile::tempdir().unwrap();
    let options = WarehouseOptions {
        naming: Naming::Source,
        ..Default::default()
    };
    let mut wh = LocalWarehouse::open(dir.path(), options).unwrap();
    apply_all(
        &mut wh,
        vec![batch(vec![upsert("userData", &[("userID", long(1))])])],
    );
    wh.finish().unwrap();
    let info = &wh.tables()[0];
    assert_eq!(info.name, tester("userData"));
    assert!(info.columns.contains(&"userID".to_owned()));
    drop(wh);
    // asking for Fivetran naming later does not change a warehouse made with source names
    let wh = open(dir.path());
    assert_eq!(wh.naming(), Naming::Source);
}

#[test]
fn two_source_names_that_rename_alike_share_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open(dir.path());
    apply_all(
        &mut wh,
        vec![batch(vec![
            upsert("userData", &[("a", long(1))]),
            upsert("user_data", &[("a", long(2))]),
        ])],
    );
    assert_eq!(wh.tables().len(), 1);
    assert_eq!(wh.row_counts(&tester("user_data")).unwrap().live, 2);
}

// ---------- checkpoints, rollback, state ----------

#[test]
fn records_after_the_last_checkpoint_are_rolled_back_when_the_sync_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![
            batch(vec![upsert(
                "users",
                &[("id", long(1)), ("name", text("kept"))],
            )]),
            checkpoint("{ \"cursor\": 1 }"),
            batch(vec![
                upsert("users", &[("id", long(2))]),
                update("users", &[("id", long(1)), ("name", text("lost"))]),
                upsert("created_later", &[("x", long(1))]),
            ]),
        ],
    );
    assert_eq!(
        wh.row_counts(&tester("users")).unwrap().live,
        2,
        "visible inside the transaction"
    );
    wh.abort().unwrap();
    assert_eq!(state_text(dir.path()).as_deref(), Some(r#"{"cursor":1}"#));
    // the same warehouse and a reopened one agree: the rows and the state of the checkpoint
    let agrees = |wh: &LocalWarehouse| {
        assert_eq!(
            data(wh, "users"),
            json!([{"id": 1, "name": "kept", "age": null, "_fivetran_deleted": 0}])
        );
        assert!(wh.tables().iter().all(|t| t.name.table != "created_later"));
        assert_eq!(
            wh.summary().total.upserts,
            if wh.checkpoints == 1 { 3 } else { 0 }
        );
    };
    agrees(&wh);
    drop(wh); // one process holds the directory at a time
    let reopened = open(dir.path());
    agrees(&reopened);
    assert_eq!(reopened.starting_state(), r#"{"cursor":1}"#);
}

#[test]
fn dropping_the_warehouse_without_finish_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![
            batch(vec![upsert("users", &[("id", long(1))])]),
            checkpoint(r#"{"c":1}"#),
            batch(vec![upsert("users", &[("id", long(2))])]),
        ],
    );
    drop(wh);
    let wh = open(dir.path());
    assert_eq!(wh.row_counts(&tester("users")).unwrap().live, 1);
    assert_eq!(wh.starting_state(), r#"{"c":1}"#);
}

#[test]
fn a_sync_that_fails_before_any_checkpoint_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![batch(vec![upsert("users", &[("id", long(1))])])],
    );
    wh.abort().unwrap();
    assert!(
        wh.tables().is_empty(),
        "even the declared table is rolled back"
    );
    assert_eq!(state_text(dir.path()), None);
}

#[test]
fn finish_commits_what_came_after_the_last_checkpoint_but_keeps_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![
            batch(vec![upsert("users", &[("id", long(1))])]),
            checkpoint(r#"{"c":1}"#),
            batch(vec![upsert("users", &[("id", long(2))])]),
        ],
    );
    wh.finish().unwrap();
    assert!(matches!(
        wh.apply(&checkpoint("{}")),
        Err(WarehouseError::Ended {
            how: "finished",
            ..
        })
    ));
    wh.abort().unwrap(); // harmless after finish
    drop(wh);
    assert_eq!(
        open(dir.path()).row_counts(&tester("users")).unwrap().live,
        2
    );
    assert_eq!(state_text(dir.path()).as_deref(), Some(r#"{"c":1}"#));
}

#[test]
fn a_sync_that_never_checkpoints_keeps_its_starting_state() {
    let dir = tempfile::tempdir().unwrap();
    let options = WarehouseOptions {
        starting_state: Some("{ \"from\": \"cli\" }".into()),
        ..Default::default()
    };
    let mut wh = LocalWarehouse::open(dir.path(), options).unwrap();
    wh.apply_schema(&users_schema()).unwrap();
    apply_all(
        &mut wh,
        vec![batch(vec![upsert("users", &[("id", long(1))])])],
    );
    wh.finish().unwrap();
    assert_eq!(state_text(dir.path()).as_deref(), Some(r#"{"from":"cli"}"#));
    assert_eq!(wh.summary().checkpoints, 0);
}

#[test]
fn a_checkpoint_whose_state_is_not_an_object_commits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![batch(vec![upsert("users", &[("id", long(1))])])],
    );
    let err = wh.apply(&checkpoint("[1, 2]")).unwrap_err();
    assert!(
        err.to_string().starts_with("state is not a json object"),
        "{err}"
    );
    wh.abort().unwrap();
    assert!(wh.tables().is_empty());
    assert_eq!(state_text(dir.path()), None);
}

/// A crash between the commit and the state write: the rows are one checkpoint ahead of the state, never
/// behind. The next sync starts from the older state and re-sends; applying it again gives the same rows.
#[test]
fn a_crash_between_commit_and_state_write_leaves_the_state_behind_and_replay_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let second_stretch = || {
        vec![
            batch(vec![
                upsert("users", &[("id", long(2)), ("name", text("bob"))]),
                update("users", &[("id", long(1)), ("age", long(31))]),
                delete("users", &[("id", long(3))]),
                upsert("users", &[("id", long(4))]),
                truncate_record("other"),
                upsert("other", &[("v", long(1))]),
            ]),
            checkpoint(r#"{"c":2}"#),
        ]
    };

    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![
            batch(vec![
                upsert(
                    "users",
                    &[("id", long(1)), ("name", text("ann")), ("age", long(30))],
                ),
                upsert("users", &[("id", long(3))]),
            ]),
            checkpoint(r#"{"c":1}"#),
        ],
    );
    // The state cannot be replaced (its path is now a non-empty directory): the write after the commit fails.
    let state = dir.path().join("state.json");
    fs::remove_file(&state).unwrap();
    fs::create_dir(&state).unwrap();
    fs::write(state.join("blocker"), "").unwrap();
    let mut stretch = second_stretch();
    let last = stretch.pop().unwrap();
    apply_all(&mut wh, stretch);
    let err = wh.apply(&last).unwrap_err();
    assert!(matches!(err, WarehouseError::State(_)), "{err}");
    wh.abort().unwrap();
    let committed = (data(&wh, "users"), data(&wh, "other"));
    assert_eq!(
        wh.row_counts(&tester("users")).unwrap().live,
        3,
        "the rows were committed"
    );
    drop(wh);

    // What a crash at that moment leaves: the rows of checkpoint 2 and the state of checkpoint 1.
    fs::remove_dir_all(&state).unwrap();
    fs::write(&state, r#"{"c":1}"#).unwrap();
    let mut wh = open_users(dir.path());
    assert_eq!(wh.starting_state(), r#"{"c":1}"#);
    apply_all(&mut wh, second_stretch());
    wh.finish().unwrap();
    assert_eq!((data(&wh, "users"), data(&wh, "other")), committed);
    assert_eq!(state_text(dir.path()).as_deref(), Some(r#"{"c":2}"#));
}

#[test]
fn the_catalog_is_read_back_and_a_changed_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![batch(vec![upsert(
            "users",
            &[("id", long(1)), ("new_col", text("n"))],
        )])],
    );
    wh.finish().unwrap();
    drop(wh);

    // a new declared column is added to the existing table; records find existing columns without DDL
    let mut wh = open(dir.path());
    let mut schema = users_schema();
    if let Some(schema_response::Response::WithoutSchema(list)) = &mut schema.response {
        list.tables[0]
            .columns
            .push(column("email", DataType::String, false));
    }
    wh.apply_schema(&schema).unwrap();
    apply_all(
        &mut wh,
        vec![batch(vec![upsert(
            "users",
            &[("id", long(1)), ("new_col", text("m"))],
        )])],
    );
    assert_eq!(wh.summary().total.schema_changes, 1, "only email was added");
    wh.finish().unwrap();
    drop(wh);

    let mut wh = open(dir.path());
    let err = wh
        .apply_schema(&without_schema(vec![declared(
            "users",
            vec![column("name", DataType::String, true)],
        )]))
        .unwrap_err();
    assert!(matches!(err, WarehouseError::KeyChanged { .. }), "{err}");
    assert!(err.to_string().contains("tester.users"), "{err}");
}

// ---------- alerts and counts ----------

#[test]
fn warnings_and_tasks_are_counted_and_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open(dir.path());
    let warning = UpdateResponse {
        operation: Some(Operation::Warning(Warning {
            message: r#"{"message": "slow api"}"#.into(),
        })),
    };
    let task = UpdateResponse {
        operation: Some(Operation::Task(Task {
            message: "plain text".into(),
        })),
    };
    assert_eq!(
        wh.apply(&warning).unwrap(),
        Applied::Warning(Alert {
            message: "slow api".into(),
            trace: None
        })
    );
    assert_eq!(
        wh.apply(&task).unwrap(),
        Applied::Task(Alert {
            message: "plain text".into(),
            trace: None
        })
    );
    let with_trace = Alert::parse(r#"{"message":"boom","trace":"at line 1"}"#);
    assert_eq!(with_trace.trace.as_deref(), Some("at line 1"));
    let summary = wh.summary();
    assert_eq!((summary.warnings, summary.tasks), (1, 1));
}

#[test]
fn the_summary_counts_each_operation_per_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut wh = open_users(dir.path());
    apply_all(
        &mut wh,
        vec![
            batch(vec![
                upsert("users", &[("id", long(1))]),
                upsert("users", &[("id", long(2)), ("extra", long(1))]),
                update("users", &[("id", long(1)), ("name", text("a"))]),
                delete("users", &[("id", long(2))]),
                truncate_record("users"),
                upsert("logs", &[("line", text("l"))]),
            ]),
            checkpoint("{}"),
            checkpoint("{}"),
        ],
    );
    assert_eq!(
        wh.apply(&checkpoint("{ \"a\" : [1, 2] }")).unwrap(),
        Applied::Checkpointed(r#"{"a":[1,2]}"#.into())
    );
    let summary = wh.summary();
    assert_eq!(
        summary.tables[&tester("users")],
        OperationCounts {
            upserts: 2,
            updates: 1,
            deletes: 1,
            truncates: 1,
            schema_changes: 2,
        }
    );
    assert_eq!(summary.tables[&tester("logs")].schema_changes, 1);
    assert_eq!(summary.total.upserts, 3);
    assert_eq!(summary.checkpoints, 3);
}

// ---------- model check ----------

mod model {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Upsert(i64, Option<i64>, Option<String>),
        Update(i64, Option<Option<i64>>, Option<Option<String>>),
        Delete(i64),
        Checkpoint,
    }

    #[derive(Debug, Clone, PartialEq)]
    struct Row {
        a: Option<i64>,
        b: Option<String>,
        deleted: bool,
    }

    type Model = BTreeMap<i64, Row>;

    fn op() -> impl Strategy<Value = Op> {
        let key = 0i64..6;
        let a = proptest::option::of(-3i64..3);
        let b = proptest::option::of("[a-c]{0,2}");
        prop_oneof![
            4 => (key.clone(), a.clone(), b.clone()).prop_map(|(k, a, b)| Op::Upsert(k, a, b)),
            3 => (key.clone(), proptest::option::of(a), proptest::option::of(b))
                .prop_map(|(k, a, b)| Op::Update(k, a, b)),
            2 => key.prop_map(Op::Delete),
            1 => Just(Op::Checkpoint),
        ]
    }

    fn apply_to_model(model: &mut Model, op: &Op) {
        match op {
            Op::Upsert(k, a, b) => {
                model.insert(
                    *k,
                    Row {
                        a: *a,
                        b: b.clone(),
                        deleted: false,
                    },
                );
            }
            Op::Update(k, a, b) => {
                if let Some(row) = model.get_mut(k) {
                    if let Some(a) = a {
                        row.a = *a;
                    }
                    if let Some(b) = b {
                        row.b = b.clone();
                    }
                    row.deleted = false;
                }
            }
            Op::Delete(k) => {
                if let Some(row) = model.get_mut(k) {
                    row.deleted = true;
                }
            }
            Op::Checkpoint => {}
        }
    }

    fn response(op: &Op, n: usize) -> UpdateResponse {
        let opt_long = |v: &Option<i64>| v.map_or_else(null, long);
        let opt_text = |v: &Option<String>| v.as_deref().map_or_else(null, text);
        match op {
            Op::Upsert(k, a, b) => {
                // an absent column and a null are the same for an upsert: send either
                let mut data = vec![("id", long(*k))];
                if a.is_some() || n.is_multiple_of(2) {
                    data.push(("a", opt_long(a)));
                }
                if b.is_some() || n.is_multiple_of(3) {
                    data.push(("b", opt_text(b)));
                }
                batch(vec![upsert("t", &data)])
            }
            Op::Update(k, a, b) => {
                let mut data = vec![("id", long(*k))];
                if let Some(a) = a {
                    data.push(("a", opt_long(a)));
                }
                if let Some(b) = b {
                    data.push(("b", opt_text(b)));
                }
                batch(vec![update("t", &data)])
            }
            Op::Delete(k) => batch(vec![delete("t", &[("id", long(*k))])]),
            Op::Checkpoint => checkpoint(&format!(r#"{{"n":{n}}}"#)),
        }
    }

    /// The rows of `t`; none when the table does not exist (a sync that failed before its first checkpoint).
    fn observed(wh: &LocalWarehouse) -> Model {
        let Ok(rows) = wh.rows(&tester("t")) else {
            return Model::new();
        };
        rows.into_iter()
            .map(|r| {
                let row = Row {
                    a: r["a"].as_i64(),
                    b: r["b"].as_str().map(str::to_owned),
                    deleted: r["_fivetran_deleted"] == json!(1),
                };
                (r["id"].as_i64().unwrap(), row)
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Random upserts, updates, deletes and checkpoints on a keyed table match a map, and a failed sync
        /// leaves exactly the map and the state of its last checkpoint.
        #[test]
        fn keyed_operations_match_a_map(ops in proptest::collection::vec(op(), 1..40), fail in any::<bool>()) {
            let dir = tempfile::tempdir().unwrap();
            let mut wh = open(dir.path());
            wh.apply_schema(&without_schema(vec![declared("t", vec![
                column("id", DataType::Long, true),
                column("a", DataType::Long, false),
                column("b", DataType::String, false),
            ])])).unwrap();
            let (mut model, mut committed, mut state) = (Model::new(), Model::new(), None);
            for (n, op) in ops.iter().enumerate() {
                apply_to_model(&mut model, op);
                wh.apply(&response(op, n)).unwrap();
                if matches!(op, Op::Checkpoint) {
                    committed = model.clone();
                    state = Some(format!(r#"{{"n":{n}}}"#));
                }
                prop_assert_eq!(&observed(&wh), &model);
            }
            if fail {
                wh.abort().unwrap();
                drop(wh);
                prop_assert_eq!(&observed(&open(dir.path())), &committed);
                prop_assert_eq!(state_text(dir.path()), state);
            } else {
                wh.finish().unwrap();
                drop(wh);
                prop_assert_eq!(&observed(&open(dir.path())), &model);
                prop_assert_eq!(state_text(dir.path()), state.or(Some("{}".to_owned())));
            }
        }
    }
}
