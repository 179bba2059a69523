//! The connectors, one folder each (`api`, `sync`, `models`, `simulator`); each is registered by name in
//! [`crate::registry`].

pub mod close;
pub mod database;
pub mod demo;
pub mod everyaction;
pub mod github;
pub mod hubspot;
pub mod mysql;
pub mod ongage;
pub mod postgres;
pub mod sa360;
pub mod stripe;
pub mod virtuous;
