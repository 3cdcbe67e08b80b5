//! `cargo xtask test`: every test of the workspace, on SQLite and on PostgreSQL.
//!
//! The tests find PostgreSQL through `DEVFLOW_TEST_DATABASE_URL`. When it is not set, this task
//! starts a throwaway server from the installed binaries and stops it afterwards. Without
//! PostgreSQL the run goes on with SQLite only and says so loudly — unless `CI=true`, where that
//! is a failure, as is a run in which no PostgreSQL test created its database, or (for the whole
//! suite) one in which no real-agent test ran (`real_agents.rs`).

use std::path::Path;
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::Instant;

use crate::pg::{self, Binaries, INSTALL_HINT, TempServer};
use crate::{Result, cargo, is_ci, project_root};

const URL_VAR: &str = "DEVFLOW_TEST_DATABASE_URL";

/// `cargo nextest run`'s exit code when the tests did not compile.
const NEXTEST_BUILD_FAILED: i32 = 101;

pub fn run(rest: &[String]) -> Result<ExitCode> {
    // `cargo xtask test -- -p devflow-core` and `cargo xtask test -p devflow-core` mean the same.
    let extra = match rest.split_first() {
        Some((first, tail)) if first == "--" => tail,
        _ => rest,
    };
    let ci = is_ci();
    let bin = Binaries::find();
    // `server` lives until the end: dropping it stops the server on every way out.
    let (url, server) = choose_database(bin.as_ref(), ci)?;
    // A long-lived server (`cargo xtask pg`) keeps each run's databases; clear the old ones.
    if let (Some(url), None) = (&url, &server) {
        match pg::drop_test_databases(bin.as_ref(), url) {
            Ok(0) => {}
            Ok(dropped) => println!("xtask: dropped {dropped} test databases of earlier runs"),
            Err(error) => {
                eprintln!("warning: cannot drop the test databases of earlier runs: {error}")
            }
        }
    }
    let before = match &url {
        Some(url) => count_or_complain(bin.as_ref(), url, ci, "before the tests")?,
        None => None,
    };
    let ran = crate::real_agents::prepare();
    let mut code = exit_code(run_tests(extra, url.as_deref(), &ran)?);
    // Only a run of the whole suite must include the real agents.
    if extra.is_empty() && !crate::real_agents::report(&ran, ci) {
        code = ExitCode::FAILURE;
    }
    if let (Some(url), Some(before)) = (&url, before)
        && let Some(after) = count_or_complain(bin.as_ref(), url, ci, "after the tests")?
    {
        let created = after.saturating_sub(before);
        println!("PostgreSQL suite: {created} test databases created");
        if created == 0 && ci {
            eprintln!(
                "error: the PostgreSQL tests did not run (no devflow_t_… database was created \
                 on {}), and CI=true requires them",
                pg::redact(url)
            );
            code = ExitCode::FAILURE;
        } else if created == 0 {
            eprintln!("warning: no PostgreSQL test ran (no devflow_t_… database was created)");
        }
    }
    if let Some(server) = server {
        match server.stop() {
            Ok(()) => println!("xtask: stopped the throwaway PostgreSQL and removed its folder"),
            Err(error) => eprintln!("warning: {error}"),
        }
    }
    Ok(code)
}

/// The server URL for the tests: `DEVFLOW_TEST_DATABASE_URL`, else a throwaway server of our
/// own (returned too, to be stopped), else none — a loud warning locally, an error under CI.
fn choose_database(
    bin: Option<&Binaries>,
    ci: bool,
) -> Result<(Option<String>, Option<TempServer>)> {
    if let Ok(url) = std::env::var(URL_VAR)
        && !url.is_empty()
    {
        println!("xtask: PostgreSQL from {URL_VAR}={}", pg::redact(&url));
        return Ok((Some(url), None));
    }
    match bin {
        Some(bin) => {
            let started = Instant::now();
            let server = TempServer::start(bin.clone())?;
            println!(
                "xtask: started a throwaway {} on 127.0.0.1:{} in {} ms",
                bin.version(),
                server.port(),
                started.elapsed().as_millis()
            );
            Ok((Some(server.url()), Some(server)))
        }
        None if ci => Err(format!(
            "CI=true and no PostgreSQL server binaries were found (looked in \
             /usr/lib/postgresql/*/bin and for pg_ctl on PATH), so the PostgreSQL tests cannot \
             run: {INSTALL_HINT}"
        )),
        None => {
            eprintln!("{}", missing_postgres_banner());
            Ok((None, None))
        }
    }
}

