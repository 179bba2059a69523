//! EveryAction / NGP VAN (VAN API v4): for now only the simulator of its API (`docs/apis.md` §3).

pub mod simulator;
