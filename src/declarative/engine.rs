//! The engine: one connector that runs any [`Definition`] on the kit (the shared [`HttpClient`], the
//! [`TokenPager`], [`Envelope`]s and [`TableSpec`]s).
//!
//! Passes, per stream (see [`super::state`]):
//! - **full**: the whole list, after a truncate of its tables (sent once per pass), so rows deleted at
//!   the source go too; its next `since` is the API's clock at its first page (events) or the largest
//!   cursor seen (cursor), minus the lookback;
//! - **changes** (cursor): the same list with `{{since}}` filled in;
//! - **changes** (events): the events since `since`; every named object is fetched again through
//!   `refetch` (so an older event can never undo a newer one, whatever order the events come in), and a
//!   delete event, a 404 or the object's `deleted` flag soft-deletes its row. A `since` older than the
//!   events' retention makes a full pass instead, with a warning.
//!
//! A checkpoint follows each page's rows (and its children's); a killed sync resumes at the page after.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value as Json};

use super::compile::{
    AuthDef, ChildDef, ChildSource, Definition, DeletesDef, ErrorInBody, GraphqlDef,
    IncrementalDef, ListDef, MoreDef, Paging, StreamDef,
};
use super::format::FieldKind;
use super::graphql::{partitions, points_wait, Partition, Shape};
use super::state::{DeclarativeState, PassKind, PassState, StreamState};
use super::template::{Lookup, Scope, Template};
use crate::http::{
    Auth, HttpClient, HttpConfig, HttpError, OAuth2, OAuth2Config, Request, RetryPolicy, Tuning,
    Verdict,
};
use crate::sdk::json::{JsonDoc, JsonView, Kind, Record};
use crate::sdk::state::parse_state;
use crate::sdk::table::read;
use crate::sdk::{
    ConfigError, Configuration, DynConnector, Emitter, Error, Field, Form, Row, Schema, Secret,
    Value,
};
use crate::sync::{Asked, Page, Resume, TokenPager, TokenPagerConfig, TokenRequest};

/// The name of every definition's setup test.
pub const CONNECTION_TEST: &str = "connection";

/// A connector run from a [`Definition`].
#[derive(Debug, Clone)]
pub struct Declarative {
    def: Arc<Definition>,
    tuning: Tuning,
}

impl Declarative {
    /// The connector for `def`, with production HTTP timing.
    pub fn new(def: Definition) -> Self {
        Self {
            def: Arc::new(def),
            tuning: Tuning::default(),
        }
    }

    /// The same connector with other HTTP timing (tests, benchmarks).
    pub fn with_tuning(mut self, tuning: Tuning) -> Self {
        self.tuning = tuning;
        self
    }

    /// Its definition.
    pub fn definition(&self) -> &Definition {
        &self.def
    }

    fn values(&self, map: &HashMap<String, String>) -> Result<Values, ConfigError> {
        let c = Configuration::new(map);
        let mut values = Values::default();
        for f in &self.def.fields {
            if f.name == "base_url" {
                let default = f.default.as_deref().unwrap_or(&self.def.base_url);
                values.base_url = c.base_url_or("base_url", default)?;
                continue;
            }
            match f.kind {
                FieldKind::Password => {
                    if !f.optional || c.optional(&f.name).is_some() {
                        values.secrets.insert(f.name.clone(), c.secret(&f.name)?);
                    }
                }
                FieldKind::Date => {
                    // A date field's default is checked at load (`compile::date_default`).
                    let default = f.default.as_deref().and_then(super::compile::date_default);
                    if let Some(t) = c.date(&f.name)?.or(default) {
                        values.plain.insert(f.name.clone(), t.to_rfc3339());
                    } else if !f.optional {
                        return Err(ConfigError::Missing {
                            field: f.name.clone(),
                        });
                    }
                }
                FieldKind::Text => {
                    let v = match (c.optional(&f.name), &f.default) {
                        (Some(v), _) => Some(v.to_owned()),
                        (None, Some(d)) => Some(d.clone()),
                        (None, None) if f.optional => None,
                        (None, None) => c.required(&f.name).map(str::to_owned).map(Some)?,
                    };
                    if let Some(v) = v {
                        values.plain.insert(f.name.clone(), v);
                    }
                }
            }
        }
        Ok(values)
    }

    fn client(&self, values: &Values, tuning: &Tuning) -> Result<HttpClient, Error> {
        let def = &self.def;
        let with_secrets = |f: &str| values.with_secret(f);
        let scope = Scope {
            config: Some(&with_secrets),
            ..Scope::default()
        };
        let render = |t: &Template| t.render(&scope).unwrap_or_default();
        let auth = match &def.auth {
            AuthDef::None => Auth::None,
            AuthDef::Bearer(t) => Auth::Bearer(Secret::from(render(t))),
            AuthDef::Basic(user, password) => Auth::Basic {
                username: render(user),
                password: Secret::from(password.as_ref().map(render).unwrap_or_default()),
            },
            AuthDef::Header(name, value) => Auth::headers([(name.clone(), render(value))]),
            AuthDef::Query(name, value) => Auth::Query {
                name: name.clone(),
                value: Secret::from(render(value)),
            },
            AuthDef::OAuth2 {
                token_url,
                client_id,
                client_secret,
                refresh_token,
            } => Auth::OAuth2(OAuth2::new(OAuth2Config {
                token_url: render(token_url),
                client_id: render(client_id),
                client_secret: Secret::from(render(client_secret)),
                refresh_token: Secret::from(render(refresh_token)),
                expiry_margin: std::time::Duration::from_secs(60),
            })),
        };
        let config = HttpConfig {
            rate_limit: def.rate_limit,
            max_in_flight: def.max_in_flight,
            credentials_hint: def.refused.clone(),
            ..HttpConfig::new(&values.base_url)
        };
        let mut builder = HttpClient::builder(config).tuning(tuning).auth(auth);
        if let Some(rule) = def.error_in_body.clone() {
            builder = builder.hook(move |status: u16, body: &[u8]| body_error(&rule, status, body));
        }
        Ok(builder.build()?)
    }

    fn form(&self) -> Form {
        let mut form = Form::new();
        for f in &self.def.fields {
            let mut field = match f.kind {
                FieldKind::Password => Field::password(&f.name, &f.label),
                FieldKind::Text | FieldKind::Date => Field::text(&f.name, &f.label),
            };
            if f.optional {
                field = field.optional();
            }
            if let Some(d) = &f.description {
                field = field.description(d);
            }
            if let Some(d) = &f.default {
                field = field.default_value(d);
            }
            if let Some(p) = &f.placeholder {
                field = field.placeholder(p);
            }
            form = form.field(field);
        }
        form.test(CONNECTION_TEST, &self.def.test_label)
    }

