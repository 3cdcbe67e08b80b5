//! Removing a managed worktree and its branch, for `devflow clean`: whatever is already gone is
//! done, so the call taken again after a crash finishes the job. Uncommitted changes in the
//! worktree go with it; a folder that is not a worktree of this repository is never removed.

use std::path::Path;

use devflow_core::Result;

use super::Repo;
use super::repo::{absolute, io_error};

impl Repo {
    /// Removes the worktree at `path` (its folder and git's record of it, also when locked or
    /// half gone) and then `branch`, whether or not it was merged anywhere.
    pub async fn remove(&self, path: &Path, branch: &str) -> Result<()> {
        self.remove_worktree(path, branch).await?;
        if self.branch_head(branch).await?.is_some() {
            // Not `update-ref -d`: git refuses to delete a branch some worktree has checked out.
            self.git.run(self.top(), &["branch", "--quiet", "-D", branch]).await?;
        }
        Ok(())
    }

    /// Removes the worktree at `path`, which must be on `branch` (or gone), and keeps the
    /// branch: a run's own branch holds its result.
    pub async fn remove_worktree(&self, path: &Path, branch: &str) -> Result<()> {
        let path = absolute(path)?;
        self.refuse_the_repository(&path)?;
        let listed = self.worktrees().await?;
        if let Some(found) = listed.iter().find(|listed| listed.path == path) {
            if !found.prunable && found.branch.as_deref().is_some_and(|on| on != branch) {
                return Err(found.not_on(branch));
            }
            self.unregister(&path).await?;
        } else if path.exists() {
            self.clear_leftover(&path)?;
            if path.exists() {
                std::fs::remove_dir(&path).map_err(|error| io_error("remove", &path, error))?;
            }
        }
        self.check_branch_name(branch).await
    }
}
