//! A person's word on a run: approve, reject, resume, abort — each one durable step, then (for
//! the first three) driving on; a run submitted for workers is left for a worker to drive on.

use devflow_core::{Code, Error, PhaseState, RunState, StateMachine};
use devflow_db::{ApprovalRow, ApprovalState, ArtifactRow, RunRow, Tx};
use tokio_util::sync::CancellationToken;

use super::host::take_over_in;
use super::lease::LeaseWait;
use super::specs::Loaded;
use super::{Decision, Driver, Outcome, invalid};
use crate::event::{Event, kind::RUN_RESUMED};
use crate::runner::{Phase, busy_retried, complete_in};

impl Driver {
    /// Approves the pending workflow gate and drives on; on a run paused at a human gate, the
    /// same as `resume` with the decision recorded as this person's.
    pub async fn approve(
        &self,
        run_id: &str,
        decision: Decision,
        cancel: CancellationToken,
    ) -> Result<Outcome, Error> {
        let driver = self;
        self.decide_and_drive(run_id, LeaseWait::Refuse, cancel, move |tx, run| {
            Box::pin(async move { approve_in(driver, tx, &run, &decision).await })
        })
        .await
    }

    /// Rejects the pending workflow gate: the phase goes back to its agent with the note.
    pub async fn reject(
        &self,
        run_id: &str,
        decision: Decision,
        cancel: CancellationToken,
    ) -> Result<Outcome, Error> {
        self.decide_and_drive(run_id, LeaseWait::Refuse, cancel, move |tx, run| {
            Box::pin(async move { reject_in(tx, &run, &decision).await })
        })
        .await
    }

    /// Continues a run: past a human gate (the phase restarts, with a fresh agent if its own
    /// failed), or where a killed driver left it.
    pub async fn resume(
        &self,
        run_id: &str,
        decided_by: String,
        cancel: CancellationToken,
    ) -> Result<Outcome, Error> {
        let decision = Decision { gate_key: None, note: Some("resumed".to_owned()), decided_by };
        self.decide_and_drive(run_id, LeaseWait::UntilExpired, cancel, move |tx, run| {
            Box::pin(async move {
                match run.state {
                    RunState::Paused => resume_in(tx, &run, &decision).await,
                    _ => Ok(()),
                }
            })
        })
        .await
    }

    /// `resume`, moving the run's agents to this host: the sessions on their old host are
    /// failed, and each phase under way starts again with a fresh agent here (`driver/host.rs`).
    /// A run paused at a gate (its `agents_elsewhere` gate) is moved in the resume's step; one
    /// still executing whose driver is gone is taken over by the drive's first look, as a worker
    /// that may move agents takes it — or, submitted for workers, moved in the step, so that
    /// the workers of this host claim it.
    pub async fn resume_moving_agents(
        &self,
        run_id: &str,
        decided_by: String,
        cancel: CancellationToken,
    ) -> Result<Outcome, Error> {
        let here = super::owner::hostname();
        let note = format!("resumed, moving the agents to {here}");
        let mover = self.clone().acting_for(decided_by.clone()).moving_agents(true);
        let decision = Decision { gate_key: None, note: Some(note), decided_by };
        mover
            .decide_and_drive(run_id, LeaseWait::UntilExpired, cancel, move |tx, run| {
                Box::pin(async move {
                    if run.state == RunState::Paused {
                        resume_in(tx, &run, &decision).await?;
                    } else if run.submitted_at.is_none() || run.state != RunState::Executing {
                        return Ok(());
                    }
                    take_over_in(tx, &run, &here, &decision.decided_by).await
                })
            })
            .await
    }

