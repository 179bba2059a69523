//! The Virtuous query language: parsing a query body and answering it page by page.
//!
//! A body is `{"groups":[{"conditions":[{parameter, operator, value[, secondaryValue | values]}]}],
//! "sortBy", "descending", "includeArchived"}`; conditions in a group are ANDed, groups ORed.
//!
//! Sources disagree on spellings, so both sets are accepted (compared case-insensitively with
//! spaces removed): `GreaterThan`/`Greater Than`, `GreaterThanOrEqual`, `LessThan`,
//! `LessThanOrEqual`, `Is`/`Equals`, `IsNot`, `IsAnyOf`, `IsNoneOf`, `OnOrAfter`/`Is After Or
//! On`/`Is On Or After`, `OnOrBefore`/`Is Before Or On`/`Is On Or Before`, `Is After`/`After`,
//! `Is Before`/`Before`, `Is On`/`On`, `Between`/`Is Between`.
//!
//! Date values may be `YYYY-MM-DD` (a whole UTC day), `YYYY-MM-DDTHH:MM:SS[.fff][Z|±hh:mm]`
//! (a zone-less time is UTC, as the API's own timestamps are) or `MM/DD/YYYY`. A value is an
//! interval — a day, or one millisecond — so `OnOrBefore 2024-01-31` includes that whole day
//! and `Is After 2024-01-31` starts the next. `Between` is inclusive at both ends. Parameter
//! names are case-sensitive like the API's.
//!
//! Answering never materialises the table: ids and creation times grow with the record index,
//! so id and date bounds become an index range, and the sparse overlay covers records that
//! `advance` edited outside it. Sorting by id streams; other sorts collect (key, id) pairs of
//! the matches only.

use std::cell::OnceCell;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::dataset::{Entity, RecordView, VirtuousData, MAX_BASE_EDIT_DELAY_MS};
use super::records::{gift_facts, GiftFacts};

/// Why a query body was refused (the API answers 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum QueryError {
    /// The body is not JSON of the expected shape.
    #[error("the request body is not a valid query: {0}")]
    Body(String),
    /// A condition names a parameter this entity does not have.
    #[error("unknown query parameter '{0}'")]
    UnknownParameter(String),
    /// The operator is unknown or does not apply to the parameter.
    #[error("operator '{operator}' is not supported for '{parameter}'")]
    UnsupportedOperator { parameter: String, operator: String },
    /// The value cannot be read as the parameter's type.
    #[error("invalid value '{value}' for '{parameter}'")]
    BadValue { parameter: String, value: String },
    /// `sortBy` names no sortable field.
    #[error("unknown sort field '{0}'")]
    UnknownSort(String),
}

