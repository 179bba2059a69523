//! EveryAction's tables, declared once on the kit, the endpoints and export resources they come from,
//! and the readings of the API's job answers. No I/O, no clock.
//!
//! Type conventions: ids are STRING (the API sends numbers), timestamps are UTC_DATETIME (the API writes
//! local offsets and 7-digit fractions, `2019-01-31T15:05:54.2106809-04:00`, and `Z` times), nested
//! structures (survey responses, event shifts and locations) are JSON. Fields the API sends beyond the
//! declared ones pass through as they come: on the export tables these are the custom fields (`CF{id}`
//! columns), on the list tables attributes the API adds later. Unreadable values follow the kit's
//! policy ([`crate::sdk::table`]): NULL plus one warning per column.
//!
//! Column names are the API's own (`activistCodeId`, `VanID`); the destination's naming turns them
//! into `activist_code_id`, `van_id`.

use std::sync::LazyLock;

use serde_json::Value as Json;

use crate::sdk::json::JsonView;
use crate::sdk::table::{read, ColumnSpec, Reader, TableSpec};
use crate::sdk::{Row, Schema};
use crate::sync::CsvCheck;

/// A paged or bare-array list endpoint and the table it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListEndpoint {
    /// `GET activistCodes` → `activist_codes`.
    ActivistCodes,
    /// `GET surveyQuestions` → `survey_questions` (responses nested).
    SurveyQuestions,
    /// `GET events` → `events` (at most 50 per page; shifts and locations expanded).
    Events,
    /// `GET events/types` → `event_types` (a bare array).
    EventTypes,
    /// `GET codes` → `codes` (supported entities expanded).
    Codes,
    /// `GET savedLists` → `saved_lists` (its `nextPageLink` can outlive the last page).
    SavedLists,
    /// `GET users` → `users` (a key may lack the permission: 403).
    Users,
    /// `GET customFields` → `custom_fields` (a bare array, both group types).
    CustomFields,
}

impl ListEndpoint {
    /// Every list endpoint, in sync order.
    pub const ALL: [ListEndpoint; 8] = [
        ListEndpoint::ActivistCodes,
        ListEndpoint::SurveyQuestions,
        ListEndpoint::Events,
        ListEndpoint::EventTypes,
        ListEndpoint::Codes,
        ListEndpoint::SavedLists,
        ListEndpoint::Users,
        ListEndpoint::CustomFields,
    ];

    /// The path under the base URL.
    pub fn path(self) -> &'static str {
        match self {
            ListEndpoint::ActivistCodes => "activistCodes",
            ListEndpoint::SurveyQuestions => "surveyQuestions",
            ListEndpoint::Events => "events",
            ListEndpoint::EventTypes => "events/types",
            ListEndpoint::Codes => "codes",
            ListEndpoint::SavedLists => "savedLists",
            ListEndpoint::Users => "users",
            ListEndpoint::CustomFields => "customFields",
        }
    }

    /// `$top` of every page: the endpoint's documented maximum (`events` 50, the others 200; `users`
    /// documents none, and 200 keeps its pages bounded). `None`: the endpoint answers a bare array.
    pub fn page_size(self) -> Option<u32> {
        match self {
            ListEndpoint::EventTypes | ListEndpoint::CustomFields => None,
            ListEndpoint::Events => Some(50),
            _ => Some(200),
        }
    }

    /// The `$expand` sent with the first page (the `nextPageLink` carries it on).
    pub fn expand(self) -> Option<&'static str> {
        match self {
            ListEndpoint::Events => Some("shifts,locations"),
            ListEndpoint::Codes => Some("supportedEntities"),
            _ => None,
        }
    }

    /// Whether a pass ends at an empty page even if it carries a `nextPageLink` (parsons' fix for
    /// `savedLists`, whose link can stay non-null on the last and on empty pages).
    pub fn stop_on_empty(self) -> bool {
        self == ListEndpoint::SavedLists
    }

    /// The table.
    pub fn table(self) -> &'static str {
        self.spec().name()
    }

    /// The primary-key field of the items (also the key column).
    pub fn key(self) -> &'static str {
        match self {
            ListEndpoint::ActivistCodes => "activistCodeId",
            ListEndpoint::SurveyQuestions => "surveyQuestionId",
            ListEndpoint::Events => "eventId",
            ListEndpoint::EventTypes => "eventTypeId",
            ListEndpoint::Codes => "codeId",
            ListEndpoint::SavedLists => "savedListId",
            ListEndpoint::Users => "userId",
            ListEndpoint::CustomFields => "customFieldId",
        }
    }

    /// The table's declaration.
    pub fn spec(self) -> &'static TableSpec {
        match self {
            ListEndpoint::ActivistCodes => &ACTIVIST_CODES,
            ListEndpoint::SurveyQuestions => &SURVEY_QUESTIONS,
            ListEndpoint::Events => &EVENTS,
            ListEndpoint::EventTypes => &EVENT_TYPES,
            ListEndpoint::Codes => &CODES,
            ListEndpoint::SavedLists => &SAVED_LISTS,
            ListEndpoint::Users => &USERS,
            ListEndpoint::CustomFields => &CUSTOM_FIELDS,
        }
    }
}

