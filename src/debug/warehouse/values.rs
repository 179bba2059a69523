//! Fivetran values as SQLite values, and the SQLite affinity each column gets.
//!
//! | `ValueType` | stored as |
//! |---|---|
//! | `null` (or no value set) | NULL |
//! | `bool` | INTEGER 0/1 |
//! | `short`, `int`, `long` | INTEGER |
//! | `float` | REAL: the shortest decimal that reads back as the 32-bit float (`1.1f32` → `1.1`) |
//! | `double` | REAL (NaN becomes NULL, as SQLite stores it) |
//! | `naive_date` | TEXT `YYYY-MM-DD` (the UTC date of the timestamp) |
//! | `naive_datetime` | TEXT `YYYY-MM-DDTHH:MM:SS[.fff]`, no zone |
//! | `utc_datetime` | TEXT `YYYY-MM-DDTHH:MM:SS[.fff]Z` |
//! | `naive_time` | TEXT `HH:MM:SS[.fff]` |
//! | `decimal`, `string`, `json`, `xml` | TEXT, as sent |
//! | `binary` | BLOB |
//!
//! Fractions of a second are written with 3, 6 or 9 digits, whichever is exact, and left out when zero.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use prost_types::Timestamp;
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};

use crate::proto::{value_type::Inner, DataType, ValueType};

/// A column's SQLite type affinity. Tables are not STRICT: a value of another kind is stored as it came
/// (SQLite converts only when the conversion is lossless, e.g. the text `12` in an INTEGER column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Affinity {
    Integer,
    Real,
    Text,
    Blob,
    /// No declared type (a key listed only in `primary_key`): values are stored exactly as they come.
    Untyped,
}

impl Affinity {
    /// The type written in `CREATE TABLE`.
    pub(crate) fn sql_type(self) -> &'static str {
        match self {
            Affinity::Integer => "INTEGER",
            Affinity::Real => "REAL",
            Affinity::Text => "TEXT",
            Affinity::Blob => "BLOB",
            Affinity::Untyped => "",
        }
    }

    /// The affinity of a column declared with Fivetran `DataType` number `data_type`.
    pub(crate) fn of_declared(data_type: i32) -> Affinity {
        match DataType::try_from(data_type) {
            Ok(DataType::Boolean | DataType::Short | DataType::Int | DataType::Long) => {
                Affinity::Integer
            }
            Ok(DataType::Float | DataType::Double) => Affinity::Real,
            Ok(DataType::Binary) => Affinity::Blob,
            Ok(
                DataType::Decimal
                | DataType::NaiveDate
                | DataType::NaiveDatetime
                | DataType::UtcDatetime
                | DataType::Xml
                | DataType::String
                | DataType::Json
                | DataType::NaiveTime,
            ) => Affinity::Text,
            Ok(DataType::Unspecified) | Err(_) => Affinity::Untyped,
        }
    }

    /// The affinity SQLite gives a declared type (its rules, §3.1 of "Datatypes In SQLite").
    pub(crate) fn of_sql_type(declared: &str) -> Affinity {
        let upper = declared.to_ascii_uppercase();
        if upper.contains("INT") {
            Affinity::Integer
        } else if ["CHAR", "CLOB", "TEXT"].iter().any(|t| upper.contains(t)) {
            Affinity::Text
        } else if upper.is_empty() {
            Affinity::Untyped
        } else if upper.contains("BLOB") {
            Affinity::Blob
        } else if ["REAL", "FLOA", "DOUB"].iter().any(|t| upper.contains(t)) {
            Affinity::Real
        } else {
            // NUMERIC: not one we create; treat it like a REAL column for conflict warnings.
            Affinity::Real
        }
    }

    /// Whether a column of this affinity holds `cell` as the kind of value it was made for.
    pub(crate) fn holds(self, cell: &Cell<'_>) -> bool {
        matches!(
            (self, cell),
            (_, Cell::Null)
                | (Affinity::Untyped, _)
                | (Affinity::Integer, Cell::Integer(_))
                | (Affinity::Real, Cell::Integer(_) | Cell::Real(_))
                | (Affinity::Text, Cell::Text(_))
                | (Affinity::Blob, Cell::Blob(_))
        )
    }
}

