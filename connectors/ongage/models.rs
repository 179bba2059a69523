//! Pure transforms from OnGage records to rows: the three tables, their columns and types, and the
//! readings of search payloads. No I/O.
//!
//! Type conventions (those of the seed connector): ids are STRING (list ids are numbers in the API, contact
//! ids hex strings), dates are UTC_DATETIME read from Unix seconds or `YYYY-MM-DD HH:MM:SS` (UTC), counts
//! are LONG. Columns the API sends beyond the declared ones (a list's custom fields in the contact export,
//! new list attributes) pass through as they come (text from the CSV), so nothing is dropped.
//!
//! A value that does not parse as its column's type becomes NULL and is counted in [`Issues`], which the
//! sync reports as one warning per list; a record without its key is skipped and counted the same way.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value as Json};

use crate::sdk::{ColumnType, Row, Schema, TableDef, Value};
use crate::sync::JobStatus;

/// The `lists` table.
pub const LISTS: &str = "lists";
/// The `list_fields` table.
pub const LIST_FIELDS: &str = "list_fields";
/// The `contacts` table.
pub const CONTACTS: &str = "contacts";

/// How a known column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Id,
    Text,
    Count,
    Flag,
    Time,
}

impl Kind {
    fn column_type(self) -> ColumnType {
        match self {
            Kind::Id | Kind::Text => ColumnType::String,
            Kind::Count => ColumnType::Long,
            Kind::Flag => ColumnType::Boolean,
            Kind::Time => ColumnType::UtcDateTime,
        }
    }
}

const LIST_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Id),
    ("account_id", Kind::Id),
    ("name", Kind::Text),
    ("type", Kind::Text),
    ("description", Kind::Text),
    ("scope", Kind::Text),
    ("last_count", Kind::Count),
    ("last_active_count", Kind::Count),
    ("unsubscribes", Kind::Count),
    ("complaints", Kind::Count),
    ("bounces", Kind::Count),
    ("archive", Kind::Flag),
    ("default", Kind::Flag),
    ("created", Kind::Time),
    ("modified", Kind::Time),
    ("deleted", Kind::Time),
];

const LIST_FIELD_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Id),
    ("list_id", Kind::Id),
    ("name", Kind::Text),
    ("title", Kind::Text),
    ("type", Kind::Text),
    ("mandatory", Kind::Flag),
    ("primary", Kind::Flag),
    ("default_value", Kind::Text),
    ("created", Kind::Time),
    ("modified", Kind::Time),
];

/// Contact columns of the export; the key is (`id`, `list_id`), `list_id` coming from the list searched.
const CONTACT_COLUMNS: &[(&str, Kind)] = &[
    ("id", Kind::Id),
    ("list_id", Kind::Id),
    ("email", Kind::Text),
    ("first_name", Kind::Text),
    ("last_name", Kind::Text),
    ("gender", Kind::Text),
    ("country", Kind::Text),
    ("address", Kind::Text),
    ("phone", Kind::Text),
    ("language", Kind::Text),
    ("ip", Kind::Text),
    ("os", Kind::Text),
    ("product_id", Kind::Text),
    ("ocx_status", Kind::Text),
    ("ocx_created_date", Kind::Time),
    ("ocx_unsubscribe_date", Kind::Time),
    ("ocx_resubscribe_date", Kind::Time),
    ("ocx_bounce_date", Kind::Time),
    ("ocx_complaint_date", Kind::Time),
    ("ocx_import_id", Kind::Text),
];

/// Some exports name the contact id `ocx_contact_id` instead of `id`.
const CONTACT_ID_ALIAS: &str = "ocx_contact_id";

fn table(name: &str, columns: &[(&str, Kind)], keys: &[&str]) -> TableDef {
    columns.iter().fold(TableDef::new(name), |t, (c, kind)| {
        if keys.contains(c) {
            t.key(*c, kind.column_type())
        } else {
            t.column(*c, kind.column_type())
        }
    })
}

/// The connector's tables, in sync order.
pub fn schema() -> Schema {
    Schema::new(vec![
        table(LISTS, LIST_COLUMNS, &["id"]),
        table(LIST_FIELDS, LIST_FIELD_COLUMNS, &["id"]),
        table(CONTACTS, CONTACT_COLUMNS, &["id", "list_id"]),
    ])
}

/// Malformed values (set to NULL) and unkeyed records (skipped), counted per table and column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issues {
    counts: BTreeMap<(&'static str, String), u64>,
}

impl Issues {
    fn note(&mut self, table: &'static str, column: &str) {
        *self.counts.entry((table, column.to_owned())).or_default() += 1;
    }

    /// Problems counted so far.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Forgets the counts (after they were reported).
    pub fn clear(&mut self) {
        self.counts.clear();
    }
}

