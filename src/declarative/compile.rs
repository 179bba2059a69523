//! Loading: TOML → [`RawDefinition`] → a checked, typed [`Definition`]. Every mistake stops here with
//! `file:line: key: message` (and the valid choices where there is a list), so a sync never interprets
//! a string: templates, record paths, readers, envelopes and pagers are all built once.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::format::{
    AuthKind, FieldKind, IncrementalKind, QueryValue, RawAuth, RawChild, RawColumn, RawDefinition,
    RawDeletes, RawErrorInBody, RawIncremental, RawPaginate, RawStream, RawWindow,
};
use super::graphql::{ErrorCodes, ForEach, RawGraphql, Shape};
use super::template::{Template, Var};
use crate::http::RateLimit;
use crate::sdk::table::{ColumnSpec, FieldPath, Reader, TableSpec};
use crate::sync::{Envelope, Next};

/// A definition that does not load: where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}: {message}")]
pub struct DefinitionError {
    /// The file's name as given to [`load`].
    pub file: String,
    /// 1-based line of the offending value.
    pub line: usize,
    /// The key, as a dotted path (`streams.customers.columns.email`).
    pub key: String,
    /// What is wrong, with the valid choices where there is a list.
    pub message: String,
}

/// A form field.
#[derive(Debug, Clone)]
pub struct FieldDef {
    /// The configuration key.
    pub name: String,
    /// Its label.
    pub label: String,
    /// Its kind.
    pub kind: FieldKind,
    /// Whether it may be empty.
    pub optional: bool,
    /// Help text.
    pub description: Option<String>,
    /// The value when empty.
    pub default: Option<String>,
    /// A placeholder.
    pub placeholder: Option<String>,
}

/// How requests authenticate (templates over the configuration).
#[derive(Debug, Clone)]
pub enum AuthDef {
    /// None.
    None,
    /// Bearer token.
    Bearer(Template),
    /// Basic user and password.
    Basic(Template, Option<Template>),
    /// A header and its value.
    Header(String, Template),
    /// A query parameter and its value.
    Query(String, Template),
    /// OAuth2 refresh-token grant.
    OAuth2 {
        /// Token endpoint.
        token_url: Template,
        /// Client id.
        client_id: Template,
        /// Client secret.
        client_secret: Template,
        /// Refresh token.
        refresh_token: Template,
    },
}

/// A JSON body whose strings are templates.
#[derive(Debug, Clone)]
pub enum BodyTemplate {
    /// A constant value.
    Constant(serde_json::Value),
    /// A templated string (absent when a hole is).
    Text(Template),
    /// An array.
    Array(Vec<BodyTemplate>),
    /// An object; a member whose value is absent is left out.
    Object(Vec<(String, BodyTemplate)>),
}

impl BodyTemplate {
    /// Whether a templated string uses `var` (`since`, `until`).
    pub fn uses(&self, var: &Var) -> bool {
        match self {
            BodyTemplate::Constant(_) => false,
            BodyTemplate::Text(t) => t.vars().any(|v| v == var),
            BodyTemplate::Array(items) => items.iter().any(|i| i.uses(var)),
            BodyTemplate::Object(members) => members.iter().any(|(_, v)| v.uses(var)),
        }
    }

    /// The filled-in JSON; `None` when a templated string is absent.
    pub fn render(&self, scope: &super::template::Scope<'_>) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match self {
            BodyTemplate::Constant(v) => v.clone(),
            BodyTemplate::Text(t) => J::String(t.render(scope)?),
            BodyTemplate::Array(items) => {
                J::Array(items.iter().filter_map(|i| i.render(scope)).collect())
            }
            BodyTemplate::Object(members) => J::Object(
                members
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.render(scope)?)))
                    .collect(),
            ),
        })
    }
}

/// A request: method, path, query and body templates.
#[derive(Debug, Clone)]
pub struct RequestDef {
    /// GET or POST.
    pub method: crate::http::Method,
    /// The JSON body, if any.
    pub body: Option<BodyTemplate>,
    /// The path (or absolute URL).
    pub path: Template,
    /// Query pairs in order; a repeated key appears once per value.
    pub query: Vec<(String, Template)>,
}

impl RequestDef {
    /// Whether its query or body sends `var` (`since`, `until`).
    pub fn sends(&self, var: &Var) -> bool {
        self.query.iter().any(|(_, t)| t.vars().any(|v| v == var))
            || self.body.as_ref().is_some_and(|b| b.uses(var))
    }
}

/// How a list pages, resolved to the kit's pager settings.
#[derive(Debug, Clone)]
pub enum Paging {
    /// One request.
    None,
    /// Token pager; the token goes in `param` (cursor and token kinds).
    Token {
        /// The token's parameter.
        param: String,
        /// The size parameter.
        limit_param: String,
        /// Sizes, largest first.
        limits: Vec<u32>,
        /// Text of the 400 that says the API's result cap is reached.
        cap_error: Option<String>,
        /// The most results one query returns; the list restarts before a page would pass it.
        cap: Option<u64>,
        /// The key a restart goes on after (`{{last_key}}`), if not the cursor.
        restart_key: Option<FieldPath>,
        /// Token and size go in the JSON body.
        in_body: bool,
    },
    /// Offsets while `has_more`.
    Offset {
        /// The offset parameter.
        skip_param: String,
        /// The size parameter.
        limit_param: String,
        /// The size.
        limit: u32,
        /// Whether the envelope's total says when to stop.
        total: bool,
        /// The largest offset the API accepts; past it the list restarts from the last cursor.
        max_skip: Option<u64>,
        /// Text of the 400 that refuses an offset past the API's maximum.
        skip_error: Option<String>,
        /// Page numbers instead of offsets: the first page's number (`skip_param` is then the page
        /// number parameter).
        first_page: Option<u64>,
    },
    /// Links the API gives, followed exactly.
    Link {
        /// The first request's size parameter and size, if any.
        limit: Option<(String, u32)>,
    },
}

impl Paging {
    /// Whether the page at `token` (an offset) lies past the API's maximum skip, so the list must
    /// restart from its last cursor instead of asking for it.
    pub fn past_max_skip(&self, token: &str) -> bool {
        match self {
            Paging::Offset {
                max_skip: Some(max),
                ..
            } => token.parse::<u64>().is_ok_and(|skip| skip > *max),
            _ => false,
        }
    }

    /// Whether a round that has read `read` records must restart before its next page, which
    /// could reach past the API's result cap (`read` plus the largest page size).
    pub fn past_cap(&self, read: u64) -> bool {
        match self {
            Paging::Token {
                cap: Some(cap),
                limits,
                ..
            } => read + limits.first().copied().map_or(0, u64::from) > *cap,
            _ => false,
        }
    }

    /// The key a capped query restarts after, if it restarts by key rather than by cursor.
    pub fn restart_key(&self) -> Option<&FieldPath> {
        match self {
            Paging::Token { restart_key, .. } => restart_key.as_ref(),
            _ => None,
        }
    }

    /// Whether `e` is the API refusing an offset past its maximum (a 400 with `skip_error`).
    pub fn refused_skip(&self, e: &crate::sync::PagerError) -> bool {
        let text = match self {
            Paging::Offset {
                skip_error: Some(text),
                ..
            }
            | Paging::Token {
                cap_error: Some(text),
                ..
            } => text,
            _ => return false,
        };
        matches!(e, crate::sync::PagerError::Fetch { source, .. }
            if matches!(source.as_ref(), crate::http::HttpError::Permanent { status: 400, detail, .. } if detail.contains(text.as_str())))
    }

