//! Pure transforms from Virtuous JSON records to warehouse rows: no IO, no clock, no randomness.
//!
//! Conventions (those of the seed connector):
//! - numeric ids become STRING columns (`"804011"`), whether the API sends a number or a string;
//! - `…DateTimeUtc` timestamps become UTC_DATETIME. Virtuous writes UTC with or without `Z` and with or
//!   without fractions (`2023-01-23T23:41:41`, `…41.12`, `…41.1234567Z`); all are read as UTC. Calendar
//!   dates sent as midnight timestamps (`giftDate`, `receiptDate`, campaign start/end) become NAIVE_DATE;
//! - money is DECIMAL(18,2), nested objects and arrays are JSON columns, except the children users
//!   query on their own: contact individuals, their contact methods, and gift designations;
//! - a value that cannot be read becomes NULL and is counted in [`Issues`] (reported once per sync as a
//!   warning); a record never fails a sync and a row never holds a misread value.
//!
//! Each table is described once by a [`TableSpec`], from which both the schema and the rows come, so the
//! two cannot drift apart. Columns marked `full_only` are sent only by the `/Query/FullContact` and
//! `/Query/FullGift` endpoints; the short endpoints' extra fields (URLs, formatted copies of other
//! fields, the short contact's `email`/`phone`, which duplicate contact methods) are not synced.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value as Json;

use crate::sdk::{ColumnType, Row, Schema, TableDef, Value};
use crate::sync::ErroredRange;

use super::api::{Entity, Shape};

/// `contacts`: households, organisations and foundations (archived ones included, flagged).
pub const CONTACTS: &str = "contacts";
/// `contact_individuals`: the people of a contact.
pub const CONTACT_INDIVIDUALS: &str = "contact_individuals";
/// `contact_methods`: emails and phones of an individual.
pub const CONTACT_METHODS: &str = "contact_methods";
/// `gifts`.
pub const GIFTS: &str = "gifts";
/// `gift_designations`: how a gift's amount is split across projects.
pub const GIFT_DESIGNATIONS: &str = "gift_designations";
/// `projects`.
pub const PROJECTS: &str = "projects";
/// `campaigns` (the API's `campaignId` is the `id` column).
pub const CAMPAIGNS: &str = "campaigns";
/// `sync_errors`: id ranges that failed even one record at a time (see the module docs of `sync`).
pub const SYNC_ERRORS: &str = "sync_errors";

/// How a JSON field becomes a column value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A numeric id, as STRING.
    Id,
    /// STRING.
    Text,
    /// BOOLEAN (also from `"true"`/`"false"`).
    Bool,
    /// DECIMAL(18,2) from a JSON number or numeric string.
    Money,
    /// DOUBLE.
    Double,
    /// LONG.
    Long,
    /// UTC_DATETIME from any of the timestamp spellings Virtuous uses.
    Utc,
    /// NAIVE_DATE from a date or a midnight timestamp.
    Date,
    /// JSON, for nested objects and arrays.
    Json,
}

