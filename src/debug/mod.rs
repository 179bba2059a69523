//! Local debug runner and its SQLite warehouse.
