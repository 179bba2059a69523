//! One OnGage sync: lists and their fields in full, then each list's contacts through the async contact
//! search, walked in date windows with the shared [`WindowBatcher`] and [`run_job`].
//!
//! # Strategy
//! - Lists are discovered every sync (`GET /api/lists`, paged, guarded against a server that ignores the
//!   offset) and filtered by the `list_filter` setting; lists and list fields are re-read in full.
//! - The sync's "now" is the API server's clock (the `Date` header of the lists call), so windows and
//!   cursors are in the time the `ocx_*` dates are written in, whatever the local clock says.
//! - A list never synced is **backfilled** over `ocx_created_date`: lists of at least
//!   [`Settings::big_list_threshold`] contacts (200,000) in windows of 3 months, smaller ones in one window.
//!   A search that does not complete in time (or fails) halves its window, down to 2 weeks; a 2-week
//!   window gets 3 attempts, then the sync fails naming the list and the window. Empty windows are just
//!   completed windows: only reaching "now" ends a walk.
//! - A list synced before is read **incrementally**: contacts created *or* with a status change
//!   (unsubscribe, resubscribe, bounce, complaint) since the last walk started, minus a lookback
//!   ([`WindowConfig::lookback`], 2 days). A window reaching "now" is one search OR-ing the five dates;
//!   an earlier (bounded) window needs one search per date, since OR-ed criteria cannot also be bounded.
//! - The first window of a backfill without a start date has no lower bound and the last window of every
//!   walk no upper bound, so no contact escapes through clock skew or a date before the list existed.
//! - Every search selects all statuses; the CSV export is streamed row by row into the emitter.
//! - A checkpoint follows every completed window and every list, so a crash resumes at the window it was
//!   in. Rows of a window may be sent twice (after a crash or a halving); upserts by key make that harmless.
//!
//! # Limits
//! - Contact profile edits (email, name, custom fields) without a status change are not seen by
//!   incremental syncs: OnGage has no modification date on contacts. A state reset re-reads them.
//! - Contacts removed from a list, and lists that disappear, are not deleted in the destination.
//! - Lists are synced one after another, one search at a time.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::api::{DateField, OngageApi, SearchSpec};
use super::config::Settings;
use super::models::{
    self, ListInfo, SearchState, CONTACTS, CONTACTS_SPEC, LISTS, LISTS_SPEC, LIST_FIELDS,
    LIST_FIELDS_SPEC,
};
use crate::http::{Download, HttpError};
use crate::sdk::{Emitter, Error, Value};
use crate::sync::{
    run_job, CsvFile, ExportJob, JobError, JobOutput, JobStatus, OffsetPager, OffsetPagerConfig,
    PagerItem, StallGuard, WalkState, Window, WindowBatcher, WindowConfig, WindowError,
};

/// Lists per `GET /api/lists` page.
pub const LISTS_PAGE_SIZE: u32 = 100;

/// The connector's state: one cursor per list, keyed by list id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OngageState {
    /// Per list id.
    #[serde(default)]
    pub lists: BTreeMap<String, ListState>,
}

impl crate::sdk::ConnectorState for OngageState {
    const VERSION: u32 = 1;
}

/// Where a list's contacts stand: contacts created, and status changes, before `synced_through` (API
/// time) are synced; `walk` is the walk of windows in progress.
pub type ListState = WalkState;

/// Which dates a walk filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Creation dates, from the start: the first sync of a list.
    Backfill,
    /// Creation and status-change dates since the last walk (minus the lookback).
    Incremental,
}

/// How one list's contacts are read this sync: pure, from the list, its state and the settings.
#[derive(Debug, Clone, PartialEq)]
struct Plan {
    mode: Mode,
    /// Where the windows start this sync.
    from: DateTime<Utc>,
    /// "Now": the last window is open past it.
    end: DateTime<Utc>,
    /// A walk start with no lower bound (a backfill without a start date, not resumed).
    open_start: Option<DateTime<Utc>>,
    windows: WindowConfig,
}

/// When nothing better is known, backfills start here (OnGage was founded later).
fn epoch_floor() -> DateTime<Utc> {
    DateTime::from_timestamp(946_684_800, 0).unwrap_or_default() // 2000-01-01
}

