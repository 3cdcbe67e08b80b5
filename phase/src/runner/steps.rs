//! The phase's own durable steps: starting an attempt, delivering its prompt, waiting for and
//! recording its artifact, and the two good endings. Each is one transaction that locks the
//! run, checks it, changes rows and appends the events of `event`; replaying one appends
//! nothing new. (The session's steps are in `session`, the gates' in `gate`.)

use devflow_core::{
    Code, Error, Move, PhaseState, Result, RunState, SessionState, StateMachine, Validation,
};
use devflow_db::{ApprovalState, ArtifactRow, NewArtifact, SessionRow, SessionUpdate};
use devflow_session::{SessionHandle, retry_recoverable};
use serde_json::Value;

use super::attempt::Attempt;
use super::context::{Ctx, mutate, step};
use super::crash::crash_point;
use super::event::Event;
use super::gate::insert_approval_in;
use super::session::{expecting, mark_crashed_in};
use crate::artifact::Signature;

/// A validated (or invalid) artifact of one attempt.
#[derive(Debug, Clone)]
pub(crate) struct ArtifactOutcome {
    pub attempt: u32,
    pub artifact_id: String,
    pub hash: String,
    pub validation: Validation,
}

impl Ctx {
    /// `from -> running` with a new attempt and `phase.started`; `None` if the phase was not
    /// in `from` (re-entry then reads what it is in).
    pub async fn try_start_attempt(&self, from: PhaseState, extra: Value) -> Result<Option<u32>> {
        mutate!(self, "after_phase_started", |tx, phase| {
            let started = tx.try_start_phase(phase.run_id(), phase.phase_id(), &[from]).await?;
            let Some(attempt) = started else {
                if tx.phase(phase.phase_id()).await?.is_none() {
                    return Err(Error::corruption("run phase does not exist"));
                }
                return Ok(None);
            };
            Event::phase_started(phase, attempt, extra).emit(tx).await?;
            Ok(Some(attempt))
        })
    }

    /// Marks the session `BUSY` with the prompt's hash, delivers the prompt (retrying
    /// recoverable failures), and records `prompt.sent` / `prompt.repaired`. Returns the artifact
    /// as it was before the prompt: the wait ignores a file still like this.
    ///
    /// The `BUSY` row is written *before* the send: after a crash, a session found `BUSY` with
    /// this prompt's hash may or may not have received it, and re-entry resumes the wait
    /// instead of sending again. (The reference checks the run in a transaction of its own
    /// first; that check is folded into the `BUSY` step, which makes it anyway.)
    pub async fn send_prompt(
        &self,
        handle: &SessionHandle,
        attempt: &Attempt,
    ) -> Result<Option<Signature>> {
        let baseline = self.phase.file.signature()?;
        let (sid, dedup) = (handle.session_id.as_str(), attempt.dedup_key());
        mutate!(self, |tx, phase| {
            let update = SessionUpdate {
                last_prompt_hash: Some(dedup.to_owned()),
                last_prompt_at: Some(devflow_db::now_ms()),
                ..expecting(phase)
            };
            // The event first, so that on PostgreSQL it travels with the move.
            Event::session_busy(phase, sid, dedup).emit(tx).await?;
            tx.move_session(sid, SessionState::Busy, Move::Transition, update).await
        })?;
        crash_point!("before_prompt_delivery");
        let envelope = &attempt.envelope;
        let send = || self.adapter.send_prompt(handle, envelope);
        retry_recoverable("send_prompt", &self.retry, send).await?;
        // A crash here leaves a delivered prompt with no `prompt.sent`: re-entry finds the
        // session BUSY with this hash and waits for the artifact without sending again.
        crash_point!("after_prompt_delivery");
        self.record_prompt(attempt).await?;
        Ok(baseline)
    }

    /// `prompt.sent` / `prompt.repaired` for a delivered prompt; a replay appends nothing.
    pub async fn record_prompt(&self, attempt: &Attempt) -> Result<()> {
        mutate!(self, "after_prompt_recorded", |tx, phase| {
            Event::prompt(phase, attempt.repair, attempt.dedup_key()).emit(tx).await
        })
    }

    /// `awaiting_artifact` and `artifact.expected` for this attempt.
    pub async fn start_artifact_wait(&self, attempt: u32) -> Result<()> {
        mutate!(self, "after_artifact_expected", |tx, phase| {
            // Recorded first, so that on PostgreSQL it travels with the update.
            Event::artifact_expected(phase, attempt).emit(tx).await?;
            let awaiting = PhaseState::AwaitingArtifact;
            tx.set_phase_state(phase.run_id(), phase.phase_id(), awaiting).await
        })
    }

    pub async fn set_phase_validating(&self) -> Result<()> {
        mutate!(self, "after_phase_validating", |tx, phase| {
            tx.set_phase_state(phase.run_id(), phase.phase_id(), PhaseState::Validating).await
        })
    }

