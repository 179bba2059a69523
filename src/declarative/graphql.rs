//! GraphQL streams, the pure parts: the raw tables, the per-error codes, the partitions and the points
//! arithmetic. Loading them is `super::compile` (`impl Cx`, with the rest of the file's checks) and
//! running them `super::engine` (`graphql_stream`), so the layers stay one-directional.
//!
//! A GraphQL stream: a document and its variables POSTed to one endpoint, records read from a Relay
//! connection (`nodes`, paged by `pageInfo { hasNextPage endCursor }` into the `after` variable) or
//! one object, optionally once per item of a configured list (`for_each`: GitHub's repositories).
//!
//! - The document is parsed at load (async-graphql's parser), and its variables are checked against
//!   the definition's: a `variables` key the document does not declare, a required variable nobody
//!   fills, or a connection without `$first`/`$after` stops the load with its place.
//! - Pages: the kit's [`TokenPager`] over [`Envelope::relay`]; page sizes shrink on failures like the
//!   other pagers (`limits`), including an error code the definition marks as "too large".
//! - Errors inside 200s: each error's code (`type` on GitHub) decides: wait (rate limited), retry
//!   (transient), shrink (too large) or fail at once with the API's own messages ([`errors_verdict`]).
//! - Points: where the body reports the budget (`rateLimit { cost remaining resetAt }`), a page that
//!   leaves less than the next query's cost pauses the whole connector until the reset ([`Points`]);
//!   the `X-RateLimit-*` headers and 403/429 `Retry-After` are the HTTP client's.
//! - Incremental (`incremental.type = "cursor"`): the variables send `{{since}}` (GitHub's
//!   `filterBy: {since}`); or, for a connection ordered newest first (`newest_first`), a changes pass
//!   stops at the first record older than `since`. One pass reads several partitions whose largest
//!   cursors differ, so the next `since` is the API's clock at the pass's first page, less the
//!   lookback (never a cursor of one partition, which would skip another's changes).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value as Json;
use toml::Spanned;

use crate::http::Verdict;
use crate::sdk::json::{JsonView, Kind};
use crate::sdk::table::{read, FieldPath};
use crate::sdk::ConfigError;
use crate::sync::Envelope;

/// A stream's `graphql` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGraphql {
    /// The GraphQL document (one operation).
    pub query: Spanned<String>,
    /// Its variables: JSON values whose strings are templates (`config.*`, `since`).
    #[serde(default)]
    pub variables: BTreeMap<String, Spanned<toml::Value>>,
    /// The Relay connection holding the records (`data.repository.issues`).
    #[serde(default)]
    pub connection: Option<Spanned<String>>,
    /// Or: the one object that is the record (`data.repository`).
    #[serde(default)]
    pub record: Option<Spanned<String>>,
    /// Page sizes for `first`, largest first (default `[100, 25, 5]`).
    #[serde(default)]
    pub limits: Option<Spanned<Vec<u32>>>,
    /// The variable carrying the page size (default `first`).
    #[serde(default)]
    pub first_variable: Option<String>,
    /// The variable carrying the cursor (default `after`).
    #[serde(default)]
    pub after_variable: Option<String>,
    /// Run the stream once per item of a list field.
    #[serde(default)]
    pub for_each: Option<RawForEach>,
    /// The record field the connection is ordered by, newest first: a changes pass stops at the
    /// first record older than `since`.
    #[serde(default)]
    pub newest_first: Option<Spanned<String>>,
}

/// `for_each = { field, variables, separator }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForEach {
    /// A text form field holding a list separated by commas, spaces or new lines.
    pub field: Spanned<String>,
    /// The variables one item fills, split by `separator` (`["owner", "name"]` for `owner/name`).
    pub variables: Spanned<Vec<String>>,
    /// What splits an item (default `/`).
    #[serde(default)]
    pub separator: Option<String>,
}

/// `[http] points = { remaining, reset_at, cost, reserve }`: paths in every response body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPoints {
    /// The points left (`data.rateLimit.remaining`).
    pub remaining: Spanned<String>,
    /// When the budget refills, RFC 3339 (`data.rateLimit.resetAt`).
    pub reset_at: String,
    /// What the query cost (`data.rateLimit.cost`): the next query is taken to cost the same.
    #[serde(default)]
    pub cost: Option<String>,
    /// Points always left unspent (for other clients of the same token).
    #[serde(default)]
    pub reserve: u64,
}

/// The points budget, compiled.
#[derive(Debug, Clone)]
pub struct Points {
    remaining: FieldPath,
    reset_at: FieldPath,
    cost: Option<FieldPath>,
    reserve: u64,
}

/// `[http] points`, compiled.
pub(super) fn points(raw: &RawPoints) -> Points {
    Points {
        remaining: FieldPath::parse(raw.remaining.get_ref()),
        reset_at: FieldPath::parse(&raw.reset_at),
        cost: raw.cost.as_deref().map(FieldPath::parse),
        reserve: raw.reserve,
    }
}

