//! Changed-entity export resources: their fields, their CSV rows, which rows a job selects,
//! and how a job's output is split into files.
//!
//! Choices where the sources are silent (the docs name the resources and the field metadata
//! but show no CSV):
//! - column names are PascalCase like the one documented example (`ActivistCodeID`,
//!   `ActivistCodeType`) and the warehouse tables public VAN syncs produce (`VanID`,
//!   `DateCreated`, `DateCanvassed`, `ContactsActivistCodeID`);
//! - every resource has the core columns `ChangeTypeID` (see
//!   `changedEntityExportJobs/changeTypes/{resourceType}`: 1 Created, 2 Updated, 3 Deleted,
//!   4 Suppressed) and `DateChanged` (the record's latest change);
//! - **inactive rows** (suppressed or deleted people, deleted contributions, removed codes and
//!   responses) appear only with `includeInactive: true`, and say so in `ChangeTypeID`
//!   (3 Deleted or 4 Suppressed); without it they are absent;
//! - custom fields are columns named `CF{customFieldId}`, requested by
//!   `requestedCustomFieldIds` (or by that name in `requestedFields`), after the standard
//!   columns in request order; standard columns keep the order of the `fields` endpoint;
//! - dates are written like the JSON's precise timestamps (`2024-11-20T10:03:12.1234567-04:00`),
//!   booleans `True`/`False`, money with two decimals, empty values as nothing; fields are
//!   quoted when they hold a comma, a quote or a line break, and records end with CRLF;
//! - a job selects each record created or changed in `[dateChangedFrom, dateChangedTo]` (its
//!   history is known, so a record changed in the window and again later is included, in its
//!   current version), plus `requestedIds` (`VanID`s; `ContributionID`s for Contributions);
//! - files are split between units (a record; for the per-person tables, all rows of one
//!   person): each file repeats the header and stays within `fileSizeKbLimit` KiB unless one
//!   unit alone exceeds it. A job with no rows still has one file, holding the header.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::simulator::rng::tag;

use super::dataset::{
    ChildKind, ChildRow, Entity, EveryActionData, Mode, ModeData, State, Ticks, View,
    MAX_BASE_DELAY,
};
use super::records::{
    self, custom_field_name, fmt_local, fmt_precise, survey_response_id, survey_response_name,
    CustomFieldSpec, FIRST_NAMES, LAST_NAMES, PLACES,
};

/// The changed-entity resource types the simulator exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Resource {
    /// People; key `VanID`.
    Contacts,
    /// Contributions; key `ContributionID`.
    Contributions,
    /// Activist codes applied to people; key `ContactsActivistCodeID`.
    ContactsActivistCodes,
    /// Survey responses of people; key `ContactsSurveyResponseID`.
    ContactsSurveyResponses,
}

/// A field's type letter in the `fields` endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    Bool,
    Text,
    Date,
    Number,
    Money,
}

impl FieldType {
    pub(crate) fn letter(self) -> &'static str {
        match self {
            FieldType::Bool => "B",
            FieldType::Text => "T",
            FieldType::Date => "D",
            FieldType::Number => "N",
            FieldType::Money => "M",
        }
    }
}

/// One standard field of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) kind: FieldType,
    pub(crate) max_chars: Option<u32>,
    pub(crate) core: bool,
}

const fn core(name: &'static str, kind: FieldType) -> Field {
    Field {
        name,
        kind,
        max_chars: None,
        core: true,
    }
}

const fn text(name: &'static str, max: u32, core: bool) -> Field {
    Field {
        name,
        kind: FieldType::Text,
        max_chars: Some(max),
        core,
    }
}

const fn optional(name: &'static str, kind: FieldType) -> Field {
    Field {
        name,
        kind,
        max_chars: None,
        core: false,
    }
}

const CONTACT_FIELDS: &[Field] = &[
    core("VanID", FieldType::Number),
    core("ChangeTypeID", FieldType::Number),
    core("DateChanged", FieldType::Date),
    core("DateCreated", FieldType::Date),
    text("FirstName", 50, true),
    text("LastName", 50, true),
    text("MiddleName", 50, false),
    text("Email", 100, false),
    text("Phone", 20, false),
    text("AddressLine1", 100, false),
    text("City", 50, false),
    text("State", 2, false),
    text("Zip5", 5, false),
    text("EmployerName", 100, false),
];