impl Kind {
    /// The declared Fivetran type.
    pub fn column_type(self) -> ColumnType {
        match self {
            Kind::Id | Kind::Text => ColumnType::String,
            Kind::Bool => ColumnType::Boolean,
            Kind::Money => ColumnType::Decimal {
                precision: 18,
                scale: 2,
            },
            Kind::Double => ColumnType::Double,
            Kind::Long => ColumnType::Long,
            Kind::Utc => ColumnType::UtcDateTime,
            Kind::Date => ColumnType::NaiveDate,
            Kind::Json => ColumnType::Json,
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Col {
    /// The API field it is read from; empty for a parent key the caller fills in.
    pub field: &'static str,
    /// The column name.
    pub name: &'static str,
    /// How the value is read.
    pub kind: Kind,
    /// Part of the primary key.
    pub key: bool,
    /// Sent only by the Full endpoints.
    pub full_only: bool,
}

const fn col(field: &'static str, name: &'static str, kind: Kind) -> Col {
    Col {
        field,
        name,
        kind,
        key: false,
        full_only: false,
    }
}

const fn key(field: &'static str, name: &'static str) -> Col {
    Col {
        key: true,
        ..col(field, name, Kind::Id)
    }
}

const fn full(field: &'static str, name: &'static str, kind: Kind) -> Col {
    Col {
        full_only: true,
        ..col(field, name, kind)
    }
}

const fn parent(name: &'static str) -> Col {
    col("", name, Kind::Id)
}

/// A table: its name and columns, the single source of its schema and its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSpec {
    /// Table name.
    pub name: &'static str,
    /// Columns, key first.
    pub columns: &'static [Col],
}

impl TableSpec {
    /// The declared table.
    pub fn def(&self) -> TableDef {
        self.columns.iter().fold(TableDef::new(self.name), |t, c| {
            if c.key {
                t.key(c.name, c.kind.column_type())
            } else {
                t.column(c.name, c.kind.column_type())
            }
        })
    }

    /// Names of the columns only the Full endpoints send.
    pub fn full_only_columns(&self) -> impl Iterator<Item = &'static str> {
        self.columns.iter().filter(|c| c.full_only).map(|c| c.name)
    }

    /// The row for `record` in `shape` (parent keys left for the caller). Full-only columns are left
    /// out of short records rather than set to NULL.
    pub fn row(&self, record: &Json, shape: Shape, issues: &mut Issues) -> Row {
        let mut row = Row::with_capacity(self.columns.len() + 2);
        for c in self.columns {
            if c.field.is_empty() || (c.full_only && shape == Shape::Short) {
                continue;
            }
            let raw = record.get(c.field).unwrap_or(&Json::Null);
            let value = read(c.kind, raw).unwrap_or_else(|| {
                issues.note(self.name, c.name, raw);
                Value::Null
            });
            row.set(c.name, value);
        }
        row
    }
}

/// `contacts`.
pub const CONTACTS_SPEC: TableSpec = TableSpec {
    name: CONTACTS,
    columns: &[
        key("id", "id"),
        col("contactType", "contact_type", Kind::Text),
        col("name", "name", Kind::Text),
        col("isPrivate", "is_private", Kind::Bool),
        col("isArchived", "is_archived", Kind::Bool),
        col("address", "address", Kind::Json),
        col("createDateTimeUtc", "create_date_time_utc", Kind::Utc),
        col("modifiedDateTimeUtc", "modified_date_time_utc", Kind::Utc),
        full("informalName", "informal_name", Kind::Text),
        full("mergedIntoContactId", "merged_into_contact_id", Kind::Id),
        full("tags", "tags", Kind::Json),
        full("customFields", "custom_fields", Kind::Json),
        full("contactReferences", "contact_references", Kind::Json),
        full("organizationGroups", "organization_groups", Kind::Json),
        full("customCollections", "custom_collections", Kind::Json),
    ],
};

/// `contact_individuals` (from FullContact's `contactIndividuals`).
pub const CONTACT_INDIVIDUALS_SPEC: TableSpec = TableSpec {
    name: CONTACT_INDIVIDUALS,
    columns: &[
        key("id", "id"),
        parent("contact_id"),
        col("prefix", "prefix", Kind::Text),
        col("firstName", "first_name", Kind::Text),
        col("middleName", "middle_name", Kind::Text),
        col("lastName", "last_name", Kind::Text),
        col("suffix", "suffix", Kind::Text),
        col("isPrimary", "is_primary", Kind::Bool),
        col("isSecondary", "is_secondary", Kind::Bool),
        col("isDeceased", "is_deceased", Kind::Bool),
    ],
};

/// `contact_methods` (from each individual's `contactMethods`).
pub const CONTACT_METHODS_SPEC: TableSpec = TableSpec {
    name: CONTACT_METHODS,
    columns: &[
        key("id", "id"),
        parent("contact_individual_id"),
        parent("contact_id"),
        col("type", "type", Kind::Text),
        col("value", "value", Kind::Text),
        col("isOptedIn", "is_opted_in", Kind::Bool),
        col("isPrimary", "is_primary", Kind::Bool),
        col("canBePrimary", "can_be_primary", Kind::Bool),
    ],
};

/// `gifts`.
pub const GIFTS_SPEC: TableSpec = TableSpec {
    name: GIFTS,
    columns: &[
        key("id", "id"),
        col("contactId", "contact_id", Kind::Id),
        col("contactName", "contact_name", Kind::Text),
        col("giftType", "gift_type", Kind::Text),
        col("giftDate", "gift_date", Kind::Date),
        col("amount", "amount", Kind::Money),
        col("currencyCode", "currency_code", Kind::Text),
        col("batch", "batch", Kind::Text),
        col("transactionSource", "transaction_source", Kind::Text),
        col("transactionId", "transaction_id", Kind::Text),
        col("createDateTimeUtc", "create_date_time_utc", Kind::Utc),
        col("modifiedDateTimeUtc", "modified_date_time_utc", Kind::Utc),
        full("contactIndividualId", "contact_individual_id", Kind::Id),
        full("segmentId", "segment_id", Kind::Id),
        full("receiptDate", "receipt_date", Kind::Date),
        full("exchangeRate", "exchange_rate", Kind::Double),
        full("notes", "notes", Kind::Text),
        full("isPrivate", "is_private", Kind::Bool),
        full("isTaxDeductible", "is_tax_deductible", Kind::Bool),
        full("giftPremiums", "gift_premiums", Kind::Json),
        full("pledgePayments", "pledge_payments", Kind::Json),
        full(
            "recurringGiftPayments",
            "recurring_gift_payments",
            Kind::Json,
        ),
        full("customFields", "custom_fields", Kind::Json),
    ],
};

/// `gift_designations` (from FullGift's `giftDesignations`).
pub const GIFT_DESIGNATIONS_SPEC: TableSpec = TableSpec {
    name: GIFT_DESIGNATIONS,
    columns: &[
        key("id", "id"),
        parent("gift_id"),
        col("projectId", "project_id", Kind::Id),
        col("project", "project", Kind::Text),
        col("projectCode", "project_code", Kind::Text),
        col("amountDesignated", "amount_designated", Kind::Money),
    ],
};

/// `projects`.
pub const PROJECTS_SPEC: TableSpec = TableSpec {
    name: PROJECTS,
    columns: &[
        key("id", "id"),
        col("name", "name", Kind::Text),
        col("projectCode", "project_code", Kind::Text),
        col("type", "type", Kind::Text),
        col("description", "description", Kind::Text),
        col("isActive", "is_active", Kind::Bool),
        col("isPublic", "is_public", Kind::Bool),
        col("isTaxDeductible", "is_tax_deductible", Kind::Bool),
        col("onlineDisplayName", "online_display_name", Kind::Text),
        col(
            "externalAccountingCode",
            "external_accounting_code",
            Kind::Text,
        ),
        col("createDateTimeUtc", "create_date_time_utc", Kind::Utc),
        col("modifiedDateTimeUtc", "modified_date_time_utc", Kind::Utc),
    ],
};

/// `campaigns`.
pub const CAMPAIGNS_SPEC: TableSpec = TableSpec {
    name: CAMPAIGNS,
    columns: &[
        key("campaignId", "id"),
        col("name", "name", Kind::Text),
        col("description", "description", Kind::Text),
        col("isActive", "is_active", Kind::Bool),
        col("startDate", "start_date", Kind::Date),
        col("endDate", "end_date", Kind::Date),
        col("createDateTimeUtc", "create_date_time_utc", Kind::Utc),
        col("modifiedDateTimeUtc", "modified_date_time_utc", Kind::Utc),
    ],
};

/// `sync_errors`, written from the pager's errored ranges rather than from API records.
pub const SYNC_ERRORS_SPEC: TableSpec = TableSpec {
    name: SYNC_ERRORS,
    columns: &[
        Col {
            kind: Kind::Text,
            ..key("", "id")
        },
        col("", "entity", Kind::Text),
        col("", "after_id", Kind::Id),
        col("", "before_id", Kind::Id),
        col("", "positions", Kind::Long),
        col("", "request", Kind::Text),
        col("", "error", Kind::Text),
        col("", "failed_at", Kind::Utc),
    ],
};

/// The tables an entity's records feed, parent first.
pub fn tables_of(entity: Entity) -> &'static [TableSpec] {
    match entity {
        Entity::Contact => &[
            CONTACTS_SPEC,
            CONTACT_INDIVIDUALS_SPEC,
            CONTACT_METHODS_SPEC,
        ],
        Entity::Gift => &[GIFTS_SPEC, GIFT_DESIGNATIONS_SPEC],
        Entity::Project => &[PROJECTS_SPEC],
        Entity::Campaign => &[CAMPAIGNS_SPEC],
    }
}