/// One value ready to bind, borrowing the record's text and bytes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(Cow<'a, str>),
    Blob(&'a [u8]),
}

impl Cell<'_> {
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }

    /// The affinity of a column created for this value (`None` for NULL: a null creates no column).
    pub(crate) fn affinity(&self) -> Option<Affinity> {
        match self {
            Cell::Null => None,
            Cell::Integer(_) => Some(Affinity::Integer),
            Cell::Real(_) => Some(Affinity::Real),
            Cell::Text(_) => Some(Affinity::Text),
            Cell::Blob(_) => Some(Affinity::Blob),
        }
    }

    /// A short name of the value's kind, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Cell::Null => "null",
            Cell::Integer(_) => "integer",
            Cell::Real(_) => "real",
            Cell::Text(_) => "text",
            Cell::Blob(_) => "blob",
        }
    }
}

impl ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Cell::Null => ValueRef::Null,
            Cell::Integer(i) => ValueRef::Integer(*i),
            Cell::Real(r) => ValueRef::Real(*r),
            Cell::Text(t) => ValueRef::Text(t.as_bytes()),
            Cell::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// Why a value cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ValueError {
    #[error("timestamp out of range ({seconds} s, {nanos} ns)")]
    Timestamp { seconds: i64, nanos: i32 },
    #[error("{0}")]
    Cell(&'static str),
}

/// The SQLite value of a Fivetran value (see the module table).
pub(crate) fn cell(value: &ValueType) -> Result<Cell<'_>, ValueError> {
    let Some(inner) = &value.inner else {
        return Ok(Cell::Null);
    };
    Ok(match inner {
        Inner::Null(_) => Cell::Null,
        Inner::Bool(b) => Cell::Integer(i64::from(*b)),
        Inner::Short(i) | Inner::Int(i) => Cell::Integer(i64::from(*i)),
        Inner::Long(i) => Cell::Integer(*i),
        Inner::Float(f) => Cell::Real(widen_float(*f)),
        Inner::Double(d) => Cell::Real(*d),
        Inner::NaiveDate(ts) => Cell::Text(iso_text(&utc(ts)?, Iso::Date).into()),
        Inner::NaiveDatetime(ts) => Cell::Text(iso_text(&utc(ts)?, Iso::Wall).into()),
        Inner::UtcDatetime(ts) => Cell::Text(iso_text(&utc(ts)?, Iso::Utc).into()),
        Inner::NaiveTime(ts) => Cell::Text(utc(ts)?.format("%H:%M:%S%.f").to_string().into()),
        Inner::Decimal(s) | Inner::String(s) | Inner::Json(s) | Inner::Xml(s) => {
            Cell::Text(Cow::Borrowed(s))
        }
        Inner::Binary(b) => Cell::Blob(b),
    })
}

/// Which ISO 8601 text a timestamp becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Iso {
    /// `%Y-%m-%d`
    Date,
    /// `%Y-%m-%dT%H:%M:%S%.f`
    Wall,
    /// `%Y-%m-%dT%H:%M:%S%.fZ`
    Utc,
}

