//! Tables declared once: a [`TableSpec`] names a table, its primary key and its columns, and says for
//! each column where its value comes from in a source record (a [`FieldPath`], or a value the caller
//! gives, such as a parent's id) and how it is read (a [`Reader`]). The schema's [`TableDef`] and every
//! row come from the same spec, so they cannot drift apart.
//!
//! Names are owned ([`ColumnName`] shares them without copying), so a definition loaded from a file at
//! run time declares tables exactly as code does:
//!
//! ```
//! use fivetran_source::sdk::table::{ColumnSpec, Issues, Reader, TableSpec};
//! use fivetran_source::sdk::Value;
//!
//! let gifts = TableSpec::new("gifts")
//!     .column(ColumnSpec::key("id", Reader::Id))
//!     .column(ColumnSpec::new("amount", Reader::Decimal { precision: 18, scale: 2 }))
//!     .column(ColumnSpec::new("city", Reader::Text).from("address.city"))
//!     .column(ColumnSpec::new("contact_id", Reader::Id).given());
//! let record = serde_json::json!({"id": 7, "amount": "12.50", "address": {"city": "Lisbon"}});
//! let mut issues = Issues::default();
//! let row = gifts.row(&record, &[("contact_id", Value::String("3".into()))], &mut issues).unwrap();
//! assert_eq!(row.get("city"), Some(&Value::String("Lisbon".into())));
//! assert_eq!(gifts.def().primary_key().collect::<Vec<_>>(), ["id"]);
//! ```

mod iso;
mod issues;
pub mod read;
mod shape;

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::sdk::json::JsonView;

use crate::sdk::{ColumnName, Row, TableDef, Value};

pub use issues::Issues;
pub use read::{Malformed, Reader};
use shape::{Shape, ShapeCache};

/// Where a value sits inside a source record: object keys separated by dots (`address.city`); a
/// segment of digits indexes an array (`items.0.id`). The empty path is the record itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    segments: Box<[Box<str>]>,
}

impl FieldPath {
    /// Parses a dotted path.
    pub fn parse(text: &str) -> Self {
        let segments = text
            .split('.')
            .filter(|s| !s.is_empty())
            .map(Box::from)
            .collect();
        Self { segments }
    }

    /// The value at this path in `record`, if there is one.
    pub fn get<'a, J: JsonView<'a>>(&self, record: J) -> Option<J> {
        Self::follow(record, &self.segments)
    }

    /// The value at this path below `top`, the value of its first key.
    fn below_first<'a, J: JsonView<'a>>(&self, top: J) -> Option<J> {
        Self::follow(top, self.segments.get(1..).unwrap_or_default())
    }

    fn follow<'a, J: JsonView<'a>>(record: J, segments: &[Box<str>]) -> Option<J> {
        let mut at = record;
        for segment in segments {
            // `get` answers only for objects and `index` only for arrays.
            at = match at.get(segment) {
                Some(value) => value,
                None => at.index(segment.parse::<usize>().ok()?)?,
            };
        }
        Some(at)
    }

    /// The first key of the path (the top-level field it reads), if any.
    pub fn first(&self) -> Option<&str> {
        self.segments.first().map(|s| &**s)
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.segments.join("."))
    }
}

/// Where a column's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The value at a path of the record.
    Field(FieldPath),
    /// The first of several paths that is present (APIs that rename a field between versions).
    AnyOf(Vec<FieldPath>),
    /// A value the caller gives when it builds the row (a parent's key, the list a record came from).
    Given,
}

/// One declared column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    name: ColumnName,
    reader: Reader,
    source: Source,
    key: bool,
    secret: bool,
    group: Option<ColumnName>,
}

impl ColumnSpec {
    /// A column read from the record field of the same name.
    pub fn new(name: impl Into<ColumnName>, reader: Reader) -> Self {
        let name = name.into();
        Self {
            source: Source::Field(FieldPath::parse(&name)),
            name,
            reader,
            key: false,
            secret: false,
            group: None,
        }
    }

    /// A primary-key column read from the record field of the same name.
    pub fn key(name: impl Into<ColumnName>, reader: Reader) -> Self {
        Self {
            key: true,
            ..Self::new(name, reader)
        }
    }