impl Plan {
    fn new(list: &ListInfo, state: &ListState, settings: &Settings, now: DateTime<Utc>) -> Self {
        let windows = WindowConfig::default();
        let start_date = settings.start_date;
        let resume_at = state.walk.as_ref().and_then(|w| w.resume_at);
        let floor = start_date.unwrap_or(DateTime::UNIX_EPOCH);
        let (mode, origin) = match state.synced_through {
            None => (
                Mode::Backfill,
                start_date
                    .or(list.created)
                    .unwrap_or_else(epoch_floor)
                    .min(now),
            ),
            Some(done) => (
                Mode::Incremental,
                (done - windows.lookback).max(floor).min(now),
            ),
        };
        let from = resume_at.unwrap_or(origin);
        let open_start =
            (mode == Mode::Backfill && start_date.is_none() && resume_at.is_none()).then_some(from);
        let mut windows = windows;
        if mode == Mode::Backfill && list.contacts < settings.big_list_threshold {
            // A small list is one search; it still shrinks like any window if that search times out.
            windows.initial = (now - from).max(TimeDelta::seconds(1));
        }
        Self {
            mode,
            from,
            end: now,
            open_start,
            windows,
        }
    }

    fn batcher(&self) -> WindowBatcher {
        WindowBatcher::backfill(self.from, self.end, self.windows.clone())
    }

    /// The searches that together export every contact of `window`.
    fn searches(&self, window: Window) -> Vec<SearchSpec> {
        // Floors on both sides keep consecutive windows tiling whole seconds exactly.
        let from = (Some(window.start) != self.open_start).then(|| window.start.timestamp());
        let to = (window.end < self.end).then(|| window.end.timestamp());
        match (self.mode, from, to) {
            (Mode::Backfill, ..) => vec![SearchSpec::Range {
                field: DateField::Created,
                from,
                to,
            }],
            (Mode::Incremental, Some(from), None) => vec![SearchSpec::ChangedSince { from }],
            (Mode::Incremental, ..) => DateField::ALL
                .iter()
                .map(|&field| SearchSpec::Range { field, from, to })
                .collect(),
        }
    }
}

/// One contact search as an export job: create, poll, export.
struct ContactSearch<'a> {
    api: &'a OngageApi,
    list_id: &'a str,
    spec: SearchSpec,
}

#[async_trait]
impl ExportJob for ContactSearch<'_> {
    type Handle = String;
    type File = String;

    fn describe(&self) -> String {
        format!("contact search of list {} ({})", self.list_id, self.spec)
    }

    async fn create(&self) -> Result<String, HttpError> {
        let payload = self.api.create_search(self.list_id, &self.spec).await?;
        models::search_id(&payload).ok_or_else(|| HttpError::Decode {
            endpoint: crate::http::Endpoint {
                method: "POST".into(),
                path: format!("/{}/api/contact_search", self.list_id),
            },
            message: "the created search has no id".into(),
        })
    }

    async fn poll(&self, search: &String) -> Result<JobStatus<String>, HttpError> {
        let payload = self.api.search(self.list_id, search).await?;
        Ok(match models::search_status(&payload) {
            SearchState::Pending => JobStatus::Pending,
            SearchState::Failed(reason) => JobStatus::Failed(reason),
            // The export says nothing of its size; the result listing's total does, so a cut or
            // emptied export is told apart from an empty search.
            SearchState::Completed => JobStatus::Ready(JobOutput {
                files: vec![search.clone()],
                records: self.api.search_total(self.list_id, search).await?,
            }),
        })
    }

    async fn download(&self, search: &String) -> Result<Download, HttpError> {
        self.api.export(self.list_id, search).await
    }
}

/// Why a window was not completed.
enum WindowFailure {
    /// A search timed out or failed: the window should shrink.
    Shrink(String),
    /// Anything else ends the sync.
    Fatal(Error),
}

impl From<Error> for WindowFailure {
    fn from(e: Error) -> Self {
        WindowFailure::Fatal(e)
    }
}

impl From<JobError> for WindowFailure {
    /// A search that failed, timed out or exported something unreadable (cut, or not the rows its
    /// count promised) is tried again over a shorter window; an HTTP failure ends the sync.
    fn from(e: JobError) -> Self {
        match e {
            JobError::Http { .. } if !e.is_too_large() => WindowFailure::Fatal(e.into()),
            e => WindowFailure::Shrink(e.to_string()),
        }
    }
}