/// The text chrono's format strings give (see [`Iso`]), written directly: formatting through
/// `format()` interprets the format string for every value, the warehouse's largest cost per row.
fn iso_text(t: &DateTime<Utc>, form: Iso) -> String {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write as _;
    let year = t.year();
    if !(0..=9999).contains(&year) {
        let format = match form {
            Iso::Date => "%Y-%m-%d",
            Iso::Wall => "%Y-%m-%dT%H:%M:%S%.f",
            Iso::Utc => "%Y-%m-%dT%H:%M:%S%.fZ",
        };
        return t.format(format).to_string();
    }
    let mut out = String::with_capacity(30);
    let _ = write!(out, "{year:04}-{:02}-{:02}", t.month(), t.day());
    if form == Iso::Date {
        return out;
    }
    let _ = write!(out, "T{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second());
    // `%.f`: nothing for whole seconds, else 3, 6 or 9 digits, the fewest that are exact (a leap
    // second's nanoseconds past 1e9 print as chrono prints them, through the fallback below).
    let nanos = t.nanosecond();
    match nanos {
        0 => {}
        n if n >= 1_000_000_000 => {
            return t
                .format(if form == Iso::Utc {
                    "%Y-%m-%dT%H:%M:%S%.fZ"
                } else {
                    "%Y-%m-%dT%H:%M:%S%.f"
                })
                .to_string()
        }
        n if n % 1_000_000 == 0 => {
            let _ = write!(out, ".{:03}", n / 1_000_000);
        }
        n if n % 1_000 == 0 => {
            let _ = write!(out, ".{:06}", n / 1_000);
        }
        n => {
            let _ = write!(out, ".{n:09}");
        }
    }
    if form == Iso::Utc {
        out.push('Z');
    }
    out
}

/// The SQLite value of one `row_data` cell (the Connector SDK's compact encoding: a prefix byte, then the
/// payload): 0 null, 1 scalar text, 2 JSON text, 3 bytes, 4 float text, 5 double text.
pub(crate) fn row_data_cell(bytes: &[u8]) -> Result<Cell<'_>, ValueError> {
    let (&prefix, payload) = bytes
        .split_first()
        .ok_or(ValueError::Cell("empty row_data cell"))?;
    let text =
        || std::str::from_utf8(payload).map_err(|_| ValueError::Cell("row_data text is not utf-8"));
    Ok(match prefix {
        0 => Cell::Null,
        1 | 2 => Cell::Text(Cow::Borrowed(text()?)),
        3 => Cell::Blob(payload),
        4 | 5 => {
            let literal = text()?;
            match literal.parse::<f64>() {
                Ok(number) => Cell::Real(number),
                Err(_) => Cell::Text(Cow::Borrowed(literal)),
            }
        }
        _ => return Err(ValueError::Cell("unknown row_data prefix byte")),
    })
}

