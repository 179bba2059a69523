//! The type map: a column's MySQL type (from `information_schema.COLUMNS`) → its Fivetran type, and a
//! value as the driver gives it (the binary protocol of the snapshot's prepared statements, or a
//! binlog row image) → a [`Value`]. One converter serves the snapshot and the stream, so the two
//! cannot disagree; where they send different forms (a binlog `TIMESTAMP` is epoch seconds, an `ENUM`
//! its index, a `SET` its bit mask, a signed integer where the table's is unsigned) it reads both.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use mysql_async::Value as My;

use crate::sdk::{ColumnType, Value};

/// How a column's values are read.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `tinyint(1)` and `bit(1)`.
    Bool,
    /// An integer that fits its Fivetran type: `bits` wide, `unsigned` or not.
    Integer {
        /// SHORT, INT or LONG.
        ty: ColumnType,
        /// Storage width (8, 16, 24, 32, 64): a binlog image without signedness sends an unsigned
        /// value as the signed one of this width.
        bits: u32,
        /// `unsigned`.
        unsigned: bool,
    },
    /// `bigint unsigned`: DECIMAL(20,0).
    Unsigned64,
    /// `decimal(p,s)` with `p` ≤ 38.
    Decimal {
        /// Precision.
        precision: u32,
        /// Scale.
        scale: u32,
    },
    /// `float`.
    Float,
    /// `double`.
    Double,
    /// `date`.
    Date,
    /// `datetime`.
    DateTime,
    /// `timestamp` (the session's time zone is UTC).
    Timestamp,
    /// `time` as its text with `fsp` fractional digits.
    Time {
        /// Fractional seconds precision.
        fsp: u32,
    },
    /// `year`, as INT.
    Year,
    /// `json` (MariaDB: a `longtext` alias).
    Json,
    /// `binary`, `varbinary`, blobs, `bit(n>1)`, geometry.
    Binary,
    /// Character types, `decimal` wider than 38 digits: text.
    Text,
    /// `enum` with its members (the binlog sends 1-based indexes).
    Enum(Vec<String>),
    /// `set` with its members (the binlog sends a bit mask).
    Set(Vec<String>),
}

/// The character set of a text column's bytes in a binlog image (the snapshot's arrive as utf8mb4,
/// the connection's character set; the binlog's are in the column's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// utf8mb4, utf8mb3, ascii, binary and anything else read as UTF-8.
    Utf8,
    /// MySQL's `latin1` (Windows-1252).
    Latin1,
}

impl Charset {
    /// By `CHARACTER_SET_NAME`.
    pub fn from_name(name: &str) -> Self {
        if name.eq_ignore_ascii_case("latin1") {
            Charset::Latin1
        } else {
            Charset::Utf8
        }
    }

    /// `bytes` as UTF-8.
    pub fn to_utf8(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Charset::Utf8 => bytes.to_vec(),
            Charset::Latin1 => bytes
                .iter()
                .map(|&b| latin1_char(b))
                .collect::<String>()
                .into_bytes(),
        }
    }
}

/// Windows-1252, which MySQL calls latin1 (0x81, 0x8D, 0x8F, 0x90, 0x9D map to themselves).
fn latin1_char(b: u8) -> char {
    const HIGH: [u16; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
        0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ];
    match b {
        0x80..=0x9F => char::from_u32(HIGH[(b - 0x80) as usize] as u32).unwrap_or('\u{FFFD}'),
        _ => b as char,
    }
}

/// The members of `enum('a','b')` / `set('a','b')` from its `COLUMN_TYPE`.
fn members(column_type: &str) -> Vec<String> {
    let Some(open) = column_type.find('(') else {
        return Vec::new();
    };
    let body = column_type[open + 1..].trim_end_matches(')');
    let mut out = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut member = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    member.push('\'');
                }
                '\'' => break,
                '\\' => {
                    if let Some(n) = chars.next() {
                        member.push(n);
                    }
                }
                c => member.push(c),
            }
        }
        out.push(member);
    }
    out
}

