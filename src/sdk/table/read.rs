//! Typed readers for what APIs really send: one [`Reader`] per way a source value becomes a column value.
//!
//! Every reader accepts JSON `null` (and, for everything but text, a blank string) as NULL, and reports
//! anything it cannot read as [`Malformed`] rather than guessing. What each accepts:
//! - numbers and booleans also as strings (`"42"`, `"true"`, `"1"`), since CSV exports and many JSON APIs
//!   send every value as text;
//! - decimals as plain digits (never exponent notation out), with the declared precision checked;
//! - timestamps in RFC 3339 with `Z` or an offset (`+02:00`, `+0200`), without a zone (read as UTC), with
//!   `T` or a space, with 0 to 9 fractional digits (EveryAction sends 7), a bare date as midnight UTC, and
//!   MySQL's zero date as NULL; epoch seconds or milliseconds where the API uses them;
//! - dates as `YYYY-MM-DD`, the date part of a midnight timestamp, or `MM/DD/YYYY`;
//! - nested objects and arrays as JSON text.

use crate::sdk::json::{JsonView, Kind};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

use super::iso;
use crate::sdk::{ColumnType, Value};

/// A value that is present but cannot be read as its column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the value cannot be read as its column's type")]
pub struct Malformed;

/// How a source value becomes a column value, and so the column's Fivetran type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// STRING: strings as they are; numbers and booleans spelled out. Objects and arrays are malformed.
    Text,
    /// STRING from a non-negative integer id sent as a number or a string of digits.
    Id,
    /// BOOLEAN from `true`/`false`, `1`/`0`, or those as (case-insensitive) strings.
    Bool,
    /// SHORT from an integer or a numeric string in range.
    Short,
    /// INT from an integer or a numeric string in range.
    Int,
    /// LONG from an integer or a numeric string (int64 values that APIs send as strings).
    Long,
    /// FLOAT from a finite number or numeric string.
    Float,
    /// DOUBLE from a finite number or numeric string.
    Double,
    /// DECIMAL(precision, scale) from a number or a plain decimal string; more integer digits than
    /// `precision - scale` is malformed.
    Decimal {
        /// Total digits.
        precision: u32,
        /// Digits after the point.
        scale: u32,
    },
    /// UTC_DATETIME from a timestamp text (see the module docs); numbers are malformed.
    Timestamp,
    /// UTC_DATETIME from epoch seconds (a number or numeric string), or a timestamp text.
    EpochSeconds,
    /// UTC_DATETIME from epoch milliseconds (a number or numeric string), or a timestamp text.
    EpochMillis,
    /// NAIVE_DATE from a date, the date part of a midnight timestamp, or `MM/DD/YYYY`.
    Date,
    /// NAIVE_DATETIME: the wall-clock time of a timestamp text (an offset, if any, is dropped).
    DateTime,
    /// JSON: any value, as JSON text.
    Json,
    /// A value of an undeclared column, typed by its JSON type (integers LONG, other numbers DOUBLE,
    /// strings STRING, objects and arrays JSON).
    Passthrough,
}

impl Reader {
    /// The Fivetran type a column read this way is declared with.
    pub fn column_type(self) -> ColumnType {
        match self {
            Reader::Text | Reader::Id | Reader::Passthrough => ColumnType::String,
            Reader::Bool => ColumnType::Boolean,
            Reader::Short => ColumnType::Short,
            Reader::Int => ColumnType::Int,
            Reader::Long => ColumnType::Long,
            Reader::Float => ColumnType::Float,
            Reader::Double => ColumnType::Double,
            Reader::Decimal { precision, scale } => ColumnType::Decimal { precision, scale },
            Reader::Timestamp | Reader::EpochSeconds | Reader::EpochMillis => {
                ColumnType::UtcDateTime
            }
            Reader::Date => ColumnType::NaiveDate,
            Reader::DateTime => ColumnType::NaiveDateTime,
            Reader::Json => ColumnType::Json,
        }
    }

