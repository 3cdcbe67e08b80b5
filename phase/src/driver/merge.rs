//! A merge phase in a drive: the branches of what it needs merged into the run's branch, in
//! the order of its needs, then the phase completed with `merge.completed`; a conflict sent
//! back to the agent of the conflicting branch once (`merge.conflicted`), the next one a human
//! gate naming the files.

use devflow_core::{Code, Error, PhaseState, RunState, StateMachine};
use devflow_db::{Db, RunRow};

use super::Driver;
use crate::event::{self, Event, MergeCompleted, MergeConflicted};
use crate::runner::crash::crash_point;
use crate::runner::{Phase, PhaseSpec, busy_retried, complete_in};
use crate::workflow::{Workflow, phase_branch};
use crate::worktree::{Merge, Worktree};

/// The gate key of the request that sends a phase back after a conflict (decided at once).
pub(crate) const MERGE_CONFLICT_GATE: &str = "merge_conflict";

impl Driver {
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
                        let conflicted = MergeConflicted { branch, files, sent_back_to: maker };
                        self.send_back(db, run, phase, &worktree, conflicted).await
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

    /// The one repair of a conflict: the phase that made the conflicting branch
    /// (`conflicted.sent_back_to`) goes back to its agent (as a rejection sends a phase back),
    /// whose prompt names the files and how to resolve them, in one step with
    /// `merge.conflicted`. The merge is taken again once that phase completes.
    async fn send_back(
        &self,
        db: &Db,
        run: &RunRow,
        merge: &Phase,
        run_tree: &Worktree,
        conflicted: MergeConflicted,
    ) -> Result<(), Error> {
        let note = format!(
            "merging your branch {} into the run's branch {} conflicts in {}. In your worktree, run `git merge {}`, resolve the conflicts in those files, commit the merge, then write your artifact again.",
            conflicted.branch,
            run_tree.branch(),
            conflicted.files.join(", "),
            run_tree.branch()
        );
        let maker = conflicted.sent_back_to.clone();
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
