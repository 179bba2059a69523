//! Pure transforms from Virtuous JSON records to warehouse rows: no IO, no clock, no randomness.
//!
//! Conventions (those of the seed connector):
//! - numeric ids become STRING columns (`"804011"`), whether the API sends a number or a string;
//! - `…DateTimeUtc` timestamps become UTC_DATETIME. Virtuous writes UTC with or without `Z` and with or
//!   without fractions (`2023-01-23T23:41:41`, `…41.12`, `…41.1234567Z`); all are read as UTC. Calendar
//!   dates sent as midnight timestamps (`giftDate`, `receiptDate`, campaign start/end) become NAIVE_DATE;
//! - money is DECIMAL(18,2), nested objects and arrays are JSON columns, except the children users
//!   query on their own: contact individuals, their contact methods, and gift designations;
//! - a value that cannot be read becomes NULL and is counted (the kit's policy, [`crate::sdk::table`]);
//!   a record never fails a sync and a row never holds a misread value; a child without an id is
//!   dropped and counted, since it cannot be keyed.
//!
//! Each table is declared once as a kit [`TableSpec`], from which both the schema and the rows come.
//! Columns in the [`FULL_ONLY`] group are sent only by the `/Query/FullContact` and `/Query/FullGift`
//! endpoints; the short endpoints' extra fields (URLs, formatted copies of other fields, the short
//! contact's `email`/`phone`, which duplicate contact methods) are not synced.

use std::sync::LazyLock;

use crate::sdk::json::JsonView;
use crate::sdk::table::{read, ColumnSpec, Issues, Reader, TableSpec};
use crate::sdk::{Row, Schema, Value};
use crate::sync::ErroredRange;

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

/// The record kinds the connector syncs, in sync order (small reference tables first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    /// `/api/Campaign/Query`, keyed by `campaignId`.
    Campaign,
    /// `/api/Project/Query`.
    Project,
    /// `/api/Contact/Query[/FullContact]`.
    Contact,
    /// `/api/Gift/Query[/FullGift]`.
    Gift,
}

/// Which representation of a record to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `/Query`: top-level fields only.
    Short,
    /// `/Query/FullContact`, `/Query/FullGift` (nested children, custom fields; "meaningfully slower").
    Full,
}

impl Entity {
    /// Every entity, in sync order.
    pub const ALL: [Entity; 4] = [
        Entity::Campaign,
        Entity::Project,
        Entity::Contact,
        Entity::Gift,
    ];

    /// The parent table, also the entity's name in logs, state and `sync_errors`.
    pub fn table(self) -> &'static str {
        match self {
            Entity::Campaign => CAMPAIGNS,
            Entity::Project => PROJECTS,
            Entity::Contact => CONTACTS,
            Entity::Gift => GIFTS,
        }
    }

    /// The record's id, the pager's cursor (`campaignId` for campaigns, else `id`).
    pub fn record_id<'a>(self, record: impl JsonView<'a>) -> Option<u64> {
        let field = if self == Entity::Campaign {
            "campaignId"
        } else {
            "id"
        };
        read::unsigned(record.get(field)?)
    }

    /// Whether the entity has a short shape besides the Full one.
    pub fn has_short_shape(self) -> bool {
        matches!(self, Entity::Contact | Entity::Gift)
    }

    /// Small reference tables (projects, campaigns): read in full every sync, one page at a time.
    pub fn is_reference(self) -> bool {
        matches!(self, Entity::Project | Entity::Campaign)
    }

    /// Whether records can be hard-deleted (gifts); contacts are archived instead.
    pub fn is_deletable(self) -> bool {
        self == Entity::Gift
    }
}

/// The group of columns only the Full endpoints send.
pub const FULL_ONLY: &str = "full";

/// Money: DECIMAL(18,2).
const MONEY: Reader = Reader::Decimal {
    precision: 18,
    scale: 2,
};

fn col(field: &'static str, name: &'static str, reader: Reader) -> ColumnSpec {
    ColumnSpec::new(name, reader).from(field)
}