    /// `artifact.timeout` with how the session looked, and the session moved to that state
    /// (`CRASHED` counts a recovery attempt and appends `session.crashed`).
    pub async fn record_artifact_timeout(
        &self,
        attempt: u32,
        sid: &str,
        state: SessionState,
    ) -> Result<()> {
        mutate!(self, "after_artifact_timeout", |tx, phase| {
            Event::artifact_timeout(phase, attempt, state).emit(tx).await?;
            if state != SessionState::Crashed {
                return tx.move_session(sid, state, Move::Assign, SessionUpdate::default()).await;
            }
            let row = tx.require_session(sid).await?;
            match row.state {
                SessionState::Crashed => Ok(()),
                from => {
                    from.assert_transition(SessionState::Crashed)?;
                    mark_crashed_in(tx, phase, sid, row.recovery_attempts + 1).await
                }
            }
        })
    }

    /// Inserts (or finds) the artifact row and appends `artifact.validated` / `artifact.invalid`.
    pub async fn record_artifact(
        &self,
        attempt: u32,
        hash: String,
        validation: Validation,
    ) -> Result<ArtifactOutcome> {
        mutate!(self, "after_artifact_recorded", |tx, phase| {
            let row = tx
                .insert_or_get_artifact(&NewArtifact {
                    run_id: phase.run_id(),
                    phase_id: phase.phase_id(),
                    path: &phase.artifact,
                    schema_id: phase.schema_id(),
                    hash: &hash,
                    valid: validation.is_valid(),
                    validation_error: &validation.to_json(),
                })
                .await?;
            Event::artifact_checked(phase, &row, &validation).emit(tx).await?;
            Ok(ArtifactOutcome { attempt, artifact_id: row.id, hash, validation })
        })
    }

    /// Re-appends the check event of an artifact recorded before a crash (a no-op replay if it
    /// made it), for re-entry in `validating`.
    pub async fn replay_artifact_event(
        &self,
        row: &ArtifactRow,
        validation: &Validation,
    ) -> Result<()> {
        mutate!(self, |tx, phase| {
            Event::artifact_checked(phase, row, validation).emit(tx).await
        })
    }

    /// `completed`, `phase.completed`, the session `READY` again; and, for the last phase, the
    /// run `completed` with `run.completed`. Returns the session's row if it moved.
    pub async fn complete_phase(&self, attempt: u32, sid: &str) -> Result<Option<SessionRow>> {
        step!(self, "after_phase_completed", |tx, run, phase| {
            if run.state.is_terminal() {
                return Ok(None);
            }
            if !run.state.allows_phase_mutation() {
                let message = "the run left its active state while the phase was running";
                let error = Error::new(Code::RunStateChanged, message);
                return Err(error.with_hint(format!("run_state={}", run.state)));
            }
            let completed = PhaseState::Completed;
            tx.set_phase_state(phase.run_id(), phase.phase_id(), completed).await?;
            Event::phase_completed(phase, attempt).emit(tx).await?;
            // An agent that failed to a person stays failed when the person supplied
            // the artifact (`adopt_present_artifact`); a later phase starts a fresh one.
            let ready = SessionState::Ready;
            let moved = tx
                .update_session_from(sid, &Move::Assign.sources(ready), &SessionUpdate::to(ready))
                .await?;
            if let Some(row) = &moved {
                Event::session_ready(phase, sid, row.recovery_attempts).emit(tx).await?;
            } else if let Some(row) = tx.session(sid).await?
                && row.state != SessionState::FailedNeedsHuman
            {
                row.state.assert_assignment(ready)?;
            }
            if phase.spec.terminal {
                tx.set_run_state(phase.run_id(), RunState::Completed, None, None).await?;
                Event::run_completed(phase).emit(tx).await?;
            }
            Ok(moved)
        })
    }

    /// A pending approval request for the workflow's gate: the phase `awaiting_approval`, the
    /// session `WAITING_FOR_APPROVAL`, the run `awaiting_approval`, and `approval.requested`.
    pub async fn request_workflow_approval(
        &self,
        attempt: u32,
        sid: &str,
        gate_key: &str,
        payload: Value,
    ) -> Result<()> {
        mutate!(self, "after_approval_requested", |tx, phase| {
            let (run_id, phase_id) = (phase.run_id(), phase.phase_id());
            let request = insert_approval_in(tx, phase, gate_key, attempt, &payload).await?;
            if request.state != ApprovalState::Pending {
                let message = "approval request replay did not match a pending request";
                let hint = format!("approval_state={}", request.state.as_str());
                return Err(Error::corruption(message).with_hint(hint));
            }
            tx.set_phase_state(run_id, phase_id, PhaseState::AwaitingApproval).await?;
            let waiting = SessionState::WaitingForApproval;
            if let Some(row) = tx.session(sid).await?
                && row.state != SessionState::FailedNeedsHuman
            {
                row.state.assert_assignment(waiting)?;
                tx.update_session(sid, &SessionUpdate::to(waiting)).await?;
            }
            tx.set_run_state(run_id, RunState::AwaitingApproval, Some(phase_id), None).await?;
            Event::approval_requested(phase, &request, gate_key).emit(tx).await
        })
    }
}

/// Corruption: the phase is in `state`, which `message` says it cannot be in.
pub(crate) fn wrong_phase_state(message: &str, state: PhaseState) -> Error {
    Error::corruption(message).with_hint(format!("phase_state={state}"))
}
