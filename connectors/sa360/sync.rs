//! One SA360 sync: the accounts, then per client account its dimensions in full and its daily
//! reports in date windows, built on the shared toolkit ([`WindowBatcher`], [`TokenPager`],
//! [`json_docs_bounded`]).
//!
//! # Accounts
//! The starting points are the configured manager (`login_customer_id`) or, without one, every
//! account the user was granted (`listAccessibleCustomers`). Each one's hierarchy is read with
//! `FROM customer_client` (into `customer_clients`). The accounts synced are the configured
//! `customer_ids`, else every enabled client account of the hierarchies (managers have no data;
//! canceled, suspended and closed accounts refuse queries). Every call for an account carries
//! `login-customer-id` with the manager it was found under (or the configured one).
//!
//! # Dimensions
//! Customers, campaigns, ad groups, ads, keywords, conversion actions, bidding strategies, labels
//! and custom columns are small and read in full every sync, upserted by key. The API keeps removed
//! entities (status `REMOVED`) and never hard-deletes them, so an upsert carrying the status is the
//! whole story of a removal: nothing is deleted in the destination.
//!
//! # Reports
//! Metrics have no modification cursor and are restated for weeks (conversions arrive late), so
//! each report of each account keeps a date cursor ([`ReportState`]):
//! - the first sync walks from the start date to the account's today (the date the API gives for
//!   `DURING TODAY`: the account's time zone decides it), in windows of
//!   max(30, restatement + 2) days that halve down to one day when an answer is too large (a
//!   `SizeLimitError`, the bare 429 of the message-size limit, a timeout); a one-day window gets
//!   three attempts, then the account fails naming the window;
//! - every later sync starts `restatement_days` before the end of the last walk and moves forward
//!   to today, so restated days are read again and replaced by key;
//! - a checkpoint follows every completed window; a walk cut short resumes at its next window.
//!   A day belongs to the window its midnight falls in, so windows of any length (halved ones
//!   included) tile the days exactly once.
//!
//! # Reading a query
//! Through `searchStream` (one query, one JSON array of batches, streamed row by row); if the
//! stream fails (a server error that outlasted the retries, an error element mid-stream, a cut
//! body), the same query is read again with `search` pages of 10,000 rows, smaller pages when a
//! page is too large. Rows a broken stream already sent are sent again: upserts by key make that
//! harmless.
//!
//! # Failures
//! Quota errors wait the API's retry delay through the shared rate budget (the HTTP client). An
//! account that fails (no access, a window that stays too large, an API that keeps failing) does
//! not stop the others: its progress so far is checkpointed, the others are synced, and the sync
//! then fails naming every account that failed. A refused credential or a gone client stops at
//! once.
//!
//! # Limits
//! - Accounts and reports are read one query at a time.
//! - Moving the start date earlier after a report was synced does not backfill the earlier days
//!   (reset the state for that).
//! - Rows of accounts no longer synced stay in the destination.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::api::{self, Account, Sa360Api};
use super::config::{Settings, DEFAULT_HISTORY_DAYS};
use super::models::{
    self, ClientInfo, Days, QueryTable, CUSTOMER_CLIENTS_TABLE, CUSTOM_COLUMNS,
    CUSTOM_COLUMNS_SPEC, DIMENSIONS,
};
use crate::http::{HttpError, Verdict};
use crate::sdk::json::JsonView;
use crate::sdk::table::TableSpec;
use crate::sdk::{Emitter, Error, Value};
use crate::sync::{
    json_docs_bounded, PagerError, TokenPager, TokenPagerConfig, TokenRequest, Window,
    WindowBatcher, WindowConfig,
};

/// Parsed stream batches waiting for the emitter: a batch holds up to 10,000 rows (up to the API's
/// 4 MiB message limit), so only a couple are read ahead.
const BATCHES_IN_FLIGHT: usize = 2;

/// `search` page sizes, largest first (the page size may change between pages).
pub const PAGE_SIZES: [u32; 6] = [api::MAX_PAGE_SIZE, 5_000, 2_000, 1_000, 500, 100];

