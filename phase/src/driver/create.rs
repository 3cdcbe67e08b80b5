//! Creating a run: the run (executing, or queued for workers), its phases (pending),
//! `run.created` and, unless queued, the driver's lease (its first claim), in one durable step.

use std::path::{Path, PathBuf};

use devflow_core::{Code, Error, RunState};
use devflow_db::{Lease, NewPhase, NewRun, new_id};
use tokio_util::sync::CancellationToken;

use super::lease::{LEASE_TTL_MS, leased};
use super::{Driver, Outcome, invalid};
use crate::event::Event;
use crate::runner::busy_retried;
use crate::workflow::Workflow;

impl Driver {
    /// Creates the run and drives it until it completes, fails or waits for a person.
    /// `run_id` must be new; the worktree must exist.
    pub async fn start(
        &self,
        workflow: &Workflow,
        run_id: Option<String>,
        worktree: &Path,
        cancel: CancellationToken,
    ) -> Result<(String, Outcome), Error> {
        let (run_id, worktree) = checked(workflow, run_id, worktree)?;
        let workflow = &super::worktrees::pin_base(workflow).await?;
        let lease = self.create(workflow, &run_id, &worktree, RunState::Executing).await?;
        let lease = lease.ok_or_else(|| Error::corruption("a new run's lease was not claimed"))?;
        let outcome = self.drive_lease(lease, cancel).await;
        Ok((run_id, outcome?))
    }

    /// Records the run `queued` for workers (`devflow worker`) and returns its id: nothing is
    /// driven here.
    pub async fn submit(
        &self,
        workflow: &Workflow,
        run_id: Option<String>,
        worktree: &Path,
    ) -> Result<String, Error> {
        let (run_id, worktree) = checked(workflow, run_id, worktree)?;
        let workflow = &super::worktrees::pin_base(workflow).await?;
        self.create(workflow, &run_id, &worktree, RunState::Queued).await?;
        Ok(run_id)
    }

    /// The run, its phases and `run.created` in one step; an `executing` run's lease is
    /// claimed in it too (its driver's first claim), a `queued` one is left for a worker.
    async fn create(
        &self,
        workflow: &Workflow,
        run_id: &str,
        worktree: &Path,
        state: RunState,
    ) -> Result<Option<Lease>, Error> {
        let run = NewRun {
            id: run_id.to_owned(),
            workflow: workflow.name.clone(),
            state,
            worktree: worktree.to_string_lossy().into_owned(),
            definition: workflow.to_definition(),
        };
        let keys: Vec<String> = workflow.phases.iter().map(|phase| phase.key.clone()).collect();
        let (owner, host) = (self.owner.clone(), super::owner::hostname());
        busy_retried(self.runner.retry(), || {
            let (run, keys, owner, host) = (run.clone(), keys.clone(), owner.clone(), host.clone());
            self.db.write(move |tx| {
                Box::pin(async move {
                    if let Some(existing) = tx.run(&run.id).await? {
                        let now_ms = tx.db_now_ms().await?;
                        let remaining_ms = existing.lease_expires_at.unwrap_or(0) - now_ms;
                        if existing.lease_owner.is_some()
                            && remaining_ms > 0
                            && !existing.state.is_terminal()
                        {
                            return Err(leased(
                                &run.id,
                                existing.lease_owner.as_deref().unwrap_or_default(),
                                remaining_ms,
                            ));
                        }
                        return Err(Error::new(
                            Code::InvalidInput,
                            format!("run {} already exists ({})", run.id, existing.state),
                        )
                        .with_hint(format!(
                            "choose another --run-id, or continue it with `devflow resume {}`",
                            run.id
                        )));
                    }
                    tx.insert_run(&run).await?;
                    for (ordinal, key) in keys.iter().enumerate() {
                        let phase = NewPhase {
                            id: new_id(),
                            run_id: run.id.clone(),
                            phase_key: key.clone(),
                            ordinal: ordinal as i32,
                        };
                        tx.insert_phase(&phase).await?;
                    }
                    Event::run_created(&run.id, &run.workflow, keys, &run.worktree)
                        .emit(tx)
                        .await?;
                    if state == RunState::Queued {
                        return Ok(None);
                    }
                    tx.claim_run_lease(&run.id, &owner, &host, LEASE_TTL_MS, None).await
                })
            })
        })
        .await
    }
}

/// The worktree, canonical, and a usable run id (a new one if none was given); the workflow's
/// schemas compile.
fn checked(
    workflow: &Workflow,
    run_id: Option<String>,
    worktree: &Path,
) -> Result<(String, PathBuf), Error> {
    let worktree = worktree.canonicalize().map_err(|error| {
        invalid(
            format!("cannot open worktree {}: {error}", worktree.display()),
            "pass an existing directory with --worktree",
        )
    })?;
    workflow.compile_schemas()?;
    let run_id = run_id.unwrap_or_else(new_id);
    if run_id.trim().is_empty() || run_id.len() > 128 || run_id.contains(char::is_whitespace) {
        return Err(invalid(
            format!("run id {run_id:?} is not usable"),
            "a run id is 1 to 128 characters without spaces",
        ));
    }
    Ok((run_id, worktree))
}
