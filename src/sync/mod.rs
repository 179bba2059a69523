//! Shared sync machinery every API connector composes: the ID cursor pager, the date-window batcher, the
//! async export-job helper, stall guards and the state-size helper. None of it emits to Fivetran: it
//! yields ordered data and safe checkpoints to the connector, which emits rows and then checkpoints.

#![warn(missing_docs)]

pub mod id_pager;

pub use id_pager::{
    ErroredRange, IdPager, IdPagerConfig, Page, PageRequest, PagerError, PagerItem,
};
pub mod windows;

pub use windows::{Window, WindowBatcher, WindowConfig, WindowError};
pub mod guards;
pub mod state;

pub use guards::{IdleLog, StallError, StallGuard};
pub use state::{decode_state, encode_state, StateError};
pub mod decode;
pub mod job;

pub use decode::{csv_rows, json_records};
pub use job::{run_job, ExportJob, JobConfig, JobError, JobStatus};
