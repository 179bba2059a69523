//! Typed values and rows: what a connector's `models` produce and the emitter encodes.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// One column value, one variant per Fivetran data type (protocol.md §2.6).
///
/// Naive dates and date-times are wall-clock values; they travel as timestamps "as if UTC", exactly as
/// Fivetran's own SDK sends them. `Decimal` carries its canonical text (`"12.34"`), `Json` its JSON text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// BOOLEAN.
    Bool(bool),
    /// SHORT (16-bit).
    Short(i16),
    /// INT (32-bit).
    Int(i32),
    /// LONG (64-bit).
    Long(i64),
    /// DECIMAL, as its decimal text.
    Decimal(String),
    /// FLOAT (32-bit).
    Float(f32),
    /// DOUBLE (64-bit).
    Double(f64),
    /// NAIVE_DATE.
    NaiveDate(NaiveDate),
    /// NAIVE_DATETIME.
    NaiveDateTime(NaiveDateTime),
    /// UTC_DATETIME.
    UtcDateTime(DateTime<Utc>),
    /// BINARY.
    Binary(Vec<u8>),
    /// XML, as text.
    Xml(String),
    /// STRING.
    String(String),
    /// JSON, as serialized JSON text.
    Json(String),
}

impl Value {
    /// A JSON column from any JSON value (serialized once, here).
    pub fn json(value: &serde_json::Value) -> Self {
        Value::Json(value.to_string())
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<i16> for Value {
    fn from(v: i16) -> Self {
        Value::Short(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Long(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}
impl From<NaiveDate> for Value {
    fn from(v: NaiveDate) -> Self {
        Value::NaiveDate(v)
    }
}
impl From<NaiveDateTime> for Value {
    fn from(v: NaiveDateTime) -> Self {
        Value::NaiveDateTime(v)
    }
}
impl From<DateTime<Utc>> for Value {
    fn from(v: DateTime<Utc>) -> Self {
        Value::UtcDateTime(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Binary(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A column name: a `&'static str` from a connector's code, or a shared string from a definition loaded
/// at run time. Either way cloning it is cheap (no allocation), so a table spec can stamp its names on
/// every row.
#[derive(Clone, Eq)]
pub struct ColumnName(NameRepr);

#[derive(Clone, Eq)]
enum NameRepr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl PartialEq for NameRepr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl NameRepr {
    fn as_str(&self) -> &str {
        match self {
            NameRepr::Static(s) => s,
            NameRepr::Shared(s) => s,
        }
    }
}

impl ColumnName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialEq for ColumnName {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl PartialEq<str> for ColumnName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ColumnName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::hash::Hash for ColumnName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for ColumnName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ColumnName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::ops::Deref for ColumnName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ColumnName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for ColumnName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for ColumnName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for ColumnName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&'static str> for ColumnName {
    fn from(s: &'static str) -> Self {
        Self(NameRepr::Static(s))
    }
}

impl From<String> for ColumnName {
    fn from(s: String) -> Self {
        Self(NameRepr::Shared(s.into()))
    }
}

impl From<Arc<str>> for ColumnName {
    fn from(s: Arc<str>) -> Self {
        Self(NameRepr::Shared(s))
    }
}

impl From<&ColumnName> for ColumnName {
    fn from(s: &ColumnName) -> Self {
        s.clone()
    }
}

impl From<Cow<'static, str>> for ColumnName {
    fn from(s: Cow<'static, str>) -> Self {
        match s {
            Cow::Borrowed(s) => s.into(),
            Cow::Owned(s) => s.into(),
        }
    }
}

/// One row: column names and values in the order the connector set them.
///
/// A plain vector, not a map: rows are small, built once and encoded once, and the wire format is a
/// sequence of entries anyway. Setting a column twice keeps both; the last one wins at the destination.
///
/// A dropped row's column vector is kept for the next row of this thread (at most eight per thread): a
/// row of thirty columns is 1.7 KB, past the allocator's per-thread cache, and allocating it afresh
/// for every record cost more than building its values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    columns: Vec<(ColumnName, Value)>,
}

/// Column vectors of dropped rows kept per thread, at most this many.
const SPARE_ROWS: usize = 8;
/// Vectors with room for more columns than this are freed, not kept.
const SPARE_MAX_COLUMNS: usize = 1024;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<Vec<(ColumnName, Value)>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Drop for Row {
    fn drop(&mut self) {
        let capacity = self.columns.capacity();
        if capacity == 0 || capacity > SPARE_MAX_COLUMNS {
            return;
        }
        let mut columns = std::mem::take(&mut self.columns);
        columns.clear();
        // A thread being torn down has no spares to keep.
        let _ = SPARE.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut() {
                if spare.len() < SPARE_ROWS {
                    spare.push(columns);
                }
            }
        });
    }
}

impl Row {
    /// An empty row.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty row with room for `n` columns (a dropped row's vector when one is big enough).
    pub fn with_capacity(n: usize) -> Self {
        let spare = SPARE
            .try_with(|spare| {
                let mut spare = spare.try_borrow_mut().ok()?;
                let i = spare.iter().rposition(|v| v.capacity() >= n)?;
                Some(spare.swap_remove(i))
            })
            .ok()
            .flatten();
        Self {
            columns: spare.unwrap_or_else(|| Vec::with_capacity(n)),
        }
    }

    /// Sets `column` to `value` (builder style).
    pub fn with(mut self, column: impl Into<ColumnName>, value: impl Into<Value>) -> Self {
        self.set(column, value);
        self
    }

    /// Sets `column` to `value`.
    pub fn set(&mut self, column: impl Into<ColumnName>, value: impl Into<Value>) {
        self.columns.push((column.into(), value.into()));
    }

    /// The columns in the order they were set.
    pub fn columns(&self) -> &[(ColumnName, Value)] {
        &self.columns
    }

    /// The value of `column`, if set (the last one if set twice).
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.columns
            .iter()
            .rev()
            .find(|(name, _)| name == column)
            .map(|(_, v)| v)
    }

    /// Number of columns set.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether no column is set.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_get_returns_last_setting() {
        let row = Row::new().with("a", 1i64).with("b", "x").with("a", 2i64);
        assert_eq!(row.get("a"), Some(&Value::Long(2)));
        assert_eq!(row.get("b"), Some(&Value::String("x".into())));
        assert_eq!(row.get("c"), None);
        assert_eq!(row.len(), 3);
    }

    #[test]
    fn a_dropped_rows_room_serves_the_next_row_empty() {
        let mut row = Row::with_capacity(40);
        row.set("a", "text");
        let room = row.columns.as_ptr();
        drop(row);
        let next = Row::with_capacity(30);
        assert!(next.is_empty());
        assert_eq!(next.columns.as_ptr(), room, "the vector was reused");
        assert!(next.columns.capacity() >= 30);
        let bigger = Row::with_capacity(100);
        assert!(bigger.columns.capacity() >= 100);
    }

    #[test]
    fn option_maps_none_to_null() {
        assert_eq!(Value::from(None::<i64>), Value::Null);
        assert_eq!(Value::from(Some(3i32)), Value::Int(3));
    }
}