fn key(field: &'static str, name: &'static str) -> ColumnSpec {
    ColumnSpec::key(name, Reader::Id).from(field)
}

fn full(field: &'static str, name: &'static str, reader: Reader) -> ColumnSpec {
    col(field, name, reader).in_group(FULL_ONLY)
}

fn parent(name: &'static str) -> ColumnSpec {
    ColumnSpec::new(name, Reader::Id).given()
}

/// `contacts`.
pub static CONTACTS_SPEC: LazyLock<TableSpec> = LazyLock::new(|| {
    TableSpec::new(CONTACTS).columns([
        key("id", "id"),
        col("contactType", "contact_type", Reader::Text),
        col("name", "name", Reader::Text),
        col("isPrivate", "is_private", Reader::Bool),
        col("isArchived", "is_archived", Reader::Bool),
        col("address", "address", Reader::Json),
        col(
            "createDateTimeUtc",
            "create_date_time_utc",
            Reader::Timestamp,
        ),
        col(
            "modifiedDateTimeUtc",
            "modified_date_time_utc",
            Reader::Timestamp,
        ),
        full("informalName", "informal_name", Reader::Text),
        full("mergedIntoContactId", "merged_into_contact_id", Reader::Id),
        full("tags", "tags", Reader::Json),
        full("customFields", "custom_fields", Reader::Json),
        full("contactReferences", "contact_references", Reader::Json),
        full("organizationGroups", "organization_groups", Reader::Json),
        full("customCollections", "custom_collections", Reader::Json),
    ])
});

/// `contact_individuals` (from FullContact's `contactIndividuals`).
pub static CONTACT_INDIVIDUALS_SPEC: LazyLock<TableSpec> = LazyLock::new(|| {
    TableSpec::new(CONTACT_INDIVIDUALS).columns([
        key("id", "id"),
        parent("contact_id"),
        col("prefix", "prefix", Reader::Text),
        col("firstName", "first_name", Reader::Text),
        col("middleName", "middle_name", Reader::Text),
        col("lastName", "last_name", Reader::Text),
        col("suffix", "suffix", Reader::Text),
        col("isPrimary", "is_primary", Reader::Bool),
        col("isSecondary", "is_secondary", Reader::Bool),
        col("isDeceased", "is_deceased", Reader::Bool),
    ])
});

/// `contact_methods` (from each individual's `contactMethods`).
pub static CONTACT_METHODS_SPEC: LazyLock<TableSpec> = LazyLock::new(|| {
    TableSpec::new(CONTACT_METHODS).columns([
        key("id", "id"),
        parent("contact_individual_id"),
        parent("contact_id"),
        col("type", "type", Reader::Text),
        col("value", "value", Reader::Text),
        col("isOptedIn", "is_opted_in", Reader::Bool),
        col("isPrimary", "is_primary", Reader::Bool),
        col("canBePrimary", "can_be_primary", Reader::Bool),
    ])
});

/// `gifts`.
pub static GIFTS_SPEC: LazyLock<TableSpec> = LazyLock::new(|| {
    TableSpec::new(GIFTS).columns([
        key("id", "id"),
        col("contactId", "contact_id", Reader::Id),
        col("contactName", "contact_name", Reader::Text),
        col("giftType", "gift_type", Reader::Text),
        col("giftDate", "gift_date", Reader::Date),
        col("amount", "amount", MONEY),
        col("currencyCode", "currency_code", Reader::Text),
        col("batch", "batch", Reader::Text),
        col("transactionSource", "transaction_source", Reader::Text),
        col("transactionId", "transaction_id", Reader::Text),
        col(
            "createDateTimeUtc",
            "create_date_time_utc",
            Reader::Timestamp,
        ),
        col(
            "modifiedDateTimeUtc",
            "modified_date_time_utc",
            Reader::Timestamp,
        ),
        full("contactIndividualId", "contact_individual_id", Reader::Id),
        full("segmentId", "segment_id", Reader::Id),
        full("receiptDate", "receipt_date", Reader::Date),
        full("exchangeRate", "exchange_rate", Reader::Double),
        full("notes", "notes", Reader::Text),
        full("isPrivate", "is_private", Reader::Bool),
        full("isTaxDeductible", "is_tax_deductible", Reader::Bool),
        full("giftPremiums", "gift_premiums", Reader::Json),
        full("pledgePayments", "pledge_payments", Reader::Json),
        full(
            "recurringGiftPayments",
            "recurring_gift_payments",
            Reader::Json,
        ),
        full("customFields", "custom_fields", Reader::Json),
    ])
});

