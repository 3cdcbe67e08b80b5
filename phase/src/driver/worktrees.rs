//! Managed worktrees in a drive: each side effect of `worktree/` (make a worktree, copy the
//! included files, run setup, commit a completed phase's work) between the rows that say it
//! happened, and the managed run completed after its last commit (merges: `merge.rs`).
//! Re-entry asks the rows first (`worktree.ready`, `worktree.committed`), and takes an effect
//! the rows do not record again — each one converges when taken twice, so a crash between an
//! effect and its record costs a repeat, never a second worktree or commit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use devflow_core::{Code, Error, PhaseState, RunState, StateMachine};
use devflow_db::{Db, PhaseRow, RunRow};

use super::Driver;
use crate::event::{self, Event, WorktreeCommitted, WorktreeReady};
use crate::runner::busy_retried;
use crate::runner::crash::crash_point;
use crate::workflow::{
    Kind, Managed, PhaseDef, PhaseWorktree, Workflow, phase_branch, run_branch, run_worktree,
    worktrees_folder,
};
use crate::worktree::{Repo, Worktree};

/// How long a workflow's setup command may run in a new worktree.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Where `def` works in `run`.
pub(crate) fn workdir(run: &RunRow, workflow: &Workflow, def: &PhaseDef) -> PathBuf {
    workflow.workdir(Path::new(&run.worktree), &run.id, def)
}

/// The workflow with its base pinned to the commit it names now, so that every worktree of the
/// run, made now or after a crash, starts from the same commit.
pub async fn pin_base(workflow: &Workflow) -> Result<Workflow, Error> {
    let Some(managed) = &workflow.worktree else { return Ok(workflow.clone()) };
    let repo = Repo::open(Path::new(&managed.repo)).await?;
    let base = repo.resolve(&managed.base).await?;
    let managed = Managed { base, ..managed.clone() };
    Ok(Workflow { worktree: Some(managed), ..workflow.clone() })
}

impl Driver {
    /// Makes the worktrees `def` works in — the run's, and its own when it has one — unless
    /// the rows say they are ready. A failure is the phase's human gate.
    pub(crate) async fn prepare_worktrees(
        &self,
        db: &Db,
        run: &RunRow,
        workflow: &Workflow,
        def: &PhaseDef,
        row: &PhaseRow,
    ) -> Result<(), Error> {
        let Some(managed) = &workflow.worktree else { return Ok(()) };
        let repo = Repo::open(Path::new(&managed.repo)).await?;
        self.ready(db, &repo, managed, run, &Target::of_run(run, managed)).await?;
        if def.worktree == PhaseWorktree::Own {
            let own = Target::of(run, workflow, managed, def, Some(row.id.clone()));
            self.ready(db, &repo, managed, run, &own).await?;
        }
        Ok(())
    }

    async fn ready(
        &self,
        db: &Db,
        repo: &Repo,
        managed: &Managed,
        run: &RunRow,
        target: &Target,
    ) -> Result<(), Error> {
        let key = event::worktree_ready_key(&run.id, target.phase_id.as_deref());
        if self.recorded(&key).await? {
            return Ok(());
        }
        ignored_by_git(&worktrees_folder(Path::new(&run.worktree)))?;
        let worktree = repo.ensure_worktree(&target.path, &target.branch, &target.base).await?;
        crash_point!("after_worktree_made");
        let included = worktree.copy_included(repo, &managed.include)?;
        if let Some(setup) = &managed.setup {
            worktree.run_setup(setup, SETUP_TIMEOUT).await?.check(setup, &worktree)?;
        }
        crash_point!("after_worktree_setup");
        let ready = WorktreeReady {
            path: worktree.path().display().to_string(),
            branch: target.branch.clone(),
            base: target.base.clone(),
            missing: included.missing,
        };
        let phase_id = target.phase_id.clone();
        busy_retried(self.runner.retry(), || {
            let (ready, phase_id) = (ready.clone(), phase_id.clone());
            db.step(&run.id, move |tx, run| {
                Box::pin(async move {
                    Event::worktree_ready(&run.id, phase_id.as_deref(), ready).emit(tx).await
                })
            })
        })
        .await?;
        crash_point!("after_worktree_ready");
        Ok(())
    }

