//! The job helper and the streaming decoders on a virtual clock, with scripted job behaviour.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use super::*;
use crate::http::{Endpoint, ManualClock};
use crate::sdk::json::JsonView;
use crate::sync::{
    csv_rows, json_docs_bounded, json_records, json_records_bounded, CsvCheck, CsvFile, CsvRow,
    Window, WindowBatcher, WindowConfig,
};

/// A job that is pending `pending_polls` times, then ready (or failed), serving one file per body;
/// the first `cut_downloads` downloads of each file break off halfway.
struct FakeJob {
    pending_polls: u32,
    fail: Option<&'static str>,
    files: Vec<String>,
    reported: Option<u64>,
    cut_downloads: u32,
    polls: AtomicU32,
    downloads: AtomicU32,
}

#[async_trait]
impl ExportJob for FakeJob {
    type Handle = u32;
    type File = usize;

    fn describe(&self) -> String {
        "contacts export".into()
    }

    async fn create(&self) -> Result<u32, HttpError> {
        Ok(7)
    }

    async fn poll(&self, _job: &u32) -> Result<JobStatus<usize>, HttpError> {
        let n = self.polls.fetch_add(1, Ordering::SeqCst);
        Ok(match (n < self.pending_polls, self.fail) {
            (true, _) => JobStatus::Pending,
            (false, Some(reason)) => JobStatus::Failed(reason.into()),
            (false, None) => JobStatus::Ready(JobOutput {
                files: (0..self.files.len()).collect(),
                records: self.reported,
            }),
        })
    }

    async fn download(&self, file: &usize) -> Result<Download, HttpError> {
        let n = self.downloads.fetch_add(1, Ordering::SeqCst);
        let body = self.files[*file].clone();
        if n < self.cut_downloads {
            let half = Bytes::from(body[..body.len() / 2].to_owned());
            return Ok(download_of(vec![half], Some(cut())));
        }
        Ok(download_of(vec![Bytes::from(body)], None))
    }
}

fn cut() -> HttpError {
    HttpError::Transient {
        endpoint: Endpoint {
            method: "GET".into(),
            path: "/export.csv".into(),
        },
        attempts: 1,
        last: "download interrupted: connection reset".into(),
    }
}

async fn read_all<J: ExportJob>(
    job: &J,
    output: &JobOutput<J::File>,
    check: CsvCheck,
) -> Result<Vec<CsvRow>, JobError> {
    let mut rows = Vec::new();
    for file in &output.files {
        let mut reader = CsvFile::new(job, file, check.clone());
        while let Some(row) = reader.next().await {
            rows.push(row?);
        }
    }
    output.check_count(&job.describe(), rows.len() as u64)?;
    Ok(rows)
}

fn download_of(chunks: Vec<Bytes>, then_fail: Option<HttpError>) -> Download {
    let items: Vec<Result<Bytes, HttpError>> = chunks
        .into_iter()
        .map(Ok)
        .chain(then_fail.map(Err))
        .collect();
    Download::from_stream(200, HeaderMap::new(), futures::stream::iter(items).boxed())
}

fn job(pending_polls: u32, fail: Option<&'static str>, body: &str) -> FakeJob {
    FakeJob {
        pending_polls,
        fail,
        files: vec![body.to_owned()],
        reported: None,
        cut_downloads: 0,
        polls: AtomicU32::new(0),
        downloads: AtomicU32::new(0),
    }
}

fn no_check() -> CsvCheck {
    CsvCheck::default()
}

fn clock() -> ManualClock {
    ManualClock::new(DateTime::UNIX_EPOCH)
}