impl fmt::Display for Issues {
    /// `3 values could not be read (...): contacts.ocx_bounce_date 2 contacts.id 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} values could not be read (set to null; records without an id skipped):",
            self.total()
        )?;
        for ((table, column), n) in &self.counts {
            write!(f, " {table}.{column} {n}")?;
        }
        Ok(())
    }
}

/// A value that does not parse as its column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the value does not parse as its column's type")]
pub struct Malformed;

/// Reads an API date: Unix seconds, or `YYYY-MM-DD HH:MM:SS` in UTC. Empty (and MySQL's zero date) is
/// `Ok(None)`; anything else unreadable is [`Malformed`].
pub fn parse_time(text: &str) -> Result<Option<DateTime<Utc>>, Malformed> {
    let text = text.trim();
    if text.is_empty() || text == "null" || text.starts_with("0000-00-00") {
        return Ok(None);
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return DateTime::from_timestamp(seconds, 0)
            .map(Some)
            .ok_or(Malformed);
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .map(|t| Some(t.and_utc()))
        .map_err(|_| Malformed)
}

/// A JSON scalar as text: strings as they are, numbers and booleans spelled out, null as `None`.
fn text_of(value: &Json) -> Option<String> {
    match value {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

/// Reads `value` as `kind`; `Err` when it is there but malformed.
fn typed(kind: Kind, value: &Json) -> Result<Value, Malformed> {
    if value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty()) {
        return Ok(Value::Null);
    }
    match kind {
        Kind::Id | Kind::Text => Ok(text_of(value).map_or(Value::Null, Value::String)),
        Kind::Count => match value {
            Json::Number(n) => n.as_i64().map(Value::Long).ok_or(Malformed),
            Json::String(s) => s.trim().parse().map(Value::Long).map_err(|_| Malformed),
            _ => Err(Malformed),
        },
        Kind::Flag => match value {
            Json::Bool(b) => Ok(Value::Bool(*b)),
            Json::Number(n) => match n.as_i64() {
                Some(0) => Ok(Value::Bool(false)),
                Some(1) => Ok(Value::Bool(true)),
                _ => Err(Malformed),
            },
            Json::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "0" | "false" => Ok(Value::Bool(false)),
                "1" | "true" => Ok(Value::Bool(true)),
                _ => Err(Malformed),
            },
            _ => Err(Malformed),
        },
        Kind::Time => match value {
            Json::Number(n) => n
                .as_i64()
                .and_then(|s| DateTime::from_timestamp(s, 0))
                .map(Value::UtcDateTime)
                .ok_or(Malformed),
            Json::String(s) => parse_time(s).map(Value::from),
            _ => Err(Malformed),
        },
    }
}

/// A value of a column the schema does not declare, passed through as its JSON type.
fn passthrough(value: &Json) -> Value {
    match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Long)
            .or_else(|| n.as_f64().map(Value::Double))
            .unwrap_or(Value::Null),
        Json::String(s) if s.is_empty() => Value::Null,
        Json::String(s) => Value::String(s.clone()),
        other => Value::json(other),
    }
}

