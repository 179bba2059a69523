//! Row-by-row parsing of downloaded files without holding the whole file: CSV (with the `csv` crate) and
//! JSON (a top-level array or newline-delimited values). The synchronous parser runs on a blocking thread
//! fed by a bounded channel of chunks, so memory stays at a few chunks and rows whatever the file size.

use std::io::{self, Read};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Buf, Bytes};
use futures::stream::BoxStream;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::job::JobError;
use crate::http::{Download, HttpError, JsonBody};
use crate::sdk::json::{JsonDoc, Piece, Record, SplitError, Splitter};

/// One CSV row as a JSON object keyed by the header (every value a string).
pub type CsvRow = Record;

/// What a CSV file must hold to count as the export asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvCheck {
    /// Columns the header must have; each entry lists the accepted spellings of one column.
    pub required: Vec<Vec<String>>,
}

impl CsvCheck {
    /// A header that must have each of `columns` (each `a|b` accepting either spelling).
    pub fn columns(columns: &[&str]) -> Self {
        Self {
            required: columns
                .iter()
                .map(|c| c.split('|').map(str::to_owned).collect())
                .collect(),
        }
    }

    /// `Err` naming the first required column the header lacks.
    pub fn header(&self, header: &csv::StringRecord) -> Result<(), String> {
        for spellings in &self.required {
            if !spellings.iter().any(|s| header.iter().any(|h| h == s)) {
                let shown: String = header
                    .iter()
                    .collect::<Vec<_>>()
                    .join(",")
                    .chars()
                    .take(80)
                    .collect();
                return Err(format!(
                    "the header has no '{}' column (it starts {shown:?}): not the export asked for",
                    spellings.join("' or '")
                ));
            }
        }
        Ok(())
    }
}

/// Chunks buffered between the network and the parser.
const CHUNKS_IN_FLIGHT: usize = 8;
/// Rows buffered between the parser and the caller.
const ROWS_IN_FLIGHT: usize = 256;

/// Rows parsed into one batch before it is handed over: one wake-up of the caller per batch.
const CSV_BATCH: usize = 64;

/// Streams the rows of a CSV download as JSON objects keyed by the header row (all values strings),
/// each a [`CsvRow`] read through [`crate::sdk::json::JsonView`]. The header must pass `check`, and
/// every row must be as wide as the header (a file cut mid-row or an error page in place of the export
/// fails instead of yielding partial rows). `job` names the download in errors. Rows cross from the
/// parsing thread in batches; every row before an error is yielded before it.
pub fn csv_rows(
    download: Download,
    job: impl Into<String>,
    check: CsvCheck,
) -> BoxStream<'static, Result<CsvRow, JobError>> {
    let batches = parse_with(
        download,
        job.into(),
        ROWS_IN_FLIGHT / CSV_BATCH,
        move |reader, tx, job| {
            let mut batch = Vec::with_capacity(CSV_BATCH);
            let read = read_csv(reader, &check, &job, |row| {
                batch.push(row);
                if batch.len() < CSV_BATCH {
                    return true;
                }
                let full = std::mem::replace(&mut batch, Vec::with_capacity(CSV_BATCH));
                tx.blocking_send(Ok(full)).is_ok()
            });
            if !batch.is_empty() && tx.blocking_send(Ok(batch)).is_err() {
                return Ok(()); // the caller stopped reading
            }
            read
        },
    );
    batches
        .flat_map(|batch| {
            futures::stream::iter(match batch {
                Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })
        })
        .boxed()
}

/// Parses CSV from `reader`, checked against `check`, handing each row to `take` until it returns
/// `false` (the caller stopped reading).
fn read_csv(
    reader: ChannelReader,
    check: &CsvCheck,
    job: &str,
    mut take: impl FnMut(CsvRow) -> bool,
) -> Result<(), JobError> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(reader);
    let headers = csv.headers().map_err(|e| parse_error(job, e))?.clone();
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        return Err(parse_error(job, "the file is empty: not even a header row"));
    }
    check.header(&headers).map_err(|e| parse_error(job, e))?;
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(false) if csv.get_ref().last == Some(b'\n') => return Ok(()),
            Ok(false) => {
                // Exports end every row with a line break; a last row without one was cut off
                // (possibly mid-field, which its width alone would not show).
                return Err(parse_error(
                    job,
                    "the file ends in the middle of a row: it was cut off",
                ));
            }
            Ok(true) => {
                let row = JsonDoc::string_object(headers.iter().zip(record.iter()))
                    .map_err(|e| parse_error(job, e))?;
                if !take(Record::whole(row)) {
                    return Ok(());
                }
            }
            Err(e) => return Err(parse_error(job, e)),
        }
    }
}

/// Streams the values of a JSON download: the elements of a top-level array, or each value of a
/// newline-delimited file. `job` names the download in errors.
pub fn json_records(
    download: Download,
    job: impl Into<String>,
) -> BoxStream<'static, Result<Value, JobError>> {
    json_records_bounded(download, job, ROWS_IN_FLIGHT)
}

/// [`json_records`] with at most `in_flight` parsed values waiting for the caller: for downloads
/// whose elements are large, such as a stream of batches of thousands of rows each (SA360's
/// `searchStream`), where a few hundred parsed elements would hold gigabytes.
pub fn json_records_bounded(
    download: Download,
    job: impl Into<String>,
    in_flight: usize,
) -> BoxStream<'static, Result<Value, JobError>> {
    json_elements::<Value>(download, job.into(), in_flight)
}