#[tokio::test]
async fn a_job_is_polled_with_doubling_waits_then_downloaded() {
    let clock = clock();
    let config = JobConfig::default();
    let job = job(6, None, "a\n1\n");
    let output = run_job(&job, &config, &clock.shared())
        .await
        .unwrap()
        .output;
    let secs: Vec<u64> = clock.sleeps().iter().map(Duration::as_secs).collect();
    assert_eq!(secs, vec![1, 2, 4, 8, 16, 30]);
    assert_eq!(read_all(&job, &output, no_check()).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_job_of_several_files_is_read_file_by_file_and_its_count_checked() {
    let mut job = job(0, None, "");
    job.files = vec![
        "id,name\n1,a\n2,b\n".into(),
        "id,name\n3,c\n".into(),
        "id,name\n4,d\n5,e\n".into(),
    ];
    job.reported = Some(5);
    let output = run_job(&job, &JobConfig::default(), &clock().shared())
        .await
        .unwrap()
        .output;
    let rows = read_all(&job, &output, CsvCheck::columns(&["id"]))
        .await
        .unwrap();
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r.view().get("id").unwrap().as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);
    job.reported = Some(6);
    let output = run_job(&job, &JobConfig::default(), &clock().shared())
        .await
        .unwrap()
        .output;
    let err = read_all(&job, &output, no_check()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("read 5 rows but the api reported 6"),
        "{err}"
    );
}

// Regression (reliability issue, defect 4): a download cut once failed the sync, never retried.
#[tokio::test]
async fn a_file_cut_mid_transfer_is_downloaded_again_without_repeating_rows() {
    let mut job = job(0, None, "");
    job.files = vec!["id\n1\n2\n3\n4\n5\n6\n7\n8\n".into()];
    job.cut_downloads = 2;
    let output = run_job(&job, &JobConfig::default(), &clock().shared())
        .await
        .unwrap()
        .output;
    let rows = read_all(&job, &output, no_check()).await.unwrap();
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r.view().get("id").unwrap().as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5", "6", "7", "8"]);
    assert_eq!(job.downloads.load(Ordering::SeqCst), 3);
}

// Regression (reliability issue, defects 1 and 2): a cut export and an HTML page were accepted.
#[tokio::test]
async fn an_error_page_a_cut_row_or_an_empty_body_is_not_an_export() {
    let check = CsvCheck::columns(&["id|ocx_contact_id", "email"]);
    for (body, expected) in [
        (
            "<html><body>502 Bad Gateway</body></html>",
            "no 'id' or 'ocx_contact_id' column",
        ),
        (
            "id,email,address,phone\n1,a@b.c,276 Main St,555\n2,c@d.e,276 M",
            "found record with 3 fields",
        ),
        (
            "id,email,address\n1,a@b.c,276 Main St\n2,c@d.e,276 M",
            "ends in the middle of a row",
        ),
        ("", "not even a header row"),
    ] {
        let rows: Vec<_> = csv_rows(
            download_of(vec![Bytes::from(body)], None),
            "export",
            check.clone(),
        )
        .collect()
        .await;
        let err = rows
            .iter()
            .find_map(|r| r.as_ref().err())
            .unwrap_or_else(|| panic!("{body:?} was accepted"));
        assert!(err.to_string().contains(expected), "{body:?}: {err}");
    }
    let header_only: Vec<_> = csv_rows(
        download_of(vec![Bytes::from("ocx_contact_id,email\n")], None),
        "export",
        check,
    )
    .collect()
    .await;
    assert!(
        header_only.is_empty(),
        "a header-only export is a real empty result"
    );
}

#[tokio::test]
async fn a_job_past_its_deadline_is_timed_out_and_counts_as_too_large() {
    let clock = clock();
    let config = JobConfig {
        deadline: Duration::from_secs(300),
        ..JobConfig::default()
    };
    let err = run_job(&job(u32::MAX, None, ""), &config, &clock.shared())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            JobError::TimedOut {
                waited_secs: 300,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_too_large());
    assert!(
        err.to_string().contains("contacts export timed out"),
        "{err}"
    );
}

#[tokio::test]
async fn a_failed_job_is_failed_not_too_large() {
    let err = run_job(
        &job(2, Some("quota exceeded"), ""),
        &JobConfig::default(),
        &clock().shared(),
    )
    .await
    .unwrap_err();
    assert!(!err.is_too_large());
    assert_eq!(err.to_string(), "contacts export failed: quota exceeded");
}

#[tokio::test]
async fn csv_is_parsed_row_by_row_across_chunk_boundaries() {
    let mut text = String::from("id,note\n");
    for i in 0..5000 {
        text.push_str(&format!("{i},\"line one\nline two, with comma {i}\"\n"));
    }
    // Seven-byte chunks split quoted fields and newlines everywhere.
    let chunks = text
        .as_bytes()
        .chunks(7)
        .map(Bytes::copy_from_slice)
        .collect();
    let rows: Vec<_> = csv_rows(download_of(chunks, None), "export", no_check())
        .collect()
        .await;
    assert_eq!(rows.len(), 5000);
    let last = rows[4999].as_ref().unwrap();
    let last = last.view().to_value();
    assert_eq!(last["id"], json!("4999"));
    assert_eq!(last["note"], json!("line one\nline two, with comma 4999"));
}

#[tokio::test]
async fn json_arrays_and_ndjson_stream_element_by_element() {
    let array = r#" [ {"id":1}, {"id":2,"tags":["a","]"]}, {"id":3} ] "#;
    let chunks = array
        .as_bytes()
        .chunks(1)
        .map(Bytes::copy_from_slice)
        .collect();
    let values: Vec<Value> = json_records(download_of(chunks, None), "export")
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(values.len(), 3);
    assert_eq!(values[1]["tags"], json!(["a", "]"]));

    let ndjson = "{\"id\":1}\n{\"id\":2}\n";
    let values: Vec<_> = json_records(download_of(vec![Bytes::from(ndjson)], None), "export")
        .collect()
        .await;
    assert_eq!(values.len(), 2);
}

#[tokio::test]
async fn a_bounded_json_decode_does_not_read_far_ahead_of_its_caller() {
    use std::sync::Arc;
    let pulled = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&pulled);
    let elements = (0..200).map(move |i| {
        counter.fetch_add(1, Ordering::SeqCst);
        let text = if i == 0 {
            "[{\"n\":0}".to_owned()
        } else {
            format!(",{{\"n\":{i}}}")
        };
        Ok::<_, HttpError>(Bytes::from(text))
    });
    let body = futures::stream::iter(elements)
        .chain(futures::stream::iter([Ok(Bytes::from("]"))]))
        .boxed();
    let download = Download::from_stream(200, HeaderMap::new(), body);
    let mut values = json_records_bounded(download, "stream", 2);
    assert_eq!(values.next().await.unwrap().unwrap(), json!({"n": 0}));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ahead = pulled.load(Ordering::SeqCst);
    assert!(ahead < 40, "{ahead} chunks pulled for one value read");
    let rest: Vec<_> = values.collect().await;
    assert_eq!(rest.len(), 199);
}

