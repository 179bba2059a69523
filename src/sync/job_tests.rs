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
use crate::sync::{csv_rows, json_records, Window, WindowBatcher, WindowConfig};

/// A job that is pending `pending_polls` times, then ready (or failed), serving `body`.
struct FakeJob {
    pending_polls: u32,
    fail: Option<&'static str>,
    body: Vec<Bytes>,
    polls: AtomicU32,
}

#[async_trait]
impl ExportJob for FakeJob {
    type Handle = u32;

    fn describe(&self) -> String {
        "contacts export".into()
    }

    async fn create(&self) -> Result<u32, HttpError> {
        Ok(7)
    }

    async fn poll(&self, _job: &u32) -> Result<JobStatus, HttpError> {
        let n = self.polls.fetch_add(1, Ordering::SeqCst);
        Ok(match (n < self.pending_polls, self.fail) {
            (true, _) => JobStatus::Pending,
            (false, Some(reason)) => JobStatus::Failed(reason.into()),
            (false, None) => JobStatus::Ready,
        })
    }

    async fn download(&self, _job: &u32) -> Result<Download, HttpError> {
        Ok(download_of(self.body.clone(), None))
    }
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
        body: vec![Bytes::from(body.to_owned())],
        polls: AtomicU32::new(0),
    }
}

fn clock() -> ManualClock {
    ManualClock::new(DateTime::UNIX_EPOCH)
}

#[tokio::test]
async fn a_job_is_polled_with_doubling_waits_then_downloaded() {
    let clock = clock();
    let config = JobConfig::default();
    let download = run_job(&job(6, None, "a\n1\n"), &config, &clock.shared())
        .await
        .unwrap();
    let secs: Vec<u64> = clock.sleeps().iter().map(Duration::as_secs).collect();
    assert_eq!(secs, vec![1, 2, 4, 8, 16, 30]);
    let rows: Vec<_> = csv_rows(download, "contacts export").collect().await;
    assert_eq!(rows.len(), 1);
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
    let rows: Vec<_> = csv_rows(download_of(chunks, None), "export")
        .collect()
        .await;
    assert_eq!(rows.len(), 5000);
    let last = rows[4999].as_ref().unwrap();
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
async fn a_broken_download_surfaces_the_transport_error() {
    let cut = HttpError::Transient {
        endpoint: Endpoint {
            method: "GET".into(),
            path: "/export.csv".into(),
        },
        attempts: 1,
        last: "download interrupted: connection reset".into(),
    };
    let rows: Vec<_> = csv_rows(
        download_of(vec![Bytes::from("id\n1\n2")], Some(cut)),
        "export",
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

/// A report job whose running time grows with its window: over 30 days it never finishes.
struct WindowJob {
    window: Window,
}

#[async_trait]
impl ExportJob for WindowJob {
    type Handle = ();

    fn describe(&self) -> String {
        format!("report for {}", self.window)
    }

    async fn create(&self) -> Result<(), HttpError> {
        Ok(())
    }

    async fn poll(&self, _job: &()) -> Result<JobStatus, HttpError> {
        Ok(if self.window.span() > TimeDelta::days(30) {
            JobStatus::Pending
        } else {
            JobStatus::Ready
        })
    }

    async fn download(&self, _job: &()) -> Result<Download, HttpError> {
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
        match run_job(&WindowJob { window }, &config, &clock.shared()).await {
            Ok(download) => {
                let rows: Vec<_> = csv_rows(download, window.to_string()).collect().await;
                assert_eq!(rows.len(), 1);
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
