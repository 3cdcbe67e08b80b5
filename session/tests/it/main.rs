//! The session crate's one integration test binary: the fake adapter's stories, and real tmux
//! driving agent-sim.

mod fake;
mod fake_delivery;
mod support;
mod tmux;