/// The connector's state: one entry per account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sa360State {
    /// Per customer id.
    #[serde(default)]
    pub customers: BTreeMap<String, CustomerState>,
}

impl crate::sdk::ConnectorState for Sa360State {
    const VERSION: u32 = 1;
}

/// Where an account's reports stand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerState {
    /// Per report table.
    #[serde(default)]
    pub reports: BTreeMap<String, ReportState>,
}

/// One report of one account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportState {
    /// The last complete walk read every date before this one; the next walk starts the
    /// restatement window before it. `None` until the first walk completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_until: Option<NaiveDate>,
    /// A walk in progress read every date from its start up to (not including) this one; the next
    /// sync continues here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<NaiveDate>,
}

impl ReportState {
    /// Where this sync's walk starts.
    pub fn walk_start(&self, start: NaiveDate, restatement_days: u32) -> NaiveDate {
        match (self.resume_at, self.complete_until) {
            (Some(resume), _) => resume,
            (None, Some(done)) => (done - TimeDelta::days(i64::from(restatement_days))).max(start),
            (None, None) => start,
        }
    }
}

/// The window lengths: the restatement window (plus today and a spare day) in one window, at
/// least 30 days, halving down to one day.
pub fn window_config(restatement_days: u32) -> WindowConfig {
    WindowConfig {
        initial: TimeDelta::days(i64::from(restatement_days).saturating_add(2).max(30)),
        min: TimeDelta::days(1),
        attempts_at_min: 3,
        lookback: TimeDelta::zero(),
        recover_after: 4,
    }
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN).and_utc()
}

/// The first date whose midnight is at or after `at`.
fn first_date_from(at: DateTime<Utc>) -> NaiveDate {
    let date = at.date_naive();
    if at == midnight(date) {
        date
    } else {
        date + TimeDelta::days(1)
    }
}

/// The dates whose midnight lies in `window` (none for a window shorter than a day between two
/// midnights).
pub fn days_of(window: Window) -> Option<Days> {
    let first = first_date_from(window.start);
    let last = first_date_from(window.end) - TimeDelta::days(1);
    (first <= last).then_some(Days { first, last })
}

/// An account to sync, with its name when the hierarchy gave one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The customer and its manager.
    pub account: Account,
    /// `descriptive_name`, if known.
    pub name: Option<String>,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{} \"{name}\"", self.account),
            None => write!(f, "{}", self.account),
        }
    }
}

/// The accounts to sync and the hierarchy rows read on the way (per manager).
#[derive(Debug, Default)]
pub struct Discovery {
    /// The accounts to sync, in order.
    pub targets: Vec<Target>,
    /// `customer_client` rows by the manager (or account) they were read from.
    pub hierarchy: Vec<(String, Vec<Json>)>,
}

/// Why a query was not read.
#[derive(Debug)]
enum ReadError {
    /// Too much at once: a smaller window may succeed.
    TooLarge(String),
    /// The stream failed in a way `search` may not (internal to [`Reader::read`]).
    Fallback(String),
    /// This account's sync stops with this error.
    Failed(Error),
}

impl ReadError {
    fn into_error(self, what: &str) -> Error {
        match self {
            ReadError::Failed(e) => e,
            ReadError::TooLarge(why) => {
                Error::Unavailable(format!("{what} cannot be read: too large ({why})"))
            }
            ReadError::Fallback(why) => Error::Unavailable(format!("{what} cannot be read: {why}")),
        }
    }
}

impl From<Error> for ReadError {
    fn from(e: Error) -> Self {
        ReadError::Failed(e)
    }
}

/// Where the rows of a query go.
enum Sink<'a> {
    /// Kept in memory (the hierarchy, the setup test).
    Collect(&'a mut Vec<Json>),
    /// Upserted into a table.
    Emit {
        spec: &'a TableSpec,
        given: &'a [(&'a str, Value)],
        out: &'a mut Emitter,
    },
}