    /// Commits the work of every completed phase that the rows do not say is committed, on the
    /// branch of the worktree it worked in, before anything that needs it starts.
    pub(crate) async fn commit_completed(
        &self,
        db: &Db,
        run: &RunRow,
        workflow: &Workflow,
        phases: &[PhaseRow],
    ) -> Result<(), Error> {
        let Some(managed) = &workflow.worktree else { return Ok(()) };
        let completed = phases.iter().filter(|row| row.state == PhaseState::Completed);
        for row in completed {
            let Some(def) = workflow.phase(&row.phase_key).filter(|def| def.kind == Kind::Agent)
            else {
                continue;
            };
            if self.recorded(&event::worktree_committed_key(&run.id, &row.id, row.attempts)).await?
            {
                continue;
            }
            let worktree = self.worktree_of(managed, run, workflow, def).await?;
            let message = format!("devflow: run {} phase {}", run.id, def.key);
            let commit = worktree.commit_all(&message, &managed.include).await?;
            crash_point!("after_worktree_commit");
            let committed = WorktreeCommitted {
                branch: worktree.branch().to_owned(),
                commit: commit.head,
                committed: commit.committed,
            };
            let (phase_id, attempt) = (row.id.clone(), row.attempts);
            busy_retried(self.runner.retry(), || {
                let (committed, phase_id) = (committed.clone(), phase_id.clone());
                db.step(&run.id, move |tx, run| {
                    Box::pin(async move {
                        let event =
                            Event::worktree_committed(&run.id, &phase_id, attempt, committed);
                        event.emit(tx).await
                    })
                })
            })
            .await?;
            crash_point!("after_worktree_committed");
        }
        Ok(())
    }

    /// Completes a managed run whose phases have all completed (their work committed by
    /// [`Driver::commit_completed`] just before): the runner leaves that to the driver here, so
    /// that no run completes with work left uncommitted. `true` when it completed the run.
    pub(crate) async fn complete_managed_run(
        &self,
        db: &Db,
        run: &RunRow,
        workflow: &Workflow,
        phases: &[PhaseRow],
    ) -> Result<bool, Error> {
        let all_done = phases.iter().all(|row| row.state == PhaseState::Completed);
        if workflow.worktree.is_none() || run.state != RunState::Executing || !all_done {
            return Ok(false);
        }
        let last = phases.iter().max_by_key(|row| (row.ended_at, row.ordinal));
        let last = last.map(|row| row.phase_key.clone()).unwrap_or_default();
        busy_retried(self.runner.retry(), || {
            let last = last.clone();
            db.step(&run.id, move |tx, run| {
                Box::pin(async move {
                    if run.state != RunState::Executing {
                        return Ok(());
                    }
                    run.state.assert_transition(RunState::Completed)?;
                    tx.set_run_state(&run.id, RunState::Completed, None, None).await?;
                    Event::run_completed_after(&run.id, &last).emit(tx).await
                })
            })
        })
        .await?;
        crash_point!("after_managed_run_completed");
        Ok(true)
    }

    /// The worktree `def` works in, as it is (made again if something removed it).
    pub(crate) async fn worktree_of(
        &self,
        managed: &Managed,
        run: &RunRow,
        workflow: &Workflow,
        def: &PhaseDef,
    ) -> Result<Worktree, Error> {
        let repo = Repo::open(Path::new(&managed.repo)).await?;
        let target = Target::of(run, workflow, managed, def, None);
        repo.ensure_worktree(&target.path, &target.branch, &target.base).await
    }

    pub(crate) async fn recorded(&self, key: &str) -> Result<bool, Error> {
        let key = key.to_owned();
        self.db
            .read(move |tx| Box::pin(async move { Ok(tx.event_by_key(&key).await?.is_some()) }))
            .await
    }
}

/// A worktree to make: where, on which branch, from what, and whose (`None`: the run's).
struct Target {
    path: PathBuf,
    branch: String,
    base: String,
    phase_id: Option<String>,
}

impl Target {
    /// The run's worktree, on the run's branch from the pinned base.
    fn of_run(run: &RunRow, managed: &Managed) -> Target {
        Target {
            path: run_worktree(Path::new(&run.worktree), &run.id),
            branch: run_branch(&run.id),
            base: managed.base.clone(),
            phase_id: None,
        }
    }

    /// The worktree `def` works in: the run's, or its own, branched from the run's branch.
    fn of(
        run: &RunRow,
        workflow: &Workflow,
        managed: &Managed,
        def: &PhaseDef,
        phase_id: Option<String>,
    ) -> Target {
        match def.worktree {
            PhaseWorktree::Run => Target::of_run(run, managed),
            PhaseWorktree::Own => Target {
                path: workdir(run, workflow, def),
                branch: phase_branch(&run.id, &def.key),
                base: run_branch(&run.id),
                phase_id,
            },
        }
    }
}
/// A `.gitignore` of `*` in the worktrees' folder, so the repository the run's folder may be
/// does not show devflow's worktrees as untracked files.
fn ignored_by_git(folder: &Path) -> Result<(), Error> {
    let cannot = |error: std::io::Error| {
        Error::new(Code::WorkspacePermissions, format!("cannot make {}: {error}", folder.display()))
            .with_hint("devflow needs to write in the run's folder")
    };
    std::fs::create_dir_all(folder).map_err(cannot)?;
    let ignore = folder.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(&ignore, "*\n").map_err(cannot)?;
    }
    Ok(())
}
