//! GitHub (GraphQL API v4), as a declarative connector: the definition is `definitions/github.toml`
//! (run by [`crate::declarative`]); this folder holds only its simulator, written from GitHub's
//! GraphQL documentation (`docs/apis.md` §6), never from the definition.

pub mod simulator;

/// The shipped definition's file.
pub const DEFINITION: &str = "definitions/github.toml";