/// [`json_records_bounded`] with each element parsed into a [`JsonDoc`] (a flat arena, no `Value`
/// tree per element): for large elements read through [`crate::sdk::json::JsonView`].
pub fn json_docs_bounded(
    download: Download,
    job: impl Into<String>,
    in_flight: usize,
) -> BoxStream<'static, Result<JsonDoc, JobError>> {
    json_elements::<JsonDoc>(download, job.into(), in_flight)
}

/// The longest single value of a JSON download: one element (such as one `searchStream` batch) is
/// held whole while it is parsed, so a runaway one fails instead of taking the memory.
const MAX_ELEMENT_BYTES: usize = 512 << 20;

/// Splits the download into its values as its chunks arrive ([`Splitter`]) and parses each as one
/// slice, which costs a fraction of parsing through a reader.
fn json_elements<T: JsonBody>(
    download: Download,
    job: String,
    in_flight: usize,
) -> BoxStream<'static, Result<T, JobError>> {
    parse_with(download, job, in_flight.max(1), |mut reader, tx, job| {
        let mut splitter = Splitter::new(MAX_ELEMENT_BYTES);
        let mut take = |piece: Piece<'_>| -> Result<bool, SplitOr> {
            let value = T::decode(piece.bytes).map_err(|e| {
                SplitOr::Job(parse_error(
                    &job,
                    format!("value {} (at byte {}): {e}", piece.index, piece.offset),
                ))
            })?;
            Ok(tx.blocking_send(Ok(value)).is_ok())
        };
        while let Some(chunk) = reader.next_chunk().map_err(|e| parse_error(&job, e))? {
            if !splitter
                .feed(&chunk, &mut take)
                .map_err(|e| split_error(&job, e))?
            {
                return Ok(()); // the caller stopped reading
            }
        }
        splitter.finish(&mut take).map_err(|e| split_error(&job, e))
    })
}

/// The job error that stopped a split.
fn split_error(job: &str, e: SplitOr) -> JobError {
    match e {
        SplitOr::Split(e) => parse_error(job, e),
        SplitOr::Job(e) => e,
    }
}

/// What stops a split: the text's structure, or taking a value.
enum SplitOr {
    Split(SplitError),
    Job(JobError),
}

impl From<SplitError> for SplitOr {
    fn from(e: SplitError) -> Self {
        SplitOr::Split(e)
    }
}

/// Feeds `download` to `parse` on a blocking thread and streams what it sends.
fn parse_with<T, P>(
    download: Download,
    job: String,
    in_flight: usize,
    parse: P,
) -> BoxStream<'static, Result<T, JobError>>
where
    T: Send + 'static,
    P: FnOnce(ChannelReader, mpsc::Sender<Result<T, JobError>>, String) -> Result<(), JobError>
        + Send
        + 'static,
{
    let (chunk_tx, chunk_rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let (row_tx, row_rx) = mpsc::channel(in_flight);
    let transport_error = Arc::new(Mutex::new(None));
    let mut body = download.into_stream();
    tokio::spawn(async move {
        while let Some(chunk) = body.next().await {
            let failed = chunk.is_err();
            if chunk_tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    let reader = ChannelReader {
        rx: chunk_rx,
        current: Bytes::new(),
        error: Arc::clone(&transport_error),
        last: None,
    };
    tokio::task::spawn_blocking(move || {
        let result = parse(reader, row_tx.clone(), job.clone());
        if let Err(e) = result {
            // A transport failure surfaces as a parse error; report the real cause instead.
            let cause = transport_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            let e = cause.map_or(e, |source| JobError::Http {
                job,
                source: Box::new(source),
            });
            let _ = row_tx.blocking_send(Err(e));
        }
    });
    futures::stream::unfold(row_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed()
}

fn parse_error(job: &str, e: impl std::fmt::Display) -> JobError {
    JobError::Parse {
        job: job.to_owned(),
        message: e.to_string(),
    }
}

/// A blocking `Read` over the chunks of a download.
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, HttpError>>,
    current: Bytes,
    error: Arc<Mutex<Option<HttpError>>>,
    /// The last byte handed out, to tell a file that ends with its record terminator from one cut off.
    last: Option<u8>,
}

impl ChannelReader {
    /// The rest of the current chunk, or the next one; `None` at the end of the download.
    fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => {
                    let text = e.to_string();
                    *self.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                    return Err(io::Error::other(text));
                }
                None => return Ok(None),
            }
        }
        let chunk = std::mem::take(&mut self.current);
        self.last = chunk.last().copied().or(self.last);
        Ok(Some(chunk))
    }
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let Some(mut chunk) = self.next_chunk()? else {
            return Ok(0);
        };
        let n = out.len().min(chunk.len());
        out[..n].copy_from_slice(&chunk[..n]);
        chunk.advance(n);
        self.current = chunk;
        Ok(n)
    }
}

/// A record as [`csv_rows`] yields one (every value a string), for tests of CSV-fed models.
#[cfg(test)]
pub(crate) fn text_record(pairs: &[(&str, &str)]) -> serde_json::Value {
    serde_json::Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
            .collect(),
    )
}