/// Rows cross from the parser in batches: a file that breaks after some rows (neither a batch's
/// multiple nor under one) still yields each of them, in order, before the error and nothing after.
#[tokio::test]
async fn every_csv_row_before_a_failure_is_yielded_before_it() {
    for complete in [0usize, 1, 63, 64, 65, 200] {
        let mut text = String::from("id,name\n");
        for id in 0..complete {
            text.push_str(&format!("{id},n\n"));
        }
        text.push_str("cut"); // one field of two
        let rows: Vec<_> = csv_rows(
            download_of(vec![Bytes::from(text)], None),
            "export",
            no_check(),
        )
        .collect()
        .await;
        assert_eq!(rows.len(), complete + 1, "{complete} rows");
        for (id, row) in rows[..complete].iter().enumerate() {
            let row = row.as_ref().expect("a row before the cut");
            assert_eq!(
                row.view().get("id").and_then(|v| v.as_str()),
                Some(id.to_string().as_str())
            );
        }
        assert!(
            matches!(rows[complete], Err(JobError::Parse { .. })),
            "{complete} rows"
        );
    }
}

#[tokio::test]
async fn a_broken_download_surfaces_the_transport_error() {
    let rows: Vec<_> = csv_rows(
        download_of(vec![Bytes::from("id\n1\n2")], Some(cut())),
        "export",
        no_check(),
    )
    .collect()
    .await;
    let err = rows
        .iter()
        .find_map(|r| r.as_ref().err())
        .expect("an error row");
    assert!(err.to_string().contains("connection reset"), "{err}");
    assert!(matches!(err, JobError::Http { .. }));
}

