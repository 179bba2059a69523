//! The connectors, one folder each (`api`, `sync`, `models`, `simulator`).

pub mod virtuous;
pub mod ongage;