/// The connector's schema: every entity's tables, then `sync_errors`.
pub fn schema() -> Schema {
    let tables = Entity::ALL
        .iter()
        .flat_map(|e| tables_of(*e).iter())
        .chain(std::iter::once(&SYNC_ERRORS_SPEC))
        .map(TableSpec::def)
        .collect();
    Schema::new(tables)
}

/// Every row one API record of `entity` produces, as `(table, row)` in parent-first order. Short
/// records produce only the parent row.
pub fn rows(
    entity: Entity,
    record: &Json,
    shape: Shape,
    issues: &mut Issues,
) -> Vec<(&'static str, Row)> {
    let [parent_spec, children @ ..] = tables_of(entity) else {
        return Vec::new();
    };
    let parent = parent_spec.row(record, shape, issues);
    let parent_id = parent.get("id").cloned().unwrap_or(Value::Null);
    let mut out = vec![(parent_spec.name, parent)];
    if shape == Shape::Short || children.is_empty() {
        return out;
    }
    match entity {
        Entity::Contact => {
            for individual in array(record, "contactIndividuals") {
                let row = CONTACT_INDIVIDUALS_SPEC
                    .row(individual, shape, issues)
                    .with("contact_id", parent_id.clone());
                let individual_id = row.get("id").cloned().unwrap_or(Value::Null);
                out.push((CONTACT_INDIVIDUALS, row));
                for method in array(individual, "contactMethods") {
                    let row = CONTACT_METHODS_SPEC
                        .row(method, shape, issues)
                        .with("contact_individual_id", individual_id.clone())
                        .with("contact_id", parent_id.clone());
                    out.push((CONTACT_METHODS, row));
                }
            }
        }
        Entity::Gift => {
            for designation in array(record, "giftDesignations") {
                let row = GIFT_DESIGNATIONS_SPEC
                    .row(designation, shape, issues)
                    .with("gift_id", parent_id.clone());
                out.push((GIFT_DESIGNATIONS, row));
            }
        }
        Entity::Project | Entity::Campaign => {}
    }
    // A child without an id cannot be keyed: drop it rather than send a NULL key.
    out.retain(|(table, row)| {
        let keyed = !matches!(row.get("id"), None | Some(Value::Null));
        if !keyed {
            issues.note(table, "id", &Json::Null);
        }
        keyed
    });
    out
}