/// A changed-entity export resource and the table it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// `Contacts` → `contacts`, keyed by `VanID`.
    Contacts,
    /// `Contributions` → `contributions`, keyed by `ContributionID`.
    Contributions,
    /// `ContactsActivistCodes` → `contacts_activist_codes`, keyed by `ContactsActivistCodeID`.
    ContactsActivistCodes,
    /// `ContactsSurveyResponses` → `contacts_survey_responses`, keyed by `ContactsSurveyResponseID`.
    ContactsSurveyResponses,
}

impl Resource {
    /// Every resource, in sync order.
    pub const ALL: [Resource; 4] = [
        Resource::Contacts,
        Resource::Contributions,
        Resource::ContactsActivistCodes,
        Resource::ContactsSurveyResponses,
    ];

    /// The `resourceType`.
    pub fn api_name(self) -> &'static str {
        match self {
            Resource::Contacts => "Contacts",
            Resource::Contributions => "Contributions",
            Resource::ContactsActivistCodes => "ContactsActivistCodes",
            Resource::ContactsSurveyResponses => "ContactsSurveyResponses",
        }
    }

    /// The table.
    pub fn table(self) -> &'static str {
        self.spec().name()
    }

    /// The primary-key column of the CSV.
    pub fn key(self) -> &'static str {
        match self {
            Resource::Contacts => "VanID",
            Resource::Contributions => "ContributionID",
            Resource::ContactsActivistCodes => "ContactsActivistCodeID",
            Resource::ContactsSurveyResponses => "ContactsSurveyResponseID",
        }
    }

    /// The table's declaration.
    pub fn spec(self) -> &'static TableSpec {
        match self {
            Resource::Contacts => &CONTACTS,
            Resource::Contributions => &CONTRIBUTIONS,
            Resource::ContactsActivistCodes => &CONTACTS_ACTIVIST_CODES,
            Resource::ContactsSurveyResponses => &CONTACTS_SURVEY_RESPONSES,
        }
    }

    /// What a file of this export must hold: its key and the change type.
    pub fn csv_check(self) -> CsvCheck {
        CsvCheck::columns(&[self.key(), CHANGE_TYPE])
    }
}

/// The CSV column saying how a record changed (`changedEntityExportJobs/changeTypes`).
pub const CHANGE_TYPE: &str = "ChangeTypeID";

/// Columns read from the fields of the same names.
fn fields(columns: &'static [(&'static str, Reader)]) -> impl Iterator<Item = ColumnSpec> {
    columns
        .iter()
        .map(|(c, reader)| ColumnSpec::new(*c, *reader))
}