/// `gift_designations` (from FullGift's `giftDesignations`).
pub static GIFT_DESIGNATIONS_SPEC: LazyLock<TableSpec> = LazyLock::new(|| {
    TableSpec::new(GIFT_DESIGNATIONS).columns([
        key("id", "id"),
        parent("gift_id"),
        col("projectId", "project_id", Reader::Id),
        col("project", "project", Reader::Text),
        col("projectCode", "project_code", Reader::Text),
        col("amountDesignated", "amount_designated", MONEY),
    ])
});

/// `projects`.
pub static PROJECTS_SPEC: LazyLock<TableSpec> = LazyLock::new(|| {
    TableSpec::new(PROJECTS).columns([
        key("id", "id"),
        col("name", "name", Reader::Text),
        col("projectCode", "project_code", Reader::Text),
        col("type", "type", Reader::Text),
        col("description", "description", Reader::Text),
        col("isActive", "is_active", Reader::Bool),
        col("isPublic", "is_public", Reader::Bool),
        col("isTaxDeductible", "is_tax_deductible", Reader::Bool),
        col("onlineDisplayName", "online_display_name", Reader::Text),
        col(
            "externalAccountingCode",
            "external_accounting_code",
            Reader::Text,
        ),
        col(
            "createDateTimeUtc",
            "create_date_time_utc",
            Reader::Timestamp,
        ),
        col(
            "modifiedDateTimeUtc",
            "modified_date_time_utc",
            Reader::Timestamp,
        ),
    ])
});

/// `campaigns`.
pub static CAMPAIGNS_SPEC: LazyLock<TableSpec> = LazyLock::new(|| {
    TableSpec::new(CAMPAIGNS).columns([
        key("campaignId", "id"),
        col("name", "name", Reader::Text),
        col("description", "description", Reader::Text),
        col("isActive", "is_active", Reader::Bool),
        col("startDate", "start_date", Reader::Date),
        col("endDate", "end_date", Reader::Date),
        col(
            "createDateTimeUtc",
            "create_date_time_utc",
            Reader::Timestamp,
        ),
        col(
            "modifiedDateTimeUtc",
            "modified_date_time_utc",
            Reader::Timestamp,
        ),
    ])
});

/// `sync_errors`, written from the pager's errored ranges rather than from API records.
pub static SYNC_ERRORS_SPEC: LazyLock<TableSpec> = LazyLock::new(|| {
    TableSpec::new(SYNC_ERRORS).columns([
        ColumnSpec::key("id", Reader::Text),
        ColumnSpec::new("entity", Reader::Text),
        ColumnSpec::new("after_id", Reader::Id),
        ColumnSpec::new("before_id", Reader::Id),
        ColumnSpec::new("positions", Reader::Long),
        ColumnSpec::new("request", Reader::Text),
        ColumnSpec::new("error", Reader::Text),
        ColumnSpec::new("failed_at", Reader::Timestamp),
    ])
});

/// `contacts` as the short `/Query` endpoint sends them (no Full-only columns).
static CONTACTS_SHORT: LazyLock<TableSpec> =
    LazyLock::new(|| CONTACTS_SPEC.without_group(FULL_ONLY));
/// `gifts` as the short `/Query` endpoint sends them.
static GIFTS_SHORT: LazyLock<TableSpec> = LazyLock::new(|| GIFTS_SPEC.without_group(FULL_ONLY));

