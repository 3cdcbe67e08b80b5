//! The session crate's one integration test binary: the fake adapter's stories. The tmux
//! adapter's, in real tmux with agent-sim, are the CLI's (`cli/tests/it/tmux_adapter.rs`): they
//! run agent-sim and the pane tap as `devflow agent-sim` and `devflow tmux-tap`.

#![allow(clippy::disallowed_methods)] // Tests start the binaries they test, and keep their own deadlines.

mod fake;
mod fake_delivery;
mod support;
