//! The settings every simulator's configuration holds, read in one place: its seed, its simulated
//! "now", its server options and its rate limit. [`super::running::ApiSimulator`] builds the
//! control state from them by default, so a simulator states only what its API does differently.

use chrono::{DateTime, Utc};

use super::{RateLimitConfig, ServerOptions};

/// The common settings of a simulator's configuration.
pub trait SimSettings {
    /// Seed of the data and of random faults.
    fn seed(&self) -> u64;
    /// The simulated "now" the clock starts at.
    fn data_end(&self) -> DateTime<Utc>;
    /// Port and clock mode.
    fn server(&self) -> &ServerOptions;
    /// Port and clock mode, to fill in before a start.
    fn server_mut(&mut self) -> &mut ServerOptions;
    /// The request budget.
    fn rate_limit(&self) -> &RateLimitConfig;
}

/// Implements [`SimSettings`] for a configuration with the fields `seed`, `data_end`, `server` and
/// `rate_limit` (every simulator's but SA360's, whose "now" is noon of its `today`).
macro_rules! sim_settings {
    ($config:ty) => {
        impl $crate::simulator::SimSettings for $config {
            fn seed(&self) -> u64 {
                self.seed
            }
            fn data_end(&self) -> chrono::DateTime<chrono::Utc> {
                self.data_end
            }
            fn server(&self) -> &$crate::simulator::ServerOptions {
                &self.server
            }
            fn server_mut(&mut self) -> &mut $crate::simulator::ServerOptions {
                &mut self.server
            }
            fn rate_limit(&self) -> &$crate::simulator::RateLimitConfig {
                &self.rate_limit
            }
        }
    };
}
pub(crate) use sim_settings;
