//! Changed Entity Export Jobs: accepting a request, the `Pending` → `InProcess` →
//! `Complete`/`Error` state machine, and the job's JSON.
//!
//! A job's status advances with the polls of `GET /changedEntityExportJobs/{id}` (not with
//! time): the first [`pending_polls`](super::ExportBehaviour::pending_polls) answer `Pending`,
//! the next [`in_process_polls`](super::ExportBehaviour::in_process_polls) `InProcess`, and
//! the one after that completes the job. **Completion fixes the output**: the rows are
//! selected from, and rendered as, the data current at that poll (so a record changed between
//! the job's creation and its completion is exported in its new version), the files are
//! split and the download links start their life. Later `advance`s do not change a completed
//! job's files.
//!
//! Choices where the docs are silent: a missing `dateChangedTo` becomes the simulated time the
//! job was created; `dateChangedFrom` exactly 90 days back is accepted; dates may be RFC 3339
//! (`Z` or an offset), a local date-time or a local date (parsons sends `2021-10-10`); unknown
//! body properties are ignored and left out of the `201` answer, as is
//! `requestedCustomFieldIds` on resources without custom fields; `excludeChangesFromSelf` and
//! `contactMode` are accepted and echoed but select nothing (the simulated changes are never
//! the API user's, and every record is a person); the job JSON writes `includeInactive` and
//! `excludeChangesFromSelf` as strings, as the docs' example does; jobs are visible only to
//! keys of the database they were created in.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::simulator::rng;

use super::config::ExportBehaviour;
use super::dataset::{ticks_of, Entity, EveryActionData, Mode, ModeData};
use super::errors::ApiError;
use super::export::{custom_column_name, Column, ExportSpec, Plan, Resource};
use super::records::{fmt_local, fmt_precise, offset_of};

/// Export job ids start here.
const FIRST_JOB_ID: u64 = 2_170_181_229;

/// `jobStatus` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum JobStatus {
    /// Accepted, not started.
    Pending,
    /// Running.
    InProcess,
    /// Files ready.
    Complete,
    /// Failed (scripted, or the output exceeded the configured maximum).
    Error,
}

/// How a finished job ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Complete {
        plan: Arc<Plan>,
        completed_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    },
    Error {
        message: String,
        code: String,
    },
}

/// One accepted job.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) id: u64,
    /// 1-based creation number over both databases.
    pub(crate) number: u64,
    pub(crate) spec: ExportSpec,
    pub(crate) created_at: DateTime<Utc>,
    date_from: String,
    date_to: String,
    exclude_changes_from_self: bool,
    contact_mode: u8,
    limit_bytes: u64,
    offset_minutes: i32,
    fails: bool,
    polls: AtomicU32,
    outcome: OnceCell<Outcome>,
}

/// A file of a completed job, as listed in the job JSON.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FileJson {
    download_url: String,
    date_expired: String,
}

/// The job JSON of `GET /changedEntityExportJobs/{id}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct JobJson {
    export_job_id: u64,
    job_status: JobStatus,
    date_changed_from: String,
    date_changed_to: String,
    files: Vec<FileJson>,
    message: String,
    code: Option<String>,
    exported_record_count: u64,
    /// A string in the docs' example ("true"), kept that way.
    exclude_changes_from_self: String,
    contact_mode: u8,
    /// A string in the docs' example ("false"), kept that way.
    include_inactive: String,
}

/// The `201 Created` answer: the id plus every accepted property.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AcceptedJson {
    export_job_id: u64,
    job_status: JobStatus,
    resource_type: &'static str,
    date_changed_from: String,
    date_changed_to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_fields: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_custom_field_ids: Option<Vec<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requested_ids: Option<Vec<u64>>,
    file_size_kb_limit: u64,
    include_inactive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    exclude_changes_from_self: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_mode: Option<u8>,
    files: Vec<FileJson>,
    message: &'static str,
    code: Option<String>,
    exported_record_count: u64,
}

/// A name a file can be downloaded under: `{jobId}_{n}_{signature}.csv`.
pub(crate) fn file_name(seed: u64, job: u64, file: usize) -> String {
    let signature = rng::hash(seed, &[rng::tag(b"file"), job, file as u64]);
    format!("{job}_{file}_{signature:016x}.csv")
}

