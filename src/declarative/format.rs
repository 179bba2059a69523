//! The definition file as written: serde types over TOML, every table closed (`deny_unknown_fields`),
//! values that are checked against each other kept with their place in the file ([`Spanned`]).
//! [`super::compile`] turns this into the typed [`super::Definition`]; docs/declarative.md is the
//! reference of every key.

use std::collections::BTreeMap;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// A whole definition file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefinition {
    /// The connector's name.
    pub name: Spanned<String>,
    /// One line for `fivetran_source connectors`.
    pub description: String,
    /// The API's base URL, the default of the `base_url` field.
    pub base_url: Spanned<String>,
    /// The form fields (besides `base_url`, which every definition has).
    #[serde(default)]
    pub fields: Vec<RawField>,
    /// How requests authenticate.
    pub auth: RawAuth,
    /// Client settings.
    #[serde(default)]
    pub http: RawHttp,
    /// The setup test's request.
    pub test: RawTest,
    /// Settings every stream inherits unless it sets its own.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// The streams, each one table (and its children).
    pub streams: Vec<RawStream>,
}

/// The kind of a form field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Free text.
    Text,
    /// A secret: masked in the form, a `Secret` in memory.
    Password,
    /// `YYYY-MM-DD` or RFC 3339, checked when the configuration is read.
    Date,
}

/// One form field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    /// The configuration key.
    pub name: Spanned<String>,
    /// The label shown in the form.
    pub label: String,
    /// Its kind.
    pub kind: FieldKind,
    /// Whether it may be left empty.
    #[serde(default)]
    pub optional: bool,
    /// Help text.
    #[serde(default)]
    pub description: Option<String>,
    /// The value when left empty.
    #[serde(default)]
    pub default: Option<String>,
    /// A placeholder.
    #[serde(default)]
    pub placeholder: Option<String>,
}

/// The authentication schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// No authentication.
    None,
    /// `Authorization: Bearer <token>`: `token`.
    Bearer,
    /// `Authorization: Basic`: `username`, `password`.
    Basic,
    /// An API key in a header: `header`, `value`.
    Header,
    /// An API key in the query string: `param`, `value`.
    Query,
    /// OAuth2's refresh-token grant: `token_url`, `client_id`, `client_secret`, `refresh_token` (a
    /// rotated refresh token is kept for the next refresh).
    Oauth2,
}

/// How requests authenticate. One flat table (not a tagged enum) so every value keeps its place in
/// the file; which keys a scheme needs is checked when compiling.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// The scheme.
    #[serde(rename = "type")]
    pub kind: Spanned<AuthKind>,
    /// Bearer: the token (a template over `config.*`, as are all values below).
    #[serde(default)]
    pub token: Option<Spanned<String>>,
    /// Basic: the user name.
    #[serde(default)]
    pub username: Option<Spanned<String>>,
    /// Basic: the password (absent: empty).
    #[serde(default)]
    pub password: Option<Spanned<String>>,
    /// Header: the header's name (constant).
    #[serde(default)]
    pub header: Option<Spanned<String>>,
    /// Header and query: its value.
    #[serde(default)]
    pub value: Option<Spanned<String>>,
    /// Query: the parameter's name (constant).
    #[serde(default)]
    pub param: Option<Spanned<String>>,
    /// OAuth2: the token endpoint.
    #[serde(default)]
    pub token_url: Option<Spanned<String>>,
    /// OAuth2: the client id.
    #[serde(default)]
    pub client_id: Option<Spanned<String>>,
    /// OAuth2: the client secret.
    #[serde(default)]
    pub client_secret: Option<Spanned<String>>,
    /// OAuth2: the refresh token.
    #[serde(default)]
    pub refresh_token: Option<Spanned<String>>,
    /// What a refused credential tells the user: which setting to check, and where.
    pub refused: String,
}

