//! One EveryAction sync: the reference lists in full, then the people-side tables through changed-entity
//! export jobs, built on the shared `sync` toolkit ([`TokenPager`], [`WindowBatcher`], [`run_job`],
//! [`CsvFile`]).
//!
//! # Lists (`activist_codes`, `survey_questions`, `events`, `event_types`, `codes`, `saved_lists`,
//! `users`, `custom_fields`)
//! - Small reference tables, read in full every sync: `$top` at the endpoint's maximum, then each
//!   `nextPageLink` followed exactly as given; `savedLists` also stops at an empty page. Each page is
//!   checked against the API's `count` (inside the client's retries). A checkpoint follows every page,
//!   holding the link to resume at and the ids the pass listed so far.
//! - **Deletions by difference**: the state keeps the ids the last complete pass listed; when a pass
//!   completes, ids it no longer lists are deleted (soft, in the destination). Nothing is truncated, so
//!   a pass that fails midway leaves every row in place (the next sync resumes the pass). Deletions are
//!   applied only when the pass was consistent: every page reported the same `count` and the pass saw
//!   that many distinct ids; otherwise (the list changed while it was read, so `$skip` may have shifted
//!   past a record) the ids are remembered and the next consistent pass deletes what is really gone.
//!   Archived activist codes and survey questions and cancelled events stay listed by the API, with
//!   their status: they are updated, not deleted.
//! - `users` answered with 403 (the key lacks the permission) is skipped with a warning; nothing is
//!   deleted then.
//!
//! # Exports (`contacts`, `contributions`, `contacts_activist_codes`, `contacts_survey_responses`)
//! - The sync's "now" is the API's clock (the `Date` header of `apiKeyProfiles`), so windows are in the
//!   time the API checks its 90-day limit in, whatever the local clock says.
//! - `dateChangedFrom` must lie within 90 days. **First sync**: the records changed in the last 90
//!   days (minus an hour of margin), or since the start date if that is later, with a warning naming
//!   what cannot be reached: records not changed since. The API's other bulk path, export jobs of a
//!   saved list, is not in the simulator this connector is tested against, so it is not used.
//!   **Incremental**: from the last walk's end minus an hour of overlap; a connection idle for more than
//!   90 days restarts at the limit, with a warning naming the gap (as does a walk resumed after the
//!   limit passed its start).
//! - One walk per resource from there to "now", in windows ([`WindowBatcher`]): normally one job; a job
//!   that ends in `Error`, does not complete within the job timeout, or whose rows disagree with its
//!   `exportedRecordCount` is tried again over half the window, down to an hour.
//! - A job is created with the fields of `fields/{resourceType}` (only selected columns; custom fields by
//!   id), `fileSizeKbLimit` and `includeInactive: true`, polled with doubling intervals ([`run_job`]),
//!   and its files are downloaded in order ([`CsvFile`]: header and width checked, a broken transfer
//!   downloaded again without repeating rows). Rows with `ChangeTypeID` 3 (Deleted) or 4 (Suppressed)
//!   become deletes; the others upserts.
//! - **Resume**: the state names the job of the current window, the files already downloaded and the
//!   rows read from them, checkpointed after every file. A sync that stops midway resumes at the next
//!   file of the same job (the job is polled again for its URLs: signed URLs are not kept in state). A
//!   job the API no longer knows, or whose files are gone or expired (403, 404, 410), is created again
//!   for its window (at most three times in a row).
//!
//! # Not here
//! - No `sync_errors` table: nothing is skipped. A page or file that cannot be read is retried and
//!   then fails the sync, which resumes at its last checkpoint; unreadable values are NULL with one
//!   warning per column (the kit's policy).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::api::{job_body, refused_status, EveryActionApi, JobSpec};
use super::config::Settings;
use super::models::{self, JobState, ListEndpoint, Resource};
use crate::http::{Download, HttpError};
use crate::sdk::{key_row, Emitter, Error};
use crate::sync::{
    resume_job, run_job, CsvFile, ExportJob, JobError, JobOutput, JobStatus, PagerError, Resume,
    TokenPager, TokenPagerConfig, TokenRequest, Walk, WalkState, Window, WindowBatcher,
    WindowConfig,
};

