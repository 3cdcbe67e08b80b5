//! The one place the worktree module starts processes: `git -C <folder> …` and a workflow's
//! `setup` command (`sh -c`), both in the caller's environment less the variables that point git
//! at a repository (so a devflow started from a git hook cannot write into the hook's
//! repository); git with `LC_ALL=C`, so that its output and messages can be read.
//!
//! Every git command runs with the user's hooks off (`core.hooksPath=/dev/null`), signing off
//! and colour off: devflow's commits and merges are bookkeeping on its own branches, and a hook
//! that edits files, asks for a passphrase or fails on half-done work would make them neither
//! repeatable nor checkable after a crash. A git that is running is never killed: a cancelled
//! call leaves it to finish, so devflow never leaves a repository half-way through a command.

#![allow(clippy::disallowed_methods)] // Runs git and a workflow's setup command for managed worktrees (see ARCHITECTURE.md, "Processes").

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use devflow_core::{Code, Error, Result};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// The variables git reads to find a repository, its index, objects and configuration
/// (`git rev-parse --local-env-vars`, git 2.47), and those a hook's environment adds. git's own
/// submodule code clears the same list when it moves to another repository.
const REPOSITORY_VARIABLES: &[&str] = &[
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_QUARANTINE_PATH",
    "GIT_REFLOG_ACTION",
    "GIT_EDITOR",
];

/// Configuration every git command devflow runs gets, whatever the user's says.
const CONFIG: &[&str] = &[
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "commit.gpgSign=false",
    "-c",
    "tag.gpgSign=false",
    "-c",
    "color.ui=never",
    "-c",
    "advice.detachedHead=false",
];

/// How much of a setup command's output is kept while it runs: its tail, never all of it.
const SETUP_KEPT_BYTES: usize = 64 * 1024;

/// How long the output of a setup command that ended is still read.
const DRAIN: Duration = Duration::from_millis(200);

/// Longest stderr of a failed git command quoted in its error.
const STDERR_QUOTED_CHARS: usize = 2_000;

/// How devflow runs git: the process's environment with the variables given here on top (tests
/// hand in a throwaway `GIT_CONFIG_GLOBAL`), less [`REPOSITORY_VARIABLES`] whoever set them.
#[derive(Debug, Clone, Default)]
pub struct Git {
    env: Vec<(OsString, OsString)>,
}

/// What a git command left: its status and both outputs.
pub(super) struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// How a setup command ended.
pub(super) struct Ended {
    /// `None` when it was ended by a signal or by its bound.
    pub code: Option<i32>,
    pub status: String,
    pub tail: Vec<u8>,
}

impl Git {
    pub fn new() -> Git {
        Git::default()
    }

    /// Sets `key` for every git and setup process; a repository variable is removed all the same.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Git {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs `git args` in `dir` and returns its stdout; a non-zero exit is `git_failed` naming
    /// the command, the folder and git's stderr.
    pub(super) async fn run(&self, dir: &Path, args: &[&str]) -> Result<String> {
        let output = self.output(dir, args).await?;
        if !output.status.success() {
            return Err(failed(dir, args, &output));
        }
        Ok(output.stdout)
    }

