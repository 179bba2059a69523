//! OnGage email platform connector.

pub mod simulator;
