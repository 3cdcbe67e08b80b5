//! The two good endings of a phase: completed (and the run with it, if last), or waiting for a
//! person to approve its artifact.

use devflow_core::{Code, Error, PhaseState, Result, RunState, SessionState, StateMachine};
use devflow_db::{ApprovalState, SessionRow};
use serde_json::Value;

use crate::context::{Ctx, mutate, step};
use crate::event::Event;
use crate::steps::gate::insert_approval_in;
use crate::steps::session::{Move, to_state};

impl Ctx {
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
            let from = Move::Assign.from(ready);
            let moved = tx.update_session_from(sid, &from, &to_state(ready)).await?;
            if moved.is_none()
                && let Some(row) = tx.session(sid).await?
                && row.state != SessionState::FailedNeedsHuman
            {
                row.state.assert_assignment(ready)?;
            }
            if let Some(row) = &moved {
                let ready = Event::session_ready(phase, sid, row.recovery_attempts);
                ready.emit(tx).await?;
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
                return Err(Error::corruption(
                    "approval request replay did not match a pending request",
                )
                .with_hint(format!("approval_state={}", request.state.as_str())));
            }
            tx.set_phase_state(run_id, phase_id, PhaseState::AwaitingApproval).await?;
            let waiting = SessionState::WaitingForApproval;
            if let Some(row) = tx.session(sid).await?
                && row.state != SessionState::FailedNeedsHuman
            {
                row.state.assert_assignment(waiting)?;
                tx.update_session(sid, &to_state(waiting)).await?;
            }
            let awaiting = RunState::AwaitingApproval;
            tx.set_run_state(run_id, awaiting, Some(phase_id), None).await?;
            let requested = Event::approval_requested(phase, &request, gate_key);
            requested.emit(tx).await
        })
    }
}
