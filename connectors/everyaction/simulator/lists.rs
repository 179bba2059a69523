//! The list endpoints: query strings, filters, `$expand`, `$orderby`, and the paged envelope
//! `{"items":[...],"nextPageLink":"<absolute URL>"|null,"count":N}`.
//!
//! Paging follows docs.ngpvan.com/reference/pagination: `$top` (per-endpoint default and
//! maximum; above the maximum → 400; `$top=` with an empty value returns everything on an
//! endpoint that has a default but no maximum, `users` here), `$skip`, and a `nextPageLink`
//! that is the request's own URL (same parameters, same order, same spelling) with `$top` and
//! `$skip` set for the next page, made absolute with the request's `Host`.
//!
//! Choices where the sources are silent: `$top=0` and non-numeric values → 400; unknown query
//! parameters are ignored (ASP.NET binding); filters are exact and case-insensitive except
//! `name` (contains); `$orderby` accepts comma-separated `field [asc|desc]` over the items'
//! top-level fields (unknown field → 400); unknown `$expand` values on `events` and `codes`
//! → 400; `events/types` and `customFields` answer bare arrays, like the docs and public
//! clients show them.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dataset::{ticks_of, Entity, ModeData, State, Ticks};
use super::errors::ApiError;
use super::records::{self, offset_of, EventExpand};

/// The list endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ListEndpoint {
    /// `GET /v4/apiKeyProfiles` (paged, one item).
    ApiKeyProfiles,
    /// `GET /v4/activistCodes`.
    ActivistCodes,
    /// `GET /v4/surveyQuestions` (responses nested).
    SurveyQuestions,
    /// `GET /v4/events` (at most 50 per page).
    Events,
    /// `GET /v4/events/types` (a bare array).
    EventTypes,
    /// `GET /v4/codes`.
    Codes,
    /// `GET /v4/savedLists`.
    SavedLists,
    /// `GET /v4/users` (may be forbidden).
    Users,
    /// `GET /v4/customFields` (a bare array; `customFieldsGroupType=Contacts|Contributions`).
    CustomFields,
}

/// `$top` rules of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimits {
    /// Page size without `$top`.
    pub default_top: u64,
    /// Largest accepted `$top` (`None`: no maximum, and `$top=` returns everything).
    pub max_top: Option<u64>,
}

impl ListEndpoint {
    /// Every list endpoint.
    pub const ALL: [ListEndpoint; 9] = [
        ListEndpoint::ApiKeyProfiles,
        ListEndpoint::ActivistCodes,
        ListEndpoint::SurveyQuestions,
        ListEndpoint::Events,
        ListEndpoint::EventTypes,
        ListEndpoint::Codes,
        ListEndpoint::SavedLists,
        ListEndpoint::Users,
        ListEndpoint::CustomFields,
    ];

    /// The path.
    pub fn path(self) -> &'static str {
        match self {
            ListEndpoint::ApiKeyProfiles => "/v4/apiKeyProfiles",
            ListEndpoint::ActivistCodes => "/v4/activistCodes",
            ListEndpoint::SurveyQuestions => "/v4/surveyQuestions",
            ListEndpoint::Events => "/v4/events",
            ListEndpoint::EventTypes => "/v4/events/types",
            ListEndpoint::Codes => "/v4/codes",
            ListEndpoint::SavedLists => "/v4/savedLists",
            ListEndpoint::Users => "/v4/users",
            ListEndpoint::CustomFields => "/v4/customFields",
        }
    }

    /// The paging rules, or `None` for endpoints answering a bare array.
    pub fn limits(self) -> Option<PageLimits> {
        let limits = |default_top, max_top| {
            Some(PageLimits {
                default_top,
                max_top,
            })
        };
        match self {
            ListEndpoint::EventTypes | ListEndpoint::CustomFields => None,
            ListEndpoint::Events => limits(50, Some(50)),
            ListEndpoint::Users => limits(50, None),
            _ => limits(50, Some(200)),
        }
    }

    /// The primary-key field of the items.
    pub fn key_field(self) -> &'static str {
        match self {
            ListEndpoint::ApiKeyProfiles => "keyReference",
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
}