    /// Ends the run (`aborted`), rejects its pending requests, and stops its agents. A run that
    /// has ended already is left as it is, and only its agents are stopped (they may have been
    /// kept for a look): the state it ended in is returned then.
    pub async fn abort(&self, run_id: &str, decided_by: String) -> Result<Option<RunState>, Error> {
        let ended = busy_retried(self.runner.retry(), || {
            let (id, decided_by) = (run_id.to_owned(), decided_by.clone());
            self.db.step(run_id, move |tx, run| {
                Box::pin(async move {
                    if run.state.is_terminal() {
                        return Ok(Some(run.state));
                    }
                    run.state.assert_transition(RunState::Aborted)?;
                    for request in pending(tx, &id).await? {
                        let decision = Decision {
                            gate_key: None,
                            note: Some("aborted".to_owned()),
                            decided_by: decided_by.clone(),
                        };
                        decide_in(tx, &request, ApprovalState::Rejected, &decision).await?;
                    }
                    tx.set_run_state(&id, RunState::Aborted, None, None).await?;
                    Event::run_aborted(&id, &decided_by, run.state).emit(tx).await?;
                    Ok(None)
                })
            })
        })
        .await?;
        self.adapter.dispose_run(run_id).await?;
        Ok(ended)
    }

    async fn decide_and_drive<'a, F>(
        &self,
        run_id: &str,
        wait: LeaseWait,
        cancel: CancellationToken,
        step: F,
    ) -> Result<Outcome, Error>
    where
        F: for<'t> FnOnce(&'t mut Tx, RunRow) -> devflow_db::StepFuture<'a, 't, ()>
            + Clone
            + Send
            + 'a,
    {
        let held = self.acquire(run_id, wait, &cancel).await?;
        // The decision is one step: a busy database rolled it back whole, so it is taken again.
        let decided = busy_retried(self.runner.retry(), || held.db.step(run_id, step.clone()));
        let outcome = match decided.await {
            // A submitted run is driven on by a worker, which claims it once this lease is
            // given back.
            Ok(()) if self.submitted(run_id).await? => Ok(Outcome::Queued),
            Ok(()) => self.drive(&held, &cancel).await,
            Err(error) => Err(error),
        };
        self.release(held).await;
        outcome
    }
}

impl Driver {
    /// Whether the run was queued for workers (`submit`): one read of its row.
    async fn submitted(&self, run_id: &str) -> Result<bool, Error> {
        let id = run_id.to_owned();
        let run = self.db.read(move |tx| Box::pin(async move { tx.run(&id).await })).await?;
        Ok(run.is_some_and(|run| run.submitted_at.is_some()))
    }
}

async fn approve_in(
    driver: &Driver,
    tx: &mut Tx,
    run: &RunRow,
    decision: &Decision,
) -> Result<(), Error> {
    match run.state {
        RunState::Paused => return resume_in(tx, run, decision).await,
        RunState::AwaitingApproval => {}
        other => return Err(not_waiting(&run.id, other)),
    }
    let request = chosen(tx, run, decision).await?;
    decide_in(tx, &request, ApprovalState::Approved, decision).await?;
    let Some(row) = tx.phase(&request.phase_id).await? else {
        return Err(Error::corruption("the approval request's phase does not exist"));
    };
    row.state.assert_transition(PhaseState::Completed)?;
    run.state.assert_transition(RunState::Executing)?;
    tx.set_run_state(&run.id, RunState::Executing, None, None).await?;
    // The phase completes as the runner completes it, as approved by this person.
    let loaded = Loaded::from_run(run)?;
    let approvals = tx.approvals(&run.id).await?;
    let phase = Phase::resolve(driver.spec(run, &loaded, &row, &approvals)?)?;
    let validated = match &row.artifact_id {
        Some(id) => tx.artifact(id).await?,
        None => None,
    };
    unchanged_since_validated(&phase, validated.as_ref()).await?;
    let session = tx.session_for_role(&run.id, phase.role_id()).await?;
    let sid = session.map(|row| row.id).unwrap_or_default();
    let executing = RunRow { state: RunState::Executing, ..run.clone() };
    let by = Some(decision.decided_by.as_str());
    complete_in(tx, &executing, &phase, row.attempts, &sid, by).await?;
    Ok(())
}

