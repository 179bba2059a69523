//! The connector SDK: what a connector implements and the types it talks in.

mod secret;

pub use secret::Secret;
