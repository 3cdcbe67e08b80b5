//! The session crate's one integration test binary: the fake adapter's stories, and real tmux
//! driving agent-sim.

#![allow(clippy::disallowed_methods)] // Tests start the binaries they test, and keep their own deadlines.

mod fake;
mod fake_delivery;
mod support;
mod tmux;