/// Client settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// The documented request budget.
    #[serde(default)]
    pub rate_limit: Option<RawRateLimit>,
    /// Requests in flight at once (default 4).
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// Headers sent with every request (constant text).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Error bodies inside successful responses.
    #[serde(default)]
    pub error_in_body: Option<RawErrorInBody>,
    /// A points budget the API reports in its bodies (GraphQL `rateLimit`).
    #[serde(default)]
    pub points: Option<super::graphql::RawPoints>,
}

/// `requests` per `per_seconds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// Requests allowed per period.
    pub requests: u32,
    /// The period in seconds.
    pub per_seconds: u64,
}

/// An error reported inside a 200 (GraphQL `errors`, Tiny's `retorno.status`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawErrorInBody {
    /// The path whose presence (or value) marks an error.
    pub path: Spanned<String>,
    /// The value at `path` that means an error; absent: any non-null, non-empty value does.
    #[serde(default)]
    pub equals: Option<String>,
    /// Whether retrying can help (default false).
    #[serde(default)]
    pub transient: bool,
    /// With `path` naming a list of errors (GraphQL `errors`): the field of each error holding its
    /// code (`type` on GitHub, `extensions.code` elsewhere); the codes below then decide.
    #[serde(default)]
    pub code: Option<Spanned<String>>,
    /// Codes that mean "wait and retry" (`RATE_LIMITED`, `THROTTLED`); any other code fails at once.
    #[serde(default)]
    pub rate_limited_codes: Vec<String>,
    /// Codes that mean "retry": a passing failure (`SERVICE_UNAVAILABLE`, `TIMEOUT`).
    #[serde(default)]
    pub transient_codes: Vec<String>,
    /// Codes that mean "ask for a smaller page" (`MAX_NODE_LIMIT_EXCEEDED`).
    #[serde(default)]
    pub too_large_codes: Vec<String>,
}

/// The setup test's request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTest {
    /// The label shown in the dashboard.
    pub label: String,
    /// A cheap authenticated path (a template over `config.*`).
    pub path: Spanned<String>,
    /// Its query.
    #[serde(default)]
    pub query: BTreeMap<String, Spanned<QueryValue>>,
}

/// Settings a stream inherits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// Where the records sit in a response.
    #[serde(default)]
    pub records: Option<String>,
    /// How lists page.
    #[serde(default)]
    pub paginate: Option<RawPaginate>,
}

