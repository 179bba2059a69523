//! Virtuous CRM connector.

pub mod simulator;
