//! Local debug runner and its SQLite warehouse.

pub mod host;
pub mod inputs;
pub mod naming;
pub mod progress;
pub mod runner;
pub mod state_file;
pub mod warehouse;
