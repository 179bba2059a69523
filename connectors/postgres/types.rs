//! The type map: a column's PostgreSQL type → its Fivetran type, and a value's text form (what both
//! `COPY ... TO STDOUT` and pgoutput send, in the session settings [`SESSION_OPTIONS`] fixes) → a
//! [`Value`]. One converter serves the snapshot and the stream, so the two cannot disagree.

use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value as Json;

use crate::sdk::{ColumnType, Value};

/// Session settings both connections start with, so every value's text form is the one parsed here:
/// ISO dates, UTC instants, shortest exact floats, hex bytea.
pub const SESSION_OPTIONS: &str = "-c DateStyle=ISO -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex -c IntervalStyle=postgres";

/// How a column's text is read.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `boolean`.
    Bool,
    /// `smallint`.
    Short,
    /// `integer`.
    Int,
    /// `bigint`.
    Long,
    /// `numeric(p,s)` with `p` ≤ 38 and `0 ≤ s ≤ p`.
    Decimal {
        /// Precision.
        precision: u32,
        /// Scale.
        scale: u32,
    },
    /// `real`.
    Float,
    /// `double precision`.
    Double,
    /// `date`.
    Date,
    /// `timestamp without time zone`.
    Timestamp,
    /// `timestamp with time zone`.
    Timestamptz,
    /// `json`, `jsonb`.
    Json,
    /// `bytea`.
    Bytea,
    /// Everything kept as its text: text types, `uuid`, enums, `time`, `interval`, network types,
    /// unconstrained `numeric` (no precision to declare, so kept exact as text).
    Text,
    /// An array of the element kind, as a JSON array.
    Array(Box<Kind>),
    /// A composite (row) type with its fields' names and kinds, as a JSON object (numbers and
    /// booleans typed, everything else as its text).
    Composite(Vec<(String, Kind)>),
}

/// Builtin type OIDs (`pg_type.oid`), fixed since PostgreSQL 7.
pub mod oid {
    /// boolean
    pub const BOOL: u32 = 16;
    /// bytea
    pub const BYTEA: u32 = 17;
    /// bigint
    pub const INT8: u32 = 20;
    /// smallint
    pub const INT2: u32 = 21;
    /// integer
    pub const INT4: u32 = 23;
    /// json
    pub const JSON: u32 = 114;
    /// real
    pub const FLOAT4: u32 = 700;
    /// double precision
    pub const FLOAT8: u32 = 701;
    /// date
    pub const DATE: u32 = 1082;
    /// timestamp
    pub const TIMESTAMP: u32 = 1114;
    /// timestamptz
    pub const TIMESTAMPTZ: u32 = 1184;
    /// numeric
    pub const NUMERIC: u32 = 1700;
    /// jsonb
    pub const JSONB: u32 = 3802;
}

/// The kind of a scalar builtin type, by OID and type modifier (anything else is text).
pub fn scalar_kind(type_oid: u32, typmod: i32) -> Kind {
    match type_oid {
        oid::BOOL => Kind::Bool,
        oid::INT2 => Kind::Short,
        oid::INT4 => Kind::Int,
        oid::INT8 => Kind::Long,
        oid::FLOAT4 => Kind::Float,
        oid::FLOAT8 => Kind::Double,
        oid::DATE => Kind::Date,
        oid::TIMESTAMP => Kind::Timestamp,
        oid::TIMESTAMPTZ => Kind::Timestamptz,
        oid::JSON | oid::JSONB => Kind::Json,
        oid::BYTEA => Kind::Bytea,
        oid::NUMERIC if typmod >= 4 => {
            let precision = (((typmod - 4) >> 16) & 0xffff) as u32;
            let scale = ((typmod - 4) & 0xffff) as u32;
            if precision <= 38 && scale <= precision {
                Kind::Decimal { precision, scale }
            } else {
                Kind::Text
            }
        }
        _ => Kind::Text,
    }
}

impl Kind {
    /// The Fivetran column type.
    pub fn column_type(&self) -> ColumnType {
        match self {
            Kind::Bool => ColumnType::Boolean,
            Kind::Short => ColumnType::Short,
            Kind::Int => ColumnType::Int,
            Kind::Long => ColumnType::Long,
            Kind::Decimal { precision, scale } => ColumnType::Decimal {
                precision: *precision,
                scale: *scale,
            },
            Kind::Float => ColumnType::Float,
            Kind::Double => ColumnType::Double,
            Kind::Date => ColumnType::NaiveDate,
            Kind::Timestamp => ColumnType::NaiveDateTime,
            Kind::Timestamptz => ColumnType::UtcDateTime,
            Kind::Json | Kind::Array(_) | Kind::Composite(_) => ColumnType::Json,
            Kind::Bytea => ColumnType::Binary,
            Kind::Text => ColumnType::String,
        }
    }