/// The job and file a download name points at, if the signature is right.
pub(crate) fn parse_file_name(seed: u64, name: &str) -> Option<(u64, usize)> {
    let stem = name.strip_suffix(".csv")?;
    let mut parts = stem.split('_');
    let job = parts.next()?.parse().ok()?;
    let file = parts.next()?.parse().ok()?;
    (parts.next().is_some() && file_name(seed, job, file) == name).then_some((job, file))
}

fn invalid(property: &str, text: impl Into<String>) -> ApiError {
    ApiError::invalid(text).with_properties([property.to_owned()])
}

/// Reads a `dateChangedFrom`/`dateChangedTo`: RFC 3339 with `Z` or an offset, a local
/// `YYYY-MM-DDThh:mm:ss[.f]`, or a local date.
fn parse_date(
    value: &Value,
    offset: FixedOffset,
    property: &str,
) -> Result<DateTime<Utc>, ApiError> {
    let bad = || invalid(property, format!("{property} is not a valid date"));
    let text = value.as_str().ok_or_else(bad)?.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map_err(|_| bad())?;
    offset
        .from_local_datetime(&local)
        .single()
        .map(|time| time.with_timezone(&Utc))
        .ok_or_else(bad)
}

fn string_list(body: &Value, property: &str) -> Result<Option<Vec<String>>, ApiError> {
    match body.get(property) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(n, item)| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(&format!("{property}[{n}]"), "a string is required"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid(property, format!("{property} must be an array"))),
    }
}

fn id_list(body: &Value, property: &str) -> Result<Option<Vec<u64>>, ApiError> {
    match body.get(property) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(n, item)| {
                item.as_u64()
                    .or_else(|| item.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| {
                        invalid(&format!("{property}[{n}]"), "an integer id is required")
                    })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid(property, format!("{property} must be an array"))),
    }
}

fn flag(body: &Value, property: &str) -> Result<Option<bool>, ApiError> {
    match body.get(property) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(Value::String(text)) if text.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(text)) if text.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(invalid(
            property,
            format!("{property} must be true or false"),
        )),
    }
}

/// Everything needed to accept a job.
pub(crate) struct Acceptance<'a> {
    pub(crate) data: &'a ModeData,
    pub(crate) now: DateTime<Utc>,
    pub(crate) behaviour: &'a ExportBehaviour,
    pub(crate) number: u64,
}