/// The kind of a column by its `DATA_TYPE`, `COLUMN_TYPE`, numeric precision and scale, and
/// datetime precision.
pub fn kind(data_type: &str, column_type: &str, precision: u64, scale: u64, fsp: u64) -> Kind {
    let unsigned = column_type.contains("unsigned");
    let integer = |ty, bits| Kind::Integer { ty, bits, unsigned };
    match data_type {
        "tinyint" if column_type.starts_with("tinyint(1)") && !unsigned => Kind::Bool,
        "tinyint" => integer(ColumnType::Short, 8),
        "smallint" if unsigned => integer(ColumnType::Int, 16),
        "smallint" => integer(ColumnType::Short, 16),
        "mediumint" => integer(ColumnType::Int, 24),
        "int" | "integer" if unsigned => integer(ColumnType::Long, 32),
        "int" | "integer" => integer(ColumnType::Int, 32),
        "bigint" if unsigned => Kind::Unsigned64,
        "bigint" => integer(ColumnType::Long, 64),
        "decimal" | "numeric" if precision <= 38 => Kind::Decimal {
            precision: precision as u32,
            scale: scale as u32,
        },
        "float" => Kind::Float,
        "double" | "real" => Kind::Double,
        "date" => Kind::Date,
        "datetime" => Kind::DateTime,
        "timestamp" => Kind::Timestamp,
        "time" => Kind::Time { fsp: fsp as u32 },
        "year" => Kind::Year,
        "json" => Kind::Json,
        "bit" if column_type == "bit(1)" => Kind::Bool,
        "bit" | "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob"
        | "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" => Kind::Binary,
        "enum" => Kind::Enum(members(column_type)),
        "set" => Kind::Set(members(column_type)),
        _ => Kind::Text,
    }
}

impl Kind {
    /// The Fivetran column type.
    pub fn column_type(&self) -> ColumnType {
        match self {
            Kind::Bool => ColumnType::Boolean,
            Kind::Integer { ty, .. } => *ty,
            Kind::Unsigned64 => ColumnType::Decimal {
                precision: 20,
                scale: 0,
            },
            Kind::Decimal { precision, scale } => ColumnType::Decimal {
                precision: *precision,
                scale: *scale,
            },
            Kind::Float => ColumnType::Float,
            Kind::Double => ColumnType::Double,
            Kind::Date => ColumnType::NaiveDate,
            Kind::DateTime => ColumnType::NaiveDateTime,
            Kind::Timestamp => ColumnType::UtcDateTime,
            Kind::Year => ColumnType::Int,
            Kind::Json => ColumnType::Json,
            Kind::Binary => ColumnType::Binary,
            Kind::Time { .. } | Kind::Text | Kind::Enum(_) | Kind::Set(_) => ColumnType::String,
        }
    }

    /// Whether the binlog sends this column's value as text in the column's character set.
    pub fn is_text(&self) -> bool {
        matches!(
            self,
            Kind::Text | Kind::Json | Kind::Time { .. } | Kind::Decimal { .. } | Kind::Enum(_)
        )
    }

    /// An integer value, with a signed binlog value of an unsigned column widened back.
    fn integer(&self, v: &My) -> Option<i128> {
        let n = match v {
            My::Int(i) => *i as i128,
            My::UInt(u) => *u as i128,
            My::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok()?,
            _ => return None,
        };
        let bits = match self {
            Kind::Integer {
                bits,
                unsigned: true,
                ..
            } => *bits,
            Kind::Unsigned64 => 64,
            // A signed MEDIUMINT's binlog image can arrive as its 24 unsigned bits.
            Kind::Integer { bits, .. }
                if *bits < 64 && n >= 1i128 << (bits - 1) && n < 1i128 << bits =>
            {
                return Some(n - (1i128 << bits))
            }
            _ => return Some(n),
        };
        Some(if n < 0 { n + (1i128 << bits) } else { n })
    }

    /// Reads one value. `Some(Value::Null)` for SQL NULL and for zero dates (`'0000-00-00'`, which
    /// have no date); `None` when the value cannot be read as the column's type (the caller syncs NULL
    /// and counts an unreadable value).
    pub fn value(&self, v: &My) -> Option<Value> {
        self.read(v, false)
    }

    /// [`Kind::value`] for a binlog row image (a SET is its bit mask there).
    pub fn binlog_value(&self, v: &My) -> Option<Value> {
        self.read(v, true)
    }