impl Sink<'_> {
    /// Takes `rows` (a stream batch's views or a page's values), returning how many there were.
    async fn take<'v, V: JsonView<'v> + Send>(
        &mut self,
        rows: impl Iterator<Item = V> + Send,
    ) -> Result<u64, Error> {
        let mut taken = 0;
        match self {
            Sink::Collect(kept) => {
                for raw in rows {
                    kept.push(raw.to_value());
                    taken += 1;
                }
            }
            Sink::Emit { spec, given, out } => {
                for raw in rows {
                    taken += 1;
                    if let Some(row) = spec.row(raw, given, out.issues()) {
                        out.upsert(spec.name(), &row).await?;
                    }
                }
            }
        }
        Ok(taken)
    }
}

/// Reads queries: `searchStream`, falling back to `search` pages.
struct Reader<'a> {
    api: &'a Sa360Api,
}

impl Reader<'_> {
    /// Reads every row of `query` for `account` into `sink`; a `shrinkable` query that times out
    /// is too large. Returns the rows read.
    async fn read(
        &self,
        account: &Account,
        query: &str,
        shrinkable: bool,
        sink: &mut Sink<'_>,
    ) -> Result<u64, ReadError> {
        let stream_was_usable = self.api.stream_usable();
        match self.stream(account, query, shrinkable, sink).await {
            Err(ReadError::Fallback(why)) => {
                if stream_was_usable {
                    tracing::warn!(%account, error = %why, "searchStream failed; reading the query in search pages");
                }
                self.pages(account, query, sink).await
            }
            other => other,
        }
    }

    async fn stream(
        &self,
        account: &Account,
        query: &str,
        shrinkable: bool,
        sink: &mut Sink<'_>,
    ) -> Result<u64, ReadError> {
        if !self.api.stream_usable() {
            return Err(ReadError::Fallback(
                "searchStream is down in this sync".into(),
            ));
        }
        let download = match self.api.search_stream(account, query, shrinkable).await {
            Ok(download) => download,
            Err(e) if e.is_too_large() => return Err(ReadError::TooLarge(e.to_string())),
            Err(e @ HttpError::Down { .. }) => {
                // `search` is another endpoint: a dead stream need not fail the sync.
                self.api.mark_stream_down();
                return Err(ReadError::Fallback(e.to_string()));
            }
            Err(e) if e.is_permanent() => return Err(ReadError::Failed(e.into())),
            Err(e) => return Err(ReadError::Fallback(e.to_string())),
        };
        let mut batches = json_docs_bounded(
            download,
            format!("searchStream of {account}"),
            BATCHES_IN_FLIGHT,
        );
        let mut read = 0;
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(|e| {
                if e.is_too_large() {
                    ReadError::TooLarge(e.to_string())
                } else {
                    ReadError::Fallback(e.to_string())
                }
            })?;
            let rows = api::batch_rows(&batch);
            match rows {
                Ok(rows) => read += sink.take(rows).await?,
                Err(failure) => {
                    return Err(match failure.verdict(0) {
                        Some(Verdict::TooLarge(why)) => ReadError::TooLarge(why),
                        Some(Verdict::Permanent(why)) => {
                            ReadError::Failed(Error::SourceRejected(why))
                        }
                        _ => ReadError::Fallback(format!(
                            "the stream ended with an error after {read} rows: {} {}",
                            failure.status, failure.message
                        )),
                    })
                }
            }
        }
        // A stream has no count of its own: an empty one is checked against the query's count, so
        // an emptied answer is read again in pages rather than taken for "no rows".
        if read == 0 {
            match self.api.count(account, query).await {
                Ok(0) => {}
                Ok(matched) => {
                    return Err(ReadError::Fallback(format!(
                        "the stream held no rows though the query matches {matched}"
                    )))
                }
                Err(e) if e.is_permanent() => return Err(ReadError::Failed(e.into())),
                Err(e) => return Err(ReadError::Fallback(e.to_string())),
            }
        }
        Ok(read)
    }

    async fn pages(
        &self,
        account: &Account,
        query: &str,
        sink: &mut Sink<'_>,
    ) -> Result<u64, ReadError> {
        let api = self.api;
        let smallest = PAGE_SIZES[PAGE_SIZES.len() - 1];
        let fetch = move |r: TokenRequest| async move {
            api.search(
                account,
                query,
                r.token.as_deref(),
                r.limit,
                r.limit > smallest,
            )
            .await
        };
        let config = TokenPagerConfig {
            limits: PAGE_SIZES.to_vec(),
            ..TokenPagerConfig::default()
        };
        let mut pager = TokenPager::new(format!("search pages of {account}"), None, fetch, config);
        let mut read = 0;
        loop {
            let page = match pager.next().await {
                Ok(Some(page)) => page,
                Ok(None) => return Ok(read),
                Err(PagerError::Fetch { source, .. }) if source.is_too_large() => {
                    return Err(ReadError::TooLarge(source.to_string()))
                }
                Err(e) => return Err(ReadError::Failed(e.into())),
            };
            read += sink.take(page.records.iter()).await?;
        }
    }

    /// Every row of `query` in memory.
    async fn collect(&self, account: &Account, query: &str) -> Result<Vec<Json>, Error> {
        let mut rows = Vec::new();
        self.read(account, query, false, &mut Sink::Collect(&mut rows))
            .await
            .map_err(|e| e.into_error(&format!("{account}")))?;
        Ok(rows)
    }
}