const CONTRIBUTION_FIELDS: &[Field] = &[
    core("ContributionID", FieldType::Number),
    core("VanID", FieldType::Number),
    core("ChangeTypeID", FieldType::Number),
    core("DateChanged", FieldType::Date),
    core("DateCreated", FieldType::Date),
    core("DateReceived", FieldType::Date),
    core("Amount", FieldType::Money),
    text("PaymentType", 30, false),
    text("Designation", 100, false),
    text("SourceCode", 50, false),
    text("Note", 500, false),
    optional("IsRecurring", FieldType::Bool),
];

const ACTIVIST_CODE_FIELDS: &[Field] = &[
    core("ContactsActivistCodeID", FieldType::Number),
    core("VanID", FieldType::Number),
    core("ActivistCodeID", FieldType::Number),
    text("ActivistCodeName", 100, true),
    core("DateCreated", FieldType::Date),
    core("DateCanvassed", FieldType::Date),
    core("ChangeTypeID", FieldType::Number),
    core("DateChanged", FieldType::Date),
    text("ContactTypeName", 30, false),
];

const SURVEY_RESPONSE_FIELDS: &[Field] = &[
    core("ContactsSurveyResponseID", FieldType::Number),
    core("VanID", FieldType::Number),
    core("SurveyQuestionID", FieldType::Number),
    core("SurveyResponseID", FieldType::Number),
    text("SurveyResponseName", 100, true),
    core("DateCanvassed", FieldType::Date),
    core("DateCreated", FieldType::Date),
    core("ChangeTypeID", FieldType::Number),
    core("DateChanged", FieldType::Date),
    text("ContactTypeName", 30, false),
    optional("IsBatchEntry", FieldType::Bool),
];

impl Resource {
    /// Every resource, in the order `changedEntityExportJobs/resources` lists them.
    pub const ALL: [Resource; 4] = [
        Resource::Contacts,
        Resource::ContactsActivistCodes,
        Resource::ContactsSurveyResponses,
        Resource::Contributions,
    ];

    /// The `resourceType` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Contacts => "Contacts",
            Resource::Contributions => "Contributions",
            Resource::ContactsActivistCodes => "ContactsActivistCodes",
            Resource::ContactsSurveyResponses => "ContactsSurveyResponses",
        }
    }

    /// The resource named `name` (case-insensitive, like the API's routing).
    pub fn from_name(name: &str) -> Option<Resource> {
        Resource::ALL
            .into_iter()
            .find(|resource| resource.name().eq_ignore_ascii_case(name))
    }

    /// The primary-key column.
    pub fn key_column(self) -> &'static str {
        self.fields()[0].name
    }

    /// The table one unit of export comes from (a record; a person for per-person tables).
    fn entity(self) -> Entity {
        match self {
            Resource::Contributions => Entity::Contribution,
            _ => Entity::Contact,
        }
    }

    fn child(self) -> Option<ChildKind> {
        match self {
            Resource::ContactsActivistCodes => Some(ChildKind::ActivistCode),
            Resource::ContactsSurveyResponses => Some(ChildKind::SurveyResponse),
            _ => None,
        }
    }

    /// The custom fields of this resource (only Contacts and Contributions have any).
    pub(crate) fn custom_fields(self, data: &ModeData) -> Vec<CustomFieldSpec> {
        let wanted = match self {
            Resource::Contacts => false,
            Resource::Contributions => true,
            _ => return Vec::new(),
        };
        records::custom_fields(data)
            .into_iter()
            .filter(|field| field.contributions == wanted)
            .collect()
    }

    /// `(changeTypeID, changeTypeName, Description)` of this resource.
    pub(crate) fn change_types(self) -> &'static [(u8, &'static str, &'static str)] {
        match self {
            Resource::Contacts => &[
                (1, "Created", "The contact was created"),
                (2, "Updated", "The contact was updated"),
                (3, "Deleted", "The contact was deleted"),
                (4, "Suppressed", "The contact was suppressed"),
            ],
            Resource::Contributions => &[
                (1, "Created", "The contribution was created"),
                (2, "Updated", "The contribution was updated"),
                (3, "Deleted", "The contribution was deleted"),
            ],
            Resource::ContactsActivistCodes => &[
                (1, "Created", "The activist code was applied"),
                (3, "Deleted", "The activist code was removed"),
            ],
            Resource::ContactsSurveyResponses => &[
                (1, "Created", "The survey response was recorded"),
                (3, "Deleted", "The survey response was removed"),
            ],
        }
    }

    /// The standard fields, in `fields` endpoint order.
    pub(crate) fn fields(self) -> &'static [Field] {
        match self {
            Resource::Contacts => CONTACT_FIELDS,
            Resource::Contributions => CONTRIBUTION_FIELDS,
            Resource::ContactsActivistCodes => ACTIVIST_CODE_FIELDS,
            Resource::ContactsSurveyResponses => SURVEY_RESPONSE_FIELDS,
        }
    }
}

