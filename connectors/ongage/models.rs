//! OnGage's tables, declared once on the kit, and the readings of its search payloads. No I/O.
//!
//! Type conventions (those of the seed connector): ids are STRING (list ids are numbers in the API,
//! contact ids hex strings), dates are UTC_DATETIME read from Unix seconds or `YYYY-MM-DD HH:MM:SS`
//! (UTC; MySQL's zero date is NULL), counts are LONG. Blank values are NULL (the CSV export writes NULL
//! as an empty field). Columns the API sends beyond the declared ones (a list's custom fields in the
//! contact export, new list attributes) pass through as they come, so nothing is dropped. Unreadable
//! values follow the kit's policy ([`crate::sdk::table`]).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use crate::sdk::table::{read, ColumnSpec, Reader, TableSpec};
use crate::sdk::{Schema, Value};
use crate::sync::CsvCheck;

/// The `lists` table.
pub const LISTS: &str = "lists";
/// The `list_fields` table.
pub const LIST_FIELDS: &str = "list_fields";
/// The `contacts` table.
pub const CONTACTS: &str = "contacts";

/// Columns read from the record fields of the same names.
fn fields(columns: &'static [(&'static str, Reader)]) -> impl Iterator<Item = ColumnSpec> {
    columns
        .iter()
        .map(|(c, reader)| ColumnSpec::new(*c, *reader))
}

/// `lists`, keyed by `id`.
pub static LISTS_SPEC: LazyLock<TableSpec> = LazyLock::new(|| {
    TableSpec::new(LISTS)
        .column(ColumnSpec::key("id", Reader::Text))
        .columns(fields(&[
            ("account_id", Reader::Text),
            ("name", Reader::Text),
            ("type", Reader::Text),
            ("description", Reader::Text),
            ("scope", Reader::Text),
            ("last_count", Reader::Long),
            ("last_active_count", Reader::Long),
            ("unsubscribes", Reader::Long),
            ("complaints", Reader::Long),
            ("bounces", Reader::Long),
            ("archive", Reader::Bool),
            ("default", Reader::Bool),
            ("created", Reader::EpochSeconds),
            ("modified", Reader::EpochSeconds),
            ("deleted", Reader::EpochSeconds),
        ]))
        .passthrough_undeclared()
        .blank_is_null()
});

/// `list_fields`, keyed by `id`; `list_id` is the list searched (the caller gives it).
pub static LIST_FIELDS_SPEC: LazyLock<TableSpec> = LazyLock::new(|| {
    TableSpec::new(LIST_FIELDS)
        .column(ColumnSpec::key("id", Reader::Text))
        .column(ColumnSpec::new("list_id", Reader::Text).given())
        .columns(fields(&[
            ("name", Reader::Text),
            ("title", Reader::Text),
            ("type", Reader::Text),
            ("mandatory", Reader::Bool),
            ("primary", Reader::Bool),
            ("default_value", Reader::Text),
            ("created", Reader::EpochSeconds),
            ("modified", Reader::EpochSeconds),
        ]))
        .passthrough_undeclared()
        .blank_is_null()
});

/// `contacts` of the CSV export, keyed by (`id`, `list_id`); some exports name the id `ocx_contact_id`,
/// and `list_id` is the list searched.
pub static CONTACTS_SPEC: LazyLock<TableSpec> = LazyLock::new(|| {
    TableSpec::new(CONTACTS)
        .column(ColumnSpec::key("id", Reader::Text).from_any(&["id", "ocx_contact_id"]))
        .column(ColumnSpec::key("list_id", Reader::Text).given())
        .columns(fields(&[
            ("email", Reader::Text),
            ("first_name", Reader::Text),
            ("last_name", Reader::Text),
            ("gender", Reader::Text),
            ("country", Reader::Text),
            ("address", Reader::Text),
            ("phone", Reader::Text),
            ("language", Reader::Text),
            ("ip", Reader::Text),
            ("os", Reader::Text),
            ("product_id", Reader::Text),
            ("ocx_status", Reader::Text),
            ("ocx_created_date", Reader::EpochSeconds),
            ("ocx_unsubscribe_date", Reader::EpochSeconds),
            ("ocx_resubscribe_date", Reader::EpochSeconds),
            ("ocx_bounce_date", Reader::EpochSeconds),
            ("ocx_complaint_date", Reader::EpochSeconds),
            ("ocx_import_id", Reader::Text),
        ]))
        .passthrough_undeclared()
        .blank_is_null()
});