/// How far back `dateChangedFrom` may reach.
pub const RETENTION: TimeDelta = TimeDelta::days(90);
/// Kept inside the retention, so a job created a little after the clock was read is still accepted.
pub const RETENTION_MARGIN: TimeDelta = TimeDelta::hours(1);
/// How far before the last walk's end an incremental walk starts again.
pub const OVERLAP: TimeDelta = TimeDelta::hours(1);
/// The shortest window a failing job is halved to.
pub const MIN_WINDOW: TimeDelta = TimeDelta::hours(1);
/// How many times in a row a window's job is created again after its files went missing.
pub const RECREATE_ATTEMPTS: u32 = 3;

/// The connector's state: per list table and per export table, keyed by table name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EveryActionState {
    /// List tables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lists: BTreeMap<String, ListState>,
    /// Export tables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exports: BTreeMap<String, ExportState>,
}

impl crate::sdk::ConnectorState for EveryActionState {
    const VERSION: u32 = 1;
}

/// Where a list table stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListState {
    /// The ids the last complete pass listed: the next complete pass deletes those it does not list.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub known: BTreeSet<u64>,
    /// The pass in progress, if a sync stopped in the middle of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<ListPass>,
}

/// A list pass in progress.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListPass {
    /// The `nextPageLink` to resume at, exactly as the API gave it.
    pub next: String,
    /// The ids listed so far.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub seen: BTreeSet<u64>,
    /// The `count` of the pass's first page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// Where an export table stands: the walk of windows (the kit's), and the job of the window starting
/// at the walk's resume point, once it completed on the API's side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportState {
    /// Changes synced for good, and the walk in progress.
    #[serde(default)]
    pub windows: WalkState,
    /// How far the current window's job has been read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobProgress>,
}

/// How far the current window's job has been read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobProgress {
    /// `exportJobId`.
    pub id: u64,
    /// The end of the window it exports (it starts at the walk's `resume_at`).
    pub window_end: DateTime<Utc>,
    /// Files downloaded and emitted: the next sync continues with file `files_done` (0-based).
    pub files_done: usize,
    /// Rows read from those files (checked against `exportedRecordCount` at the end).
    pub rows: u64,
}

/// One file of a completed job. `Debug` leaves the signed URL out (it lands in logs and errors).
#[derive(Clone)]
pub struct ExportFile {
    job: u64,
    index: usize,
    count: usize,
    url: String,
}

impl std::fmt::Debug for ExportFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "file {} of {} of export job {}",
            self.index + 1,
            self.count,
            self.job
        )
    }
}

/// One changed-entity export job: create, poll, download.
struct ChangedEntityJob<'a> {
    api: &'a EveryActionApi,
    spec: JobSpec,
    /// A job created by an earlier sync, whose output is read instead of creating one.
    existing: Option<u64>,
}

impl ChangedEntityJob<'_> {
    /// The job's id, when it was created by an earlier sync.
    fn id(&self) -> Option<u64> {
        self.existing
    }
}

#[async_trait]
impl ExportJob for ChangedEntityJob<'_> {
    type Handle = u64;
    type File = ExportFile;

    fn describe(&self) -> String {
        let window = Window {
            start: self.spec.from,
            end: self.spec.to,
        };
        match self.id() {
            Some(id) => format!(
                "{} export job {id} of the changes in {window}",
                self.spec.resource.api_name()
            ),
            None => format!(
                "{} export of the changes in {window}",
                self.spec.resource.api_name()
            ),
        }
    }

    async fn create(&self) -> Result<u64, HttpError> {
        let answer = self.api.create_job(job_body(&self.spec)).await?;
        let id = models::job_id(&answer).ok_or_else(|| HttpError::Decode {
            endpoint: crate::http::Endpoint {
                method: "POST".into(),
                path: "changedEntityExportJobs".into(),
            },
            message: "the created job has no exportJobId".into(),
        })?;
        Ok(id)
    }

    async fn poll(&self, id: &u64) -> Result<JobStatus<ExportFile>, HttpError> {
        let job = self.api.job(*id).await?;
        Ok(match models::job_state(&job) {
            JobState::Running => JobStatus::Pending,
            JobState::Failed(reason) => JobStatus::Failed(reason),
            JobState::Complete { files, records } => {
                let count = files.len();
                JobStatus::Ready(JobOutput {
                    files: files
                        .into_iter()
                        .enumerate()
                        .map(|(index, url)| ExportFile {
                            job: *id,
                            index,
                            count,
                            url,
                        })
                        .collect(),
                    records,
                })
            }
        })
    }

    async fn download(&self, file: &ExportFile) -> Result<Download, HttpError> {
        self.api.download(&file.url).await
    }
}

