//! A workflow's `setup` command, run in a new worktree (`sh -c`, the worktree as its folder): how
//! it ended and the tail of what it printed, which a failure's human gate shows. The command is
//! the user's and may run again after a crash (the driver records it done only afterwards), so
//! it should be one that can (`npm ci`, `cargo fetch`).

use std::time::Duration;

use devflow_core::{Code, Error, Result};

use super::Worktree;

/// How many of the last lines of output a [`Setup`] keeps.
pub const TAIL_LINES: usize = 40;

/// How a setup command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// It exited with status 0.
    pub ok: bool,
    /// `exit status N`, `killed by signal N`, or that it overran its bound.
    pub status: String,
    /// Its exit status, when it exited.
    pub code: Option<i32>,
    /// The last [`TAIL_LINES`] lines of its output (stdout and stderr as they came), made safe
    /// for a terminal.
    pub output_tail: String,
}

impl Worktree {
    /// Runs `command` with `sh -c` in the worktree, for at most `timeout` (then its process
    /// group is killed).
    pub async fn run_setup(&self, command: &str, timeout: Duration) -> Result<Setup> {
        let ended = self.git.shell(&self.path, command, timeout).await?;
        Ok(Setup {
            ok: ended.code == Some(0),
            status: ended.status,
            code: ended.code,
            output_tail: tail(&ended.tail, TAIL_LINES),
        })
    }
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
