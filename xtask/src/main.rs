//! `cargo xtask`: the workspace's own tasks (tests on both databases, migrations, a dev PostgreSQL,
//! the real agent CLIs).
//!
//! Plain std and a hand-rolled argument match: an xtask should build in seconds and need nothing
//! a fresh checkout does not already have. Each subcommand lives in its own module; `main` only
//! dispatches.

#![allow(clippy::disallowed_methods)] // The workspace's tooling: it starts cargo, PostgreSQL and tmux, and times them.

mod agents;
mod bench;
mod migrate;
mod pg;
mod real_agents;
mod test;
#[cfg(test)]
mod tidy;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Errors of an xtask are messages for the person at the terminal; nothing matches on them.
pub type Result<T> = std::result::Result<T, String>;

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  test [-- ARGS]      run every test of the workspace on SQLite and PostgreSQL
                      (starts a throwaway PostgreSQL unless DEVFLOW_TEST_DATABASE_URL is set;
                      ARGS go to `cargo nextest run` / `cargo test`, e.g. `-- -p devflow-core`)
  migrate             check that migrations/sqlite and migrations/postgres are in step
  migrate new NAME    create migrations/{sqlite,postgres}/<timestamp>_NAME/{up,down}.sql
  bench [-- ARGS]     phases/s, p50/p99 and overhead against empty durable steps, on SQLite
                      and PostgreSQL (ARGS: --phases N, --backend sqlite|postgres)
  bench scale [--runs N] [--work-ms MS]
                      N agent-sim runs under one devflow worker in real tmux (default 100):
                      devflow's CPU per agent-minute, spawns/s, memory, delivery and detection
  pg                  start a persistent development PostgreSQL (data in target/devflow-pg)
  pg stop             stop it
  agents install      the real agent CLIs (Claude Code, Codex CLI, Gemini CLI, Aider), pinned,
                      into target/agents; prints the bin folder to put on PATH and their versions
  agents path         print that bin folder
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match task {
        "test" => test::run(rest),
        "migrate" => migrate::run(rest),
        "pg" => pg::run(rest),
        "bench" => bench::run(rest),
        "agents" => agents::run(rest),
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprint!("error: unknown task `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the folder that holds `xtask/`).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits inside the workspace root")
        .to_path_buf()
}

/// The cargo that runs us, so that `cargo +toolchain xtask` keeps its toolchain.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// True under `CI=true` (exactly, as devflow-db's test harness reads it): a missing PostgreSQL
/// is then a failure, not a warning.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Rejects arguments a task does not take.
pub fn no_more_args(task: &str, rest: &[String]) -> Result<()> {
    match rest.first() {
        None => Ok(()),
        Some(arg) => {
            Err(format!("`cargo xtask {task}` does not take `{arg}` (see `cargo xtask help`)"))
        }
    }
}
