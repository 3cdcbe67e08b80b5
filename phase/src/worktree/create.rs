//! Opening the user's repository and making a worktree on its branch, idempotently: whatever an
//! earlier, interrupted call left (the branch without its worktree, a registration whose folder
//! or `.git` file is gone, a checkout git never finished, a folder git no longer knows) is
//! brought to the one end state, and a call that finds it there changes nothing.

use std::path::{Path, PathBuf};

use devflow_core::{Code, Error, Result};

use super::git::Git;
use super::{Repo, Worktree};

/// What git says of one worktree of the repository (`git worktree list --porcelain -z`).
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

/// The lock reason `git worktree add` leaves while it checks the new worktree out (written by
/// a git that ran with devflow's `LC_ALL=C`): found after a crash, the create never finished.
const CREATING: &str = "initializing";

impl Repo {
    /// The repository that `path` is in (any folder of its work tree). Not a repository, or a
    /// bare one, is `invalid_input`.
    pub async fn open(path: &Path) -> Result<Repo> {
        Repo::open_with(path, Git::new()).await
    }

    /// [`Repo::open`], running git as `git` says.
    pub async fn open_with(path: &Path, git: Git) -> Result<Repo> {
        let args = ["rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir"];
        let output = git.output(path, &args).await?;
        if !output.status.success() {
            let message = format!(
                "{} is not a git repository with a work tree: {}",
                path.display(),
                devflow_core::text::neutralize(output.stderr.trim())
            );
            return Err(Error::new(Code::InvalidInput, message)
                .with_hint("give the folder of a git repository (`git init`, `git clone`)"));
        }
        let mut lines = output.stdout.lines();
        let (Some(top), Some(common_dir)) = (lines.next(), lines.next()) else {
            let message = format!("git rev-parse in {} printed no top level", path.display());
            return Err(Error::new(Code::GitFailed, message));
        };
        Ok(Repo {
            top: canonical(Path::new(top))?,
            common_dir: canonical(Path::new(common_dir))?,
            git,
        })
    }

    /// The commit `rev` names; one that names none is `invalid_input` naming it.
    pub async fn resolve(&self, rev: &str) -> Result<String> {
        let commit = format!("{rev}^{{commit}}");
        let args = ["rev-parse", "--verify", "--quiet", "--end-of-options", &commit];
        let output = self.git.output(&self.top, &args).await?;
        match output.status.code() {
            Some(0) => Ok(output.stdout.trim().to_owned()),
            _ => Err(Error::new(
                Code::InvalidInput,
                format!("no commit is named {rev:?} in {}", self.top.display()),
            )
            .with_hint("name a branch, tag or commit of the repository as the base")),
        }
    }

    /// The commit at the tip of `branch`, or `None` when there is no such branch.
    pub async fn branch_head(&self, branch: &str) -> Result<Option<String>> {
        let reference = format!("refs/heads/{branch}^{{commit}}");
        let args = ["rev-parse", "--verify", "--quiet", "--end-of-options", &reference];
        let output = self.git.output(&self.top, &args).await?;
        match output.status.code() {
            Some(0) => Ok(Some(output.stdout.trim().to_owned())),
            Some(1) => Ok(None),
            _ => Err(Error::new(
                Code::GitFailed,
                format!("cannot read branch {branch}: {}", output.stderr.trim()),
            )),
        }
    }

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

    /// Every worktree git knows of, the main one first.
    pub(super) async fn worktrees(&self) -> Result<Vec<Listed>> {
        let listing = self.git.run(&self.top, &["worktree", "list", "--porcelain", "-z"]).await?;
        Ok(parse_worktrees(&listing))
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

    pub(super) async fn check_branch_name(&self, branch: &str) -> Result<()> {
        let output = self.git.output(&self.top, &["check-ref-format", "--branch", branch]).await?;
        if output.status.success() && !branch.starts_with('-') {
            return Ok(());
        }
        Err(Error::new(Code::InvalidInput, format!("{branch:?} is not a valid branch name"))
            .with_hint("see `git check-ref-format`; `devflow/<run>` cannot have `devflow/<run>/…` beside it"))
    }

    fn worktree_at(&self, path: PathBuf, branch: &str) -> Worktree {
        Worktree { path, branch: branch.to_owned(), git: self.git.clone() }
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

/// `path` made absolute and canonical as far as it exists, as git records worktree paths.
pub(super) fn absolute(path: &Path) -> Result<PathBuf> {
    let path = std::path::absolute(path).map_err(|error| io_error("resolve", path, error))?;
    if let Ok(canonical) = path.canonicalize() {
        return Ok(canonical);
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok(absolute(parent)?.join(name)),
        _ => Ok(path),
    }
}

pub(super) fn canonical(path: &Path) -> Result<PathBuf> {
    path.canonicalize().map_err(|error| io_error("resolve", path, error))
}

/// git takes paths as arguments, so a worktree's path must be text.
pub(super) fn utf8(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        Error::new(Code::InvalidInput, format!("{} is not UTF-8", path.display()))
            .with_hint("give managed worktrees a path that is text")
    })
}

pub(super) fn io_error(what: &str, path: &Path, error: std::io::Error) -> Error {
    Error::new(Code::WorkspacePermissions, format!("cannot {what} {}: {error}", path.display()))
}