/// A query value: one template, or several for a repeated key (`types[]`).
#[derive(Debug, Clone)]
pub enum QueryValue {
    /// One value.
    One(String),
    /// The key repeated once per value.
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for QueryValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = QueryValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, a number or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<QueryValue, E> {
                Ok(QueryValue::One(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<QueryValue, E> {
                Ok(QueryValue::One(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<QueryValue, E> {
                Ok(QueryValue::One(v.to_string()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<QueryValue, A::Error> {
                let mut values = Vec::new();
                while let Some(v) = seq.next_element::<String>()? {
                    values.push(v);
                }
                Ok(QueryValue::Many(values))
            }
        }
        d.deserialize_any(V)
    }
}

/// How a list pages.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawPaginate {
    /// One request, no pages.
    None,
    /// The next page starts after a field of the last record (Stripe's `starting_after`), while the
    /// body's `has_more` flag is true.
    Cursor {
        /// The query parameter carrying the last record's field.
        param: String,
        /// The last record's field.
        field: String,
        /// The body's flag that more pages follow.
        has_more: String,
        /// The page size parameter.
        limit_param: String,
        /// Page sizes, largest first (the pager shrinks down them on failures).
        limits: Vec<u32>,
    },
    /// The body names the next page's token (`paging.next.after`, `nextPageToken`).
    Token {
        /// The query parameter carrying the token.
        param: String,
        /// Where the token sits in the body.
        next: String,
        /// The page size parameter.
        limit_param: String,
        /// Page sizes, largest first.
        limits: Vec<u32>,
        /// Text in a 400 body that means the API's result cap is reached (HubSpot's 10,000 search
        /// results): the list restarts from the largest cursor seen, as past an offset list's
        /// `max_skip`.
        #[serde(default)]
        cap_error: Option<String>,
        /// The most results one query returns (HubSpot's search: 10,000): before a page would reach
        /// past it, the list restarts from the largest cursor seen, whatever the API's error says.
        #[serde(default)]
        cap: Option<u64>,
        /// The record field the query is sorted by, ascending, and filtered above by
        /// `{{last_key}}` (HubSpot's `hs_object_id`): a restart at the cap goes on after the largest
        /// key read, keeping `since`, instead of moving `since` to the largest cursor.
        #[serde(default)]
        restart_key: Option<String>,
        /// The token and page size go in the JSON body, not the query (HubSpot's search).
        #[serde(default)]
        in_body: bool,
    },
    /// `skip`/`limit` offsets (Close's `_skip`/`_limit`, Virtuous's `skip`/`take`): more pages follow
    /// while the body's `has_more` flag is true, else while the body's `total` counts more, else while
    /// pages are full.
    Offset {
        /// The offset parameter.
        skip_param: String,
        /// The page size parameter.
        limit_param: String,
        /// The page size.
        limit: u32,
        /// The body's flag that more pages follow.
        #[serde(default)]
        has_more: Option<String>,
        /// The body's count of every matching record.
        #[serde(default)]
        total: Option<String>,
        /// The largest offset the API accepts (Close's `max_skip`): a list that would page past it is
        /// restarted from the first page with the stream's cursor as its lower bound (the largest
        /// cursor seen), so the stream needs a cursor incremental and a list sorted by it, ascending.
        #[serde(default)]
        max_skip: Option<u64>,
        /// Text in a 400 body that means the offset is past the API's maximum (Close's
        /// `max_skip`): the list restarts from the largest cursor seen, as past `max_skip`.
        #[serde(default)]
        skip_error: Option<String>,
    },
    /// Page numbers (`page=1,2,…`): more pages follow as for `offset`.
    Page {
        /// The page number parameter.
        page_param: String,
        /// The page size parameter.
        limit_param: String,
        /// The page size.
        limit: u32,
        /// The first page's number (default 1).
        #[serde(default)]
        first_page: Option<u64>,
        /// The body's flag that more pages follow.
        #[serde(default)]
        has_more: Option<String>,
        /// The body's count of every matching record.
        #[serde(default)]
        total: Option<String>,
    },
    /// The next page is a link the API gives, followed exactly: at a body path (`next`, e.g.
    /// `links.next`) or, without it, in the `Link: <…>; rel="next"` header (GitHub's REST API).
    Link {
        /// Where the next page's URL sits in the body; absent: the `Link` header.
        #[serde(default)]
        next: Option<String>,
        /// The page size parameter of the first request, if any.
        #[serde(default)]
        limit_param: Option<String>,
        /// The page size (with `limit_param`).
        #[serde(default)]
        limit: Option<u32>,
    },
}

/// The HTTP methods a list may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// GET.
    Get,
    /// POST (with `body`).
    Post,
}

/// One stream: a list endpoint and the table its records become.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStream {
    /// The table's name.
    pub name: Spanned<String>,
    /// The list path (a template over `config.*`).
    pub path: Spanned<String>,
    /// The HTTP method (default GET).
    #[serde(default)]
    pub method: Option<Method>,
    /// A JSON body (a POST search); its strings are templates like the query's.
    #[serde(default)]
    pub body: Option<Spanned<toml::Value>>,
    /// Its query (templates over `config.*`, `since`, `until`).
    #[serde(default)]
    pub query: BTreeMap<String, Spanned<QueryValue>>,
    /// Where the records sit (default: `defaults.records`).
    #[serde(default)]
    pub records: Option<String>,
    /// How it pages (default: `defaults.paginate`).
    #[serde(default)]
    pub paginate: Option<RawPaginate>,
    /// The primary key's columns.
    pub primary_key: Spanned<Vec<String>>,
    /// The columns: `name = "type"` or `name = { type = "...", from = "path" }`.
    pub columns: BTreeMap<String, Spanned<RawColumn>>,
    /// How later syncs find changes; absent: every sync re-reads the list and truncates first.
    #[serde(default)]
    pub incremental: Option<RawIncremental>,
    /// Child tables, per parent record.
    #[serde(default)]
    pub children: Vec<RawChild>,
    /// The request of changes passes when it is not the list's own (HubSpot: the list endpoint
    /// first, then the search endpoint by last-modified date).
    #[serde(default)]
    pub changes: Option<RawChanges>,
    /// Lists of deleted records (an event log of deletions, an `archived=true` list), read in
    /// every changes pass: each of their records soft-deletes one row.
    #[serde(default)]
    pub deletes: Vec<RawDeletes>,
    /// A GraphQL stream: the document, its variables and its connection (`path` is the endpoint).
    #[serde(default)]
    pub graphql: Option<super::graphql::RawGraphql>,
    /// The list is read in date windows `[since, until)` that shrink when a window's pages keep
    /// failing (its query or body sends both bounds).
    #[serde(default)]
    pub window: Option<Spanned<RawWindow>>,
}

/// Date windows over a list: a full pass walks from `start`, a cursor stream's changes pass from its
/// `since`, each up to the API's clock; the last window is sent without an upper bound.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    /// Where a full pass starts (an RFC 3339 instant or a date, or a template over `config.*`);
    /// default: the cursor stream's `incremental.start`.
    #[serde(default)]
    pub start: Option<Spanned<String>>,
    /// The largest (first) window, in days.
    pub days: u32,
    /// The smallest window, in seconds (default 3600): a window this short that still fails ends
    /// the sync, naming it.
    #[serde(default)]
    pub min_seconds: Option<u64>,
    /// Tries a smallest window gets (default 3).
    #[serde(default)]
    pub attempts: Option<u32>,
}

/// The request a cursor stream's changes passes send instead of its list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChanges {
    /// Its path (a template over `config.*` and `since`).
    pub path: Spanned<String>,
    /// The HTTP method (default GET).
    #[serde(default)]
    pub method: Option<Method>,
    /// A JSON body (a POST search), its strings templates over `config.*` and `since`.
    #[serde(default)]
    pub body: Option<Spanned<toml::Value>>,
    /// Its query.
    #[serde(default)]
    pub query: BTreeMap<String, Spanned<QueryValue>>,
    /// Where its records sit (default: `defaults.records`).
    #[serde(default)]
    pub records: Option<String>,
    /// How it pages (default: `defaults.paginate`).
    #[serde(default)]
    pub paginate: Option<RawPaginate>,
}

/// A list whose records name deleted rows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeletes {
    /// Its path (a template over `config.*` and `since`).
    pub path: Spanned<String>,
    /// Its query (templates over `config.*` and `since`, the previous sync's lower bound).
    #[serde(default)]
    pub query: BTreeMap<String, Spanned<QueryValue>>,
    /// Where its records sit (default: `defaults.records`).
    #[serde(default)]
    pub records: Option<String>,
    /// How it pages (default: `defaults.paginate`).
    #[serde(default)]
    pub paginate: Option<RawPaginate>,
    /// The primary key's columns and where each sits in a deletion record (`id = "object_id"`);
    /// default: each key column read from the record as the table reads it.
    #[serde(default)]
    pub key: Option<Spanned<BTreeMap<String, String>>>,
    /// How long the API keeps the list (an event log's retention): a `since` older than that
    /// makes a full pass instead, with a warning.
    #[serde(default)]
    pub retention_days: Option<u64>,
}

/// One column as written.
#[derive(Debug, Clone)]
pub struct RawColumn {
    /// The reader's name.
    pub ty: String,
    /// The record path it reads (default: the column's name).
    pub from: Option<String>,
}

impl<'de> Deserialize<'de> for RawColumn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Long {
            #[serde(rename = "type")]
            ty: String,
            #[serde(default)]
            from: Option<String>,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawColumn;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a type name or a table { type, from }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawColumn, E> {
                Ok(RawColumn {
                    ty: v.to_owned(),
                    from: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawColumn, A::Error> {
                let long = Long::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawColumn {
                    ty: long.ty,
                    from: long.from,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// How later syncs find changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncrementalKind {
    /// The same list, bounded below by `since` (its query uses `{{since}}`); the next `since` is the
    /// largest `cursor` seen, minus the lookback.
    Cursor,
    /// An events endpoint (Stripe's `/v1/events`, Close's event log): each event names a changed
    /// object, fetched again through `refetch` (a 404 there, or a delete event, deletes the row).
    Events,
}

/// How later syncs find changes, as one flat table (see [`RawAuth`] for why).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIncremental {
    /// The kind.
    #[serde(rename = "type")]
    pub kind: Spanned<IncrementalKind>,
    /// Cursor: the record field holding the change instant.
    #[serde(default)]
    pub cursor: Option<Spanned<String>>,
    /// Seconds re-read before the last cursor (cursor) or the last pass's start (events).
    #[serde(default)]
    pub lookback_seconds: u64,
    /// Cursor: the lower bound of a full pass (a template over `config.*`, e.g. a start date), so
    /// a query that needs `{{since}}` to sort or page is sent on a first sync too.
    #[serde(default)]
    pub start: Option<Spanned<String>>,
    /// Events: the events path.
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// Events: its query (templates over `config.*` and `since`).
    #[serde(default)]
    pub query: BTreeMap<String, Spanned<QueryValue>>,
    /// Events: where the events sit (default: `defaults.records`).
    #[serde(default)]
    pub records: Option<String>,
    /// Events: how they page (default: `defaults.paginate`).
    #[serde(default)]
    pub paginate: Option<RawPaginate>,
    /// Events: the changed object inside an event.
    #[serde(default)]
    pub object: Option<Spanned<String>>,
    /// Events: the event field naming its type.
    #[serde(default)]
    pub type_field: Option<String>,
    /// Events: event types that end in this mean the object was deleted (absent: only a 404 or a
    /// `deleted: true` from `refetch` does).
    #[serde(default)]
    pub deleted_suffix: Option<String>,
    /// Events: the path of one object (a template over `object.*`).
    #[serde(default)]
    pub refetch: Option<Spanned<String>>,
    /// Events: how long the API keeps events; an older `since` means a full re-sync.
    #[serde(default)]
    pub retention_days: Option<u64>,
    /// Both: a full pass (truncate, then the whole list) when this many days passed since the last
    /// one, so rows deleted at an API without a feed of deletes go (GitHub's issues).
    #[serde(default)]
    pub full_refresh_days: Option<Spanned<u32>>,
}

/// A child table: rows per parent record, from a request or from a list inside the parent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChild {
    /// The table's name.
    pub name: Spanned<String>,
    /// The list path per parent (a template over `parent.*`); absent: `embedded` is read instead.
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// The list inside the parent record that holds the children.
    #[serde(default)]
    pub embedded: Option<Spanned<String>>,
    /// Where the records sit in a child response (default: `defaults.records`).
    #[serde(default)]
    pub records: Option<String>,
    /// How child lists page (default: `defaults.paginate`).
    #[serde(default)]
    pub paginate: Option<RawPaginate>,
    /// Columns copied from the parent: `column = "parent path"` (read as text).
    #[serde(default)]
    pub parent_columns: BTreeMap<String, String>,
    /// The primary key's columns.
    pub primary_key: Spanned<Vec<String>>,
    /// The columns.
    pub columns: BTreeMap<String, Spanned<RawColumn>>,
    /// An `embedded` GraphQL connection's following pages, read when the parent's first page says
    /// more follow (an issue's comments past the first 100).
    #[serde(default)]
    pub more: Option<RawMore>,
}

/// The rest of a connection embedded in its parent record.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMore {
    /// Where the embedded connection's `pageInfo { hasNextPage endCursor }` sits in the parent.
    pub page_info: Spanned<String>,
    /// The request of the following pages, from `endCursor` on: a `connection` over `parent.*`
    /// variables (`{ id = "{{parent.id}}" }` with GitHub's `node(id:)`).
    pub graphql: super::graphql::RawGraphql,
}