/// The row of one record: declared columns typed, the others passed through; `None` without an `id`.
/// `extra` columns (the list a record belongs to) replace whatever the record says.
fn record_row(
    table: &'static str,
    columns: &[(&'static str, Kind)],
    record: &Map<String, Json>,
    extra: &[(&'static str, Value)],
    issues: &mut Issues,
) -> Option<Row> {
    let mut row = Row::with_capacity(record.len() + extra.len());
    for (name, kind) in columns {
        if extra.iter().any(|(n, _)| n == name) {
            continue;
        }
        let value = match record.get(*name).map(|v| typed(*kind, v)) {
            None => Value::Null,
            Some(Ok(value)) => value,
            Some(Err(Malformed)) => {
                issues.note(table, name);
                Value::Null
            }
        };
        if *kind == Kind::Id && value == Value::Null && *name == "id" {
            issues.note(table, "id");
            return None;
        }
        row.set(*name, value);
    }
    for (name, value) in extra {
        row.set(*name, value.clone());
    }
    for (name, value) in record {
        if !columns.iter().any(|(c, _)| c == name) {
            row.set(name.clone(), passthrough(value));
        }
    }
    Some(row)
}

/// What the sync needs to know about a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListInfo {
    /// The list id, as text.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `last_count`: contacts of every status (0 when absent).
    pub contacts: u64,
    /// When the list was created, if known.
    pub created: Option<DateTime<Utc>>,
}

/// Reads a list record; `None` without an id.
pub fn list_info(list: &Json) -> Option<ListInfo> {
    let id = text_of(&list["id"]).filter(|id| !id.trim().is_empty())?;
    let contacts = match typed(Kind::Count, &list["last_count"]) {
        Ok(Value::Long(n)) => u64::try_from(n).unwrap_or(0),
        _ => 0,
    };
    let created = match typed(Kind::Time, &list["created"]) {
        Ok(Value::UtcDateTime(t)) => Some(t),
        _ => None,
    };
    Some(ListInfo {
        id,
        name: text_of(&list["name"]).unwrap_or_default(),
        contacts,
        created,
    })
}

/// A `lists` row; `None` (counted) without an id.
pub fn list_row(list: &Json, issues: &mut Issues) -> Option<Row> {
    let Some(record) = list.as_object() else {
        issues.note(LISTS, "id");
        return None;
    };
    record_row(LISTS, LIST_COLUMNS, record, &[], issues)
}

/// A `list_fields` row of list `list_id`; `None` (counted) without an id.
pub fn list_field_row(field: &Json, list_id: &str, issues: &mut Issues) -> Option<Row> {
    let Some(record) = field.as_object() else {
        issues.note(LIST_FIELDS, "id");
        return None;
    };
    let list = [("list_id", Value::String(list_id.to_owned()))];
    record_row(LIST_FIELDS, LIST_FIELD_COLUMNS, record, &list, issues)
}

/// A `contacts` row from one CSV row of list `list_id`'s export; `None` (counted) without an id.
pub fn contact_row(csv: &Map<String, Json>, list_id: &str, issues: &mut Issues) -> Option<Row> {
    let list = [("list_id", Value::String(list_id.to_owned()))];
    if csv.contains_key("id") || !csv.contains_key(CONTACT_ID_ALIAS) {
        return record_row(CONTACTS, CONTACT_COLUMNS, csv, &list, issues);
    }
    let mut renamed = csv.clone();
    if let Some(id) = renamed.remove(CONTACT_ID_ALIAS) {
        renamed.insert("id".to_owned(), id);
    }
    record_row(CONTACTS, CONTACT_COLUMNS, &renamed, &list, issues)
}

/// The id of a created search (a number or a string in the payload).
pub fn search_id(payload: &Json) -> Option<String> {
    text_of(&payload["id"]).filter(|id| !id.trim().is_empty())
}

/// What a search's `status` says: 1 pending, 2 completed, 3 failed (undocumented); anything else is
/// reported as a failure so it is never polled forever.
pub fn search_status(payload: &Json) -> JobStatus {
    let code = match &payload["status"] {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let desc = payload["status_desc"].as_str().unwrap_or("no description");
    match code {
        Some(1) => JobStatus::Pending,
        Some(2) => JobStatus::Ready,
        Some(3) => JobStatus::Failed(format!("the search failed ({desc})")),
        _ => JobStatus::Failed(format!(
            "unknown search status {} ({desc})",
            payload["status"]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn csv(pairs: &[(&str, &str)]) -> Map<String, Json> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Json::String((*v).to_owned())))
            .collect()
    }

    fn at(seconds: i64) -> Value {
        Value::UtcDateTime(DateTime::from_timestamp(seconds, 0).unwrap())
    }

    #[test]
    fn dates_read_both_formats_and_empty_is_null() {
        assert_eq!(
            parse_time("1521365285").unwrap().map(|t| t.timestamp()),
            Some(1_521_365_285)
        );
        assert_eq!(
            parse_time("2018-03-18 09:28:05")
                .unwrap()
                .map(|t| t.timestamp()),
            Some(1_521_365_285)
        );
        assert_eq!(parse_time(" ").unwrap(), None);
        assert_eq!(parse_time("0000-00-00 00:00:00").unwrap(), None);
        assert!(parse_time("18/03/2018").is_err());
        assert!(parse_time("2018-03-18T09:28:05Z").is_err());
    }

    #[test]
    fn a_contact_row_is_keyed_by_id_and_list_with_typed_dates_and_custom_fields() {
        let mut issues = Issues::default();
        let row = contact_row(
            &csv(&[
                ("id", "5aae312578464ae01f8b4567"),
                ("email", "a@b.c"),
                ("ocx_status", "Unsubscribed"),
                ("ocx_created_date", "1521365285"),
                ("ocx_unsubscribe_date", "2018-03-19 00:00:00"),
                ("ocx_bounce_date", ""),
                ("list_id", "999"),
                ("favourite_colour", "teal"),
            ]),
            "120001",
            &mut issues,
        )
        .unwrap();
        assert!(issues.is_empty(), "{issues}");
        assert_eq!(
            row.get("id"),
            Some(&Value::String("5aae312578464ae01f8b4567".into()))
        );
        assert_eq!(row.get("list_id"), Some(&Value::String("120001".into())));
        assert_eq!(row.get("ocx_created_date"), Some(&at(1_521_365_285)));
        assert_eq!(row.get("ocx_unsubscribe_date"), Some(&at(1_521_417_600)));
        assert_eq!(row.get("ocx_bounce_date"), Some(&Value::Null));
        assert_eq!(
            row.get("phone"),
            Some(&Value::Null),
            "absent declared column"
        );
        assert_eq!(
            row.get("favourite_colour"),
            Some(&Value::String("teal".into()))
        );
    }

    #[test]
    fn malformed_values_become_null_and_are_counted_never_a_crash() {
        let mut issues = Issues::default();
        let row = contact_row(
            &csv(&[
                ("ocx_contact_id", "abc"),
                ("ocx_created_date", "yesterday"),
                ("ocx_bounce_date", "2018-13-45 99:00:00"),
            ]),
            "1",
            &mut issues,
        )
        .unwrap();
        assert_eq!(row.get("id"), Some(&Value::String("abc".into())));
        assert_eq!(row.get("ocx_created_date"), Some(&Value::Null));
        assert_eq!(row.get("ocx_bounce_date"), Some(&Value::Null));
        assert_eq!(issues.total(), 2);
        assert!(contact_row(&csv(&[("email", "x@y.z")]), "1", &mut issues).is_none());
        assert_eq!(issues.total(), 3);
        let text = issues.to_string();
        assert!(
            text.contains("contacts.ocx_bounce_date 1") && text.contains("contacts.id 1"),
            "{text}"
        );
    }

    #[test]
    fn list_rows_type_counts_flags_and_times_from_numbers_or_strings() {
        let mut issues = Issues::default();
        let list = json!({"id": 12345, "name": "Another List", "last_count": "917655",
            "archive": false, "default": 1, "account_id": 1, "created": 1617541368,
            "modified": "1617541368", "deleted": null, "unsubscribes": "many", "extra": {"a": 1}});
        let row = list_row(&list, &mut issues).unwrap();
        assert_eq!(row.get("id"), Some(&Value::String("12345".into())));
        assert_eq!(row.get("account_id"), Some(&Value::String("1".into())));
        assert_eq!(row.get("last_count"), Some(&Value::Long(917_655)));
        assert_eq!(row.get("default"), Some(&Value::Bool(true)));
        assert_eq!(row.get("modified"), Some(&at(1_617_541_368)));
        assert_eq!(row.get("deleted"), Some(&Value::Null));
        assert_eq!(row.get("unsubscribes"), Some(&Value::Null));
        assert_eq!(row.get("extra"), Some(&Value::Json(r#"{"a":1}"#.into())));
        assert_eq!(issues.total(), 1);
        let info = list_info(&list).unwrap();
        assert_eq!(
            (
                info.id.as_str(),
                info.contacts,
                info.created.map(|t| t.timestamp())
            ),
            ("12345", 917_655, Some(1_617_541_368))
        );
        assert!(list_info(&json!({"name": "no id"})).is_none());
    }

    #[test]
    fn list_fields_belong_to_the_list_searched() {
        let mut issues = Issues::default();
        let field =
            json!({"id": 7, "list_id": 3, "name": "email", "mandatory": "1", "primary": true});
        let row = list_field_row(&field, "120001", &mut issues).unwrap();
        assert_eq!(row.get("id"), Some(&Value::String("7".into())));
        assert_eq!(row.get("list_id"), Some(&Value::String("120001".into())));
        assert_eq!(row.get("mandatory"), Some(&Value::Bool(true)));
        assert!(issues.is_empty());
    }

    #[test]
    fn search_payloads() {
        assert_eq!(
            search_id(&json!({"id": 5000001})).as_deref(),
            Some("5000001")
        );
        assert_eq!(search_id(&json!({})), None);
        assert_eq!(search_status(&json!({"status": 1})), JobStatus::Pending);
        assert_eq!(search_status(&json!({"status": "2"})), JobStatus::Ready);
        assert!(matches!(
            search_status(&json!({"status": 3})),
            JobStatus::Failed(_)
        ));
        assert!(
            matches!(search_status(&json!({"status": 9})), JobStatus::Failed(m) if m.contains('9'))
        );
    }

    #[test]
    fn the_schema_keys_contacts_by_id_and_list() {
        let schema = schema();
        let contacts = schema.table(None, CONTACTS).unwrap();
        assert_eq!(
            contacts.primary_key().collect::<Vec<_>>(),
            ["id", "list_id"]
        );
        let created = contacts
            .columns
            .iter()
            .find(|c| c.name == "ocx_created_date")
            .unwrap();
        assert_eq!(created.ty, ColumnType::UtcDateTime);
        let id = schema.table(None, LISTS).unwrap().columns[0].clone();
        assert_eq!((id.name.as_str(), id.ty), ("id", ColumnType::String));
    }
}