/// The accounts to sync (see the module docs) and the hierarchies read to find them.
pub async fn discover(api: &Sa360Api, settings: &Settings) -> Result<Discovery, Error> {
    let reader = Reader { api };
    let configured = settings.login_customer_id.is_some();
    let roots = match &settings.login_customer_id {
        Some(login) => vec![login.clone()],
        None => api.accessible_customers().await?,
    };
    let query = CUSTOMER_CLIENTS_TABLE.query(|_| true, None);
    let mut discovery = Discovery::default();
    let mut found: Vec<(ClientInfo, String)> = Vec::new();
    for root in roots {
        let account = Account {
            customer_id: root.clone(),
            login: Some(root.clone()),
        };
        let rows = match reader.collect(&account, &query).await {
            Ok(rows) => rows,
            Err(e) if configured => {
                return Err(with_context(
                    e,
                    &format!(
                        "the manager {root} (login customer id) cannot be read; check the id and that the user can reach it"
                    ),
                ))
            }
            // Only the API's refusal of this account skips it: an outage (a dead endpoint, retries
            // spent) would otherwise skip every account and "succeed" with nothing synced.
            Err(e @ (Error::Unauthenticated(_) | Error::Cancelled | Error::Unavailable(_))) => {
                return Err(e)
            }
            Err(e) => {
                // An account granted directly but canceled or suspended holds nothing to sync.
                tracing::warn!(customer = %root, error = %e, "an accessible account cannot be read; skipping it");
                continue;
            }
        };
        for row in &rows {
            if let Some(info) = models::client_info(row) {
                if !found.iter().any(|(known, _)| known.id == info.id) {
                    found.push((info, root.clone()));
                }
            }
        }
        discovery.hierarchy.push((root, rows));
    }
    discovery.targets = if settings.customer_ids.is_empty() {
        found
            .iter()
            .filter(|(info, _)| info.syncable())
            .map(|(info, root)| Target {
                account: Account {
                    customer_id: info.id.clone(),
                    login: Some(root.clone()),
                },
                name: Some(info.name.clone()),
            })
            .collect()
    } else {
        if let Some((manager, _)) = found
            .iter()
            .find(|(info, _)| info.manager && settings.customer_ids.contains(&info.id))
        {
            return Err(Error::SourceRejected(format!(
                "customer {} (\"{}\") is a manager account, which has no campaigns or metrics: list its client accounts in customer ids, or leave them empty to sync every client under the manager",
                manager.id, manager.name
            )));
        }
        settings
            .customer_ids
            .iter()
            .map(|id| {
                let known = found.iter().find(|(info, _)| info.id == *id);
                Target {
                    account: Account {
                        customer_id: id.clone(),
                        login: known
                            .map(|(_, root)| root.clone())
                            .or_else(|| settings.login_customer_id.clone()),
                    },
                    name: known.map(|(info, _)| info.name.clone()),
                }
            })
            .collect()
    };
    tracing::info!(accounts = discovery.targets.len(), "sa360 accounts to sync");
    Ok(discovery)
}

