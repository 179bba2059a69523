//! Reading a finished export job's files: each CSV file checked (see [`CsvCheck`]) and restartable, so a
//! caller emits every row once and checkpoints between files.

use super::decode::{csv_rows, CsvCheck, CsvRow};
use super::job::{ExportJob, JobError};

/// How many times a file whose transfer broke is downloaded again before the read fails.
pub const FILE_ATTEMPTS: u32 = 4;

/// The checked, restartable rows of one CSV file of a job; see the module documentation.
pub struct CsvFile<'a, J: ExportJob> {
    job: &'a J,
    file: &'a J::File,
    check: CsvCheck,
    what: String,
    rows: Option<futures::stream::BoxStream<'static, Result<CsvRow, JobError>>>,
    yielded: u64,
    to_skip: u64,
    attempts: u32,
}

impl<'a, J: ExportJob> CsvFile<'a, J> {
    /// Reads `file` of `job`, checked against `check`.
    pub fn new(job: &'a J, file: &'a J::File, check: CsvCheck) -> Self {
        Self {
            what: format!("{} ({file:?})", job.describe()),
            job,
            file,
            check,
            rows: None,
            yielded: 0,
            to_skip: 0,
            attempts: 0,
        }
    }

    /// Rows yielded so far.
    pub fn rows(&self) -> u64 {
        self.yielded
    }

    /// The next row, `None` at the end of the file. A broken transfer or a cut file is downloaded again
    /// (up to [`FILE_ATTEMPTS`] times), skipping the rows already yielded.
    pub async fn next(&mut self) -> Option<Result<CsvRow, JobError>> {
        use futures::StreamExt;
        loop {
            if self.rows.is_none() {
                self.attempts += 1;
                let download = match self.job.download(self.file).await {
                    Ok(download) => download,
                    Err(source) => {
                        return Some(Err(JobError::Http {
                            job: self.what.clone(),
                            source: Box::new(source),
                        }))
                    }
                };
                self.rows = Some(csv_rows(download, self.what.clone(), self.check.clone()));
                self.to_skip = self.yielded;
            }
            let next = self.rows.as_mut()?.next().await;
            match next {
                Some(Ok(_)) if self.to_skip > 0 => self.to_skip -= 1,
                Some(Ok(row)) => {
                    self.yielded += 1;
                    return Some(Ok(row));
                }
                Some(Err(e)) if e.is_retriable() && self.attempts < FILE_ATTEMPTS => {
                    tracing::info!(file = %self.what, error = %e, rows = self.yielded, "the file broke off; downloading it again");
                    self.rows = None;
                }
                Some(Err(e)) => return Some(Err(e)),
                None if self.to_skip > 0 => {
                    // The file is shorter than what was already read of it: it changed under us.
                    return Some(Err(JobError::Parse {
                        job: self.what.clone(),
                        message: format!(
                            "downloaded again, the file holds fewer rows than the {} already read",
                            self.yielded
                        ),
                    }));
                }
                None => return None,
            }
        }
    }
}
