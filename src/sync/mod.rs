//! Shared sync machinery every API connector composes: the ID cursor pager, the date-window batcher, the
//! async export-job helper and stall guards (state itself lives in `crate::sdk::state`). None of it emits to Fivetran: it
//! yields ordered data and safe checkpoints to the connector, which emits rows and then checkpoints.
//!
//! An ID-cursor stream (Virtuous style):
//!
//! ```no_run
//! use fivetran_source::http::{HttpClient, HttpError, Request};
//! use fivetran_source::sync::{ErroredRange, IdPager, IdPagerConfig, Page, PageRequest, PagerItem};
//! use serde_json::{json, Value};
//!
//! async fn sync_gifts(client: HttpClient, cursor: Option<u64>, errored: Vec<ErroredRange<u64>>)
//!     -> Result<(), Box<dyn std::error::Error>> {
//!     let http = client.clone();
//!     let fetch = move |r: PageRequest<u64>| {
//!         let http = http.clone();
//!         async move {
//!             let filter = json!({"groups": [{"conditions": [{"parameter": "Gift Id",
//!                 "operator": "GreaterThan", "value": r.cursor.unwrap_or(0)}]}],
//!                 "sortBy": "Gift Id", "descending": false});
//!             let req = Request::post("/api/Gift/Query").query("skip", r.skip).query("take", r.take)
//!                 .json(filter).shrinkable();
//!             let mut body = http.json(&req).await?;
//!             let records = match body.get_mut("list").map(Value::take) {
//!                 Some(Value::Array(list)) => list,
//!                 _ => Vec::new(),
//!             };
//!             Ok::<_, HttpError>(Page { records, total: body["total"].as_u64(), next: None })
//!         }
//!     };
//!     let id_of = |v: &Value| v["id"].as_u64();
//!     let mut pager = IdPager::new(cursor, fetch, id_of, IdPagerConfig::default(), client.clock().clone())
//!         .retry_first(errored);
//!     while let Some(item) = pager.next().await? {
//!         match item {
//!             PagerItem::Records { records, checkpoint } => { /* emit records; then save checkpoint */ }
//!             PagerItem::Errored(range) => { /* write range to the errors table and to state */ }
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! A date-window backfill of export jobs (OnGage style), given some `ReportJob` implementing [`ExportJob`]:
//!
//! ```no_run
//! # use fivetran_source::http::{Download, HttpError, SharedClock};
//! # use fivetran_source::sync::*;
//! # struct ReportJob { window: Window }
//! # #[async_trait::async_trait] impl ExportJob for ReportJob { type Handle = (); type File = ();
//! #   fn describe(&self) -> String { String::new() }
//! #   async fn create(&self) -> Result<(), HttpError> { Ok(()) }
//! #   async fn poll(&self, _: &()) -> Result<JobStatus<()>, HttpError> { Ok(JobStatus::Ready(JobOutput::single(()))) }
//! #   async fn download(&self, _: &()) -> Result<Download, HttpError> { unimplemented!() } }
//! async fn backfill(last_end: Option<chrono::DateTime<chrono::Utc>>, clock: SharedClock)
//!     -> Result<(), Box<dyn std::error::Error>> {
//!     let (start, end) = (chrono::DateTime::UNIX_EPOCH, chrono::Utc::now());
//!     let mut windows = WindowBatcher::resume(last_end, start, end, WindowConfig::default());
//!     while let Some(window) = windows.next_window() {
//!         let job = ReportJob { window };
//!         match run_job(&job, &JobConfig::default(), &clock).await {
//!             Ok(finished) => {
//!                 let mut read = 0;
//!                 for file in &finished.output.files {
//!                     let mut rows = CsvFile::new(&job, file, CsvCheck::columns(&["day"]));
//!                     while let Some(row) = rows.next().await { let _row = row?; read += 1; /* emit */ }
//!                     /* checkpoint: this file is done */
//!                 }
//!                 finished.output.check_count(&job.describe(), read)?;
//!                 let _checkpoint = windows.complete(window)?; /* save it */
//!             }
//!             Err(e) if e.is_too_large() => windows.too_large(window, &e.to_string())?,
//!             Err(e) => return Err(e.into()),
//!         }
//!     }
//!     Ok(())
//! }
//! ```

#![warn(missing_docs)]

pub mod decode;
pub mod export;
pub mod guards;
pub mod id_pager;
pub mod job;
pub mod offset_pager;
pub mod page;
pub mod token_pager;
pub mod windows;

pub use decode::{
    csv_rows, json_docs_bounded, json_records, json_records_bounded, CsvCheck, CsvRow,
};
pub use export::{CsvFile, FILE_ATTEMPTS};
pub use guards::{IdleLog, StallError, StallGuard};
pub use id_pager::{ErroredRange, IdPager, IdPagerConfig, PageRequest, PagerError, PagerItem};
pub use job::{
    resume_job, run_job, ExportJob, FinishedJob, JobConfig, JobError, JobOutput, JobSettings,
    JobStatus,
};
pub use offset_pager::{Numbering, OffsetPager, OffsetPagerConfig, OffsetRequest};
pub use page::{Asked, Envelope, Next, Page};
pub use token_pager::{Resume, TokenPage, TokenPager, TokenPagerConfig, TokenRequest};
pub use windows::{Walk, WalkState, Window, WindowBatcher, WindowConfig, WindowError};
