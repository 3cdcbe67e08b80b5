//! Managed git worktrees, the git half of parallel workflows: a worktree on its own branch made
//! from a base (`create`), the user's untracked files copied in (`include`), a setup command run
//! in it (`setup`), the agents' work committed (`commit`), branches merged in a fixed order
//! (`merge`), and everything removed again (`clean`); `repo` opens the repository and resolves
//! revisions, `listing` reads what git says of its worktrees. Nothing here knows runs, rows or agents:
//! paths, branch names and messages are the caller's, and `git` (the only file that starts a
//! process) is how every git command is run.
//!
//! Every operation is idempotent and tells from the repository alone whether it already
//! happened, so the driver can put each between durable steps and take it again after a crash:
//! a worktree on its branch at its path is there (a branch without its worktree, a registration
//! without its folder, a folder without its registration, a create stopped while git was
//! checking out — each converges); a commit whose message is the one asked for at HEAD is the
//! commit; a branch that is an ancestor of HEAD is merged (`git merge-base --is-ancestor`); an
//! interrupted merge (MERGE_HEAD) is aborted and done again; a worktree or branch that is gone
//! is removed.

mod clean;
mod commit;
mod create;
mod git;
mod include;
mod listing;
mod merge;
mod repo;
mod setup;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use commit::Commit;
pub use git::Git;
pub use include::Included;
pub use merge::Merge;
pub use setup::Setup;

/// The user's repository: its canonical top-level folder and its common git folder, which every
/// worktree of it shares.
#[derive(Debug, Clone)]
pub struct Repo {
    top: PathBuf,
    common_dir: PathBuf,
    git: Git,
}

/// One worktree of a [`Repo`], on its branch.
#[derive(Debug, Clone)]
pub struct Worktree {
    path: PathBuf,
    branch: String,
    git: Git,
}

impl Repo {
    /// The repository's top-level folder, canonical.
    pub fn top(&self) -> &Path {
        &self.top
    }
}

impl Worktree {
    /// The worktree's folder, canonical.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The branch checked out in it.
    pub fn branch(&self) -> &str {
        &self.branch
    }
}
