//! Committing what the agents left in a worktree, once: a commit whose message is the one asked
//! for at HEAD is that commit, so the call taken again after a crash finds it instead of making
//! a second. The committer is the user's; where git's configuration names none, devflow's.

use std::path::Path;

use devflow_core::{Code, Error, Result};

use super::Worktree;
use super::git::Git;
use super::include::plain_relative;

/// Who commits when the user's configuration does not say (`user.name`, `user.email`); each is
/// used only for the one that is missing, and `GIT_AUTHOR_*` / `GIT_COMMITTER_*` still win.
const NAME: &str = "user.name=devflow";
const EMAIL: &str = "user.email=devflow@localhost";

/// What [`Worktree::commit_all`] found or did. The same call taken again answers the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// HEAD afterwards.
    pub head: String,
    /// HEAD is a commit with the message asked for (made now or by an earlier call); `false`:
    /// nothing had changed, and HEAD is as it was.
    pub committed: bool,
}

impl Worktree {
    /// Stages everything in the worktree (`git add -A`) but the paths in `leave_out` (relative
    /// to the worktree: the files `include` copied, which are the user's and never go on a
    /// branch) and commits it with `message`, skipping the repository's hooks. Nothing to
    /// commit leaves HEAD as it is.
    pub async fn commit_all(&self, message: &str, leave_out: &[String]) -> Result<Commit> {
        let message = message.trim_end();
        if message.is_empty() {
            return Err(Error::new(Code::InvalidInput, "a commit needs a message"));
        }
        self.check_on_branch().await?;
        let head = self.head().await?;
        if self.message_of(&head).await? == message {
            return Ok(Commit { head, committed: true });
        }
        self.git.run(&self.path, &["add", "--all", "--", ":/"]).await?;
        // Staged, then unstaged again: naming an ignored file in `add` (even to exclude it, as
        // an included `.env` often is) is an error of git's.
        if !leave_out.is_empty() {
            let left_out: Vec<String> = leave_out
                .iter()
                .map(|path| Ok(format!(":(top,literal){}", plain_relative(path)?.display())))
                .collect::<Result<_>>()?;
            let mut reset = vec!["reset", "--quiet", "--"];
            reset.extend(left_out.iter().map(String::as_str));
            self.git.run(&self.path, &reset).await?;
        }
        let staged = self.git.output(&self.path, &["diff", "--cached", "--quiet"]).await?;
        if staged.status.success() {
            return Ok(Commit { head, committed: false });
        }
        let mut commit = identity(&self.git, &self.path).await?;
        commit.extend(["commit", "--quiet", "--no-verify", "--cleanup=verbatim", "-m", message]);
        self.git.run(&self.path, &commit).await?;
        Ok(Commit { head: self.head().await?, committed: true })
    }

    /// An agent that checked out something else would have devflow commit or merge there.
    pub(super) async fn check_on_branch(&self) -> Result<()> {
        let args = ["symbolic-ref", "--quiet", "--short", "HEAD"];
        let output = self.git.output(&self.path, &args).await?;
        let on = output.stdout.trim();
        if output.status.success() && on == self.branch {
            return Ok(());
        }
        let on = if on.is_empty() { "a detached HEAD" } else { on };
        let message =
            format!("{} is on {on}, not on its branch {}", self.path.display(), self.branch);
        Err(Error::new(Code::GitFailed, message)
            .with_hint(format!("check out {} in the worktree again, then resume", self.branch)))
    }

    pub(super) async fn head(&self) -> Result<String> {
        let head = self.git.run(&self.path, &["rev-parse", "--verify", "HEAD^{commit}"]).await?;
        Ok(head.trim().to_owned())
    }

    async fn message_of(&self, commit: &str) -> Result<String> {
        let message = self.git.run(&self.path, &["log", "-1", "--format=%B", commit]).await?;
        Ok(message.trim_end().to_owned())
    }
}

/// `-c user.name=devflow -c user.email=devflow@localhost`, each only where git's configuration
/// has none, to go before the subcommand.
pub(super) async fn identity(git: &Git, dir: &Path) -> Result<Vec<&'static str>> {
    let args = ["config", "--get-regexp", r"^user\.(name|email)$"];
    let configured = git.output(dir, &args).await?;
    let keys: Vec<&str> =
        configured.stdout.lines().filter_map(|line| line.split_whitespace().next()).collect();
    let mut identity = Vec::new();
    if !keys.contains(&"user.name") {
        identity.extend(["-c", NAME]);
    }
    if !keys.contains(&"user.email") {
        identity.extend(["-c", EMAIL]);
    }
    Ok(identity)
}
