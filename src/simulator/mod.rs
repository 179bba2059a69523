//! Shared machinery for API simulators: request log, fault injection, rate limits, clock.