    /// Reads the value from `path` instead of the field named like the column.
    pub fn from(mut self, path: &str) -> Self {
        self.source = Source::Field(FieldPath::parse(path));
        self
    }

    /// Reads the value from the first of `paths` present in the record.
    pub fn from_any(mut self, paths: &[&str]) -> Self {
        self.source = Source::AnyOf(paths.iter().map(|p| FieldPath::parse(p)).collect());
        self
    }

    /// The caller gives the value ([`TableSpec::row`]'s `given`).
    pub fn given(mut self) -> Self {
        self.source = Source::Given;
        self
    }

    /// The column holds a secret: a bad value is never shown in a warning.
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// Puts the column in a named group, e.g. the columns only an API's detailed endpoint sends
    /// ([`TableSpec::without_group`], [`TableSpec::group_columns`]).
    pub fn in_group(mut self, group: impl Into<ColumnName>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How it is read.
    pub fn reader(&self) -> Reader {
        self.reader
    }

    /// Where its value comes from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Whether it is part of the primary key.
    pub fn is_key(&self) -> bool {
        self.key
    }

    fn raw<'a, 'g, J: JsonView<'a>>(&self, record: J, given: &'g [(&str, Value)]) -> Raw<'g, J> {
        match &self.source {
            Source::Field(path) => path.get(record).map_or(Raw::Absent, Raw::Json),
            Source::AnyOf(paths) => paths
                .iter()
                .find_map(|p| p.get(record))
                .map_or(Raw::Absent, Raw::Json),
            Source::Given => given
                .iter()
                .find(|(n, _)| *n == self.name.as_str())
                .map_or(Raw::Absent, |(_, v)| Raw::Given(v)),
        }
    }
}

enum Raw<'a, J> {
    Absent,
    Json(J),
    Given(&'a Value),
}

/// Where one path of a column starts: the record itself (the empty path) or one of the spec's read
/// fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Record,
    Field(usize),
}

/// A declared table: the one source of its schema and its rows. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    name: String,
    schema: Option<String>,
    columns: Vec<ColumnSpec>,
    /// The top-level fields the columns read, sorted: what passthrough leaves alone.
    read_fields: Vec<String>,
    /// Per column, where each of its paths starts (none for a given column).
    starts: Vec<Box<[Start]>>,
    /// Where the read fields sit in records of the shapes met so far.
    shapes: ShapeCache,
    passthrough: bool,
    blank_is_null: bool,
}