    fn restarts(&self) -> bool {
        matches!(
            self,
            Paging::Offset {
                max_skip: Some(_),
                ..
            } | Paging::Offset {
                skip_error: Some(_),
                ..
            } | Paging::Token {
                cap_error: Some(_),
                ..
            } | Paging::Token { cap: Some(_), .. }
        )
    }
}

/// A paged list request.
#[derive(Debug, Clone)]
pub struct ListDef {
    /// The first page's request.
    pub request: RequestDef,
    /// Where records and the next position sit.
    pub envelope: Envelope,
    /// How pages follow each other.
    pub paging: Paging,
    /// Where the records sit (for checks beyond the envelope's).
    pub records: FieldPath,
    /// The body's flag that more pages follow, if it has one.
    pub more: Option<FieldPath>,
}

/// How later syncs find changes.
#[derive(Debug, Clone)]
pub enum IncrementalDef {
    /// The list bounded by `since`; the next `since` is the largest cursor seen.
    Cursor {
        /// The change instant's field.
        cursor: FieldPath,
        /// Re-read before the cursor.
        lookback: Duration,
        /// The lower bound of a full pass (`config.*` only), if any.
        start: Option<Template>,
    },
    /// An events endpoint.
    Events {
        /// The events list.
        list: Box<ListDef>,
        /// The object inside an event.
        object: FieldPath,
        /// The event's type.
        type_field: FieldPath,
        /// A type ending in this deletes (absent: only the refetch's 404 or `deleted` flag does).
        deleted_suffix: Option<String>,
        /// One object's path.
        refetch: Template,
        /// How long events are kept.
        retention: Duration,
        /// Re-read before the last pass's start.
        lookback: Duration,
    },
}

/// Where a child's records come from.
#[derive(Debug, Clone)]
pub enum ChildSource {
    /// A list request per parent.
    Request(Box<ListDef>),
    /// A list inside the parent record.
    Embedded(FieldPath),
}

/// A child table.
#[derive(Debug, Clone)]
pub struct ChildDef {
    /// Its table.
    pub table: TableSpec,
    /// Its records.
    pub source: ChildSource,
    /// Columns given from the parent: (column, parent path).
    pub parent_columns: Vec<(String, FieldPath)>,
    /// An embedded connection's following pages, if it has them.
    pub more: Option<Box<MoreDef>>,
}

/// The following pages of a connection embedded in its parent.
#[derive(Debug, Clone)]
pub struct MoreDef {
    /// The parent's `pageInfo.hasNextPage` of the embedded page.
    pub has_next: FieldPath,
    /// The parent's `pageInfo.endCursor`: the following pages start after it.
    pub end_cursor: FieldPath,
    /// The endpoint (the parent stream's path).
    pub path: Template,
    /// The request of the following pages.
    pub graphql: GraphqlDef,
}

/// One stream.
#[derive(Debug, Clone)]
pub struct StreamDef {
    /// Its table.
    pub table: TableSpec,
    /// Its list.
    pub list: ListDef,
    /// How later syncs find changes (`None`: full re-read with a truncate).
    pub incremental: Option<IncrementalDef>,
    /// The list changes passes read instead of `list` (a search endpoint), if any.
    pub changes: Option<ListDef>,
    /// Child tables.
    pub children: Vec<ChildDef>,
    /// The lists of deleted records, read in every changes pass.
    pub deletes: Vec<DeletesDef>,
    /// A GraphQL stream's document, variables and connection (then `list` is its endpoint).
    pub graphql: Option<Box<GraphqlDef>>,
    /// The date windows its list is read in, if any.
    pub window: Option<WindowDef>,
    /// How often an incremental stream is read in full instead (`full_refresh_days`), if ever.
    pub full_every: Option<Duration>,
}

/// Date windows over a stream's list (`window = { ... }`).
#[derive(Debug, Clone)]
pub struct WindowDef {
    /// Where a full pass's walk starts (`config.*` only; an instant or a date once filled in).
    pub start: Template,
    /// The windows' lengths and tries (the kit's [`crate::sync::WindowBatcher`]).
    pub config: crate::sync::WindowConfig,
}

/// A list whose records name deleted rows.
#[derive(Debug, Clone)]
pub struct DeletesDef {
    /// The list.
    pub list: ListDef,
    /// The key columns and where each sits in a deletion record.
    pub key: Vec<(String, FieldPath)>,
    /// How long the API keeps the list.
    pub retention: Option<Duration>,
}

/// An error in a 200 body.
#[derive(Debug, Clone)]
pub struct ErrorInBody {
    /// The marking path.
    pub path: FieldPath,
    /// The marking value, if one.
    pub equals: Option<String>,
    /// Whether to retry.
    pub transient: bool,
    /// Per-error codes deciding the verdict (GraphQL `errors[].type`), if given.
    pub codes: Option<super::graphql::ErrorCodes>,
}

/// A GraphQL stream, compiled.
#[derive(Debug, Clone)]
pub struct GraphqlDef {
    /// The document.
    pub(super) query: String,
    /// The variables' templates.
    pub(super) variables: Vec<(String, BodyTemplate)>,
    uses_since: bool,
    /// Where the records sit.
    pub(super) shape: Shape,
    /// Page sizes, largest first.
    pub(super) limits: Vec<u32>,
    /// The size variable.
    pub(super) first: String,
    /// The cursor variable.
    pub(super) after: String,
    /// The partitions, if any.
    pub(super) for_each: Option<ForEach>,
    /// The newest-first order's field.
    pub(super) newest_first: Option<FieldPath>,
}

impl GraphqlDef {
    /// Whether a variable sends `{{since}}`.
    pub fn uses_since(&self) -> bool {
        self.uses_since
    }
}

/// A loaded, checked definition.
#[derive(Debug, Clone)]
pub struct Definition {
    /// The connector's name.
    pub name: String,
    /// One line on it.
    pub description: String,
    /// The default base URL.
    pub base_url: String,
    /// Form fields, `base_url` included (last).
    pub fields: Vec<FieldDef>,
    /// Authentication.
    pub auth: AuthDef,
    /// What a refused credential tells the user.
    pub refused: String,
    /// The documented budget.
    pub rate_limit: Option<RateLimit>,
    /// Requests in flight.
    pub max_in_flight: usize,
    /// Headers on every request.
    pub headers: Vec<(String, String)>,
    /// Error bodies inside 200s.
    pub error_in_body: Option<ErrorInBody>,
    /// A points budget reported in bodies (GraphQL `rateLimit`).
    pub points: Option<super::graphql::Points>,
    /// The setup test's label.
    pub test_label: String,
    /// The setup test's request.
    pub test: RequestDef,
    /// The streams.
    pub streams: Vec<StreamDef>,
}

/// The column type names and their readers.
pub const TYPES: &[(&str, Reader)] = &[
    ("string", Reader::Text),
    ("id", Reader::Id),
    ("bool", Reader::Bool),
    ("int", Reader::Int),
    ("long", Reader::Long),
    ("double", Reader::Double),
    ("timestamp", Reader::Timestamp),
    ("epoch_seconds", Reader::EpochSeconds),
    ("epoch_millis", Reader::EpochMillis),
    ("date", Reader::Date),
    ("json", Reader::Json),
];

/// Loads `text` (the file `file`): parses, checks and compiles it.
pub fn load(file: &str, text: &str) -> Result<Definition, DefinitionError> {
    let cx = Cx { file, text };
    let deserializer = toml::de::Deserializer::parse(text).map_err(|e| cx.toml_error(None, &e))?;
    let raw: RawDefinition = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        cx.toml_error(Some(path), e.inner())
    })?;
    cx.compile(raw)
}

/// The file being compiled (for errors' places).
pub(super) struct Cx<'a> {
    file: &'a str,
    text: &'a str,
}