/// Why a window was not completed.
enum WindowFailure {
    /// The job failed or timed out, or its output disagrees with its count: halve the window.
    Shrink(String),
    /// The job or its files are gone (an expired link, a job the API forgot): create it again.
    Recreate(String),
    /// Anything else ends the sync.
    Fatal(Error),
}

impl From<Error> for WindowFailure {
    fn from(e: Error) -> Self {
        WindowFailure::Fatal(e)
    }
}

/// Files (and jobs) that are gone rather than failing: blob storage answers 403 to an expired
/// signature, the simulator 410; the API 404s a job it no longer knows.
fn is_gone(e: &HttpError) -> bool {
    matches!(refused_status(e), Some(403 | 404 | 410))
}

/// A failure of creating or polling a job.
fn job_failure(e: JobError) -> WindowFailure {
    match &e {
        JobError::Failed { .. } | JobError::TimedOut { .. } | JobError::Parse { .. } => {
            WindowFailure::Shrink(e.to_string())
        }
        JobError::Http { source, .. } if source.is_too_large() => {
            WindowFailure::Shrink(e.to_string())
        }
        JobError::Http { source, .. } if refused_status(source) == Some(404) => {
            WindowFailure::Recreate(e.to_string())
        }
        JobError::Http { .. } => WindowFailure::Fatal(e.into()),
    }
}

/// A failure of reading a file (after the file's own re-downloads).
fn file_failure(e: JobError) -> WindowFailure {
    match &e {
        JobError::Http { source, .. } if is_gone(source) => WindowFailure::Recreate(e.to_string()),
        JobError::Parse { .. } => WindowFailure::Recreate(e.to_string()),
        _ => WindowFailure::Fatal(e.into()),
    }
}

/// A sync in progress.
struct Run<'a> {
    api: &'a EveryActionApi,
    settings: &'a Settings,
    state: EveryActionState,
}

/// Syncs every selected table into `out`, starting from `state`.
pub async fn run(
    api: &EveryActionApi,
    settings: &Settings,
    state: EveryActionState,
    out: &mut Emitter,
) -> Result<(), Error> {
    let mut run = Run {
        api,
        settings,
        state,
    };
    for endpoint in ListEndpoint::ALL {
        if out.is_selected(endpoint.table()) {
            run.list(endpoint, out).await?;
            out.report_issues().await?;
            out.checkpoint(&run.state).await?;
        }
    }
    let resources: Vec<Resource> = Resource::ALL
        .into_iter()
        .filter(|r| out.is_selected(r.table()))
        .collect();
    if !resources.is_empty() {
        let now = run.server_now().await?;
        for resource in resources {
            run.export(resource, now, out).await?;
            out.report_issues().await?;
            out.checkpoint(&run.state).await?;
        }
    }
    out.checkpoint(&run.state).await
}

