//! `cargo xtask bench`: how soon the artifact wait sees an artifact, against the reference's
//! polling (`phase/benches/artifact_wait.rs`), then the phase throughput benchmark on SQLite and
//! PostgreSQL.
//!
//! Builds and runs `phase/benches/throughput.rs` in release mode against a throwaway
//! PostgreSQL (the harness of `cargo xtask test`) unless DEVFLOW_TEST_DATABASE_URL names a
//! server. The throwaway server is switched to production durability first (fsync,
//! synchronous_commit and full_page_writes on), as SQLite runs with synchronous=FULL: with
//! durability off a commit costs next to nothing, and the overhead ratio would compare the
//! runner against a database no one deploys. Arguments after `--` go to the throughput benchmark
//! (`--phases N`, `--backend sqlite|postgres`, `--worktree-on-disk`). `cargo xtask bench scale`
//! is the other benchmark: many agents under one worker (`bench/scale.rs`).

use std::process::{Command, ExitCode, ExitStatus};

use crate::pg::{Binaries, TempServer};
use crate::{Result, cargo, is_ci, project_root};

const URL_VAR: &str = "DEVFLOW_TEST_DATABASE_URL";

mod scale;

pub fn run(rest: &[String]) -> Result<ExitCode> {
    if let Some(("scale", args)) = rest.split_first().map(|(first, tail)| (first.as_str(), tail)) {
        return scale::run(args);
    }
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
                let temp = TempServer::start(bin.clone())?;
                let url = temp.url();
                make_durable(&bin, &url)?;
                println!(
                    "xtask: benchmarking a throwaway {} with fsync and synchronous_commit on",
                    bin.version()
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
    let status = bench("artifact_wait", &[], None)?;
    if !status.success() {
        return Ok(ExitCode::FAILURE);
    }
    let status = bench("throughput", extra, url.as_deref())?;
    Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Runs one benchmark of devflow-phase in release mode, with the database server `url`.
fn bench(name: &str, args: &[String], url: Option<&str>) -> Result<ExitStatus> {
    let mut command = Command::new(cargo());
    command
        .current_dir(project_root())
        .args(["bench", "--quiet", "-p", "devflow-phase", "--bench", name, "--"])
        .args(args);
    match url {
        Some(url) => command.env(URL_VAR, url),
        None => command.env_remove(URL_VAR),
    };
    command.status().map_err(|error| format!("cannot run cargo bench --bench {name}: {error}"))
}

/// Turns the test server's durability shortcuts off again (all three settings reload on SIGHUP).
fn make_durable(bin: &Binaries, url: &str) -> Result<()> {
    for sql in [
        "ALTER SYSTEM SET fsync = on",
        "ALTER SYSTEM SET synchronous_commit = on",
        "ALTER SYSTEM SET full_page_writes = on",
        "SELECT pg_reload_conf()",
    ] {
        let output = Command::new(bin.tool("psql"))
            .args([url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .map_err(|error| format!("cannot run psql: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "psql `{sql}` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    Ok(())
}
