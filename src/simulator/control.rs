//! The Rust control surface every simulator shares: clock, request log, faults, rate limits.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::clock::{ClockMode, SimClock};
use super::faults::FaultPlan;
use super::log::{RequestLog, DEFAULT_LOG_CAPACITY};
use super::rate_limit::{RateLimitConfig, RateLimiter};

/// Server settings shared by every simulator's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Whether the simulated clock ticks with real time.
    pub clock_mode: ClockMode,
    /// Request-log entries kept.
    pub log_capacity: usize,
}

impl Default for ServerOptions {
    /// Any free port, a running clock, [`DEFAULT_LOG_CAPACITY`] entries.
    fn default() -> Self {
        Self {
            port: 0,
            clock_mode: ClockMode::Running,
            log_capacity: DEFAULT_LOG_CAPACITY,
        }
    }
}

/// The shared state behind one running simulator. Tests reach it through the simulator handle
/// (`sim.control()`); the HTTP control endpoints expose the same operations.
#[derive(Debug)]
pub struct SimControl {
    seed: u64,
    clock: SimClock,
    log: Arc<RequestLog>,
    faults: FaultPlan,
    rate: RateLimiter,
    shutdown: CancellationToken,
}

impl SimControl {
    /// Control state for a simulator seeded with `seed`, whose clock starts at `clock_start`.
    pub fn new(
        seed: u64,
        clock_start: DateTime<Utc>,
        options: &ServerOptions,
        rate_limit: RateLimitConfig,
    ) -> Self {
        Self {
            seed,
            clock: SimClock::new(clock_start, options.clock_mode),
            log: Arc::new(RequestLog::new(options.log_capacity)),
            faults: FaultPlan::new(seed),
            rate: RateLimiter::new(rate_limit),
            shutdown: CancellationToken::new(),
        }
    }

    /// The seed the simulator's data and random faults derive from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The simulated clock.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// The request log.
    pub fn log(&self) -> &Arc<RequestLog> {
        &self.log
    }

    /// The fault plan.
    pub fn faults(&self) -> &FaultPlan {
        &self.faults
    }

    /// The rate limiter.
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.rate
    }

    /// Cancelled when the simulator shuts down; long waits (hangs, slow pages) select on it so
    /// shutdown never waits for them.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }
}
