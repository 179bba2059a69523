//! Google Search Ads 360 Reporting API (v0): so far only its [`simulator`]; the connector comes later.

pub mod simulator;