    fn schema(&self) -> Schema {
        let mut tables = Vec::new();
        for s in &self.def.streams {
            tables.push(s.table.def());
            tables.extend(s.children.iter().map(|c| c.table.def()));
        }
        Schema::new(tables)
    }

    async fn run_test(&self, values: &Values) -> Result<(), Error> {
        // Fail fast: one retry, not the sync's patient policy.
        let retry = RetryPolicy {
            max_attempts: 2,
            ..self.tuning.retry.clone()
        };
        let tuning = self.tuning.clone().with_retry(retry);
        let http = self.client(values, &tuning)?;
        let run = Run {
            def: &self.def,
            http,
            values,
        };
        let plain = |f: &str| values.plain(f);
        let scope = Scope {
            config: Some(&plain),
            ..Scope::default()
        };
        let path = run.def.test.path.render(&scope).unwrap_or_default();
        let mut request = run.request(path);
        for (k, t) in &run.def.test.query {
            if let Some(v) = t.render(&scope) {
                request = request.query(k, v);
            }
        }
        match run.http.json(&request).await {
            Ok(_) => Ok(()),
            Err(HttpError::Permanent { status: 401, .. }) => {
                Err(Error::Unauthenticated(self.def.refused.clone()))
            }
            Err(e @ HttpError::Transient { .. }) => Err(Error::Unavailable(format!(
                "cannot reach {} at {}: {e}; check the base url and that the network allows it",
                self.def.name, values.base_url
            ))),
            Err(e) => Err(e.into()),
        }
    }
}

/// The configuration as a definition reads it: plain values (defaults filled in) and secrets.
#[derive(Default)]
pub(super) struct Values {
    plain: HashMap<String, String>,
    secrets: HashMap<String, Secret>,
    base_url: String,
}

impl Values {
    pub(super) fn plain(&self, field: &str) -> Option<String> {
        if field == "base_url" {
            return Some(self.base_url.clone());
        }
        self.plain.get(field).cloned()
    }

    /// For `[auth]` only: the load refuses secrets in any other template.
    fn with_secret(&self, field: &str) -> Option<String> {
        self.plain(field)
            .or_else(|| self.secrets.get(field).map(|s| s.expose().to_owned()))
    }
}

/// The verdict on a 2xx `body` that reports an error where `rule` says (GraphQL `errors`, Tiny's
/// `retorno.status`); `None` for any other response.
fn body_error(rule: &ErrorInBody, status: u16, body: &[u8]) -> Option<Verdict> {
    if !(200..300).contains(&status) {
        return None;
    }
    // Every page passes here before its records are parsed: a body without the rule's top-level key
    // cannot report an error there, and a byte search costs far less than parsing the page twice.
    // (A key spelled with JSON escapes, `"\u0065rrors"`, would be missed; no API writes keys so.)
    if let Some(first) = rule.path.first() {
        let quoted = format!("\"{first}\"");
        memchr::memmem::find(body, quoted.as_bytes())?;
    }
    if let Some(codes) = &rule.codes {
        return super::graphql::errors_verdict(&rule.path, codes, body);
    }
    let body: Json = serde_json::from_slice(body).ok()?;
    let found = rule.path.get(&body)?;
    let hit = match &rule.equals {
        Some(want) => read_text(found).as_deref() == Some(want.as_str()),
        None => !found.is_null() && found != &Json::Array(Vec::new()),
    };
    // The body's own words say what failed; they carry no credentials.
    let why = format!("the response reports an error at '{}': {found}", rule.path);
    let verdict = if rule.transient {
        Verdict::Transient(why)
    } else {
        Verdict::Permanent(why)
    };
    hit.then_some(verdict)
}

fn read_text<'a>(value: impl JsonView<'a>) -> Option<String> {
    match value.kind() {
        Kind::Str(s) => Some(s.to_owned()),
        Kind::Number(n) => Some(n.to_string()),
        Kind::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What follows a page of a pass.
pub(super) enum PageEnd {
    /// The pass read its last page.
    Complete,
    /// The position is checkpointed and more pages follow.
    More,
    /// A `--limit` run filled the table.
    LimitReached,
}

/// The restart keys a round of a capped query read: whether they came ascending, and the largest.
#[derive(Debug, Clone)]
pub(super) struct KeyRun {
    ascending: bool,
    max: Option<String>,
}

impl Default for KeyRun {
    fn default() -> Self {
        Self {
            ascending: true,
            max: None,
        }
    }
}

impl KeyRun {
    fn see(&mut self, key: String) {
        match &self.max {
            Some(max) if key_order(&key, max).is_lt() => self.ascending = false,
            _ => self.max = Some(key),
        }
    }
}

/// Keys in order: as numbers when both are (HubSpot's ids), else as text.
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u128>(), b.parse::<u128>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => a.cmp(b),
    }
}

/// How a round of a list ended.
pub(super) enum RoundEnd {
    /// Its last page is read.
    Complete,
    /// A `--limit` run filled the table; the position is checkpointed.
    Stopped,
    /// Its pages kept failing (the reason): a shorter window may pass.
    Failed(String),
}

/// Whether a pager's failure may pass over a shorter date window: a page still failing or timing
/// out after every retry and smaller page, or one the API calls too large. A refusal (400, 401,
/// 404) fails the sync at once.
fn shrinks(e: &crate::sync::PagerError) -> bool {
    matches!(e, crate::sync::PagerError::Fetch { source, .. }
        if matches!(source.kind(), crate::http::ErrorKind::Transient | crate::http::ErrorKind::TooLarge))
}

/// One sync's (or test's) shared pieces.
pub(super) struct Run<'a> {
    pub(super) def: &'a Definition,
    pub(super) http: HttpClient,
    pub(super) values: &'a Values,
}