/// A sync in progress.
struct Run<'a> {
    api: &'a OngageApi,
    settings: &'a Settings,
    now: DateTime<Utc>,
    state: OngageState,
}

/// Syncs every selected list into `out`, starting from `state`.
pub async fn run(
    api: &OngageApi,
    settings: &Settings,
    mut state: OngageState,
    out: &mut Emitter,
) -> Result<(), Error> {
    let (records, server_time) = discover(api).await?;
    let now = server_time.unwrap_or_else(|| api.http().clock().now_utc());
    let mut lists: Vec<(ListInfo, Json)> = records
        .into_iter()
        .filter_map(|raw| models::list_info(&raw).map(|info| (info, raw)))
        .filter(|(info, _)| settings.list_filter.matches(&info.id, &info.name))
        .collect();
    lists.sort_by_key(|(info, _)| (info.id.parse::<u64>().ok(), info.id.clone()));
    // Lists no longer synced leave the state: if they come back they are backfilled again.
    state
        .lists
        .retain(|id, _| lists.iter().any(|(info, _)| &info.id == id));
    tracing::info!(lists = lists.len(), %now, "ongage lists discovered");

    let mut run = Run {
        api,
        settings,
        now,
        state,
    };
    if out.is_selected(LISTS) {
        for (_, raw) in &lists {
            if let Some(row) = LISTS_SPEC.row(raw, &[], out.issues()) {
                out.upsert(LISTS, &row).await?;
            }
        }
    }
    for (list, _) in &lists {
        run.list(list, out).await?;
    }
    out.checkpoint(&run.state).await
}

/// Every list record (all pages) and the server's clock.
async fn discover(api: &OngageApi) -> Result<(Vec<Json>, Option<DateTime<Utc>>), Error> {
    let server_time = std::sync::Mutex::new(None);
    let server_time = &server_time;
    let fetch = move |request: crate::sync::OffsetRequest| async move {
        let (page, time) = api.lists(request.offset, request.limit).await?;
        let mut first = server_time
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *first = first.or(time);
        Ok(page)
    };
    let mut pager = OffsetPager::new(
        0,
        fetch,
        OffsetPagerConfig::with_max(LISTS_PAGE_SIZE),
        api.http().clock().clone(),
    );
    // A server that ignores the offset would hand out the same first list forever.
    let mut guard = StallGuard::new("ongage list pages", 100_000);
    let mut lists = Vec::new();
    while let Some(item) = pager.next().await? {
        match item {
            PagerItem::Records { records, .. } => {
                if let Some(first) = records.first() {
                    guard.advance(first["id"].to_string())?;
                }
                lists.extend(records);
            }
            PagerItem::Errored(range) => {
                return Err(Error::Unavailable(format!(
                    "ongage lists cannot be read: {}",
                    range.error
                )))
            }
        }
    }
    let server_time = *server_time
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok((lists, server_time))
}

