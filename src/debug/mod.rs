//! Local debug runner and its SQLite warehouse.

pub mod naming;
pub mod state_file;
pub mod warehouse;