impl Acceptance<'_> {
    /// Validates a `POST /changedEntityExportJobs` body and builds the job; the second value
    /// is the `201` body.
    pub(crate) fn accept(&self, body: &Value) -> Result<(Job, Value), ApiError> {
        if !body.is_object() {
            return Err(ApiError::invalid("The request body must be a JSON object"));
        }
        let data = self.data;
        let offset = offset_of(data.offset());
        let resource_name = body
            .get("resourceType")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("resourceType", "resourceType is required"))?;
        let resource = Resource::from_name(resource_name).ok_or_else(|| {
            invalid(
                "resourceType",
                format!("'{resource_name}' is not an available resourceType"),
            )
        })?;
        let from = match body.get("dateChangedFrom") {
            None | Some(Value::Null) => {
                return Err(invalid("dateChangedFrom", "dateChangedFrom is required"))
            }
            Some(value) => parse_date(value, offset, "dateChangedFrom")?,
        };
        let retention = TimeDelta::from_std(self.behaviour.retention).unwrap_or(TimeDelta::MAX);
        if from < self.now - retention {
            let days = self.behaviour.retention.as_secs() / 86_400;
            return Err(invalid(
                "dateChangedFrom",
                format!("dateChangedFrom must be within the last {days} days"),
            ));
        }
        if from > self.now {
            return Err(invalid(
                "dateChangedFrom",
                "dateChangedFrom cannot be in the future",
            ));
        }
        let to = match body.get("dateChangedTo") {
            None | Some(Value::Null) => self.now,
            Some(value) => parse_date(value, offset, "dateChangedTo")?,
        };
        if to < from {
            return Err(
                ApiError::invalid("dateChangedTo must come after dateChangedFrom")
                    .with_properties(["dateChangedFrom".to_owned(), "dateChangedTo".to_owned()]),
            );
        }
        let limit_kb = match body.get("fileSizeKbLimit") {
            None | Some(Value::Null) => self.behaviour.default_file_size_kb_limit,
            Some(value) => value.as_u64().filter(|kb| *kb >= 1).ok_or_else(|| {
                invalid(
                    "fileSizeKbLimit",
                    "fileSizeKbLimit must be a positive integer",
                )
            })?,
        };
        let include_inactive = flag(body, "includeInactive")?;
        let exclude_changes_from_self = flag(body, "excludeChangesFromSelf")?;
        let contact_mode = match body.get("contactMode") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                value
                    .as_u64()
                    .filter(|mode| (1..=3).contains(mode))
                    .map(|mode| mode as u8)
                    .ok_or_else(|| invalid("contactMode", "contactMode must be 1, 2 or 3"))?,
            ),
        };

        let custom = resource.custom_fields(data);
        let mut columns: Vec<Column> = Vec::new();
        let requested_fields = string_list(body, "requestedFields")?;
        let mut wanted_standard = Vec::new();
        let mut wanted_custom = Vec::new();
        for (n, name) in requested_fields.iter().flatten().enumerate() {
            if let Some(field) = resource
                .fields()
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
            {
                wanted_standard.push(field.name);
            } else if let Some(spec) = custom
                .iter()
                .find(|c| custom_column_name(c.id).eq_ignore_ascii_case(name))
            {
                wanted_custom.push(*spec);
            } else {
                return Err(invalid(
                    &format!("requestedFields[{n}]"),
                    format!("'{name}' is not a field of {}", resource.name()),
                ));
            }
        }
        let requested_custom = match id_list(body, "requestedCustomFieldIds")? {
            // Resources without custom fields do not accept the property: it is left out of
            // the answer, which is how the API says "not accepted".
            Some(_) if custom.is_empty() => None,
            Some(ids) => {
                for (n, id) in ids.iter().enumerate() {
                    let spec = custom.iter().find(|c| c.id == *id).ok_or_else(|| {
                        invalid(
                            &format!("requestedCustomFieldIds[{n}]"),
                            format!("{id} is not a custom field of {}", resource.name()),
                        )
                    })?;
                    wanted_custom.push(*spec);
                }
                Some(ids)
            }
            None => None,
        };
        for field in resource.fields() {
            if field.core || wanted_standard.contains(&field.name) {
                columns.push(Column::Standard(*field));
            }
        }
        for spec in wanted_custom {
            if !columns.contains(&Column::Custom(spec)) {
                columns.push(Column::Custom(spec));
            }
        }

        let requested_ids = id_list(body, "requestedIds")?;
        let entity = match resource {
            Resource::Contributions => Entity::Contribution,
            _ => Entity::Contact,
        };
        let mut requested: Vec<u64> = requested_ids
            .iter()
            .flatten()
            .filter_map(|id| data.index_of(entity, *id))
            .collect();
        requested.sort_unstable();
        requested.dedup();

        let id = FIRST_JOB_ID + (self.number - 1) * 7;
        let job = Job {
            id,
            number: self.number,
            spec: ExportSpec {
                mode: data.mode(),
                resource,
                from: ticks_of(from),
                to: ticks_of(to),
                include_inactive: include_inactive.unwrap_or(false),
                columns,
                requested,
            },
            created_at: self.now,
            date_from: fmt_local(data.offset(), ticks_of(from)),
            date_to: fmt_local(data.offset(), ticks_of(to)),
            exclude_changes_from_self: exclude_changes_from_self.unwrap_or(false),
            contact_mode: contact_mode.unwrap_or(3),
            limit_bytes: limit_kb.saturating_mul(1024),
            offset_minutes: data.offset(),
            fails: self.behaviour.fail_jobs.contains(&self.number),
            polls: AtomicU32::new(0),
            outcome: OnceCell::new(),
        };
        let accepted = AcceptedJson {
            export_job_id: id,
            job_status: JobStatus::Pending,
            resource_type: resource.name(),
            date_changed_from: job.date_from.clone(),
            date_changed_to: job.date_to.clone(),
            requested_fields,
            requested_custom_field_ids: requested_custom,
            requested_ids,
            file_size_kb_limit: limit_kb,
            include_inactive: job.spec.include_inactive,
            exclude_changes_from_self,
            contact_mode,
            files: Vec::new(),
            message: "Created export job",
            code: None,
            exported_record_count: 0,
        };
        Ok((job, serde_json::to_value(accepted).unwrap_or_default()))
    }
}

