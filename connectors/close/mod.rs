//! Close, as a declarative connector: the definition is `definitions/close.toml` (run by
//! [`crate::declarative`]); this folder holds only its simulator, written from Close's API
//! documentation (`docs/apis.md` §5c), never from the definition.

pub mod simulator;

/// The shipped definition's file.
pub const DEFINITION: &str = "definitions/close.toml";