/// The setup test of access: every account to sync answers a query; the message names each one
/// that does not.
pub async fn check_access(api: &Sa360Api, settings: &Settings) -> Result<(), Error> {
    let discovery = discover(api, settings).await?;
    if discovery.targets.is_empty() {
        return Err(Error::SourceRejected(
            "no enabled client account was found under the manager (or among the accounts the user can reach); check the login customer id and customer ids".into(),
        ));
    }
    let reader = Reader { api };
    let mut refused = Vec::new();
    for target in &discovery.targets {
        if let Err(e) = reader
            .collect(&target.account, "SELECT customer.id FROM customer")
            .await
        {
            if matches!(e, Error::Unauthenticated(_)) {
                return Err(e);
            }
            refused.push(format!("{target} cannot be read: {e}"));
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Error::PermissionDenied(refused.join("; ")))
    }
}

/// The same kind of error with `context` before its message.
fn with_context(e: Error, context: &str) -> Error {
    match e {
        Error::Unauthenticated(m) => Error::Unauthenticated(format!("{context}: {m}")),
        Error::PermissionDenied(m) => Error::PermissionDenied(format!("{context}: {m}")),
        Error::Unavailable(m) => Error::Unavailable(format!("{context}: {m}")),
        Error::SourceRejected(m) => Error::SourceRejected(format!("{context}: {m}")),
        Error::Connector(m) => Error::Connector(format!("{context}: {m}")),
        other => other,
    }
}

/// Errors after which no other account can be synced either.
fn stops_everything(e: &Error) -> bool {
    matches!(e, Error::Cancelled | Error::Unauthenticated(_))
}

/// A sync in progress.
struct Run<'a> {
    api: &'a Sa360Api,
    settings: &'a Settings,
    state: Sa360State,
}