fn array<'a>(record: &'a Json, field: &str) -> &'a [Json] {
    record
        .get(field)
        .and_then(Json::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The `sync_errors` key of an errored range of `entity`: `gifts:500123..500131` (`start`/`end` for
/// open bounds).
pub fn error_key(entity: Entity, range: &ErroredRange<u64>) -> Row {
    let bound = |id: Option<u64>, open: &str| id.map_or_else(|| open.to_owned(), |i| i.to_string());
    let key = format!(
        "{}:{}..{}",
        entity.table(),
        bound(range.after, "start"),
        bound(range.before, "end")
    );
    Row::new().with("id", key)
}

/// The `sync_errors` row of an errored range of `entity`.
pub fn error_row(entity: Entity, range: &ErroredRange<u64>) -> Row {
    error_key(entity, range)
        .with("entity", entity.table())
        .with("after_id", range.after.map(|id| id.to_string()))
        .with("before_id", range.before.map(|id| id.to_string()))
        .with("positions", i64::from(range.positions))
        .with("request", range.request.as_str())
        .with("error", range.error.as_str())
        .with("failed_at", range.at)
}

/// Values that could not be read, by table and column: each became NULL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issues {
    by_column: BTreeMap<(&'static str, &'static str), (u64, String)>,
}

impl Issues {
    /// Counts an unreadable `raw` value of `table.column` (keeping the first as an example).
    pub fn note(&mut self, table: &'static str, column: &'static str, raw: &Json) {
        let entry = self
            .by_column
            .entry((table, column))
            .or_insert_with(|| (0, raw.to_string().chars().take(60).collect()));
        entry.0 += 1;
    }

    /// Unreadable values counted.
    pub fn total(&self) -> u64 {
        self.by_column.values().map(|(n, _)| n).sum()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.by_column.is_empty()
    }

    /// One line for a warning: `3 values could not be read and were synced as null: gifts.amount (2,
    /// e.g. "12,00"), ...`.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} values could not be read and were synced as null:",
            self.total()
        );
        for (i, ((table, column), (count, example))) in self.by_column.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let _ = write!(text, "{sep}{table}.{column} ({count}, e.g. {example})");
        }
        text
    }
}

