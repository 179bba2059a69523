//! Shared machinery for API simulators: request log, fault injection, rate limits, clock.
//!
//! No machine that builds or tests this project reaches a SaaS API, so every connector ships a
//! simulator of its API (`connectors/<name>/simulator.rs`). The pieces every simulator needs
//! live here, written once:
//!
//! - [`SimServer`]: binds `127.0.0.1:<port>`, wraps the simulator's router in the shared
//!   request pipeline and adds the `/__sim` [control endpoints](http_control); shuts down
//!   gracefully on drop;
//! - [`SimControl`]: the Rust control surface — [`SimClock`], [`RequestLog`], [`FaultPlan`],
//!   [`RateLimiter`];
//! - [`SimulatorHooks`]: what a simulator says about its API (its 429, its rate-limit headers,
//!   its idea of an empty page, which headers are secret, how to advance its data);
//! - [`oauth`]: the OAuth 2.0 refresh-token grant's bookkeeping (tokens expiring on the simulated
//!   clock), for simulators of APIs that authenticate with it;
//! - [`rng`]: deterministic hashing so record `i` can be derived from `(seed, i)` alone, which is
//!   how simulators serve millions of records without holding them;
//! - [`sparse`]: record counts per generation plus a sparse overlay of what `advance` touched,
//!   the bookkeeping behind "record `i` from `(seed, i)`".
//!
//! A request's path through a server: control path → control router; otherwise log → rate
//! limit → fault plan → the simulator's handler → rate-limit headers → log completion.

mod clock;
mod control;
mod faults;
pub mod generations;
mod hooks;
pub mod http_control;
pub mod launch;
mod log;
pub mod oauth;
pub mod options;
mod pipeline;
mod rate_limit;
pub mod rng;
pub mod running;
mod server;
mod settings;
pub mod sparse;

pub use clock::{ClockMode, SimClock};
pub use control::{ServerOptions, SimControl};
pub use faults::{Fault, FaultPlan, FaultRule, FaultRuleState, FaultWhen};
pub use generations::{AdvanceSummary, Evolving, Generational, Timeline};
pub use hooks::{empty_page_default, SimulatorHooks};
pub use log::{Arrival, InFlight, LoggedRequest, RequestLog, DEFAULT_LOG_CAPACITY};
pub use oauth::{OAuthClient, OAuthTokens, TokenStatus};
pub use rate_limit::{RateDecision, RateLimitConfig, RateLimiter, WindowStatus};
pub use server::SimServer;
pub(crate) use settings::sim_settings;
pub use settings::SimSettings;
pub use sparse::{Origin, SparseTable, Volume};

/// Errors starting a simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listening socket could not be bound.
    #[error("cannot bind simulator to {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The configuration is contradictory.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
}

#[cfg(test)]
pub(crate) mod test_client;
#[cfg(test)]
mod tests;