/// A query string as sent: each parameter's decoded name and value and its raw spelling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawQuery {
    pairs: Vec<(String, String, String)>,
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl RawQuery {
    /// Splits a raw query string (without `?`).
    pub(crate) fn parse(query: Option<&str>) -> Self {
        let pairs = query
            .unwrap_or_default()
            .split('&')
            .filter(|segment| !segment.is_empty())
            .map(|segment| {
                let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
                (
                    percent_decode(name),
                    percent_decode(value),
                    segment.to_owned(),
                )
            })
            .collect();
        Self { pairs }
    }

    /// A query holding only `name=value` (for truth helpers).
    pub(crate) fn single(name: &str, value: &str) -> Self {
        Self {
            pairs: vec![(name.to_owned(), value.to_owned(), format!("{name}={value}"))],
        }
    }

    /// The value of parameter `name` (case-insensitive), if present.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value, _)| value.as_str())
    }

    /// The first parameter name that occurs more than once (case-insensitive).
    pub(crate) fn repeated(&self) -> Option<&str> {
        self.pairs.iter().enumerate().find_map(|(n, (name, _, _))| {
            self.pairs[..n]
                .iter()
                .any(|(earlier, _, _)| earlier.eq_ignore_ascii_case(name))
                .then_some(name.as_str())
        })
    }

    /// This query with `$top` and `$skip` set (replaced in place, or appended).
    fn with_paging(&self, top: u64, skip: u64) -> String {
        let mut segments: Vec<String> = Vec::with_capacity(self.pairs.len() + 2);
        let (mut saw_top, mut saw_skip) = (false, false);
        for (name, _, raw) in &self.pairs {
            if name.eq_ignore_ascii_case("$top") {
                saw_top = true;
                segments.push(format!("$top={top}"));
            } else if name.eq_ignore_ascii_case("$skip") {
                saw_skip = true;
                segments.push(format!("$skip={skip}"));
            } else {
                segments.push(raw.clone());
            }
        }
        if !saw_top {
            segments.push(format!("$top={top}"));
        }
        if !saw_skip {
            segments.push(format!("$skip={skip}"));
        }
        segments.join("&")
    }
}

/// One listed record: its JSON value (for filters, sorting, truth) and its text in the API's
/// field order (what is sent).
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) value: Value,
    pub(crate) text: String,
}

impl Item {
    pub(crate) fn of<T: Serialize>(record: &T) -> Item {
        let text = serde_json::to_string(record).unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or_default();
        Item { value, text }
    }
}

fn invalid(parameter: &str, text: impl Into<String>) -> ApiError {
    ApiError::invalid(text).with_properties([parameter.to_owned()])
}

fn comma_list(query: &RawQuery, name: &str) -> Option<Vec<String>> {
    query
        .get(name)
        .filter(|v| !v.trim().is_empty())
        .map(|value| {
            value
                .split(',')
                .map(|part| part.trim().to_owned())
                .filter(|part| !part.is_empty())
                .collect()
        })
}

fn id_list(query: &RawQuery, name: &str) -> Result<Option<Vec<u64>>, ApiError> {
    comma_list(query, name)
        .map(|parts| {
            parts
                .iter()
                .map(|part| {
                    part.parse()
                        .map_err(|_| invalid(name, format!("'{part}' is not a valid id")))
                })
                .collect()
        })
        .transpose()
}

fn number(query: &RawQuery, name: &str) -> Result<Option<u64>, ApiError> {
    match query.get(name).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| invalid(name, format!("'{text}' is not a valid number"))),
    }
}

