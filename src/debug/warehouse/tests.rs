//! Tests of the warehouse semantics.