/// Reads `raw` as `kind`: `Some(Value::Null)` for null, `None` when it cannot be read.
pub fn read(kind: Kind, raw: &Json) -> Option<Value> {
    if raw.is_null() {
        return Some(Value::Null);
    }
    let value = match kind {
        Kind::Id => Value::String(id_text(raw)?),
        Kind::Text => match raw {
            Json::String(s) => Value::String(s.clone()),
            Json::Number(n) => Value::String(n.to_string()),
            Json::Bool(b) => Value::String(b.to_string()),
            _ => return None,
        },
        Kind::Bool => match raw {
            Json::Bool(b) => Value::Bool(*b),
            Json::String(s) if s.trim().eq_ignore_ascii_case("true") => Value::Bool(true),
            Json::String(s) if s.trim().eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return None,
        },
        Kind::Money => Value::Decimal(decimal_text(raw)?),
        Kind::Double => Value::Double(number(raw)?),
        Kind::Long => match raw {
            Json::Number(n) => Value::Long(n.as_i64()?),
            Json::String(s) => Value::Long(s.trim().parse().ok()?),
            _ => return None,
        },
        Kind::Utc => Value::UtcDateTime(parse_utc(raw.as_str()?)?),
        Kind::Date => Value::NaiveDate(parse_date(raw.as_str()?)?),
        Kind::Json => Value::json(raw),
    };
    Some(value)
}

/// A non-negative integer id as text, from a number or a string of digits.
pub fn id_text(raw: &Json) -> Option<String> {
    match raw {
        Json::Number(n) => n.as_u64().map(|id| id.to_string()),
        Json::String(s) => {
            let s = s.trim();
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.to_owned())
        }
        _ => None,
    }
}

