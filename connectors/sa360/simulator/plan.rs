//! From a parsed query to rows: semantic checks against the field catalogue (with the API's
//! `QueryError` codes), then a lazy scan that derives each row when it is needed.
//!
//! A plan's rows have a fixed order and a *position* each: rows are numbered subject-major
//! (entity by entity, in id order), then by day, so position `p` is subject `p / span`, day
//! `first_day + p % span`. A page resumes from a position, so serving page 400 of a
//! five-million-row report costs one page of work, not 400. `ORDER BY` is the exception: its sort
//! needs every row's key once, and the sorted positions are then kept with the page token (the
//! API also caches a query's whole result set between pages).

use std::cmp::Ordering;

use chrono::{Datelike, NaiveDate, Weekday};
use serde_json::{json, Map, Value};

use super::dataset::{date_of, day_of, Kind, Sa360Data};
use super::errors::Sa360Error;
use super::fields::{self, Category, FieldDef, FieldKind, Resource, Row, Subject, Typed};
use super::gaql::{self, Condition, Literal, Op, Operand};
use super::metrics::{self, Level, Metrics};
use super::records;

/// One item of the SELECT list.
#[derive(Debug, Clone)]
pub(crate) enum Selected {
    Field(&'static FieldDef),
    /// `custom_columns.id[N]`: the column's position in its account (which fixes its formula).
    Custom {
        index: usize,
    },
}

/// A test on one field.
#[derive(Debug, Clone)]
enum Test {
    Compare(Op, Typed),
    Within(Vec<Typed>, bool),
    Like(String, bool),
    Null(bool),
    Between(Typed, Typed),
}

#[derive(Debug, Clone)]
struct Filter {
    field: &'static FieldDef,
    test: Test,
}

impl Filter {
    fn admits(&self, row: &Row<'_>) -> bool {
        let value = (self.field.get)(row);
        let Some(value) = value else {
            return matches!(self.test, Test::Null(true));
        };
        let order = |other: &Typed| value.compare(other);
        match &self.test {
            Test::Compare(op, operand) => match (op, order(operand)) {
                (Op::Eq, Some(o)) => o == Ordering::Equal,
                (Op::Ne, Some(o)) => o != Ordering::Equal,
                (Op::Ne, None) => true,
                (Op::Lt, Some(o)) => o == Ordering::Less,
                (Op::Le, Some(o)) => o != Ordering::Greater,
                (Op::Gt, Some(o)) => o == Ordering::Greater,
                (Op::Ge, Some(o)) => o != Ordering::Less,
                _ => false,
            },
            Test::Within(values, negated) => {
                values.iter().any(|v| order(v) == Some(Ordering::Equal)) != *negated
            }
            Test::Like(pattern, negated) => match &value {
                Typed::Str(text) => like(pattern, text) != *negated,
                _ => false,
            },
            Test::Null(wants_null) => match &value {
                Typed::List(items) => items.is_empty() == *wants_null,
                _ => !wants_null,
            },
            Test::Between(low, high) => {
                order(low).is_some_and(|o| o != Ordering::Less)
                    && order(high).is_some_and(|o| o != Ordering::Greater)
            }
        }
    }
}

/// SQL `LIKE`: `%` any run, `_` one character; case-sensitive.
fn like(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|skip| go(rest, &t[skip..])),
            Some(('_', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// A validated query for one account against one data snapshot.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) account: usize,
    pub(crate) select: Vec<Selected>,
    /// Resources written with their `resourceName` (FROM first).
    resources: Vec<Resource>,
    entity_filters: Vec<Filter>,
    /// Date tests the bounds do not already express (`!=`, `IN`), checked row by row.
    date_filters: Vec<Filter>,
    /// Metric tests, checked on each row's metrics.
    metric_filters: Vec<Filter>,
    /// The day range rows may fall in (empty when `first_day > last_day`).
    pub(crate) first_day: i32,
    pub(crate) last_day: i32,
    /// `segments.date` selected: one row per entity per day.
    pub(crate) by_date: bool,
    /// Whether the WHERE clause filters on `segments.date`.
    dated: bool,
    /// Whether rows need metrics (selected, filtered, ordered or behind a custom column).
    needs_metrics: bool,
    /// Whether any metric (or metric custom column) is selected: a summary row is possible.
    pub(crate) selects_metrics: bool,
    order: Vec<(&'static FieldDef, bool)>,
    pub(crate) limit: Option<u64>,
    pub(crate) field_mask: String,
    pub(crate) custom_headers: Vec<Value>,
    subjects: Vec<Subject>,
}

fn error(code: &'static str, message: impl Into<String>) -> Sa360Error {
    Sa360Error::new("queryError", code, message)
}

/// Parses `text` and checks it against the catalogue for `account` (an index into the data's
/// accounts), resolving relative dates against the data's today.
pub(crate) fn plan(text: &str, data: &Sa360Data, account: usize) -> Result<Plan, Sa360Error> {
    let query = gaql::parse(text)?;
    let Some(resource) = Resource::from_name(&query.from) else {
        return Err(error(
            "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE",
            format!(
                "Error in FROM clause: invalid resource name '{}'.",
                query.from
            ),
        )
        .triggered_by(query.from.clone()));
    };
    let attributed = resource.attributed();
    let check_category =
        |field: &'static FieldDef, clause: &'static str| -> Result<(), Sa360Error> {
            match field.category() {
                Category::Attribute(of) if !attributed.contains(&of) => Err(error(
                    if clause == "WHERE" {
                        "PROHIBITED_RESOURCE_TYPE_IN_WHERE_CLAUSE"
                    } else {
                        "PROHIBITED_RESOURCE_TYPE_IN_SELECT_CLAUSE"
                    },
                    format!(
                        "Error in {clause} clause: '{}' cannot be used with resource '{}'.",
                        field.name,
                        resource.name()
                    ),
                )
                .triggered_by(field.name)),
                Category::Metric if !resource.has_metrics() => Err(error(
                    "PROHIBITED_METRIC_IN_SELECT_OR_WHERE_CLAUSE",
                    format!(
                        "Error in {clause} clause: metric '{}' cannot be used with resource '{}'.",
                        field.name,
                        resource.name()
                    ),
                )
                .triggered_by(field.name)),
                Category::Segment if !resource.has_metrics() => Err(error(
                    "PROHIBITED_SEGMENT_IN_SELECT_OR_WHERE_CLAUSE",
                    format!(
                        "Error in {clause} clause: segment '{}' cannot be used with resource '{}'.",
                        field.name,
                        resource.name()
                    ),
                )
                .triggered_by(field.name)),
                _ => Ok(()),
            }
        };
    let unrecognized = |name: &str, clause: &str| {
        error(
            "UNRECOGNIZED_FIELD",
            format!("Error in {clause} clause: unrecognized field '{name}'."),
        )
        .triggered_by(name)
    };

    let mut select = Vec::new();
    let mut custom_headers = Vec::new();
    let mut mask = Vec::new();
    let client = data.client_of(account);
    for name in &query.select {
        if let Some(id) = name
            .strip_prefix("custom_columns.id[")
            .and_then(|rest| rest.strip_suffix(']'))
        {
            let id: u64 = id.parse().map_err(|_| unrecognized(name, "SELECT"))?;
            let column = client.and_then(|client| {
                client
                    .table(Kind::CustomColumn)
                    .iter()
                    .position(|column| column.id == id)
            });
            let Some(index) = column else {
                return Err(Sa360Error::new(
                    "customColumnError",
                    "CUSTOM_COLUMN_NOT_FOUND",
                    format!("The custom column {id} has not been found."),
                )
                .triggered_by(name.clone()));
            };
            if !resource.has_metrics() {
                return Err(Sa360Error::new(
                    "customColumnError",
                    "CUSTOM_COLUMN_NOT_AVAILABLE",
                    format!(
                        "The custom column {id} is not available with resource '{}'.",
                        resource.name()
                    ),
                ));
            }
            if mask.contains(&format!("customColumns.id[{id}]")) {
                continue;
            }
            let (column_name, _, _, _) = records::custom_column(index);
            custom_headers.push(
                json!({"id": id.to_string(), "name": column_name, "referencesMetrics": true}),
            );
            mask.push(format!("customColumns.id[{id}]"));
            select.push(Selected::Custom { index });
            continue;
        }
        let Some(field) = fields::lookup(name) else {
            return Err(unrecognized(name, "SELECT"));
        };
        check_category(field, "SELECT")?;
        let path = field.json_path();
        if !mask.contains(&path) {
            mask.push(path);
            select.push(Selected::Field(field));
        }
    }

    let today = data.today_day();
    let mut bounds = (None::<i32>, None::<i32>);
    let mut entity_filters = Vec::new();
    let mut date_filters = Vec::new();
    let mut metric_filters = Vec::new();
    let mut dated = false;
    let mut filters_metrics = false;
    for condition in &query.conditions {
        if condition.field.starts_with("custom_columns.") {
            return Err(error(
                "PROHIBITED_FIELD_IN_WHERE_CLAUSE",
                format!(
                    "Error in WHERE clause: '{}' cannot be filtered on.",
                    condition.field
                ),
            ));
        }
        let Some(field) = fields::lookup(&condition.field) else {
            return Err(unrecognized(&condition.field, "WHERE"));
        };
        check_category(field, "WHERE")?;
        let filter = filter(field, condition, today)?;
        match field.category() {
            Category::Segment => {
                dated = true;
                // Range tests are exactly the bounds; only the rest is checked row by row.
                if !narrow(&mut bounds, &filter.test) {
                    date_filters.push(filter);
                }
            }
            Category::Metric => {
                filters_metrics = true;
                metric_filters.push(filter);
            }
            Category::Attribute(_) => entity_filters.push(filter),
        }
    }

    let mut order = Vec::new();
    for (name, descending) in &query.order_by {
        let Some(field) = fields::lookup(name) else {
            return Err(unrecognized(name, "ORDER BY"));
        };
        check_category(field, "ORDER BY")?;
        if field.repeated() {
            return Err(error(
                "PROHIBITED_FIELD_IN_ORDER_BY_CLAUSE",
                format!("Error in ORDER BY clause: repeated field '{name}' cannot be ordered by."),
            ));
        }
        order.push((field, *descending));
    }

    let by_date = select
        .iter()
        .any(|item| matches!(item, Selected::Field(f) if f.category() == Category::Segment));
    if by_date && (bounds.0.is_none() || bounds.1.is_none()) {
        return Err(error(
            "EXPECTED_FILTERS_ON_DATE_RANGE",
            "Error in WHERE clause: a finite date range must be given when segments.date is selected.",
        ));
    }
    let selects_metrics = select.iter().any(|item| match item {
        Selected::Field(f) => f.category() == Category::Metric,
        Selected::Custom { .. } => true,
    });
    let orders_metrics = order.iter().any(|(f, _)| f.category() == Category::Metric);
    let needs_metrics = selects_metrics || filters_metrics || orders_metrics;
    let node = &data.accounts[account];
    if node.spec.manager && (needs_metrics || by_date || dated) {
        return Err(error(
            "REQUESTED_METRICS_FOR_MANAGER",
            "Metrics cannot be requested for a manager account. To retrieve metrics, issue separate requests against each client account under the manager account.",
        ));
    }

    let mut resources = vec![resource];
    for item in &select {
        if let Selected::Field(field) = item {
            if let Category::Attribute(of) = field.category() {
                if !resources.contains(&of) {
                    resources.push(of);
                }
            }
        }
    }
    let first_day = bounds.0.unwrap_or(data.data_start).max(data.data_start);
    let last_day = bounds.1.unwrap_or(today).min(today);
    let subjects = subjects(data, account, resource);
    Ok(Plan {
        account,
        select,
        resources,
        entity_filters,
        date_filters,
        metric_filters,
        first_day,
        last_day,
        by_date,
        dated,
        needs_metrics,
        selects_metrics,
        order,
        limit: query.limit,
        field_mask: mask.join(","),
        custom_headers,
        subjects,
    })
}

/// The rows' subjects of `resource` for `account`, in id order.
fn subjects(data: &Sa360Data, account: usize, resource: Resource) -> Vec<Subject> {
    match resource {
        Resource::Customer => vec![Subject::Customer],
        Resource::CustomerClient => data
            .subtree(account)
            .into_iter()
            .map(Subject::CustomerClient)
            .collect(),
        _ => {
            let kind = resource.kind().expect("entity resources have a table");
            let count = data
                .client_of(account)
                .map_or(0, |client| client.table(kind).len());
            (0..count)
                .map(|index| Subject::Entity(kind, index))
                .collect()
        }
    }
}

/// Intersects the day bounds with what a date test implies; true when the test says nothing
/// more than the bounds (so rows need not check it).
fn narrow(bounds: &mut (Option<i32>, Option<i32>), test: &Test) -> bool {
    let day = |value: &Typed| match value {
        Typed::Date(day) => Some(*day),
        _ => None,
    };
    let (low, high) = match test {
        Test::Between(low, high) => (day(low), day(high)),
        Test::Compare(Op::Eq, value) => (day(value), day(value)),
        Test::Compare(Op::Ge, value) => (day(value), None),
        Test::Compare(Op::Gt, value) => (day(value).map(|d| d + 1), None),
        Test::Compare(Op::Le, value) => (None, day(value)),
        Test::Compare(Op::Lt, value) => (None, day(value).map(|d| d - 1)),
        Test::Within(values, false) => (
            values.iter().filter_map(day).min(),
            values.iter().filter_map(day).max(),
        ),
        _ => (None, None),
    };
    if let Some(low) = low {
        bounds.0 = Some(bounds.0.map_or(low, |b| b.max(low)));
    }
    if let Some(high) = high {
        bounds.1 = Some(bounds.1.map_or(high, |b| b.min(high)));
    }
    matches!(
        test,
        Test::Between(..) | Test::Compare(Op::Eq | Op::Ge | Op::Gt | Op::Le | Op::Lt, _)
    )
}

/// Parses `YYYY-MM-DD`.
pub(crate) fn parse_date(text: &str) -> Option<i32> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    Some(day_of(date))
}

/// The inclusive day range of a `DURING` literal relative to `today`.
pub(crate) fn date_range_literal(literal: &str, today: i32) -> Option<(i32, i32)> {
    let date = date_of(today);
    let weekday = |start: Weekday| -> i32 {
        let from = match start {
            Weekday::Mon => date.weekday().num_days_from_monday(),
            _ => date.weekday().num_days_from_sunday(),
        };
        today - from as i32
    };
    let month_start = |d: NaiveDate| day_of(d.with_day(1).unwrap_or(d));
    Some(match literal {
        "TODAY" => (today, today),
        "YESTERDAY" => (today - 1, today - 1),
        "LAST_7_DAYS" => (today - 7, today - 1),
        "LAST_14_DAYS" => (today - 14, today - 1),
        "LAST_30_DAYS" => (today - 30, today - 1),
        "THIS_MONTH" => (month_start(date), today),
        "LAST_MONTH" => {
            let this = month_start(date);
            let last_of_previous = this - 1;
            (month_start(date_of(last_of_previous)), last_of_previous)
        }
        "THIS_WEEK_SUN_TODAY" => (weekday(Weekday::Sun), today),
        "THIS_WEEK_MON_TODAY" => (weekday(Weekday::Mon), today),
        "LAST_WEEK_SUN_SAT" => {
            let start = weekday(Weekday::Sun) - 7;
            (start, start + 6)
        }
        "LAST_WEEK_MON_SUN" => {
            let start = weekday(Weekday::Mon) - 7;
            (start, start + 6)
        }
        "LAST_BUSINESS_WEEK" => {
            let start = weekday(Weekday::Mon) - 7;
            (start, start + 4)
        }
        _ => return None,
    })
}

/// Converts a literal to a value of `field`'s type, with the API's error for a mismatch.
fn value(field: &FieldDef, literal: &Literal, between: bool) -> Result<Typed, Sa360Error> {
    let bad = |code: &'static str, what: &str| {
        error(
            code,
            format!(
                "Error in WHERE clause: invalid value '{}' for {what} field '{}'.",
                literal.text(),
                field.name
            ),
        )
        .triggered_by(literal.text())
    };
    match field.kind {
        FieldKind::Int64 | FieldKind::Int32 => match literal {
            Literal::Num(text) | Literal::Str(text) => text
                .parse()
                .map(Typed::Int)
                .map_err(|_| bad("BAD_NUMBER", "integer")),
            Literal::Ident(_) => Err(bad("BAD_NUMBER", "integer")),
        },
        FieldKind::Double => match literal {
            Literal::Num(text) | Literal::Str(text) => text
                .parse()
                .map(Typed::Double)
                .map_err(|_| bad("BAD_NUMBER", "number")),
            Literal::Ident(_) => Err(bad("BAD_NUMBER", "number")),
        },
        FieldKind::Str | FieldKind::StrList => match literal {
            Literal::Str(text) => Ok(Typed::Str(text.clone())),
            _ => Err(bad("INVALID_STRING_VALUE", "string")),
        },
        FieldKind::Bool => match literal {
            Literal::Ident(word) if word.eq_ignore_ascii_case("true") => Ok(Typed::Bool(true)),
            Literal::Ident(word) if word.eq_ignore_ascii_case("false") => Ok(Typed::Bool(false)),
            _ => Err(bad("BAD_VALUE", "boolean")),
        },
        FieldKind::Date => match literal {
            Literal::Str(text) => parse_date(text).map(Typed::Date).ok_or_else(|| {
                if between {
                    bad("INVALID_VALUE_WITH_BETWEEN_OPERATOR", "date")
                } else {
                    bad("INVALID_DATE_FORMAT", "date")
                }
            }),
            _ if between => Err(bad("INVALID_VALUE_WITH_BETWEEN_OPERATOR", "date")),
            _ => Err(bad("INVALID_DATE_FORMAT", "date")),
        },
        FieldKind::Enum(def) => {
            let constant = match literal {
                Literal::Ident(text) | Literal::Str(text) => text.as_str(),
                Literal::Num(_) => return Err(bad("BAD_ENUM_CONSTANT", "enum")),
            };
            if constant == "UNKNOWN" || constant == "UNSPECIFIED" {
                return Err(bad("PROHIBITED_ENUM_CONSTANT", "enum"));
            }
            let known = def.values.contains(&constant);
            let well_formed = constant
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if known || (!def.complete && well_formed) {
                Ok(Typed::Str(constant.to_owned()))
            } else {
                Err(bad("BAD_ENUM_CONSTANT", "enum"))
            }
        }
    }
}

fn filter(
    field: &'static FieldDef,
    condition: &Condition,
    today: i32,
) -> Result<Filter, Sa360Error> {
    let mismatch = || {
        error(
            "OPERATOR_FIELD_MISMATCH",
            format!(
                "Error in WHERE clause: operator {} cannot be used with field '{}'.",
                condition.op.text(),
                field.name
            ),
        )
        .triggered_by(field.name)
    };
    let numeric_or_date = matches!(
        field.kind,
        FieldKind::Int64 | FieldKind::Int32 | FieldKind::Double | FieldKind::Date
    );
    if field.repeated() && !matches!(condition.op, Op::IsNull | Op::IsNotNull) {
        return Err(error(
            "PROHIBITED_FIELD_IN_WHERE_CLAUSE",
            format!(
                "Error in WHERE clause: repeated field '{}' can only be tested with IS NULL.",
                field.name
            ),
        ));
    }
    let test = match (condition.op, &condition.operand) {
        (Op::IsNull, _) => Test::Null(true),
        (Op::IsNotNull, _) => Test::Null(false),
        (Op::During, Operand::One(literal)) => {
            if !matches!(field.kind, FieldKind::Date) {
                return Err(mismatch());
            }
            let Some((low, high)) = date_range_literal(literal.text(), today) else {
                return Err(error(
                    "INVALID_VALUE_WITH_DURING_OPERATOR",
                    format!(
                        "Error in WHERE clause: '{}' is not a date range literal.",
                        literal.text()
                    ),
                )
                .triggered_by(literal.text()));
            };
            Test::Between(Typed::Date(low), Typed::Date(high))
        }
        (Op::Between, Operand::Pair(low, high)) => {
            if !numeric_or_date {
                return Err(mismatch());
            }
            let (low, high) = (value(field, low, true)?, value(field, high, true)?);
            if low.compare(&high) == Some(Ordering::Greater) {
                return Err(error(
                    "DATE_RANGE_TOO_NARROW",
                    "Error in WHERE clause: the start of the range is after its end.",
                ));
            }
            Test::Between(low, high)
        }
        (Op::Like | Op::NotLike, Operand::One(literal)) => {
            if !matches!(field.kind, FieldKind::Str) {
                return Err(mismatch());
            }
            let Literal::Str(pattern) = literal else {
                return Err(error(
                    "INVALID_VALUE_WITH_LIKE_OPERATOR",
                    "Error in WHERE clause: LIKE needs a quoted pattern.",
                ));
            };
            Test::Like(pattern.clone(), condition.op == Op::NotLike)
        }
        (Op::In | Op::NotIn, Operand::List(literals)) => {
            // Quoted and bare constants are both text; numbers are another type.
            let numeric = |literal: &Literal| matches!(literal, Literal::Num(_));
            if literals.iter().any(|l| numeric(l) != numeric(&literals[0])) {
                return Err(error(
                    "PROHIBITED_VALUE_COMBINATION_IN_LIST",
                    "Error in WHERE clause: a list mixes values of different types.",
                ));
            }
            let values = literals
                .iter()
                .map(|literal| value(field, literal, false))
                .collect::<Result<Vec<_>, _>>()?;
            Test::Within(values, condition.op == Op::NotIn)
        }
        (op @ (Op::Lt | Op::Le | Op::Gt | Op::Ge), Operand::One(literal)) => {
            if !numeric_or_date {
                return Err(mismatch());
            }
            Test::Compare(op, value(field, literal, false)?)
        }
        (op @ (Op::Eq | Op::Ne), Operand::One(literal)) => {
            Test::Compare(op, value(field, literal, false)?)
        }
        _ => return Err(mismatch()),
    };
    Ok(Filter { field, test })
}

/// One produced row: its position and the subject/day it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RowRef {
    pub(crate) position: u64,
    subject: usize,
    day: Option<i32>,
}