pub(super) type R<T> = Result<T, DefinitionError>;

impl Cx<'_> {
    pub(super) fn line_of(&self, at: usize) -> usize {
        let at = at.min(self.text.len());
        self.text[..at].bytes().filter(|b| *b == b'\n').count() + 1
    }

    pub(super) fn error(
        &self,
        span: Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> DefinitionError {
        DefinitionError {
            file: self.file.to_owned(),
            line: self.line_of(span.start),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    fn toml_error(&self, path: Option<String>, e: &toml::de::Error) -> DefinitionError {
        let line = e.span().map_or(0, |s| self.line_of(s.start));
        // Spanned values show up in the path as serde_spanned's private field names.
        let path = path.map(|p| {
            p.split('.')
                .filter(|segment| !segment.starts_with("$__"))
                .collect::<Vec<_>>()
                .join(".")
        });
        let key = match path {
            Some(p) if p != "." && !p.is_empty() => p,
            _ => self.key_on_line(line),
        };
        DefinitionError {
            file: self.file.to_owned(),
            line,
            key,
            message: e.message().trim().replace('\n', " "),
        }
    }

    /// The key written on `line` (`name = ...`), under the nearest `[table]` header above it: for
    /// errors the parser reports without a path (syntax, unknown keys).
    fn key_on_line(&self, line: usize) -> String {
        let lines: Vec<&str> = self.text.lines().collect();
        let Some(text) = line.checked_sub(1).and_then(|i| lines.get(i)) else {
            return "(file)".to_owned();
        };
        let key = text
            .split('=')
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches('"');
        let header = lines[..line - 1]
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
        match header {
            _ if key.is_empty() || key.starts_with('[') => "(file)".to_owned(),
            Some(h) => format!("{h}.{key}"),
            None => key.to_owned(),
        }
    }

    fn compile(&self, raw: RawDefinition) -> R<Definition> {
        let name = raw.name.get_ref().clone();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
        {
            return Err(self.error(
                raw.name.span(),
                "name",
                "must be lower-case letters, digits and '_'",
            ));
        }
        let base = raw.base_url.get_ref();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(self.error(
                raw.base_url.span(),
                "base_url",
                "must start with https:// or http://",
            ));
        }
        let mut fields = Vec::new();
        let mut seen = HashSet::new();
        for (i, f) in raw.fields.iter().enumerate() {
            let key = format!("fields[{i}].name");
            let n = f.name.get_ref();
            if n == "base_url" {
                return Err(self.error(
                    f.name.span(),
                    &key,
                    "'base_url' is added to every form; do not declare it",
                ));
            }
            if !seen.insert(n.clone()) {
                return Err(self.error(
                    f.name.span(),
                    &key,
                    format!("field '{n}' is declared twice"),
                ));
            }
            if let (FieldKind::Date, Some(d)) = (f.kind, &f.default) {
                if date_default(d).is_none() {
                    return Err(self.error(
                        f.name.span(),
                        &format!("fields[{i}].default"),
                        format!("'{d}' is not a date like 2024-01-31 (or RFC 3339)"),
                    ));
                }
            }
            fields.push(FieldDef {
                name: n.clone(),
                label: f.label.clone(),
                kind: f.kind,
                optional: f.optional || f.default.is_some(),
                description: f.description.clone(),
                default: f.default.clone(),
                placeholder: f.placeholder.clone(),
            });
        }
        fields.push(FieldDef {
            name: "base_url".into(),
            label: "API base URL".into(),
            kind: FieldKind::Text,
            optional: true,
            description: None,
            default: Some(base.trim_end_matches('/').to_owned()),
            placeholder: None,
        });
        let fields_cx = Fields { fields: &fields };
        let auth = self.auth(&raw.auth, &fields_cx)?;
        let rate_limit = raw.http.rate_limit.as_ref().map(|r| RateLimit {
            limit: r.requests.max(1),
            period: Duration::from_secs(r.per_seconds.max(1)),
            burst: r.requests.max(1),
        });
        let error_in_body = match raw.http.error_in_body.as_ref() {
            Some(e) => Some(ErrorInBody {
                path: FieldPath::parse(e.path.get_ref()),
                equals: e.equals.clone(),
                transient: e.transient,
                codes: self.error_codes(e)?,
            }),
            None => None,
        };
        let points = raw.http.points.as_ref().map(super::graphql::points);
        if let (Some(p), None) = (&raw.http.points, &raw.http.rate_limit) {
            // The points wait pauses the client's budget: without one there is nothing to pause.
            return Err(self.error(
                p.remaining.span(),
                "http.points",
                "'points' needs 'rate_limit' (the budget it pauses)",
            ));
        }
        let scope = Allowed {
            since: false,
            parent: false,
            object: false,
        };
        let test = self.request("test", &raw.test.path, &raw.test.query, &fields_cx, scope)?;
        let mut tables = HashSet::new();
        let mut streams = Vec::new();
        for (i, s) in raw.streams.iter().enumerate() {
            streams.push(self.stream(i, s, &raw, &fields_cx, &mut tables)?);
        }
        if streams.is_empty() {
            return Err(self.error(0..0, "streams", "a definition needs at least one stream"));
        }
        Ok(Definition {
            name,
            description: raw.description.clone(),
            base_url: base.trim_end_matches('/').to_owned(),
            fields,
            auth,
            refused: raw.auth.refused.clone(),
            rate_limit,
            max_in_flight: raw.http.max_in_flight.unwrap_or(4).clamp(1, 64),
            headers: raw
                .http
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            error_in_body,
            points,
            test_label: raw.test.label.clone(),
            test,
            streams,
        })
    }

    fn auth(&self, a: &RawAuth, fields: &Fields<'_>) -> R<AuthDef> {
        let kind_span = a.kind.span();
        let need = |v: &Option<Spanned<String>>, name: &str| -> R<Template> {
            match v {
                Some(v) => self.config_template(&format!("auth.{name}"), v, fields, true),
                None => Err(self.error(
                    kind_span.clone(),
                    &format!("auth.{name}"),
                    format!("auth type '{:?}' needs '{name}'", a.kind.get_ref()).to_lowercase(),
                )),
            }
        };
        Ok(match a.kind.get_ref() {
            AuthKind::None => AuthDef::None,
            AuthKind::Bearer => AuthDef::Bearer(need(&a.token, "token")?),
            AuthKind::Basic => AuthDef::Basic(
                need(&a.username, "username")?,
                match &a.password {
                    Some(p) => Some(self.config_template("auth.password", p, fields, true)?),
                    None => None,
                },
            ),
            AuthKind::Header => {
                let header = a.header.as_ref().ok_or_else(|| {
                    self.error(
                        kind_span.clone(),
                        "auth.header",
                        "auth type 'header' needs 'header'",
                    )
                })?;
                AuthDef::Header(header.get_ref().clone(), need(&a.value, "value")?)
            }
            AuthKind::Query => {
                let param = a.param.as_ref().ok_or_else(|| {
                    self.error(
                        kind_span.clone(),
                        "auth.param",
                        "auth type 'query' needs 'param'",
                    )
                })?;
                AuthDef::Query(param.get_ref().clone(), need(&a.value, "value")?)
            }
            AuthKind::Oauth2 => AuthDef::OAuth2 {
                token_url: need(&a.token_url, "token_url")?,
                client_id: need(&a.client_id, "client_id")?,
                client_secret: need(&a.client_secret, "client_secret")?,
                refresh_token: need(&a.refresh_token, "refresh_token")?,
            },
        })
    }

    /// A template that may use only configuration fields (secrets too when `secrets`).
    fn config_template(
        &self,
        key: &str,
        v: &Spanned<String>,
        fields: &Fields<'_>,
        secrets: bool,
    ) -> R<Template> {
        let scope = Allowed {
            since: false,
            parent: false,
            object: false,
        };
        self.template(key, v.get_ref(), v.span(), fields, scope, secrets)
    }

    pub(super) fn template(
        &self,
        key: &str,
        text: &str,
        span: Range<usize>,
        fields: &Fields<'_>,
        allowed: Allowed,
        secrets: bool,
    ) -> R<Template> {
        let t = Template::parse(text).map_err(|e| self.error(span.clone(), key, e.0))?;
        for var in t.vars() {
            let refused = match var {
                Var::Config(name) => match fields.get(name) {
                    None => Some(format!(
                        "'config.{name}' is not a form field; valid choices: {}",
                        fields.names()
                    )),
                    Some(f) if f.kind == FieldKind::Password && !secrets => Some(format!(
                        "'config.{name}' is a secret and may appear only in [auth], never in a path or query"
                    )),
                    Some(_) => None,
                },
                Var::Since | Var::Until | Var::LastKey if !allowed.since => Some(
                    "'since', 'until' and 'last_key' exist only in a stream's list and events requests".to_owned(),
                ),
                Var::Parent(_) if !allowed.parent => {
                    Some("'parent.*' exists only in a child's path".to_owned())
                }
                Var::Object(_) if !allowed.object => {
                    Some("'object.*' exists only in an events 'refetch'".to_owned())
                }
                _ => None,
            };
            if let Some(message) = refused {
                return Err(self.error(span, key, message));
            }
        }
        Ok(t)
    }

    fn request(
        &self,
        key: &str,
        path: &Spanned<String>,
        query: &BTreeMap<String, Spanned<QueryValue>>,
        fields: &Fields<'_>,
        allowed: Allowed,
    ) -> R<RequestDef> {
        let path_t = self.template(
            &format!("{key}.path"),
            path.get_ref(),
            path.span(),
            fields,
            allowed,
            false,
        )?;
        let mut pairs = Vec::new();
        for (name, value) in query {
            let k = format!("{key}.query.{name}");
            let values = match value.get_ref() {
                QueryValue::One(v) => vec![v.clone()],
                QueryValue::Many(vs) => vs.clone(),
            };
            for v in values {
                pairs.push((
                    name.clone(),
                    self.template(&k, &v, value.span(), fields, allowed, false)?,
                ));
            }
        }
        Ok(RequestDef {
            method: crate::http::Method::GET,
            body: None,
            path: path_t,
            query: pairs,
        })
    }

    pub(super) fn body(
        &self,
        key: &str,
        json: &serde_json::Value,
        span: Range<usize>,
        fields: &Fields<'_>,
        allowed: Allowed,
    ) -> R<BodyTemplate> {
        use serde_json::Value as J;
        Ok(match json {
            J::String(text) => {
                let t = self.template(key, text, span, fields, allowed, false)?;
                if t.is_constant() {
                    BodyTemplate::Constant(json.clone())
                } else {
                    BodyTemplate::Text(t)
                }
            }
            J::Array(items) => BodyTemplate::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        self.body(&format!("{key}[{i}]"), v, span.clone(), fields, allowed)
                    })
                    .collect::<R<_>>()?,
            ),
            J::Object(members) => BodyTemplate::Object(
                members
                    .iter()
                    .map(|(k, v)| {
                        Ok((
                            k.clone(),
                            self.body(&format!("{key}.{k}"), v, span.clone(), fields, allowed)?,
                        ))
                    })
                    .collect::<R<_>>()?,
            ),
            other => BodyTemplate::Constant(other.clone()),
        })
    }

    fn list(
        &self,
        key: &str,
        request: RequestDef,
        records: Option<&String>,
        paginate: Option<&RawPaginate>,
        raw: &RawDefinition,
        span: Range<usize>,
    ) -> R<ListDef> {
        let records = records
            .or(raw.defaults.records.as_ref())
            .cloned()
            .unwrap_or_default();
        let paginate = paginate
            .or(raw.defaults.paginate.as_ref())
            .cloned()
            .unwrap_or(RawPaginate::None);
        let check_limits = |limits: &[u32]| -> R<()> {
            if limits.is_empty() || limits.contains(&0) || limits.windows(2).any(|w| w[0] <= w[1]) {
                return Err(self.error(
                    span.clone(),
                    &format!("{key}.paginate.limits"),
                    "must be page sizes above 0, largest first",
                ));
            }
            Ok(())
        };
        let more = match &paginate {
            RawPaginate::Cursor { has_more, .. } => Some(FieldPath::parse(has_more)),
            RawPaginate::Offset { has_more, .. } | RawPaginate::Page { has_more, .. } => {
                has_more.as_deref().map(FieldPath::parse)
            }
            RawPaginate::None | RawPaginate::Token { .. } | RawPaginate::Link { .. } => None,
        };
        let (envelope, paging) = match paginate {
            RawPaginate::None => (Envelope::new(&records), Paging::None),
            RawPaginate::Cursor {
                param,
                field,
                has_more,
                limit_param,
                limits,
            } => {
                check_limits(&limits)?;
                let next = Next::LastRecord {
                    field: FieldPath::parse(&field),
                    has_more: Some(FieldPath::parse(&has_more)),
                };
                (
                    Envelope::new(&records).next(next),
                    Paging::Token {
                        param,
                        limit_param,
                        limits,
                        cap_error: None,
                        cap: None,
                        restart_key: None,
                        in_body: false,
                    },
                )
            }
            RawPaginate::Token {
                param,
                next,
                limit_param,
                limits,
                cap_error,
                cap,
                restart_key,
                in_body,
            } => {
                check_limits(&limits)?;
                if restart_key.is_some() && cap.is_none() && cap_error.is_none() {
                    return Err(self.error(
                        span.clone(),
                        &format!("{key}.paginate.restart_key"),
                        "a restart key restarts a capped query: give 'cap' or 'cap_error' too",
                    ));
                }
                if restart_key.is_some() && !request.sends(&Var::LastKey) {
                    return Err(self.error(
                        span.clone(),
                        &format!("{key}.paginate.restart_key"),
                        "a query restarted by key must filter by it: send \"{{last_key|or:0}}\" in its query or body",
                    ));
                }
                if cap.is_some_and(|c| limits.first().is_some_and(|l| u64::from(*l) > c)) {
                    return Err(self.error(
                        span.clone(),
                        &format!("{key}.paginate.cap"),
                        "the result cap must be at least the largest page size",
                    ));
                }
                if in_body && !matches!(request.method, crate::http::Method::POST) {
                    return Err(self.error(
                        span.clone(),
                        &format!("{key}.paginate.in_body"),
                        "a token in the body needs method = \"post\"",
                    ));
                }
                (
                    Envelope::new(&records).next_in_body(&next),
                    Paging::Token {
                        param,
                        limit_param,
                        limits,
                        cap_error,
                        cap,
                        restart_key: restart_key.as_deref().map(FieldPath::parse),
                        in_body,
                    },
                )
            }
            RawPaginate::Offset {
                skip_param,
                limit_param,
                limit,
                has_more: _,
                total,
                max_skip,
                skip_error,
            } => {
                check_limits(&[limit])?;
                if max_skip.is_some_and(|m| m < u64::from(limit)) {
                    return Err(self.error(
                        span.clone(),
                        &format!("{key}.paginate.max_skip"),
                        format!("must be at least the page size ({limit})"),
                    ));
                }
                let envelope = match &total {
                    Some(t) => Envelope::new(&records).total(t),
                    None => Envelope::new(&records),
                };
                (
                    envelope,
                    Paging::Offset {
                        skip_param,
                        limit_param,
                        limit,
                        total: total.is_some(),
                        max_skip,
                        skip_error,
                        first_page: None,
                    },
                )
            }
            RawPaginate::Page {
                page_param,
                limit_param,
                limit,
                first_page,
                has_more: _,
                total,
            } => {
                check_limits(&[limit])?;
                let envelope = match &total {
                    Some(t) => Envelope::new(&records).total(t),
                    None => Envelope::new(&records),
                };
                (
                    envelope,
                    Paging::Offset {
                        skip_param: page_param,
                        limit_param,
                        limit,
                        total: total.is_some(),
                        max_skip: None,
                        skip_error: None,
                        first_page: Some(first_page.unwrap_or(1)),
                    },
                )
            }
            RawPaginate::Link {
                next,
                limit_param,
                limit,
            } => {
                let limit = match (limit_param, limit) {
                    (Some(p), Some(n)) if n > 0 => Some((p, n)),
                    (None, None) => None,
                    _ => {
                        return Err(self.error(
                            span.clone(),
                            &format!("{key}.paginate.limit"),
                            "'limit_param' and 'limit' (above 0) go together",
                        ))
                    }
                };
                let next = match &next {
                    Some(path) => Next::Body(FieldPath::parse(path)),
                    None => Next::LinkHeader,
                };
                if !matches!(request.method, crate::http::Method::GET) {
                    return Err(self.error(
                        span.clone(),
                        &format!("{key}.paginate"),
                        "a link is followed with GET; a POST list pages by 'token' in its body",
                    ));
                }
                (Envelope::new(&records).next(next), Paging::Link { limit })
            }
        };
        Ok(ListDef {
            request,
            envelope,
            paging,
            records: FieldPath::parse(&records),
            more,
        })
    }

    fn table(
        &self,
        key: &str,
        name: &Spanned<String>,
        primary_key: &Spanned<Vec<String>>,
        columns: &BTreeMap<String, Spanned<RawColumn>>,
        given: &[String],
        tables: &mut HashSet<String>,
    ) -> R<TableSpec> {
        if !tables.insert(name.get_ref().clone()) {
            return Err(self.error(
                name.span(),
                &format!("{key}.name"),
                format!("table '{}' is declared twice", name.get_ref()),
            ));
        }
        let mut spec = TableSpec::new(name.get_ref().clone());
        let declared: Vec<&str> = columns
            .keys()
            .map(String::as_str)
            .chain(given.iter().map(String::as_str))
            .collect();
        if primary_key.get_ref().is_empty() {
            return Err(self.error(
                primary_key.span(),
                &format!("{key}.primary_key"),
                "name at least one column",
            ));
        }
        for k in primary_key.get_ref() {
            if !declared.contains(&k.as_str()) {
                return Err(self.error(
                    primary_key.span(),
                    &format!("{key}.primary_key"),
                    format!(
                        "'{k}' is not a column; valid choices: {}",
                        declared.join(", ")
                    ),
                ));
            }
        }
        let is_key = |c: &str| primary_key.get_ref().iter().any(|k| k == c);
        for g in given {
            let col = if is_key(g) {
                ColumnSpec::key(g.clone(), Reader::Text)
            } else {
                ColumnSpec::new(g.clone(), Reader::Text)
            };
            spec = spec.column(col.given());
        }
        for (col, raw) in columns {
            if given.contains(col) {
                return Err(self.error(
                    raw.span(),
                    &format!("{key}.columns.{col}"),
                    "is also a parent column",
                ));
            }
            let c = raw.get_ref();
            let reader = reader_named(&c.ty).ok_or_else(|| {
                let names: Vec<&str> = TYPES
                    .iter()
                    .map(|(n, _)| *n)
                    .chain(["decimal(P,S)"])
                    .collect();
                self.error(
                    raw.span(),
                    &format!("{key}.columns.{col}"),
                    format!(
                        "unknown type '{}'; valid choices: {}",
                        c.ty,
                        names.join(", ")
                    ),
                )
            })?;
            let mut column = if is_key(col) {
                ColumnSpec::key(col.clone(), reader)
            } else {
                ColumnSpec::new(col.clone(), reader)
            };
            if let Some(from) = &c.from {
                column = column.from(from);
            }
            spec = spec.column(column);
        }
        Ok(spec)
    }

    fn stream(
        &self,
        i: usize,
        s: &RawStream,
        raw: &RawDefinition,
        fields: &Fields<'_>,
        tables: &mut HashSet<String>,
    ) -> R<StreamDef> {
        let key = format!("streams.{}", s.name.get_ref());
        let _ = i;
        let table = self.table(&key, &s.name, &s.primary_key, &s.columns, &[], tables)?;
        let allowed = Allowed {
            since: true,
            parent: false,
            object: false,
        };
        let request = self.request_with_body(
            &key,
            (&s.path, &s.query),
            s.method,
            s.body.as_ref(),
            fields,
            allowed,
        )?;
        let sends_since = |r: &RequestDef| r.sends(&Var::Since);
        let changes = match &s.changes {
            None => None,
            Some(c) => {
                let ckey = format!("{key}.changes");
                let request = self.request_with_body(
                    &ckey,
                    (&c.path, &c.query),
                    c.method,
                    c.body.as_ref(),
                    fields,
                    allowed,
                )?;
                if !sends_since(&request) {
                    return Err(self.error(
                        c.path.span(),
                        &ckey,
                        "a changes request must send the lower bound, e.g. \"{{since|epoch_ms}}\" in its query or body",
                    ));
                }
                Some(self.list(
                    &ckey,
                    request,
                    c.records.as_ref(),
                    c.paginate.as_ref(),
                    raw,
                    c.path.span(),
                )?)
            }
        };
        let mut request = request;
        let graphql = match &s.graphql {
            Some(g) => {
                request.method = crate::http::Method::POST;
                Some(Box::new(self.graphql(&key, s, g, fields)?))
            }
            None => None,
        };
        let uses_since = sends_since(&request)
            || changes.is_some()
            || graphql.as_ref().is_some_and(|g| g.uses_since());
        let list = self.list(
            &key,
            request,
            s.records.as_ref(),
            s.paginate.as_ref(),
            raw,
            s.path.span(),
        )?;
        let incremental = match &s.incremental {
            None => None,
            Some(inc) => Some(self.incremental(&key, inc, raw, fields, uses_since, &s.columns)?),
        };
        if (list.paging.restarts() || changes.as_ref().is_some_and(|c| c.paging.restarts()))
            && !matches!(incremental, Some(IncrementalDef::Cursor { .. }))
        {
            return Err(self.error(
                s.path.span(),
                &format!("{key}.paginate.max_skip"),
                "a list past its maximum skip restarts from the largest cursor seen, so the stream needs incremental = { type = \"cursor\", ... } and a list sorted by it",
            ));
        }
        let mut children = Vec::new();
        let graphql_path = graphql.is_some().then_some(&list.request.path);
        for c in &s.children {
            children.push(self.child(&key, c, graphql_path, raw, fields, tables)?);
        }
        let mut deletes = Vec::new();
        for d in &s.deletes {
            deletes.push(self.deletes(&key, d, s, raw, fields)?);
        }
        if let (Some(c), false) = (
            &s.changes,
            matches!(incremental, Some(IncrementalDef::Cursor { .. })),
        ) {
            return Err(self.error(
                c.path.span(),
                &format!("{key}.changes"),
                "a changes request is read by cursor, so the stream needs incremental = { type = \"cursor\", ... }",
            ));
        }
        if let (Some(w), Some(_)) = (&s.window, &s.graphql) {
            return Err(self.error(
                w.span(),
                &format!("{key}.window"),
                "date windows are for REST lists; a GraphQL stream bounds its pass with `since` in its variables",
            ));
        }
        let window = match &s.window {
            Some(w) => Some(self.window(&key, w, &list, &incremental, fields)?),
            None => None,
        };
        let full_every =
            match s
                .incremental
                .as_ref()
                .and_then(|i| i.full_refresh_days.as_ref())
            {
                Some(days) if *days.get_ref() == 0 => return Err(self.error(
                    days.span(),
                    &format!("{key}.incremental.full_refresh_days"),
                    "full_refresh_days must be at least 1 (leave it out to never re-read in full)",
                )),
                Some(days) => Some(Duration::from_secs(u64::from(*days.get_ref()) * 86_400)),
                None => None,
            };
        Ok(StreamDef {
            table,
            list,
            incremental,
            changes,
            children,
            deletes,
            graphql,
            window,
            full_every,
        })
    }

    /// A stream's date windows: its list must send both bounds, and a full pass needs a start.
    fn window(
        &self,
        key: &str,
        w: &Spanned<RawWindow>,
        list: &ListDef,
        incremental: &Option<IncrementalDef>,
        fields: &Fields<'_>,
    ) -> R<WindowDef> {
        let key = format!("{key}.window");
        let span = w.span();
        let w = w.get_ref();
        for (var, hole) in [(Var::Since, "since"), (Var::Until, "until")] {
            if !list.request.sends(&var) {
                return Err(self.error(
                    span,
                    &key,
                    format!("a windowed list must send the window's bounds: put \"{{{{{hole}|epoch}}}}\" (or another format) in its query or body"),
                ));
            }
        }
        let start = match (&w.start, incremental) {
            (Some(t), _) => {
                let template = self.config_template(&format!("{key}.start"), t, fields, false)?;
                if template.vars().next().is_none() && date_default(t.get_ref()).is_none() {
                    return Err(self.error(
                        t.span(),
                        &format!("{key}.start"),
                        format!("'{}' is not a date (YYYY-MM-DD) or an RFC 3339 instant", t.get_ref()),
                    ));
                }
                template
            }
            (None, Some(IncrementalDef::Cursor { start: Some(t), .. })) => t.clone(),
            (None, _) => {
                return Err(self.error(
                    span,
                    &format!("{key}.start"),
                    "a windowed list needs 'start', where a full pass begins (\"2011-01-01\" or \"{{config.start_date}}\")",
                ))
            }
        };
        let initial = chrono::TimeDelta::days(i64::from(w.days));
        let min = chrono::TimeDelta::seconds(w.min_seconds.unwrap_or(3600) as i64);
        if w.days == 0 || min <= chrono::TimeDelta::zero() || min > initial {
            return Err(self.error(
                span,
                &key,
                "a window needs days >= 1 and 1 <= min_seconds <= days * 86400",
            ));
        }
        Ok(WindowDef {
            start,
            config: crate::sync::WindowConfig {
                initial,
                min,
                attempts_at_min: w.attempts.unwrap_or(3).max(1),
                lookback: chrono::TimeDelta::zero(),
                ..crate::sync::WindowConfig::default()
            },
        })
    }

    /// A request with its method and JSON body (a body needs POST).
    fn request_with_body(
        &self,
        key: &str,
        (path, query): (&Spanned<String>, &BTreeMap<String, Spanned<QueryValue>>),
        method: Option<super::format::Method>,
        body: Option<&Spanned<toml::Value>>,
        fields: &Fields<'_>,
        allowed: Allowed,
    ) -> R<RequestDef> {
        let mut request = self.request(key, path, query, fields, allowed)?;
        if method == Some(super::format::Method::Post) {
            request.method = crate::http::Method::POST;
        }
        if let Some(body) = body {
            if method != Some(super::format::Method::Post) {
                return Err(self.error(
                    body.span(),
                    &format!("{key}.body"),
                    "a body needs method = \"post\"",
                ));
            }
            let json = serde_json::to_value(body.get_ref())
                .map_err(|e| self.error(body.span(), &format!("{key}.body"), e.to_string()))?;
            request.body =
                Some(self.body(&format!("{key}.body"), &json, body.span(), fields, allowed)?);
        }
        Ok(request)
    }

    fn deletes(
        &self,
        key: &str,
        d: &RawDeletes,
        s: &RawStream,
        raw: &RawDefinition,
        fields: &Fields<'_>,
    ) -> R<DeletesDef> {
        let key = format!("{key}.deletes");
        if s.incremental.is_none() {
            return Err(self.error(
                d.path.span(),
                &key,
                "deletes are read in changes passes, so the stream needs 'incremental' (without it every sync re-reads the list after a truncate)",
            ));
        }
        let allowed = Allowed {
            since: true,
            parent: false,
            object: false,
        };
        let request = self.request(&key, &d.path, &d.query, fields, allowed)?;
        let list = self.list(
            &key,
            request,
            d.records.as_ref(),
            d.paginate.as_ref(),
            raw,
            d.path.span(),
        )?;
        self.no_max_skip(&key, &list, d.path.span())?;
        let primary: Vec<String> = s.primary_key.get_ref().clone();
        let columns: Vec<(String, FieldPath)> = match &d.key {
            Some(given) => {
                let names: Vec<&String> = given.get_ref().keys().collect();
                let mut want: Vec<&String> = primary.iter().collect();
                want.sort();
                if names != want {
                    return Err(self.error(
                        given.span(),
                        &format!("{key}.key"),
                        format!(
                            "must name exactly the primary key's columns; valid choices: {}",
                            primary.join(", ")
                        ),
                    ));
                }
                given
                    .get_ref()
                    .iter()
                    .map(|(c, p)| (c.clone(), FieldPath::parse(p)))
                    .collect()
            }
            None => primary
                .iter()
                .map(|c| {
                    let from = s
                        .columns
                        .get(c)
                        .and_then(|col| col.get_ref().from.clone())
                        .unwrap_or_else(|| c.clone());
                    (c.clone(), FieldPath::parse(&from))
                })
                .collect(),
        };
        Ok(DeletesDef {
            list,
            key: columns,
            retention: d
                .retention_days
                .map(|days| Duration::from_secs(days * 86_400)),
        })
    }

    /// Only a stream's own list restarts past a maximum skip.
    fn no_max_skip(&self, key: &str, list: &ListDef, span: Range<usize>) -> R<()> {
        if list.paging.restarts() {
            return Err(self.error(
                span,
                &format!("{key}.paginate.max_skip"),
                "only a stream's own list can restart past a maximum skip",
            ));
        }
        Ok(())
    }

    fn incremental(
        &self,
        key: &str,
        inc: &RawIncremental,
        raw: &RawDefinition,
        fields: &Fields<'_>,
        uses_since: bool,
        columns: &BTreeMap<String, Spanned<RawColumn>>,
    ) -> R<IncrementalDef> {
        let key = format!("{key}.incremental");
        let kind_span = inc.kind.span();
        let missing = |name: &str| {
            self.error(
                kind_span.clone(),
                &format!("{key}.{name}"),
                format!(
                    "incremental type '{}' needs '{name}'",
                    kind_name(*inc.kind.get_ref())
                ),
            )
        };
        let lookback = Duration::from_secs(inc.lookback_seconds);
        match inc.kind.get_ref() {
            IncrementalKind::Cursor => {
                let cursor = inc.cursor.as_ref().ok_or_else(|| missing("cursor"))?;
                if !uses_since {
                    return Err(self.error(kind_span, &key, "a cursor stream's query (or GraphQL variables) must send the lower bound, e.g. \"{{since|epoch}}\""));
                }
                let known = columns.iter().any(|(n, c)| {
                    n == cursor.get_ref() || c.get_ref().from.as_deref() == Some(cursor.get_ref())
                });
                if !known {
                    let names: Vec<&str> = columns.keys().map(String::as_str).collect();
                    return Err(self.error(
                        cursor.span(),
                        &format!("{key}.cursor"),
                        format!(
                            "'{}' is not a column's field; valid choices: {}",
                            cursor.get_ref(),
                            names.join(", ")
                        ),
                    ));
                }
                let start = match &inc.start {
                    Some(t) => {
                        Some(self.config_template(&format!("{key}.start"), t, fields, false)?)
                    }
                    None => None,
                };
                Ok(IncrementalDef::Cursor {
                    cursor: FieldPath::parse(cursor.get_ref()),
                    lookback,
                    start,
                })
            }
            IncrementalKind::Events => {
                let path = inc.path.as_ref().ok_or_else(|| missing("path"))?;
                let object = inc.object.as_ref().ok_or_else(|| missing("object"))?;
                let type_field = inc
                    .type_field
                    .as_ref()
                    .ok_or_else(|| missing("type_field"))?;
                let refetch = inc.refetch.as_ref().ok_or_else(|| missing("refetch"))?;
                let retention_days = inc
                    .retention_days
                    .ok_or_else(|| missing("retention_days"))?;
                let allowed = Allowed {
                    since: true,
                    parent: false,
                    object: false,
                };
                let request = self.request(&key, path, &inc.query, fields, allowed)?;
                let list = self.list(
                    &key,
                    request,
                    inc.records.as_ref(),
                    inc.paginate.as_ref(),
                    raw,
                    path.span(),
                )?;
                self.no_max_skip(&key, &list, path.span())?;
                let refetch_t = self.template(
                    &format!("{key}.refetch"),
                    refetch.get_ref(),
                    refetch.span(),
                    fields,
                    Allowed {
                        since: false,
                        parent: false,
                        object: true,
                    },
                    false,
                )?;
                Ok(IncrementalDef::Events {
                    list: Box::new(list),
                    object: FieldPath::parse(object.get_ref()),
                    type_field: FieldPath::parse(type_field),
                    deleted_suffix: inc.deleted_suffix.clone(),
                    refetch: refetch_t,
                    retention: Duration::from_secs(retention_days * 86_400),
                    lookback,
                })
            }
        }
    }

    fn child(
        &self,
        key: &str,
        c: &RawChild,
        parent_path: Option<&Template>,
        raw: &RawDefinition,
        fields: &Fields<'_>,
        tables: &mut HashSet<String>,
    ) -> R<ChildDef> {
        let key = format!("{key}.children.{}", c.name.get_ref());
        let given: Vec<String> = c.parent_columns.keys().cloned().collect();
        let table = self.table(&key, &c.name, &c.primary_key, &c.columns, &given, tables)?;
        let source = match (&c.path, &c.embedded) {
            (Some(path), None) => {
                let allowed = Allowed { since: false, parent: true, object: false };
                let request = self.request(&key, path, &BTreeMap::new(), fields, allowed)?;
                let list = self.list(&key, request, c.records.as_ref(), c.paginate.as_ref(), raw, path.span())?;
                self.no_max_skip(&key, &list, path.span())?;
                ChildSource::Request(Box::new(list))
            }
            (None, Some(embedded)) => ChildSource::Embedded(FieldPath::parse(embedded.get_ref())),
            _ => {
                return Err(self.error(c.name.span(), &key, "a child needs exactly one of 'path' (a request per parent) and 'embedded' (a list inside the parent)"))
            }
        };
        let parent_columns = c
            .parent_columns
            .iter()
            .map(|(k, v)| (k.clone(), FieldPath::parse(v)))
            .collect();
        let more = match (&c.more, &source) {
            (None, _) => None,
            (Some(m), ChildSource::Embedded(_)) => {
                let k = format!("{key}.more.graphql");
                let allowed = Allowed {
                    since: false,
                    parent: true,
                    object: false,
                };
                let graphql = self.graphql_def(&k, &m.graphql, fields, allowed, false)?;
                if !matches!(graphql.shape, Shape::Connection(..)) || graphql.for_each.is_some() {
                    return Err(self.error(
                        m.graphql.query.span(),
                        &k,
                        "the following pages are a 'connection' (no 'record', no 'for_each')",
                    ));
                }
                let path = parent_path.ok_or_else(|| self.error(m.page_info.span(), &format!("{key}.more"), "'more' follows a GraphQL stream's embedded connection; this stream is not GraphQL"))?;
                let at = |f: &str| FieldPath::parse(&format!("{}.{f}", m.page_info.get_ref()));
                Some(Box::new(MoreDef {
                    has_next: at("hasNextPage"),
                    end_cursor: at("endCursor"),
                    path: path.clone(),
                    graphql,
                }))
            }
            (Some(m), ChildSource::Request(_)) => return Err(self.error(
                m.page_info.span(),
                &format!("{key}.more"),
                "'more' continues an 'embedded' list; a 'path' child pages by its own 'paginate'",
            )),
        };
        Ok(ChildDef {
            table,
            source,
            parent_columns,
            more,
        })
    }
}

