//! Tests of the EveryAction simulator: the data model directly, the API over HTTP.