fn list_table(
    name: &str,
    key: &'static str,
    columns: &'static [(&'static str, Reader)],
) -> TableSpec {
    TableSpec::new(name)
        .column(ColumnSpec::key(key, Reader::Id))
        .columns(fields(columns))
        .passthrough_undeclared()
}

/// `activist_codes` (archived codes stay listed with their `status`).
pub static ACTIVIST_CODES: LazyLock<TableSpec> = LazyLock::new(|| {
    list_table(
        "activist_codes",
        "activistCodeId",
        &[
            ("type", Reader::Text),
            ("name", Reader::Text),
            ("mediumName", Reader::Text),
            ("shortName", Reader::Text),
            ("description", Reader::Text),
            ("scriptQuestion", Reader::Text),
            ("status", Reader::Text),
            ("isMultiAssign", Reader::Bool),
        ],
    )
});

/// `survey_questions`, their responses as JSON.
pub static SURVEY_QUESTIONS: LazyLock<TableSpec> = LazyLock::new(|| {
    list_table(
        "survey_questions",
        "surveyQuestionId",
        &[
            ("type", Reader::Text),
            ("cycle", Reader::Int),
            ("name", Reader::Text),
            ("mediumName", Reader::Text),
            ("shortName", Reader::Text),
            ("scriptQuestion", Reader::Text),
            ("status", Reader::Text),
            ("responses", Reader::Json),
        ],
    )
});

/// `events`, the event type flattened, shifts and locations as JSON.
pub static EVENTS: LazyLock<TableSpec> = LazyLock::new(|| {
    list_table(
        "events",
        "eventId",
        &[
            ("name", Reader::Text),
            ("shortName", Reader::Text),
            ("description", Reader::Text),
            ("startDate", Reader::Timestamp),
            ("endDate", Reader::Timestamp),
            ("dotNetTimeZoneId", Reader::Text),
            ("isOnlyEditableByCreatingUser", Reader::Bool),
            ("isPubliclyViewable", Reader::Bool),
            ("isActive", Reader::Bool),
            ("createdDate", Reader::Timestamp),
            ("districtFieldValue", Reader::Text),
            ("shifts", Reader::Json),
            ("locations", Reader::Json),
        ],
    )
    .column(ColumnSpec::new("eventTypeId", Reader::Id).from("eventType.eventTypeId"))
    .column(ColumnSpec::new("eventTypeName", Reader::Text).from("eventType.name"))
});

/// `event_types`, roles, statuses and the default location as JSON.
pub static EVENT_TYPES: LazyLock<TableSpec> = LazyLock::new(|| {
    list_table(
        "event_types",
        "eventTypeId",
        &[
            ("name", Reader::Text),
            ("canHaveMultipleShifts", Reader::Bool),
            ("canHaveMultipleLocations", Reader::Bool),
            ("canHaveGoals", Reader::Bool),
            ("canHaveRoleMaximums", Reader::Bool),
            ("canHaveRoleMinimums", Reader::Bool),
            ("canBeRepeatable", Reader::Bool),
            ("roles", Reader::Json),
            ("statuses", Reader::Json),
            ("color", Reader::Text),
            ("isAtLeastOneLocationRequired", Reader::Bool),
            ("defaultLocation", Reader::Json),
            ("isSharedWithMasterCommitteeByDefault", Reader::Bool),
            ("isSharedWithChildCommitteesByDefault", Reader::Bool),
            ("isOnlineActionsAvailable", Reader::Bool),
        ],
    )
});

/// `codes` (source codes and tags), supported entities as JSON.
pub static CODES: LazyLock<TableSpec> = LazyLock::new(|| {
    list_table(
        "codes",
        "codeId",
        &[
            ("parentCodeId", Reader::Id),
            ("name", Reader::Text),
            ("description", Reader::Text),
            ("codePath", Reader::Text),
            ("createdByName", Reader::Text),
            ("dateCreated", Reader::Timestamp),
            ("supportedEntities", Reader::Json),
            ("codeType", Reader::Text),
            ("campaign", Reader::Text),
            ("contactType", Reader::Text),
        ],
    )
});

