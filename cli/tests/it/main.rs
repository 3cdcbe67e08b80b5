//! End-to-end tests: the built `devflow` binary in real tmux, agents played by `devflow agent-sim`.
//! Each test has its own worktree, tmux server and `TMUX_TMPDIR`.

mod commands;
mod crash;
mod example;
mod gates;
mod input;
mod real_agents;
mod support;