impl Run<'_> {
    fn request(&self, path: String) -> Request {
        self.def
            .headers
            .iter()
            .fold(Request::get(path), |r, (k, v)| r.header(k, v))
    }

    /// One page of `list` in `scope` at `page`, with the API's clock when it sent one.
    async fn page(
        &self,
        list: &ListDef,
        scope: &Scope<'_>,
        page: TokenRequest,
    ) -> Result<(Page<Record>, Option<DateTime<Utc>>), HttpError> {
        let path = list.request.path.render(scope).unwrap_or_default();
        let mut request = self.def.headers.iter().fold(
            Request::new(list.request.method.clone(), path),
            |r, (k, v)| r.header(k, v),
        );
        let mut body = list.request.body.as_ref().and_then(|b| b.render(scope));
        if let (
            Paging::Token {
                param,
                limit_param,
                in_body: true,
                ..
            },
            Some(Json::Object(members)),
        ) = (&list.paging, body.as_mut())
        {
            members.insert(limit_param.clone(), Json::from(page.limit));
            if let Some(token) = &page.token {
                members.insert(param.clone(), Json::from(token.clone()));
            }
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (k, t) in &list.request.query {
            if let Some(v) = t.render(scope) {
                request = request.query(k, v);
            }
        }
        let envelope = &list.envelope;
        let (request, asked) = match &list.paging {
            Paging::None => (request, None),
            Paging::Token {
                param,
                limit_param,
                limits,
                in_body,
                ..
            } => {
                if !in_body {
                    request = request.query(limit_param, page.limit);
                    if let Some(token) = &page.token {
                        request = request.query(param, token);
                    }
                }
                (
                    request.shrinkable_if(limits.len() > 1 && page.limit > 1),
                    None,
                )
            }
            Paging::Offset {
                skip_param,
                limit_param,
                limit,
                first_page,
                ..
            } => {
                let skip: u64 = page
                    .token
                    .as_deref()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
                let asked = Asked {
                    skip,
                    take: u64::from(*limit),
                };
                // Page numbers count pages of the one fixed size: the offset's page.
                let at = first_page.map_or(skip, |first| first + skip / u64::from(*limit));
                (
                    request.query(skip_param, at).query(limit_param, limit),
                    Some(asked),
                )
            }
            Paging::Link { limit } => match &page.token {
                // The link holds every parameter already; only the definition's headers are added.
                Some(link) => (
                    self.def
                        .headers
                        .iter()
                        .fold(Request::follow(link.clone()), |r, (k, v)| r.header(k, v)),
                    None,
                ),
                None => match limit {
                    Some((param, n)) => (request.query(param, n), None),
                    None => (request, None),
                },
            },
        };
        let response = self
            .http
            .send_json_checked(&request, &|r: &crate::http::JsonResponse<JsonDoc>| {
                envelope.check_records(r, asked)?;
                contradicts_itself(list, r.body.root())
            })
            .await?;
        let server_time = response.server_time();
        let flag = list
            .more
            .as_ref()
            .map(|f| f.get(response.body.root()).and_then(read::boolean) == Some(true));
        let mut page = envelope
            .read_records(response)
            .map_err(|message| HttpError::Decode {
                endpoint: self.http.endpoint(&request),
                message,
            })?;
        if let (Paging::Offset { limit, total, .. }, Some(asked)) = (&list.paging, asked) {
            let seen = asked.skip + page.records.len() as u64;
            let more = match (flag, page.total) {
                (Some(flag), _) => flag,
                (None, Some(count)) if *total => seen < count,
                _ => page.records.len() as u64 >= u64::from(*limit),
            };
            page.next = (more && !page.records.is_empty()).then(|| seen.to_string());
        }
        Ok((page, server_time))
    }

    /// A pager over `list` in `scope` from `token`; the API's clock at the first page goes to `clock`.
    fn pager<'s>(
        &'s self,
        what: &str,
        list: &'s ListDef,
        scope: Scope<'s>,
        token: Option<String>,
        clock: &'s Mutex<Option<DateTime<Utc>>>,
    ) -> TokenPager<
        impl Fn(TokenRequest) -> futures::future::BoxFuture<'s, Result<Page<Record>, HttpError>> + 's,
    > {
        let limits = match &list.paging {
            Paging::None => vec![1],
            Paging::Token { limits, .. } => limits.clone(),
            Paging::Offset { limit, .. } => vec![*limit],
            Paging::Link { limit } => vec![limit.as_ref().map_or(1, |(_, n)| *n)],
        };
        let fetch =
            move |r: TokenRequest| -> futures::future::BoxFuture<'s, Result<Page<Record>, HttpError>> {
                Box::pin(async move {
                    let first = r.token.is_none();
                    let (mut page, mut server_time) = self.page(list, &scope, r.clone()).await?;
                    if first && page.records.is_empty() && page.next.is_none() {
                        // An empty answer ends a pass (after a truncate, it empties the table; in an
                        // events pass, it moves `since` past changes): ask once more before believing it.
                        (page, server_time) = self.page(list, &scope, r).await?;
                    }
                    let mut started = clock
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if started.is_none() {
                        *started = Some(server_time.unwrap_or_else(Utc::now));
                    }
                    Ok(page)
                })
            };
        let config = TokenPagerConfig {
            limits,
            ..TokenPagerConfig::default()
        };
        TokenPager::new(what, token, fetch, config)
    }

    pub(super) fn plain_scope<'s>(&'s self, lookup: Lookup<'s>) -> Scope<'s> {
        Scope {
            config: Some(lookup),
            ..Scope::default()
        }
    }

    /// Upserts `record` into `s`'s table, then its children.
    pub(super) async fn upsert<'a>(
        &self,
        s: &StreamDef,
        record: impl JsonView<'a> + Send + Sync,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        if let Some(row) = s.table.row(record, &[], out.issues()) {
            out.upsert(s.table.name(), &row).await?;
        }
        for child in &s.children {
            self.children(child, record, out).await?;
        }
        Ok(())
    }

    async fn children<'a>(
        &self,
        child: &ChildDef,
        parent: impl JsonView<'a> + Send + Sync,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let name = child.table.name();
        if !out.is_selected(name) {
            return Ok(());
        }
        let given: Vec<(&str, Value)> = child
            .parent_columns
            .iter()
            .map(|(c, p)| {
                let v = p
                    .get(parent)
                    .and_then(read_text)
                    .map_or(Value::Null, Value::String);
                (c.as_str(), v)
            })
            .collect();
        match &child.source {
            ChildSource::Embedded(path) => {
                // Collected first: an `items()` iterator held across an await is not provably Send.
                let items: Vec<_> = path
                    .get(parent)
                    .map_or_else(Vec::new, |a| a.items().collect());
                for r in items {
                    if let Some(row) = child.table.row(r, &given, out.issues()) {
                        out.upsert(name, &row).await?;
                    }
                }
                if let Some(more) = &child.more {
                    self.more_children(child, more, parent, &given, out).await?;
                }
            }
            ChildSource::Request(list) => {
                let lookup = |f: &str| self.values.plain(f);
                // Templates read `Value`s; a parent with a child request is one per request anyway.
                let parent = parent.to_value();
                let scope = Scope {
                    parent: Some(&parent),
                    ..self.plain_scope(&lookup)
                };
                let clock = Mutex::new(None);
                let mut pager = self.pager(name, list, scope, None, &clock);
                while let Some(page) = pager.next().await? {
                    for r in &page.records {
                        if let Some(row) = child.table.row(r.view(), &given, out.issues()) {
                            out.upsert(name, &row).await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The pages of an embedded connection past the one inside `parent`, when it says more follow
    /// (read with the parent's page; a resumed sync reads them again with it).
    async fn more_children<'a>(
        &self,
        child: &ChildDef,
        more: &MoreDef,
        parent: impl JsonView<'a> + Send + Sync,
        given: &[(&str, Value)],
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let name = child.table.name();
        if more.has_next.get(parent).and_then(read::boolean) != Some(true) {
            return Ok(());
        }
        let Some(after) = more.end_cursor.get(parent).and_then(read_text) else {
            return Err(Error::Unavailable(format!(
                "{name}: the parent's embedded page says more follow but names no endCursor"
            )));
        };
        let parent = parent.to_value();
        let lookup = |f: &str| self.values.plain(f);
        let scope = Scope {
            parent: Some(&parent),
            ..self.plain_scope(&lookup)
        };
        let path = more.path.render(&scope).unwrap_or_default();
        let part = Partition {
            key: None,
            variables: Vec::new(),
        };
        let fetch = |r: TokenRequest| {
            let (path, scope, part) = (&path, &scope, &part);
            Box::pin(async move {
                let (page, _) = graphql_page(self, path, &more.graphql, scope, part, r).await?;
                Ok::<_, HttpError>(page)
            }) as futures::future::BoxFuture<'_, Result<Page<Record>, HttpError>>
        };
        let config = TokenPagerConfig {
            limits: more.graphql.limits.clone(),
            ..TokenPagerConfig::default()
        };
        let mut pager = TokenPager::new(name, Some(after), fetch, config);
        while let Some(page) = pager.next().await? {
            for r in &page.records {
                if let Some(row) = child.table.row(r.view(), given, out.issues()) {
                    out.upsert(name, &row).await?;
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, s: &StreamDef, object: &Json, out: &mut Emitter) -> Result<(), Error> {
        let Some(row) = s.table.row(object, &[], out.issues()) else {
            return Ok(());
        };
        let def = s.table.def();
        let mut keys = Row::new();
        for k in def.primary_key() {
            if let Some(v) = row.get(k) {
                keys.set(k.to_owned(), v.clone());
            }
        }
        out.delete(s.table.name(), &keys).await
    }

    async fn stream(
        &self,
        s: &StreamDef,
        state: &mut DeclarativeState,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let name = s.table.name().to_owned();
        if !out.is_selected(&name) {
            return Ok(());
        }
        let mut st = state.streams.get(&name).cloned().unwrap_or_default();
        let mut pass = st.pass.take().unwrap_or_else(|| {
            let due = s.full_every.is_some() && st.full_due();
            if due {
                tracing::info!(table = %name, "a full pass is due (full_refresh_days): rows deleted at the source go");
            }
            let incremental = s.incremental.is_some() && st.since.is_some() && !due;
            PassState::new(if incremental {
                PassKind::Changes
            } else {
                PassKind::Full
            })
        });
        if let Some(g) = &s.graphql {
            return graphql_stream(self, s, g, &mut st, pass, state, out).await;
        }
        if pass.kind == PassKind::Changes && !pass.deletes_done {
            for deletes in &s.deletes {
                if let Some(full) = self.deletes(s, deletes, &st, out).await? {
                    pass = full;
                    break;
                }
            }
            if pass.kind == PassKind::Changes && !s.deletes.is_empty() {
                pass.deletes_done = true;
                st.pass = Some(pass.clone());
                Self::save(state, &name, &st);
                out.checkpoint(state).await?;
            }
        }
        if pass.kind == PassKind::Changes {
            if let Some(IncrementalDef::Events { .. }) = &s.incremental {
                match self.events(s, &mut st, pass, state, out).await? {
                    Some(restart) => pass = restart,
                    None => return Ok(()),
                }
            }
        }
        self.list(s, &mut st, pass, state, out).await
    }

    pub(super) fn save(state: &mut DeclarativeState, name: &str, st: &StreamState) {
        state.streams.insert(name.to_owned(), st.clone());
    }

    /// After a page's rows are emitted: a complete pass ends, else its position is saved and
    /// checkpointed (list and events passes alike).
    pub(super) async fn page_done(
        resume: Resume,
        pass: &mut PassState,
        st: &mut StreamState,
        state: &mut DeclarativeState,
        name: &str,
        out: &mut Emitter,
    ) -> Result<PageEnd, Error> {
        match resume {
            Resume::At(token) => pass.token = Some(token),
            Resume::Complete => return Ok(PageEnd::Complete),
        }
        st.pass = Some(pass.clone());
        Self::save(state, name, st);
        out.checkpoint(state).await?;
        Ok(if out.table_full(name) {
            PageEnd::LimitReached
        } else {
            PageEnd::More
        })
    }

    /// A full pass, or a cursor stream's changes: one round of the list, or a walk of date windows
    /// over it (`window`), each window a round.
    async fn list(
        &self,
        s: &StreamDef,
        st: &mut StreamState,
        mut pass: PassState,
        state: &mut DeclarativeState,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let name = s.table.name();
        if pass.kind == PassKind::Full && !pass.truncated {
            out.truncate(name).await?;
            for c in &s.children {
                out.truncate(c.table.name()).await?;
            }
            pass.truncated = true;
        }
        let lookup = |f: &str| self.values.plain(f);
        let start = |t: &Template| {
            t.render(&self.plain_scope(&lookup))
                .and_then(|text| super::compile::date_default(&text))
        };
        let since = match (&s.incremental, pass.kind) {
            (_, PassKind::Changes) => st.since,
            (Some(IncrementalDef::Cursor { start: Some(t), .. }), PassKind::Full) => start(t),
            _ => None,
        };
        let clock = Mutex::new(pass.started);
        let list = match (&s.changes, pass.kind) {
            (Some(changes), PassKind::Changes) => changes,
            _ => &s.list,
        };
        let window = s.window.as_ref().filter(|_| std::ptr::eq(list, &s.list));
        match window {
            None => {
                let bounds = (since, None);
                let round = self.round(s, list, bounds, false, &mut pass, st, state, out, &clock);
                if !matches!(round.await?, RoundEnd::Complete) {
                    return Ok(());
                }
            }
            Some(w) => {
                let from = match (pass.window, pass.kind) {
                    (Some(at), _) => Some(at),
                    (None, PassKind::Changes) => since,
                    (None, PassKind::Full) => start(&w.start),
                };
                let Some(from) = from else {
                    return Err(Error::Unavailable(format!(
                        "{name}: the window's start is empty or not a date; set it in the configuration"
                    )));
                };
                // The walk ends at the API's clock when the pass began (the client's clock before
                // its first page); the last window goes out without an upper bound, so nothing the
                // API holds past either clock is missed.
                let end = pass.started.unwrap_or_else(|| self.http.clock().now_utc());
                let end = end.max(from + chrono::TimeDelta::seconds(1));
                let mut windows = crate::sync::WindowBatcher::backfill(from, end, w.config.clone());
                while let Some(at) = windows.next_window() {
                    let bounds = (Some(at.start), (at.end < end).then_some(at.end));
                    let round =
                        self.round(s, list, bounds, true, &mut pass, st, state, out, &clock);
                    match round.await? {
                        RoundEnd::Complete => {
                            pass.window = Some(windows.complete(at)?);
                            (pass.token, pass.floor, pass.last_key) = (None, None, None);
                            if at.end < end {
                                st.pass = Some(pass.clone());
                                Self::save(state, name, st);
                                out.checkpoint(state).await?;
                            }
                        }
                        RoundEnd::Stopped => return Ok(()),
                        RoundEnd::Failed(reason) => {
                            windows.too_large(at, &reason)?;
                            (pass.token, pass.floor, pass.last_key) = (None, None, None);
                        }
                    }
                }
            }
        }
        pass.started = *clock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        st.since = match &s.incremental {
            None => None,
            Some(IncrementalDef::Events { lookback, .. }) => pass
                .started
                .map(|t| t - chrono::Duration::from_std(*lookback).unwrap_or_default())
                .or(st.since),
            Some(IncrementalDef::Cursor { lookback, .. }) => {
                // A query restarted by key is not read in cursor order: what changed behind its
                // position during the pass is found from the pass's start next time.
                let next = match list.paging.restart_key() {
                    Some(_) => pass.started,
                    None => pass.max_cursor,
                };
                next.map(|t| t - chrono::Duration::from_std(*lookback).unwrap_or_default())
                    .max(st.since)
            }
        };
        st.finish(&pass, s.full_every);
        Self::save(state, name, st);
        out.checkpoint(state).await
    }

    /// One round of `list` between `bounds` (`since`, `until`), from the pass's token, each page
    /// checkpointed. With `shrinkable`, pages that keep failing (after the client's retries and the
    /// pager's smaller pages) end the round as [`RoundEnd::Failed`] instead of the sync, so a
    /// window walk can retry a shorter window.
    #[allow(clippy::too_many_arguments)]
    async fn round(
        &self,
        s: &StreamDef,
        list: &ListDef,
        (since, until): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        shrinkable: bool,
        pass: &mut PassState,
        st: &mut StreamState,
        state: &mut DeclarativeState,
        out: &mut Emitter,
        clock: &Mutex<Option<DateTime<Utc>>>,
    ) -> Result<RoundEnd, Error> {
        let name = s.table.name();
        let lookup = |f: &str| self.values.plain(f);
        let cursor = match &s.incremental {
            Some(IncrementalDef::Cursor { cursor, .. }) => Some(cursor),
            _ => None,
        };
        // Whether this round's records came in ascending cursor order, which a restart from the
        // largest cursor seen needs (else the records after it in the API's order would be lost).
        let mut ascending = true;
        let mut last_cursor = None;
        let key = list.paging.restart_key();
        let mut keys = KeyRun::default();
        // Each round lists from `since`, or from the floor of the last restart past the API's
        // maximum skip; a round that reaches the maximum ends with a restart from the largest
        // cursor seen (its records read again, as upserts, rather than one skipped).
        'restart: loop {
            // Records this query returned so far, for a result cap: a resumed round counts from its
            // token where that is an offset (HubSpot's `after`), else from 0 (`cap_error` then
            // still catches the API's refusal).
            let mut read: u64 = pass
                .token
                .as_deref()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let last_key = pass.last_key.clone();
            let scope = Scope {
                since: pass.floor.or(since),
                until,
                last_key: last_key.as_deref(),
                ..self.plain_scope(&lookup)
            };
            let mut pager = self.pager(name, list, scope, pass.token.clone(), clock);
            loop {
                let page = match pager.next().await {
                    Ok(Some(page)) => page,
                    Ok(None) => return Ok(RoundEnd::Complete),
                    Err(e) if list.paging.refused_skip(&e) => {
                        let keys = key.map(|_| std::mem::take(&mut keys));
                        Self::restart(name, since, ascending, keys, pass, st, state, out).await?;
                        (ascending, last_cursor) = (true, None);
                        if out.table_full(name) {
                            return Ok(RoundEnd::Stopped);
                        }
                        continue 'restart;
                    }
                    Err(e) if shrinkable && shrinks(&e) => {
                        return Ok(RoundEnd::Failed(e.to_string()))
                    }
                    Err(e) => return Err(e.into()),
                };
                pass.started = *clock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for r in &page.records {
                    let r = r.view();
                    self.upsert(s, r, out).await?;
                    if let Some(at) = cursor.and_then(|c| c.get(r)).and_then(instant) {
                        pass.max_cursor = pass.max_cursor.max(Some(at));
                        ascending &= last_cursor <= Some(at);
                        last_cursor = Some(at);
                    }
                    if let Some(k) = key.and_then(|k| k.get(r)).and_then(read_text) {
                        keys.see(k);
                    }
                }
                read += page.records.len() as u64;
                if let Resume::At(token) = &page.resume {
                    if list.paging.past_max_skip(token) || list.paging.past_cap(read) {
                        let keys = key.map(|_| std::mem::take(&mut keys));
                        Self::restart(name, since, ascending, keys, pass, st, state, out).await?;
                        (ascending, last_cursor) = (true, None);
                        if out.table_full(name) {
                            return Ok(RoundEnd::Stopped);
                        }
                        continue 'restart;
                    }
                }
                match Self::page_done(page.resume, pass, st, state, name, out).await? {
                    PageEnd::Complete => return Ok(RoundEnd::Complete),
                    PageEnd::LimitReached => return Ok(RoundEnd::Stopped),
                    PageEnd::More => {}
                }
            }
        }
    }

    /// After a page whose records are emitted, the list reached the API's maximum skip: its next
    /// round starts from the largest cursor seen (checkpointed), or the pass fails when that is no
    /// further than this round's start (more records share one cursor value than the API pages).
    /// A query with a restart key (`keys`) goes on after its largest key instead.
    #[allow(clippy::too_many_arguments)]
    async fn restart(
        name: &str,
        since: Option<DateTime<Utc>>,
        ascending: bool,
        keys: Option<KeyRun>,
        pass: &mut PassState,
        st: &mut StreamState,
        state: &mut DeclarativeState,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        if let Some(keys) = keys {
            // By key: the same query again after the largest key read, `since` kept.
            let (true, Some(last)) = (keys.ascending, keys.max) else {
                return Err(Error::Unavailable(format!(
                    "{name}: the query reached the api's result cap but its records are not sorted by the restart key, ascending (or carry none), so going on after the largest key would lose records; sort it by the key in the definition"
                )));
            };
            if pass
                .last_key
                .as_deref()
                .is_some_and(|before| key_order(&last, before).is_le())
            {
                return Err(Error::Unavailable(format!(
                    "{name}: the query reached the api's result cap without passing key {last}; it cannot go on"
                )));
            }
            tracing::info!(table = name, last_key = %last, "the query reached the api's result cap; going on after the largest key read");
            pass.last_key = Some(last);
            pass.token = None;
            st.pass = Some(pass.clone());
            Self::save(state, name, st);
            return out.checkpoint(state).await;
        }
        if !ascending {
            return Err(Error::Unavailable(format!(
                "{name}: the list reached the api's maximum skip but its records are not sorted by the cursor, ascending, so restarting from the largest cursor seen would lose records; sort the list by it in the definition"
            )));
        }
        let floor = pass.max_cursor;
        if floor.is_none() || floor <= pass.floor.or(since) {
            return Err(Error::Unavailable(format!(
                "{name}: more records share one cursor value ({}) than the api pages past (its maximum skip); the list cannot go on",
                floor.map_or_else(|| "none".to_owned(), |t| t.to_rfc3339())
            )));
        }
        tracing::info!(table = name, floor = ?floor, "the list reached the api's maximum skip; restarting it from the largest cursor seen");
        pass.floor = floor;
        pass.token = None;
        st.pass = Some(pass.clone());
        Self::save(state, name, st);
        out.checkpoint(state).await
    }

    /// Reads one of the stream's lists of deleted records since the last sync and soft-deletes each
    /// one's row; `Some(full pass)` when `since` is older than the list's retention. The lists are
    /// read whole before their checkpoint (deletes are few, and reading one twice deletes nothing
    /// more).
    async fn deletes(
        &self,
        s: &StreamDef,
        d: &DeletesDef,
        st: &StreamState,
        out: &mut Emitter,
    ) -> Result<Option<PassState>, Error> {
        let name = s.table.name();
        let lookup = |f: &str| self.values.plain(f);
        let scope = Scope {
            since: st.since,
            ..self.plain_scope(&lookup)
        };
        let clock = Mutex::new(None);
        let mut pager = self.pager(name, &d.list, scope, None, &clock);
        let mut checked_retention = false;
        while let Some(page) = pager.next().await? {
            if !checked_retention {
                checked_retention = true;
                let now = *clock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let (Some(since), Some(now), Some(retention)) = (st.since, now, d.retention) {
                    let retention = chrono::Duration::from_std(retention).unwrap_or_default();
                    if since < now - retention {
                        let warning = format!(
                            "{name}: the last sync was before the api keeps deletions ({} days); re-reading the whole list",
                            retention.num_days()
                        );
                        tracing::warn!("{warning}");
                        out.warning(&warning).await?;
                        return Ok(Some(PassState::new(PassKind::Full)));
                    }
                }
            }
            for r in &page.records {
                let r = r.view();
                let mut keys = Row::new();
                for (column, path) in &d.key {
                    let spec = s.table.column_specs().iter().find(|c| c.name() == column);
                    let value = match (spec, path.get(r)) {
                        (Some(spec), Some(raw)) => spec.reader().read(raw).unwrap_or(Value::Null),
                        _ => Value::Null,
                    };
                    keys.set(column.clone(), value);
                }
                if keys
                    .columns()
                    .iter()
                    .all(|(_, v)| !matches!(v, Value::Null))
                {
                    out.delete(name, &keys).await?;
                }
            }
        }
        Ok(None)
    }

    /// An events pass; `Some(full pass)` when `since` is older than the events' retention.
    async fn events(
        &self,
        s: &StreamDef,
        st: &mut StreamState,
        mut pass: PassState,
        state: &mut DeclarativeState,
        out: &mut Emitter,
    ) -> Result<Option<PassState>, Error> {
        let Some(IncrementalDef::Events {
            list,
            object,
            type_field,
            deleted_suffix,
            refetch,
            retention,
            lookback,
        }) = &s.incremental
        else {
            return Ok(Some(pass));
        };
        let name = s.table.name();
        let lookup = |f: &str| self.values.plain(f);
        let scope = Scope {
            since: st.since,
            ..self.plain_scope(&lookup)
        };
        let clock = Mutex::new(pass.started);
        let mut pager = self.pager(name, list, scope, pass.token.clone(), &clock);
        let retention = chrono::Duration::from_std(*retention).unwrap_or_default();
        let mut checked_retention = pass.started.is_some();
        let mut complete = false;
        while let Some(page) = pager.next().await? {
            pass.started = *clock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !checked_retention {
                checked_retention = true;
                if let (Some(since), Some(now)) = (st.since, pass.started) {
                    if since < now - retention {
                        let warning = format!(
                            "{name}: the last sync was before the api's {}-day event retention; re-reading the whole list",
                            retention.num_days()
                        );
                        tracing::warn!("{warning}");
                        out.warning(&warning).await?;
                        return Ok(Some(PassState::new(PassKind::Full)));
                    }
                }
            }
            let mut done = HashSet::new();
            for event in &page.records {
                // Events are few and their objects feed templates, which read `Value`s.
                let event = event.view().to_value();
                let event = &event;
                let Some(obj) = object.get(event) else {
                    continue;
                };
                let kind = type_field
                    .get(event)
                    .and_then(Json::as_str)
                    .unwrap_or_default();
                let Some(path) = refetch.render(&Scope {
                    object: Some(obj),
                    ..Scope::default()
                }) else {
                    continue;
                };
                if !done.insert(path.clone()) {
                    continue; // newest first: this page already applied the object's latest state
                }
                if deleted_suffix.as_deref().is_some_and(|d| kind.ends_with(d)) {
                    self.delete(s, obj, out).await?;
                    continue;
                }
                match self.http.json(&self.request(path)).await {
                    Ok(current) if current.get("deleted").and_then(Json::as_bool) == Some(true) => {
                        self.delete(s, obj, out).await?
                    }
                    Ok(current) => self.upsert(s, &current, out).await?,
                    Err(HttpError::Permanent { status: 404, .. }) => {
                        self.delete(s, obj, out).await?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            match Self::page_done(page.resume, &mut pass, st, state, name, out).await? {
                PageEnd::Complete => {
                    complete = true;
                    break;
                }
                PageEnd::LimitReached => return Ok(None),
                PageEnd::More => {}
            }
        }
        if !complete {
            pass.started = *clock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        let lookback = chrono::Duration::from_std(*lookback).unwrap_or_default();
        st.since = pass.started.map(|t| t - lookback).max(st.since);
        st.finish(&pass, s.full_every);
        Self::save(state, name, st);
        out.checkpoint(state).await?;
        Ok(None)
    }
}

// ---- GraphQL streams (`graphql` tables; the pure parts are `super::graphql`) ----

/// One page of `g` for `partition` at `page`, with the API's clock when it sent one.
async fn graphql_page(
    run: &Run<'_>,
    path: &str,
    g: &GraphqlDef,
    scope: &Scope<'_>,
    partition: &Partition,
    page: TokenRequest,
) -> Result<(Page<Record>, Option<DateTime<Utc>>), HttpError> {
    let mut variables = serde_json::Map::new();
    for (name, t) in &g.variables {
        if let Some(v) = t.render(scope) {
            variables.insert(name.clone(), v);
        }
    }
    for (name, v) in &partition.variables {
        variables.insert(name.clone(), json!(v));
    }
    let connection = matches!(g.shape, Shape::Connection(..));
    if connection {
        variables.insert(g.first.clone(), json!(page.limit));
        if let Some(token) = &page.token {
            variables.insert(g.after.clone(), json!(token));
        }
    }
    let request = run
        .def
        .headers
        .iter()
        .fold(Request::post(path.to_owned()), |r, (k, v)| r.header(k, v))
        .json(json!({"query": g.query, "variables": variables}))
        .shrinkable_if(connection && g.limits.len() > 1 && page.limit > 1);
    let check = |r: &crate::http::JsonResponse<JsonDoc>| match &g.shape {
        Shape::Connection(envelope, nodes, more) => {
            envelope.check_records(r, None)?;
            // An empty page that says more follow was emptied or cut: retried like a 5xx (following
            // its cursor would skip whatever it lost).
            let body = r.body.root();
            let empty = nodes.get(body).is_some_and(|n| n.items().next().is_none());
            if empty && more.get(body).and_then(read::boolean) == Some(true) {
                return Err(format!(
                    "an empty page with '{more}' true: an emptied or cut page"
                ));
            }
            Ok(())
        }
        Shape::Record(_) => Ok(()),
    };
    let response = run.http.send_json_checked(&request, &check).await?;
    let server_time = response.server_time();
    if let Some(points) = &run.def.points {
        let now = run.http.clock().now_utc();
        if let Some(wait) = points_wait(points, response.body.root(), server_time, now) {
            tracing::info!(
                wait_seconds = wait.as_secs(),
                "the api's points budget is spent: waiting for its reset"
            );
            // Every request of the connector waits on the client's budget (the load requires one).
            if let Some(budget) = run.http.rate_budget() {
                budget.pause_for(wait);
            }
        }
    }
    let page = match &g.shape {
        Shape::Connection(envelope, ..) => {
            envelope
                .read_records(response)
                .map_err(|message| HttpError::Decode {
                    endpoint: run.http.endpoint(&request),
                    message,
                })?
        }
        Shape::Record(at) => {
            let doc = Arc::new(response.body);
            let records = at
                .get(doc.root())
                .filter(|r| matches!(r.kind(), Kind::Object))
                .map(|r| r.to_record(&doc))
                .into_iter()
                .collect();
            Page {
                records,
                total: None,
                next: None,
            }
        }
    };
    Ok((page, server_time))
}

/// A GraphQL stream's pass (full or changes), partition after partition, checkpointed after every
/// page's rows.
async fn graphql_stream(
    run: &Run<'_>,
    s: &StreamDef,
    g: &GraphqlDef,
    st: &mut StreamState,
    mut pass: PassState,
    state: &mut DeclarativeState,
    out: &mut Emitter,
) -> Result<(), Error> {
    let name = s.table.name();
    let lookup = |f: &str| run.values.plain(f);
    let parts = partitions(g.for_each.as_ref(), &lookup)?;
    if pass.kind == PassKind::Full && !pass.truncated {
        out.truncate(name).await?;
        for c in &s.children {
            out.truncate(c.table.name()).await?;
        }
        pass.truncated = true;
    }
    let since = (pass.kind == PassKind::Changes)
        .then_some(st.since)
        .flatten();
    let scope = Scope {
        since,
        ..run.plain_scope(&lookup)
    };
    let path = s.list.request.path.render(&scope).unwrap_or_default();
    // Resume inside the saved partition (one removed from the configuration since: from the start).
    let start = parts
        .iter()
        .position(|p| p.key == pass.partition)
        .unwrap_or_else(|| {
            pass.token = None;
            0
        });
    let clock = Mutex::new(pass.started);
    for part in &parts[start..] {
        if pass.partition != part.key {
            pass.partition = part.key.clone();
            pass.token = None;
        }
        let fetch = |r: TokenRequest| {
            let (path, scope, clock) = (&path, &scope, &clock);
            Box::pin(async move {
                let first = r.token.is_none();
                let (mut got, mut server_time) =
                    graphql_page(run, path, g, scope, part, r.clone()).await?;
                if first && got.records.is_empty() && got.next.is_none() {
                    // An empty answer ends a partition (after a truncate, it empties it): ask once
                    // more before believing it.
                    (got, server_time) = graphql_page(run, path, g, scope, part, r).await?;
                }
                let mut started = clock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if started.is_none() {
                    *started = Some(server_time.unwrap_or_else(Utc::now));
                }
                Ok::<_, HttpError>(got)
            }) as futures::future::BoxFuture<'_, Result<Page<Record>, HttpError>>
        };
        let config = TokenPagerConfig {
            limits: g.limits.clone(),
            ..TokenPagerConfig::default()
        };
        let mut pager = TokenPager::new(name, pass.token.clone(), fetch, config);
        while let Some(page) = pager.next().await? {
            pass.started = *clock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut older = false;
            for r in &page.records {
                let r = r.view();
                if let (Some(field), Some(since)) = (&g.newest_first, since) {
                    if field.get(r).and_then(instant).is_some_and(|at| at < since) {
                        older = true;
                        break;
                    }
                }
                run.upsert(s, r, out).await?;
            }
            let resume = if older { Resume::Complete } else { page.resume };
            match Run::page_done(resume, &mut pass, st, state, name, out).await? {
                PageEnd::Complete => break,
                PageEnd::LimitReached => return Ok(()),
                PageEnd::More => {}
            }
        }
        pass.started = *clock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
    if s.incremental.is_some() {
        let lookback = match &s.incremental {
            Some(super::compile::IncrementalDef::Cursor { lookback, .. })
            | Some(super::compile::IncrementalDef::Events { lookback, .. }) => *lookback,
            None => std::time::Duration::ZERO,
        };
        let lookback = chrono::Duration::from_std(lookback).unwrap_or_default();
        st.since = pass.started.map(|t| t - lookback).max(st.since);
    }
    st.finish(&pass, s.full_every);
    Run::save(state, name, st);
    out.checkpoint(state).await
}

/// An empty page whose body says more pages follow was emptied or cut: retried like a 5xx (a real
/// API never sends one, and believing it would end the pass early).
fn contradicts_itself<'a>(list: &ListDef, body: impl JsonView<'a>) -> Result<(), String> {
    let Some(flag) = &list.more else {
        return Ok(());
    };
    let says_more = flag.get(body).and_then(read::boolean) == Some(true);
    let empty = list
        .records
        .get(body)
        .is_some_and(|r| matches!(r.kind(), Kind::Array) && r.items().next().is_none());
    if says_more && empty {
        return Err(format!(
            "an empty page with '{flag}' true: an emptied or cut page"
        ));
    }
    Ok(())
}

fn instant<'a>(value: impl JsonView<'a>) -> Option<DateTime<Utc>> {
    match value.kind() {
        Kind::Number(n) => {
            let n = n.as_i64()?;
            // Epoch milliseconds are 13 digits today; seconds 10.
            if n > 100_000_000_000 {
                DateTime::from_timestamp_millis(n)
            } else {
                DateTime::from_timestamp(n, 0)
            }
        }
        Kind::Str(s) => read::parse_utc(s),
        _ => None,
    }
}

#[async_trait]
impl DynConnector for Declarative {
    fn form(&self) -> Form {
        Declarative::form(self)
    }

    async fn test(&self, name: &str, config: &HashMap<String, String>) -> Result<(), Error> {
        if name != CONNECTION_TEST {
            return Err(Error::UnknownTest {
                name: name.to_owned(),
                valid: CONNECTION_TEST.to_owned(),
            });
        }
        let values = self.values(config)?;
        for g in self.def.streams.iter().filter_map(|s| s.graphql.as_deref()) {
            let lookup = |f: &str| values.plain(f);
            partitions(g.for_each.as_ref(), &lookup)?;
        }
        self.run_test(&values).await
    }

    async fn schema(&self, config: &HashMap<String, String>) -> Result<Schema, Error> {
        self.values(config)?;
        Ok(Declarative::schema(self))
    }

    fn check_state(&self, state_json: Option<&str>) -> Result<(), Error> {
        parse_state::<DeclarativeState>(state_json)?;
        Ok(())
    }

    async fn update(
        &self,
        config: &HashMap<String, String>,
        state_json: Option<&str>,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let values = self.values(config)?;
        let mut state = parse_state::<DeclarativeState>(state_json)?;
        let run = Run {
            def: &self.def,
            http: self.client(&values, &self.tuning)?,
            values: &values,
        };
        for s in &self.def.streams {
            run.stream(s, &mut state, out).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_keys_compare_as_numbers_and_notice_disorder() {
        assert!(key_order("9", "10").is_lt());
        assert!(key_order("b", "a").is_gt());
        let mut keys = KeyRun::default();
        for k in ["9", "10", "10", "512"] {
            keys.see(k.to_owned());
        }
        assert!(keys.ascending);
        assert_eq!(keys.max.as_deref(), Some("512"));
        keys.see("100".to_owned());
        assert!(!keys.ascending);
        assert_eq!(keys.max.as_deref(), Some("512"));
    }
    use crate::sdk::table::FieldPath;

    #[test]
    fn errors_inside_successful_bodies_become_verdicts() {
        let graphql = ErrorInBody {
            path: FieldPath::parse("errors"),
            equals: None,
            transient: false,
            codes: None,
        };
        let failed = br#"{"data": null, "errors": [{"message": "Field 'x' doesn't exist"}]}"#;
        assert!(
            matches!(body_error(&graphql, 200, failed), Some(Verdict::Permanent(m)) if m.contains("doesn't exist"))
        );
        assert!(body_error(&graphql, 200, br#"{"data": {}, "errors": []}"#).is_none());
        assert!(body_error(&graphql, 200, br#"{"data": {}}"#).is_none());
        // The key's text inside a record is not the key itself: parsed, and found absent.
        assert!(body_error(&graphql, 200, br#"{"data": {"note": "\"errors\""}}"#).is_none());
        assert!(body_error(&graphql, 500, failed).is_none());
        let tiny = ErrorInBody {
            path: FieldPath::parse("retorno.status"),
            equals: Some("Erro".into()),
            transient: true,
            codes: None,
        };
        let erro = br#"{"retorno": {"status": "Erro", "erros": [{"erro": "API Bloqueada"}]}}"#;
        assert!(matches!(
            body_error(&tiny, 200, erro),
            Some(Verdict::Transient(_))
        ));
        assert!(body_error(&tiny, 200, br#"{"retorno": {"status": "OK"}}"#).is_none());
    }
}
