//! Merging branches into a worktree's branch, one at a time in the order given, each as a merge
//! commit of its own. A branch that is already an ancestor of HEAD is merged and skipped, so the
//! call taken again after a crash does only what is left. A merge found in progress (MERGE_HEAD)
//! of one of the branches, its conflicts resolved and staged, is committed; any other is aborted
//! and done again. A conflict aborts its merge too, leaving the worktree clean at the last branch
//! that merged, and names the files.

use devflow_core::{Code, Error, Result};

use super::Worktree;
use super::commit::identity;

/// How [`Worktree::merge`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merge {
    /// Every branch is in HEAD, `commit`.
    Clean { commit: String },
    /// Merging `branch` conflicted in `files` (sorted); the merge was aborted, and the branches
    /// before it stay merged.
    Conflict { branch: String, files: Vec<String> },
}

impl Merge {
    /// A conflict as the `merge_conflict` error a human gate shows: the branch and its files.
    pub fn conflict_error(&self) -> Option<Error> {
        let Merge::Conflict { branch, files } = self else {
            return None;
        };
        let message = format!("merging {branch} conflicts in {}", files.join(", "));
        Some(
            Error::new(Code::MergeConflict, message)
                .with_hint("resolve the conflict on the branch (or merge it by hand), then resume"),
        )
    }
}

fn merge_message(message: &str, branch: &str) -> String {
    format!("{message}\n\nMerge {branch}")
}

impl Worktree {
    /// Merges `branches` into this worktree's branch in the order given, without running the
    /// repository's hooks; each merge commit's message is `message`, then `Merge <branch>`. A
    /// worktree with changes of its own (tracked files) is refused before anything is merged.
    pub async fn merge(&self, branches: &[&str], message: &str) -> Result<Merge> {
        let message = message.trim_end();
        if message.is_empty() {
            return Err(Error::new(Code::InvalidInput, "a merge needs a message"));
        }
        self.check_on_branch().await?;
        let mut tips = Vec::with_capacity(branches.len());
        for branch in branches {
            tips.push(self.branch_commit(branch).await?);
        }
        self.settle_merge_in_progress(branches, &tips, message).await?;
        self.refuse_changes().await?;
        for branch in branches {
            if self.has_merged(branch).await? {
                continue;
            }
            let text = merge_message(message, branch);
            let mut merge = identity(&self.git, &self.path).await?;
            let reference = format!("refs/heads/{branch}");
            merge.extend(["merge", "--quiet", "--no-ff", "--no-verify", "--no-edit", "-m", &text]);
            merge.extend(["--end-of-options", &reference]);
            let merged = self.git.output(&self.path, &merge).await?;
            if merged.status.success() {
                continue;
            }
            if self.merge_head().await?.is_none() {
                // Refused before it began (an untracked file in the way, a lock): not a conflict.
                return Err(super::git::failed(&self.path, &merge, &merged));
            }
            let files = self.conflicting_files().await?;
            self.git.run(&self.path, &["merge", "--abort"]).await?;
            return Ok(Merge::Conflict { branch: (*branch).to_owned(), files });
        }
        Ok(Merge::Clean { commit: self.head().await? })
    }

    /// Whether `branch`'s tip is HEAD or an ancestor of it.
    pub async fn has_merged(&self, branch: &str) -> Result<bool> {
        let tip = self.branch_commit(branch).await?;
        let args = ["merge-base", "--is-ancestor", &tip, "HEAD"];
        let output = self.git.output(&self.path, &args).await?;
        match output.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(Error::new(
                Code::GitFailed,
                format!("cannot tell whether {branch} is merged: {}", output.stderr.trim()),
            )),
        }
    }

    async fn branch_commit(&self, branch: &str) -> Result<String> {
        let reference = format!("refs/heads/{branch}^{{commit}}");
        let args = ["rev-parse", "--verify", "--quiet", "--end-of-options", &reference];
        let output = self.git.output(&self.path, &args).await?;
        if output.status.success() {
            return Ok(output.stdout.trim().to_owned());
        }
        Err(Error::new(Code::InvalidInput, format!("there is no branch {branch} to merge")))
    }

    /// A merge left in progress (MERGE_HEAD): one of `branches` whose conflicts are all
    /// resolved and staged (by a person or an agent asked to repair it) is committed, keeping
    /// the resolution; anything else — conflicts still there, a git stopped half way, another
    /// branch — is aborted, and the loop finds it again.
    async fn settle_merge_in_progress(
        &self,
        branches: &[&str],
        tips: &[String],
        message: &str,
    ) -> Result<()> {
        let Some(merging) = self.merge_head().await? else {
            return Ok(());
        };
        let ours = tips.iter().position(|tip| *tip == merging);
        if let (Some(at), true) = (ours, self.conflicting_files().await?.is_empty()) {
            let text = merge_message(message, branches[at]);
            let mut commit = identity(&self.git, &self.path).await?;
            commit.extend(["commit", "--quiet", "--no-verify", "--cleanup=verbatim", "-m", &text]);
            return self.git.run(&self.path, &commit).await.map(drop);
        }
        self.git.run(&self.path, &["merge", "--abort"]).await.map(drop)
    }

    /// The commit being merged, while a merge is in progress.
    async fn merge_head(&self) -> Result<Option<String>> {
        let args = ["rev-parse", "--quiet", "--verify", "MERGE_HEAD"];
        let output = self.git.output(&self.path, &args).await?;
        Ok(output.status.success().then(|| output.stdout.trim().to_owned()))
    }

    async fn conflicting_files(&self) -> Result<Vec<String>> {
        let listed =
            self.git.run(&self.path, &["diff", "--name-only", "--diff-filter=U", "-z"]).await?;
        let mut files: Vec<String> =
            listed.split('\0').filter(|f| !f.is_empty()).map(str::to_owned).collect();
        files.sort();
        files.dedup();
        Ok(files)
    }

    /// Tracked changes would be merged into the commit or lost by an abort: neither is
    /// devflow's to decide. Untracked files (an included `.env`) are left alone.
    async fn refuse_changes(&self) -> Result<()> {
        let args = ["status", "--porcelain=v1", "-z", "--untracked-files=no"];
        let status = self.git.run(&self.path, &args).await?;
        if status.is_empty() {
            return Ok(());
        }
        let files: Vec<&str> = status
            .split('\0')
            .filter_map(|entry| entry.get(3..))
            .filter(|f| !f.is_empty())
            .collect();
        let message =
            format!("{} has uncommitted changes: {}", self.path.display(), files.join(", "));
        Err(Error::new(Code::GitFailed, message)
            .with_hint("commit or discard them in the worktree, then resume"))
    }
}