impl Plan {
    /// Whether every row of a candidate subject is in the result (no row-level tests).
    fn unfiltered_rows(&self) -> bool {
        self.date_filters.is_empty() && self.metric_filters.is_empty()
    }

    /// Positions per subject.
    fn span(&self) -> u64 {
        if self.by_date {
            (self.last_day - self.first_day + 1).max(1) as u64
        } else {
            1
        }
    }

    fn row<'a>(&self, data: &'a Sa360Data, subject: usize, day: Option<i32>) -> Row<'a> {
        Row {
            data,
            account: self.account,
            subject: self.subjects[subject],
            day,
            metrics: None,
        }
    }

    /// The days a subject has rows on, within the plan's range.
    fn subject_days(&self, data: &Sa360Data, subject: usize) -> Option<(i32, i32)> {
        if self.first_day > self.last_day {
            return None;
        }
        match self.subjects[subject] {
            Subject::Customer => {
                let created = data.accounts[self.account].created;
                let start = self.first_day.max(created);
                (start <= self.last_day).then_some((start, self.last_day))
            }
            Subject::CustomerClient(_) => Some((self.first_day, self.last_day)),
            Subject::Entity(kind, index) => {
                let client = data.client_of(self.account)?;
                client.table(kind)[index].row_days(self.first_day, self.last_day)
            }
        }
    }

    /// Whether a subject passes the attribute filters, and the days its rows may cover.
    fn candidate(&self, data: &Sa360Data, subject: usize) -> Option<Option<(i32, i32)>> {
        let row = self.row(data, subject, None);
        if !self.entity_filters.iter().all(|filter| filter.admits(&row)) {
            return None;
        }
        if self.by_date || self.needs_metrics || self.dated {
            return self.subject_days(data, subject).map(Some);
        }
        Some(None)
    }

    /// The entity and its ancestors (whose status decides whether it serves).
    fn chain<'a>(&self, data: &'a Sa360Data, subject: usize) -> Vec<&'a super::dataset::Entity> {
        let row = self.row(data, subject, None);
        [Kind::Keyword, Kind::Ad, Kind::AdGroup, Kind::Campaign]
            .into_iter()
            .filter_map(|kind| row.entity(kind).map(|(_, entity)| entity))
            .collect()
    }

    /// The metrics of a subject on `day`, given its [`chain`](Self::chain).
    fn daily(
        &self,
        data: &Sa360Data,
        subject: usize,
        chain: &[&super::dataset::Entity],
        day: i32,
    ) -> Metrics {
        let age = data.today_day() - day;
        let window = data.restatement_days;
        let seed = data.seed;
        match self.subjects[subject] {
            Subject::Customer => {
                let id = data.accounts[self.account].spec.id;
                metrics::daily(seed, Level::Customer, id, day, age, window, true)
            }
            Subject::CustomerClient(_) => Metrics::default(),
            Subject::Entity(kind, _) => {
                let level = match kind {
                    Kind::Campaign => Level::Campaign,
                    Kind::AdGroup => Level::AdGroup,
                    Kind::Ad => Level::Ad,
                    _ => Level::Keyword,
                };
                let id = chain.first().map_or(0, |entity| entity.id);
                metrics::daily(
                    seed,
                    level,
                    id,
                    day,
                    age,
                    window,
                    metrics::serving(chain, day),
                )
            }
        }
    }

    /// Builds the row at (`subject`, `day`) if it passes the row filters; `days` are the subject's
    /// days in range (what an unsegmented row sums its metrics over).
    fn build<'a>(
        &self,
        data: &'a Sa360Data,
        subject: usize,
        days: Option<(i32, i32)>,
        day: Option<i32>,
    ) -> Option<Row<'a>> {
        let mut row = self.row(data, subject, day);
        let date_ok = |row: &Row<'_>| self.date_filters.iter().all(|f| f.admits(row));
        if day.is_some() && !date_ok(&row) {
            return None;
        }
        if self.needs_metrics {
            let chain = self.chain(data, subject);
            row.metrics = Some(match (day, days) {
                (Some(day), _) => self.daily(data, subject, &chain, day),
                (None, Some((start, end))) => {
                    let mut total = Metrics::default();
                    for d in start..=end {
                        if self.date_filters.is_empty()
                            || date_ok(&self.row(data, subject, Some(d)))
                        {
                            total.add(&self.daily(data, subject, &chain, d));
                        }
                    }
                    total
                }
                (None, None) => Metrics::default(),
            });
        }
        self.metric_filters
            .iter()
            .all(|f| f.admits(&row))
            .then_some(row)
    }

    /// Visits rows in position order, starting at position `from`; `visit` returns `false` to
    /// stop.
    pub(crate) fn scan<'a>(
        &self,
        data: &'a Sa360Data,
        from: u64,
        mut visit: impl FnMut(RowRef, Row<'a>) -> bool,
    ) {
        let span = self.span();
        let first_subject = (from / span) as usize;
        for subject in first_subject..self.subjects.len() {
            let Some(days) = self.candidate(data, subject) else {
                continue;
            };
            let base = subject as u64 * span;
            if self.by_date {
                let Some((start, end)) = days else {
                    continue;
                };
                let resume = if subject == first_subject {
                    self.first_day + (from - base) as i32
                } else {
                    start
                };
                for day in start.max(resume)..=end {
                    if let Some(row) = self.build(data, subject, days, Some(day)) {
                        let position = base + (day - self.first_day) as u64;
                        if !visit(
                            RowRef {
                                position,
                                subject,
                                day: Some(day),
                            },
                            row,
                        ) {
                            return;
                        }
                    }
                }
            } else {
                if subject == first_subject && from > base {
                    continue;
                }
                if (self.needs_metrics || self.dated) && days.is_none() {
                    continue;
                }
                if let Some(row) = self.build(data, subject, days, None) {
                    if !visit(
                        RowRef {
                            position: base,
                            subject,
                            day: None,
                        },
                        row,
                    ) {
                        return;
                    }
                }
            }
        }
    }

    /// The row at `position` (for sorted results).
    pub(crate) fn at<'a>(&self, data: &'a Sa360Data, position: u64) -> Option<Row<'a>> {
        let span = self.span();
        let subject = (position / span) as usize;
        let days = self.candidate(data, subject)?;
        let day = self
            .by_date
            .then(|| self.first_day + (position % span) as i32);
        self.build(data, subject, days, day)
    }

    /// Every row's position, sorted by the ORDER BY clause (ties in position order); `None` when
    /// the query has no ORDER BY.
    pub(crate) fn sorted_positions(&self, data: &Sa360Data) -> Option<Vec<u64>> {
        if self.order.is_empty() {
            return None;
        }
        let mut keyed: Vec<(Vec<Option<Typed>>, u64)> = Vec::new();
        self.scan(data, 0, |at, row| {
            let keys = self
                .order
                .iter()
                .map(|(field, _)| (field.get)(&row))
                .collect();
            keyed.push((keys, at.position));
            true
        });
        keyed.sort_by(|(a, pa), (b, pb)| {
            for ((x, y), (_, descending)) in a.iter().zip(b).zip(&self.order) {
                let o = match (x, y) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => x.compare(y).unwrap_or(Ordering::Equal),
                };
                let o = if *descending { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            pa.cmp(pb)
        });
        Some(keyed.into_iter().map(|(_, position)| position).collect())
    }

    /// Rows matching the query, ignoring LIMIT (`totalResultsCount`). Without row-level filters
    /// this is arithmetic on each entity's days, not a scan of its rows.
    pub(crate) fn count(&self, data: &Sa360Data) -> u64 {
        let mut total = 0;
        for subject in 0..self.subjects.len() {
            let Some(days) = self.candidate(data, subject) else {
                continue;
            };
            if self.by_date {
                let Some((start, end)) = days else {
                    continue;
                };
                total += if self.unfiltered_rows() {
                    (end - start + 1) as u64
                } else {
                    (start..=end)
                        .filter(|day| self.build(data, subject, days, Some(*day)).is_some())
                        .count() as u64
                };
            } else if self.unfiltered_rows() || self.build(data, subject, days, None).is_some() {
                total += 1;
            }
        }
        total
    }

    /// The row as the API writes it (`SearchAds360Row`).
    pub(crate) fn render(&self, row: &Row<'_>) -> Value {
        let mut object = fields::row_skeleton(row, &self.resources);
        let mut custom = Vec::new();
        for item in &self.select {
            match item {
                Selected::Field(field) => fields::render_field(&mut object, row, field),
                Selected::Custom { index, .. } => {
                    custom.push(custom_value(*index, row.metrics.as_ref()))
                }
            }
        }
        if !custom.is_empty() {
            object.insert("customColumns".to_owned(), Value::Array(custom));
        }
        Value::Object(object)
    }

    /// The summary row over `total` (selected metrics only).
    pub(crate) fn summary(&self, data: &Sa360Data, total: &Metrics) -> Value {
        let row = Row {
            data,
            account: self.account,
            subject: Subject::Customer,
            day: None,
            metrics: Some(*total),
        };
        let mut object = Map::new();
        for item in &self.select {
            if let Selected::Field(field) = item {
                if field.category() == Category::Metric {
                    fields::render_field(&mut object, &row, field);
                }
            }
        }
        Value::Object(object)
    }
}