impl Run<'_> {
    /// One list: its fields, its contacts, warnings for unreadable values, a checkpoint.
    async fn list(&mut self, list: &ListInfo, out: &mut Emitter) -> Result<(), Error> {
        let key = models::list_key(&list.id);
        if out.is_selected(LIST_FIELDS) {
            for field in self.api.list_fields(&list.id).await? {
                if let Some(row) = LIST_FIELDS_SPEC.row(&field, &key, out.issues()) {
                    out.upsert(LIST_FIELDS, &row).await?;
                }
            }
        }
        if out.is_selected(CONTACTS) {
            self.contacts(list, out).await?;
        }
        out.report_issues().await?;
        out.checkpoint(&self.state).await
    }

    /// Walks the list's windows; checkpoints after each completed one.
    async fn contacts(&mut self, list: &ListInfo, out: &mut Emitter) -> Result<(), Error> {
        let entry = self.state.lists.entry(list.id.clone()).or_default();
        let plan = Plan::new(list, entry, self.settings, self.now);
        entry.walk_from(self.now);
        tracing::info!(list = %list.id, mode = ?plan.mode, from = %plan.from, "syncing contacts");
        let mut windows = plan.batcher();
        while let Some(window) = windows.next_window() {
            if out.table_full(CONTACTS) {
                return Ok(()); // a `debug --limit` run: the walk resumes here next sync
            }
            match self.window(list, &plan, window, out).await {
                Ok(()) => {
                    let done = windows.complete(window)?;
                    self.entry(list).completed(done);
                    out.checkpoint(&self.state).await?;
                }
                Err(WindowFailure::Shrink(reason)) => {
                    windows
                        .too_large(window, &reason)
                        .map_err(|e| gave_up(list, e))?;
                }
                Err(WindowFailure::Fatal(e)) => return Err(e),
            }
        }
        self.entry(list).finish();
        Ok(())
    }

    fn entry(&mut self, list: &ListInfo) -> &mut ListState {
        self.state.lists.entry(list.id.clone()).or_default()
    }

    /// Runs the searches of one window, streaming their exports into `out`.
    async fn window(
        &mut self,
        list: &ListInfo,
        plan: &Plan,
        window: Window,
        out: &mut Emitter,
    ) -> Result<(), WindowFailure> {
        let key = models::list_key(&list.id);
        for spec in plan.searches(window) {
            let job = ContactSearch {
                api: self.api,
                list_id: &list.id,
                spec,
            };
            let output = run_job(&job, &self.settings.search, self.api.http().clock())
                .await?
                .output;
            let (mut read, mut exported) = (0u64, 0u64);
            for file in &output.files {
                let mut rows = CsvFile::new(&job, file, models::contact_export_check());
                while let Some(csv) = rows.next().await {
                    read += 1;
                    let Some(row) = CONTACTS_SPEC.row(csv?.view(), &key, out.issues()) else {
                        continue;
                    };
                    if self.keep(&row) {
                        out.upsert(CONTACTS, &row).await?;
                        exported += 1;
                    }
                }
            }
            output.check_count(&job.describe(), read)?;
            tracing::info!(list = %list.id, search = %spec, exported, "search exported");
        }
        Ok(())
    }

    /// Contacts created before the configured start date stay out, even when a status change brings
    /// them into an incremental search.
    fn keep(&self, row: &crate::sdk::Row) -> bool {
        match (self.settings.start_date, row.get("ocx_created_date")) {
            (Some(start), Some(Value::UtcDateTime(created))) => *created >= start,
            _ => true,
        }
    }
}

