//! The async contact search: parsing a search body, deciding which contacts match, and the
//! pending → completed/failed state machine.
//!
//! Body: `{"title", "combined_as_and", "filters": {"type", "user_type", "criteria": [{"type",
//! "field_name", "operator", "operand": [...], "case_sensitive", "condition"}]}}`.
//!
//! Choices where the sources are silent (documented here so tests and connectors agree):
//! - `filters.type` (case-insensitive): `Active` = status Active now (resubscribed included);
//!   `Unsubscribed`, `Bounced`, `Complaint`/`Complained` = that status; `Not Active`/`Inactive`
//!   = every status but Active; `All`, `Any`, empty or missing = every status. Others → 400.
//! - Date criteria work on `ocx_created_date`, `ocx_unsubscribe_date`, `ocx_resubscribe_date`,
//!   `ocx_bounce_date`, `ocx_complaint_date` with `>=`, `>`, `<`, `<=`, `=`, `!=`, `><`
//!   (between, inclusive), `empty`, `notempty`. Operands are Unix seconds (number or numeric
//!   string), `YYYY-MM-DD` (a whole UTC day) or `YYYY-MM-DD HH:MM:SS`. A contact without the
//!   date matches only `empty`/`!=`.
//! - Text criteria on `email`, `first_name`, `last_name`, `country`, `gender`, `language`,
//!   `os`, `ocx_status`, `id` with `=`, `!=`, `LIKE` (contains), `NOT LIKE`, `LIKE_` (starts
//!   with), `_LIKE` (ends with), `empty`, `notempty`; `case_sensitive: 0` compares ignoring case.
//! - `combined_as_and` (default true) ANDs the criteria, false ORs them; per-criterion
//!   `condition` is ignored. `user_type` and `include_behavior` are accepted and ignored.

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value;

use super::dataset::{ContactView, ListTable, OngageData, Status};