    fn read(&self, v: &My, binlog: bool) -> Option<Value> {
        if matches!(v, My::NULL) {
            return Some(Value::Null);
        }
        let text = || match v {
            My::Bytes(b) => String::from_utf8(b.clone()).ok(),
            _ => None,
        };
        Some(match self {
            Kind::Bool => Value::Bool(match v {
                My::Bytes(b) => b.iter().any(|&x| x != 0),
                _ => self.integer(v)? != 0,
            }),
            Kind::Integer { ty, .. } => {
                let n = self.integer(v)?;
                match ty {
                    ColumnType::Short => Value::Short(n.try_into().ok()?),
                    ColumnType::Int => Value::Int(n.try_into().ok()?),
                    _ => Value::Long(n.try_into().ok()?),
                }
            }
            Kind::Unsigned64 => Value::Decimal(self.integer(v)?.to_string()),
            Kind::Decimal { .. } => Value::Decimal(text()?),
            Kind::Float => Value::Float(match v {
                My::Float(f) => *f,
                My::Double(d) => *d as f32,
                _ => text()?.parse().ok()?,
            }),
            Kind::Double => Value::Double(match v {
                My::Double(d) => *d,
                My::Float(f) => *f as f64,
                _ => text()?.parse().ok()?,
            }),
            Kind::Date => match datetime(v)? {
                None => Value::Null,
                Some(at) => Value::NaiveDate(at.date()),
            },
            Kind::DateTime => match datetime(v)? {
                None => Value::Null,
                Some(at) => Value::NaiveDateTime(at),
            },
            Kind::Timestamp => match v {
                // The binlog's TIMESTAMP2: epoch seconds with optional microseconds; 0 is the zero
                // timestamp.
                My::Bytes(b) if !b.contains(&b'-') => {
                    let t = std::str::from_utf8(b).ok()?;
                    let (s, us) = t.split_once('.').unwrap_or((t, "0"));
                    let (s, us): (i64, u32) = (s.parse().ok()?, us.parse().ok()?);
                    if s == 0 && us == 0 {
                        Value::Null
                    } else {
                        Value::UtcDateTime(DateTime::from_timestamp(s, us * 1000)?)
                    }
                }
                My::Int(0) => Value::Null,
                My::Int(s) => Value::UtcDateTime(DateTime::from_timestamp(*s, 0)?),
                _ => match datetime(v)? {
                    None => Value::Null,
                    Some(at) => {
                        Value::UtcDateTime(DateTime::<Utc>::from_naive_utc_and_offset(at, Utc))
                    }
                },
            },
            Kind::Time { fsp } => Value::String(match v {
                My::Time(negative, days, h, m, s, us) => {
                    let hours = *days as u64 * 24 + *h as u64;
                    let mut t = format!(
                        "{}{hours:02}:{m:02}:{s:02}",
                        if *negative { "-" } else { "" }
                    );
                    if *fsp > 0 {
                        let digits = format!("{us:06}");
                        t.push('.');
                        t.push_str(&digits[..(*fsp as usize).min(6)]);
                    }
                    t
                }
                _ => text()?,
            }),
            Kind::Year => Value::Int(match v {
                // The binlog sends 1900 + the stored byte; byte 0 is the year 0000.
                My::Bytes(b) if b.as_slice() == b"1900" => 0,
                _ => self.integer(v)?.try_into().ok()?,
            }),
            Kind::Json => {
                let t = text()?;
                // Normalised so the snapshot's text and the binlog's decoded JSONB agree.
                let json: serde_json::Value = serde_json::from_str(&t).ok()?;
                Value::Json(json.to_string())
            }
            Kind::Binary => match v {
                My::Bytes(b) => Value::Binary(b.clone()),
                _ => return None,
            },
            Kind::Text => Value::String(text()?),
            Kind::Enum(members) => match v {
                My::Int(0) => Value::String(String::new()),
                My::Int(i) => Value::String(members.get((*i as usize).checked_sub(1)?)?.clone()),
                My::UInt(u) => Value::String(members.get((*u as usize).checked_sub(1)?)?.clone()),
                _ => Value::String(text()?),
            },
            Kind::Set(members) => match v {
                My::Bytes(b) if binlog && b.len() <= 8 => {
                    let mut mask = 0u64;
                    for (i, byte) in b.iter().enumerate() {
                        mask |= (*byte as u64) << (8 * i);
                    }
                    let chosen: Vec<&str> = members
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .map(|(_, m)| m.as_str())
                        .collect();
                    Value::String(chosen.join(","))
                }
                _ => Value::String(text()?),
            },
        })
    }
}

