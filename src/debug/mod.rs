//! Local debug runner and its SQLite warehouse.

pub mod inputs;
pub mod progress;