/// Why a search body was refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SearchError {
    /// Not a JSON object.
    #[error("invalid search body")]
    Body,
    /// Unknown `filters.type`.
    #[error("unknown filter type '{0}'")]
    FilterType(String),
    /// Unknown criterion field.
    #[error("unknown field '{0}'")]
    Field(String),
    /// Unknown operator for the field.
    #[error("operator '{operator}' is not valid for '{field}'")]
    Operator { field: String, operator: String },
    /// An operand that cannot be read.
    #[error("invalid operand for '{0}'")]
    Operand(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusFilter {
    All,
    Only(Status),
    NotActive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateField {
    Created,
    Unsubscribe,
    Resubscribe,
    Bounce,
    Complaint,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateTest {
    Range { lo: Option<i64>, hi: Option<i64> },
    Outside { lo: i64, hi: i64 },
    Empty,
    NotEmpty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextField {
    Email,
    FirstName,
    LastName,
    Country,
    Gender,
    Language,
    Os,
    Status,
    Id,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextOp {
    Equals,
    NotEquals,
    Contains,
    NotContains,
    StartsWith,
    EndsWith,
    Empty,
    NotEmpty,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Criterion {
    Date {
        field: DateField,
        test: DateTest,
    },
    Text {
        field: TextField,
        op: TextOp,
        operand: String,
        case_sensitive: bool,
    },
}

/// A parsed search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SearchQuery {
    status: StatusFilter,
    criteria: Vec<Criterion>,
    all: bool,
}

/// Parses a search body.
pub(crate) fn parse(body: &Value) -> Result<SearchQuery, SearchError> {
    let body = body.as_object().ok_or(SearchError::Body)?;
    let filters = body.get("filters").and_then(Value::as_object);
    let kind = filters
        .and_then(|filters| filters.get("type"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let status = match kind.trim().to_ascii_lowercase().as_str() {
        "" | "all" | "any" => StatusFilter::All,
        "active" => StatusFilter::Only(Status::Active),
        "unsubscribed" => StatusFilter::Only(Status::Unsubscribed),
        "bounced" => StatusFilter::Only(Status::Bounced),
        "complaint" | "complained" => StatusFilter::Only(Status::Complaint),
        "not active" | "notactive" | "inactive" => StatusFilter::NotActive,
        _ => return Err(SearchError::FilterType(kind.to_owned())),
    };
    let raw_criteria = filters
        .and_then(|filters| filters.get("criteria"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let criteria = raw_criteria
        .iter()
        .map(parse_criterion)
        .collect::<Result<_, _>>()?;
    let all = match body.get("combined_as_and") {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        Some(Value::String(text)) => !matches!(text.as_str(), "false" | "0"),
        _ => true,
    };
    Ok(SearchQuery {
        status,
        criteria,
        all,
    })
}

fn parse_criterion(raw: &Value) -> Result<Criterion, SearchError> {
    let field_name = raw
        .get("field_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let operator = raw
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let operands: &[Value] = match raw.get("operand") {
        Some(Value::Array(items)) => items,
        Some(single) => std::slice::from_ref(single),
        None => &[],
    };
    let bad_operator = || SearchError::Operator {
        field: field_name.to_owned(),
        operator: operator.to_owned(),
    };
    let date_field = match field_name {
        "ocx_created_date" => Some(DateField::Created),
        "ocx_unsubscribe_date" => Some(DateField::Unsubscribe),
        "ocx_resubscribe_date" => Some(DateField::Resubscribe),
        "ocx_bounce_date" => Some(DateField::Bounce),
        "ocx_complaint_date" => Some(DateField::Complaint),
        _ => None,
    };
    if let Some(field) = date_field {
        let interval = |position: usize| {
            operands
                .get(position)
                .and_then(date_operand)
                .ok_or_else(|| SearchError::Operand(field_name.to_owned()))
        };
        let test = match operator {
            ">=" => DateTest::Range {
                lo: Some(interval(0)?.0),
                hi: None,
            },
            ">" => DateTest::Range {
                lo: Some(interval(0)?.1),
                hi: None,
            },
            "<" => DateTest::Range {
                lo: None,
                hi: Some(interval(0)?.0 - 1),
            },
            "<=" => DateTest::Range {
                lo: None,
                hi: Some(interval(0)?.1 - 1),
            },
            "=" => {
                let (start, end) = interval(0)?;
                DateTest::Range {
                    lo: Some(start),
                    hi: Some(end - 1),
                }
            }
            "!=" => {
                let (start, end) = interval(0)?;
                DateTest::Outside {
                    lo: start,
                    hi: end - 1,
                }
            }
            "><" => DateTest::Range {
                lo: Some(interval(0)?.0),
                hi: Some(interval(1)?.1 - 1),
            },
            "empty" => DateTest::Empty,
            "notempty" => DateTest::NotEmpty,
            _ => return Err(bad_operator()),
        };
        return Ok(Criterion::Date { field, test });
    }
    let field = match field_name {
        "email" => TextField::Email,
        "first_name" => TextField::FirstName,
        "last_name" => TextField::LastName,
        "country" => TextField::Country,
        "gender" => TextField::Gender,
        "language" => TextField::Language,
        "os" => TextField::Os,
        "ocx_status" => TextField::Status,
        "id" => TextField::Id,
        _ => return Err(SearchError::Field(field_name.to_owned())),
    };
    let op = match operator {
        "=" => TextOp::Equals,
        "!=" => TextOp::NotEquals,
        "LIKE" => TextOp::Contains,
        "NOT LIKE" => TextOp::NotContains,
        "LIKE_" => TextOp::StartsWith,
        "_LIKE" => TextOp::EndsWith,
        "empty" => TextOp::Empty,
        "notempty" => TextOp::NotEmpty,
        _ => return Err(bad_operator()),
    };
    let operand = match operands.first() {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    };
    let case_sensitive = match raw.get("case_sensitive") {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0) != 0,
        Some(Value::String(text)) => text == "1" || text.eq_ignore_ascii_case("true"),
        _ => false,
    };
    Ok(Criterion::Text {
        field,
        op,
        operand,
        case_sensitive,
    })
}

/// The half-open interval of Unix seconds an operand denotes.
pub(crate) fn date_operand(value: &Value) -> Option<(i64, i64)> {
    match value {
        Value::Number(number) => number.as_i64().map(|s| (s, s + 1)),
        Value::String(text) => {
            let text = text.trim();
            if let Ok(seconds) = text.parse::<i64>() {
                return Some((seconds, seconds + 1));
            }
            if let Ok(time) = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S") {
                let seconds = time.and_utc().timestamp();
                return Some((seconds, seconds + 1));
            }
            let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            let start = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
            Some((start, start + 86_400))
        }
        _ => None,
    }
}

impl DateTest {
    fn admits(self, value: Option<i64>) -> bool {
        match (self, value) {
            (DateTest::Empty, value) => value.is_none(),
            (DateTest::NotEmpty, value) => value.is_some(),
            (DateTest::Outside { .. }, None) => true,
            (DateTest::Outside { lo, hi }, Some(v)) => v < lo || v > hi,
            (DateTest::Range { .. }, None) => false,
            (DateTest::Range { lo, hi }, Some(v)) => {
                lo.is_none_or(|lo| v >= lo) && hi.is_none_or(|hi| v <= hi)
            }
        }
    }
}

fn date_of(view: &ContactView, field: DateField) -> Option<i64> {
    match field {
        DateField::Created => Some(view.created),
        DateField::Unsubscribe => view.state.unsubscribe,
        DateField::Resubscribe => view.state.resubscribe,
        DateField::Bounce => view.state.bounce,
        DateField::Complaint => view.state.complaint,
    }
}

fn text_matches(op: TextOp, value: Option<&str>, operand: &str, case_sensitive: bool) -> bool {
    let value = value.unwrap_or_default();
    let (value, operand) = if case_sensitive {
        (value.to_owned(), operand.to_owned())
    } else {
        (value.to_lowercase(), operand.to_lowercase())
    };
    match op {
        TextOp::Equals => value == operand,
        TextOp::NotEquals => value != operand,
        TextOp::Contains => value.contains(&operand),
        TextOp::NotContains => !value.contains(&operand),
        TextOp::StartsWith => value.starts_with(&operand),
        TextOp::EndsWith => value.ends_with(&operand),
        TextOp::Empty => value.is_empty(),
        TextOp::NotEmpty => !value.is_empty(),
    }
}

impl SearchQuery {
    /// Whether contact `view` matches.
    pub(crate) fn admits(&self, data: &OngageData, table: &ListTable, view: &ContactView) -> bool {
        let status_ok = match self.status {
            StatusFilter::All => true,
            StatusFilter::Only(status) => view.state.status == status,
            StatusFilter::NotActive => view.state.status != Status::Active,
        };
        if !status_ok {
            return false;
        }
        if self.criteria.is_empty() {
            return true;
        }
        // The profile costs a few hashes; derive it only for text criteria.
        let profile = std::cell::OnceCell::new();
        let mut results = self.criteria.iter().map(|criterion| match criterion {
            Criterion::Date { field, test } => test.admits(date_of(view, *field)),
            Criterion::Text {
                field,
                op,
                operand,
                case_sensitive,
            } => {
                let p = profile.get_or_init(|| super::records::profile(data, table, view));
                let value: Option<&str> = match field {
                    TextField::Email => Some(&p.email),
                    TextField::FirstName => Some(p.first_name),
                    TextField::LastName => Some(p.last_name),
                    TextField::Country => Some(p.country),
                    TextField::Gender => p.gender,
                    TextField::Language => p.language,
                    TextField::Os => p.os,
                    TextField::Status => Some(view.state.status.as_str()),
                    TextField::Id => Some(&p.id),
                };
                text_matches(*op, value, operand, *case_sensitive)
            }
        });
        if self.all {
            results.all(|ok| ok)
        } else {
            results.any(|ok| ok)
        }
    }

    /// The index range that can hold matches: creation bounds narrow it directly, and any
    /// status-date upper bound bounds creation too (status changes follow creation).
    pub(crate) fn candidates(&self, data: &OngageData, table: &ListTable) -> std::ops::Range<u64> {
        let (mut lo, mut hi) = (0, table.count());
        if !self.all {
            return lo..hi;
        }
        for criterion in &self.criteria {
            let Criterion::Date {
                field,
                test: DateTest::Range { lo: from, hi: to },
            } = criterion
            else {
                continue;
            };
            if let (DateField::Created, Some(from)) = (field, from) {
                lo = lo.max(data.first_index(table, |created| created >= *from));
            }
            if let Some(to) = to {
                hi = hi.min(data.first_index(table, |created| created > *to));
            }
        }
        lo..hi.max(lo)
    }

    /// Matching contacts, counting at most `cap` (so a huge search costs at most `cap` hits).
    pub(crate) fn count(&self, data: &OngageData, table: &ListTable, cap: u64) -> u64 {
        let mut found = 0;
        for index in self.candidates(data, table) {
            if found >= cap {
                break;
            }
            if self.admits(data, table, &data.view(table, index)) {
                found += 1;
            }
        }
        found
    }
}