impl QueryError {
    /// The request field the error is about, for the error body's `details`.
    pub(crate) fn field(&self) -> &str {
        match self {
            QueryError::Body(_) => "body",
            QueryError::UnknownParameter(name)
            | QueryError::UnsupportedOperator {
                parameter: name, ..
            }
            | QueryError::BadValue {
                parameter: name, ..
            } => name,
            QueryError::UnknownSort(_) => "sortBy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Modified,
    Created,
    GiftDate,
    ContactId,
}

impl Field {
    fn for_parameter(entity: Entity, parameter: &str) -> Option<Field> {
        let field = match (entity, parameter) {
            (_, "Id") => Field::Id,
            (_, "Last Modified Date" | "Modified Date") => Field::Modified,
            (_, "Create Date" | "Created Date") => Field::Created,
            (Entity::Contact, "Contact Id") => Field::Id,
            (Entity::Gift, "Gift Id") => Field::Id,
            (Entity::Gift, "Contact Id") => Field::ContactId,
            (Entity::Gift, "Gift Date") => Field::GiftDate,
            (Entity::Project, "Project Id") => Field::Id,
            (Entity::Campaign, "Campaign Id") => Field::Id,
            _ => return None,
        };
        Some(field)
    }

    fn is_date(self) -> bool {
        matches!(self, Field::Modified | Field::Created | Field::GiftDate)
    }
}

/// The query parameters each entity understands, for `QueryOptions`.
pub(crate) fn parameters(entity: Entity) -> Vec<(&'static str, &'static str)> {
    let id = match entity {
        Entity::Contact => "Contact Id",
        Entity::Gift => "Gift Id",
        Entity::Project => "Project Id",
        Entity::Campaign => "Campaign Id",
    };
    let mut list = vec![
        (id, "Number"),
        ("Last Modified Date", "Date"),
        ("Create Date", "Date"),
    ];
    if entity == Entity::Gift {
        list.push(("Gift Date", "Date"));
        list.push(("Contact Id", "Number"));
    }
    list
}

/// Operator names (one spelling of each) offered by `QueryOptions`.
pub(crate) const NUMBER_OPERATORS: &[&str] = &[
    "Is",
    "IsNot",
    "GreaterThan",
    "GreaterThanOrEqual",
    "LessThan",
    "LessThanOrEqual",
    "IsAnyOf",
    "IsNoneOf",
    "Between",
];
/// Date operator names offered by `QueryOptions`.
pub(crate) const DATE_OPERATORS: &[&str] = &[
    "Is On",
    "Is After",
    "Is Before",
    "OnOrAfter",
    "OnOrBefore",
    "Between",
];

/// Which records a condition admits, on the field's value (ids, or Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Matcher {
    Range { lo: Option<i64>, hi: Option<i64> },
    AnyOf(Vec<i64>),
    NoneOf(Vec<i64>),
}

impl Matcher {
    fn admits(&self, value: i64) -> bool {
        match self {
            Matcher::Range { lo, hi } => {
                lo.is_none_or(|lo| value >= lo) && hi.is_none_or(|hi| value <= hi)
            }
            Matcher::AnyOf(values) => values.contains(&value),
            Matcher::NoneOf(values) => !values.contains(&value),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    field: Field,
    matcher: Matcher,
}

/// The sort orders the simulator supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Id,
    Modified,
    Created,
    GiftDate,
    Amount,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    groups: Vec<Vec<Condition>>,
    sort: SortKey,
    descending: bool,
    include_archived: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawQuery {
    #[serde(default)]
    groups: Vec<RawGroup>,
    #[serde(default)]
    sort_by: Option<String>,
    #[serde(default)]
    descending: Option<Value>,
    #[serde(default)]
    include_archived: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct RawGroup {
    #[serde(default)]
    conditions: Vec<RawCondition>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCondition {
    parameter: String,
    operator: String,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    secondary_value: Option<Value>,
    #[serde(default)]
    values: Option<Vec<Value>>,
}

/// Parses a request body (empty means "everything, by id"). With `ignore_unknown`, conditions
/// on unknown parameters and unknown sort fields are dropped silently, as the live API is
/// reported to do.
pub(crate) fn parse(
    entity: Entity,
    body: &[u8],
    ignore_unknown: bool,
) -> Result<Query, QueryError> {
    let raw: RawQuery = if body.iter().all(u8::is_ascii_whitespace) {
        RawQuery {
            groups: Vec::new(),
            sort_by: None,
            descending: None,
            include_archived: None,
        }
    } else {
        serde_json::from_slice(body).map_err(|error| QueryError::Body(error.to_string()))?
    };
    let mut groups = Vec::with_capacity(raw.groups.len());
    for group in raw.groups {
        let mut conditions = Vec::with_capacity(group.conditions.len());
        for raw_condition in group.conditions {
            match parse_condition(entity, &raw_condition) {
                Ok(condition) => conditions.push(condition),
                Err(QueryError::UnknownParameter(_)) if ignore_unknown => {}
                Err(error) => return Err(error),
            }
        }
        groups.push(conditions);
    }
    let sort = match raw.sort_by.as_deref().map(normalise) {
        None => SortKey::Id,
        Some(name) if name.is_empty() => SortKey::Id,
        Some(name) => match sort_key(entity, &name) {
            Some(key) => key,
            None if ignore_unknown => SortKey::Id,
            None => return Err(QueryError::UnknownSort(raw.sort_by.unwrap_or_default())),
        },
    };
    Ok(Query {
        groups,
        sort,
        descending: truthy(raw.descending.as_ref()),
        include_archived: truthy(raw.include_archived.as_ref()),
    })
}

/// Lower case with everything but letters and digits removed: `Is After Or On` → `isafteroron`.
fn normalise(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn truthy(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn sort_key(entity: Entity, name: &str) -> Option<SortKey> {
    let key = match (entity, name) {
        (_, "id") => SortKey::Id,
        (Entity::Contact, "contactid")
        | (Entity::Gift, "giftid")
        | (Entity::Project, "projectid")
        | (Entity::Campaign, "campaignid") => SortKey::Id,
        (_, "lastmodifieddate" | "modifieddate" | "modifieddatetimeutc") => SortKey::Modified,
        (_, "createdate" | "createddate" | "createdatetimeutc") => SortKey::Created,
        (Entity::Gift, "giftdate") => SortKey::GiftDate,
        (Entity::Gift, "amount") => SortKey::Amount,
        _ => return None,
    };
    Some(key)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
    Ne,
    Between,
    AnyOf,
    NoneOf,
}

fn operator(name: &str) -> Option<Op> {
    let op = match normalise(name).as_str() {
        "greaterthanorequal"
        | "greaterthanorequalto"
        | "onorafter"
        | "isafteroron"
        | "isonorafter" => Op::Ge,
        "greaterthan" | "isafter" | "after" => Op::Gt,
        "lessthanorequal" | "lessthanorequalto" | "onorbefore" | "isbeforeoron"
        | "isonorbefore" => Op::Le,
        "lessthan" | "isbefore" | "before" => Op::Lt,
        "is" | "equals" | "equalto" | "ison" | "on" => Op::Eq,
        "isnot" | "notequal" | "notequals" => Op::Ne,
        "between" | "isbetween" => Op::Between,
        "isanyof" | "in" => Op::AnyOf,
        "isnoneof" | "notin" | "isnotanyof" => Op::NoneOf,
        _ => return None,
    };
    Some(op)
}

fn parse_condition(entity: Entity, raw: &RawCondition) -> Result<Condition, QueryError> {
    let field = Field::for_parameter(entity, &raw.parameter)
        .ok_or_else(|| QueryError::UnknownParameter(raw.parameter.clone()))?;
    let unsupported = || QueryError::UnsupportedOperator {
        parameter: raw.parameter.clone(),
        operator: raw.operator.clone(),
    };
    let op = operator(&raw.operator).ok_or_else(unsupported)?;
    let interval = |value: Option<&Value>| -> Result<(i64, i64), QueryError> {
        let value = value.ok_or_else(|| QueryError::BadValue {
            parameter: raw.parameter.clone(),
            value: "(missing)".to_owned(),
        })?;
        operand(field, value).ok_or_else(|| QueryError::BadValue {
            parameter: raw.parameter.clone(),
            value: value.to_string(),
        })
    };
    let list = || -> Result<Vec<i64>, QueryError> {
        let values = raw.values.as_deref().unwrap_or_default();
        let values: Vec<&Value> = if values.is_empty() {
            raw.value.iter().collect()
        } else {
            values.iter().collect()
        };
        values
            .into_iter()
            .map(|value| interval(Some(value)).map(|(start, _)| start))
            .collect()
    };
    let matcher = match op {
        Op::Ge => Matcher::Range {
            lo: Some(interval(raw.value.as_ref())?.0),
            hi: None,
        },
        Op::Gt => Matcher::Range {
            lo: Some(interval(raw.value.as_ref())?.1),
            hi: None,
        },
        Op::Le => Matcher::Range {
            lo: None,
            hi: Some(interval(raw.value.as_ref())?.1 - 1),
        },
        Op::Lt => Matcher::Range {
            lo: None,
            hi: Some(interval(raw.value.as_ref())?.0 - 1),
        },
        Op::Eq => {
            let (start, end) = interval(raw.value.as_ref())?;
            Matcher::Range {
                lo: Some(start),
                hi: Some(end - 1),
            }
        }
        Op::Between => {
            let second = raw
                .secondary_value
                .as_ref()
                .or_else(|| raw.values.as_ref().and_then(|values| values.get(1)));
            let first = raw
                .value
                .as_ref()
                .or_else(|| raw.values.as_ref().and_then(|values| values.first()));
            Matcher::Range {
                lo: Some(interval(first)?.0),
                hi: Some(interval(second)?.1 - 1),
            }
        }
        Op::Ne | Op::AnyOf | Op::NoneOf if field.is_date() => return Err(unsupported()),
        Op::Ne => Matcher::NoneOf(vec![interval(raw.value.as_ref())?.0]),
        Op::AnyOf => Matcher::AnyOf(list()?),
        Op::NoneOf => Matcher::NoneOf(list()?),
    };
    Ok(Condition { field, matcher })
}

/// The half-open interval a value denotes: `[n, n+1)` for numbers, a whole day for dates, one
/// millisecond for times.
fn operand(field: Field, value: &Value) -> Option<(i64, i64)> {
    if !field.is_date() {
        let number = match value {
            Value::Number(number) => number.as_i64()?,
            Value::String(text) => text.trim().parse().ok()?,
            _ => return None,
        };
        return Some((number, number.checked_add(1)?));
    }
    let text = value.as_str()?.trim();
    parse_date_interval(text)
}

/// Reads the date and time spellings the API documents and clients send.
pub(crate) fn parse_date_interval(text: &str) -> Option<(i64, i64)> {
    const DAY_MS: i64 = 86_400_000;
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        let ms = time.with_timezone(&Utc).timestamp_millis();
        return Some((ms, ms + 1));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            let ms = time.and_utc().timestamp_millis();
            return Some((ms, ms + 1));
        }
    }
    for format in ["%Y-%m-%d", "%m/%d/%Y"] {
        if let Ok(date) = NaiveDate::parse_from_str(text, format) {
            let ms = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
            return Some((ms, ms + DAY_MS));
        }
    }
    None
}

/// One page of answers and the number of records matching the whole query.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) views: Vec<RecordView>,
    pub(crate) total: u64,
}

/// A record's field values, computing the gift-only ones only when a condition asks.
struct Facts<'a> {
    data: &'a VirtuousData,
    view: &'a RecordView,
    gift: OnceCell<GiftFacts>,
}

impl Facts<'_> {
    fn gift(&self) -> &GiftFacts {
        self.gift.get_or_init(|| gift_facts(self.data, self.view))
    }

    fn value(&self, field: Field) -> Option<i64> {
        match field {
            Field::Id => i64::try_from(self.view.id).ok(),
            Field::Modified => Some(self.view.modified_ms),
            Field::Created => Some(self.view.created_ms),
            Field::GiftDate => Some(self.gift().gift_date_ms),
            Field::ContactId => {
                let index = self.gift().contact_index?;
                i64::try_from(self.data.id(Entity::Contact, index)).ok()
            }
        }
    }

    fn sort_value(&self, key: SortKey) -> i64 {
        match key {
            SortKey::Id => self.value(Field::Id).unwrap_or(i64::MAX),
            SortKey::Modified => self.view.modified_ms,
            SortKey::Created => self.view.created_ms,
            SortKey::GiftDate => self.gift().gift_date_ms,
            SortKey::Amount => i64::try_from(self.gift().amount_cents).unwrap_or(i64::MAX),
        }
    }
}

fn visible(view: &RecordView, include_archived: bool) -> bool {
    !view.deleted && (include_archived || !view.archived)
}

impl Query {
    fn admits(&self, facts: &Facts<'_>) -> bool {
        visible(facts.view, self.include_archived)
            && (self.groups.is_empty()
                || self.groups.iter().any(|group| {
                    group.iter().all(|condition| {
                        facts
                            .value(condition.field)
                            .is_some_and(|value| condition.matcher.admits(value))
                    })
                }))
    }