/// The tables an entity's records feed, parent first.
pub fn tables_of(entity: Entity) -> Vec<&'static TableSpec> {
    match entity {
        Entity::Contact => vec![
            &*CONTACTS_SPEC,
            &*CONTACT_INDIVIDUALS_SPEC,
            &*CONTACT_METHODS_SPEC,
        ],
        Entity::Gift => vec![&*GIFTS_SPEC, &*GIFT_DESIGNATIONS_SPEC],
        Entity::Project => vec![&*PROJECTS_SPEC],
        Entity::Campaign => vec![&*CAMPAIGNS_SPEC],
    }
}

/// The parent table's spec for records of `shape`.
fn parent_spec(entity: Entity, shape: Shape) -> &'static TableSpec {
    match (entity, shape) {
        (Entity::Contact, Shape::Short) => &CONTACTS_SHORT,
        (Entity::Gift, Shape::Short) => &GIFTS_SHORT,
        (entity, _) => tables_of(entity)[0],
    }
}

/// The connector's schema: every entity's tables, then `sync_errors`.
pub fn schema() -> Schema {
    let tables = Entity::ALL
        .iter()
        .flat_map(|e| tables_of(*e))
        .chain(std::iter::once(&*SYNC_ERRORS_SPEC))
        .map(TableSpec::def)
        .collect();
    Schema::new(tables)
}

/// Every row one API record of `entity` produces, as `(table, row)` in parent-first order. Short
/// records produce only the parent row. Unreadable values and unkeyed children are counted in
/// `issues` (the kit's policy).
pub fn rows<'a>(
    entity: Entity,
    record: impl JsonView<'a>,
    shape: Shape,
    issues: &mut Issues,
) -> Vec<(&'static str, Row)> {
    let spec = parent_spec(entity, shape);
    let Some(parent) = spec.row(record, &[], issues) else {
        return Vec::new();
    };
    let parent_id = parent.get("id").cloned().unwrap_or(Value::Null);
    let mut out = vec![(spec.name(), parent)];
    if shape == Shape::Short {
        return out;
    }
    match entity {
        Entity::Contact => {
            for individual in array(record, "contactIndividuals") {
                let given = [("contact_id", parent_id.clone())];
                let Some(row) = CONTACT_INDIVIDUALS_SPEC.row(individual, &given, issues) else {
                    continue;
                };
                let individual_id = row.get("id").cloned().unwrap_or(Value::Null);
                out.push((CONTACT_INDIVIDUALS, row));
                let given = [
                    ("contact_individual_id", individual_id),
                    ("contact_id", parent_id.clone()),
                ];
                for method in array(individual, "contactMethods") {
                    if let Some(row) = CONTACT_METHODS_SPEC.row(method, &given, issues) {
                        out.push((CONTACT_METHODS, row));
                    }
                }
            }
        }
        Entity::Gift => {
            let given = [("gift_id", parent_id)];
            for designation in array(record, "giftDesignations") {
                if let Some(row) = GIFT_DESIGNATIONS_SPEC.row(designation, &given, issues) {
                    out.push((GIFT_DESIGNATIONS, row));
                }
            }
        }
        Entity::Project | Entity::Campaign => {}
    }
    out
}

fn array<'a, J: JsonView<'a>>(record: J, field: &str) -> impl Iterator<Item = J> + 'a {
    record.get(field).into_iter().flat_map(JsonView::items)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::ColumnType;
    use chrono::{DateTime, NaiveDate, TimeZone, Utc};
    use serde_json::json;
    use serde_json::Value as Json;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
            + chrono::Duration::milliseconds(ms.into())
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
        assert!(issues.is_empty(), "{:?}", issues.take_warnings());
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
        for column in GIFTS_SPEC.group_columns(FULL_ONLY) {
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
        let warnings = issues.take_warnings();
        assert!(
            warnings.iter().any(
                |w| w.starts_with("gifts.amount: 1 values could not be read")
                    && w.contains("id=804011: \"$5,000.00\"")
            ),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("gift_designations.id: 1 records were skipped")),
            "{warnings:?}"
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
        assert!(issues.is_empty(), "{:?}", issues.take_warnings());
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
