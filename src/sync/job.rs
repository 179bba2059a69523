//! The async export-job helper: create → poll with backoff until a deadline → the job's files, each
//! downloaded in order and streamed (EveryAction splits a job's output into several files by size; OnGage
//! serves one). Generic over the API through the [`ExportJob`] trait. A job that misses its deadline is a
//! distinct "timed out" error, which the window batcher treats as "too large" and answers by shrinking
//! the window.
//!
//! Reading a file ([`CsvFile`]) checks it, once for every connector: a header row with the columns the
//! caller requires (an HTML error page or an empty body is not an empty export), every row as wide as
//! the header (a cut file fails), and, where the API reported how many records the job holds,
//! [`JobOutput::check_count`] against the rows read. A transfer that breaks mid-file is downloaded again
//! and the rows already yielded are skipped, so a caller emits each row once and checkpoints between
//! files.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use super::guards::IdleLog;
use crate::http::{Download, HttpError, SharedClock};

/// What polling a job reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus<F> {
    /// Still running.
    Pending,
    /// Finished; its files can be downloaded.
    Ready(JobOutput<F>),
    /// The API gave up on the job, with its reason.
    Failed(String),
}

/// A finished job's output: its files, in order, and the record count the API reported, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutput<F> {
    /// The files to download, in order (download URLs, search ids).
    pub files: Vec<F>,
    /// How many records the API says the job exported (`exportedRecordCount`), if it says.
    pub records: Option<u64>,
}

impl<F> JobOutput<F> {
    /// One file, count unknown.
    pub fn single(file: F) -> Self {
        Self {
            files: vec![file],
            records: None,
        }
    }

    /// Checks the rows read from every file against the count the API reported: fewer or more means a
    /// file was cut or the export is not what was asked for, and the job must be read again.
    pub fn check_count(&self, job: &str, rows: u64) -> Result<(), JobError> {
        match self.records {
            Some(expected) if expected != rows => Err(JobError::Parse {
                job: job.to_owned(),
                message: format!("read {rows} rows but the api reported {expected} records"),
            }),
            _ => Ok(()),
        }
    }
}

/// One export job of some API (e.g. an OnGage contacts report for one window).
#[async_trait]
pub trait ExportJob: Send + Sync {
    /// The API's job reference (an id or a URL).
    type Handle: Send + Sync;
    /// One file of a finished job (a download URL, a search id).
    type File: Send + Sync + Clone + fmt::Debug;

    /// Describes the job for errors and logs, e.g. "contacts export for [2024-01-01, 2024-04-01)".
    fn describe(&self) -> String;
    /// Starts the job.
    async fn create(&self) -> Result<Self::Handle, HttpError>;
    /// Asks whether the job is done.
    async fn poll(&self, job: &Self::Handle) -> Result<JobStatus<Self::File>, HttpError>;
    /// Streams one file of the finished job.
    async fn download(&self, file: &Self::File) -> Result<Download, HttpError>;
}

/// Polling and deadline settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobConfig {
    /// How long a job may run before it is reported as timed out (default 30 min).
    pub deadline: Duration,
    /// First wait between polls (default 1 s); doubles up to `max_poll_interval`.
    pub first_poll_interval: Duration,
    /// Longest wait between polls (default 30 s).
    pub max_poll_interval: Duration,
    /// How often a still-running job logs a line (default 30 s).
    pub log_every: Duration,
}

impl Default for JobConfig {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(30 * 60),
            first_poll_interval: Duration::from_secs(1),
            max_poll_interval: Duration::from_secs(30),
            log_every: Duration::from_secs(30),
        }
    }
}

/// The two settings that tune an API's export jobs, as a connector's form offers them:
/// `<prefix>_poll_seconds` (the first wait between polls; it doubles up to `max_poll_factor` times
/// that) and `<prefix>_timeout_seconds` (a job not ready by then counts as too large, and its window
/// shrinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSettings {
    /// The fields' prefix, e.g. `search` or `job`.
    pub prefix: &'static str,
    /// What the API calls a job, for the labels, e.g. "contact search" or "export job".
    pub noun: &'static str,
    /// The default first wait between polls.
    pub poll: Duration,
    /// How many times the first wait the wait may grow to.
    pub max_poll_factor: u32,
    /// The default deadline.
    pub timeout: Duration,
    /// The longest deadline accepted.
    pub max_timeout: Duration,
}

impl JobSettings {
    fn poll_field(&self) -> String {
        format!("{}_poll_seconds", self.prefix)
    }

    fn timeout_field(&self) -> String {
        format!("{}_timeout_seconds", self.prefix)
    }

    /// The two form fields (optional, with their defaults).
    pub fn fields(&self) -> Vec<crate::sdk::Field> {
        use crate::sdk::Field;
        vec![
            Field::text(
                &self.timeout_field(),
                &format!("{} timeout (seconds)", capitalised(self.noun)),
            )
            .optional()
            .default_value(&self.timeout.as_secs().to_string())
            .description(&format!(
                "a {} not complete by then is tried again over a shorter date range",
                self.noun
            )),
            Field::text(
                &self.poll_field(),
                &format!("{} poll interval (seconds)", capitalised(self.noun)),
            )
            .optional()
            .default_value(&format!("{}", self.poll.as_secs_f64()))
            .description(&format!(
                "first wait between polls of a {}; it doubles up to {} times this",
                self.noun, self.max_poll_factor
            )),
        ]
    }