/// `saved_lists`.
pub static SAVED_LISTS: LazyLock<TableSpec> = LazyLock::new(|| {
    list_table(
        "saved_lists",
        "savedListId",
        &[
            ("name", Reader::Text),
            ("description", Reader::Text),
            ("listCount", Reader::Long),
            ("doorCount", Reader::Long),
        ],
    )
});

/// `users`.
pub static USERS: LazyLock<TableSpec> = LazyLock::new(|| {
    list_table(
        "users",
        "userId",
        &[("firstName", Reader::Text), ("lastName", Reader::Text)],
    )
});

/// `custom_fields` of both group types (Contacts, Contributions), available values as JSON.
pub static CUSTOM_FIELDS: LazyLock<TableSpec> = LazyLock::new(|| {
    list_table(
        "custom_fields",
        "customFieldId",
        &[
            ("customFieldParentId", Reader::Id),
            ("customFieldName", Reader::Text),
            ("customFieldGroupId", Reader::Id),
            ("customFieldGroupName", Reader::Text),
            ("customFieldGroupType", Reader::Text),
            ("customFieldTypeId", Reader::Text),
            ("isEditable", Reader::Bool),
            ("isExportable", Reader::Bool),
            ("maxTextboxCharacters", Reader::Int),
            ("availableValues", Reader::Json),
        ],
    )
});

/// An export table: its key, the core columns every export has, then `columns`; custom fields pass
/// through; blank CSV fields are NULL.
fn export_table(
    name: &str,
    key: &'static str,
    columns: &'static [(&'static str, Reader)],
) -> TableSpec {
    TableSpec::new(name)
        .column(ColumnSpec::key(key, Reader::Id))
        .columns(fields(&[
            (CHANGE_TYPE, Reader::Int),
            ("DateChanged", Reader::Timestamp),
            ("DateCreated", Reader::Timestamp),
        ]))
        .columns(fields(columns))
        .passthrough_undeclared()
        .blank_is_null()
}

/// Money columns: two decimals.
const MONEY: Reader = Reader::Decimal {
    precision: 18,
    scale: 2,
};

/// `contacts` (people).
pub static CONTACTS: LazyLock<TableSpec> = LazyLock::new(|| {
    export_table(
        "contacts",
        "VanID",
        &[
            ("FirstName", Reader::Text),
            ("LastName", Reader::Text),
            ("MiddleName", Reader::Text),
            ("Email", Reader::Text),
            ("Phone", Reader::Text),
            ("AddressLine1", Reader::Text),
            ("City", Reader::Text),
            ("State", Reader::Text),
            ("Zip5", Reader::Text),
            ("EmployerName", Reader::Text),
        ],
    )
});

/// `contributions`.
pub static CONTRIBUTIONS: LazyLock<TableSpec> = LazyLock::new(|| {
    export_table(
        "contributions",
        "ContributionID",
        &[
            ("VanID", Reader::Id),
            ("DateReceived", Reader::Timestamp),
            ("Amount", MONEY),
            ("PaymentType", Reader::Text),
            ("Designation", Reader::Text),
            ("SourceCode", Reader::Text),
            ("Note", Reader::Text),
            ("IsRecurring", Reader::Bool),
        ],
    )
});

/// `contacts_activist_codes`: activist codes applied to people.
pub static CONTACTS_ACTIVIST_CODES: LazyLock<TableSpec> = LazyLock::new(|| {
    export_table(
        "contacts_activist_codes",
        "ContactsActivistCodeID",
        &[
            ("VanID", Reader::Id),
            ("ActivistCodeID", Reader::Id),
            ("ActivistCodeName", Reader::Text),
            ("DateCanvassed", Reader::Timestamp),
            ("ContactTypeName", Reader::Text),
        ],
    )
});