/// What a contact export must hold: an id column (either spelling) and the email.
pub fn contact_export_check() -> CsvCheck {
    CsvCheck::columns(&["id|ocx_contact_id", "email"])
}

/// The connector's tables, in sync order.
pub fn schema() -> Schema {
    Schema::new(vec![
        LISTS_SPEC.def(),
        LIST_FIELDS_SPEC.def(),
        CONTACTS_SPEC.def(),
    ])
}

/// The value a `list_id` column is given for list `id`.
pub fn list_key(id: &str) -> [(&'static str, Value); 1] {
    [("list_id", Value::String(id.to_owned()))]
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
    let contacts = read::unsigned(&list["last_count"]).unwrap_or(0);
    let created = match Reader::EpochSeconds.read(&list["created"]) {
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

/// A JSON scalar as text: strings as they are, numbers spelled out, null as `None`.
fn text_of(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The id of a created search (a number or a string in the payload).
pub fn search_id(payload: &Json) -> Option<String> {
    text_of(&payload["id"]).filter(|id| !id.trim().is_empty())
}

/// What a search's `status` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchState {
    /// 1: still running.
    Pending,
    /// 2: its results can be exported.
    Completed,
    /// 3 (undocumented), or a status nobody knows: never polled forever.
    Failed(String),
}

/// Reads a search payload's `status`: 1 pending, 2 completed, 3 failed; anything else is reported as
/// a failure so it is never polled forever.
pub fn search_status(payload: &Json) -> SearchState {
    let code = read::integer(&payload["status"]);
    let desc = payload["status_desc"].as_str().unwrap_or("no description");
    match code {
        Some(1) => SearchState::Pending,
        Some(2) => SearchState::Completed,
        Some(3) => SearchState::Failed(format!("the search failed ({desc})")),
        _ => SearchState::Failed(format!(
            "unknown search status {} ({desc})",
            payload["status"]
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::table::Issues;
    use crate::sdk::ColumnType;
    use serde_json::json;

    use crate::sync::decode::text_record as csv;

    fn at(seconds: i64) -> Value {
        Value::UtcDateTime(DateTime::from_timestamp(seconds, 0).unwrap())
    }

    #[test]
    fn a_contact_row_is_keyed_by_id_and_list_with_typed_dates_and_custom_fields() {
        let mut issues = Issues::default();
        let row = CONTACTS_SPEC
            .row(
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
                &list_key("120001"),
                &mut issues,
            )
            .unwrap();
        assert!(issues.is_empty(), "{:?}", issues.take_warnings());
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
        let row = CONTACTS_SPEC
            .row(
                &csv(&[
                    ("ocx_contact_id", "abc"),
                    ("ocx_created_date", "yesterday"),
                    ("ocx_bounce_date", "2018-13-45 99:00:00"),
                ]),
                &list_key("1"),
                &mut issues,
            )
            .unwrap();
        assert_eq!(row.get("id"), Some(&Value::String("abc".into())));
        assert_eq!(row.get("ocx_created_date"), Some(&Value::Null));
        assert_eq!(row.get("ocx_bounce_date"), Some(&Value::Null));
        assert_eq!(issues.total(), 2);
        assert!(CONTACTS_SPEC
            .row(&csv(&[("email", "x@y.z")]), &list_key("1"), &mut issues)
            .is_none());
        assert_eq!(issues.count(CONTACTS, "id"), 1);
        let warnings = issues.take_warnings();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("contacts.ocx_bounce_date") && w.contains("id=abc,list_id=1")),
            "{warnings:?}"
        );
    }

    #[test]
    fn list_rows_type_counts_flags_and_times_from_numbers_or_strings() {
        let mut issues = Issues::default();
        let list = json!({"id": 12345, "name": "Another List", "last_count": "917655",
            "archive": false, "default": 1, "account_id": 1, "created": 1617541368,
            "modified": "1617541368", "deleted": null, "unsubscribes": "many", "extra": {"a": 1}});
        let row = LISTS_SPEC.row(&list, &[], &mut issues).unwrap();
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
        let row = LIST_FIELDS_SPEC
            .row(&field, &list_key("120001"), &mut issues)
            .unwrap();
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
        assert_eq!(search_status(&json!({"status": 1})), SearchState::Pending);
        assert_eq!(
            search_status(&json!({"status": "2"})),
            SearchState::Completed
        );
        assert!(matches!(
            search_status(&json!({"status": 3})),
            SearchState::Failed(_)
        ));
        assert!(
            matches!(search_status(&json!({"status": 9})), SearchState::Failed(m) if m.contains('9'))
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
