//! The one place devflow starts an agent CLI itself, outside tmux: `<cli> --version` for
//! `devflow doctor`, bounded in time, in the role's environment, with nothing on its input.
//!
//! It runs in a process group of its own so that a CLI that starts children (Codex CLI's node
//! wrapper, Gemini CLI's re-executed node) is ended whole when it overruns its bound.

#![allow(clippy::disallowed_methods)] // Starts the CLI whose version doctor reports (see ARCHITECTURE.md, "Processes").

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// What a CLI answered, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// The first line it printed (neutralized, at most [`LINE_CHARS_MAX`] characters).
    Printed(String),
    /// It ran but printed nothing useful, or failed; the text says how.
    Failed(String),
}

/// Longest version line kept.
pub const LINE_CHARS_MAX: usize = 120;

/// Variables never handed to an agent CLI (devflow's tmux clients clear them too).
const WITHHELD: &[&str] = &["DEVFLOW_DATABASE_URL", "PGPASSWORD"];

/// Runs `program args` with exactly `env` (less [`WITHHELD`]) in `cwd`, for at most `timeout`.
pub async fn cli_version(
    program: &Path,
    args: &[&str],
    env: &BTreeMap<String, String>,
    cwd: &Path,
    timeout: Duration,
) -> Version {
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().filter(|(key, _)| !WITHHELD.contains(&key.as_str())))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = match command.spawn() {
        Ok(child) => child,
        Err(error) => return Version::Failed(format!("cannot start it: {error}")),
    };
    let group = child.id();
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => {
            if let Some(pid) = group.and_then(|pid| rustix::process::Pid::from_raw(pid as i32)) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            Version::Failed(format!(
                "`{}` did not answer within {} s",
                args.join(" "),
                timeout.as_secs()
            ))
        }
        Ok(Err(error)) => Version::Failed(format!("cannot read its output: {error}")),
        Ok(Ok(output)) => {
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            let line = stdout.lines().chain(stderr.lines()).map(str::trim).find(|l| !l.is_empty());
            let line = line.map(|line| {
                let line = devflow_core::text::neutralize_line(line);
                line.chars().take(LINE_CHARS_MAX).collect::<String>()
            });
            match (output.status.success(), line) {
                (true, Some(line)) => Version::Printed(line),
                (true, None) => Version::Failed("it printed nothing".to_owned()),
                (false, line) => Version::Failed(format!(
                    "it exited with {}{}",
                    output.status,
                    line.map(|l| format!(": {l}")).unwrap_or_default()
                )),
            }
        }
    }
}

/// Whether a version line names the same major.minor as `tested` (`"2.1.332 (Claude Code)"`
/// against `"2.1.332"`): the first word that looks like a version is compared.
pub fn same_minor(line: &str, tested: &str) -> bool {
    let minor = |text: &str| -> Option<String> {
        let word = text
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .find(|word| word.split('.').filter(|part| !part.is_empty()).count() >= 2)?;
        let mut parts = word.split('.');
        Some(format!("{}.{}", parts.next()?, parts.next()?))
    };
    minor(line).is_some_and(|found| Some(found) == minor(tested))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_major_and_minor() {
        assert!(same_minor("2.1.332 (Claude Code)", "2.1.332"));
        assert!(same_minor("codex-cli 0.171.4", "0.171.0"));
        assert!(same_minor("aider 0.86.2", "0.86.2"));
        assert!(!same_minor("2.2.0 (Claude Code)", "2.1.332"));
        assert!(!same_minor("no version here", "0.61.0"));
    }

    #[tokio::test]
    async fn a_program_that_hangs_is_ended_within_its_bound() {
        let env = BTreeMap::from([("PATH".to_owned(), "/usr/bin:/bin".to_owned())]);
        let sh = Path::new("/bin/sh");
        let hung =
            cli_version(sh, &["-c", "sleep 30"], &env, Path::new("/"), Duration::from_millis(200))
                .await;
        assert!(
            matches!(&hung, Version::Failed(why) if why.contains("did not answer")),
            "{hung:?}"
        );
        let printed = cli_version(
            sh,
            &["-c", "echo; echo ' v1.2.3 '"],
            &env,
            Path::new("/"),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(printed, Version::Printed("v1.2.3".to_owned()));
        let leaked = cli_version(
            sh,
            &["-c", "echo ${PGPASSWORD:-none}"],
            &BTreeMap::from([("PGPASSWORD".to_owned(), "secret".to_owned())]),
            Path::new("/"),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(leaked, Version::Printed("none".to_owned()), "no password reaches the CLI");
    }
}