/// A record's id as a number (the pager's cursor), from a number or a string of digits.
pub fn id_number(raw: &Json) -> Option<u64> {
    match raw {
        Json::Number(n) => n.as_u64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn number(raw: &Json) -> Option<f64> {
    let n = match raw {
        Json::Number(n) => n.as_f64()?,
        Json::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

/// Plain decimal text (never exponent notation) of a JSON number or numeric string.
fn decimal_text(raw: &Json) -> Option<String> {
    match raw {
        // Rust's float Display is the shortest round-trip text and never uses an exponent.
        Json::Number(n) => n
            .as_i64()
            .map(|i| i.to_string())
            .or_else(|| number(raw).map(|f| f.to_string())),
        Json::String(s) => {
            let s = s.trim();
            is_plain_decimal(s).then(|| s.to_owned())
        }
        _ => None,
    }
}

/// `-?digits(.digits)?`
fn is_plain_decimal(s: &str) -> bool {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits(int) && digits(frac)
}

/// A UTC instant from the spellings Virtuous uses: RFC 3339 (`Z` or an offset), or no zone at all
/// (read as UTC), with or without fractions of any length, `T` or a space; a bare date is midnight UTC.
pub fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let text = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// A calendar date from `YYYY-MM-DD`, a timestamp (its date part, as Virtuous sends dates as
/// midnight timestamps) or `MM/DD/YYYY`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
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
    (rest.is_empty() || parse_utc(text).is_some()).then_some(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
            + chrono::Duration::milliseconds(ms.into())
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
            " 2023-01-23T23:41:41z ",
        ] {
            assert_eq!(parse_utc(text), Some(at), "{text}");
        }
        let frac = utc(2023, 1, 23, 23, 41, 41, 120);
        for text in [
            "2023-01-23T23:41:41.12",
            "2023-01-23T23:41:41.120Z",
            "2023-01-23T23:41:41.1200000",
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
    fn values_read_by_kind_and_bad_ones_are_refused() {
        assert_eq!(
            read(Kind::Id, &json!(804011)),
            Some(Value::String("804011".into()))
        );
        assert_eq!(
            read(Kind::Id, &json!(" 42 ")),
            Some(Value::String("42".into()))
        );
        assert_eq!(read(Kind::Id, &json!(-1)), None);
        assert_eq!(read(Kind::Id, &json!("4x")), None);
        assert_eq!(
            read(Kind::Money, &json!(5000.0)),
            Some(Value::Decimal("5000".into()))
        );
        assert_eq!(
            read(Kind::Money, &json!(50.05)),
            Some(Value::Decimal("50.05".into()))
        );
        assert_eq!(
            read(Kind::Money, &json!(12)),
            Some(Value::Decimal("12".into()))
        );
        assert_eq!(
            read(Kind::Money, &json!("-3.50")),
            Some(Value::Decimal("-3.50".into()))
        );
        assert_eq!(
            read(Kind::Money, &json!(1e21)),
            Some(Value::Decimal("1000000000000000000000".into()))
        );
        assert_eq!(read(Kind::Money, &json!("$5,000.00")), None);
        assert_eq!(read(Kind::Money, &json!("-")), None);
        assert_eq!(read(Kind::Bool, &json!("TRUE")), Some(Value::Bool(true)));
        assert_eq!(read(Kind::Bool, &json!(1)), None);
        assert_eq!(read(Kind::Text, &json!({"a": 1})), None);
        assert_eq!(
            read(Kind::Json, &json!({"a": 1})),
            Some(Value::Json(r#"{"a":1}"#.into()))
        );
        assert_eq!(read(Kind::Utc, &json!(1_674_517_301)), None);
        assert_eq!(read(Kind::Double, &json!("1.5")), Some(Value::Double(1.5)));
        for kind in [Kind::Id, Kind::Utc, Kind::Money, Kind::Json] {
            assert_eq!(read(kind, &Json::Null), Some(Value::Null));
        }
    }

    fn full_gift() -> Json {
        json!({"id": 804011, "transactionSource": "iDonate", "transactionId": "a083a056", "contactId": 203894,
          "contactName": "Mr. Roberto Bolli", "giftType": "Credit", "giftDate": "2022-12-11T00:00:00",
          "giftDateFormatted": "12/11/2022", "amount": 5000.0, "amountFormatted": "$5,000.00",
          "currencyCode": "USD", "exchangeRate": 1.0, "batch": "iDonate 2022-12-11",
          "createDateTimeUtc": "2022-12-12T16:55:59", "modifiedDateTimeUtc": "2023-01-23T23:41:41.123",
          "segmentId": null, "receiptDate": "2023-01-23T00:00:00", "contactIndividualId": 231186,
          "giftDesignations": [{"id": 803033, "projectId": 1596, "project": "Water", "projectCode": "F9LMCO",
            "amountDesignated": 5000.0}], "giftPremiums": [], "pledgePayments": [], "recurringGiftPayments": [],
          "giftUrl": "/api/Gift/804011", "isPrivate": false, "isTaxDeductible": true,
          "customFields": [{"dataType": "Text", "name": "Missionary EID", "value": "None", "displayName": null}]})
    }

    #[test]
    fn a_full_gift_becomes_a_gift_and_its_designations() {
        let mut issues = Issues::default();
        let rows = rows(Entity::Gift, &full_gift(), Shape::Full, &mut issues);
        assert!(issues.is_empty(), "{}", issues.summary());
        assert_eq!(rows.len(), 2);
        let (table, gift) = &rows[0];
        assert_eq!(*table, GIFTS);
        assert_eq!(gift.get("id"), Some(&Value::String("804011".into())));
        assert_eq!(
            gift.get("contact_id"),
            Some(&Value::String("203894".into()))
        );
        assert_eq!(gift.get("amount"), Some(&Value::Decimal("5000".into())));
        assert_eq!(
            gift.get("gift_date"),
            Some(&Value::NaiveDate(
                NaiveDate::from_ymd_opt(2022, 12, 11).unwrap()
            ))
        );
        assert_eq!(
            gift.get("modified_date_time_utc"),
            Some(&Value::UtcDateTime(utc(2023, 1, 23, 23, 41, 41, 123)))
        );
        assert_eq!(gift.get("segment_id"), Some(&Value::Null));
        assert_eq!(
            gift.get("custom_fields"),
            Some(&Value::Json(
                r#"[{"dataType":"Text","displayName":null,"name":"Missionary EID","value":"None"}]"#.into()
            ))
        );
        assert_eq!(gift.get("gift_url"), None, "urls are not synced");
        let (table, designation) = &rows[1];
        assert_eq!(*table, GIFT_DESIGNATIONS);
        assert_eq!(designation.get("id"), Some(&Value::String("803033".into())));
        assert_eq!(
            designation.get("gift_id"),
            Some(&Value::String("804011".into()))
        );
        assert_eq!(
            designation.get("project_id"),
            Some(&Value::String("1596".into()))
        );
        assert_eq!(
            designation.get("amount_designated"),
            Some(&Value::Decimal("5000".into()))
        );
    }

    #[test]
    fn a_short_gift_leaves_full_only_columns_out() {
        let mut issues = Issues::default();
        let rows = rows(Entity::Gift, &full_gift(), Shape::Short, &mut issues);
        assert_eq!(rows.len(), 1, "no designations from the short shape");
        let gift = &rows[0].1;
        assert!(gift.get("amount").is_some());
        for column in GIFTS_SPEC.full_only_columns() {
            assert_eq!(gift.get(column), None, "{column}");
        }
    }

    #[test]
    fn a_malformed_value_becomes_null_and_is_counted_never_a_bad_row() {
        let mut record = full_gift();
        record["modifiedDateTimeUtc"] = json!("2023-02-30T10:00:00");
        record["amount"] = json!("$5,000.00");
        record["giftDesignations"][0]["amountDesignated"] = json!({"oops": 1});
        record["giftDesignations"]
            .as_array_mut()
            .unwrap()
            .push(json!({"projectId": 1}));
        let mut issues = Issues::default();
        let rows = rows(Entity::Gift, &record, Shape::Full, &mut issues);
        let gift = &rows[0].1;
        assert_eq!(gift.get("modified_date_time_utc"), Some(&Value::Null));
        assert_eq!(gift.get("amount"), Some(&Value::Null));
        assert_eq!(
            gift.get("batch"),
            Some(&Value::String("iDonate 2022-12-11".into()))
        );
        assert_eq!(rows.len(), 2, "the designation without an id is dropped");
        assert_eq!(issues.total(), 4);
        let summary = issues.summary();
        assert!(
            summary.starts_with("4 values could not be read")
                && summary.contains("gifts.amount (1, e.g. \"$5,000.00\")")
                && summary.contains("gift_designations.id (1"),
            "{summary}"
        );
    }

    #[test]
    fn a_full_contact_becomes_a_contact_its_individuals_and_their_methods() {
        let record = json!({"id": 4821, "contactType": "Household", "name": "Wayne, Bruce", "isPrivate": false,
          "isArchived": true, "informalName": "Bruce", "mergedIntoContactId": null,
          "address": {"city": "Gotham"}, "tags": ["Donor"], "customFields": [], "contactReferences": [],
          "contactIndividuals": [
            {"id": 9012, "contactId": 4821, "firstName": "Bruce", "lastName": "Wayne", "isPrimary": true,
             "contactMethods": [
               {"id": 1, "type": "Home Email", "value": "b@wayne.example", "isPrimary": true, "isOptedIn": true},
               {"id": 2, "type": "Mobile Phone", "value": "555-0100", "isPrimary": false, "isOptedIn": false}]},
            {"id": 9013, "firstName": "Selina", "lastName": "Kyle", "isPrimary": false}],
          "createDateTimeUtc": "2024-01-15T09:23:00Z", "modifiedDateTimeUtc": "2024-12-15T14:30:00Z"});
        let mut issues = Issues::default();
        let rows = rows(Entity::Contact, &record, Shape::Full, &mut issues);
        assert!(issues.is_empty(), "{}", issues.summary());
        let tables: Vec<&str> = rows.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            tables,
            [
                CONTACTS,
                CONTACT_INDIVIDUALS,
                CONTACT_METHODS,
                CONTACT_METHODS,
                CONTACT_INDIVIDUALS
            ]
        );
        let contact = &rows[0].1;
        assert_eq!(contact.get("is_archived"), Some(&Value::Bool(true)));
        assert_eq!(
            contact.get("address"),
            Some(&Value::Json(r#"{"city":"Gotham"}"#.into()))
        );
        let selina = &rows[4].1;
        assert_eq!(
            selina.get("contact_id"),
            Some(&Value::String("4821".into()))
        );
        let phone = &rows[3].1;
        assert_eq!(
            phone.get("contact_individual_id"),
            Some(&Value::String("9012".into()))
        );
        assert_eq!(phone.get("contact_id"), Some(&Value::String("4821".into())));
        assert_eq!(phone.get("value"), Some(&Value::String("555-0100".into())));
    }

    #[test]
    fn campaigns_are_keyed_by_campaign_id() {
        let record = json!({"campaignId": 12, "name": "Gala 2024", "isActive": true,
            "startDate": "2024-03-01T00:00:00", "endDate": null,
            "createDateTimeUtc": "2024-01-01T00:00:00", "modifiedDateTimeUtc": "2024-01-02T00:00:00"});
        let mut issues = Issues::default();
        let rows = rows(Entity::Campaign, &record, Shape::Full, &mut issues);
        assert_eq!(rows[0].1.get("id"), Some(&Value::String("12".into())));
        assert_eq!(rows[0].1.get("end_date"), Some(&Value::Null));
        assert!(issues.is_empty());
    }

    #[test]
    fn error_rows_carry_the_range_and_its_context() {
        let range = ErroredRange {
            after: Some(500_120),
            before: None,
            positions: 1,
            request: "records with id > 500120, skip 0, take 1".into(),
            error: "status 500".into(),
            at: utc(2025, 1, 1, 0, 0, 0, 0),
        };
        let row = error_row(Entity::Gift, &range);
        assert_eq!(
            row.get("id"),
            Some(&Value::String("gifts:500120..end".into()))
        );
        assert_eq!(row.get("after_id"), Some(&Value::String("500120".into())));
        assert_eq!(row.get("before_id"), Some(&Value::Null));
        assert_eq!(row.get("error"), Some(&Value::String("status 500".into())));
        assert_eq!(error_key(Entity::Gift, &range).len(), 1);
    }

    #[test]
    fn schema_declares_every_table_with_string_keys() {
        let schema = schema();
        let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                CAMPAIGNS,
                PROJECTS,
                CONTACTS,
                CONTACT_INDIVIDUALS,
                CONTACT_METHODS,
                GIFTS,
                GIFT_DESIGNATIONS,
                SYNC_ERRORS
            ]
        );
        for table in &schema.tables {
            let keys: Vec<&str> = table.primary_key().collect();
            assert_eq!(keys, ["id"], "{}", table.name);
            assert_eq!(table.columns[0].ty, ColumnType::String, "{}", table.name);
        }
    }
}
