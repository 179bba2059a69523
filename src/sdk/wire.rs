//! The outgoing `UpdateResponse`, encoded by hand for the hot path.
//!
//! A protobuf `map<string, ValueType>` is wire-identical to a repeated `{key = 1, value = 2}` message, so
//! rows are encoded straight from [`Row`](crate::sdk::Row) into the bytes of a `StructuredRecords`
//! message: no `HashMap`, no intermediate prost structs, no per-record allocation. Everything else
//! (checkpoints, warnings, tasks) uses the generated types. `build.rs` maps
//! `fivetran_sdk.v2.UpdateResponse` to [`UpdateResponse`] for the server only; hosts (the debug runner,
//! tests, Fivetran) decode with the standard generated types, which is what the tests here check.

use bytes::{BufMut, Bytes, BytesMut};
use prost::encoding::{
    encode_key, encode_varint, encoded_len_varint, message, skip_field, DecodeContext, WireType,
};

use crate::proto;
use crate::sdk::{ColumnName, Value};

// Field numbers of the v2 protocol (protocol.md §1.3).
const RESPONSE_CHECKPOINT: u32 = 3;
const RESPONSE_WARNING: u32 = 4;
const RESPONSE_TASK: u32 = 5;
const RESPONSE_STRUCTURED_RECORDS: u32 = 6;
const RESPONSE_TRUNCATE: u32 = 8;
const RECORDS_RECORD: u32 = 1;
const RECORD_SCHEMA_NAME: u32 = 1;
const RECORD_TABLE_NAME: u32 = 2;
const RECORD_TYPE: u32 = 3;
const RECORD_DATA: u32 = 4;
const RECORD_ROW_DATA: u32 = 5;
const ENTRY_KEY: u32 = 1;
const ENTRY_VALUE: u32 = 2;

/// One message of the `Update` stream, as the server sends it.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateResponse {
    /// A batch of records (`structured_records = 6`), already encoded.
    Records(RecordBatch),
    /// `checkpoint = 3`.
    Checkpoint(proto::Checkpoint),
    /// `warning = 4`.
    Warning(proto::Warning),
    /// `task = 5`.
    Task(proto::Task),
    /// `truncate = 8` (Fivetran's 2.13.1 SDK sends truncates as TRUNCATE records instead; kept for hosts
    /// that want the message).
    Truncate(proto::Truncate),
}

/// The encoded body of a `StructuredRecords` message: a run of `structured_records = 1` entries.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordBatch {
    body: Bytes,
    count: usize,
}

impl RecordBatch {
    /// Wraps bytes produced by [`encode_record`] calls.
    pub fn new(body: Bytes, count: usize) -> Self {
        Self { body, count }
    }

    /// Number of records in the batch.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

fn len_delimited_len(tag_len: usize, len: usize) -> usize {
    tag_len + encoded_len_varint(len as u64) + len
}

impl prost::Message for UpdateResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match self {
            UpdateResponse::Records(batch) => {
                encode_key(RESPONSE_STRUCTURED_RECORDS, WireType::LengthDelimited, buf);
                encode_varint(batch.body.len() as u64, buf);
                buf.put_slice(&batch.body);
            }
            UpdateResponse::Checkpoint(m) => message::encode(RESPONSE_CHECKPOINT, m, buf),
            UpdateResponse::Warning(m) => message::encode(RESPONSE_WARNING, m, buf),
            UpdateResponse::Task(m) => message::encode(RESPONSE_TASK, m, buf),
            UpdateResponse::Truncate(m) => message::encode(RESPONSE_TRUNCATE, m, buf),
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl bytes::Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // The server only sends this type; hosts decode with `proto::UpdateResponse`.
        skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        match self {
            UpdateResponse::Records(batch) => len_delimited_len(1, batch.body.len()),
            UpdateResponse::Checkpoint(m) => message::encoded_len(RESPONSE_CHECKPOINT, m),
            UpdateResponse::Warning(m) => message::encoded_len(RESPONSE_WARNING, m),
            UpdateResponse::Task(m) => message::encoded_len(RESPONSE_TASK, m),
            UpdateResponse::Truncate(m) => message::encoded_len(RESPONSE_TRUNCATE, m),
        }
    }

