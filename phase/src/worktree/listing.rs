//! What git says of a repository's worktrees (`git worktree list --porcelain -z`).

use std::path::PathBuf;

use devflow_core::{Code, Error, Result};

use super::Repo;

/// What git says of one worktree of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Listed {
    pub path: PathBuf,
    /// `None` when detached or bare.
    pub branch: Option<String>,
    /// The reason it is locked, if it is (`Some("")` without one).
    pub locked: Option<String>,
    /// Its folder or `.git` file is gone.
    pub prunable: bool,
}

impl Listed {
    /// The refusal of a worktree found on another branch than the one asked for.
    pub(super) fn not_on(&self, branch: &str) -> Error {
        let on = self.branch.as_deref().unwrap_or("a detached HEAD");
        let message = format!("{} is a worktree of {on}, not of {branch}", self.path.display());
        Error::new(Code::InvalidInput, message)
            .with_hint("give each managed worktree a folder and branch of its own")
    }
}

impl Repo {
    /// Every worktree git knows of, the main one first.
    pub(super) async fn worktrees(&self) -> Result<Vec<Listed>> {
        let listing = self.git.run(&self.top, &["worktree", "list", "--porcelain", "-z"]).await?;
        Ok(parse_worktrees(&listing))
    }
}

/// The records of `git worktree list --porcelain -z`: fields ended by NUL, records by an empty
/// field.
pub(super) fn parse_worktrees(listing: &str) -> Vec<Listed> {
    let mut listed = Vec::new();
    let mut current: Option<Listed> = None;
    for field in listing.split('\0') {
        if field.is_empty() {
            listed.extend(current.take());
            continue;
        }
        let (key, value) = field.split_once(' ').unwrap_or((field, ""));
        match (key, current.as_mut()) {
            ("worktree", _) => {
                listed.extend(current.take());
                let path = PathBuf::from(value);
                current = Some(Listed { path, branch: None, locked: None, prunable: false });
            }
            ("branch", Some(entry)) => {
                entry.branch = Some(value.strip_prefix("refs/heads/").unwrap_or(value).to_owned());
            }
            ("locked", Some(entry)) => entry.locked = Some(value.to_owned()),
            ("prunable", Some(entry)) => entry.prunable = true,
            _ => {}
        }
    }
    listed.extend(current);
    listed
}
