//! HubSpot CRM v3, as a declarative connector: the definition is `definitions/hubspot.toml` (run
//! by [`crate::declarative`]); this folder holds only its simulator, written from HubSpot's API
//! documentation (`docs/apis.md` §5b), never from the definition.

pub mod simulator;

/// The shipped definition's file.
pub const DEFINITION: &str = "definitions/hubspot.toml";