/// The batcher's final refusal, naming the list.
fn gave_up(list: &ListInfo, e: WindowError) -> Error {
    Error::Unavailable(format!(
        "contacts of list {} ({}) cannot be exported: {e}",
        list.id, list.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::state::{parse_state, serialize_state};
    use crate::sync::Walk;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn settings(start_date: Option<DateTime<Utc>>) -> Settings {
        let map = [("username", "u"), ("password", "p"), ("account_code", "A")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut settings = <Settings as crate::sdk::FromConfiguration>::from_configuration(
            &crate::sdk::Configuration::new(&map),
        )
        .unwrap();
        settings.start_date = start_date;
        settings
    }

    fn list(contacts: u64) -> ListInfo {
        ListInfo {
            id: "7".into(),
            name: "L".into(),
            contacts,
            created: Some(at("2020-01-01T00:00:00Z")),
        }
    }

    #[test]
    fn state_golden() {
        let state = OngageState {
            lists: BTreeMap::from([
                (
                    "120001".to_owned(),
                    ListState {
                        synced_through: Some(at("2025-01-01T00:00:00Z")),
                        walk: None,
                    },
                ),
                (
                    "120002".to_owned(),
                    ListState {
                        synced_through: None,
                        walk: Some(Walk {
                            started: at("2025-01-01T00:00:00Z"),
                            resume_at: Some(at("2020-04-01T00:00:00Z")),
                        }),
                    },
                ),
            ]),
        };
        let golden = r#"{"version":1,"lists":{"120001":{"synced_through":"2025-01-01T00:00:00Z"},"120002":{"walk":{"started":"2025-01-01T00:00:00Z","resume_at":"2020-04-01T00:00:00Z"}}}}"#;
        assert_eq!(serialize_state(&state).unwrap(), golden);
        assert_eq!(parse_state::<OngageState>(Some(golden)).unwrap(), state);
        assert_eq!(
            parse_state::<OngageState>(Some("{}")).unwrap(),
            OngageState::default()
        );
        assert!(parse_state::<OngageState>(Some(r#"{"version":1,"completed_lists":[]}"#)).is_err());
    }

    #[test]
    fn a_small_list_backfills_in_one_unbounded_search() {
        let now = at("2025-01-01T00:00:00Z");
        let plan = Plan::new(&list(10), &ListState::default(), &settings(None), now);
        let mut b = plan.batcher();
        let w = b.next_window().unwrap();
        assert_eq!((w.start, w.end), (at("2020-01-01T00:00:00Z"), now));
        assert_eq!(
            plan.searches(w),
            vec![SearchSpec::Range {
                field: DateField::Created,
                from: None,
                to: None
            }]
        );
    }

    #[test]
    fn a_big_list_backfills_in_three_month_windows_bounded_except_at_the_ends() {
        let now = at("2025-01-01T00:00:00Z");
        let plan = Plan::new(&list(200_000), &ListState::default(), &settings(None), now);
        let mut b = plan.batcher();
        let first = b.next_window().unwrap();
        assert_eq!(first.span(), TimeDelta::days(90));
        let bounds = |w| match plan.searches(w)[..] {
            [SearchSpec::Range { from, to, .. }] => (from, to),
            ref other => panic!("{other:?}"),
        };
        assert_eq!(bounds(first), (None, Some(first.end.timestamp())));
        b.complete(first).unwrap();
        let second = b.next_window().unwrap();
        assert_eq!(
            bounds(second),
            (Some(second.start.timestamp()), Some(second.end.timestamp()))
        );
        let mut last = second;
        b.complete(second).unwrap();
        while let Some(w) = b.next_window() {
            last = w;
            b.complete(w).unwrap();
        }
        assert_eq!(bounds(last), (Some(last.start.timestamp()), None));
    }

    #[test]
    fn a_resumed_walk_starts_at_its_last_completed_window_with_a_lower_bound() {
        let now = at("2025-01-01T00:00:00Z");
        let state = ListState {
            synced_through: None,
            walk: Some(Walk {
                started: at("2024-12-01T00:00:00Z"),
                resume_at: Some(at("2022-03-01T00:00:00Z")),
            }),
        };
        let plan = Plan::new(&list(300_000), &state, &settings(None), now);
        let w = plan.batcher().next_window().unwrap();
        assert_eq!(w.start, at("2022-03-01T00:00:00Z"));
        assert!(matches!(
            plan.searches(w)[..],
            [SearchSpec::Range { from: Some(_), .. }]
        ));
    }

    #[test]
    fn an_incremental_walk_reads_status_changes_since_the_last_walk_minus_the_lookback() {
        let now = at("2025-01-03T00:00:00Z");
        let state = ListState {
            synced_through: Some(at("2024-11-01T00:00:00Z")),
            walk: None,
        };
        let plan = Plan::new(&list(10), &state, &settings(None), now);
        let mut b = plan.batcher();
        let w = b.next_window().unwrap();
        assert_eq!((w.start, w.end), (at("2024-10-30T00:00:00Z"), now));
        assert_eq!(
            plan.searches(w),
            vec![SearchSpec::ChangedSince {
                from: w.start.timestamp()
            }]
        );
        // After a halving, the bounded first half needs one search per date.
        b.too_large(w, "timed out").unwrap();
        let half = b.next_window().unwrap();
        let specs = plan.searches(half);
        assert_eq!(specs.len(), DateField::ALL.len());
        assert!(specs.iter().all(|s| matches!(
            s,
            SearchSpec::Range {
                from: Some(_),
                to: Some(_),
                ..
            }
        )));
    }

    #[test]
    fn a_start_date_bounds_the_backfill() {
        let now = at("2025-01-01T00:00:00Z");
        let start = at("2024-06-01T00:00:00Z");
        let plan = Plan::new(
            &list(10),
            &ListState::default(),
            &settings(Some(start)),
            now,
        );
        let w = plan.batcher().next_window().unwrap();
        assert_eq!(
            plan.searches(w),
            vec![SearchSpec::Range {
                field: DateField::Created,
                from: Some(start.timestamp()),
                to: None
            }]
        );
    }
}
