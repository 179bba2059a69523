//! The list endpoints' records, shaped like the API's JSON (field order included), derived
//! from a database snapshot, and the API's timestamp spellings.
//!
//! Shapes follow the public docs and the fixtures of public clients (parsons, everyaction-client):
//! activist codes, survey questions with their `responses`, events with `eventType` and the
//! expandable `shifts`, `locations`, `roles`, `codes`, `notes`, `voterRegistrationBatches`
//! (null unless expanded), event types, codes with expandable `supportedEntities`, saved
//! lists, users, custom fields with `availableValues`, and the key profile.

use chrono::{FixedOffset, TimeZone};
use serde::Serialize;

use crate::simulator::rng::tag;

use super::dataset::{Entity, ModeData, State, Ticks, View, TICKS_PER_SECOND};

// ---------------------------------------------------------------------------------------------
// Timestamps

/// The fixed offset of `minutes` east of UTC (UTC itself if out of range).
pub(crate) fn offset_of(minutes: i32) -> FixedOffset {
    FixedOffset::east_opt(minutes * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"))
}

fn local(offset_minutes: i32, ticks: Ticks) -> chrono::DateTime<FixedOffset> {
    offset_of(offset_minutes).from_utc_datetime(&super::dataset::utc_of(ticks).naive_utc())
}

/// `2019-01-31T15:05:54.2106809-04:00`: seven fractional digits, the database's offset.
pub(crate) fn fmt_precise(offset_minutes: i32, ticks: Ticks) -> String {
    let time = local(offset_minutes, ticks);
    format!(
        "{}.{:07}{}",
        time.format("%Y-%m-%dT%H:%M:%S"),
        ticks.rem_euclid(TICKS_PER_SECOND),
        time.format("%:z")
    )
}

/// `2019-01-01T01:02:03+04:00`, with seven fractional digits only when the time has any.
pub(crate) fn fmt_local(offset_minutes: i32, ticks: Ticks) -> String {
    if ticks.rem_euclid(TICKS_PER_SECOND) != 0 {
        return fmt_precise(offset_minutes, ticks);
    }
    local(offset_minutes, ticks)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// `2010-05-25T11:55:00Z` (whole seconds, UTC).
pub(crate) fn fmt_zulu(ticks: Ticks) -> String {
    super::dataset::utc_of(ticks)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Word lists

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Maria", "James", "Aisha", "Wei", "Fatima", "John", "Olga", "Carlos", "Priya", "Kwame",
    "Sofia", "Liam", "Noor", "Elena", "Tomás", "Grace", "Hiroshi", "Amara", "Jean-Luc", "Zoë",
];
pub(crate) const LAST_NAMES: &[&str] = &[
    "Garcia",
    "Smith",
    "Okafor",
    "Chen",
    "Haddad",
    "O'Brien",
    "Ivanova",
    "Rodriguez",
    "Patel",
    "Mensah",
    "Rossi",
    "Murphy",
    "Khan",
    "Popescu",
    "Silva",
    "Kim",
    "Tanaka",
    "Diallo",
    "Dubois",
    "Müller",
];
pub(crate) const PLACES: &[(&str, &str, &str)] = &[
    ("Somerville", "MA", "02144"),
    ("Minneapolis", "MN", "55401"),
    ("Austin", "TX", "78701"),
    ("Madison", "WI", "53703"),
    ("Columbus", "OH", "43215"),
    ("Tucson", "AZ", "85701"),
    ("Durham", "NC", "27701"),
    ("Boise", "ID", "83702"),
];
const TOPICS: &[&str] = &[
    "Climate",
    "Housing",
    "Healthcare",
    "Education",
    "Voting Rights",
    "Transit",
    "Labor",
    "Immigration",
    "Water",
    "Parks",
];
const ACTIVIST_TYPES: &[&str] = &[
    "Volunteer",
    "Issue",
    "Action",
    "Demographic",
    "Constituency",
];
const EVENT_KINDS: &[&str] = &[
    "Phone Bank",
    "Canvass",
    "House Party",
    "Rally",
    "Training",
    "Block Party",
    "Text Bank",
    "Town Hall",
    "Confirmation Calls",
    "Fundraiser",
];
const COLORS: &[&str] = &[
    "#C6AFDA", "#7F7F7F", "#F4B183", "#A9D18E", "#9DC3E6", "#FFD966",
];
const ROLES: &[&str] = &["Host", "Volunteer", "Attendee", "Phone Banker", "Canvasser"];
const EVENT_STATUSES: &[(u64, &str)] = &[
    (4, "Invited"),
    (1, "Scheduled"),
    (3, "Declined"),
    (11, "Confirmed"),
    (2, "Completed"),
    (15, "Walk In"),
    (6, "No Show"),
];
const ANSWERS: &[&str] = &[
    "Strong Support",
    "Lean Support",
    "Undecided",
    "Lean Oppose",
    "Strong Oppose",
];

// ---------------------------------------------------------------------------------------------
// Records

/// `GET /apiKeyProfiles` item (fields of a real fixture).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiKeyProfile {
    pub(crate) database_name: String,
    pub(crate) has_my_voters: bool,
    pub(crate) has_my_campaign: bool,
    pub(crate) committee_name: String,
    pub(crate) api_key_type_name: &'static str,
    pub(crate) key_reference: String,
    pub(crate) user_first_name: &'static str,
    pub(crate) user_last_name: &'static str,
    pub(crate) username: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActivistCode {
    pub(crate) activist_code_id: u64,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) medium_name: String,
    pub(crate) short_name: String,
    pub(crate) description: String,
    pub(crate) script_question: String,
    pub(crate) status: &'static str,
    pub(crate) is_multi_assign: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SurveyResponse {
    pub(crate) survey_response_id: u64,
    pub(crate) name: String,
    pub(crate) medium_name: String,
    pub(crate) short_name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SurveyQuestion {
    pub(crate) survey_question_id: u64,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) cycle: i32,
    pub(crate) name: String,
    pub(crate) medium_name: String,
    pub(crate) short_name: String,
    pub(crate) script_question: String,
    pub(crate) status: &'static str,
    pub(crate) responses: Vec<SurveyResponse>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventTypeRef {
    pub(crate) event_type_id: u64,
    pub(crate) name: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Shift {
    pub(crate) event_shift_id: u64,
    pub(crate) name: String,
    pub(crate) start_time: String,
    pub(crate) end_time: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Address {
    pub(crate) address_line1: String,
    pub(crate) city: &'static str,
    pub(crate) state_or_province: &'static str,
    pub(crate) zip_or_postal_code: &'static str,
    pub(crate) country_code: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Location {
    pub(crate) location_id: u64,
    pub(crate) name: String,
    pub(crate) display_name: String,
    pub(crate) address: Address,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Role {
    pub(crate) role_id: u64,
    pub(crate) name: &'static str,
    pub(crate) is_event_lead: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CodeRef {
    pub(crate) code_id: u64,
    pub(crate) name: String,
}

/// An event; the `Option` arrays are `null` unless named in `$expand`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Event {
    pub(crate) event_id: u64,
    pub(crate) name: String,
    pub(crate) short_name: String,
    pub(crate) description: String,
    pub(crate) start_date: String,
    pub(crate) end_date: String,
    pub(crate) dot_net_time_zone_id: &'static str,
    pub(crate) event_type: EventTypeRef,
    pub(crate) is_only_editable_by_creating_user: bool,
    pub(crate) is_publicly_viewable: bool,
    pub(crate) is_active: bool,
    pub(crate) created_date: String,
    pub(crate) district_field_value: Option<String>,
    pub(crate) roles: Option<Vec<Role>>,
    pub(crate) shifts: Option<Vec<Shift>>,
    pub(crate) locations: Option<Vec<Location>>,
    pub(crate) codes: Option<Vec<CodeRef>>,
    pub(crate) notes: Option<Vec<serde_json::Value>>,
    pub(crate) voter_registration_batches: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventStatus {
    pub(crate) status_id: u64,
    pub(crate) name: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventType {
    pub(crate) event_type_id: u64,
    pub(crate) name: String,
    pub(crate) can_have_multiple_shifts: bool,
    pub(crate) can_have_multiple_locations: bool,
    pub(crate) can_have_goals: bool,
    pub(crate) can_have_role_maximums: bool,
    pub(crate) can_have_role_minimums: bool,
    pub(crate) can_be_repeatable: bool,
    pub(crate) roles: Vec<Role>,
    pub(crate) statuses: Vec<EventStatus>,
    pub(crate) color: &'static str,
    pub(crate) is_at_least_one_location_required: bool,
    pub(crate) default_location: Option<Location>,
    pub(crate) is_shared_with_master_committee_by_default: bool,
    pub(crate) is_shared_with_child_committees_by_default: bool,
    pub(crate) is_online_actions_available: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SupportedEntity {
    pub(crate) name: &'static str,
    pub(crate) is_searchable: bool,
    pub(crate) is_applicable: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Code {
    pub(crate) code_id: u64,
    pub(crate) parent_code_id: Option<u64>,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) code_path: String,
    pub(crate) created_by_name: String,
    pub(crate) date_created: String,
    pub(crate) supported_entities: Option<Vec<SupportedEntity>>,
    pub(crate) code_type: &'static str,
    pub(crate) campaign: Option<String>,
    pub(crate) contact_type: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SavedList {
    pub(crate) saved_list_id: u64,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) list_count: u64,
    pub(crate) door_count: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct User {
    pub(crate) user_id: u64,
    pub(crate) first_name: &'static str,
    pub(crate) last_name: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AvailableValue {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) parent_value_id: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CustomField {
    pub(crate) custom_field_id: u64,
    pub(crate) custom_field_parent_id: Option<u64>,
    pub(crate) custom_field_name: String,
    pub(crate) custom_field_group_id: u64,
    pub(crate) custom_field_group_name: &'static str,
    pub(crate) custom_field_group_type: &'static str,
    pub(crate) custom_field_type_id: &'static str,
    pub(crate) is_editable: bool,
    pub(crate) is_exportable: bool,
    pub(crate) max_textbox_characters: Option<u32>,
    pub(crate) available_values: Option<Vec<AvailableValue>>,
}

// ---------------------------------------------------------------------------------------------
// Derivations

fn pick<T: Copy>(items: &[T], draw: u64) -> T {
    items[(draw % items.len() as u64) as usize]
}

fn short(name: &str, len: usize) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .take(len)
        .collect()
}

/// An activist code as listed now.
pub(crate) fn activist_code(data: &ModeData, view: &View) -> ActivistCode {
    let draw = data.hash(&[Entity::ActivistCode.tag(), tag(b"fields"), view.index]);
    let topic = pick(TOPICS, draw);
    let kind = pick(ACTIVIST_TYPES, draw >> 8);
    let name = format!("{topic} {kind} {}", view.index + 1);
    ActivistCode {
        activist_code_id: view.id,
        kind,
        medium_name: short(&name, 20),
        short_name: short(&name, 8),
        description: format!("{topic} supporters (revision {})", view.version),
        script_question: format!(
            "Would you join our {} work on {}?",
            kind.to_lowercase(),
            topic.to_lowercase()
        ),
        status: if view.state == State::Archived {
            "Archived"
        } else {
            "Active"
        },
        is_multi_assign: (draw >> 16).is_multiple_of(3),
        name,
    }
}

/// The survey response id of position `answer` of question `question` (an index).
pub(crate) fn survey_response_id(data: &ModeData, question: u64, answer: u64) -> u64 {
    data.id(Entity::SurveyQuestion, question) * 10 + answer + 1
}

/// The name of position `answer` of a question.
pub(crate) fn survey_response_name(answer: u64) -> String {
    format!(
        "{}-{}",
        answer + 1,
        ANSWERS[(answer as usize) % ANSWERS.len()]
    )
}

pub(crate) fn survey_question(data: &ModeData, view: &View) -> SurveyQuestion {
    let draw = data.hash(&[Entity::SurveyQuestion.tag(), tag(b"fields"), view.index]);
    let topic = pick(TOPICS, draw);
    let kind = if draw.is_multiple_of(3) {
        "Candidate"
    } else {
        "Issue"
    };
    let cycle = super::dataset::utc_of(view.created)
        .format("%Y")
        .to_string()
        .parse::<i32>()
        .unwrap_or(2024);
    let name = format!("{topic} Support {}", view.index + 1);
    let responses = (0..data.responses_of(view.index))
        .map(|answer| {
            let name = survey_response_name(answer);
            SurveyResponse {
                survey_response_id: survey_response_id(data, view.index, answer),
                medium_name: short(&name, 10),
                short_name: (answer + 1).to_string(),
                name,
            }
        })
        .collect();
    SurveyQuestion {
        survey_question_id: view.id,
        kind,
        cycle,
        medium_name: short(&name, 20),
        short_name: short(&name, 6),
        script_question: if view.version == 0 {
            format!("Do you support action on {}?", topic.to_lowercase())
        } else {
            format!(
                "Do you support action on {}? (v{})",
                topic.to_lowercase(),
                view.version + 1
            )
        },
        status: if view.state == State::Archived {
            "Archived"
        } else {
            "Active"
        },
        responses,
        name,
    }
}

/// Which optional arrays of an event to fill.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EventExpand {
    pub(crate) roles: bool,
    pub(crate) shifts: bool,
    pub(crate) locations: bool,
    pub(crate) codes: bool,
    pub(crate) notes: bool,
    pub(crate) voter_registration_batches: bool,
}

/// The event type index of event `index`.
pub(crate) fn event_type_of(data: &ModeData, index: u64) -> u64 {
    data.hash(&[Entity::Event.tag(), tag(b"type"), index]) % data.spec.event_types.max(1)
}

/// The event type's id (`events/types` has a fixed number of types).
pub(crate) fn event_type_id(data: &ModeData, index: u64) -> u64 {
    let base = match data.mode {
        super::dataset::Mode::MyCampaign => 296_101,
        super::dataset::Mode::MyVoters => 396_101,
    };
    base + index * 17
}

fn event_type_name(index: u64) -> String {
    let kind = EVENT_KINDS[(index as usize) % EVENT_KINDS.len()];
    match index as usize / EVENT_KINDS.len() {
        0 => kind.to_owned(),
        n => format!("{kind} {}", n + 1),
    }
}

fn role(data: &ModeData, type_index: u64, k: u64) -> Role {
    Role {
        role_id: 111_001 + event_type_id(data, type_index) % 1000 * 10 + k,
        name: ROLES[((type_index + k) as usize) % ROLES.len()],
        is_event_lead: k == 0,
    }
}

/// One of the organisation's locations (one office per place).
fn location(draw: u64) -> Location {
    let place = draw % PLACES.len() as u64;
    let (city, state, zip) = PLACES[place as usize];
    let number = 12 + place * 37;
    let name = format!("{city} Office");
    Location {
        location_id: 271 + place,
        display_name: format!("{name}, {number} Main St {city}, {state} {zip}"),
        address: Address {
            address_line1: format!("{number} Main St"),
            city,
            state_or_province: state,
            zip_or_postal_code: zip,
            country_code: "US",
        },
        name,
    }
}

/// The start and end of event `index`: 15-minute slots, 1 to 120 days after its creation.
pub(crate) fn event_times(data: &ModeData, view: &View) -> (Ticks, Ticks) {
    let draw = data.hash(&[Entity::Event.tag(), tag(b"when"), view.index]);
    let quarter = 15 * 60 * TICKS_PER_SECOND;
    let start =
        (view.created + (1 + (draw % 120) as i64) * 86_400 * TICKS_PER_SECOND) / quarter * quarter;
    let end = start + (4 + ((draw >> 8) % 12) as i64) * quarter;
    (start, end)
}

/// The codes applied to event `index` (indices into the codes table, possibly deleted ones).
pub(crate) fn event_code_indices(data: &ModeData, index: u64) -> Vec<u64> {
    let codes = data.table(Entity::Code).initial();
    if codes == 0 {
        return Vec::new();
    }
    let mut draws = data.rng(&[Entity::Event.tag(), tag(b"codes"), index]);
    let n = draws.below(3);
    let mut picked: Vec<u64> = (0..n).map(|_| draws.below(codes)).collect();
    picked.sort_unstable();
    picked.dedup();
    picked
}

pub(crate) fn event(data: &ModeData, view: &View, expand: EventExpand) -> Event {
    let draw = data.hash(&[Entity::Event.tag(), tag(b"fields"), view.index]);
    let type_index = event_type_of(data, view.index);
    let type_name = event_type_name(type_index);
    let (city, _, _) = pick(PLACES, draw >> 4);
    let name = format!("{type_name} {city} #{}", view.index + 1);
    let (start, end) = event_times(data, view);
    let shift_count = 1 + (draw >> 12) % 3;
    let shifts = expand.shifts.then(|| {
        let length = (end - start) / shift_count as i64;
        (0..shift_count)
            .map(|k| Shift {
                event_shift_id: view.id * 10 + k,
                name: if shift_count == 1 {
                    "Full Event".to_owned()
                } else {
                    format!("Shift {}", k + 1)
                },
                start_time: fmt_local(data.offset(), start + k as i64 * length),
                end_time: fmt_local(data.offset(), start + (k as i64 + 1) * length),
            })
            .collect()
    });
    let locations = expand.locations.then(|| vec![location(draw >> 20)]);
    let roles = expand
        .roles
        .then(|| (0..2).map(|k| role(data, type_index, k)).collect());
    let codes = expand.codes.then(|| {
        event_code_indices(data, view.index)
            .into_iter()
            .map(|code| CodeRef {
                code_id: data.id(Entity::Code, code),
                name: code_name(data, code),
            })
            .collect()
    });
    Event {
        event_id: view.id,
        short_name: short(&name, 12),
        description: if view.version == 0 {
            format!("Join us for a {} in {city}.", type_name.to_lowercase())
        } else {
            format!(
                "Join us for a {} in {city}. Updated ({}).",
                type_name.to_lowercase(),
                view.version
            )
        },
        start_date: fmt_local(data.offset(), start),
        end_date: fmt_local(data.offset(), end),
        dot_net_time_zone_id: "Eastern Standard Time",
        event_type: EventTypeRef {
            event_type_id: event_type_id(data, type_index),
            name: type_name,
        },
        is_only_editable_by_creating_user: (draw >> 30).is_multiple_of(5),
        is_publicly_viewable: (draw >> 33).is_multiple_of(2),
        is_active: view.state != State::Archived,
        created_date: fmt_zulu(view.created / TICKS_PER_SECOND * TICKS_PER_SECOND),
        district_field_value: None,
        roles,
        shifts,
        locations,
        codes,
        notes: expand.notes.then(Vec::new),
        voter_registration_batches: expand.voter_registration_batches.then(Vec::new),
        name,
    }
}

pub(crate) fn event_type(data: &ModeData, index: u64) -> EventType {
    let draw = data.hash(&[tag(b"event-type"), index]);
    let flag = |bit: u32| (draw >> bit) & 1 == 1;
    EventType {
        event_type_id: event_type_id(data, index),
        name: event_type_name(index),
        can_have_multiple_shifts: flag(1),
        can_have_multiple_locations: flag(2),
        can_have_goals: flag(3),
        can_have_role_maximums: flag(4),
        can_have_role_minimums: flag(5),
        can_be_repeatable: flag(6),
        roles: (0..2).map(|k| role(data, index, k)).collect(),
        statuses: EVENT_STATUSES
            .iter()
            .take(4 + (draw % 4) as usize)
            .map(|(status_id, name)| EventStatus {
                status_id: *status_id,
                name,
            })
            .collect(),
        color: pick(COLORS, draw >> 8),
        is_at_least_one_location_required: flag(7),
        default_location: flag(8).then(|| location(draw >> 12)),
        is_shared_with_master_committee_by_default: false,
        is_shared_with_child_committees_by_default: flag(9),
        is_online_actions_available: flag(10),
    }
}

fn code_name(data: &ModeData, index: u64) -> String {
    let draw = data.hash(&[Entity::Code.tag(), tag(b"fields"), index]);
    format!("{} {}", pick(TOPICS, draw), index + 1)
}

/// A code's parent (an earlier code's index), if it has one.
fn code_parent(data: &ModeData, index: u64) -> Option<u64> {
    let draw = data.hash(&[Entity::Code.tag(), tag(b"parent"), index]);
    (index > 0 && draw.is_multiple_of(3)).then(|| (draw >> 8) % index)
}

pub(crate) fn code(data: &ModeData, view: &View, expand_supported_entities: bool) -> Code {
    let draw = data.hash(&[Entity::Code.tag(), tag(b"fields"), view.index]);
    let name = code_name(data, view.index);
    let parent = code_parent(data, view.index);
    let code_path = match parent {
        Some(parent) => format!("{} > {name}", code_name(data, parent)),
        None => name.clone(),
    };
    let code_type = if (draw >> 20).is_multiple_of(4) {
        "SourceCode"
    } else {
        "Tag"
    };
    Code {
        code_id: view.id,
        parent_code_id: parent.map(|p| data.id(Entity::Code, p)),
        description: format!("{name} (revision {})", view.version),
        code_path,
        created_by_name: if (draw >> 24).is_multiple_of(2) {
            String::new()
        } else {
            format!(
                "{}, {}",
                pick(LAST_NAMES, draw >> 28),
                pick(FIRST_NAMES, draw >> 32)
            )
        },
        date_created: fmt_zulu(view.created / TICKS_PER_SECOND * TICKS_PER_SECOND),
        supported_entities: expand_supported_entities.then(|| {
            ["Contacts", "Events", "Locations"]
                .iter()
                .enumerate()
                .filter(|(k, _)| (draw >> (36 + k)) & 1 == 1 || *k == 0)
                .map(|(k, name)| SupportedEntity {
                    name,
                    is_searchable: true,
                    is_applicable: k != 2,
                })
                .collect()
        }),
        code_type,
        campaign: None,
        contact_type: None,
        name,
    }
}

pub(crate) fn saved_list(data: &ModeData, view: &View) -> SavedList {
    let draw = data.hash(&[Entity::SavedList.tag(), tag(b"fields"), view.index]);
    let (city, state, _) = pick(PLACES, draw);
    let people = data.people_ever_created().max(10);
    let list_count = (draw >> 8) % people + u64::from(view.version) * 7;
    SavedList {
        saved_list_id: view.id,
        name: format!(
            "{} {city} {state} {}",
            pick(TOPICS, draw >> 4),
            view.index + 1
        ),
        description: (draw >> 40)
            .is_multiple_of(2)
            .then(|| format!("Universe for {city}")),
        door_count: list_count * 6 / 10,
        list_count,
    }
}

pub(crate) fn user(data: &ModeData, index: u64) -> User {
    let draw = data.hash(&[tag(b"user"), index]);
    let base = match data.mode {
        super::dataset::Mode::MyCampaign => 1_200,
        super::dataset::Mode::MyVoters => 2_200,
    };
    User {
        user_id: base + index * 3,
        first_name: pick(FIRST_NAMES, draw),
        last_name: pick(LAST_NAMES, draw >> 8),
    }
}

/// A custom field of `Contacts` (`contributions == false`) or `Contributions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CustomFieldSpec {
    pub(crate) id: u64,
    pub(crate) contributions: bool,
    /// One of B, S, T, D, N, M.
    pub(crate) type_id: &'static str,
    pub(crate) position: u64,
}

const CUSTOM_TYPES: &[&str] = &["S", "T", "N", "D", "B", "M"];
const CUSTOM_NAMES: &[&str] = &[
    "Education level",
    "Preferred language",
    "Volunteer hours",
    "First contact",
    "Union member",
    "Pledge amount",
    "Shirt size",
    "Referral source",
];
const SELECTION_VALUES: &[&str] = &[
    "High School diploma",
    "College degree",
    "Postgraduate degree",
    "Doctorate",
];

/// The database's custom fields: Contacts ones first, then Contributions ones.
pub(crate) fn custom_fields(data: &ModeData) -> Vec<CustomFieldSpec> {
    let base = match data.mode {
        super::dataset::Mode::MyCampaign => 157,
        super::dataset::Mode::MyVoters => 257,
    };
    let contacts = (0..data.spec.contact_custom_fields).map(|k| (false, k));
    let contributions = (0..data.spec.contribution_custom_fields).map(|k| (true, k));
    contacts
        .chain(contributions)
        .enumerate()
        .map(|(n, (contributions, position))| CustomFieldSpec {
            id: base + n as u64 * 2,
            contributions,
            type_id: CUSTOM_TYPES[(n + usize::from(contributions)) % CUSTOM_TYPES.len()],
            position,
        })
        .collect()
}

pub(crate) fn custom_field_name(spec: &CustomFieldSpec) -> String {
    let offset = if spec.contributions { 5 } else { 0 };
    CUSTOM_NAMES[((spec.position + offset) as usize) % CUSTOM_NAMES.len()].to_owned()
}

/// The selection values of an `S` field: ids 1..=4.
pub(crate) fn selection_values() -> &'static [&'static str] {
    SELECTION_VALUES
}

pub(crate) fn custom_field(spec: &CustomFieldSpec) -> CustomField {
    let (group_id, group_name, group_type) = if spec.contributions {
        (53, "Gift details", "Contributions")
    } else {
        (52, "Profile", "Contacts")
    };
    CustomField {
        custom_field_id: spec.id,
        custom_field_parent_id: None,
        custom_field_name: custom_field_name(spec),
        custom_field_group_id: group_id,
        custom_field_group_name: group_name,
        custom_field_group_type: group_type,
        custom_field_type_id: spec.type_id,
        is_editable: true,
        is_exportable: true,
        max_textbox_characters: matches!(spec.type_id, "T" | "N").then_some(100),
        available_values: (spec.type_id == "S").then(|| {
            SELECTION_VALUES
                .iter()
                .enumerate()
                .map(|(k, name)| AvailableValue {
                    id: k as u64 + 1,
                    name: (*name).to_owned(),
                    parent_value_id: None,
                })
                .collect()
        }),
    }
}