    /// Reads one value's text. `None`: the text has no value of the Fivetran type (a numeric `NaN`, a
    /// date at ±infinity or BC): the caller syncs NULL and counts it as an unreadable value.
    pub fn value(&self, text: &str) -> Option<Value> {
        Some(match self {
            Kind::Bool => Value::Bool(match text {
                "t" => true,
                "f" => false,
                _ => return None,
            }),
            Kind::Short => Value::Short(text.parse().ok()?),
            Kind::Int => Value::Int(text.parse().ok()?),
            Kind::Long => Value::Long(text.parse().ok()?),
            Kind::Decimal { .. } => {
                // NaN and ±Infinity (PostgreSQL 14+) have no DECIMAL form.
                if !text.bytes().any(|b| b.is_ascii_digit()) {
                    return None;
                }
                Value::Decimal(text.to_owned())
            }
            Kind::Float => Value::Float(float(text)? as f32),
            Kind::Double => Value::Double(float(text)?),
            Kind::Date => Value::NaiveDate(NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?),
            Kind::Timestamp => Value::NaiveDateTime(timestamp(text)?),
            Kind::Timestamptz => {
                // TimeZone=UTC: the offset is always +00.
                let naive = text.strip_suffix("+00")?;
                Value::UtcDateTime(Utc.from_utc_datetime(&timestamp(naive)?))
            }
            Kind::Json => Value::Json(text.to_owned()),
            Kind::Bytea => Value::Binary(hex(text.strip_prefix("\\x")?)?),
            Kind::Text => Value::String(text.to_owned()),
            Kind::Array(element) => Value::Json(array(text, element)?.to_string()),
            Kind::Composite(fields) => Value::Json(composite(text, fields)?.to_string()),
        })
    }
}

fn float(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

fn timestamp(text: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()
}

fn hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    digits
        .chunks(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

/// An element of an array or a field of a composite, as JSON.
fn element_json(kind: &Kind, text: &str) -> Json {
    match kind {
        Kind::Short | Kind::Int | Kind::Long => text
            .parse::<i64>()
            .map_or_else(|_| Json::String(text.to_owned()), Json::from),
        Kind::Float | Kind::Double => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| Json::String(text.to_owned()), Json::Number),
        Kind::Bool => Json::Bool(text == "t"),
        Kind::Json => serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_owned())),
        _ => Json::String(text.to_owned()),
    }
}

/// Parses PostgreSQL's array text (`{1,2}`, `{{a,"b c"},{NULL,d}}`, `[0:1]={x,y}`) into JSON.
pub fn array(text: &str, element: &Kind) -> Option<Json> {
    let body = match text.find("={") {
        Some(at) if text.starts_with('[') => &text[at + 1..],
        _ => text,
    };
    let bytes = body.as_bytes();
    let mut at = 0;
    let value = array_level(bytes, &mut at, element)?;
    (at == bytes.len()).then_some(value)
}

fn array_level(b: &[u8], at: &mut usize, element: &Kind) -> Option<Json> {
    if b.get(*at) != Some(&b'{') {
        return None;
    }
    *at += 1;
    let mut items = Vec::new();
    if b.get(*at) == Some(&b'}') {
        *at += 1;
        return Some(Json::Array(items));
    }
    loop {
        match b.get(*at)? {
            b'{' => items.push(array_level(b, at, element)?),
            b'"' => {
                let text = quoted(b, at)?;
                items.push(element_json(element, &text));
            }
            _ => {
                let start = *at;
                while !matches!(b.get(*at)?, b',' | b'}') {
                    *at += 1;
                }
                let raw = std::str::from_utf8(&b[start..*at]).ok()?.trim();
                items.push(if raw.eq_ignore_ascii_case("NULL") {
                    Json::Null
                } else {
                    element_json(element, raw)
                });
            }
        }
        match b.get(*at)? {
            b',' => *at += 1,
            b'}' => {
                *at += 1;
                return Some(Json::Array(items));
            }
            _ => return None,
        }
    }
}

/// A double-quoted element starting at `at`: backslash escapes any character; in composites a
/// doubled quote is a quote.
fn quoted(b: &[u8], at: &mut usize) -> Option<String> {
    *at += 1;
    let mut out = Vec::new();
    loop {
        match *b.get(*at)? {
            b'\\' => {
                out.push(*b.get(*at + 1)?);
                *at += 2;
            }
            b'"' if b.get(*at + 1) == Some(&b'"') => {
                out.push(b'"');
                *at += 2;
            }
            b'"' => {
                *at += 1;
                return String::from_utf8(out).ok();
            }
            c => {
                out.push(c);
                *at += 1;
            }
        }
    }
}