impl Run<'_> {
    /// The API's clock: the `Date` header of `apiKeyProfiles`, else the local clock.
    async fn server_now(&self) -> Result<DateTime<Utc>, Error> {
        let (_, server_time) = self.api.profile().await?;
        Ok(server_time.unwrap_or_else(|| {
            tracing::info!("the api sent no Date header; export windows use the local clock");
            self.api.http().clock().now_utc()
        }))
    }

    fn list_state(&mut self, endpoint: ListEndpoint) -> &mut ListState {
        self.state
            .lists
            .entry(endpoint.table().to_owned())
            .or_default()
    }

    /// One list table: a full pass, resumed where a stopped sync left it.
    async fn list(&mut self, endpoint: ListEndpoint, out: &mut Emitter) -> Result<(), Error> {
        let Some(page_size) = endpoint.page_size() else {
            let records = self.api.array(endpoint).await?;
            let count = records.len() as u64;
            let seen = emit_list(endpoint, &records, BTreeSet::new(), out).await?;
            return self
                .finish_pass(endpoint, seen, Some(count), Some(count), out)
                .await;
        };
        let table = endpoint.table();
        let api = self.api;
        let resumed = self.list_state(endpoint).pass.take().filter(|pass| {
            let ours = api.is_api_link(&pass.next);
            if !ours {
                tracing::info!(
                    table,
                    "the saved page link is not on the configured api host; the pass starts again"
                );
            }
            ours
        });
        let (token, mut seen, mut first_count) = match resumed {
            Some(pass) => (Some(pass.next), pass.seen, pass.count),
            None => (None, BTreeSet::new(), None),
        };
        let resuming = token.is_some();
        let fetch = move |request: TokenRequest| async move {
            api.page(endpoint, request.token.as_deref()).await
        };
        let mut pager = TokenPager::new(
            format!("{table} pages"),
            token,
            fetch,
            TokenPagerConfig {
                limits: vec![page_size],
                stop_on_empty: endpoint.stop_on_empty(),
                ..TokenPagerConfig::default()
            },
        );
        let mut last_count = None;
        while let Some(page) = match pager.next().await {
            Ok(page) => page,
            Err(PagerError::Fetch { source, .. })
                if endpoint == ListEndpoint::Users && refused_status(&source) == Some(403) =>
            {
                let message = format!(
                    "{table}: the API key may not read users (403), so the table was skipped; an EveryAction administrator can grant the key that permission ({source})"
                );
                tracing::warn!("{message}");
                return out.warning(&message).await;
            }
            Err(e) => return Err(e.into()),
        } {
            let count = page.total;
            if first_count.is_none() && !resuming {
                first_count = count;
            }
            last_count = count;
            seen = emit_list(endpoint, &page.records, seen, out).await?;
            match page.resume {
                Resume::At(next) => {
                    self.list_state(endpoint).pass = Some(ListPass {
                        next,
                        seen: seen.clone(),
                        count: first_count,
                    });
                    out.checkpoint(&self.state).await?;
                    if out.table_full(table) {
                        return Ok(()); // a `debug --limit` run: the pass resumes here next sync
                    }
                }
                Resume::Complete => break,
            }
        }
        self.finish_pass(endpoint, seen, first_count, last_count, out)
            .await
    }

    /// Ends a complete pass: deletes the ids the last pass listed and this one did not, when the pass
    /// was consistent (see the module docs).
    async fn finish_pass(
        &mut self,
        endpoint: ListEndpoint,
        seen: BTreeSet<u64>,
        first_count: Option<u64>,
        last_count: Option<u64>,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let table = endpoint.table();
        let consistent = first_count.is_some()
            && first_count == last_count
            && last_count == Some(seen.len() as u64);
        let state = self.list_state(endpoint);
        state.pass = None;
        if consistent {
            let gone: Vec<u64> = state.known.difference(&seen).copied().collect();
            state.known = seen;
            for id in &gone {
                out.delete(table, &key_row(endpoint.key(), id.to_string()))
                    .await?;
            }
            tracing::info!(table, deleted = gone.len(), "list pass complete");
        } else {
            tracing::info!(
                table,
                ?first_count,
                ?last_count,
                seen = seen.len(),
                "the list changed while it was read; its deletions wait for the next pass"
            );
            state.known.extend(seen);
        }
        Ok(())
    }

    fn export_state(&mut self, resource: Resource) -> &mut ExportState {
        self.state
            .exports
            .entry(resource.table().to_owned())
            .or_default()
    }

    /// The walk in progress of `resource` (started by [`Run::export`]): the instant it began and
    /// where the next window starts.
    fn walk(&mut self, resource: Resource) -> Result<(DateTime<Utc>, DateTime<Utc>), Error> {
        self.export_state(resource)
            .windows
            .walk
            .as_ref()
            .map(|w| (w.started, w.resume_at.unwrap_or(w.started)))
            .ok_or_else(|| Error::Connector(format!("internal: {} has no walk", resource.table())))
    }

    /// Every window of `resource`'s walk before `end` is done, its job read.
    fn window_done(&mut self, resource: Resource, end: DateTime<Utc>) {
        let state = self.export_state(resource);
        state.windows.completed(end);
        state.job = None;
    }

    /// Starts a walk for `resource` if none is in progress; `false` when there is nothing to export.
    async fn start_walk(
        &mut self,
        resource: Resource,
        now: DateTime<Utc>,
        out: &mut Emitter,
    ) -> Result<bool, Error> {
        let table = resource.table();
        let floor = now - RETENTION + RETENTION_MARGIN;
        let start_date = self.settings.start_date;
        let state = self.export_state(resource);
        if state.windows.walk.is_some() {
            return Ok(true);
        }
        let (start, warning) = match state.windows.synced_through {
            None => {
                let start = start_date.map_or(floor, |s| s.max(floor));
                let warning = start_date.is_none_or(|s| s < floor).then(|| format!(
                    "{table}: EveryAction's changed-entity exports reach back 90 days, so this first sync exports the records changed since {}; records not changed since then are synced only once they change (EveryAction's saved-list export jobs could reach them, but this connector does not use them)",
                    start.to_rfc3339()
                ));
                (start, warning)
            }
            Some(done) => {
                let from = done - OVERLAP;
                let warning = (from < floor).then(|| format!(
                    "{table}: the last sync ended at {} and EveryAction's changed-entity exports reach back only 90 days: changes between then and {} cannot be exported, so records changed only in that time stay stale until they change again",
                    done.to_rfc3339(),
                    floor.to_rfc3339()
                ));
                (from.max(floor), warning)
            }
        };
        if start >= now {
            return Ok(false);
        }
        state.windows.walk = Some(Walk {
            started: now,
            resume_at: Some(start),
        });
        state.job = None;
        if let Some(warning) = warning {
            tracing::warn!("{warning}");
            out.warning(&warning).await?;
        }
        Ok(true)
    }

    /// The fields to ask for: every standard field whose column is selected (core fields come
    /// anyway) and every custom field, by id.
    async fn fields(
        &self,
        resource: Resource,
        out: &mut Emitter,
    ) -> Result<(Vec<String>, Vec<u64>), Error> {
        let answer = self.api.fields(resource).await?;
        let (mut standard, mut custom) = (Vec::new(), Vec::new());
        for field in models::export_fields(&answer) {
            if !(field.core || out.is_column_selected(resource.table(), &field.name)) {
                continue;
            }
            match field.custom_id {
                Some(id) => custom.push(id),
                None => standard.push(field.name),
            }
        }
        Ok((standard, custom))
    }

    /// One export table: its walk, resumed where a stopped sync left it.
    async fn export(
        &mut self,
        resource: Resource,
        now: DateTime<Utc>,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        if !self.start_walk(resource, now, out).await? {
            return Ok(());
        }
        let fields = self.fields(resource, out).await?;
        let (end, resume_at) = self.walk(resource)?;
        tracing::info!(table = resource.table(), from = %resume_at, to = %end, "exporting changes");
        if let Some(progress) = self.export_state(resource).job.clone() {
            let window = Window {
                start: resume_at,
                end: progress.window_end,
            };
            match self
                .window(resource, window, Some(progress), &fields, out)
                .await
            {
                Ok(true) => {
                    self.window_done(resource, window.end);
                    out.checkpoint(&self.state).await?;
                }
                Ok(false) => return Ok(()),
                Err(WindowFailure::Fatal(e)) => return Err(e),
                Err(WindowFailure::Shrink(reason) | WindowFailure::Recreate(reason)) => {
                    tracing::info!(%reason, "the saved job cannot be finished; its window is exported again");
                    self.export_state(resource).job = None;
                }
            }
        }
        // A walk resumed long after it began may start before what a new job can reach.
        let floor = now - RETENTION + RETENTION_MARGIN;
        let (end, resume_at) = self.walk(resource)?;
        if resume_at < floor {
            let warning = format!(
                "{}: this walk was resumed after EveryAction's 90-day export limit passed its start: changes between {} and {} cannot be exported, so records changed only in that time stay stale until they change again",
                resource.table(),
                resume_at.to_rfc3339(),
                floor.to_rfc3339()
            );
            tracing::warn!("{warning}");
            out.warning(&warning).await?;
            self.export_state(resource)
                .windows
                .completed(floor.min(end));
        }
        let (end, resume_at) = self.walk(resource)?;
        let config = WindowConfig {
            initial: (end - resume_at).max(TimeDelta::seconds(1)),
            min: MIN_WINDOW,
            ..WindowConfig::default()
        };
        let mut windows = WindowBatcher::backfill(resume_at, end, config);
        let mut recreated = 0;
        while let Some(window) = windows.next_window() {
            match self.window(resource, window, None, &fields, out).await {
                Ok(true) => {
                    recreated = 0;
                    let done = windows.complete(window)?;
                    self.window_done(resource, done);
                    out.checkpoint(&self.state).await?;
                }
                Ok(false) => return Ok(()),
                Err(WindowFailure::Shrink(reason)) => {
                    self.export_state(resource).job = None;
                    windows.too_large(window, &reason).map_err(|e| {
                        Error::Unavailable(format!("{} cannot be exported: {e}", resource.table()))
                    })?;
                }
                Err(WindowFailure::Recreate(reason)) => {
                    self.export_state(resource).job = None;
                    recreated += 1;
                    if recreated > RECREATE_ATTEMPTS {
                        return Err(Error::Unavailable(format!(
                            "{}: the export of {window} was created {recreated} times and its files went missing each time: {reason}",
                            resource.table()
                        )));
                    }
                    tracing::info!(%reason, %window, "creating the export job again");
                }
                Err(WindowFailure::Fatal(e)) => return Err(e),
            }
        }
        let state = self.export_state(resource);
        state.windows.finish();
        state.job = None;
        Ok(())
    }

    /// Exports one window: runs (or attaches to) its job and emits every file from the first not yet
    /// read, checkpointing after each. `Ok(false)`: stopped at a `debug --limit`.
    async fn window(
        &mut self,
        resource: Resource,
        window: Window,
        saved: Option<JobProgress>,
        (fields, custom_fields): &(Vec<String>, Vec<u64>),
        out: &mut Emitter,
    ) -> Result<bool, WindowFailure> {
        let table = resource.table();
        let job = ChangedEntityJob {
            api: self.api,
            spec: JobSpec {
                resource,
                from: window.start,
                to: window.end,
                fields: fields.clone(),
                custom_fields: custom_fields.clone(),
                file_size_kb: self.settings.file_size_kb_limit,
            },
            existing: saved.as_ref().map(|p| p.id),
        };
        let clock = self.api.http().clock();
        let finished = match job.id() {
            Some(id) => resume_job(&job, id, &self.settings.jobs, clock).await,
            None => run_job(&job, &self.settings.jobs, clock).await,
        }
        .map_err(job_failure)?;
        let output = finished.output;
        let mut progress = saved.unwrap_or(JobProgress {
            id: finished.handle,
            window_end: window.end,
            files_done: 0,
            rows: 0,
        });
        if progress.files_done > output.files.len() {
            return Err(WindowFailure::Recreate(format!(
                "{} lists {} files, fewer than the {} already read",
                job.describe(),
                output.files.len(),
                progress.files_done
            )));
        }
        self.export_state(resource).job = Some(progress.clone());
        out.checkpoint(&self.state).await?;
        let (spec, key) = (resource.spec(), resource.key());
        for file in &output.files[progress.files_done..] {
            if out.table_full(table) {
                return Ok(false); // a `debug --limit` run: the next sync reads the next file
            }
            let mut rows = CsvFile::new(&job, file, resource.csv_check());
            while let Some(row) = rows.next().await {
                let record = row.map_err(file_failure)?;
                let Some(row) = spec.row(record.view(), &[], out.issues()) else {
                    continue;
                };
                if models::is_removal(record.view()) {
                    out.delete(table, &models::key_of(&row, key)).await?;
                } else {
                    out.upsert(table, &row).await?;
                }
            }
            progress.files_done += 1;
            progress.rows += rows.rows();
            self.export_state(resource).job = Some(progress.clone());
            out.checkpoint(&self.state).await?;
        }
        output
            .check_count(&job.describe(), progress.rows)
            .map_err(|e| WindowFailure::Shrink(e.to_string()))?;
        tracing::info!(table, %window, files = output.files.len(), rows = progress.rows, "window exported");
        Ok(true)
    }
}

