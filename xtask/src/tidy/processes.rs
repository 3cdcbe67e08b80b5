//! Where devflow starts processes and reads the wall clock: only in the modules that own them.
//! `clippy.toml` bans `Command::new`, `SystemTime::now` and `Instant::now`; a module that may use
//! one says so with `#[allow(clippy::disallowed_methods)]`, and this test holds the list.

use super::{read, relative, rust_files};

/// The product's files that may start a process or read the wall clock, and why.
const ALLOWED: &[(&str, &str)] = &[
    ("core/src/clock.rs", "the one reading of the wall clock"),
    ("session/src/tmux/server.rs", "the one place devflow starts a tmux client"),
    ("session/src/cli_version.rs", "`<agent CLI> --version` for doctor, bounded in time"),
    ("web/src/notify/sinks.rs", "runs a notification's command hook and notify-send"),
    ("phase/src/worktree/git.rs", "runs git and a workflow's setup command for managed worktrees"),
];

/// Test, benchmark and tooling code starts the binaries it tests and keeps its own deadlines;
/// the model stub is a test double of the model service.
pub(super) fn is_product(path: &str) -> bool {
    !(path.starts_with("xtask/")
        || path.starts_with("stub/")
        || path.contains("/tests/")
        || path.contains("/benches/")
        || path.ends_with("/tests.rs"))
}

#[test]
fn only_the_listed_modules_start_processes_or_read_the_wall_clock() {
    let mut offenders = Vec::new();
    for file in rust_files() {
        let path = relative(&file);
        let text = read(&file);
        let allows = text.contains("allow(clippy::disallowed_methods)");
        let listed = ALLOWED.iter().any(|(allowed, _)| *allowed == path);
        if is_product(&path) && allows && !listed {
            offenders.push(path);
        }
    }
    assert!(
        offenders.is_empty(),
        "these files lift clippy.toml's ban on starting processes or reading the wall clock, \
         which only the modules in xtask/src/tidy/processes.rs (and ARCHITECTURE.md's \
         \"Processes\") may:\n  {}",
        offenders.join("\n  ")
    );
    for (allowed, why) in ALLOWED {
        let text = read(&crate::project_root().join(allowed));
        assert!(
            text.contains("allow(clippy::disallowed_methods)"),
            "{allowed} ({why}) lifts no ban"
        );
    }
}