#[tokio::test]
async fn malformed_json_is_a_parse_error() {
    let values: Vec<_> = json_records(
        download_of(vec![Bytes::from("[{\"id\":1},{\"id\"")], None),
        "export",
    )
    .collect()
    .await;
    assert!(values[0].is_ok());
    assert!(matches!(values[1], Err(JobError::Parse { .. })));
}

/// The `JsonDoc` decoder reads what the `Value` one reads, element for element, from arrays split
/// byte by byte, newline-delimited files and files cut short, and fails where it fails.
#[tokio::test]
async fn json_docs_decode_exactly_what_json_values_decode() {
    let inputs = [
        r#" [ {"id":1,"s":"a\"\u00e9"}, {"id":2,"tags":["a","]"],"n":-1.5e3}, [], {"id":3} ] "#,
        "{\"id\":1}\n{\"id\":2, \"x\": [null, true]}\n\n  7 \"text\"\n",
        "[]",
        "   ",
        "[{\"id\":1},{\"id\"",
        "{\"id\":1}\n{\"id",
    ];
    for input in inputs {
        let chunks = || -> Vec<Bytes> {
            input
                .as_bytes()
                .chunks(3)
                .map(Bytes::copy_from_slice)
                .collect()
        };
        let values: Vec<Result<Value, String>> =
            json_records_bounded(download_of(chunks(), None), "export", 2)
                .map(|r| r.map_err(|e| e.to_string()))
                .collect()
                .await;
        let docs: Vec<Result<Value, String>> =
            json_docs_bounded(download_of(chunks(), None), "export", 2)
                .map(|r| {
                    r.map(|doc| crate::sdk::json::JsonView::to_value(doc.root()))
                        .map_err(|e| e.to_string())
                })
                .collect()
                .await;
        assert_eq!(docs, values, "{input:?}");
    }
}

/// A report job whose running time grows with its window: over 30 days it never finishes.
struct WindowJob {
    window: Window,
}

#[async_trait]
impl ExportJob for WindowJob {
    type Handle = ();
    type File = ();

    fn describe(&self) -> String {
        format!("report for {}", self.window)
    }

    async fn create(&self) -> Result<(), HttpError> {
        Ok(())
    }

    async fn poll(&self, _job: &()) -> Result<JobStatus<()>, HttpError> {
        Ok(if self.window.span() > TimeDelta::days(30) {
            JobStatus::Pending
        } else {
            JobStatus::Ready(JobOutput::single(()))
        })
    }

    async fn download(&self, _file: &()) -> Result<Download, HttpError> {
        let body = format!("day\n{}\n", self.window.start.date_naive());
        Ok(download_of(vec![Bytes::from(body)], None))
    }
}

#[tokio::test]
async fn the_window_batcher_shrinks_windows_whose_jobs_time_out() {
    let clock = clock();
    let start: DateTime<Utc> = DateTime::UNIX_EPOCH;
    let end = start + TimeDelta::days(120);
    let mut batcher = WindowBatcher::backfill(start, end, WindowConfig::default());
    let config = JobConfig {
        deadline: Duration::from_secs(60),
        ..JobConfig::default()
    };
    let mut done = Vec::new();
    while let Some(window) = batcher.next_window() {
        let job = WindowJob { window };
        match run_job(&job, &config, &clock.shared()).await {
            Ok(finished) => {
                let output = finished.output;
                assert_eq!(read_all(&job, &output, no_check()).await.unwrap().len(), 1);
                done.push(batcher.complete(window).unwrap());
            }
            Err(e) if e.is_too_large() => batcher.too_large(window, &e.to_string()).unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
    // 90 → 45 → 22 days; the length doubles back after four completed windows, then halves again.
    let days: Vec<i64> = done.iter().map(|d| (*d - start).num_days()).collect();
    assert_eq!(days.first(), Some(&22));
    assert_eq!(days.last(), Some(&120));
    assert_eq!(batcher.resume_point(), end);
}