/// `contacts_survey_responses`: people's answers to survey questions.
pub static CONTACTS_SURVEY_RESPONSES: LazyLock<TableSpec> = LazyLock::new(|| {
    export_table(
        "contacts_survey_responses",
        "ContactsSurveyResponseID",
        &[
            ("VanID", Reader::Id),
            ("SurveyQuestionID", Reader::Id),
            ("SurveyResponseID", Reader::Id),
            ("SurveyResponseName", Reader::Text),
            ("DateCanvassed", Reader::Timestamp),
            ("ContactTypeName", Reader::Text),
            ("IsBatchEntry", Reader::Bool),
        ],
    )
});

/// The connector's tables, in sync order.
pub fn schema() -> Schema {
    Schema::new(
        ListEndpoint::ALL
            .iter()
            .map(|e| e.spec().def())
            .chain(Resource::ALL.iter().map(|r| r.spec().def()))
            .collect(),
    )
}

/// Whether an export row says the record is gone: `ChangeTypeID` 3 (Deleted) or 4 (Suppressed), the
/// rows `includeInactive` adds. Anything else (1 Created, 2 Updated, unreadable) is a live record.
pub fn is_removal<'a>(record: impl JsonView<'a>) -> bool {
    matches!(record.get(CHANGE_TYPE).and_then(read::integer), Some(3 | 4))
}

/// The key columns of `row` alone (what a delete carries).
pub fn key_of(row: &Row, key: &'static str) -> Row {
    let mut keys = Row::with_capacity(1);
    if let Some(value) = row.get(key) {
        keys.set(key, value.clone());
    }
    keys
}

/// A record's id as a number, for the set of ids a list pass remembers.
pub fn list_id(row: &Row, key: &str) -> Option<u64> {
    match row.get(key) {
        Some(crate::sdk::Value::String(text)) => text.parse().ok(),
        _ => None,
    }
}

/// What one field of `changedEntityExportJobs/fields/{resourceType}` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportField {
    /// `fieldName` (`VanID`, `CF12`).
    pub name: String,
    /// `isCoreField`: exported whether asked for or not.
    pub core: bool,
    /// The id of a custom field (named `CF{customFieldId}`), asked for by id.
    pub custom_id: Option<u64>,
}