/// A date or datetime; `Some(None)` for a zero date (year, month or day 0).
fn datetime(v: &My) -> Option<Option<NaiveDateTime>> {
    match v {
        My::Date(y, m, d, h, mi, s, us) => {
            if *y == 0 || *m == 0 || *d == 0 {
                return Some(None);
            }
            Some(Some(
                NaiveDate::from_ymd_opt(*y as i32, *m as u32, *d as u32)?
                    .and_hms_micro_opt(*h as u32, *mi as u32, *s as u32, *us)?,
            ))
        }
        My::Bytes(b) => {
            let t = std::str::from_utf8(b).ok()?;
            if t.starts_with("0000-") || t.contains("-00") {
                return Some(None);
            }
            NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .or_else(|| {
                    NaiveDate::parse_from_str(t, "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                })
                .map(Some)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_map() {
        let k = |d, c| kind(d, c, 0, 0, 0).column_type();
        assert_eq!(k("tinyint", "tinyint(1)"), ColumnType::Boolean);
        assert_eq!(k("tinyint", "tinyint(4)"), ColumnType::Short);
        assert_eq!(k("smallint", "smallint(6)"), ColumnType::Short);
        assert_eq!(k("smallint", "smallint(5) unsigned"), ColumnType::Int);
        assert_eq!(k("mediumint", "mediumint(9)"), ColumnType::Int);
        assert_eq!(k("int", "int(11)"), ColumnType::Int);
        assert_eq!(k("int", "int(10) unsigned"), ColumnType::Long);
        assert_eq!(k("bigint", "bigint(20)"), ColumnType::Long);
        assert_eq!(
            k("bigint", "bigint(20) unsigned"),
            ColumnType::Decimal {
                precision: 20,
                scale: 0
            }
        );
        assert_eq!(
            kind("decimal", "decimal(12,3)", 12, 3, 0).column_type(),
            ColumnType::Decimal {
                precision: 12,
                scale: 3
            }
        );
        assert_eq!(kind("decimal", "decimal(65,2)", 65, 2, 0), Kind::Text);
        assert_eq!(k("datetime", "datetime(6)"), ColumnType::NaiveDateTime);
        assert_eq!(k("timestamp", "timestamp"), ColumnType::UtcDateTime);
        assert_eq!(k("json", "json"), ColumnType::Json);
        assert_eq!(k("blob", "blob"), ColumnType::Binary);
        assert_eq!(k("bit", "bit(1)"), ColumnType::Boolean);
        assert_eq!(k("bit", "bit(12)"), ColumnType::Binary);
        assert_eq!(
            kind("enum", "enum('a','it''s','c')", 0, 0, 0),
            Kind::Enum(vec!["a".into(), "it's".into(), "c".into()])
        );
        assert_eq!(k("year", "year(4)"), ColumnType::Int);
    }

    #[test]
    fn snapshot_and_binlog_forms_agree() {
        let uint = kind("int", "int(10) unsigned", 0, 0, 0);
        assert_eq!(
            uint.value(&My::UInt(4_294_967_295)),
            Some(Value::Long(4_294_967_295))
        );
        assert_eq!(uint.value(&My::Int(-1)), Some(Value::Long(4_294_967_295)));
        let tiny = kind("tinyint", "tinyint(3) unsigned", 0, 0, 0);
        assert_eq!(tiny.value(&My::Int(-1)), Some(Value::Short(255)));
        let big = Kind::Unsigned64;
        assert_eq!(
            big.value(&My::Int(-1)),
            Some(Value::Decimal("18446744073709551615".into()))
        );
        assert_eq!(
            Kind::Timestamp.value(&My::Bytes(b"1709212455.500000".to_vec())),
            Kind::Timestamp.value(&My::Date(2024, 2, 29, 13, 14, 15, 500_000))
        );
        assert_eq!(
            Kind::Timestamp.value(&My::Bytes(b"0".to_vec())),
            Some(Value::Null)
        );
        assert_eq!(
            Kind::Date.value(&My::Date(0, 0, 0, 0, 0, 0, 0)),
            Some(Value::Null)
        );
        assert_eq!(
            Kind::DateTime.value(&My::Bytes(b"0000-00-00 00:00:00".to_vec())),
            Some(Value::Null)
        );
        let e = Kind::Enum(vec!["sad".into(), "ok".into()]);
        assert_eq!(e.value(&My::Int(2)), e.value(&My::Bytes(b"ok".to_vec())));
        let s = Kind::Set(vec!["a".into(), "b".into(), "c".into()]);
        assert_eq!(
            s.binlog_value(&My::Bytes(vec![0b101])),
            Some(Value::String("a,c".into()))
        );
        assert_eq!(
            s.value(&My::Bytes(b"a,c".to_vec())),
            Some(Value::String("a,c".into()))
        );
        assert_eq!(
            Kind::Year.value(&My::Bytes(b"2024".to_vec())),
            Kind::Year.value(&My::Int(2024))
        );
        assert_eq!(
            Kind::Time { fsp: 3 }.value(&My::Time(true, 1, 2, 3, 4, 567_000)),
            Some(Value::String("-26:03:04.567".into()))
        );
        assert_eq!(
            Kind::Json.value(&My::Bytes(br#"{"b": 1, "a": [1, 2]}"#.to_vec())),
            Some(Value::Json(r#"{"a":[1,2],"b":1}"#.into()))
        );
        assert_eq!(
            Kind::Bool.value(&My::Bytes(vec![1])),
            Some(Value::Bool(true))
        );
        assert_eq!(
            kind("smallint", "smallint(6)", 0, 0, 0).value(&My::Int(70_000)),
            None
        );
    }
}
