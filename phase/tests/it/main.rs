//! devflow-phase integration tests: every scenario of the reference runner on every backend,
//! and crash re-entry at every crash point.

mod support;

mod files;
mod scenarios;

#[cfg(feature = "failpoints")]
mod crash;