    /// Reads `raw`: `Ok(Value::Null)` for null (and blank strings, except for text), the typed value, or
    /// [`Malformed`].
    pub fn read<'a>(self, raw: impl JsonView<'a>) -> Result<Value, Malformed> {
        let kind = raw.kind();
        match &kind {
            Kind::Null => return Ok(Value::Null),
            Kind::Str(s) if self != Reader::Text && s.trim().is_empty() => return Ok(Value::Null),
            _ => {}
        }
        let value = match self {
            Reader::Text => match kind {
                Kind::Str(s) => Value::String(s.to_owned()),
                Kind::Number(n) => Value::String(n.to_string()),
                Kind::Bool(b) => Value::String(b.to_string()),
                _ => return Err(Malformed),
            },
            Reader::Id => Value::String(id_text(raw).ok_or(Malformed)?),
            Reader::Bool => Value::Bool(boolean(raw).ok_or(Malformed)?),
            Reader::Short => Value::Short(
                integer(raw)
                    .and_then(|i| i.try_into().ok())
                    .ok_or(Malformed)?,
            ),
            Reader::Int => Value::Int(
                integer(raw)
                    .and_then(|i| i.try_into().ok())
                    .ok_or(Malformed)?,
            ),
            Reader::Long => Value::Long(integer(raw).ok_or(Malformed)?),
            Reader::Float => Value::Float(number(raw).ok_or(Malformed)? as f32),
            Reader::Double => Value::Double(number(raw).ok_or(Malformed)?),
            Reader::Decimal { precision, scale } => {
                Value::Decimal(decimal_text(raw, precision, scale).ok_or(Malformed)?)
            }
            Reader::Timestamp => match kind {
                Kind::Str(s) => timestamp_or_zero(s)?,
                _ => return Err(Malformed),
            },
            Reader::EpochSeconds => epoch(raw, 1)?,
            Reader::EpochMillis => epoch(raw, 1000)?,
            Reader::Date => {
                Value::NaiveDate(parse_date(raw.as_str().ok_or(Malformed)?).ok_or(Malformed)?)
            }
            Reader::DateTime => Value::NaiveDateTime(
                parse_naive_datetime(raw.as_str().ok_or(Malformed)?).ok_or(Malformed)?,
            ),
            Reader::Json => Value::Json(raw.to_json_string()),
            Reader::Passthrough => passthrough(raw),
        };
        Ok(value)
    }
}

/// A non-negative integer id as text, from a number or a string of digits.
pub fn id_text<'a>(raw: impl JsonView<'a>) -> Option<String> {
    match raw.kind() {
        Kind::Number(n) => n.as_u64().map(|id| id.to_string()),
        Kind::Str(s) => {
            let s = s.trim();
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.to_owned())
        }
        _ => None,
    }
}

/// A non-negative integer from a number or a string of digits (an id used as a cursor, a count).
pub fn unsigned<'a>(raw: impl JsonView<'a>) -> Option<u64> {
    match raw.kind() {
        Kind::Number(n) => n.as_u64(),
        Kind::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An integer from a number or a numeric string (`"-12"`; `"12.0"` and `12.0` too, exactly).
pub fn integer<'a>(raw: impl JsonView<'a>) -> Option<i64> {
    match raw.kind() {
        Kind::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
        }),
        Kind::Str(s) => {
            let s = s.trim();
            s.parse().ok().or_else(|| {
                let (int, frac) = s.split_once('.')?;
                frac.bytes().all(|b| b == b'0').then(|| int.parse().ok())?
            })
        }
        _ => None,
    }
}