/// A date filter: RFC 3339, a local date-time, or a local date.
fn date(data: &ModeData, query: &RawQuery, name: &str) -> Result<Option<Ticks>, ApiError> {
    let Some(text) = query.get(name).map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(ticks_of(time.with_timezone(&Utc))));
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        });
    let local = naive
        .and_then(|naive| naive.and_local_timezone(offset_of(data.offset())).single())
        .ok_or_else(|| invalid(name, format!("'{text}' is not a valid date")))?;
    Ok(Some(ticks_of(local.with_timezone(&Utc))))
}

fn matches_name(value: &Value, field: &str, wanted: Option<&str>) -> bool {
    wanted.is_none_or(|wanted| {
        value[field]
            .as_str()
            .is_some_and(|name| name.to_lowercase().contains(&wanted.to_lowercase()))
    })
}

fn matches_exact(value: &Value, field: &str, wanted: Option<&str>) -> bool {
    wanted
        .filter(|w| !w.is_empty())
        .is_none_or(|wanted| match &value[field] {
            Value::String(text) => text.eq_ignore_ascii_case(wanted),
            Value::Number(number) => wanted.parse::<f64>().ok() == number.as_f64(),
            Value::Bool(flag) => wanted.eq_ignore_ascii_case(&flag.to_string()),
            _ => false,
        })
}

fn matches_statuses(value: &Value, statuses: &Option<Vec<String>>) -> bool {
    statuses.as_ref().is_none_or(|statuses| {
        let status = value["status"].as_str().unwrap_or_default();
        statuses
            .iter()
            .any(|wanted| wanted.eq_ignore_ascii_case(status))
    })
}

fn event_expand(query: &RawQuery) -> Result<EventExpand, ApiError> {
    let mut expand = EventExpand::default();
    for part in comma_list(query, "$expand").unwrap_or_default() {
        match part.to_ascii_lowercase().as_str() {
            "locations" => expand.locations = true,
            "shifts" => expand.shifts = true,
            "roles" => expand.roles = true,
            "codes" => expand.codes = true,
            "notes" => expand.notes = true,
            "voterregistrationbatches" => expand.voter_registration_batches = true,
            _ => {
                return Err(invalid(
                    "$expand",
                    format!("'{part}' cannot be expanded on events"),
                ))
            }
        }
    }
    Ok(expand)
}

fn live_views(data: &ModeData, entity: Entity) -> impl Iterator<Item = super::dataset::View> + '_ {
    (0..data.count(entity))
        .map(move |index| data.view(entity, index))
        .filter(|view| view.state != State::Deleted)
}