/// The custom field id of a column named `CF{id}`.
fn custom_field_id(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("CF")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The fields of a `fields/{resourceType}` answer (entries without a name are skipped).
pub fn export_fields(answer: &Json) -> Vec<ExportField> {
    answer
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .filter_map(|f| {
                    let name = f["fieldName"].as_str()?.trim();
                    (!name.is_empty()).then(|| ExportField {
                        name: name.to_owned(),
                        core: read::boolean(&f["isCoreField"]).unwrap_or(false),
                        custom_id: custom_field_id(name),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `exportJobId` of a created job.
pub fn job_id(created: &Json) -> Option<u64> {
    read::unsigned(&created["exportJobId"])
}

/// What a polled job says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// `Pending` or `InProcess`.
    Running,
    /// `Complete`: its files' download URLs in order, and `exportedRecordCount`.
    Complete {
        /// `files[].downloadUrl`, in order.
        files: Vec<String>,
        /// `exportedRecordCount`, when given.
        records: Option<u64>,
    },
    /// `Error` (with the API's message and code), a complete job without its URLs, or a status
    /// nobody knows: never polled forever.
    Failed(String),
}

/// Reads a job answer of `GET changedEntityExportJobs/{id}`.
pub fn job_state(job: &Json) -> JobState {
    let status = job["jobStatus"].as_str().unwrap_or_default();
    match status {
        "Pending" | "InProcess" => JobState::Running,
        "Complete" => {
            let files = job["files"].as_array().map(|files| {
                files
                    .iter()
                    .map(|f| f["downloadUrl"].as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
            });
            match files {
                Some(Some(files)) => JobState::Complete {
                    files,
                    records: read::unsigned(&job["exportedRecordCount"]),
                },
                _ => JobState::Failed("the complete job lists no download URLs".into()),
            }
        }
        "Error" => JobState::Failed(format!(
            "the api reported an error: {} (code {})",
            job["message"].as_str().unwrap_or("no message"),
            job["code"].as_str().unwrap_or("none")
        )),
        other => JobState::Failed(format!("unknown job status {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::table::Issues;
    use crate::sdk::{ColumnType, Value};
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn at(text: &str) -> Value {
        Value::UtcDateTime(text.parse::<DateTime<Utc>>().unwrap())
    }

    use crate::sync::decode::text_record as csv;

    #[test]
    fn an_event_flattens_its_type_keeps_shifts_as_json_and_reads_offsets_and_fractions() {
        let mut issues = Issues::default();
        let event = json!({"eventId": 1370, "name": "Canvass", "startDate": "2024-11-20T10:03:12.1234567-04:00",
            "endDate": "2024-11-20T14:00:00-04:00", "createdDate": "2024-10-01T12:00:00Z",
            "eventType": {"eventTypeId": 7, "name": "Phone Bank"}, "isActive": false,
            "shifts": [{"eventShiftId": 1, "name": "Morning"}], "locations": null, "roles": null});
        let row = EVENTS.row(&event, &[], &mut issues).unwrap();
        assert!(issues.is_empty());
        assert_eq!(row.get("eventId"), Some(&Value::String("1370".into())));
        assert_eq!(row.get("eventTypeId"), Some(&Value::String("7".into())));
        assert_eq!(
            row.get("eventTypeName"),
            Some(&Value::String("Phone Bank".into()))
        );
        assert_eq!(
            row.get("startDate"),
            Some(&at("2024-11-20T14:03:12.1234567Z"))
        );
        assert_eq!(row.get("createdDate"), Some(&at("2024-10-01T12:00:00Z")));
        assert_eq!(row.get("isActive"), Some(&Value::Bool(false)));
        assert_eq!(
            row.get("shifts"),
            Some(&Value::Json(
                r#"[{"eventShiftId":1,"name":"Morning"}]"#.into()
            ))
        );
        assert_eq!(row.get("eventType"), None, "read by the flattened columns");
    }

    #[test]
    fn an_export_row_is_typed_blank_is_null_and_custom_fields_pass_through() {
        let mut issues = Issues::default();
        let record = csv(&[
            ("ContributionID", "4001"),
            ("VanID", "1000023"),
            ("ChangeTypeID", "2"),
            ("DateChanged", "2024-12-30T09:15:00.5000000-04:00"),
            ("DateReceived", "2024-12-29T00:00:00-04:00"),
            ("Amount", "25.00"),
            ("Note", ""),
            ("IsRecurring", "True"),
            ("CF12", "Gold"),
            ("CF13", ""),
        ]);
        let row = CONTRIBUTIONS.row(&record, &[], &mut issues).unwrap();
        assert!(issues.is_empty(), "{:?}", issues.take_warnings());
        assert_eq!(
            row.get("ContributionID"),
            Some(&Value::String("4001".into()))
        );
        assert_eq!(row.get("ChangeTypeID"), Some(&Value::Int(2)));
        assert_eq!(row.get("DateChanged"), Some(&at("2024-12-30T13:15:00.5Z")));
        assert_eq!(row.get("DateReceived"), Some(&at("2024-12-29T04:00:00Z")));
        assert_eq!(row.get("Amount"), Some(&Value::Decimal("25.00".into())));
        assert_eq!(row.get("Note"), Some(&Value::Null));
        assert_eq!(row.get("IsRecurring"), Some(&Value::Bool(true)));
        assert_eq!(row.get("CF12"), Some(&Value::String("Gold".into())));
        assert_eq!(row.get("CF13"), Some(&Value::Null));
        assert!(!is_removal(&record));
        assert_eq!(
            key_of(&row, "ContributionID").columns().len(),
            1,
            "a delete carries the key alone"
        );
    }

    #[test]
    fn deleted_and_suppressed_rows_are_removals_and_bad_values_are_counted() {
        for (change, removed) in [
            ("1", false),
            ("2", false),
            ("3", true),
            ("4", true),
            ("x", false),
        ] {
            assert_eq!(
                is_removal(&csv(&[("ChangeTypeID", change)])),
                removed,
                "{change}"
            );
        }
        let mut issues = Issues::default();
        let row = CONTACTS
            .row(
                &csv(&[("VanID", "101"), ("DateCreated", "yesterday")]),
                &[],
                &mut issues,
            )
            .unwrap();
        assert_eq!(row.get("DateCreated"), Some(&Value::Null));
        assert_eq!(issues.count("contacts", "DateCreated"), 1);
        assert!(CONTACTS
            .row(&csv(&[("VanID", "")]), &[], &mut issues)
            .is_none());
        assert_eq!(issues.count("contacts", "VanID"), 1);
    }

    #[test]
    fn job_answers() {
        assert_eq!(
            job_id(&json!({"exportJobId": 2170181229u64})),
            Some(2_170_181_229)
        );
        assert_eq!(
            job_state(&json!({"jobStatus": "InProcess"})),
            JobState::Running
        );
        let complete = json!({"jobStatus": "Complete", "exportedRecordCount": 10500,
            "files": [{"downloadUrl": "https://x/1.csv"}, {"downloadUrl": "https://x/2.csv"}]});
        assert_eq!(
            job_state(&complete),
            JobState::Complete {
                files: vec!["https://x/1.csv".into(), "https://x/2.csv".into()],
                records: Some(10_500)
            }
        );
        assert!(matches!(
            job_state(&json!({"jobStatus": "Error", "message": "boom", "code": "A1"})),
            JobState::Failed(m) if m.contains("boom") && m.contains("A1")
        ));
        assert!(matches!(
            job_state(&json!({"jobStatus": "Complete", "files": [{}]})),
            JobState::Failed(_)
        ));
        assert!(matches!(job_state(&json!({})), JobState::Failed(_)));
        let fields = export_fields(&json!([{"fieldName": "VanID", "isCoreField": true},
            {"fieldName": "CF3", "isCoreField": false}, {"fieldName": "CFO"}, {"fieldType": "T"}]));
        assert_eq!(
            fields,
            vec![
                ExportField {
                    name: "VanID".into(),
                    core: true,
                    custom_id: None
                },
                ExportField {
                    name: "CF3".into(),
                    core: false,
                    custom_id: Some(3)
                },
                ExportField {
                    name: "CFO".into(),
                    core: false,
                    custom_id: None
                }
            ]
        );
    }

    #[test]
    fn the_schema_keys_every_table_by_the_api_id_as_a_string() {
        let schema = schema();
        assert_eq!(schema.tables.len(), 12);
        for endpoint in ListEndpoint::ALL {
            let table = schema.table(None, endpoint.table()).unwrap();
            assert_eq!(table.primary_key().collect::<Vec<_>>(), [endpoint.key()]);
            assert_eq!(table.columns[0].ty, ColumnType::String);
        }
        for resource in Resource::ALL {
            let table = schema.table(None, resource.table()).unwrap();
            assert_eq!(table.primary_key().collect::<Vec<_>>(), [resource.key()]);
            let changed = table
                .columns
                .iter()
                .find(|c| c.name == "DateChanged")
                .unwrap();
            assert_eq!(changed.ty, ColumnType::UtcDateTime);
        }
    }
}