    fn clear(&mut self) {
        *self = UpdateResponse::Records(RecordBatch::new(Bytes::new(), 0));
    }
}

/// The pre-encoded `schema_name`/`table_name` fields of a table's records, computed once per table.
pub fn encode_table_prefix(schema: Option<&str>, table: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(table.len() + schema.map_or(0, str::len) + 6);
    if let Some(schema) = schema {
        put_bytes_field(RECORD_SCHEMA_NAME, schema.as_bytes(), &mut out);
    }
    if !table.is_empty() {
        put_bytes_field(RECORD_TABLE_NAME, table.as_bytes(), &mut out);
    }
    out
}

/// Appends one `StructuredRecord` (as a `structured_records = 1` entry) to `out`, in one pass: lengths
/// are computed first (value lengths cached in `lens`, reused between calls), then every byte is written
/// once into space reserved up front. `prefix` comes from [`encode_table_prefix`]; columns for which
/// `keep` is false are left out.
pub fn encode_record(
    out: &mut BytesMut,
    lens: &mut Vec<usize>,
    prefix: &[u8],
    record_type: proto::RecordType,
    columns: &[(ColumnName, Value)],
    keep: impl Fn(&str) -> bool,
) {
    lens.clear();
    let mut record_len = prefix.len();
    if record_type != proto::RecordType::Upsert {
        record_len += 1 + encoded_len_varint(record_type as i32 as u64);
    }
    for (name, value) in columns {
        if !keep(name) {
            lens.push(usize::MAX);
            continue;
        }
        let value_len = value_encoded_len(value);
        let entry_len = len_delimited_len(1, name.len()) + len_delimited_len(1, value_len);
        record_len += len_delimited_len(1, entry_len);
        lens.push(value_len);
    }
    out.reserve(len_delimited_len(1, record_len));
    out.put_u8(key_byte(RECORDS_RECORD, WireType::LengthDelimited));
    put_varint(out, record_len as u64);
    out.extend_from_slice(prefix);
    if record_type != proto::RecordType::Upsert {
        out.put_u8(key_byte(RECORD_TYPE, WireType::Varint));
        put_varint(out, record_type as i32 as u64);
    }
    for ((name, value), &value_len) in columns.iter().zip(lens.iter()) {
        if value_len == usize::MAX {
            continue;
        }
        let entry_len = len_delimited_len(1, name.len()) + len_delimited_len(1, value_len);
        out.put_u8(key_byte(RECORD_DATA, WireType::LengthDelimited));
        put_varint(out, entry_len as u64);
        out.put_u8(key_byte(ENTRY_KEY, WireType::LengthDelimited));
        put_varint(out, name.len() as u64);
        out.extend_from_slice(name.as_bytes());
        out.put_u8(key_byte(ENTRY_VALUE, WireType::LengthDelimited));
        put_varint(out, value_len as u64);
        encode_value(value, out);
    }
}

/// How a record's cells go on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CellEncoding {
    /// `data` (field 4): a `ValueType` message per cell, the partner protocol's only form.
    #[default]
    Typed,
    /// `row_data` (field 5): per cell one prefix byte (null 0, scalar 1, JSON 2, binary 3, float 4,
    /// double 5) and the value as text (raw bytes for binary), in the text forms Fivetran's Python
    /// SDK 2.13.1 writes (`type_coercion.py`). Its hosts ask for it with
    /// `ConnectorSdkRemoveValueType=true` in the connector process's environment.
    Compact,
}

/// The environment variable by which a Connector SDK host asks for [`CellEncoding::Compact`].
pub const COMPACT_CELLS_ENV: &str = "ConnectorSdkRemoveValueType";

impl CellEncoding {
    /// [`CellEncoding::Compact`] when [`COMPACT_CELLS_ENV`] is `true` (any case), as the Python SDK
    /// reads it; [`CellEncoding::Typed`] otherwise.
    pub fn from_env() -> Self {
        match std::env::var(COMPACT_CELLS_ENV) {
            Ok(v) if v.eq_ignore_ascii_case("true") => Self::Compact,
            _ => Self::Typed,
        }
    }
}