/// One column of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Standard(Field),
    Custom(CustomFieldSpec),
}

impl Column {
    pub(crate) fn name(&self) -> String {
        match self {
            Column::Standard(field) => field.name.to_owned(),
            Column::Custom(spec) => custom_column_name(spec.id),
        }
    }
}

/// `CF{id}`.
pub(crate) fn custom_column_name(id: u64) -> String {
    format!("CF{id}")
}

/// Every column of `resource`: all standard fields, then every custom field.
pub(crate) fn all_columns(data: &ModeData, resource: Resource) -> Vec<Column> {
    resource
        .fields()
        .iter()
        .copied()
        .map(Column::Standard)
        .chain(resource.custom_fields(data).into_iter().map(Column::Custom))
        .collect()
}

/// What a job exports: fixed when the job is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExportSpec {
    pub(crate) mode: Mode,
    pub(crate) resource: Resource,
    pub(crate) from: Ticks,
    pub(crate) to: Ticks,
    pub(crate) include_inactive: bool,
    pub(crate) columns: Vec<Column>,
    /// Indices (of people, or of contributions) added by `requestedIds`, ascending.
    pub(crate) requested: Vec<u64>,
}

/// Appends one CSV record (CRLF-terminated), quoting fields that need it.
fn push_record(out: &mut Vec<u8>, fields: impl IntoIterator<Item = String>) {
    for (n, field) in fields.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            out.push(b'"');
            out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(field.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// The header line of an export with `columns`.
pub(crate) fn header(columns: &[Column]) -> Vec<u8> {
    let mut out = Vec::new();
    push_record(&mut out, columns.iter().map(Column::name));
    out
}

fn boolean(value: bool) -> String {
    if value { "True" } else { "False" }.to_owned()
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn ascii_lower(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'á' | 'à' => Some('a'),
            'é' | 'ë' => Some('e'),
            'ü' => Some('u'),
            'ö' | 'ó' => Some('o'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn custom_value(data: &ModeData, spec: &CustomFieldSpec, index: u64, version: u32) -> String {
    let draw = data.hash(&[tag(b"custom-value"), spec.id, index, u64::from(version)]);
    if draw.is_multiple_of(5) {
        return String::new();
    }
    let v = draw >> 8;
    match spec.type_id {
        "S" => {
            let values = records::selection_values();
            values[(v % values.len() as u64) as usize].to_owned()
        }
        "T" => format!("{} note {}", custom_field_name(spec), v % 1000),
        "N" => (v % 500).to_string(),
        "D" => {
            let day = data.params.start
                + ((v % 700) as i64 - 350) * 86_400 * super::dataset::TICKS_PER_SECOND;
            super::dataset::utc_of(day).format("%Y-%m-%d").to_string()
        }
        "B" => boolean(v.is_multiple_of(2)),
        _ => money(v % 100_000),
    }
}

/// A person's or a contribution's column values.
fn record_value(data: &ModeData, resource: Resource, view: &View, column: &Column) -> String {
    let field = match column {
        Column::Custom(spec) => return custom_value(data, spec, view.index, view.version),
        Column::Standard(field) => field.name,
    };
    match field {
        "ChangeTypeID" => return view.change.id().to_string(),
        "DateChanged" => return fmt_precise(data.offset(), view.changed),
        "DateCreated" => return fmt_precise(data.offset(), view.created),
        _ => {}
    }
    match resource {
        Resource::Contributions => contribution_value(data, view, field),
        _ => contact_value(data, view, field),
    }
}

fn contact_value(data: &ModeData, view: &View, field: &str) -> String {
    let draw = data.hash(&[Entity::Contact.tag(), tag(b"person"), view.index]);
    let first = FIRST_NAMES[(draw % FIRST_NAMES.len() as u64) as usize];
    let last = LAST_NAMES[((draw >> 8) % LAST_NAMES.len() as u64) as usize];
    let moving = data.hash(&[
        Entity::Contact.tag(),
        tag(b"moves"),
        view.index,
        u64::from(view.version),
    ]);
    let (city, state, zip) = PLACES[(moving % PLACES.len() as u64) as usize];
    match field {
        "VanID" => view.id.to_string(),
        "FirstName" => first.to_owned(),
        "LastName" => last.to_owned(),
        "MiddleName" => match (draw >> 16) % 4 {
            0 => String::new(),
            n => {
                ((b'A' + ((draw >> 20) % 26) as u8) as char).to_string()
                    + if n == 1 { "." } else { "" }
            }
        },
        "Email" => {
            let domain = if view.version.is_multiple_of(2) {
                "example.org"
            } else {
                "example.net"
            };
            format!(
                "{}.{}{}@{domain}",
                ascii_lower(first),
                ascii_lower(last),
                view.id % 1000
            )
        }
        "Phone" => format!(
            "(555) {:03}-{:04}",
            100 + (moving >> 8) % 900,
            (moving >> 20) % 10_000
        ),
        "AddressLine1" => format!(
            "{} {} St",
            1 + (moving >> 32) % 9_999,
            ["Oak", "Elm", "Grove", "Main", "Pine"][((moving >> 44) % 5) as usize]
        ),
        "City" => city.to_owned(),
        "State" => state.to_owned(),
        "Zip5" => zip.to_owned(),
        "EmployerName" => match (draw >> 28) % 5 {
            0 => String::new(),
            1 => "Smith, Jones & Co".to_owned(),
            2 => "\"Green\" Energy Collective".to_owned(),
            3 => format!("{last} Hardware"),
            _ => "City of Springfield".to_owned(),
        },
        _ => String::new(),
    }
}

fn contribution_value(data: &ModeData, view: &View, field: &str) -> String {
    let draw = data.hash(&[Entity::Contribution.tag(), tag(b"gift"), view.index]);
    let edit = data.hash(&[
        Entity::Contribution.tag(),
        tag(b"gift-edit"),
        view.index,
        u64::from(view.version),
    ]);
    match field {
        "ContributionID" => view.id.to_string(),
        "VanID" => data
            .contribution_contact(view.index)
            .map(|contact| data.id(Entity::Contact, contact).to_string())
            .unwrap_or_default(),
        "DateReceived" => {
            let day = 86_400 * super::dataset::TICKS_PER_SECOND;
            let offset =
                i64::from(data.params.offset_minutes) * 60 * super::dataset::TICKS_PER_SECOND;
            let local_midnight = (view.created + offset).div_euclid(day) * day - offset;
            fmt_local(data.offset(), local_midnight)
        }
        "Amount" => money(500 + edit % 100_000),
        "PaymentType" => {
            ["Check", "Credit Card", "Cash", "ACH", "PayPal"][(draw % 5) as usize].to_owned()
        }
        "Designation" => ["General Fund", "Field Program", "Legal Defense"]
            [((draw >> 8) % 3) as usize]
            .to_owned(),
        "SourceCode" => format!("SC-{:03}", (draw >> 16) % 200),
        "Note" => match (edit >> 24) % 6 {
            0 => "In honor of \"Grandma\" Rose".to_owned(),
            1 => "Pledge fulfilled\nthank-you letter sent".to_owned(),
            2 => "Matched, 2:1".to_owned(),
            _ => String::new(),
        },
        "IsRecurring" => boolean((draw >> 30).is_multiple_of(4)),
        _ => String::new(),
    }
}

fn child_value(data: &ModeData, row: &ChildRow, column: &Column) -> String {
    let Column::Standard(field) = column else {
        return String::new();
    };
    match field.name {
        "ContactsActivistCodeID" | "ContactsSurveyResponseID" => row.row_id.to_string(),
        "VanID" => data.id(Entity::Contact, row.contact).to_string(),
        "ActivistCodeID" => data.id(Entity::ActivistCode, row.item).to_string(),
        "ActivistCodeName" => {
            let view = data.view(Entity::ActivistCode, row.item);
            records::activist_code(data, &view).name
        }
        "SurveyQuestionID" => data.id(Entity::SurveyQuestion, row.item).to_string(),
        "SurveyResponseID" => survey_response_id(data, row.item, row.answer).to_string(),
        "SurveyResponseName" => survey_response_name(row.answer),
        "DateCreated" | "DateCanvassed" => fmt_precise(data.offset(), row.created),
        "ChangeTypeID" => row.change().id().to_string(),
        "DateChanged" => fmt_precise(data.offset(), row.changed()),
        "ContactTypeName" => {
            ["Walk", "Phone", "SMS Text", "Email"][(row.row_id % 4) as usize].to_owned()
        }
        "IsBatchEntry" => boolean(row.row_id.is_multiple_of(3)),
        _ => String::new(),
    }
}

/// The row of record `view`, all values in `columns` order.
fn record_row(data: &ModeData, resource: Resource, view: &View, columns: &[Column]) -> Vec<String> {
    columns
        .iter()
        .map(|column| record_value(data, resource, view, column))
        .collect()
}

fn child_row(data: &ModeData, row: &ChildRow, columns: &[Column]) -> Vec<String> {
    columns
        .iter()
        .map(|column| child_value(data, row, column))
        .collect()
}

/// Where a job's units come from: touched or requested indices below `range_start`, then the
/// whole range `range_start..count` (every other unit there is too old to be in the window).
#[derive(Debug, Clone)]
pub(crate) struct Candidates {
    extra: Vec<u64>,
    range_start: u64,
    count: u64,
}

impl Candidates {
    pub(crate) fn new(data: &ModeData, spec: &ExportSpec) -> Self {
        let entity = spec.resource.entity();
        let range_start =
            data.first_created_at_or_after(entity, spec.from.saturating_sub(MAX_BASE_DELAY));
        let mut extra: Vec<u64> = data
            .overlay_indices_below(entity, range_start)
            .chain(spec.requested.iter().copied().filter(|i| *i < range_start))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        Self {
            extra,
            range_start,
            count: data.count(entity),
        }
    }

    /// How many candidate units there are.
    pub(crate) fn len(&self) -> u64 {
        self.extra.len() as u64 + self.count.saturating_sub(self.range_start)
    }

    /// The unit index at candidate position `ordinal`.
    pub(crate) fn index(&self, ordinal: u64) -> u64 {
        match self.extra.get(ordinal as usize) {
            Some(index) => *index,
            None => self.range_start + (ordinal - self.extra.len() as u64),
        }
    }
}

/// Appends the CSV rows unit `index` contributes to the export; returns how many.
pub(crate) fn unit_rows(data: &ModeData, spec: &ExportSpec, index: u64, out: &mut Vec<u8>) -> u64 {
    let entity = spec.resource.entity();
    let requested = spec.requested.binary_search(&index).is_ok();
    match spec.resource.child() {
        None => {
            let in_window = requested || data.changed_between(entity, index, spec.from, spec.to);
            if !in_window {
                return 0;
            }
            let view = data.view(entity, index);
            if view.state != State::Active && !spec.include_inactive {
                return 0;
            }
            push_record(out, record_row(data, spec.resource, &view, &spec.columns));
            1
        }
        Some(kind) => {
            let mut rows = 0;
            for row in data.child_rows(kind, index) {
                let in_window = requested || row.changed_between(spec.from, spec.to);
                if !in_window || (row.removed.is_some() && !spec.include_inactive) {
                    continue;
                }
                push_record(out, child_row(data, &row, &spec.columns));
                rows += 1;
            }
            rows
        }
    }
}

/// One file of a completed job: candidate positions `first..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FilePlan {
    pub(crate) first: u64,
    pub(crate) end: u64,
    pub(crate) rows: u64,
    pub(crate) bytes: u64,
}

/// A completed job's output: the data it was computed from, and its files.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) data: Arc<EveryActionData>,
    pub(crate) spec: ExportSpec,
    pub(crate) candidates: Candidates,
    pub(crate) header: Vec<u8>,
    pub(crate) files: Vec<FilePlan>,
    pub(crate) rows: u64,
}

impl Plan {
    /// Renders every selected row once to split the output into files of at most
    /// `limit_bytes` (header included). Stops early, returning `None`, once the output
    /// exceeds `max_bytes`.
    pub(crate) fn compute(
        data: Arc<EveryActionData>,
        spec: ExportSpec,
        limit_bytes: u64,
        max_bytes: Option<u64>,
    ) -> Result<Plan, u64> {
        let mode_data = data.database(spec.mode);
        let candidates = Candidates::new(mode_data, &spec);
        let header = header(&spec.columns);
        let head = header.len() as u64;
        let mut files = Vec::new();
        let mut current = FilePlan {
            first: 0,
            end: 0,
            rows: 0,
            bytes: head,
        };
        let (mut rows, mut bytes) = (0u64, 0u64);
        let mut buffer = Vec::new();
        for ordinal in 0..candidates.len() {
            buffer.clear();
            let unit = unit_rows(mode_data, &spec, candidates.index(ordinal), &mut buffer);
            if unit == 0 {
                continue;
            }
            let size = buffer.len() as u64;
            if current.rows > 0 && current.bytes + size > limit_bytes {
                current.end = ordinal;
                files.push(current);
                current = FilePlan {
                    first: ordinal,
                    end: ordinal,
                    rows: 0,
                    bytes: head,
                };
            }
            current.rows += unit;
            current.bytes += size;
            rows += unit;
            bytes += size;
            if max_bytes.is_some_and(|max| bytes + head > max) {
                return Err(bytes + head);
            }
        }
        current.end = candidates.len();
        files.push(current);
        Ok(Plan {
            data,
            spec,
            candidates,
            header,
            files,
            rows,
        })
    }

    /// File `file`'s rows for candidate positions `from..` (at most `units` of them, stopping
    /// at the file's end); returns the bytes and the position to continue from.
    pub(crate) fn chunk(&self, file: usize, from: u64, units: u64) -> (Vec<u8>, u64) {
        let plan = self.files[file];
        let mode_data = self.data.database(self.spec.mode);
        let stop = plan.end.min(from.saturating_add(units));
        let mut out = Vec::new();
        for ordinal in from..stop {
            unit_rows(
                mode_data,
                &self.spec,
                self.candidates.index(ordinal),
                &mut out,
            );
        }
        (out, stop)
    }
}

/// One record of an export resource as the simulator holds it now: the oracle for
/// warehouse comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRecord {
    /// The primary key (`VanID`, `ContributionID`, `ContactsActivistCodeID`,
    /// `ContactsSurveyResponseID`).
    pub key: u64,
    /// False for suppressed and deleted records (rows an export shows only with
    /// `includeInactive`).
    pub active: bool,
    /// Every column (standard and custom) as the CSV would hold it.
    pub fields: BTreeMap<String, String>,
}

/// Every record of `resource` ever created, inactive ones included, ascending by unit (and by
/// row id within a person). Lazy.
pub(crate) fn truth(
    data: &ModeData,
    resource: Resource,
) -> impl Iterator<Item = ExportRecord> + '_ {
    let columns = all_columns(data, resource);
    let names: Vec<String> = columns.iter().map(Column::name).collect();
    let entity = resource.entity();
    (0..data.count(entity)).flat_map(move |index| {
        let to_map = |values: Vec<String>| -> BTreeMap<String, String> {
            names.iter().cloned().zip(values).collect()
        };
        let records: Vec<ExportRecord> = match resource.child() {
            None => {
                let view = data.view(entity, index);
                vec![ExportRecord {
                    key: view.id,
                    active: view.state == State::Active,
                    fields: to_map(record_row(data, resource, &view, &columns)),
                }]
            }
            Some(kind) => data
                .child_rows(kind, index)
                .into_iter()
                .map(|row| ExportRecord {
                    key: row.row_id,
                    active: row.removed.is_none(),
                    fields: to_map(child_row(data, &row, &columns)),
                })
                .collect(),
        };
        records
    })
}
