//! `cargo xtask bench`: the phase throughput benchmark on SQLite and PostgreSQL.
//!
//! Builds and runs `phase/benches/throughput.rs` in release mode against a throwaway
//! PostgreSQL (the same harness as `cargo xtask test`, so durability is off there: fsync and
//! synchronous_commit are off, while SQLite runs with synchronous=FULL) unless
//! DEVFLOW_TEST_DATABASE_URL names a server. Arguments after `--` go to the benchmark
//! (`--phases N`, `--backend sqlite|postgres`).

use std::process::{Command, ExitCode};

use crate::pg::{Binaries, TempServer};
use crate::{Result, cargo, is_ci, project_root};

const URL_VAR: &str = "DEVFLOW_TEST_DATABASE_URL";

pub fn run(rest: &[String]) -> Result<ExitCode> {
    let extra = match rest.split_first() {
        Some((first, tail)) if first == "--" => tail,
        _ => rest,
    };
    let _server: Option<TempServer>;
    let url = match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => {
            _server = None;
            Some(url)
        }
        _ => match Binaries::find() {
            Some(bin) => {
                let temp = TempServer::start(bin)?;
                let url = temp.url();
                println!(
                    "xtask: benchmarking PostgreSQL on a throwaway server (fsync=off, synchronous_commit=off)"
                );
                _server = Some(temp);
                Some(url)
            }
            None if is_ci() => {
                return Err(
                    "CI=true and no PostgreSQL server binaries: cannot benchmark PostgreSQL".into(),
                );
            }
            None => {
                eprintln!("xtask: no PostgreSQL server binaries found; benchmarking SQLite only");
                _server = None;
                None
            }
        },
    };
    let mut command = Command::new(cargo());
    command
        .current_dir(project_root())
        .args([
            "bench",
            "--quiet",
            "-p",
            "devflow-phase",
            "--bench",
            "throughput",
            "--",
        ])
        .args(extra);
    match &url {
        Some(url) => command.env(URL_VAR, url),
        None => command.env_remove(URL_VAR),
    };
    let status = command
        .status()
        .map_err(|error| format!("cannot run cargo bench: {error}"))?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