/// [`encode_record`] in the [`CellEncoding::Compact`] form: each kept cell is rendered once into
/// `cells` (reused between calls, `ends` marking where each cell stops), then the record is written
/// with its lengths known.
pub fn encode_record_compact(
    out: &mut BytesMut,
    cells: &mut Vec<u8>,
    ends: &mut Vec<usize>,
    prefix: &[u8],
    record_type: proto::RecordType,
    columns: &[(ColumnName, Value)],
    keep: impl Fn(&str) -> bool,
) {
    cells.clear();
    ends.clear();
    let mut record_len = prefix.len();
    if record_type != proto::RecordType::Upsert {
        record_len += 1 + encoded_len_varint(record_type as i32 as u64);
    }
    let mut start = 0;
    for (name, value) in columns {
        if !keep(name) {
            ends.push(usize::MAX);
            continue;
        }
        compact_cell(value, cells);
        let entry_len =
            len_delimited_len(1, name.len()) + len_delimited_len(1, cells.len() - start);
        record_len += len_delimited_len(1, entry_len);
        start = cells.len();
        ends.push(start);
    }
    out.reserve(len_delimited_len(1, record_len));
    out.put_u8(key_byte(RECORDS_RECORD, WireType::LengthDelimited));
    put_varint(out, record_len as u64);
    out.extend_from_slice(prefix);
    if record_type != proto::RecordType::Upsert {
        out.put_u8(key_byte(RECORD_TYPE, WireType::Varint));
        put_varint(out, record_type as i32 as u64);
    }
    let mut start = 0;
    for ((name, _), &end) in columns.iter().zip(ends.iter()) {
        if end == usize::MAX {
            continue;
        }
        let cell = &cells[start..end];
        start = end;
        let entry_len = len_delimited_len(1, name.len()) + len_delimited_len(1, cell.len());
        out.put_u8(key_byte(RECORD_ROW_DATA, WireType::LengthDelimited));
        put_varint(out, entry_len as u64);
        put_bytes(ENTRY_KEY, name.as_bytes(), out);
        put_bytes(ENTRY_VALUE, cell, out);
    }
}

/// Appends one `row_data` cell: the prefix byte, then the text Fivetran's Python SDK writes.
fn compact_cell(value: &Value, out: &mut Vec<u8>) {
    use std::io::Write;
    const NULL: u8 = 0;
    const SCALAR: u8 = 1;
    const JSON: u8 = 2;
    const BINARY: u8 = 3;
    const FLOAT: u8 = 4;
    const DOUBLE: u8 = 5;
    // Writing into a Vec cannot fail.
    let _ = match value {
        Value::Null => {
            out.push(NULL);
            Ok(())
        }
        Value::Bool(b) => {
            out.push(SCALAR);
            out.extend_from_slice(if *b { b"true" } else { b"false" });
            Ok(())
        }
        Value::Short(v) => write!(out, "\x01{v}"),
        Value::Int(v) => write!(out, "\x01{v}"),
        Value::Long(v) => write!(out, "\x01{v}"),
        Value::Float(v) => {
            out.push(FLOAT);
            float_text(f64::from(*v), &v.to_string(), out);
            Ok(())
        }
        Value::Double(v) => {
            out.push(DOUBLE);
            float_text(*v, &v.to_string(), out);
            Ok(())
        }
        Value::NaiveDate(d) => {
            use chrono::Datelike;
            write!(out, "\x01{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
        }
        Value::NaiveDateTime(d) => {
            // Python's `isoformat()`: microseconds, and none when they are zero.
            out.push(SCALAR);
            date_time_text(d, out);
            let micros = d.and_utc().timestamp_subsec_micros();
            if micros != 0 {
                let _ = write!(out, ".{micros:06}");
            }
            Ok(())
        }
        Value::UtcDateTime(d) => {
            // protobuf's Timestamp JSON: 0, 3, 6 or 9 fraction digits, then `Z`.
            out.push(SCALAR);
            date_time_text(&d.naive_utc(), out);
            let nanos = d.timestamp_subsec_nanos();
            let _ = if nanos == 0 {
                Ok(())
            } else if nanos % 1_000_000 == 0 {
                write!(out, ".{:03}", nanos / 1_000_000)
            } else if nanos % 1_000 == 0 {
                write!(out, ".{:06}", nanos / 1_000)
            } else {
                write!(out, ".{nanos:09}")
            };
            out.push(b'Z');
            Ok(())
        }
        Value::Decimal(s) | Value::String(s) | Value::Xml(s) => {
            out.push(SCALAR);
            out.extend_from_slice(s.as_bytes());
            Ok(())
        }
        Value::Json(s) => {
            out.push(JSON);
            out.extend_from_slice(s.as_bytes());
            Ok(())
        }
        Value::Binary(b) => {
            out.push(BINARY);
            out.extend_from_slice(b);
            Ok(())
        }
    };
}

/// `YYYY-MM-DDTHH:MM:SS` of `d`.
fn date_time_text(d: &chrono::NaiveDateTime, out: &mut Vec<u8>) {
    use chrono::{Datelike, Timelike};
    use std::io::Write;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    );
}