/// A custom column's value (`google.ads.searchads360.v0.common.Value`).
fn custom_value(index: usize, metrics: Option<&Metrics>) -> Value {
    let m = metrics.copied().unwrap_or_default();
    let (_, _, value_type, _) = records::custom_column(index);
    if value_type == "INT64" {
        let profit = (m.conversions_value * 1e6).round() as i64 - m.cost_micros;
        json!({ "int64Value": profit.to_string() })
    } else {
        let cost = m.cost_micros as f64 / 1e6;
        let roas = if cost > 0.0 {
            metrics::cents(m.conversions_value / cost)
        } else {
            0.0
        };
        json!({ "doubleValue": roas })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_and_dates() {
        assert!(like("%shoe%", "trail shoes"));
        assert!(like("tr_il%", "trail shoes"));
        assert!(!like("shoe%", "trail shoes"));
        assert_eq!(
            parse_date("2024-02-29").map(date_of),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2024-2-01"), None);
        // 2025-01-15 is a Wednesday.
        let today = day_of(NaiveDate::from_ymd_opt(2025, 1, 15).unwrap());
        let range = |literal| {
            let (a, b) = date_range_literal(literal, today).unwrap();
            (records::iso(date_of(a)), records::iso(date_of(b)))
        };
        assert_eq!(
            range("LAST_7_DAYS"),
            ("2025-01-08".into(), "2025-01-14".into())
        );
        assert_eq!(
            range("LAST_MONTH"),
            ("2024-12-01".into(), "2024-12-31".into())
        );
        assert_eq!(
            range("THIS_MONTH"),
            ("2025-01-01".into(), "2025-01-15".into())
        );
        assert_eq!(
            range("THIS_WEEK_MON_TODAY"),
            ("2025-01-13".into(), "2025-01-15".into())
        );
        assert_eq!(
            range("THIS_WEEK_SUN_TODAY"),
            ("2025-01-12".into(), "2025-01-15".into())
        );
        assert_eq!(
            range("LAST_WEEK_MON_SUN"),
            ("2025-01-06".into(), "2025-01-12".into())
        );
        assert_eq!(
            range("LAST_WEEK_SUN_SAT"),
            ("2025-01-05".into(), "2025-01-11".into())
        );
        assert_eq!(
            range("LAST_BUSINESS_WEEK"),
            ("2025-01-06".into(), "2025-01-10".into())
        );
        assert!(date_range_literal("LAST_YEAR", today).is_none());
    }
}
