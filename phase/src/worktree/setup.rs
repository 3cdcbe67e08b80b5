//! A workflow's `setup` command, run in a new worktree (`sh -c`, the worktree as its folder): how
//! it ended and the tail of what it printed, which a failure's human gate shows. A success is
//! recorded in the worktree's own git folder, so it is not run twice in one worktree; one that
//! was stopped by a crash before it ended runs again, so it should be a command that can
//! (`npm ci`, `cargo fetch`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use devflow_core::{Code, Error, Result};

use super::Worktree;
use super::repo::io_error;

/// How many of the last lines of output a [`Setup`] keeps.
pub const TAIL_LINES: usize = 40;

/// How a setup command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// It exited with status 0 (now, or when it ran before).
    pub ok: bool,
    /// It ran now; `false` when it had succeeded in this worktree before and was not run again.
    pub ran: bool,
    /// `exit status N`, `killed by signal N`, or that it overran its bound.
    pub status: String,
    /// Its exit status, when it exited.
    pub code: Option<i32>,
    /// The last [`TAIL_LINES`] lines of its output (stdout and stderr as they came), made safe
    /// for a terminal.
    pub output_tail: String,
}

/// The file in the worktree's own git folder (`.git/worktrees/<name>/`, which goes with the
/// worktree) that says which setup command succeeded in it.
const DONE: &str = "devflow-setup-done";

impl Worktree {
    /// Runs `command` with `sh -c` in the worktree, for at most `timeout` (then its process
    /// group is killed) — unless it already succeeded in this very worktree: then it is not run
    /// again (`ran` is false), so a crash after the setup and before its record costs nothing.
    /// A worktree made again (after an interrupted create) has a git folder of its own, and its
    /// setup runs.
    pub async fn run_setup(&self, command: &str, timeout: Duration) -> Result<Setup> {
        let done = self.git_dir().await?.join(DONE);
        if std::fs::read_to_string(&done).is_ok_and(|text| text == command) {
            let status = "succeeded before".to_owned();
            return Ok(Setup {
                ok: true,
                ran: false,
                status,
                code: Some(0),
                output_tail: String::new(),
            });
        }
        let ended = self.git.shell(&self.path, command, timeout).await?;
        let ok = ended.code == Some(0);
        if ok {
            write_atomically(&done, command)?;
        }
        Ok(Setup {
            ok,
            ran: true,
            status: ended.status,
            code: ended.code,
            output_tail: tail(&ended.tail, TAIL_LINES),
        })
    }

    async fn git_dir(&self) -> Result<PathBuf> {
        let dir = self.git.run(&self.path, &["rev-parse", "--absolute-git-dir"]).await?;
        Ok(PathBuf::from(dir.trim_end_matches('\n')))
    }
}

/// Written whole or not at all: a crash leaves no half-written record of a setup.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let partial = path.with_extension("partial");
    let write = std::fs::write(&partial, text).and_then(|()| std::fs::rename(&partial, path));
    write.map_err(|error| io_error("write", path, error))
}

impl Setup {
    /// `self` when it succeeded; otherwise the `setup_failed` error a human gate shows, with
    /// the command, the worktree, the status and the output's tail.
    pub fn check(self, command: &str, worktree: &Worktree) -> Result<Setup> {
        if self.ok {
            return Ok(self);
        }
        let message = format!(
            "setup `{command}` in {} failed ({}); its last output:\n{}",
            worktree.path().display(),
            self.status,
            self.output_tail
        );
        Err(Error::new(Code::SetupFailed, message)
            .with_hint("fix the setup command or what it needs, then resume: it runs again"))
    }
}

/// The last `lines` lines of `output`, neutralized.
pub(super) fn tail(output: &[u8], lines: usize) -> String {
    let text = String::from_utf8_lossy(output);
    let text = text.trim_end();
    let start = text.rmatch_indices('\n').nth(lines.saturating_sub(1)).map_or(0, |(at, _)| at + 1);
    devflow_core::text::neutralize(&text[start..]).into_owned()
}
