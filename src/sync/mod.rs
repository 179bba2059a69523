//! Shared sync machinery: ID cursor pager, date-window batcher, async jobs, stall guards.