/// The endpoint's items matching `query`'s filters, with `query`'s `$expand`, ascending by id.
/// (`ApiKeyProfiles` is built by the caller, from the configuration.)
pub(crate) fn items(
    data: &ModeData,
    endpoint: ListEndpoint,
    query: &RawQuery,
) -> Result<Vec<Item>, ApiError> {
    let items = match endpoint {
        ListEndpoint::ApiKeyProfiles => Vec::new(),
        ListEndpoint::ActivistCodes => {
            let statuses = comma_list(query, "statuses");
            live_views(data, Entity::ActivistCode)
                .map(|view| Item::of(&records::activist_code(data, &view)))
                .filter(|item| {
                    matches_statuses(&item.value, &statuses)
                        && matches_exact(&item.value, "type", query.get("type"))
                        && matches_name(&item.value, "name", query.get("name"))
                })
                .collect()
        }
        ListEndpoint::SurveyQuestions => {
            let statuses = comma_list(query, "statuses");
            let cycle = number(query, "cycle")?;
            live_views(data, Entity::SurveyQuestion)
                .map(|view| Item::of(&records::survey_question(data, &view)))
                .filter(|item| {
                    matches_statuses(&item.value, &statuses)
                        && matches_exact(&item.value, "type", query.get("type"))
                        && matches_name(&item.value, "name", query.get("name"))
                        && matches_name(&item.value, "scriptQuestion", query.get("question"))
                        && cycle.is_none_or(|cycle| item.value["cycle"].as_u64() == Some(cycle))
                })
                .collect()
        }
        ListEndpoint::Events => {
            let expand = event_expand(query)?;
            let after = date(data, query, "startingAfter")?;
            let before = date(data, query, "startingBefore")?;
            let types = id_list(query, "eventTypeIds")?;
            let codes = id_list(query, "codeIds")?;
            live_views(data, Entity::Event)
                .filter(|view| {
                    let (start, _) = records::event_times(data, view);
                    let type_id =
                        records::event_type_id(data, records::event_type_of(data, view.index));
                    after.is_none_or(|after| start > after)
                        && before.is_none_or(|before| start < before)
                        && types.as_ref().is_none_or(|types| types.contains(&type_id))
                        && codes.as_ref().is_none_or(|codes| {
                            records::event_code_indices(data, view.index)
                                .iter()
                                .any(|code| codes.contains(&data.id(Entity::Code, *code)))
                        })
                })
                .map(|view| Item::of(&records::event(data, &view, expand)))
                .collect()
        }
        ListEndpoint::EventTypes => (0..data.spec.event_types)
            .map(|index| Item::of(&records::event_type(data, index)))
            .collect(),
        ListEndpoint::Codes => {
            let mut supported = false;
            for part in comma_list(query, "$expand").unwrap_or_default() {
                if !part.eq_ignore_ascii_case("supportedEntities") {
                    return Err(invalid(
                        "$expand",
                        format!("'{part}' cannot be expanded on codes"),
                    ));
                }
                supported = true;
            }
            let parent = number(query, "parentCodeId")?;
            live_views(data, Entity::Code)
                .map(|view| Item::of(&records::code(data, &view, supported)))
                .filter(|item| {
                    matches_exact(&item.value, "codeType", query.get("codeType"))
                        && matches_name(&item.value, "name", query.get("name"))
                        && parent.is_none_or(|parent| {
                            item.value["parentCodeId"].as_u64() == Some(parent)
                        })
                })
                .collect()
        }
        ListEndpoint::SavedLists => {
            let max_doors = number(query, "maxDoorCount")?;
            let max_people = number(query, "maxPeopleCount")?;
            live_views(data, Entity::SavedList)
                .map(|view| Item::of(&records::saved_list(data, &view)))
                .filter(|item| {
                    max_doors.is_none_or(|max| {
                        item.value["doorCount"].as_u64().is_some_and(|n| n <= max)
                    }) && max_people.is_none_or(|max| {
                        item.value["listCount"].as_u64().is_some_and(|n| n <= max)
                    })
                })
                .collect()
        }
        ListEndpoint::Users => (0..data.spec.users)
            .map(|index| Item::of(&records::user(data, index)))
            .collect(),
        ListEndpoint::CustomFields => {
            let group = query.get("customFieldsGroupType").filter(|g| !g.is_empty());
            let contributions = match group.map(str::to_ascii_lowercase).as_deref() {
                None => None,
                Some("contacts") => Some(false),
                Some("contributions") => Some(true),
                Some(_) => {
                    return Err(invalid(
                        "customFieldsGroupType",
                        "customFieldsGroupType must be Contacts or Contributions",
                    ))
                }
            };
            records::custom_fields(data)
                .iter()
                .filter(|spec| contributions.is_none_or(|wanted| spec.contributions == wanted))
                .map(|spec| Item::of(&records::custom_field(spec)))
                .collect()
        }
    };
    Ok(items)
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or_default()
            .partial_cmp(&y.as_f64().unwrap_or_default())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// Sorts `items` by `$orderby` (stable: ties keep id order).
pub(crate) fn order(items: &mut [Item], query: &RawQuery) -> Result<(), ApiError> {
    let Some(spec) = query
        .get("$orderby")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(());
    };
    let mut keys: Vec<(String, bool)> = Vec::new();
    for part in spec.split(',') {
        let mut words = part.split_whitespace();
        let Some(field) = words.next() else { continue };
        let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(invalid(
                    "$orderby",
                    format!("'{other}' is not a sort direction"),
                ))
            }
        };
        let known = items.first().and_then(|item| {
            item.value.as_object().and_then(|fields| {
                fields
                    .keys()
                    .find(|key| key.eq_ignore_ascii_case(field))
                    .cloned()
            })
        });
        match known {
            Some(key) => keys.push((key, descending)),
            None if items.is_empty() => {}
            None => {
                return Err(invalid(
                    "$orderby",
                    format!("'{field}' cannot be used to sort"),
                ))
            }
        }
    }
    items.sort_by(|a, b| {
        keys.iter()
            .map(|(key, descending)| {
                let ordering = compare(&a.value[key.as_str()], &b.value[key.as_str()]);
                if *descending {
                    ordering.reverse()
                } else {
                    ordering
                }
            })
            .find(|ordering| ordering.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    Ok(())
}

/// The page `query` asks for, as the envelope's text. `base` is `http://host`, `path` the
/// request's path; `keep_link` keeps `nextPageLink` non-null on the last and on empty pages.
pub(crate) fn page(
    items: &[Item],
    query: &RawQuery,
    limits: PageLimits,
    base: &str,
    path: &str,
    keep_link: bool,
) -> Result<String, ApiError> {
    let count = items.len() as u64;
    let skip = match query.get("$skip").map(str::trim) {
        None | Some("") => 0,
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| invalid("$skip", format!("'{text}' is not a valid value for $skip")))?,
    };
    let top = match (query.get("$top").map(str::trim), limits.max_top) {
        (None, _) => limits.default_top,
        (Some(""), None) => count.max(1),
        (Some(""), Some(_)) => limits.default_top,
        (Some(text), max) => {
            let top = text
                .parse::<u64>()
                .map_err(|_| invalid("$top", format!("'{text}' is not a valid value for $top")))?;
            let max_text = max.map_or_else(|| "any".to_owned(), |max| max.to_string());
            if top == 0 || max.is_some_and(|max| top > max) {
                return Err(invalid(
                    "$top",
                    format!("$top must be between 1 and {max_text}"),
                ));
            }
            top
        }
    };
    let start = skip.min(count) as usize;
    let end = skip.saturating_add(top).min(count) as usize;
    let more = skip.saturating_add(top) < count;
    let next = (more || keep_link).then(|| {
        let query = query.with_paging(top, skip.saturating_add(top));
        serde_json::to_string(&format!("{base}{path}?{query}")).unwrap_or_default()
    });
    let mut body = String::from("{\"items\":[");
    for (n, item) in items[start..end].iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        body.push_str(&item.text);
    }
    body.push_str("],\"nextPageLink\":");
    body.push_str(next.as_deref().unwrap_or("null"));
    body.push_str(",\"count\":");
    body.push_str(&count.to_string());
    body.push('}');
    Ok(body)
}

/// A bare JSON array of `items`.
pub(crate) fn array(items: &[Item]) -> String {
    let texts: Vec<&str> = items.iter().map(|item| item.text.as_str()).collect();
    format!("[{}]", texts.join(","))
}

/// Ids of deleted records of `endpoint` (only codes and saved lists are ever deleted).
pub(crate) fn deleted_ids(data: &ModeData, endpoint: ListEndpoint) -> Vec<u64> {
    let entity = match endpoint {
        ListEndpoint::Codes => Entity::Code,
        ListEndpoint::SavedLists => Entity::SavedList,
        _ => return Vec::new(),
    };
    (0..data.count(entity))
        .map(|index| data.view(entity, index))
        .filter(|view| view.state == State::Deleted)
        .map(|view| view.id)
        .collect()
}
