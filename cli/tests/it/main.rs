//! End-to-end tests: the built `devflow` binary in real tmux, agents played by `devflow agent-sim`.
//! Each test has its own worktree, tmux server and `TMUX_TMPDIR`.

mod browser;
mod commands;
mod crash;
mod database;
mod example;
mod faults;
mod gates;
mod input;
mod notify;
mod process;
mod support;
mod web;