/// A float as Python's `str(float)` spells it for Java to parse: `NaN`, `Infinity`, `-Infinity`,
/// and a `.0` on whole numbers (`display` is Rust's shortest round-trip text of the value).
fn float_text(v: f64, display: &str, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else {
        out.extend_from_slice(display.as_bytes());
        if !display.contains(['.', 'e', 'E']) {
            out.extend_from_slice(b".0");
        }
    }
}

/// The one-byte key of fields 1–15.
#[inline]
const fn key_byte(tag: u32, wire_type: WireType) -> u8 {
    ((tag << 3) | wire_type as u32) as u8
}

/// A varint into a `Vec` whose capacity the caller reserved.
#[inline]
fn put_varint(out: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

#[inline]
fn put_bytes(tag: u32, bytes: &[u8], out: &mut BytesMut) {
    out.put_u8(key_byte(tag, WireType::LengthDelimited));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_bytes_field(tag: u32, bytes: &[u8], out: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.put_slice(bytes);
}

/// `(seconds, nanos)` of a timestamp value; naive values are wall clock read as UTC (Fivetran's rule).
fn timestamp_parts(value: &Value) -> Option<(i64, i32)> {
    let dt = match value {
        Value::NaiveDate(d) => d.and_time(chrono::NaiveTime::MIN).and_utc(),
        Value::NaiveDateTime(d) => d.and_utc(),
        Value::UtcDateTime(d) => *d,
        _ => return None,
    };
    Some((dt.timestamp(), dt.timestamp_subsec_nanos() as i32))
}

fn timestamp_len(seconds: i64, nanos: i32) -> usize {
    let s = if seconds != 0 {
        1 + encoded_len_varint(seconds as u64)
    } else {
        0
    };
    let n = if nanos != 0 {
        1 + encoded_len_varint(nanos as i64 as u64)
    } else {
        0
    };
    s + n
}

// `ValueType.inner` oneof field numbers.
mod field {
    pub const NULL: u32 = 1;
    pub const BOOL: u32 = 2;
    pub const SHORT: u32 = 3;
    pub const INT: u32 = 4;
    pub const LONG: u32 = 5;
    pub const FLOAT: u32 = 6;
    pub const DOUBLE: u32 = 7;
    pub const NAIVE_DATE: u32 = 8;
    pub const NAIVE_DATETIME: u32 = 9;
    pub const UTC_DATETIME: u32 = 10;
    pub const DECIMAL: u32 = 11;
    pub const BINARY: u32 = 12;
    pub const STRING: u32 = 13;
    pub const JSON: u32 = 14;
    pub const XML: u32 = 15;
}

/// Encoded length of a `ValueType` message holding `value` (all its tags are one byte: fields 1–15).
fn value_encoded_len(value: &Value) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 2,
        Value::Short(v) => 1 + encoded_len_varint(*v as i64 as u64),
        Value::Int(v) => 1 + encoded_len_varint(*v as i64 as u64),
        Value::Long(v) => 1 + encoded_len_varint(*v as u64),
        Value::Float(_) => 5,
        Value::Double(_) => 9,
        Value::NaiveDate(_) | Value::NaiveDateTime(_) | Value::UtcDateTime(_) => {
            let (s, n) = timestamp_parts(value).unwrap_or_default();
            len_delimited_len(1, timestamp_len(s, n))
        }
        Value::Decimal(s) | Value::String(s) | Value::Json(s) | Value::Xml(s) => {
            len_delimited_len(1, s.len())
        }
        Value::Binary(b) => len_delimited_len(1, b.len()),
    }
}

