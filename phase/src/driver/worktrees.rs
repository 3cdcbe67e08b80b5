//! Managed worktrees in a drive: each side effect of `worktree/` (make a worktree, copy the
//! included files, run setup, commit a completed phase's work, merge) between the rows that
//! say it happened. Re-entry asks the rows first (`worktree.ready`, `worktree.committed`,
//! `merge.completed`), and takes an effect the rows do not record again — each one converges
//! when taken twice, so a crash between an effect and its record costs a repeat, never a
//! second worktree or commit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use devflow_core::{Code, Error, PhaseState, RunState, StateMachine};
use devflow_db::{Db, PhaseRow, RunRow};

use super::Driver;
use crate::event::{
    self, Event, MergeCompleted, MergeConflicted, WorktreeCommitted, WorktreeReady,
};
use crate::runner::crash::crash_point;
use crate::runner::{Phase, PhaseSpec, busy_retried, complete_in};
use crate::workflow::{Kind, Managed, PhaseDef, PhaseWorktree, Workflow, phase_branch, run_branch};
use crate::worktree::{Merge, Repo, Worktree};

/// The gate key of the request that sends a phase back after a conflict (decided at once).
pub(crate) const MERGE_CONFLICT_GATE: &str = "merge_conflict";

/// How long a workflow's setup command may run in a new worktree.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The folder of a run's managed worktrees (see [`Workflow::workdir`]).
fn worktrees_folder(run: &RunRow) -> PathBuf {
    Path::new(&run.worktree).join(".devflow").join("worktrees")
}

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
        let run_tree = Target {
            path: worktrees_folder(run).join(&run.id),
            branch: run_branch(&run.id),
            base: managed.base.clone(),
            phase_id: None,
        };
        self.ready(db, &repo, managed, run, &run_tree).await?;
        if def.worktree == PhaseWorktree::Own {
            let own = Target {
                path: workdir(run, workflow, def),
                branch: phase_branch(&run.id, &def.key),
                base: run_branch(&run.id),
                phase_id: Some(row.id.clone()),
            };
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
        ignored_by_git(&worktrees_folder(run))?;
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

    /// A merge phase: the branches of what it needs into the run's branch, in the order of its
    /// needs, then the phase completed with `merge.completed`. A conflict is the phase's human
    /// gate, naming the branch and its files.
    pub(crate) async fn merge(
        &self,
        db: &Db,
        run: &RunRow,
        workflow: &Workflow,
        spec: PhaseSpec,
    ) -> Result<(), Error> {
        let Some(managed) = &workflow.worktree else {
            return Err(Error::corruption("a merge phase in a run without managed worktrees"));
        };
        let phase = &Phase::resolve(spec)?;
        let def = workflow
            .phase(&phase.spec.phase_key)
            .ok_or_else(|| Error::corruption("the merge phase is not in the run's workflow"))?;
        let worktree = self.worktree_of(managed, run, workflow, def).await?;
        let branches = workflow.merged_branches(def, &run.id);
        let names: Vec<&str> = branches.iter().map(String::as_str).collect();
        let message = format!("devflow: run {} phase {}", run.id, def.key);
        let commit = match worktree.merge(&names, &message).await? {
            Merge::Clean { commit } => commit,
            Merge::Conflict { branch, files } => {
                let sent_once = self.recorded(&event::merge_conflicted_key(phase)).await?;
                let maker = workflow
                    .merged_phases(def)
                    .find(|need| phase_branch(&run.id, &need.key) == branch)
                    .map(|need| need.key.clone());
                return match maker {
                    Some(maker) if !sent_once => {
                        self.send_back(db, run, phase, &worktree, &maker, branch, files).await
                    }
                    _ => Err(conflict(&worktree, &branch, &files)),
                };
            }
        };
        crash_point!("after_merge");
        let merged = MergeCompleted { branches, commit };
        busy_retried(self.runner.retry(), || {
            let merged = merged.clone();
            db.mutate_phase(&run.id, move |tx, run| {
                Box::pin(async move {
                    let Some(row) = tx.phase(phase.phase_id()).await? else {
                        return Err(Error::corruption("the merge phase has no row"));
                    };
                    if row.state == PhaseState::Completed {
                        return Ok(());
                    }
                    row.state.assert_transition(PhaseState::Running)?;
                    tx.set_phase_state(&run.id, &row.id, PhaseState::Running).await?;
                    Event::merge_completed(phase, merged).emit(tx).await?;
                    let executing = devflow_db::RunRow { state: RunState::Executing, ..run };
                    complete_in(tx, &executing, phase, row.attempts, "", None).await.map(drop)
                })
            })
        })
        .await?;
        crash_point!("after_merge_completed");
        Ok(())
    }

    /// The one repair of a conflict: the phase that made `branch` goes back to its agent (as a
    /// rejection sends a phase back), whose prompt names the files and how to resolve them, in
    /// one step with `merge.conflicted`. The merge is taken again once that phase completes.
    #[allow(clippy::too_many_arguments)]
    async fn send_back(
        &self,
        db: &Db,
        run: &RunRow,
        merge: &Phase,
        run_tree: &Worktree,
        maker: &str,
        branch: String,
        files: Vec<String>,
    ) -> Result<(), Error> {
        let note = format!(
            "merging your branch {branch} into the run's branch {} conflicts in {}. In your worktree, run `git merge {}`, resolve the conflicts in those files, commit the merge, then write your artifact again.",
            run_tree.branch(),
            files.join(", "),
            run_tree.branch()
        );
        let conflicted = MergeConflicted { branch, files, sent_back_to: maker.to_owned() };
        let (maker, note) = (maker.to_owned(), note);
        busy_retried(self.runner.retry(), || {
            let (conflicted, maker, note) = (conflicted.clone(), maker.clone(), note.clone());
            db.mutate_phase(&run.id, move |tx, run| {
                Box::pin(async move {
                    let phases = tx.phases(&run.id).await?;
                    let Some(row) = phases.iter().find(|row| row.phase_key == maker) else {
                        return Err(Error::corruption(format!("phase {maker} has no row")));
                    };
                    row.state.assert_transition(PhaseState::AwaitingApproval)?;
                    let request = tx
                        .insert_or_get_approval(&devflow_db::NewApproval {
                            run_id: &run.id,
                            phase_id: &row.id,
                            gate_key: MERGE_CONFLICT_GATE,
                            idempotency_key: &event::merge_conflicted_key(merge),
                            payload: &serde_json::json!({ "branch": conflicted.branch, "files": conflicted.files }),
                        })
                        .await?;
                    let rejected = devflow_db::ApprovalState::Rejected;
                    tx.decide_approval(&request.id, rejected, "devflow", Some(&note)).await?;
                    tx.set_phase_state(&run.id, &row.id, PhaseState::AwaitingApproval).await?;
                    Event::merge_conflicted(merge, conflicted).emit(tx).await
                })
            })
        })
        .await?;
        crash_point!("after_merge_conflicted");
        Ok(())
    }

    /// The worktree `def` works in, as it is (made again if something removed it).
    async fn worktree_of(
        &self,
        managed: &Managed,
        run: &RunRow,
        workflow: &Workflow,
        def: &PhaseDef,
    ) -> Result<Worktree, Error> {
        let repo = Repo::open(Path::new(&managed.repo)).await?;
        let (branch, base) = match def.worktree {
            PhaseWorktree::Run => (run_branch(&run.id), managed.base.clone()),
            PhaseWorktree::Own => (phase_branch(&run.id, &def.key), run_branch(&run.id)),
        };
        repo.ensure_worktree(&workdir(run, workflow, def), &branch, &base).await
    }

    async fn recorded(&self, key: &str) -> Result<bool, Error> {
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

/// The `merge_conflict` error of a merge phase's gate: the branch, and the files in its hint.
fn conflict(worktree: &Worktree, branch: &str, files: &[String]) -> Error {
    let message =
        format!("merging {branch} into {} conflicts in {}", worktree.branch(), files.join(", "));
    let hint = format!(
        "conflicting files: {}; in {}, `git merge {branch}`, resolve them and commit (or fix the branch), then `devflow resume`",
        files.join(", "),
        worktree.path().display()
    );
    Error::new(Code::MergeConflict, message).with_hint(hint)
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
        let path = worktrees_folder(&run).join(&run.id);
        repo.remove_worktree(&path, &run_branch(&run.id)).await?;
        cleaned.removed.push(path.display().to_string());
        cleaned.kept_branch = Some(run_branch(&run.id));
        Ok(cleaned)
    }
}
