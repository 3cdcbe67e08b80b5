//! Real agents: the four CLIs that `cargo xtask agents install` puts in `target/agents/`, each
//! run with its preset's argv and pointed at `devflow-model-stub`, driven by `devflow` in real
//! tmux. The stub's log is the ground truth: every prompt devflow recorded reached the model
//! exactly once, and none that it did not record.
//!
//! - `two_phases`: two phases, one repaired once.
//! - `kill_resume`: `kill -9` of devflow while it waits for an artifact, then `devflow resume`.
//! - `first_run`: nothing configured (a gate that names the dialog, no prompt recorded), and
//!   the folder trust answered by opt-in (`answer_dialogs`).
//! - `scenario_line`: instructions with a `Scenario:` line reach the agent unchanged.
//!
//! Without the CLIs (or tmux) these tests say SKIPPED loudly; under `CI=true` they fail. When
//! `DEVFLOW_REAL_AGENTS_RAN` names a file, each test that ran appends a line to it (its name,
//! CLI and seconds): `cargo xtask test` counts them and fails under CI when none ran.

mod config;
mod first_run;
mod kill_resume;
mod scenario_line;
mod stub;
mod two_phases;
mod verdict;
mod world;

use std::io::Write;
use std::time::Duration;

use world::Cli;

/// Longest one driving command may take here: two phases, each with an artifact wait that may
/// time out once before its repair.
pub const RUN_DEADLINE: Duration = Duration::from_secs(300);

/// Appends this test's line to `$DEVFLOW_REAL_AGENTS_RAN`.
fn record_ran(cli: Cli, took: Duration) {
    let Some(path) = std::env::var_os("DEVFLOW_REAL_AGENTS_RAN") else { return };
    let name = std::thread::current().name().unwrap_or("?").to_owned();
    let line = format!("{name}\t{cli:?}\t{:.1}\n", took.as_secs_f64());
    let file = std::fs::OpenOptions::new().create(true).append(true).open(&path);
    if let Ok(mut file) = file {
        let _ = file.write_all(line.as_bytes());
    }
}
