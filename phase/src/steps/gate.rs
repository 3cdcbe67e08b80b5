//! The two ways a phase stops short: a human gate (the run pauses) and a failed run.

use devflow_core::{PhaseState, Result, RunState, SessionState, StateMachine};
use devflow_db::{ApprovalRow, NewApproval, SessionRow, Tx};
use devflow_session::SessionHandle;
use serde_json::Value;

use crate::context::{Ctx, handle_from_row, step};
use crate::crash::crash_point;
use crate::event::Event;
use crate::keys;
use crate::spec::Phase;
use crate::steps::session::{fail_session_in, mark_crashed, to_state};

/// A human gate: the phase failed in a way a person must look at.
#[derive(Debug, Clone)]
pub(crate) struct GateRequest {
    pub attempt: u32,
    /// Why the phase failed (`phase.failed` reason).
    pub reason: &'static str,
    /// The gate's key: the code of the error that stopped the phase.
    pub gate_key: String,
    /// What the approval request carries; always with a `recoveryHint`.
    pub payload: Value,
    pub session_id: Option<String>,
    /// Whether the session is marked `CRASHED` first (a failed send or resume).
    pub mark_crashed: bool,
}

impl Ctx {
    /// Fails the phase, pauses the run, marks the session `FAILED_NEEDS_HUMAN` and writes a
    /// pending approval request — one step. If that step itself fails, the run fails.
    pub async fn request_human_gate(&self, gate: GateRequest) -> Result<()> {
        let (backend, request) = (self.adapter.backend(), &gate);
        let result = step!(self, |tx, run, phase| {
            if run.state.is_terminal() {
                return Ok(());
            }
            human_gate_in(tx, phase, run.state, backend, request).await
        });
        if let Err(error) = result {
            self.fail_run(gate.attempt, "approval_request_failed", None)
                .await?;
            if let Some(session_id) = &gate.session_id {
                self.mark_session_failed(session_id).await?;
            }
            return Err(error);
        }
        crash_point!("after_human_gate");
        Ok(())
    }

    /// Fails the phase and the run and disposes every session of the run. The `running`
    /// agent's transcript is captured first, and the agent disposed even if the run has no
    /// row for it; a capture error wins over a dispose error.
    pub async fn fail_run(
        &self,
        attempt: u32,
        reason: &'static str,
        running: Option<&SessionHandle>,
    ) -> Result<()> {
        let sessions = step!(self, "after_run_failed", |tx, run, phase| {
            if run.state.is_terminal() {
                return Ok(Vec::new());
            }
            fail_phase_in(tx, phase, attempt, reason).await?;
            tx.set_run_state(phase.run_id(), RunState::Failed, None, None)
                .await?;
            Event::run_failed(phase, reason).emit(tx).await?;
            fail_all_sessions_in(tx, phase).await
        })?;
        let Some(handle) = running else {
            return self.dispose_all(&sessions).await;
        };
        let captured = self.capture_transcript(&handle.session_id).await;
        let mut disposed = self.dispose_all(&sessions).await;
        if disposed.is_ok() && !sessions.iter().any(|row| row.id == handle.session_id) {
            let row = self.session_row(&handle.session_id).await?;
            let target = row.as_ref().map_or_else(|| handle.clone(), handle_from_row);
            disposed = self.adapter.dispose(&target).await;
        }
        captured.and(disposed)
    }

    async fn dispose_all(&self, sessions: &[SessionRow]) -> Result<()> {
        crash_point!("before_dispose");
        let mut first_error = None;
        for row in sessions {
            if let Err(error) = self.adapter.dispose(&handle_from_row(row)).await {
                first_error.get_or_insert(error);
            }
        }
        crash_point!("after_dispose");
        first_error.map_or(Ok(()), Err)
    }
}

async fn human_gate_in(
    tx: &mut Tx,
    phase: &Phase,
    run_state: RunState,
    backend: &str,
    gate: &GateRequest,
) -> Result<()> {
    let (run_id, phase_id, gate_key) = (phase.run_id(), phase.phase_id(), &gate.gate_key);
    let request = insert_approval_in(tx, phase, gate_key, gate.attempt, &gate.payload).await?;
    fail_phase_in(tx, phase, gate.attempt, gate.reason).await?;
    if run_state != RunState::Paused {
        let cause = &keys::human_gate_cause(gate_key, phase_id, gate.attempt);
        tx.set_run_state(run_id, RunState::Paused, None, Some(run_state))
            .await?;
        let paused = Event::run_paused(phase, cause, run_state);
        paused.emit(tx).await?;
    }
    if let Some(sid) = &gate.session_id {
        if gate.mark_crashed
            && let Some(row) = tx.session(sid).await?
            && row.state.can_transition(SessionState::Crashed)
        {
            mark_crashed(tx, phase, sid, row.recovery_attempts + 1).await?;
        }
        fail_session_in(tx, phase, sid, backend, true).await?;
    }
    let requested = Event::approval_requested(phase, &request, gate_key);
    requested.emit(tx).await
}

/// The approval request of a human or a workflow gate, keyed by gate, phase and attempt; a
/// replay finds the request already there.
pub(crate) async fn insert_approval_in(
    tx: &mut Tx,
    phase: &Phase,
    gate_key: &str,
    attempt: u32,
    payload: &Value,
) -> Result<ApprovalRow> {
    let (run_id, phase_id) = (phase.run_id(), phase.phase_id());
    let request_key = keys::approval_request(run_id, gate_key, phase_id, attempt);
    tx.insert_or_get_approval(&NewApproval {
        run_id,
        phase_id,
        gate_key,
        idempotency_key: &request_key,
        payload,
    })
    .await
}

async fn fail_phase_in(tx: &mut Tx, phase: &Phase, attempt: u32, reason: &str) -> Result<()> {
    tx.set_phase_state(phase.run_id(), phase.phase_id(), PhaseState::Failed)
        .await?;
    Event::phase_failed(phase, attempt, reason).emit(tx).await
}

/// Every session of the run `-> FAILED_NEEDS_HUMAN`; returns them for disposal. A session
/// already there gets no second `session.failed`.
async fn fail_all_sessions_in(tx: &mut Tx, phase: &Phase) -> Result<Vec<SessionRow>> {
    let failed = SessionState::FailedNeedsHuman;
    let sessions = tx.sessions(phase.run_id()).await?;
    for row in &sessions {
        row.state.assert_assignment(failed)?;
    }
    for row in sessions.iter().filter(|row| row.state != failed) {
        tx.update_session(&row.id, &to_state(failed)).await?;
        Event::run_session_failed(phase, row).emit(tx).await?;
    }
    Ok(sessions)
}
