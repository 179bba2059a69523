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
