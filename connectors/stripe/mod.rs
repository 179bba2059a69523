//! Stripe, as a declarative connector: the definition is `definitions/stripe.toml` (run by
//! [`crate::declarative`]); this folder holds only its simulator, written from Stripe's API
//! documentation (`docs/apis.md` §5a), never from the definition.

pub mod simulator;

/// The shipped definition's file.
pub const DEFINITION: &str = "definitions/stripe.toml";