/// Counts the test databases; a failure to count is an error under CI and a warning otherwise.
fn count_or_complain(
    bin: Option<&Binaries>,
    url: &str,
    ci: bool,
    when: &str,
) -> Result<Option<u64>> {
    match pg::count_test_databases(bin, url) {
        Ok(count) => Ok(Some(count)),
        Err(error) if ci => Err(format!(
            "cannot count the PostgreSQL test databases {when}, so cannot show that the \
             PostgreSQL tests ran: {error}"
        )),
        Err(error) => {
            eprintln!("warning: cannot count the PostgreSQL test databases {when}: {error}");
            Ok(None)
        }
    }
}

/// Runs the test command (and, under nextest, which does not run doctests, `cargo test --doc`).
fn run_tests(extra: &[String], url: Option<&str>, ran: &Path) -> Result<ExitStatus> {
    let nextest = Command::new(cargo())
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    let runner: &[&str] = if nextest { &["nextest", "run"] } else { &["test"] };
    let mut status = run_cargo(&[runner, &test_flags(extra)].concat(), extra, url, ran)?;
    // After a failed build (nextest's exit code 101) the doctests would only fail the same way.
    if nextest && extra.is_empty() && status.code() != Some(NEXTEST_BUILD_FAILED) {
        let doc_args = [&["test"], &test_flags(&[])[..], &["--doc"]].concat();
        let doc = run_cargo(&doc_args, &[], url, ran)?;
        if status.success() {
            status = doc;
        }
    }
    Ok(status)
}

/// `--workspace --all-features --no-fail-fast`, without `--workspace` when the extra arguments
/// pick packages (cargo would otherwise ignore `-p` and test everything).
fn test_flags(extra: &[String]) -> Vec<&'static str> {
    let before_separator = extra.iter().take_while(|arg| *arg != "--");
    let picks_packages = before_separator
        .into_iter()
        .any(|arg| arg.starts_with("-p") || arg.starts_with("--package"));
    let mut flags = vec!["--all-features", "--no-fail-fast"];
    if !picks_packages {
        flags.insert(0, "--workspace");
    }
    flags
}

fn run_cargo(args: &[&str], extra: &[String], url: Option<&str>, ran: &Path) -> Result<ExitStatus> {
    let mut command = Command::new(cargo());
    command.args(args).args(extra).current_dir(project_root()).env(crate::real_agents::VAR, ran);
    match url {
        Some(url) => command.env(URL_VAR, url),
        None => command.env_remove(URL_VAR),
    };
    let shown = [&["cargo"], args, &extra.iter().map(String::as_str).collect::<Vec<_>>()[..]]
        .concat()
        .join(" ");
    println!("xtask: running `{shown}`");
    let started = Instant::now();
    let status = command.status().map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    println!("xtask: `{shown}` finished in {:.1} s ({status})", started.elapsed().as_secs_f64());
    Ok(status)
}

fn exit_code(status: ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        (None, Some(signal)) => ExitCode::from(u8::try_from(128 + signal).unwrap_or(1)),
        (None, None) => ExitCode::FAILURE,
    }
}

fn missing_postgres_banner() -> String {
    let rule = "=".repeat(78);
    format!(
        "{rule}
  WARNING: no PostgreSQL server binaries found (/usr/lib/postgresql/*/bin, pg_ctl on PATH).
  The PostgreSQL tests will be SKIPPED: this run tests devflow on SQLite only.

  To run them too, either install the server binaries
      apt-get install postgresql          (Debian/Ubuntu; tmux is needed too)
      dnf install postgresql-server       (Fedora)
      brew install postgresql             (macOS)
  or point {URL_VAR} at a server where the user may create databases:
      export {URL_VAR}=postgres://USER@HOST:PORT/postgres

  Under CI=true a missing PostgreSQL fails the run.
{rule}"
    )
}
