//! `devflow clean`: the managed worktrees of a run that has ended removed, and its phases'
//! branches; the run's own branch, its result, stays.

use std::path::Path;

use devflow_core::{Code, Error};

use super::Driver;
use super::worktrees::workdir;
use crate::workflow::{PhaseWorktree, Workflow, phase_branch, run_branch, run_worktree};
use crate::worktree::Repo;

/// What `devflow clean` removed, and the branch it kept.
#[derive(Debug, Clone, Default)]
pub struct Cleaned {
    pub removed: Vec<String>,
    /// The run's branch, which holds its result: kept for the person to merge or delete.
    pub kept_branch: Option<String>,
}

impl Driver {
    /// Removes the managed worktrees of a run that has ended, and its phases' branches; the
    /// run's own branch stays. A run that can still go on is refused, and nothing is removed.
    pub async fn clean(&self, run_id: &str) -> Result<Cleaned, Error> {
        let run = self.snapshot(run_id).await?.run;
        if !run.state.is_terminal() {
            return Err(Error::new(
                Code::InvalidInput,
                format!("run {run_id} is {} and can still go on; its worktrees stay", run.state),
            )
            .with_hint(format!(
                "`devflow abort {run_id}` ends it; then `devflow clean {run_id}`"
            )));
        }
        let workflow = Workflow::from_definition(&run.definition)?;
        let Some(managed) = &workflow.worktree else { return Ok(Cleaned::default()) };
        let repo = Repo::open(Path::new(&managed.repo)).await?;
        let mut cleaned = Cleaned::default();
        // One after another: deleting branches at once can collide on git's packed-refs lock.
        for def in workflow.phases.iter().filter(|def| def.worktree == PhaseWorktree::Own) {
            let path = workdir(&run, &workflow, def);
            repo.remove(&path, &phase_branch(&run.id, &def.key)).await?;
            cleaned.removed.push(path.display().to_string());
        }
        let path = run_worktree(Path::new(&run.worktree), &run.id);
        repo.remove_worktree(&path, &run_branch(&run.id)).await?;
        cleaned.removed.push(path.display().to_string());
        cleaned.kept_branch = Some(run_branch(&run.id));
        Ok(cleaned)
    }
}
