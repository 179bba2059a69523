//! The connectors, one folder each (`api`, `sync`, `models`, `simulator`).

pub mod ongage;
pub mod virtuous;