/// What each error's code means.
#[derive(Debug, Clone)]
pub struct ErrorCodes {
    pub(super) code: FieldPath,
    pub(super) rate_limited: Vec<String>,
    pub(super) transient: Vec<String>,
    pub(super) too_large: Vec<String>,
}

/// The verdict on a 2xx body with errors at `path`, each judged by its code: any unknown code fails
/// at once; else a too-large code shrinks the page, a rate-limited one waits, a transient one
/// retries. The message quotes the API's own codes and messages (they carry no credentials).
pub(super) fn errors_verdict(path: &FieldPath, codes: &ErrorCodes, body: &[u8]) -> Option<Verdict> {
    let body: Json = serde_json::from_slice(body).ok()?;
    let errors = path.get(&body)?.as_array()?;
    if errors.is_empty() {
        return None;
    }
    let mut kinds = Vec::new();
    let mut said = Vec::new();
    for e in errors {
        let code = codes
            .code
            .get(e)
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned();
        let message = e.get("message").and_then(Json::as_str).unwrap_or("");
        if said.len() < 3 {
            let message: String = message.chars().take(200).collect();
            said.push(if code.is_empty() {
                message
            } else {
                format!("{code}: {message}")
            });
        }
        kinds.push(code);
    }
    let why = format!(
        "the response reports {} error(s): {}",
        errors.len(),
        said.join("; ")
    );
    let all_in = |list: &[String]| kinds.iter().all(|k| list.contains(k));
    let known: Vec<String> = [&codes.rate_limited, &codes.transient, &codes.too_large]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    Some(if !all_in(&known) {
        Verdict::Permanent(why)
    } else if kinds.iter().any(|k| codes.too_large.contains(k)) {
        Verdict::TooLarge(why)
    } else if kinds.iter().any(|k| codes.rate_limited.contains(k)) {
        Verdict::RateLimited {
            reason: why,
            retry_after: None,
        }
    } else {
        Verdict::Transient(why)
    })
}

/// Where the records sit.
#[derive(Debug, Clone)]
pub(super) enum Shape {
    /// A Relay connection: its envelope, its `nodes` and `pageInfo.hasNextPage`.
    Connection(Envelope, FieldPath, FieldPath),
    /// One object.
    Record(FieldPath),
}

/// `for_each`, compiled.
#[derive(Debug, Clone)]
pub(super) struct ForEach {
    pub(super) field: String,
    pub(super) variables: Vec<String>,
    pub(super) separator: String,
}

/// One partition of a pass: its key in state and the variables it fills.
pub(super) struct Partition {
    pub(super) key: Option<String>,
    pub(super) variables: Vec<(String, String)>,
}

/// The partitions of a pass: one per item of the `for_each` field (looked up by `lookup`), each
/// item split into its variables; without `for_each`, one partition that fills nothing. A malformed
/// or empty list is a configuration error naming the field.
pub(super) fn partitions(
    for_each: Option<&ForEach>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Partition>, ConfigError> {
    let Some(f) = for_each else {
        return Ok(vec![Partition {
            key: None,
            variables: Vec::new(),
        }]);
    };
    let list = lookup(&f.field).unwrap_or_default();
    let mut out = Vec::new();
    for item in list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|i| !i.is_empty())
    {
        let parts: Vec<&str> = item
            .splitn(f.variables.len(), f.separator.as_str())
            .collect();
        if parts.len() != f.variables.len() || parts.iter().any(|p| p.is_empty()) {
            return Err(ConfigError::Invalid {
                field: f.field.clone(),
                reason: format!(
                    "'{item}' is not {} separated by '{}'",
                    f.variables.join(&f.separator),
                    f.separator
                ),
            });
        }
        out.push(Partition {
            key: Some(item.to_owned()),
            variables: f
                .variables
                .iter()
                .cloned()
                .zip(parts.iter().map(|p| (*p).to_owned()))
                .collect(),
        });
    }
    if out.is_empty() {
        return Err(ConfigError::Missing {
            field: f.field.clone(),
        });
    }
    Ok(out)
}

/// How long to wait before the next query, from the points a response body reports: `None` while
/// at least its cost (and the reserve) is left, else until `resetAt` by the API's own clock (its
/// `Date`, else `local_now`), plus a second for the `Date` header's rounding down.
pub(super) fn points_wait<'a>(
    points: &Points,
    body: impl JsonView<'a>,
    server_time: Option<DateTime<Utc>>,
    local_now: DateTime<Utc>,
) -> Option<Duration> {
    let number = |p: &FieldPath| match p.get(body)?.kind() {
        Kind::Number(n) => n.as_u64(),
        _ => None,
    };
    let remaining = number(&points.remaining)?;
    let cost = points.cost.as_ref().and_then(number).unwrap_or(1);
    if remaining >= cost.saturating_add(points.reserve) {
        return None;
    }
    let reset = match points.reset_at.get(body)?.kind() {
        Kind::Str(s) => read::parse_utc(s)?,
        _ => return None,
    };
    let now = server_time.unwrap_or(local_now);
    Some((reset - now).to_std().unwrap_or(Duration::ZERO) + Duration::from_secs(1))
}