fn encode_value(value: &Value, out: &mut BytesMut) {
    match value {
        Value::Null => out.extend_from_slice(&[key_byte(field::NULL, WireType::Varint), 1]),
        Value::Bool(b) => {
            out.extend_from_slice(&[key_byte(field::BOOL, WireType::Varint), u8::from(*b)]);
        }
        Value::Short(v) => {
            out.put_u8(key_byte(field::SHORT, WireType::Varint));
            put_varint(out, *v as i64 as u64);
        }
        Value::Int(v) => {
            out.put_u8(key_byte(field::INT, WireType::Varint));
            put_varint(out, *v as i64 as u64);
        }
        Value::Long(v) => {
            out.put_u8(key_byte(field::LONG, WireType::Varint));
            put_varint(out, *v as u64);
        }
        Value::Float(v) => {
            out.put_u8(key_byte(field::FLOAT, WireType::ThirtyTwoBit));
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::Double(v) => {
            out.put_u8(key_byte(field::DOUBLE, WireType::SixtyFourBit));
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::NaiveDate(_) | Value::NaiveDateTime(_) | Value::UtcDateTime(_) => {
            let tag = match value {
                Value::NaiveDate(_) => field::NAIVE_DATE,
                Value::NaiveDateTime(_) => field::NAIVE_DATETIME,
                _ => field::UTC_DATETIME,
            };
            let (seconds, nanos) = timestamp_parts(value).unwrap_or_default();
            out.put_u8(key_byte(tag, WireType::LengthDelimited));
            put_varint(out, timestamp_len(seconds, nanos) as u64);
            if seconds != 0 {
                out.put_u8(key_byte(1, WireType::Varint));
                put_varint(out, seconds as u64);
            }
            if nanos != 0 {
                out.put_u8(key_byte(2, WireType::Varint));
                put_varint(out, nanos as i64 as u64);
            }
        }
        Value::Decimal(s) => put_bytes(field::DECIMAL, s.as_bytes(), out),
        Value::Binary(b) => put_bytes(field::BINARY, b, out),
        Value::String(s) => put_bytes(field::STRING, s.as_bytes(), out),
        Value::Json(s) => put_bytes(field::JSON, s.as_bytes(), out),
        Value::Xml(s) => put_bytes(field::XML, s.as_bytes(), out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::value_type::Inner;
    use chrono::{NaiveDate, TimeZone, Utc};
    use prost::Message;

    fn decode(resp: &UpdateResponse) -> proto::UpdateResponse {
        let bytes = resp.encode_to_vec();
        assert_eq!(bytes.len(), resp.encoded_len());
        proto::UpdateResponse::decode(bytes.as_slice()).expect("standard types decode our bytes")
    }

    fn all_values() -> Vec<(&'static str, Value, Inner)> {
        let ts = |s: i64, n: i32| prost_types::Timestamp {
            seconds: s,
            nanos: n,
        };
        vec![
            ("null", Value::Null, Inner::Null(true)),
            ("bool_f", Value::Bool(false), Inner::Bool(false)),
            ("short", Value::Short(-7), Inner::Short(-7)),
            ("int", Value::Int(i32::MIN), Inner::Int(i32::MIN)),
            ("long", Value::Long(-1), Inner::Long(-1)),
            ("long0", Value::Long(0), Inner::Long(0)),
            ("float", Value::Float(1.5), Inner::Float(1.5)),
            ("double", Value::Double(1.0 / 3.0), Inner::Double(1.0 / 3.0)),
            (
                "decimal",
                Value::Decimal("1.01".into()),
                Inner::Decimal("1.01".into()),
            ),
            (
                "day",
                Value::NaiveDate(NaiveDate::from_ymd_opt(2024, 1, 2).unwrap()),
                Inner::NaiveDate(ts(1704153600, 0)),
            ),
            (
                "local_ts",
                Value::NaiveDateTime(
                    NaiveDate::from_ymd_opt(2024, 1, 2)
                        .unwrap()
                        .and_hms_micro_opt(3, 4, 5, 123456)
                        .unwrap(),
                ),
                Inner::NaiveDatetime(ts(1704164645, 123456000)),
            ),
            (
                "created_at",
                Value::UtcDateTime(Utc.with_ymd_and_hms(2024, 1, 1, 12, 1, 0).unwrap()),
                Inner::UtcDatetime(ts(1704110460, 0)),
            ),
            (
                "epoch",
                Value::UtcDateTime(Utc.timestamp_opt(0, 0).unwrap()),
                Inner::UtcDatetime(ts(0, 0)),
            ),
            (
                "before_epoch",
                Value::UtcDateTime(Utc.timestamp_opt(-5, 7).unwrap()),
                Inner::UtcDatetime(ts(-5, 7)),
            ),
            (
                "blob",
                Value::Binary(vec![1, 1, 2]),
                Inner::Binary(vec![1, 1, 2]),
            ),
            ("xml", Value::Xml("<a/>".into()), Inner::Xml("<a/>".into())),
            (
                "name",
                Value::String("p-1".into()),
                Inner::String("p-1".into()),
            ),
            (
                "empty",
                Value::String(String::new()),
                Inner::String(String::new()),
            ),
            (
                "meta",
                Value::Json(r#"{"i":1}"#.into()),
                Inner::Json(r#"{"i":1}"#.into()),
            ),
        ]
    }

    #[test]
    fn compact_cells_are_what_fivetrans_python_sdk_writes() {
        // The expected bytes are protocol.md §2.5's observations of 2.13.1 (`type_coercion.py`).
        let expected: &[(&str, &[u8])] = &[
            ("null", b"\x00"),
            ("bool_f", b"\x01false"),
            ("short", b"\x01-7"),
            ("int", b"\x01-2147483648"),
            ("long", b"\x01-1"),
            ("long0", b"\x010"),
            ("float", b"\x041.5"),
            ("double", b"\x050.3333333333333333"),
            ("decimal", b"\x011.01"),
            ("day", b"\x012024-01-02"),
            ("local_ts", b"\x012024-01-02T03:04:05.123456"),
            ("created_at", b"\x012024-01-01T12:01:00Z"),
            ("epoch", b"\x011970-01-01T00:00:00Z"),
            ("before_epoch", b"\x011969-12-31T23:59:55.000000007Z"),
            ("blob", b"\x03\x01\x01\x02"),
            ("xml", b"\x01<a/>"),
            ("name", b"\x01p-1"),
            ("empty", b"\x01"),
            ("meta", b"\x02{\"i\":1}"),
        ];
        let mut columns: Vec<(ColumnName, Value)> = all_values()
            .into_iter()
            .map(|(n, v, _)| (n.into(), v))
            .collect();
        columns.push(("dropped".into(), Value::Long(1)));
        let (mut body, mut cells, mut ends) = (BytesMut::new(), Vec::new(), Vec::new());
        let prefix = encode_table_prefix(Some("crm"), "things");
        encode_record_compact(
            &mut body,
            &mut cells,
            &mut ends,
            &prefix,
            proto::RecordType::Update,
            &columns,
            |c| c != "dropped",
        );
        let resp = UpdateResponse::Records(RecordBatch::new(body.freeze(), 1));
        let Some(proto::update_response::Operation::StructuredRecords(recs)) =
            decode(&resp).operation
        else {
            panic!("expected structured_records");
        };
        let [record] = recs.structured_records.as_slice() else {
            panic!("expected one record");
        };
        assert_eq!(record.schema_name.as_deref(), Some("crm"));
        assert_eq!(record.table_name, "things");
        assert_eq!(record.r#type, proto::RecordType::Update as i32);
        assert!(record.data.is_empty(), "typed cells sent as well");
        assert_eq!(
            record.row_data.len(),
            expected.len(),
            "{:?}",
            record.row_data.keys()
        );
        for (name, bytes) in expected {
            assert_eq!(
                record.row_data.get(*name).map(Vec::as_slice),
                Some(*bytes),
                "{name}"
            );
        }
    }

    #[test]
    fn compact_floats_are_spelled_as_python_and_java_read_them() {
        let text = |v: f64| {
            let mut out = Vec::new();
            float_text(v, &v.to_string(), &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(100.0), "100.0");
        assert_eq!(text(-0.5), "-0.5");
        assert_eq!(text(f64::NAN), "NaN");
        assert_eq!(text(f64::INFINITY), "Infinity");
        assert_eq!(text(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(text(1e300).parse::<f64>().unwrap(), 1e300);
    }

    #[test]
    fn every_value_type_decodes_with_fivetran_types() {
        let values = all_values();
        let mut body = BytesMut::new();
        let mut lens = Vec::new();
        let prefix = encode_table_prefix(Some("crm"), "things");
        let mut columns: Vec<(ColumnName, Value)> = values
            .iter()
            .map(|(n, v, _)| ((*n).into(), v.clone()))
            .collect();
        columns.push(("dropped".into(), Value::Long(1)));
        encode_record(
            &mut body,
            &mut lens,
            &prefix,
            proto::RecordType::Upsert,
            &columns,
            |c| c != "dropped",
        );
        encode_record(
            &mut body,
            &mut lens,
            &encode_table_prefix(None, "other"),
            proto::RecordType::Delete,
            &[("id".into(), Value::Long(5))],
            |_| true,
        );
        let resp = UpdateResponse::Records(RecordBatch::new(body.freeze(), 2));
        let Some(proto::update_response::Operation::StructuredRecords(recs)) =
            decode(&resp).operation
        else {
            panic!("expected structured_records");
        };
        let [first, second] = recs.structured_records.as_slice() else {
            panic!("expected two records");
        };
        assert_eq!(first.schema_name.as_deref(), Some("crm"));
        assert_eq!(first.table_name, "things");
        assert_eq!(first.r#type, proto::RecordType::Upsert as i32);
        assert_eq!(first.data.len(), values.len());
        for (name, _, expected) in &values {
            assert_eq!(
                first.data[*name].inner.as_ref(),
                Some(expected),
                "column {name}"
            );
        }
        assert_eq!(second.schema_name, None);
        assert_eq!(second.r#type, proto::RecordType::Delete as i32);
        assert_eq!(second.data["id"].inner, Some(Inner::Long(5)));
    }

    #[test]
    fn control_messages_decode() {
        let ck = UpdateResponse::Checkpoint(proto::Checkpoint {
            state_json: "{\"a\":1}".into(),
        });
        assert!(matches!(
            decode(&ck).operation,
            Some(proto::update_response::Operation::Checkpoint(c)) if c.state_json == "{\"a\":1}"
        ));
        let task = UpdateResponse::Task(proto::Task {
            message: "boom".into(),
        });
        assert!(matches!(
            decode(&task).operation,
            Some(proto::update_response::Operation::Task(_))
        ));
        let w = UpdateResponse::Warning(proto::Warning {
            message: "w".into(),
        });
        assert!(matches!(
            decode(&w).operation,
            Some(proto::update_response::Operation::Warning(_))
        ));
        let t = UpdateResponse::Truncate(proto::Truncate {
            schema_name: None,
            table_name: "t".into(),
            deferred: false,
        });
        assert!(matches!(
            decode(&t).operation,
            Some(proto::update_response::Operation::Truncate(_))
        ));
    }

    #[test]
    fn same_bytes_as_prost_for_a_simple_record() {
        // Our encoding of one record must be byte-identical to prost's for a single-column map
        // (prost's map order is a HashMap's, so compare only the one-entry case).
        let mut body = BytesMut::new();
        encode_record(
            &mut body,
            &mut Vec::new(),
            &encode_table_prefix(None, "t"),
            proto::RecordType::Update,
            &[("id".into(), Value::Long(300))],
            |_| true,
        );
        let reference = proto::StructuredRecords {
            structured_records: vec![proto::StructuredRecord {
                schema_name: None,
                table_name: "t".into(),
                r#type: proto::RecordType::Update as i32,
                data: [(
                    "id".to_string(),
                    proto::ValueType {
                        inner: Some(Inner::Long(300)),
                    },
                )]
                .into(),
                row_data: Default::default(),
            }],
        };
        assert_eq!(body, reference.encode_to_vec());
    }
}