/// Syncs every account into `out`, starting from `state`.
pub async fn run(
    api: &Sa360Api,
    settings: &Settings,
    state: Sa360State,
    out: &mut Emitter,
) -> Result<(), Error> {
    let discovery = discover(api, settings).await?;
    if out.is_selected(models::CUSTOMER_CLIENTS) {
        for (root, rows) in discovery.hierarchy {
            let given = models::customer_key(&root);
            Sink::Emit {
                spec: &CUSTOMER_CLIENTS_TABLE.spec,
                given: &given,
                out,
            }
            .take(rows.iter())
            .await?;
        }
    }
    let mut run = Run {
        api,
        settings,
        state,
    };
    let mut failed = Vec::new();
    for target in &discovery.targets {
        tracing::info!(%target, "syncing");
        if let Err(e) = run.account(&target.account, out).await {
            if stops_everything(&e) {
                return Err(e);
            }
            tracing::warn!(%target, error = %e, "the account failed; syncing the others");
            out.warning(&format!("{target} failed: {e}")).await?;
            failed.push((target, e));
        }
        out.report_issues().await?;
        out.checkpoint(&run.state).await?;
    }
    let Some((_, first)) = failed.first() else {
        return Ok(());
    };
    let message = format!(
        "{} of {} accounts failed (the others were synced): {}",
        failed.len(),
        discovery.targets.len(),
        failed
            .iter()
            .map(|(target, e)| format!("{target}: {e}"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    Err(match first {
        Error::PermissionDenied(_) => Error::PermissionDenied(message),
        Error::SourceRejected(_) => Error::SourceRejected(message),
        _ => Error::Unavailable(message),
    })
}

impl Run<'_> {
    /// One account: its dimensions, then its reports.
    async fn account(&mut self, account: &Account, out: &mut Emitter) -> Result<(), Error> {
        let reader = Reader { api: self.api };
        let given = models::customer_key(&account.customer_id);
        for table in DIMENSIONS.iter() {
            if !out.is_selected(table.name) || out.table_full(table.name) {
                continue;
            }
            let query = table.query(|c| out.is_column_selected(table.name, c), None);
            let mut sink = Sink::Emit {
                spec: &table.spec,
                given: &given,
                out,
            };
            let rows = reader
                .read(account, &query, false, &mut sink)
                .await
                .map_err(|e| e.into_error(&format!("{} of {account}", table.name)))?;
            tracing::debug!(%account, table = table.name, rows, "dimension read");
        }
        if out.is_selected(CUSTOM_COLUMNS) {
            let columns = self
                .api
                .custom_columns(account)
                .await
                .map_err(|e| e.to_sdk(format!("custom columns of {account}: {e}")))?;
            let mut sink = Sink::Emit {
                spec: &CUSTOM_COLUMNS_SPEC,
                given: &given,
                out,
            };
            sink.take(columns.iter()).await?;
        }
        let reports: Vec<&QueryTable> = self
            .settings
            .reports
            .iter()
            .map(|r| models::report_table(*r))
            .filter(|t| out.is_selected(t.name))
            .collect();
        if reports.is_empty() {
            return Ok(());
        }
        let today = self.account_today(account).await?;
        for table in reports {
            self.report(account, table, today, out).await?;
        }
        Ok(())
    }

    /// The account's today, as the API dates rows (in the account's time zone); without an answer,
    /// the latest date anywhere (UTC tomorrow), which reads nothing that does not exist.
    async fn account_today(&self, account: &Account) -> Result<NaiveDate, Error> {
        let reader = Reader { api: self.api };
        let rows = reader
            .collect(
                account,
                "SELECT segments.date FROM customer WHERE segments.date DURING TODAY",
            )
            .await?;
        let answered = rows
            .iter()
            .filter_map(|r| r["segments"]["date"].as_str())
            .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .max();
        Ok(answered
            .unwrap_or_else(|| self.api.http().clock().now_utc().date_naive() + TimeDelta::days(1)))
    }

    fn cursor(&mut self, account: &Account, table: &str) -> &mut ReportState {
        self.state
            .customers
            .entry(account.customer_id.clone())
            .or_default()
            .reports
            .entry(table.to_owned())
            .or_default()
    }

    /// Walks one report of one account from its cursor to `today`, a checkpoint per window.
    async fn report(
        &mut self,
        account: &Account,
        table: &QueryTable,
        today: NaiveDate,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let restatement = self.settings.restatement_days;
        let start = self
            .settings
            .start_date
            .unwrap_or(today - TimeDelta::days(DEFAULT_HISTORY_DAYS));
        let end = today + TimeDelta::days(1);
        let from = self
            .cursor(account, table.name)
            .walk_start(start, restatement);
        let config = window_config(restatement);
        let min = config.min;
        let mut windows = WindowBatcher::backfill(midnight(from), midnight(end), config);
        tracing::info!(%account, table = table.name, %from, %end, "walking the report");
        let reader = Reader { api: self.api };
        let given = models::customer_key(&account.customer_id);
        while let Some(window) = windows.next_window() {
            if out.table_full(table.name) {
                return Ok(()); // a `debug --limit` run: the walk resumes here next sync
            }
            let result = match days_of(window) {
                None => Ok(0),
                Some(days) => {
                    let query = table.query(|c| out.is_column_selected(table.name, c), Some(days));
                    let mut sink = Sink::Emit {
                        spec: &table.spec,
                        given: &given,
                        out,
                    };
                    reader
                        .read(account, &query, window.span() > min, &mut sink)
                        .await
                }
            };
            match result {
                Ok(rows) => {
                    let done = windows.complete(window)?;
                    self.cursor(account, table.name).resume_at = Some(first_date_from(done));
                    tracing::debug!(%account, table = table.name, %window, rows, "window read");
                    out.checkpoint(&self.state).await?;
                }
                Err(ReadError::TooLarge(why)) => {
                    windows.too_large(window, &why).map_err(|e| {
                        Error::Unavailable(format!("{} of {account}: {e}", table.name))
                    })?;
                }
                Err(e) => return Err(e.into_error(&format!("{} of {account}", table.name))),
            }
        }
        let cursor = self.cursor(account, table.name);
        cursor.complete_until = Some(end);
        cursor.resume_at = None;
        out.checkpoint(&self.state).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::state::{parse_state, serialize_state};

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn state_golden() {
        let state = Sa360State {
            customers: BTreeMap::from([
                (
                    "4100000001".to_owned(),
                    CustomerState {
                        reports: BTreeMap::from([
                            (
                                "campaign_stats".to_owned(),
                                ReportState {
                                    complete_until: Some(date("2025-01-16")),
                                    resume_at: None,
                                },
                            ),
                            (
                                "keyword_stats".to_owned(),
                                ReportState {
                                    complete_until: Some(date("2025-01-10")),
                                    resume_at: Some(date("2024-12-20")),
                                },
                            ),
                        ]),
                    },
                ),
                (
                    "4100000002".to_owned(),
                    CustomerState {
                        reports: BTreeMap::from([(
                            "ad_stats".to_owned(),
                            ReportState {
                                complete_until: None,
                                resume_at: Some(date("2024-03-01")),
                            },
                        )]),
                    },
                ),
            ]),
        };
        let golden = r#"{"version":1,"customers":{"4100000001":{"reports":{"campaign_stats":{"complete_until":"2025-01-16"},"keyword_stats":{"complete_until":"2025-01-10","resume_at":"2024-12-20"}}},"4100000002":{"reports":{"ad_stats":{"resume_at":"2024-03-01"}}}}}"#;
        assert_eq!(serialize_state(&state).unwrap(), golden);
        assert_eq!(parse_state::<Sa360State>(Some(golden)).unwrap(), state);
        assert_eq!(
            parse_state::<Sa360State>(Some("{}")).unwrap(),
            Sa360State::default()
        );
        assert!(parse_state::<Sa360State>(Some(r#"{"version":1,"cursor":"x"}"#)).is_err());
        assert!(parse_state::<Sa360State>(Some(
            r#"{"version":1,"customers":{"1":{"reports":{"t":{"resume_at":"soon"}}}}}"#
        ))
        .is_err());
    }

    #[test]
    fn a_walk_starts_at_its_resume_point_else_the_restatement_window_before_the_last_end() {
        let start = date("2024-01-01");
        assert_eq!(ReportState::default().walk_start(start, 30), start);
        let done = ReportState {
            complete_until: Some(date("2025-01-16")),
            resume_at: None,
        };
        assert_eq!(done.walk_start(start, 30), date("2024-12-17"));
        assert_eq!(done.walk_start(date("2025-01-10"), 30), date("2025-01-10"));
        let resumed = ReportState {
            complete_until: Some(date("2025-01-16")),
            resume_at: Some(date("2025-01-02")),
        };
        assert_eq!(resumed.walk_start(start, 30), date("2025-01-02"));
    }

    #[test]
    fn halved_windows_tile_the_days_exactly_once() {
        let (from, end) = (date("2024-11-16"), date("2025-01-16"));
        let mut windows = WindowBatcher::backfill(midnight(from), midnight(end), window_config(3));
        let mut days = Vec::new();
        let mut halvings = 0;
        while let Some(window) = windows.next_window() {
            if window.span() > TimeDelta::days(7) && halvings < 6 {
                halvings += 1;
                windows.too_large(window, "too many rows").unwrap();
                continue;
            }
            if let Some(d) = days_of(window) {
                let mut at = d.first;
                while at <= d.last {
                    days.push(at);
                    at += TimeDelta::days(1);
                }
            }
            let done = windows.complete(window).unwrap();
            assert_eq!(
                first_date_from(done),
                days.last().map_or(from, |d| *d + TimeDelta::days(1))
            );
        }
        let expected: Vec<NaiveDate> = from.iter_days().take_while(|d| *d < end).collect();
        assert_eq!(days, expected);
        assert!(halvings > 0);
    }

    #[test]
    fn a_window_shorter_than_a_day_between_midnights_has_no_days() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        let w = Window {
            start: at("2025-01-01T06:00:00Z"),
            end: at("2025-01-01T18:00:00Z"),
        };
        assert_eq!(days_of(w), None);
        let w = Window {
            start: at("2025-01-01T12:00:00Z"),
            end: at("2025-01-03T12:00:00Z"),
        };
        assert_eq!(
            days_of(w),
            Some(Days {
                first: date("2025-01-02"),
                last: date("2025-01-03")
            })
        );
        assert_eq!(window_config(30).initial, TimeDelta::days(32));
        assert_eq!(window_config(3).initial, TimeDelta::days(30));
    }
}