impl Job {
    /// The mode the job was created in (only keys of that database see it).
    pub(crate) fn mode(&self) -> Mode {
        self.spec.mode
    }

    /// Counts one poll and returns the status it sees; the poll that completes the job
    /// computes its output (off the async workers) from `data`.
    pub(crate) async fn poll(
        self: &Arc<Self>,
        behaviour: &ExportBehaviour,
        data: Arc<EveryActionData>,
        now: DateTime<Utc>,
        seed: u64,
    ) -> JobStatus {
        let polls = self.polls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.outcome.get().is_none() {
            if polls <= behaviour.pending_polls {
                return JobStatus::Pending;
            }
            if polls
                <= behaviour
                    .pending_polls
                    .saturating_add(behaviour.in_process_polls)
            {
                return JobStatus::InProcess;
            }
        }
        let outcome = self
            .outcome
            .get_or_init(|| self.finish(behaviour, data, now, seed))
            .await;
        match outcome {
            Outcome::Complete { .. } => JobStatus::Complete,
            Outcome::Error { .. } => JobStatus::Error,
        }
    }

    async fn finish(
        self: &Arc<Self>,
        behaviour: &ExportBehaviour,
        data: Arc<EveryActionData>,
        now: DateTime<Utc>,
        seed: u64,
    ) -> Outcome {
        let code = format!(
            "{:08X}",
            rng::hash(seed, &[rng::tag(b"job-error"), self.id]) as u32
        );
        if self.fails {
            return Outcome::Error {
                message: "An error occurred while processing the export job".to_owned(),
                code,
            };
        }
        let spec = self.spec.clone();
        let limit = self.limit_bytes;
        let max = behaviour.max_export_bytes;
        let computed =
            tokio::task::spawn_blocking(move || Plan::compute(data, spec, limit, max)).await;
        match computed {
            Ok(Ok(plan)) => Outcome::Complete {
                plan: Arc::new(plan),
                completed_at: now,
                expires_at: now
                    + TimeDelta::from_std(behaviour.url_expiry).unwrap_or(TimeDelta::MAX),
            },
            Ok(Err(bytes)) => Outcome::Error {
                message: format!(
                    "The export exceeds the maximum size ({bytes} bytes or more; limit {})",
                    max.unwrap_or_default()
                ),
                code,
            },
            Err(_) => Outcome::Error {
                message: "An error occurred while processing the export job".to_owned(),
                code,
            },
        }
    }

    /// The outcome, once finished.
    pub(crate) fn outcome(&self) -> Option<&Outcome> {
        self.outcome.get()
    }

    /// The job JSON for status `status`, with download URLs under `base`.
    pub(crate) fn json(&self, status: JobStatus, base: &str, seed: u64) -> Value {
        let (files, message, code, count) = match (status, self.outcome()) {
            (
                JobStatus::Complete,
                Some(Outcome::Complete {
                    plan, expires_at, ..
                }),
            ) => {
                let expired = fmt_precise(self.offset_minutes, ticks_of(*expires_at));
                let files = (0..plan.files.len())
                    .map(|n| FileJson {
                        download_url: format!(
                            "{base}/changed-entity-exports/{}",
                            file_name(seed, self.id, n)
                        ),
                        date_expired: expired.clone(),
                    })
                    .collect();
                (
                    files,
                    "Finished processing export job".to_owned(),
                    None,
                    plan.rows,
                )
            }
            (JobStatus::Error, Some(Outcome::Error { message, code })) => {
                (Vec::new(), message.clone(), Some(code.clone()), 0)
            }
            (JobStatus::InProcess, _) => (Vec::new(), "Processing export job".to_owned(), None, 0),
            _ => (Vec::new(), "Created export job".to_owned(), None, 0),
        };
        let job = JobJson {
            export_job_id: self.id,
            job_status: status,
            date_changed_from: self.date_from.clone(),
            date_changed_to: self.date_to.clone(),
            files,
            message,
            code,
            exported_record_count: count,
            exclude_changes_from_self: self.exclude_changes_from_self.to_string(),
            contact_mode: self.contact_mode,
            include_inactive: self.spec.include_inactive.to_string(),
        };
        serde_json::to_value(job).unwrap_or_default()
    }
}
