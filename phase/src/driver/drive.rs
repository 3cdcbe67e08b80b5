//! The driving loop: every phase that is ready (all it needs completed), run or re-entered by
//! the phase runner on a task of its own, as many at once as the workflow allows, until the run
//! leaves `executing`.

use std::sync::Arc;

use devflow_core::{Class, Code, Error, RunState, StateMachine};
use devflow_db::{ApprovalRow, ApprovalState, PhaseRow, RunRow};
use tokio_util::sync::CancellationToken;

use super::lease::{Held, MAX_TAKEOVERS};
use super::running::Running;
use super::schedule::to_start;
use super::specs::Loaded;
use super::task::PhaseTask;
use super::{Driver, Gate, Outcome};
use crate::event::Event;
use crate::runner::busy_retried;
use crate::runner::{PhaseRunner, RunStop};

/// What a look at the run between phases leads to.
enum Looked {
    /// Wait for a running phase to end.
    Wait,
    /// The look changed the run (it completed): look again.
    Again,
}

/// What the loop reads before each phase.
pub(crate) struct Snapshot {
    pub run: RunRow,
    pub phases: Vec<PhaseRow>,
    pub approvals: Vec<ApprovalRow>,
}

impl Driver {
    /// Drives the run (whose lease the caller holds) until it stops. A run that ended has its
    /// agents stopped, unless its workflow keeps them for a look (`keep_agents`); a run that
    /// waits for a person keeps them.
    ///
    /// Every step goes through the lease's fenced handle: a driver that lost its lease stops
    /// with `lease_lost` at its next step, before writing anything, and touches no agent.
    pub(crate) async fn drive(
        &self,
        held: &Held,
        cancel: &CancellationToken,
    ) -> Result<Outcome, Error> {
        let run_id = held.lease.run_id.as_str();
        let outcome = match self.drive_phases(held, cancel).await {
            Err(_) if held.lost() => return Err(held.lost_error()),
            outcome => outcome?,
        };
        if matches!(outcome, Outcome::Completed | Outcome::Failed { .. } | Outcome::Aborted) {
            let run = self.snapshot(run_id).await?.run;
            let keep = Loaded::from_run(&run).is_ok_and(|loaded| loaded.workflow.keep_agents);
            if !keep && let Err(error) = self.adapter.dispose_run(run_id).await {
                tracing::warn!(run = %run_id, %error, "the ended run's agents were not all stopped");
            }
        }
        Ok(outcome)
    }

    /// Runs every phase that is ready, as many at once as the workflow allows, until the run
    /// stops. When one phase stops the run (a gate, a failure) the others are cancelled where
    /// they stand — their agents keep working in tmux — and the next drive re-enters them.
    async fn drive_phases(
        &self,
        held: &Held,
        cancel: &CancellationToken,
    ) -> Result<Outcome, Error> {
        let run_id = held.lease.run_id.as_str();
        let runner = self.runner.on(held.db.clone());
        self.claimed(held).await?;
        let mut loaded: Option<Loaded> = None;
        // The run was taken over from dead drivers too often in a row, or its agents live on
        // another host: its phase stops at a human gate at once.
        let mut stop = match held.lease.takeovers > MAX_TAKEOVERS {
            true => Some(RunStop::RecoveryLimit { takeovers: held.lease.takeovers }),
            false => self.host_stop(held).await?,
        };
        let mut running = Running::new(cancel);
        loop {
            if !running.failed() {
                match self.start_ready(held, &runner, &mut loaded, &mut stop, &mut running).await {
                    Ok(Looked::Again) => continue,
                    Ok(Looked::Wait) => {}
                    // The drive's own step failed: what runs is stopped and waited for first.
                    Err(error) => running.fail(error),
                }
            }
            if running.failed() {
                running.stop_all();
            }
            if !running.next_ended().await {
                break;
            }
        }
        let failure = running.into_failure();
        if let Some(error) =
            failure.as_ref().filter(|error| error.is(Code::LeaseLost) || held.lost())
        {
            return Err(error.clone());
        }
        let after = self.snapshot(run_id).await?;
        match failure {
            Some(error) => stopped(&after, Some(&error)).ok_or(error),
            None => stopped(&after, None).ok_or_else(|| {
                Error::corruption("the run's phases ended, but the run did not stop")
            }),
        }
    }

