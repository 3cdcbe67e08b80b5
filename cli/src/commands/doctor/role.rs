//! `doctor`'s lines for one role: is its CLI installed, which version, and — from the preset's
//! own checks ([`devflow_session::preset::setup`]) — which first-run dialog its configuration
//! will still show, with the exact fix. The configuration is read from the role's environment
//! (`HOME`, `CODEX_HOME`, … as its `env` sets them, else the user's).

use std::path::Path;
use std::time::Duration;

use devflow_phase::workflow::{Role, RoleCommand};
use devflow_session::cli_version::{Version, cli_version, same_minor};
use devflow_session::preset::{self, Level, Preset, Setup};

use crate::programs::{Found, find_role};

/// Longest `<cli> --version` may take (Aider, a Python program, takes a few seconds cold).
const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

/// Prints the role's lines; false when one of them is a FAIL.
pub async fn check(name: &str, role: &Role, worktree: &Path) -> bool {
    let preset = match &role.preset {
        Some(named) => preset::by_name(named).unwrap_or(preset::GENERIC),
        None => preset::for_command(&role.command.to_agent_command()),
    };
    let argv = match &role.command {
        RoleCommand::Argv(argv) => argv.clone(),
        RoleCommand::Shell(line) => line.split_whitespace().map(str::to_owned).collect(),
    };
    let setup = Setup::new(argv, std::env::vars(), &role.env, worktree);
    let mut ok = true;
    match find_role(&role.command) {
        Found::At(found) => {
            out!("ok    role {name}: {} (preset {})", found.display(), preset.name);
            ok &= version(name, preset, &found, &setup).await;
        }
        Found::NotChecked => {
            out!("skip  role {name}: a shell line; its program is not checked");
        }
        Found::Missing(program) => {
            ok = false;
            out!("FAIL  role {name}: {program:?} is not on PATH");
        }
    }
    for finding in preset::setup::check(preset, &setup, &role.answer_dialogs) {
        let level = match finding.level {
            Level::Ok => "ok   ",
            Level::Warn => "warn ",
            Level::Fail => "FAIL ",
        };
        ok &= finding.level != Level::Fail;
        out!("{level} role {name}: {}", finding.text);
    }
    ok
}

/// The CLI's `--version`, and whether it is the one the preset was written from. A version
/// that cannot be read is a warning: the CLI may still work.
async fn version(name: &str, preset: &Preset, program: &Path, setup: &Setup) -> bool {
    if preset.version_args.is_empty() {
        return true;
    }
    let cwd = if setup.worktree.is_dir() { setup.worktree.as_path() } else { Path::new("/") };
    let answer = cli_version(program, preset.version_args, &setup.env, cwd, VERSION_TIMEOUT).await;
    match (answer, preset.tested_version) {
        (Version::Failed(why), _) => {
            out!("warn  role {name}: its version is not known: {why}");
        }
        (Version::Printed(line), Some(tested)) if !same_minor(&line, tested) => {
            out!(
                "warn  role {name}: version {line}; preset {} was written from {tested}, and its screens, flags and dialogs may have changed",
                preset.name
            );
        }
        (Version::Printed(line), _) => {
            out!("ok    role {name}: version {line}");
        }
    }
    true
}
