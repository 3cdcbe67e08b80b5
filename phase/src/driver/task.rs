//! One phase of a drive, as the task that runs it: its managed worktrees made first, then the
//! runner's phase (an agent's) or the merge (a merge phase's); what stops it at a human gate
//! (a stop the driver found, a worktree that could not be made, a merge that conflicts) goes
//! through the runner's gate, so the gate is one step as every other.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use devflow_core::{Code, Error};
use devflow_db::{Db, PhaseRow, RunRow};
use tokio_util::sync::CancellationToken;

use super::Driver;
use crate::runner::{PhaseRunner, PhaseSpec, RunStop};
use crate::workflow::{Kind, Workflow};

/// What a phase's task is handed.
pub(crate) struct PhaseTask {
    pub runner: PhaseRunner,
    /// The drive's fenced database.
    pub db: Db,
    pub run: RunRow,
    pub workflow: Arc<Workflow>,
    pub row: PhaseRow,
    pub spec: PhaseSpec,
    /// A stop the driver found for the run: the phase stops at it before anything else.
    pub stop: Option<RunStop>,
    pub cancel: CancellationToken,
}

impl Driver {
    pub(crate) fn phase_task(
        &self,
        task: PhaseTask,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let driver = self.clone();
        async move {
            let PhaseTask { runner, db, run, workflow, row, spec, stop, cancel } = task;
            if let Some(stop) = stop {
                return Err(runner.stop_at(spec, stop, cancel).await);
            }
            let Some(def) = workflow.phase(&row.phase_key) else {
                return Err(Error::corruption(format!(
                    "phase {} is not in the run's workflow",
                    row.phase_key
                )));
            };
            if let Err(error) = driver.prepare_worktrees(&db, &run, &workflow, def, &row).await {
                if !is_the_worktrees(&error) {
                    return Err(error);
                }
                // The phase's worktree may not be there: the gate is written from the run's folder.
                let spec = PhaseSpec { worktree: PathBuf::from(&run.worktree), ..spec };
                return Err(runner.stop_at(spec, RunStop::Worktree(error), cancel).await);
            }
            match def.kind {
                Kind::Agent => runner.run(spec, cancel).await.map(drop),
                Kind::Merge => match driver.merge(&db, &run, &workflow, spec.clone()).await {
                    Err(error) if is_the_worktrees(&error) => {
                        Err(runner.stop_at(spec, RunStop::Worktree(error), cancel).await)
                    }
                    merged => merged,
                },
            }
        }
    }
}

/// Whether `error` is about the repository or a worktree (a person fixes it there, then
/// resumes), rather than the database or the lease (which the drive hands on as it is).
fn is_the_worktrees(error: &Error) -> bool {
    matches!(
        error.code(),
        Code::GitMissing
            | Code::GitFailed
            | Code::SetupFailed
            | Code::MergeConflict
            | Code::InvalidInput
            | Code::WorkspacePermissions
    )
}