/// Parses a composite's text (`(1,"a b",)`; an empty field is NULL) into an object.
pub fn composite(text: &str, fields: &[(String, Kind)]) -> Option<Json> {
    let b = text.strip_prefix('(')?.strip_suffix(')')?.as_bytes();
    let mut at = 0;
    let mut values = Vec::new();
    loop {
        let mut value: Option<Vec<u8>> = None;
        loop {
            match b.get(at) {
                None | Some(b',') => break,
                Some(b'"') => {
                    let part = quoted(b, &mut at)?;
                    value.get_or_insert_with(Vec::new).extend(part.into_bytes());
                }
                Some(&c) => {
                    value.get_or_insert_with(Vec::new).push(c);
                    at += 1;
                }
            }
        }
        values.push(value.map(String::from_utf8));
        if at >= b.len() {
            break;
        }
        at += 1;
    }
    if values.len() != fields.len() {
        return None;
    }
    let mut object = serde_json::Map::new();
    for ((name, kind), value) in fields.iter().zip(values) {
        let value = match value {
            None => Json::Null,
            Some(text) => element_json(kind, &text.ok()?),
        };
        object.insert(name.clone(), value);
    }
    Some(Json::Object(object))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_their_text_forms() {
        assert_eq!(Kind::Bool.value("t"), Some(Value::Bool(true)));
        assert_eq!(Kind::Short.value("-32768"), Some(Value::Short(i16::MIN)));
        assert_eq!(Kind::Short.value("32768"), None);
        assert_eq!(
            Kind::Long.value("9223372036854775807"),
            Some(Value::Long(i64::MAX))
        );
        let dec = scalar_kind(oid::NUMERIC, ((12 << 16) | 3) + 4);
        assert_eq!(
            dec,
            Kind::Decimal {
                precision: 12,
                scale: 3
            }
        );
        assert_eq!(dec.value("-1.500"), Some(Value::Decimal("-1.500".into())));
        assert_eq!(dec.value("NaN"), None);
        assert_eq!(dec.value("Infinity"), None);
        assert_eq!(scalar_kind(oid::NUMERIC, -1), Kind::Text);
        assert!(matches!(Kind::Double.value("NaN"), Some(Value::Double(x)) if x.is_nan()));
        assert_eq!(
            Kind::Double.value("-Infinity"),
            Some(Value::Double(f64::NEG_INFINITY))
        );
        assert_eq!(Kind::Float.value("1.5"), Some(Value::Float(1.5)));
        assert_eq!(Kind::Date.value("infinity"), None);
        assert_eq!(
            Kind::Date.value("2024-02-29"),
            Some(Value::NaiveDate(
                NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
            ))
        );
        assert_eq!(
            Kind::Timestamp.value("2024-02-29 13:14:15.123456"),
            Some(Value::NaiveDateTime(
                NaiveDate::from_ymd_opt(2024, 2, 29)
                    .unwrap()
                    .and_hms_micro_opt(13, 14, 15, 123_456)
                    .unwrap()
            ))
        );
        assert_eq!(
            Kind::Timestamptz.value("2024-02-29 13:14:15+00"),
            Some(Value::UtcDateTime(
                Utc.with_ymd_and_hms(2024, 2, 29, 13, 14, 15).unwrap()
            ))
        );
        assert_eq!(Kind::Timestamptz.value("infinity"), None);
        assert_eq!(
            Kind::Bytea.value("\\x00ff10"),
            Some(Value::Binary(vec![0, 255, 16]))
        );
        assert_eq!(Kind::Bytea.value("\\x0"), None);
    }

    #[test]
    fn arrays_and_composites_become_json() {
        let ints = Kind::Array(Box::new(Kind::Int));
        assert_eq!(
            ints.value("{1,2,NULL}"),
            Some(Value::Json("[1,2,null]".into()))
        );
        assert_eq!(ints.value("{}"), Some(Value::Json("[]".into())));
        assert_eq!(
            ints.value("{{1,2},{3,4}}"),
            Some(Value::Json("[[1,2],[3,4]]".into()))
        );
        assert_eq!(ints.value("[0:1]={5,6}"), Some(Value::Json("[5,6]".into())));
        let texts = Kind::Array(Box::new(Kind::Text));
        assert_eq!(
            texts.value(r#"{a,"b c","say \"hi\"","NULL",NULL}"#),
            Some(Value::Json(
                r#"["a","b c","say \"hi\"","NULL",null]"#.into()
            ))
        );
        assert_eq!(texts.value("{a,b"), None);
        let row = Kind::Composite(vec![
            ("x".into(), Kind::Int),
            ("label".into(), Kind::Text),
            ("note".into(), Kind::Text),
        ]);
        assert_eq!(
            row.value(r#"(1,"a ""b"", c",)"#),
            Some(Value::Json(
                r#"{"label":"a \"b\", c","note":null,"x":1}"#.into()
            ))
        );
        assert_eq!(row.value("(1,2)"), None);
    }
}