    /// Runs `git args` in `dir` and returns whatever it did; the caller reads the status.
    pub(super) async fn output(&self, dir: &Path, args: &[&str]) -> Result<Output> {
        // No current folder: `-C` names it, and a folder that is not there is git's to report.
        let mut command = self.command("git");
        // git's own messages and lock reasons in English, to be read; the setup keeps the
        // user's locale.
        command.env("LC_ALL", "C");
        command.arg("-C").arg(dir).args(CONFIG).args(args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = command.spawn().map_err(|error| cannot_start("git", dir, args, error))?;
        let output = child.wait_with_output().await.map_err(|error| {
            Error::new(Code::GitFailed, format!("cannot read the output of {}", shown(args)))
                .with_source(error)
        })?;
        Ok(Output {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Runs `sh -c <script>` in `dir`, stderr into stdout, nothing on stdin, in a process group
    /// of its own that is killed whole past `timeout` or when the call is dropped (a cancelled
    /// run); keeps the last [`SETUP_KEPT_BYTES`] of what it printed.
    pub(super) async fn shell(&self, dir: &Path, script: &str, timeout: Duration) -> Result<Ended> {
        let mut command = self.command("sh");
        command.current_dir(dir);
        // The shell joins stderr to stdout itself, so the tail keeps the order they came in.
        command.arg("-c").arg(format!("exec 2>&1\n{script}"));
        command.stdout(Stdio::piped()).stderr(Stdio::null());
        command.process_group(0).kill_on_drop(true);
        let mut child = command.spawn().map_err(|error| {
            Error::new(Code::SetupFailed, format!("cannot start sh in {}", dir.display()))
                .with_source(error)
        })?;
        let group =
            KillOnDrop(child.id().and_then(|pid| rustix::process::Pid::from_raw(pid as i32)));
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut tail = VecDeque::with_capacity(SETUP_KEPT_BYTES);
        let run = async {
            let mut chunk = [0u8; 8192];
            let status = loop {
                tokio::select! {
                    read = stdout.read(&mut chunk) => match read? {
                        0 => break child.wait().await?,
                        read => keep(&mut tail, &chunk[..read]),
                    },
                    status = child.wait() => break status?,
                }
            };
            // What it printed just before it ended. A process it left in the background may
            // hold the pipe open for ever, so this is not waited for beyond a moment.
            let drain = async {
                while let Ok(read @ 1..) = stdout.read(&mut chunk).await {
                    keep(&mut tail, &chunk[..read]);
                }
            };
            let _ = tokio::time::timeout(DRAIN, drain).await;
            Ok::<_, std::io::Error>(status)
        };
        let ended = tokio::time::timeout(timeout, run).await;
        let (code, status) = match ended {
            Ok(Ok(status)) => {
                // Ended on its own: what it left running in the background is the user's.
                group.disarm();
                (status.code(), describe(status))
            }
            Ok(Err(error)) => {
                let message = format!("cannot read the output of setup in {}", dir.display());
                return Err(Error::new(Code::SetupFailed, message).with_source(error));
            }
            Err(_) => {
                drop(group);
                let bound = timeout.as_millis();
                (None, format!("did not end within {bound} ms and was killed"))
            }
        };
        Ok(Ended { code, status, tail: tail.into() })
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.envs(self.env.iter().map(|(key, value)| (key, value)));
        // After the caller's variables, so that none of them can point git elsewhere either.
        for variable in REPOSITORY_VARIABLES {
            command.env_remove(variable);
        }
        // Nothing may wait for a password on the terminal: the run would hang unseen.
        command.env("GIT_TERMINAL_PROMPT", "0");
        command.stdin(Stdio::null());
        command
    }
}

/// Adds `bytes` to the kept tail, dropping what is older than [`SETUP_KEPT_BYTES`].
fn keep(tail: &mut VecDeque<u8>, bytes: &[u8]) {
    tail.extend(bytes);
    let over = tail.len().saturating_sub(SETUP_KEPT_BYTES);
    tail.drain(..over);
}

/// A setup command's process group, killed whole when the call ends without it (overrun,
/// cancelled, failed).
struct KillOnDrop(Option<rustix::process::Pid>);

impl KillOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

/// `git worktree add …` as a person would type it.
fn shown(args: &[&str]) -> String {
    format!("`git {}`", args.join(" "))
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// The `git_failed` error of a command that exited non-zero: what ran, where, and git's stderr.
pub(super) fn failed(dir: &Path, args: &[&str], output: &Output) -> Error {
    let stderr = devflow_core::text::neutralize(output.stderr.trim());
    let stderr: String = stderr.chars().take(STDERR_QUOTED_CHARS).collect();
    let message = format!(
        "{} in {} failed ({}): {stderr}",
        shown(args),
        dir.display(),
        describe(output.status)
    );
    Error::new(Code::GitFailed, message)
        .with_hint("fix the repository as git says, then resume: the step is taken again")
}

fn cannot_start(program: &str, dir: &Path, args: &[&str], error: std::io::Error) -> Error {
    if error.kind() == std::io::ErrorKind::NotFound {
        return Error::new(Code::GitMissing, format!("cannot run {program}: it is not on PATH"))
            .with_hint("install git; managed worktrees need it");
    }
    let message = format!("cannot start {} in {}", shown(args), dir.display());
    Error::new(Code::GitFailed, message).with_source(error)
}
