//! The user's repository: opened from any folder of its work tree, revisions and branches
//! resolved to commits, and the path and error helpers the worktree operations share.

use std::path::{Path, PathBuf};

use devflow_core::{Code, Error, Result};

use super::Repo;
use super::git::Git;

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

    pub(super) async fn check_branch_name(&self, branch: &str) -> Result<()> {
        let output = self.git.output(&self.top, &["check-ref-format", "--branch", branch]).await?;
        if output.status.success() && !branch.starts_with('-') {
            return Ok(());
        }
        Err(Error::new(Code::InvalidInput, format!("{branch:?} is not a valid branch name"))
            .with_hint("see `git check-ref-format`; `devflow/<run>` cannot have `devflow/<run>/…` beside it"))
    }
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
