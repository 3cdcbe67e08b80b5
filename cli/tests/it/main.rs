//! End-to-end tests: the built `devflow` binary in real tmux, agents played by `devflow agent-sim`.
//! Each test has its own worktree, tmux server and `TMUX_TMPDIR`.

mod commands;
mod crash;
mod database;
mod example;
mod faults;
mod gates;
mod input;
mod process;
mod support;