impl TableSpec {
    /// A table named `name` without columns yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            schema: None,
            columns: Vec::new(),
            read_fields: Vec::new(),
            starts: Vec::new(),
            shapes: ShapeCache::default(),
            passthrough: false,
            blank_is_null: false,
        }
    }

    /// Places the table in a source schema.
    pub fn in_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Adds a column.
    pub fn column(mut self, column: ColumnSpec) -> Self {
        self.columns.push(column);
        self.index_read_fields()
    }

    /// Adds columns.
    pub fn columns(mut self, columns: impl IntoIterator<Item = ColumnSpec>) -> Self {
        self.columns.extend(columns);
        self.index_read_fields()
    }

    /// Recomputes [`TableSpec::read_fields`] once the columns changed (once per spec, not per row).
    fn index_read_fields(mut self) -> Self {
        let mut fields: Vec<String> = self
            .columns
            .iter()
            .flat_map(|c| match &c.source {
                Source::Field(p) => vec![p.first()],
                Source::AnyOf(ps) => ps.iter().map(FieldPath::first).collect(),
                Source::Given => vec![Some(c.name.as_str())],
            })
            .flatten()
            .map(str::to_owned)
            .collect();
        fields.sort_unstable();
        fields.dedup();
        let start = |path: &FieldPath| match path.first() {
            None => Start::Record,
            Some(first) => Start::Field(
                fields
                    .binary_search_by(|f| f.as_str().cmp(first))
                    .expect("every first key is a read field"),
            ),
        };
        self.starts = self
            .columns
            .iter()
            .map(|c| match &c.source {
                Source::Field(p) => Box::from([start(p)]),
                Source::AnyOf(ps) => ps.iter().map(start).collect(),
                Source::Given => Box::default(),
            })
            .collect();
        self.read_fields = fields;
        self.shapes = ShapeCache::default();
        self
    }

    /// Top-level fields of a record that no column reads pass through as columns of their own, typed
    /// by their JSON type (a CSV export's custom fields, attributes the API added later).
    pub fn passthrough_undeclared(mut self) -> Self {
        self.passthrough = true;
        self
    }

    /// Blank strings are NULL in every column, text included (CSV exports write NULL as an empty field).
    pub fn blank_is_null(mut self) -> Self {
        self.blank_is_null = true;
        self
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The declared columns.
    pub fn column_specs(&self) -> &[ColumnSpec] {
        &self.columns
    }

    /// The schema's declaration of this table.
    pub fn def(&self) -> TableDef {
        let mut def = TableDef::new(self.name.clone());
        if let Some(schema) = &self.schema {
            def = def.in_schema(schema.clone());
        }
        self.columns.iter().fold(def, |t, c| {
            if c.key {
                t.key(c.name.to_string(), c.reader.column_type())
            } else {
                t.column(c.name.to_string(), c.reader.column_type())
            }
        })
    }

    /// This table without the columns of `group` (for records of a shape that never carries them:
    /// they are left out of the row rather than set to NULL).
    pub fn without_group(&self, group: &str) -> TableSpec {
        let mut spec = self.clone();
        spec.columns
            .retain(|c| c.group.as_ref().is_none_or(|g| g.as_str() != group));
        spec.index_read_fields()
    }

    /// The names of the columns in `group`.
    pub fn group_columns<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.columns
            .iter()
            .filter(move |c| c.group.as_ref().is_some_and(|g| g.as_str() == group))
            .map(|c| c.name.as_str())
    }

    /// The row of `record`, with the `given` values for [`Source::Given`] columns. A value that cannot be
    /// read becomes NULL and is counted in `issues`; a record whose key column is absent, null or
    /// unreadable is skipped (`None`) and counted.
    pub fn row<'a>(
        &self,
        record: impl JsonView<'a>,
        given: &[(&str, Value)],
        issues: &mut Issues,
    ) -> Option<Row> {
        let shape = self.shapes.shape_of(record, &self.read_fields);
        let undeclared = match (&shape, self.passthrough) {
            (_, false) => Vec::new(),
            (Some(shape), true) => shape
                .undeclared()
                .iter()
                .filter_map(|&m| record.member(m as usize))
                .collect(),
            (None, true) => record.entries(),
        };
        let mut row = Row::with_capacity(self.columns.len() + undeclared.len());
        for (column, starts) in self.columns.iter().zip(&self.starts) {
            let raw = match &shape {
                Some(shape) => Self::raw_in_shape(column, starts, shape, record, given),
                None => column.raw(record, given),
            };
            let value = match raw {
                Raw::Absent => Value::Null,
                Raw::Given(v) => v.clone(),
                Raw::Json(raw) => match self.read(column, raw) {
                    Ok(value) => value,
                    Err(Malformed) if column.key => {
                        issues.skipped(&self.name, &column.name, raw);
                        return None;
                    }
                    Err(Malformed) => {
                        let key = self.key_text(record, given);
                        issues.malformed(&self.name, &column.name, &key, raw, column.secret);
                        Value::Null
                    }
                },
            };
            if column.key && value == Value::Null {
                issues.skipped(&self.name, &column.name, &Json::Null);
                return None;
            }
            row.set(column.name.clone(), value);
        }
        self.pass_undeclared(undeclared, &mut row);
        Some(row)
    }

    /// [`ColumnSpec::raw`] for a record of a known shape: the same answer, without searching keys.
    fn raw_in_shape<'a, 'g, J: JsonView<'a>>(
        column: &ColumnSpec,
        starts: &[Start],
        shape: &Shape,
        record: J,
        given: &'g [(&str, Value)],
    ) -> Raw<'g, J> {
        let at = |path: &FieldPath, start: Start| match start {
            Start::Record => Some(record),
            Start::Field(slot) => shape
                .member(slot)
                .and_then(|m| record.member(m as usize))
                .and_then(|(_, top)| path.below_first(top)),
        };
        let found = match &column.source {
            Source::Field(path) => at(path, starts[0]),
            Source::AnyOf(paths) => paths
                .iter()
                .zip(starts)
                .find_map(|(path, &start)| at(path, start)),
            Source::Given => return column.raw(record, given),
        };
        found.map_or(Raw::Absent, Raw::Json)
    }

    fn read<'a>(&self, column: &ColumnSpec, raw: impl JsonView<'a>) -> Result<Value, Malformed> {
        self.read_as(column.reader, raw)
    }

    fn read_as<'a>(&self, reader: Reader, raw: impl JsonView<'a>) -> Result<Value, Malformed> {
        if self.blank_is_null && raw.as_str().is_some_and(|s| s.trim().is_empty()) {
            return Ok(Value::Null);
        }
        reader.read(raw)
    }

    /// Sets a column for each of `fields` that no declared column reads.
    fn pass_undeclared<'a, V: JsonView<'a>>(&self, fields: Vec<(&'a str, V)>, row: &mut Row) {
        for (name, raw) in fields {
            if self
                .read_fields
                .binary_search_by(|f| f.as_str().cmp(name))
                .is_ok()
            {
                continue;
            }
            let value = self
                .read_as(Reader::Passthrough, raw)
                .unwrap_or(Value::Null);
            row.set(name.to_owned(), value);
        }
    }

    /// `id=804011` (every key column, comma-separated), for warnings.
    fn key_text<'a>(&self, record: impl JsonView<'a>, given: &[(&str, Value)]) -> String {
        let mut text = String::new();
        for column in self.columns.iter().filter(|c| c.key) {
            let shown = match column.raw(record, given) {
                Raw::Absent => "null".to_owned(),
                Raw::Json(raw) => match raw.as_str() {
                    Some(s) => s.to_owned(),
                    None => raw.to_json_string(),
                },
                Raw::Given(Value::String(s)) => s.clone(),
                Raw::Given(other) => format!("{other:?}"),
            };
            let sep = if text.is_empty() { "" } else { "," };
            let _ = write!(text, "{sep}{}={shown}", column.name);
        }
        if text.is_empty() {
            "(no key)".to_owned()
        } else {
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::ColumnType;
    use serde_json::json;

    fn spec() -> TableSpec {
        TableSpec::new("gifts")
            .column(ColumnSpec::key("id", Reader::Id))
            .column(ColumnSpec::new("contact_id", Reader::Id).given())
            .column(ColumnSpec::new(
                "amount",
                Reader::Decimal {
                    precision: 18,
                    scale: 2,
                },
            ))
            .column(ColumnSpec::new("city", Reader::Text).from("address.city"))
            .column(ColumnSpec::new("first_tag", Reader::Text).from("tags.0"))
            .column(ColumnSpec::new("notes", Reader::Text).in_group("full"))
            .column(ColumnSpec::new("token", Reader::Long).secret())
    }

    #[test]
    fn one_spec_yields_the_table_def_and_the_row() {
        let def = spec().def();
        assert_eq!(def.primary_key().collect::<Vec<_>>(), ["id"]);
        assert_eq!(
            def.columns[2].ty,
            ColumnType::Decimal {
                precision: 18,
                scale: 2
            }
        );
        let mut issues = Issues::default();
        let record = json!({"id": "7", "amount": 12.5, "address": {"city": "Porto"}, "tags": ["a", "b"], "notes": "n"});
        let row = spec()
            .row(
                &record,
                &[("contact_id", Value::String("3".into()))],
                &mut issues,
            )
            .unwrap();
        assert!(issues.is_empty());
        assert_eq!(row.get("id"), Some(&Value::String("7".into())));
        assert_eq!(row.get("contact_id"), Some(&Value::String("3".into())));
        assert_eq!(row.get("amount"), Some(&Value::Decimal("12.5".into())));
        assert_eq!(row.get("city"), Some(&Value::String("Porto".into())));
        assert_eq!(row.get("first_tag"), Some(&Value::String("a".into())));
        assert_eq!(row.get("token"), Some(&Value::Null), "absent is null");
    }

    #[test]
    fn a_malformed_value_keeps_the_row_with_a_null_and_is_reported_with_the_key() {
        let mut issues = Issues::default();
        let record = json!({"id": 9, "amount": "$5", "token": "s3cret"});
        let row = spec().row(&record, &[], &mut issues).unwrap();
        assert_eq!(row.get("amount"), Some(&Value::Null));
        let warnings = issues.take_warnings();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("gifts.amount") && w.contains("id=9") && w.contains("\"$5\"")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("gifts.token") && !w.contains("s3cret")),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_record_without_its_key_is_skipped_and_counted() {
        let mut issues = Issues::default();
        assert!(spec()
            .row(&json!({"amount": 1}), &[], &mut issues)
            .is_none());
        assert!(spec().row(&json!({"id": "x1"}), &[], &mut issues).is_none());
        assert_eq!(issues.count("gifts", "id"), 2);
    }

    #[test]
    fn groups_leave_columns_out_and_aliases_and_passthrough_fill_them() {
        let short = spec().without_group("full");
        assert_eq!(spec().group_columns("full").collect::<Vec<_>>(), ["notes"]);
        let mut issues = Issues::default();
        let row = short
            .row(&json!({"id": 1, "notes": "n"}), &[], &mut issues)
            .unwrap();
        assert_eq!(row.get("notes"), None);

        let contacts = TableSpec::new("contacts")
            .column(ColumnSpec::key("id", Reader::Text).from_any(&["id", "ocx_contact_id"]))
            .column(ColumnSpec::new("phone", Reader::Text))
            .passthrough_undeclared()
            .blank_is_null();
        let row = contacts
            .row(
                &json!({"ocx_contact_id": "abc", "phone": "", "colour": "teal", "n": 3}),
                &[],
                &mut issues,
            )
            .unwrap();
        assert_eq!(row.get("id"), Some(&Value::String("abc".into())));
        assert_eq!(row.get("phone"), Some(&Value::Null));
        assert_eq!(row.get("colour"), Some(&Value::String("teal".into())));
        assert_eq!(row.get("n"), Some(&Value::Long(3)));
        assert_eq!(
            row.get("ocx_contact_id"),
            None,
            "an alias read by a column does not pass through"
        );
        // The fields read are indexed per spec: a spec without a group's columns indexes anew.
        let grouped = TableSpec::new("g")
            .column(ColumnSpec::key("id", Reader::Long))
            .column(ColumnSpec::new("notes", Reader::Text).in_group("full"))
            .passthrough_undeclared();
        let record = json!({"id": 1, "notes": "n"});
        let whole = grouped.row(&record, &[], &mut issues).unwrap();
        let short = grouped
            .without_group("full")
            .row(&record, &[], &mut issues)
            .unwrap();
        assert_eq!(whole.len(), 2);
        assert_eq!(short.get("notes"), Some(&Value::String("n".into())));
        assert!(issues.is_empty());
    }

    #[test]
    fn names_can_come_from_a_definition_loaded_at_run_time() {
        let name = String::from("loaded");
        let spec = TableSpec::new(name.clone()).column(ColumnSpec::key(name.clone(), Reader::Long));
        let row = spec
            .row(&json!({"loaded": "5"}), &[], &mut Issues::default())
            .unwrap();
        assert_eq!(row.get("loaded"), Some(&Value::Long(5)));
    }

    /// A value of any JSON kind, biased towards what readers must tell apart.
    fn field_value() -> impl proptest::strategy::Strategy<Value = Json> {
        use proptest::prelude::*;
        let scalar = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            (0u64..100_000).prop_map(Json::from),
            (-1e9f64..1e9).prop_map(Json::from),
            prop_oneof![
                "[0-9]{1,6}",
                "-?[0-9]{1,4}\\.[0-9]{1,3}",
                " ?(true|false|TRUE|1|0) ?",
                "20[0-9]{2}-[01][0-9]-[0-3][0-9]([T ][0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]0[0-9]:[03]0)?)?",
                "[01][0-9]/[0-3][0-9]/20[0-9]{2}",
                "0000-00-00 00:00:00",
                "[a-z \"é\\\\]{0,8}",
            ]
            .prop_map(Json::String),
        ];
        scalar.prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
                proptest::collection::vec(("[a-c]{1,2}", inner), 0..4)
                    .prop_map(|m| Json::Object(m.into_iter().collect())),
            ]
        })
    }

    fn every_reader() -> TableSpec {
        let readers = [
            ("text", Reader::Text),
            ("id2", Reader::Id),
            ("flag", Reader::Bool),
            ("short", Reader::Short),
            ("int", Reader::Int),
            ("long", Reader::Long),
            ("float", Reader::Float),
            ("double", Reader::Double),
            (
                "money",
                Reader::Decimal {
                    precision: 8,
                    scale: 2,
                },
            ),
            ("at", Reader::Timestamp),
            ("secs", Reader::EpochSeconds),
            ("millis", Reader::EpochMillis),
            ("day", Reader::Date),
            ("wall", Reader::DateTime),
            ("blob", Reader::Json),
        ];
        readers
            .into_iter()
            .fold(
                TableSpec::new("t").column(ColumnSpec::key("id", Reader::Text)),
                |spec, (name, reader)| spec.column(ColumnSpec::new(name, reader)),
            )
            .column(ColumnSpec::new("deep", Reader::Text).from("nest.a.0"))
            .column(ColumnSpec::new("either", Reader::Long).from_any(&["x", "y"]))
            .passthrough_undeclared()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// The typed path (a record of a parsed page, `JsonDoc`) and the `serde_json::Value` path give
        /// identical rows and identical warnings for any record.
        #[test]
        fn a_doc_record_and_a_value_record_give_identical_rows(
            fields in proptest::collection::vec(
                (proptest::sample::select(vec![
                    "id", "text", "id2", "flag", "short", "int", "long", "float", "double", "money",
                    "at", "secs", "millis", "day", "wall", "blob", "nest", "x", "y", "extra",
                ]), field_value()),
                0..14,
            ),
            blank_is_null in proptest::prelude::any::<bool>(),
        ) {
            let record = Json::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
            let spec = if blank_is_null { every_reader().blank_is_null() } else { every_reader() };
            let text = serde_json::to_vec(&record).unwrap();
            // Both paths parse the same text, as both would parse a page.
            let record: Json = serde_json::from_slice(&text).unwrap();
            let doc = crate::sdk::json::JsonDoc::parse(&text).unwrap();
            let given = [("unused", Value::Long(1))];
            let (mut by_value, mut by_doc) = (Issues::default(), Issues::default());
            let a = spec.row(&record, &given, &mut by_value);
            let b = spec.row(doc.root(), &given, &mut by_doc);
            proptest::prop_assert_eq!(a, b);
            proptest::prop_assert_eq!(by_value.take_warnings(), by_doc.take_warnings());
        }

        /// A page of records through one spec, so its shape cache meets repeated shapes, keys in
        /// another order, repeated keys, and records of one shape split by records of another: every
        /// row is the row the `Value` path gives.
        #[test]
        fn a_page_of_records_gives_the_rows_of_its_values(
            shapes in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(vec![
                        "id", "text", "long", "money", "at", "blob", "nest", "x", "y", "extra", "more",
                    ]),
                    0..9,
                ),
                1..4,
            ),
            picks in proptest::collection::vec((0usize..4, field_value()), 1..24),
        ) {
            // Records are objects written by hand, so keys keep their order and repeats.
            let texts: Vec<String> = picks
                .iter()
                .map(|(shape, value)| {
                    let keys = &shapes[shape % shapes.len()];
                    let members: Vec<String> = keys
                        .iter()
                        .map(|k| format!("{}:{}", Json::from(*k), value))
                        .collect();
                    format!("{{{}}}", members.join(","))
                })
                .collect();
            let page = format!("[{}]", texts.join(","));
            let doc = crate::sdk::json::JsonDoc::parse(page.as_bytes()).unwrap();
            let spec = every_reader();
            let (mut by_value, mut by_doc) = (Issues::default(), Issues::default());
            for (text, record) in texts.iter().zip(doc.root().items()) {
                let value: Json = serde_json::from_str(text).unwrap();
                let a = spec.row(&value, &[], &mut by_value);
                let b = spec.row(record, &[], &mut by_doc);
                proptest::prop_assert_eq!(a, b, "{}", text);
            }
            proptest::prop_assert_eq!(by_value.take_warnings(), by_doc.take_warnings());
        }
    }
}