/// Upserts the rows of `records`, adding their ids to `seen`.
async fn emit_list(
    endpoint: ListEndpoint,
    records: &[Json],
    mut seen: BTreeSet<u64>,
    out: &mut Emitter,
) -> Result<BTreeSet<u64>, Error> {
    let (spec, table) = (endpoint.spec(), endpoint.table());
    for record in records {
        let Some(row) = spec.row(record, &[], out.issues()) else {
            continue;
        };
        if let Some(id) = models::list_id(&row, endpoint.key()) {
            seen.insert(id);
        }
        out.upsert(table, &row).await?;
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::state::{parse_state, serialize_state};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn state_golden() {
        let state = EveryActionState {
            lists: BTreeMap::from([
                (
                    "codes".to_owned(),
                    ListState {
                        known: BTreeSet::from([1001, 1002, 1005]),
                        pass: None,
                    },
                ),
                (
                    "events".to_owned(),
                    ListState {
                        known: BTreeSet::from([7, 8]),
                        pass: Some(ListPass {
                            next: "https://api.securevan.com/v4/events?$top=50&$expand=shifts%2Clocations&$skip=50".to_owned(),
                            seen: BTreeSet::from([7]),
                            count: Some(130),
                        }),
                    },
                ),
            ]),
            exports: BTreeMap::from([
                (
                    "contacts".to_owned(),
                    ExportState {
                        windows: WalkState {
                            synced_through: Some(at("2025-01-01T00:00:00Z")),
                            walk: None,
                        },
                        job: None,
                    },
                ),
                (
                    "contributions".to_owned(),
                    ExportState {
                        windows: WalkState {
                            synced_through: None,
                            walk: Some(Walk {
                                started: at("2025-01-01T00:00:00Z"),
                                resume_at: Some(at("2024-10-03T01:00:00Z")),
                            }),
                        },
                        job: Some(JobProgress {
                            id: 2_170_181_236,
                            window_end: at("2024-11-17T00:30:00Z"),
                            files_done: 2,
                            rows: 812,
                        }),
                    },
                ),
            ]),
        };
        let golden = r#"{"version":1,"lists":{"codes":{"known":[1001,1002,1005]},"events":{"known":[7,8],"pass":{"next":"https://api.securevan.com/v4/events?$top=50&$expand=shifts%2Clocations&$skip=50","seen":[7],"count":130}}},"exports":{"contacts":{"windows":{"synced_through":"2025-01-01T00:00:00Z"}},"contributions":{"windows":{"walk":{"started":"2025-01-01T00:00:00Z","resume_at":"2024-10-03T01:00:00Z"}},"job":{"id":2170181236,"window_end":"2024-11-17T00:30:00Z","files_done":2,"rows":812}}}}"#;
        assert_eq!(serialize_state(&state).unwrap(), golden);
        assert_eq!(
            parse_state::<EveryActionState>(Some(golden)).unwrap(),
            state
        );
        assert_eq!(
            parse_state::<EveryActionState>(Some("{}")).unwrap(),
            EveryActionState::default()
        );
        assert_eq!(
            serialize_state(&EveryActionState::default()).unwrap(),
            r#"{"version":1}"#
        );
        assert!(
            parse_state::<EveryActionState>(Some(r#"{"version":1,"cursor":3}"#)).is_err(),
            "unknown keys are refused"
        );
    }

    #[test]
    fn a_file_names_its_job_but_never_its_signed_url() {
        let file = ExportFile {
            job: 42,
            index: 2,
            count: 5,
            url: "https://blob.example/x.csv?sig=secret".into(),
        };
        let shown = format!("{file:?}");
        assert_eq!(shown, "file 3 of 5 of export job 42");
    }

    #[test]
    fn gone_files_are_recreated_failed_jobs_shrink_outages_end_the_sync() {
        let refused = |status| HttpError::Permanent {
            endpoint: crate::http::Endpoint {
                method: "GET".into(),
                path: "/x".into(),
            },
            status,
            hint: String::new(),
            detail: String::new(),
        };
        let http = |source| JobError::Http {
            job: "j".into(),
            source: Box::new(source),
        };
        for status in [403, 404, 410] {
            assert!(matches!(
                file_failure(http(refused(status))),
                WindowFailure::Recreate(_)
            ));
        }
        assert!(matches!(
            file_failure(http(refused(400))),
            WindowFailure::Fatal(_)
        ));
        assert!(matches!(
            job_failure(JobError::Failed {
                job: "j".into(),
                reason: "Error".into()
            }),
            WindowFailure::Shrink(_)
        ));
        assert!(matches!(
            job_failure(http(refused(404))),
            WindowFailure::Recreate(_)
        ));
        assert!(matches!(
            job_failure(http(refused(401))),
            WindowFailure::Fatal(_)
        ));
    }
}