/// The approval is of the bytes that were validated: the artifact is read again, and one that
/// changed (or went) since is refused with what changed, so that no later phase sees bytes no
/// one checked.
async fn unchanged_since_validated(
    phase: &Phase,
    validated: Option<&ArtifactRow>,
) -> Result<(), Error> {
    let Some(validated) = validated else {
        return Err(Error::corruption("a phase awaiting approval has no validated artifact"));
    };
    let (max_bytes, schema) = (phase.spec.wait.max_artifact_bytes, &phase.spec.schema);
    let (hash, _) = crate::artifact::read(&phase.file, max_bytes, schema).await?;
    if hash == validated.hash {
        return Ok(());
    }
    let gone = phase.file.signature()?.is_none();
    let what = match gone {
        true => "is gone".to_owned(),
        false => format!("changed (sha256 {} → {})", short(&validated.hash), short(&hash)),
    };
    let message = format!(
        "the artifact {} {what} since it was validated: nothing was approved",
        phase.artifact
    );
    let hint = format!(
        "put the validated artifact back and approve again, or `devflow reject {} --note …` to \
         have the agent write it again",
        phase.run_id()
    );
    Err(Error::new(Code::ArtifactChanged, message).with_hint(hint))
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

async fn reject_in(tx: &mut Tx, run: &RunRow, decision: &Decision) -> Result<(), Error> {
    if run.state != RunState::AwaitingApproval {
        return Err(not_waiting(&run.id, run.state));
    }
    let request = chosen(tx, run, decision).await?;
    decide_in(tx, &request, ApprovalState::Rejected, decision).await?;
    run.state.assert_transition(RunState::Executing)?;
    tx.set_run_state(&run.id, RunState::Executing, Some(&request.phase_id), None).await
}

async fn resume_in(tx: &mut Tx, run: &RunRow, decision: &Decision) -> Result<(), Error> {
    for request in pending(tx, &run.id).await? {
        decide_in(tx, &request, ApprovalState::Approved, decision).await?;
    }
    let to = run
        .paused_from_state
        .filter(|state| run.state.can_transition(*state))
        .unwrap_or(RunState::Executing);
    run.state.assert_transition(to)?;
    tx.set_run_state(&run.id, to, None, None).await?;
    let resumed = tx.count_events(&run.id, RUN_RESUMED).await?;
    Event::run_resumed(&run.id, resumed + 1, &decision.decided_by, to).emit(tx).await
}

/// The pending request a decision is about: the one at `--gate`, or the only/newest one.
async fn chosen(tx: &mut Tx, run: &RunRow, decision: &Decision) -> Result<ApprovalRow, Error> {
    let pending = pending(tx, &run.id).await?;
    let found = match &decision.gate_key {
        Some(gate) => pending.iter().rev().find(|request| &request.gate_key == gate),
        None => pending.last(),
    };
    found.cloned().ok_or_else(|| {
        let gates: Vec<&str> = pending.iter().map(|request| request.gate_key.as_str()).collect();
        invalid(
            format!(
                "run {} has no pending gate {}",
                run.id,
                decision.gate_key.as_deref().unwrap_or("")
            ),
            format!(
                "pending gates: {}",
                if gates.is_empty() { "none".to_owned() } else { gates.join(", ") }
            ),
        )
    })
}

async fn pending(tx: &mut Tx, run_id: &str) -> Result<Vec<ApprovalRow>, Error> {
    Ok(tx
        .approvals(run_id)
        .await?
        .into_iter()
        .filter(|request| request.state == ApprovalState::Pending)
        .collect())
}

async fn decide_in(
    tx: &mut Tx,
    request: &ApprovalRow,
    state: ApprovalState,
    decision: &Decision,
) -> Result<(), Error> {
    let (by, note) = (decision.decided_by.as_str(), decision.note.as_deref());
    tx.decide_approval(&request.id, state, by, note).await?;
    Event::approval_decided(request, state, by, note).emit(tx).await
}

fn not_waiting(run_id: &str, state: RunState) -> Error {
    let hint = match state {
        RunState::Paused => {
            "the run waits at a human gate: fix what it says, then `devflow resume`".to_owned()
        }
        RunState::Executing | RunState::Planning => {
            format!("the run is not at a gate; `devflow status {run_id}` shows where it is")
        }
        _ => "the run has ended".to_owned(),
    };
    invalid(format!("run {run_id} is {state}, not waiting for approval"), hint)
}
