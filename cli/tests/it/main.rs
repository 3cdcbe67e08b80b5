//! End-to-end tests: the built `devflow` binary in real tmux, agents played by `devflow agent-sim`.
//! Each test has its own worktree, tmux server and `TMUX_TMPDIR`.

#![allow(clippy::disallowed_methods)] // Tests start the binaries they test, and keep their own deadlines.

mod browser;
mod commands;
mod crash;
mod database;
mod doctor;
mod example;
mod faults;
mod fence;
mod gates;
mod hosts;
mod input;
mod managed_worktrees;
mod notify;
mod parallel;
mod process;
mod real_agents;
mod soak;
mod support;
mod tmux_adapter;
mod web;
mod workers;