/// A finite number from a number or a numeric string.
pub fn number<'a>(raw: impl JsonView<'a>) -> Option<f64> {
    let n = match raw.kind() {
        Kind::Number(n) => n.as_f64()?,
        Kind::Str(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

/// A boolean from `true`/`false`, `1`/`0`, or those as strings.
pub fn boolean<'a>(raw: impl JsonView<'a>) -> Option<bool> {
    match raw.kind() {
        Kind::Bool(b) => Some(b),
        Kind::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Kind::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Plain decimal text of a number or numeric string, within `precision` and `scale`.
fn decimal_text<'a>(raw: impl JsonView<'a>, precision: u32, scale: u32) -> Option<String> {
    let text = match raw.kind() {
        // Rust's float Display is the shortest round-trip text and never uses an exponent.
        Kind::Number(n) => n
            .as_i64()
            .map(|i| i.to_string())
            .or_else(|| number(raw).map(|f| f.to_string()))?,
        Kind::Str(s) => {
            let s = s.trim();
            is_plain_decimal(s).then(|| s.to_owned())?
        }
        _ => return None,
    };
    let unsigned = text.strip_prefix('-').unwrap_or(&text);
    let int_digits = unsigned
        .split('.')
        .next()
        .unwrap_or("")
        .trim_start_matches('0');
    (int_digits.len() as u32 <= precision.saturating_sub(scale)).then_some(text)
}

/// `-?digits(.digits)?`
fn is_plain_decimal(s: &str) -> bool {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits(int) && digits(frac)
}

/// A timestamp text as a UTC value; MySQL's zero date is NULL.
fn timestamp_or_zero(text: &str) -> Result<Value, Malformed> {
    if text.trim_start().starts_with("0000-00-00") {
        return Ok(Value::Null);
    }
    parse_utc(text).map(Value::UtcDateTime).ok_or(Malformed)
}

fn epoch<'a>(raw: impl JsonView<'a>, per_second: i64) -> Result<Value, Malformed> {
    if let Kind::Str(s) = raw.kind() {
        if !s.trim().bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return timestamp_or_zero(s);
        }
    }
    let n = integer(raw).ok_or(Malformed)?;
    let at = if per_second == 1 {
        DateTime::from_timestamp(n, 0)
    } else {
        DateTime::from_timestamp_millis(n)
    };
    at.map(Value::UtcDateTime).ok_or(Malformed)
}

/// A UTC instant from a timestamp text (see the module docs).
pub fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    match iso::parse(text) {
        Some(t) => {
            let offset = TimeDelta::seconds(i64::from(t.offset_seconds.unwrap_or(0)));
            t.wall.checked_sub_signed(offset).map(|wall| wall.and_utc())
        }
        None => parse_utc_general(text),
    }
}

fn parse_utc_general(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    let bare = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    if let Some(t) = parse_naive_datetime(bare) {
        return Some(t.and_utc());
    }
    None
}

/// A wall-clock date-time from a timestamp text, dropping a zone if one is given; a bare date is midnight.
pub fn parse_naive_datetime(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    // With a zone the general path has its own rules (`+0200` and `HH:MMZ` are refused there).
    match iso::parse(text) {
        Some(t) if t.offset_seconds.is_none() => Some(t.wall),
        _ => parse_naive_datetime_general(text),
    }
}

fn parse_naive_datetime_general(text: &str) -> Option<NaiveDateTime> {
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t);
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.naive_local());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(NaiveTime::MIN))
}

/// A calendar date from `YYYY-MM-DD`, a timestamp (its date part: APIs send dates as midnight
/// timestamps) or `MM/DD/YYYY`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    match iso::parse(text) {
        Some(t) => Some(t.wall.date()),
        None => parse_date_general(text),
    }
}

fn parse_date_general(text: &str) -> Option<NaiveDate> {
    if let Ok(d) = NaiveDate::parse_from_str(text, "%m/%d/%Y") {
        return Some(d);
    }
    let date_part = text.get(..10)?;
    let rest = &text[10..];
    if !(rest.is_empty() || rest.starts_with(['T', 't', ' '])) {
        return None;
    }
    let date = NaiveDate::parse_from_str(date_part, "%Y-%m-%d").ok()?;
    // The time part must still be a valid time, or the whole value is malformed.
    (rest.is_empty() || parse_naive_datetime(text).is_some() || parse_utc(text).is_some())
        .then_some(date)
}