/// A date field's default as an instant: `YYYY-MM-DD` (midnight UTC) or RFC 3339.
pub fn date_default(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .or_else(|| crate::sdk::table::read::parse_utc(text))
}

/// GraphQL streams (`graphql` tables; docs/declarative.md): their document, variables and pager,
/// checked here with the rest of the file. The pure parts (raw tables, error codes, partitions)
/// are `super::graphql`.
impl Cx<'_> {
    /// The code rules of `error_in_body`, if it has `code`.
    fn error_codes(&self, e: &RawErrorInBody) -> R<Option<ErrorCodes>> {
        let Some(code) = &e.code else {
            let lists = [
                &e.rate_limited_codes,
                &e.transient_codes,
                &e.too_large_codes,
            ];
            if lists.iter().any(|l| !l.is_empty()) {
                return Err(self.error(
                    e.path.span(),
                    "http.error_in_body.code",
                    "codes need 'code': the field of each error that holds its code (e.g. \"type\")",
                ));
            }
            return Ok(None);
        };
        if e.equals.is_some() {
            return Err(self.error(
                code.span(),
                "http.error_in_body.code",
                "'code' and 'equals' exclude each other: 'code' reads a list of errors",
            ));
        }
        Ok(Some(ErrorCodes {
            code: FieldPath::parse(code.get_ref()),
            rate_limited: e.rate_limited_codes.clone(),
            transient: e.transient_codes.clone(),
            too_large: e.too_large_codes.clone(),
        }))
    }

    /// The variables an operation declares: (name, required).
    fn declared(&self, key: &str, query: &Spanned<String>) -> R<Vec<(String, bool)>> {
        use async_graphql::parser::{parse_query, types::DocumentOperations};
        let doc = parse_query(query.get_ref()).map_err(|e| {
            // The document's own line, moved to the file's: a `"""` string starts on the next line.
            let at = query.span().start;
            // A `"""` string opening at its line's end: TOML drops that first newline.
            let opens_on_own_line = self.line_of(at + 4) > self.line_of(at);
            let line = e.positions().next().map_or(0, |p| p.line);
            let mut err = self.error(query.span(), key, format!("not a GraphQL document: {e}"));
            err.line += line.saturating_sub(1) + usize::from(opens_on_own_line);
            err
        })?;
        let ops: Vec<_> = match &doc.operations {
            DocumentOperations::Single(op) => vec![op],
            DocumentOperations::Multiple(ops) => ops.values().collect(),
        };
        if ops.len() != 1 {
            return Err(self.error(
                query.span(),
                key,
                format!("the document must hold one operation, not {}", ops.len()),
            ));
        }
        Ok(ops[0]
            .node
            .variable_definitions
            .iter()
            .map(|v| {
                let required = !v.node.var_type.node.nullable && v.node.default_value.is_none();
                (v.node.name.node.to_string(), required)
            })
            .collect())
    }

    /// Compiles a stream's `graphql` table.
    fn graphql(
        &self,
        key: &str,
        s: &RawStream,
        g: &RawGraphql,
        fields: &Fields<'_>,
    ) -> R<GraphqlDef> {
        let key = format!("{key}.graphql");
        let conflicting = [
            ("method", s.method.is_some()),
            ("body", s.body.is_some()),
            ("query", !s.query.is_empty()),
            ("paginate", s.paginate.is_some()),
            ("records", s.records.is_some()),
        ];
        if let Some((name, _)) = conflicting.iter().find(|(_, set)| *set) {
            return Err(self.error(
                g.query.span(),
                &key,
                format!(
                    "a GraphQL stream's request is its 'graphql' table: remove the stream's '{name}'"
                ),
            ));
        }
        let allowed = Allowed {
            since: true,
            parent: false,
            object: false,
        };
        self.graphql_def(&key, g, fields, allowed, s.incremental.is_some())
    }

    /// A GraphQL request (a stream's, or a child's following pages) with the templates `allowed`:
    /// its operation, variables, shape and pager, checked against each other.
    fn graphql_def(
        &self,
        key: &str,
        g: &RawGraphql,
        fields: &Fields<'_>,
        allowed: Allowed,
        incremental: bool,
    ) -> R<GraphqlDef> {
        let declared = self.declared(&format!("{key}.query"), &g.query)?;
        let is_declared = |name: &str| declared.iter().any(|(n, _)| n == name);
        let first = g.first_variable.clone().unwrap_or_else(|| "first".into());
        let after = g.after_variable.clone().unwrap_or_else(|| "after".into());
        let shape = match (&g.connection, &g.record) {
            (Some(c), None) => {
                for v in [&first, &after] {
                    if !is_declared(v) {
                        return Err(self.error(
                            g.query.span(),
                            &format!("{key}.query"),
                            format!("a connection pages through '${v}': declare it in the operation"),
                        ));
                    }
                }
                let at = |f: &str| FieldPath::parse(&format!("{}.{f}", c.get_ref()));
                Shape::Connection(
                    Envelope::relay(c.get_ref()),
                    at("nodes"),
                    at("pageInfo.hasNextPage"),
                )
            }
            (None, Some(r)) => Shape::Record(FieldPath::parse(r.get_ref())),
            _ => {
                return Err(self.error(
                    g.query.span(),
                    key,
                    "needs exactly one of 'connection' (a Relay connection's path) and 'record' (one object's path)",
                ))
            }
        };
        let mut variables = Vec::new();
        let mut uses_since = false;
        for (name, value) in &g.variables {
            let k = format!("{key}.variables.{name}");
            if !is_declared(name) {
                let names: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
                return Err(self.error(
                    value.span(),
                    &k,
                    format!(
                        "the operation declares no '${name}'; valid choices: {}",
                        names.join(", ")
                    ),
                ));
            }
            let json = serde_json::to_value(value.get_ref())
                .map_err(|e| self.error(value.span(), &k, e.to_string()))?;
            let body = self.body(&k, &json, value.span(), fields, allowed)?;
            uses_since |= body.uses(&Var::Since);
            variables.push((name.clone(), body));
        }
        let for_each = match &g.for_each {
            None => None,
            Some(f) => {
                let k = format!("{key}.for_each.field");
                match fields.get(f.field.get_ref()) {
                    Some(field) if field.kind == FieldKind::Text => {}
                    Some(_) => {
                        return Err(self.error(f.field.span(), &k, "must be a text field"));
                    }
                    None => {
                        return Err(self.error(
                            f.field.span(),
                            &k,
                            format!(
                                "'{}' is not a form field; valid choices: {}",
                                f.field.get_ref(),
                                fields.names()
                            ),
                        ))
                    }
                }
                if f.variables.get_ref().is_empty() {
                    return Err(self.error(
                        f.variables.span(),
                        &format!("{key}.for_each.variables"),
                        "name at least one variable",
                    ));
                }
                for v in f.variables.get_ref() {
                    if !is_declared(v) {
                        return Err(self.error(
                            f.variables.span(),
                            &format!("{key}.for_each.variables"),
                            format!("the operation declares no '${v}'"),
                        ));
                    }
                }
                Some(ForEach {
                    field: f.field.get_ref().clone(),
                    variables: f.variables.get_ref().clone(),
                    separator: f.separator.clone().unwrap_or_else(|| "/".into()),
                })
            }
        };
        let filled: HashSet<&str> = variables
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(
                for_each
                    .iter()
                    .flat_map(|f| f.variables.iter().map(String::as_str)),
            )
            .chain(
                matches!(shape, Shape::Connection(..))
                    .then_some([first.as_str(), after.as_str()])
                    .into_iter()
                    .flatten(),
            )
            .collect();
        if let Some((missing, _)) = declared
            .iter()
            .find(|(n, required)| *required && !filled.contains(n.as_str()))
        {
            return Err(self.error(
                g.query.span(),
                &format!("{key}.variables"),
                format!("the operation requires '${missing}' and nothing fills it"),
            ));
        }
        let limits = match &g.limits {
            None => vec![100, 25, 5],
            Some(l) => {
                let v = l.get_ref();
                if v.is_empty() || v.contains(&0) || v.windows(2).any(|w| w[0] <= w[1]) {
                    return Err(self.error(
                        l.span(),
                        &format!("{key}.limits"),
                        "must be page sizes above 0, largest first",
                    ));
                }
                v.clone()
            }
        };
        if let Some(n) = &g.newest_first {
            if !incremental {
                return Err(self.error(
                    n.span(),
                    &format!("{key}.newest_first"),
                    "only a stream with 'incremental' stops at 'since'",
                ));
            }
            uses_since = true;
        }
        Ok(GraphqlDef {
            query: g.query.get_ref().clone(),
            variables,
            uses_since,
            shape,
            limits,
            first,
            after,
            for_each,
            newest_first: g
                .newest_first
                .as_ref()
                .map(|n| FieldPath::parse(n.get_ref())),
        })
    }
}

/// The reader a type name names: one of [`TYPES`], or `decimal(P,S)`.
fn reader_named(name: &str) -> Option<Reader> {
    if let Some(r) = TYPES.iter().find(|(n, _)| *n == name).map(|(_, r)| *r) {
        return Some(r);
    }
    let inner = name.strip_prefix("decimal(")?.strip_suffix(')')?;
    let (p, s) = inner.split_once(',')?;
    let (precision, scale): (u32, u32) = (p.trim().parse().ok()?, s.trim().parse().ok()?);
    ((1..=38).contains(&precision) && scale <= precision)
        .then_some(Reader::Decimal { precision, scale })
}

fn kind_name(kind: IncrementalKind) -> &'static str {
    match kind {
        IncrementalKind::Cursor => "cursor",
        IncrementalKind::Events => "events",
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Allowed {
    pub(super) since: bool,
    pub(super) parent: bool,
    pub(super) object: bool,
}

pub(super) struct Fields<'a> {
    fields: &'a [FieldDef],
}

impl Fields<'_> {
    pub(super) fn get(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub(super) fn names(&self) -> String {
        self.fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