    /// One look at the run between phases: work done committed (a managed run completed once
    /// all of it is), then, unless the run stopped, every phase that can start started.
    async fn start_ready(
        &self,
        held: &Held,
        runner: &PhaseRunner,
        loaded: &mut Option<Loaded>,
        stop: &mut Option<RunStop>,
        running: &mut Running,
    ) -> Result<Looked, Error> {
        let snapshot = self.snapshot(&held.lease.run_id).await?;
        let loaded = match loaded {
            Some(loaded) => loaded,
            None => loaded.insert(Loaded::from_run(&snapshot.run)?),
        };
        let (run, workflow, phases) = (&snapshot.run, &loaded.workflow, &snapshot.phases);
        // Work done is committed before anything that needs it starts; a managed run
        // completes here, once the last phase's work is committed too.
        if run.state == RunState::Executing {
            self.commit_completed(&held.db, run, workflow, phases).await?;
            if self.complete_managed_run(&held.db, run, workflow, phases).await? {
                return Ok(Looked::Again);
            }
        }
        if stopped(&snapshot, None).is_some() {
            // Stopping: the phases still running end where they stand, and are waited for.
            running.stop_all();
            return Ok(Looked::Wait);
        }
        let limit = usize::try_from(workflow.max_parallel).unwrap_or(usize::MAX);
        let room = limit.saturating_sub(running.keys().len());
        let ready = to_start(workflow, phases, running.keys(), room);
        if ready.is_empty() && running.keys().is_empty() {
            let message = "the run is executing, but no phase is under way and none can start";
            return Err(Error::corruption(message));
        }
        for row in ready {
            let spec = self.spec(run, loaded, row, &snapshot.approvals)?;
            tracing::info!(run = %run.id, phase = %row.phase_key, state = %row.state, restart = ?spec.restart, "driving phase");
            // A stop gates its phase and pauses the run: nothing else starts with it.
            let stop = stop.take();
            let gates = stop.is_some();
            let task = self.phase_task(PhaseTask {
                runner: runner.clone(),
                db: held.db.clone(),
                run: run.clone(),
                workflow: Arc::clone(&loaded.workflow),
                row: row.clone(),
                spec,
                stop,
                cancel: running.cancel(),
            });
            running.start(row.phase_key.clone(), task);
            if gates {
                break;
            }
        }
        Ok(Looked::Wait)
    }

    /// Records how the lease was come by when it was not simply free: a queued run starts
    /// (`executing`), and a take-over from a dead driver is said (`run.claimed`, with how many
    /// in a row).
    async fn claimed(&self, held: &Held) -> Result<(), Error> {
        busy_retried(self.runner.retry(), || {
            let lease = held.lease.clone();
            held.db.step(&held.lease.run_id, move |tx, run| {
                Box::pin(async move {
                    if run.state == RunState::Queued {
                        run.state.assert_transition(RunState::Executing)?;
                        tx.set_run_state(&run.id, RunState::Executing, None, None).await?;
                    } else if lease.takeovers == 0 {
                        return Ok(());
                    }
                    Event::run_claimed(&lease, run.state).emit(tx).await
                })
            })
        })
        .await
    }

    pub(crate) async fn snapshot(&self, run_id: &str) -> Result<Snapshot, Error> {
        let id = run_id.to_owned();
        self.db
            .read(move |tx| {
                Box::pin(async move {
                    let Some(run) = tx.run(&id).await? else {
                        return Err(Error::new(
                            devflow_core::Code::RunNotFound,
                            format!("run {id} does not exist"),
                        )
                        .with_hint("`devflow status` lists the runs"));
                    };
                    let phases = tx.phases(&id).await?;
                    let approvals = tx.approvals(&id).await?;
                    Ok(Snapshot { run, phases, approvals })
                })
            })
            .await
    }
}

/// Where the run stands if it is not `executing` (or `planning`).
fn stopped(snapshot: &Snapshot, error: Option<&Error>) -> Option<Outcome> {
    let gate = || pending_gate(snapshot);
    match snapshot.run.state {
        RunState::Queued | RunState::Planning | RunState::Executing => None,
        RunState::Completed => Some(Outcome::Completed),
        RunState::Aborted => Some(Outcome::Aborted),
        RunState::Failed => Some(Outcome::Failed {
            reason: error.filter(|error| error.class() == Class::Fatal).map_or_else(
                || "the run failed (see `devflow events`)".to_owned(),
                ToString::to_string,
            ),
        }),
        RunState::AwaitingApproval => Some(Outcome::AwaitingApproval(gate().unwrap_or_default())),
        RunState::Paused => Some(Outcome::Paused(gate().unwrap_or_default())),
    }
}

/// The run's newest pending approval request.
pub(crate) fn pending_gate(snapshot: &Snapshot) -> Option<Gate> {
    let request =
        snapshot.approvals.iter().rev().find(|request| request.state == ApprovalState::Pending)?;
    Some(gate_of(request, &snapshot.phases))
}

pub(crate) fn gate_of(request: &ApprovalRow, phases: &[PhaseRow]) -> Gate {
    let phase_key = phases
        .iter()
        .find(|phase| phase.id == request.phase_id)
        .map_or_else(|| request.phase_id.clone(), |phase| phase.phase_key.clone());
    let hint = ["recoveryHint", "expectedArtifactPath"]
        .iter()
        .find_map(|key| request.payload.get(*key).and_then(|value| value.as_str()))
        .map(str::to_owned);
    Gate { request_id: request.id.clone(), gate_key: request.gate_key.clone(), phase_key, hint }
}