/// A value of an undeclared column, typed by its JSON type.
fn passthrough<'a>(value: impl JsonView<'a>) -> Value {
    match value.kind() {
        Kind::Null => Value::Null,
        Kind::Bool(b) => Value::Bool(b),
        Kind::Number(n) => n
            .as_i64()
            .map(Value::Long)
            .or_else(|| n.as_f64().map(Value::Double))
            .unwrap_or(Value::Null),
        Kind::Str(s) => Value::String(s.to_owned()),
        Kind::Array | Kind::Object => Value::Json(value.to_json_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;
    use serde_json::Value as Json;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + chrono::Duration::milliseconds(ms)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// The fast path gives what the general parsers give, for every text it reads at all.
        #[test]
        fn the_fast_path_agrees_with_the_general_parsers(
            text in "[0-9]{4}-[0-1][0-9]-[0-3][0-9]([T t]([0-2][0-9]:[0-6][0-9](:[0-6][0-9](\\.[0-9]{0,11})?)?)?)?(Z|z|[+-][0-2][0-9]:?[0-6][0-9]|[+-][0-9]{1,3})?"
        ) {
            let text = text.trim();
            if iso::parse(text).is_some() {
                proptest::prop_assert_eq!(parse_utc(text), parse_utc_general(text), "utc {}", text);
                proptest::prop_assert_eq!(parse_date(text), parse_date_general(text), "date {}", text);
            }
            proptest::prop_assert_eq!(parse_naive_datetime(text), parse_naive_datetime_general(text), "naive {}", text);
            // Nothing the general parser reads is lost by the fast one.
            proptest::prop_assert_eq!(parse_utc(text).is_some(), parse_utc_general(text).is_some(), "utc {}", text);
            proptest::prop_assert_eq!(parse_date(text).is_some(), parse_date_general(text).is_some(), "date {}", text);
        }
    }

    #[test]
    fn every_timestamp_spelling_reads_as_utc() {
        let at = utc(2023, 1, 23, 23, 41, 41, 0);
        for text in [
            "2023-01-23T23:41:41",
            "2023-01-23T23:41:41Z",
            "2023-01-23 23:41:41",
            "2023-01-23T23:41:41+00:00",
            "2023-01-24T01:41:41+02:00",
            "2023-01-24T01:41:41+0200",
            "2023-01-23T19:41:41-04:00",
            " 2023-01-23T23:41:41z ",
        ] {
            assert_eq!(parse_utc(text), Some(at), "{text}");
        }
        let frac = utc(2023, 1, 23, 23, 41, 41, 120);
        for text in [
            "2023-01-23T23:41:41.12",
            "2023-01-23T23:41:41.120Z",
            "2023-01-23T23:41:41.1200000",
            "2023-01-23T19:41:41.1200000-04:00",
        ] {
            assert_eq!(parse_utc(text), Some(frac), "{text}");
        }
        assert_eq!(parse_utc("2023-01-23"), Some(utc(2023, 1, 23, 0, 0, 0, 0)));
        for bad in [
            "",
            "yesterday",
            "2023-13-01T00:00:00",
            "2023-01-23T25:00:00",
            "1674517301",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn seven_fraction_digits_keep_their_precision() {
        let Value::UtcDateTime(t) = Reader::Timestamp
            .read(&json!("2019-01-31T15:05:54.2106809-04:00"))
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(t.timestamp_subsec_nanos(), 210_680_900);
        assert_eq!(t.to_rfc3339(), "2019-01-31T19:05:54.210680900+00:00");
    }

    #[test]
    fn epochs_read_numbers_strings_and_timestamp_texts() {
        let at = Value::UtcDateTime(DateTime::from_timestamp(1_521_365_285, 0).unwrap());
        assert_eq!(
            Reader::EpochSeconds.read(&json!(1_521_365_285)),
            Ok(at.clone())
        );
        assert_eq!(
            Reader::EpochSeconds.read(&json!("1521365285")),
            Ok(at.clone())
        );
        assert_eq!(
            Reader::EpochSeconds.read(&json!("2018-03-18 09:28:05")),
            Ok(at.clone())
        );
        assert_eq!(
            Reader::EpochMillis.read(&json!(1_521_365_285_000_i64)),
            Ok(at)
        );
        assert_eq!(
            Reader::EpochSeconds.read(&json!("0000-00-00 00:00:00")),
            Ok(Value::Null)
        );
        assert_eq!(
            Reader::EpochSeconds.read(&json!("18/03/2018")),
            Err(Malformed)
        );
        assert_eq!(
            Reader::Timestamp.read(&json!(1_674_517_301)),
            Err(Malformed)
        );
    }

    #[test]
    fn dates_read_from_midnight_timestamps_and_us_format() {
        let d = NaiveDate::from_ymd_opt(2022, 12, 11).unwrap();
        for text in [
            "2022-12-11",
            "2022-12-11T00:00:00",
            "2022-12-11T00:00:00Z",
            "12/11/2022",
        ] {
            assert_eq!(parse_date(text), Some(d), "{text}");
        }
        for bad in ["2022-12-11X", "2022-02-30", "2022-12-11T99:00:00", "soon"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_and_booleans_also_arrive_as_strings() {
        assert_eq!(
            Reader::Long.read(&json!("9007199254740993")),
            Ok(Value::Long(9_007_199_254_740_993))
        );
        assert_eq!(Reader::Long.read(&json!(12.0)), Ok(Value::Long(12)));
        assert_eq!(Reader::Long.read(&json!("12.5")), Err(Malformed));
        assert_eq!(Reader::Short.read(&json!(70_000)), Err(Malformed));
        assert_eq!(Reader::Int.read(&json!("-7")), Ok(Value::Int(-7)));
        assert_eq!(Reader::Double.read(&json!("1.5")), Ok(Value::Double(1.5)));
        assert_eq!(Reader::Double.read(&json!("NaN")), Err(Malformed));
        assert_eq!(Reader::Bool.read(&json!("TRUE")), Ok(Value::Bool(true)));
        assert_eq!(Reader::Bool.read(&json!(0)), Ok(Value::Bool(false)));
        assert_eq!(Reader::Bool.read(&json!("maybe")), Err(Malformed));
        assert_eq!(
            Reader::Id.read(&json!(804011)),
            Ok(Value::String("804011".into()))
        );
        assert_eq!(
            Reader::Id.read(&json!(" 42 ")),
            Ok(Value::String("42".into()))
        );
        assert_eq!(Reader::Id.read(&json!(-1)), Err(Malformed));
        assert_eq!(Reader::Text.read(&json!(7)), Ok(Value::String("7".into())));
        assert_eq!(
            Reader::Text.read(&json!("")),
            Ok(Value::String(String::new()))
        );
        assert_eq!(Reader::Text.read(&json!({"a": 1})), Err(Malformed));
        assert_eq!(Reader::Long.read(&json!("  ")), Ok(Value::Null));
    }

    #[test]
    fn decimals_are_plain_and_fit_their_precision() {
        let money = Reader::Decimal {
            precision: 18,
            scale: 2,
        };
        assert_eq!(
            money.read(&json!(5000.0)),
            Ok(Value::Decimal("5000".into()))
        );
        assert_eq!(
            money.read(&json!(50.05)),
            Ok(Value::Decimal("50.05".into()))
        );
        assert_eq!(
            money.read(&json!("-3.50")),
            Ok(Value::Decimal("-3.50".into()))
        );
        assert_eq!(money.read(&json!("$5,000.00")), Err(Malformed));
        assert_eq!(money.read(&json!("-")), Err(Malformed));
        let wide = Reader::Decimal {
            precision: 38,
            scale: 0,
        };
        assert_eq!(
            wide.read(&json!(1e21)),
            Ok(Value::Decimal("1000000000000000000000".into()))
        );
        let narrow = Reader::Decimal {
            precision: 4,
            scale: 2,
        };
        assert_eq!(
            narrow.read(&json!("12.34")),
            Ok(Value::Decimal("12.34".into()))
        );
        assert_eq!(narrow.read(&json!("123.4")), Err(Malformed));
        assert_eq!(
            narrow.read(&json!("0012.34")),
            Ok(Value::Decimal("0012.34".into()))
        );
    }

    #[test]
    fn nested_values_are_json_and_undeclared_ones_keep_their_type() {
        assert_eq!(
            Reader::Json.read(&json!({"a": 1})),
            Ok(Value::Json(r#"{"a":1}"#.into()))
        );
        assert_eq!(Reader::Passthrough.read(&json!(3)), Ok(Value::Long(3)));
        assert_eq!(
            Reader::Passthrough.read(&json!([1])),
            Ok(Value::Json("[1]".into()))
        );
        for reader in [
            Reader::Id,
            Reader::Timestamp,
            Reader::Decimal {
                precision: 9,
                scale: 2,
            },
            Reader::Json,
        ] {
            assert_eq!(reader.read(&Json::Null), Ok(Value::Null));
        }
    }
}
