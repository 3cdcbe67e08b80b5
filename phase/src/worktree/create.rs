//! Making a worktree on its branch, idempotently: whatever an earlier, interrupted call left
//! (the branch without its worktree, a registration whose folder or `.git` file is gone, a
//! checkout git never finished, a folder git no longer knows) is brought to the one end state,
//! and a call that finds it there changes nothing.

use std::path::{Path, PathBuf};

use devflow_core::{Code, Error, Result};

use super::repo::{absolute, canonical, io_error, utf8};
use super::{Repo, Worktree};

/// The lock reason `git worktree add` leaves while it checks the new worktree out (written by
/// a git that ran with devflow's `LC_ALL=C`): found after a crash, the create never finished.
const CREATING: &str = "initializing";

impl Repo {
    /// A worktree at `path` with `branch` checked out, making the branch from `base` (any
    /// revision) if it does not exist. A branch that exists is taken as it is — it may hold an
    /// earlier phase's work. Taken again, it finds what it made; after a crash it finishes or
    /// redoes what was left half done. A folder at `path` that is neither empty nor left by a
    /// worktree of this repository, or a worktree there on another branch, is refused.
    pub async fn ensure_worktree(&self, path: &Path, branch: &str, base: &str) -> Result<Worktree> {
        self.check_branch_name(branch).await?;
        let path = absolute(path)?;
        let listed = self.worktrees().await?;
        if let Some(found) = listed.iter().find(|listed| listed.path == path) {
            let unfinished = found.prunable || found.locked.as_deref() == Some(CREATING);
            if !unfinished && found.branch.as_deref() == Some(branch) {
                return Ok(self.worktree_at(path, branch));
            }
            if !unfinished {
                return Err(found.not_on(branch));
            }
            self.unregister(&path).await?;
        } else if path.exists() {
            self.clear_leftover(&path)?;
        }
        if let Some(elsewhere) =
            listed.iter().find(|l| l.path != path && l.branch.as_deref() == Some(branch))
        {
            if !elsewhere.prunable {
                let message =
                    format!("branch {branch} is checked out at {}", elsewhere.path.display());
                return Err(Error::new(Code::InvalidInput, message)
                    .with_hint("a branch can be checked out in one worktree at a time"));
            }
            self.unregister(&elsewhere.path).await?;
        }
        let path_text = utf8(&path)?;
        match self.branch_head(branch).await? {
            Some(_) => {
                self.git.run(&self.top, &["worktree", "add", "--quiet", path_text, branch]).await?
            }
            None => {
                let base = self.resolve(base).await?;
                let args = ["worktree", "add", "--quiet", "-b", branch, path_text, &base];
                self.git.run(&self.top, &args).await?
            }
        };
        Ok(self.worktree_at(canonical(&path)?, branch))
    }

    /// Drops git's record of the worktree at `path` and its folder, whatever state both are in.
    pub(super) async fn unregister(&self, path: &Path) -> Result<()> {
        self.refuse_the_repository(path)?;
        let path_text = utf8(path)?;
        let args = ["worktree", "remove", "--force", "--force", path_text];
        if self.git.output(&self.top, &args).await?.status.success() {
            return Ok(());
        }
        // git will not remove a folder whose `.git` file is gone; it forgets one that is gone.
        if path.exists() {
            std::fs::remove_dir_all(path).map_err(|error| io_error("remove", path, error))?;
        }
        self.git.run(&self.top, &args).await.map(drop)
    }

    /// Removes a folder git does not know as a worktree, if it is empty or was a worktree of
    /// this repository (its `.git` file points into the repository's `worktrees/`); refuses
    /// anything else.
    pub(super) fn clear_leftover(&self, path: &Path) -> Result<()> {
        self.refuse_the_repository(path)?;
        let empty =
            std::fs::read_dir(path).map(|mut entries| entries.next().is_none()).unwrap_or(false);
        if empty {
            return Ok(());
        }
        if !self.left_by_a_worktree(path) {
            let message = format!(
                "{} exists and is not a worktree of {}",
                path.display(),
                self.top.display()
            );
            return Err(Error::new(Code::InvalidInput, message)
                .with_hint("move the folder away or give the managed worktree another path"));
        }
        std::fs::remove_dir_all(path).map_err(|error| io_error("remove", path, error))
    }

    /// The one check before anything is removed: never the user's checkout or its git folder,
    /// nor a folder holding either.
    pub(super) fn refuse_the_repository(&self, path: &Path) -> Result<()> {
        if !self.top.starts_with(path) && !self.common_dir.starts_with(path) {
            return Ok(());
        }
        let message =
            format!("{} holds the repository {} itself", path.display(), self.top.display());
        Err(Error::new(Code::InvalidInput, message).with_hint(
            "managed worktrees need folders of their own, outside the repository's checkout",
        ))
    }

    fn left_by_a_worktree(&self, path: &Path) -> bool {
        let dot_git = path.join(".git");
        let is_file = std::fs::symlink_metadata(&dot_git).is_ok_and(|meta| meta.is_file());
        let text = if is_file {
            std::fs::read_to_string(&dot_git).unwrap_or_default()
        } else {
            String::new()
        };
        let Some(gitdir) = text.trim_end().strip_prefix("gitdir: ") else {
            return false;
        };
        Path::new(gitdir).starts_with(self.common_dir.join("worktrees"))
    }

    fn worktree_at(&self, path: PathBuf, branch: &str) -> Worktree {
        Worktree { path, branch: branch.to_owned(), git: self.git.clone() }
    }
}