    /// The total when it can be counted without looking at records: at most one group, and
    /// only id ranges in it.
    fn counts_arithmetically(&self) -> bool {
        self.groups.len() <= 1
            && self.groups.iter().flatten().all(|condition| {
                condition.field == Field::Id && matches!(condition.matcher, Matcher::Range { .. })
            })
    }
}

/// The candidate records for a query: an index range plus, when a modification-date lower
/// bound narrowed it, the overlay records below it (edited records can be old but recently
/// modified).
struct Candidates {
    lo: u64,
    hi: u64,
    overlay_below: bool,
}

fn first_index(data: &VirtuousData, entity: Entity, reached: impl Fn(i64) -> bool) -> u64 {
    // Binary search on the non-decreasing whole-second creation time.
    let (mut lo, mut hi) = (0, data.count(entity));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if reached(data.created_floor_ms(entity, mid)) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

fn group_candidates(data: &VirtuousData, entity: Entity, group: &[Condition]) -> Candidates {
    let mut bounds = Candidates {
        lo: 0,
        hi: data.count(entity),
        overlay_below: false,
    };
    let id_at_least = |id: i64| data.first_index_with_id_at_least(entity, id);
    for condition in group {
        let (lo, hi) = match &condition.matcher {
            Matcher::Range { lo, hi } => (*lo, *hi),
            Matcher::AnyOf(values) => (values.iter().min().copied(), values.iter().max().copied()),
            Matcher::NoneOf(_) => (None, None),
        };
        match condition.field {
            Field::Id => {
                if let Some(lo) = lo {
                    bounds.lo = bounds.lo.max(id_at_least(lo));
                }
                if let Some(hi) = hi {
                    bounds.hi = bounds.hi.min(id_at_least(hi.saturating_add(1)));
                }
                if matches!(&condition.matcher, Matcher::AnyOf(values) if values.is_empty()) {
                    bounds.hi = bounds.lo;
                }
            }
            Field::Created | Field::Modified => {
                // created ∈ [floor, floor + 999]; untouched records have modified ≤ created +
                // MAX_BASE_EDIT_DELAY; every record has modified ≥ created.
                if let Some(lo) = lo {
                    let slack = if condition.field == Field::Modified {
                        bounds.overlay_below = true;
                        MAX_BASE_EDIT_DELAY_MS + 999
                    } else {
                        999
                    };
                    bounds.lo = bounds
                        .lo
                        .max(first_index(data, entity, |floor| floor >= lo - slack));
                }
                if let Some(hi) = hi {
                    bounds.hi = bounds.hi.min(first_index(data, entity, |floor| floor > hi));
                }
            }
            Field::GiftDate | Field::ContactId => {}
        }
    }
    bounds.hi = bounds.hi.max(bounds.lo);
    bounds
}

fn candidates(data: &VirtuousData, entity: Entity, query: &Query) -> Candidates {
    let mut groups = query.groups.iter();
    let Some(first) = groups.next() else {
        return group_candidates(data, entity, &[]);
    };
    groups.fold(group_candidates(data, entity, first), |all, group| {
        let next = group_candidates(data, entity, group);
        Candidates {
            lo: all.lo.min(next.lo),
            hi: all.hi.max(next.hi),
            overlay_below: all.overlay_below || next.overlay_below,
        }
    })
}

/// Visible records in `lo..hi` when only id bounds apply: arithmetic for the initial data,
/// corrected by the overlay.
fn visible_count(
    data: &VirtuousData,
    entity: Entity,
    lo: u64,
    hi: u64,
    include_archived: bool,
) -> u64 {
    let mut count = hi - lo;
    if !include_archived {
        count -= data.base_archived_in(entity, lo, hi);
    }
    for index in data.overlay_indices(entity, lo..hi) {
        let was_visible = include_archived || !data.base_archived(entity, index);
        let is_visible = visible(&data.view(entity, index), include_archived);
        count = count + u64::from(is_visible) - u64::from(was_visible);
    }
    count
}

/// A record in a sorted answer: its sort key, its id (for ties) and its index.
type SortEntry = (i64, u64, u64);

/// Record `index`'s [`SortEntry`] if `query` admits it.
fn sort_entry(data: &VirtuousData, entity: Entity, query: &Query, index: u64) -> Option<SortEntry> {
    let view = data.view(entity, index);
    let facts = Facts {
        data,
        view: &view,
        gift: OnceCell::new(),
    };
    query
        .admits(&facts)
        .then(|| (facts.sort_value(query.sort), view.id, index))
}

/// Answers `query` for `entity` with `skip`/`take`.
pub(crate) fn execute(
    data: &VirtuousData,
    entity: Entity,
    query: &Query,
    skip: u64,
    take: u64,
) -> Page {
    let bounds = candidates(data, entity, query);
    let below: Vec<u64> = if bounds.overlay_below {
        data.overlay_indices(entity, ..bounds.lo).collect()
    } else {
        Vec::new()
    };
    let ascending = below.iter().copied().chain(bounds.lo..bounds.hi);
    let indices: Box<dyn Iterator<Item = u64>> = match (query.sort, query.descending) {
        (SortKey::Id, true) => Box::new(
            (bounds.lo..bounds.hi)
                .rev()
                .chain(below.iter().rev().copied()),
        ),
        _ => Box::new(ascending),
    };

    if query.sort != SortKey::Id && query.descending && !bounds.overlay_below {
        if let Some(slack) = creation_slack(query.sort) {
            if query.counts_arithmetically() {
                return newest_first(data, entity, query, &bounds, skip, take, slack);
            }
        }
    }
    if query.sort != SortKey::Id {
        let mut keyed: Vec<SortEntry> = indices
            .filter_map(|index| sort_entry(data, entity, query, index))
            .collect();
        let total = keyed.len() as u64;
        // Keys are unique (ids are), so the order is total: only the first `skip + take` need
        // sorting, which keeps a newest-record query (take 1) linear over a million gifts.
        let order = |a: &SortEntry, b: &SortEntry| {
            if query.descending {
                b.cmp(a)
            } else {
                a.cmp(b)
            }
        };
        let wanted = usize::try_from(skip.saturating_add(take)).unwrap_or(usize::MAX);
        if wanted < keyed.len() {
            keyed.select_nth_unstable_by(wanted, order);
            keyed.truncate(wanted);
        }
        keyed.sort_unstable_by(order);
        let views = keyed
            .iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .map(|(_, _, index)| data.view(entity, *index))
            .collect();
        return Page { views, total };
    }

    let known_total = query
        .counts_arithmetically()
        .then(|| visible_count(data, entity, bounds.lo, bounds.hi, query.include_archived));
    let mut views = Vec::new();
    let mut seen = 0u64;
    for index in indices {
        if known_total.is_some() && seen >= skip.saturating_add(take) {
            break;
        }
        let view = data.view(entity, index);
        let facts = Facts {
            data,
            view: &view,
            gift: OnceCell::new(),
        };
        if !query.admits(&facts) {
            continue;
        }
        if seen >= skip && (views.len() as u64) < take {
            views.push(view);
        }
        seen += 1;
    }
    Page {
        views,
        total: known_total.unwrap_or(seen),
    }
}

/// How far past its whole-second creation time an unedited record's `key` can lie: the bound that
/// lets a newest-first query stop early. `None` for keys not tied to creation.
fn creation_slack(key: SortKey) -> Option<i64> {
    match key {
        SortKey::Modified => Some(MAX_BASE_EDIT_DELAY_MS + 999),
        SortKey::Created => Some(999),
        SortKey::Id | SortKey::GiftDate | SortKey::Amount => None,
    }
}

/// A descending modification- or creation-date query whose total is arithmetic (the watermark
/// query, `take` 1 over every record): edited records are looked at wherever they are, the others
/// newest first only until none left can reach the page, since an unedited record's key is at most
/// `slack` past its creation second, which never decreases with the index. A database answers it
/// from an index; a scan of a million gifts took the simulator ~90 ms per query.
fn newest_first(
    data: &VirtuousData,
    entity: Entity,
    query: &Query,
    bounds: &Candidates,
    skip: u64,
    take: u64,
    slack: i64,
) -> Page {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let total = visible_count(data, entity, bounds.lo, bounds.hi, query.include_archived);
    let wanted = usize::try_from(skip.saturating_add(take)).unwrap_or(usize::MAX);
    // The best `wanted` seen so far, weakest on top.
    let mut best: BinaryHeap<Reverse<SortEntry>> = BinaryHeap::new();
    let consider = |best: &mut BinaryHeap<Reverse<SortEntry>>, index: u64| {
        if let Some(entry) = sort_entry(data, entity, query, index) {
            best.push(Reverse(entry));
            if best.len() > wanted {
                best.pop();
            }
        }
    };
    let edited: Vec<u64> = data.overlay_indices(entity, bounds.lo..bounds.hi).collect();
    for &index in &edited {
        consider(&mut best, index);
    }
    let mut edited_below = edited.len();
    for index in (bounds.lo..bounds.hi).rev() {
        while edited_below > 0 && edited[edited_below - 1] > index {
            edited_below -= 1;
        }
        if edited_below > 0 && edited[edited_below - 1] == index {
            continue; // already considered
        }
        if wanted == 0 {
            break;
        }
        if best.len() == wanted {
            let Some(Reverse((weakest, _, _))) = best.peek() else {
                break;
            };
            if data.created_floor_ms(entity, index) + slack < *weakest {
                break;
            }
        }
        consider(&mut best, index);
    }
    let mut keyed: Vec<SortEntry> = best.into_iter().map(|Reverse(k)| k).collect();
    keyed.sort_unstable_by(|a, b| b.cmp(a));
    let views = keyed
        .iter()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .map(|(_, _, index)| data.view(entity, *index))
        .collect();
    Page { views, total }
}