    /// The polling settings the configuration gives (each error names its field).
    pub fn parse(
        &self,
        c: &crate::sdk::Configuration<'_>,
    ) -> Result<JobConfig, crate::sdk::ConfigError> {
        let poll = c.seconds_or(&self.poll_field(), self.poll, Duration::from_secs(86_400))?;
        Ok(JobConfig {
            deadline: c.seconds_or(&self.timeout_field(), self.timeout, self.max_timeout)?,
            first_poll_interval: poll,
            max_poll_interval: poll * self.max_poll_factor,
            log_every: Duration::from_secs(60),
        })
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Why a job produced no data.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job did not finish before its deadline: shrink the request (e.g. the window).
    #[error("{job} timed out: not ready after {waited_secs} s")]
    TimedOut {
        /// The job description.
        job: String,
        /// Seconds waited.
        waited_secs: u64,
    },
    /// The API reported the job as failed.
    #[error("{job} failed: {reason}")]
    Failed {
        /// The job description.
        job: String,
        /// The API's reason.
        reason: String,
    },
    /// An HTTP call of the job failed.
    #[error("{job}: {source}")]
    Http {
        /// The job description.
        job: String,
        /// The HTTP error.
        #[source]
        source: Box<HttpError>,
    },
    /// The downloaded file could not be parsed.
    #[error("{job}: cannot parse the download: {message}")]
    Parse {
        /// The job description.
        job: String,
        /// The parser's message.
        message: String,
    },
}

impl From<JobError> for crate::sdk::Error {
    fn from(e: JobError) -> Self {
        match &e {
            JobError::Http { source, .. } => source.to_sdk(e.to_string()),
            JobError::TimedOut { .. } | JobError::Failed { .. } => {
                crate::sdk::Error::Unavailable(e.to_string())
            }
            JobError::Parse { .. } => crate::sdk::Error::SourceRejected(e.to_string()),
        }
    }
}

impl JobError {
    /// Whether reading the file again may succeed: a broken transfer, or a file that did not parse
    /// (cut short, or an error page in its place).
    pub fn is_retriable(&self) -> bool {
        match self {
            JobError::Http { source, .. } => !source.is_permanent(),
            JobError::Parse { .. } => true,
            JobError::TimedOut { .. } | JobError::Failed { .. } => false,
        }
    }

    /// Whether the caller should retry with a smaller request: the job timed out, or the HTTP layer
    /// reported the request as too large.
    pub fn is_too_large(&self) -> bool {
        match self {
            JobError::TimedOut { .. } => true,
            JobError::Http { source, .. } => source.is_too_large(),
            _ => false,
        }
    }
}

/// A job that finished: the API's reference to it (save it to resume reading its files after a crash)
/// and its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedJob<H, F> {
    /// The job's reference.
    pub handle: H,
    /// Its files and record count.
    pub output: JobOutput<F>,
}

/// Creates `job`, polls it with doubling intervals until it is ready or `config.deadline` passes, and
/// returns its handle and output (read each file with [`CsvFile`](super::CsvFile)).
pub async fn run_job<J: ExportJob>(
    job: &J,
    config: &JobConfig,
    clock: &SharedClock,
) -> Result<FinishedJob<J::Handle, J::File>, JobError> {
    let handle = job.create().await.map_err(|source| JobError::Http {
        job: job.describe(),
        source: Box::new(source),
    })?;
    resume_job(job, handle, config, clock).await
}

/// Polls a job created earlier (its handle saved in state) until it is ready, as [`run_job`] does.
pub async fn resume_job<J: ExportJob>(
    job: &J,
    handle: J::Handle,
    config: &JobConfig,
    clock: &SharedClock,
) -> Result<FinishedJob<J::Handle, J::File>, JobError> {
    let what = job.describe();
    let http = |source: HttpError| JobError::Http {
        job: what.clone(),
        source: Box::new(source),
    };
    let mut idle = IdleLog::new(clock.clone(), what.clone(), config.log_every);
    let mut interval = config.first_poll_interval;
    loop {
        match job.poll(&handle).await.map_err(http)? {
            JobStatus::Ready(output) => return Ok(FinishedJob { handle, output }),
            JobStatus::Failed(reason) => return Err(JobError::Failed { job: what, reason }),
            JobStatus::Pending => {}
        }
        let waited = idle.waited();
        if waited >= config.deadline {
            return Err(JobError::TimedOut {
                job: what,
                waited_secs: waited.as_secs(),
            });
        }
        idle.tick("pending");
        clock.sleep(interval.min(config.deadline - waited)).await;
        interval = (interval * 2).min(config.max_poll_interval);
    }
}

impl fmt::Display for JobStatus<()> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobStatus::Pending => f.write_str("pending"),
            JobStatus::Ready(_) => f.write_str("ready"),
            JobStatus::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

#[cfg(test)]
#[path = "job_tests.rs"]
mod tests;