/// A `row_data` cell read in a column of `affinity`: its scalar text is all the compact encoding
/// says, so a BOOLEAN or integer column's `true`/`false`/digits become the integer, and a floating
/// column's text the number, exactly as the typed `data` path stores them.
pub(crate) fn typed_row_data_cell(cell: Cell<'_>, affinity: Affinity) -> Cell<'_> {
    let Cell::Text(text) = &cell else {
        return cell;
    };
    match affinity {
        Affinity::Integer => match text.as_ref() {
            "true" => Cell::Integer(1),
            "false" => Cell::Integer(0),
            t => t.parse().map_or(cell, Cell::Integer),
        },
        Affinity::Real => text.parse().map_or(cell, Cell::Real),
        _ => cell,
    }
}

/// A 32-bit float as the 64-bit number its shortest decimal spelling means, so `1.1f32` is stored as `1.1`
/// rather than `1.100000023841858`.
fn widen_float(f: f32) -> f64 {
    if !f.is_finite() {
        return f64::from(f);
    }
    f.to_string().parse().unwrap_or(f64::from(f))
}

fn utc(ts: &Timestamp) -> Result<DateTime<Utc>, ValueError> {
    let invalid = ValueError::Timestamp {
        seconds: ts.seconds,
        nanos: ts.nanos,
    };
    let nanos = u32::try_from(ts.nanos).map_err(|_| invalid.clone())?;
    if nanos >= 1_000_000_000 {
        return Err(invalid);
    }
    DateTime::from_timestamp(ts.seconds, nanos).ok_or(invalid)
}

#[cfg(test)]
mod iso_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The direct text is chrono's, for every instant a timestamp can carry.
        #[test]
        fn iso_text_is_what_chrono_formats(seconds in -80_000_000_000i64..300_000_000_000, nanos in prop_oneof![Just(0u32), (0u32..1000).prop_map(|m| m * 1_000_000), (0u32..1_000_000).prop_map(|u| u * 1000), 0u32..1_000_000_000]) {
            let t = DateTime::from_timestamp(seconds, nanos).unwrap();
            prop_assert_eq!(iso_text(&t, Iso::Date), t.format("%Y-%m-%d").to_string());
            prop_assert_eq!(iso_text(&t, Iso::Wall), t.format("%Y-%m-%dT%H:%M:%S%.f").to_string());
            prop_assert_eq!(iso_text(&t, Iso::Utc), t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(inner: Inner) -> ValueType {
        ValueType { inner: Some(inner) }
    }

    fn ts(seconds: i64, nanos: i32) -> Timestamp {
        Timestamp { seconds, nanos }
    }

    fn text(c: Cell<'_>) -> String {
        match c {
            Cell::Text(t) => t.into_owned(),
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn timestamps_are_iso_8601() {
        let at = |inner| text(cell(&value(inner)).unwrap());
        assert_eq!(
            at(Inner::UtcDatetime(ts(1_704_110_460, 0))),
            "2024-01-01T12:01:00Z"
        );
        assert_eq!(
            at(Inner::UtcDatetime(ts(1_196_676_930, 123_000_000))),
            "2007-12-03T10:15:30.123Z"
        );
        assert_eq!(
            at(Inner::NaiveDatetime(ts(1_704_164_645, 123_456_000))),
            "2024-01-02T03:04:05.123456"
        );
        assert_eq!(at(Inner::NaiveDate(ts(1_704_153_600, 0))), "2024-01-02");
        assert_eq!(at(Inner::NaiveTime(ts(37_530, 1))), "10:25:30.000000001");
    }

    #[test]
    fn bad_timestamps_are_errors() {
        for (s, n) in [(0, -1), (0, 1_000_000_000), (i64::MAX, 0)] {
            assert!(
                cell(&value(Inner::UtcDatetime(ts(s, n)))).is_err(),
                "{s} {n}"
            );
        }
    }

    #[test]
    fn numbers_and_others() {
        assert_eq!(cell(&value(Inner::Bool(true))).unwrap(), Cell::Integer(1));
        assert_eq!(cell(&value(Inner::Short(-3))).unwrap(), Cell::Integer(-3));
        assert_eq!(cell(&value(Inner::Float(1.1))).unwrap(), Cell::Real(1.1));
        assert_eq!(cell(&value(Inner::Null(true))).unwrap(), Cell::Null);
        assert_eq!(cell(&ValueType { inner: None }).unwrap(), Cell::Null);
        assert_eq!(
            cell(&value(Inner::Binary(vec![0, 1]))).unwrap(),
            Cell::Blob(&[0, 1])
        );
    }

    #[test]
    fn row_data_cells() {
        assert_eq!(row_data_cell(b"\x00").unwrap(), Cell::Null);
        assert_eq!(row_data_cell(b"\x01abc").unwrap(), Cell::Text("abc".into()));
        assert_eq!(row_data_cell(b"\x03\x01\x02").unwrap(), Cell::Blob(&[1, 2]));
        assert_eq!(row_data_cell(b"\x050.5").unwrap(), Cell::Real(0.5));
        assert!(row_data_cell(b"").is_err());
        assert!(row_data_cell(b"\x09x").is_err());
        assert!(row_data_cell(b"\x01\xff").is_err());
    }

    #[test]
    fn declared_affinities() {
        assert_eq!(
            Affinity::of_declared(DataType::Boolean as i32),
            Affinity::Integer
        );
        assert_eq!(
            Affinity::of_declared(DataType::Decimal as i32),
            Affinity::Text
        );
        assert_eq!(Affinity::of_declared(DataType::Json as i32), Affinity::Text);
        assert_eq!(
            Affinity::of_declared(DataType::Float as i32),
            Affinity::Real
        );
        assert_eq!(
            Affinity::of_declared(DataType::Binary as i32),
            Affinity::Blob
        );
        assert_eq!(Affinity::of_declared(0), Affinity::Untyped);
        assert_eq!(Affinity::of_declared(99), Affinity::Untyped);
        for a in [
            Affinity::Integer,
            Affinity::Real,
            Affinity::Text,
            Affinity::Blob,
            Affinity::Untyped,
        ] {
            assert_eq!(Affinity::of_sql_type(a.sql_type()), a);
        }
    }
}
