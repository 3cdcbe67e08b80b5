//! devflow-phase integration tests: every scenario of the reference runner on every backend,
//! every arm of the runner's transition table reached, crash re-entry at every crash point, and
//! managed git worktrees with real git.

#![allow(clippy::disallowed_methods)] // Tests start the binaries they test, and keep their own deadlines.

mod support;

mod arms;
mod busy;
mod files;
mod scenarios;
mod worktree;

#[cfg(feature = "failpoints")]
mod crash;
