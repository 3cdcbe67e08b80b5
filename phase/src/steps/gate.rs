//! The two ways a phase stops short: a human gate (the run pauses) and a failed run.

use devflow_core::{Error, RunState, SessionState, StateMachine};
use devflow_db::{ApprovalRow, NewApproval, NewEvent, SessionRow, SessionUpdate, Tx};
use devflow_session::SessionHandle;
use serde_json::{Value, json};

use crate::context::{Ctx, handle_from_row};
use crate::crash::crash_point;
use crate::keys;
use crate::spec::Phase;
use crate::steps::artifact::mark_crashed;
use crate::steps::session::{append, fail_session_in};

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
    pub async fn request_human_gate(&self, gate: GateRequest) -> Result<(), Error> {
        let (phase, backend, request) = (&self.phase, self.adapter.backend(), &gate);
        let result = self
            .db
            .step(self.run_id(), move |tx, run| {
                Box::pin(async move {
                    if run.state.is_terminal() {
                        return Ok(());
                    }
                    human_gate_in(tx, phase, run.state, backend, request).await
                })
            })
            .await;
        if let Err(error) = result {
            self.fail_phase_and_run(gate.attempt, "approval_request_failed")
                .await?;
            if let Some(session_id) = &gate.session_id {
                self.mark_session_failed(session_id).await?;
            }
            return Err(error);
        }
        crash_point!("after_human_gate");
        Ok(())
    }

    /// Fails the phase and the run and disposes every session of the run.
    pub async fn fail_phase_and_run(
        &self,
        attempt: u32,
        reason: &'static str,
    ) -> Result<(), Error> {
        let sessions = self.mark_phase_and_run_failed(attempt, reason).await?;
        self.dispose_all(&sessions).await
    }

    /// Fails the phase and the run, captures the transcript of `handle`'s session, and disposes
    /// every session of the run including that one. A capture error wins over a dispose error.
    pub async fn fail_run_and_dispose(
        &self,
        attempt: u32,
        reason: &'static str,
        handle: &SessionHandle,
    ) -> Result<(), Error> {
        let sessions = self.mark_phase_and_run_failed(attempt, reason).await?;
        let captured = self.capture_transcript(&handle.session_id).await;
        let mut disposed = self.dispose_all(&sessions).await;
        if disposed.is_ok() && !sessions.iter().any(|row| row.id == handle.session_id) {
            let row = self.session_row(&handle.session_id).await?;
            let target = row.as_ref().map_or_else(|| handle.clone(), handle_from_row);
            disposed = self.adapter.dispose(&target).await;
        }
        captured.and(disposed)
    }

    async fn mark_phase_and_run_failed(
        &self,
        attempt: u32,
        reason: &'static str,
    ) -> Result<Vec<SessionRow>, Error> {
        let phase = &self.phase;
        let sessions = self
            .db
            .step(self.run_id(), move |tx, run| {
                Box::pin(async move {
                    if run.state.is_terminal() {
                        return Ok(Vec::new());
                    }
                    fail_phase_in(tx, phase, attempt, reason).await?;
                    tx.set_run_state(phase.run_id(), RunState::Failed, None, None)
                        .await?;
                    append_run_event(
                        tx,
                        phase,
                        keys::RUN_FAILED,
                        &json!({ "reason": reason }),
                        &keys::run_failed(phase.run_id()),
                    )
                    .await?;
                    fail_all_sessions_in(tx, phase.run_id()).await
                })
            })
            .await?;
        crash_point!("after_run_failed");
        Ok(sessions)
    }

    async fn dispose_all(&self, sessions: &[SessionRow]) -> Result<(), Error> {
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
) -> Result<(), Error> {
    let request_key = keys::approval_request(
        phase.run_id(),
        &gate.gate_key,
        phase.phase_id(),
        gate.attempt,
    );
    let request = tx
        .insert_or_get_approval(&NewApproval {
            run_id: phase.run_id(),
            phase_id: phase.phase_id(),
            gate_key: &gate.gate_key,
            idempotency_key: &request_key,
            payload: &gate.payload,
        })
        .await?;
    fail_phase_in(tx, phase, gate.attempt, gate.reason).await?;
    if run_state != RunState::Paused {
        let cause = keys::human_gate_cause(&gate.gate_key, phase.phase_id(), gate.attempt);
        tx.set_run_state(phase.run_id(), RunState::Paused, None, Some(run_state))
            .await?;
        let payload = json!({ "cause": cause, "pausedFromState": run_state.as_str() });
        append_run_event(
            tx,
            phase,
            keys::RUN_PAUSED,
            &payload,
            &keys::run_paused(phase.run_id(), &cause),
        )
        .await?;
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
    append_requested(tx, phase, &request, &gate.gate_key).await
}

/// `approval.requested` for a request, human or workflow gate alike.
pub(crate) async fn append_requested(
    tx: &mut Tx,
    phase: &Phase,
    request: &ApprovalRow,
    gate_key: &str,
) -> Result<(), Error> {
    let payload = json!({
        "approvalRequestId": request.id, "approvalIdempotencyKey": request.idempotency_key, "gateKey": gate_key,
    });
    append(
        tx,
        phase,
        keys::APPROVAL_REQUESTED,
        &payload,
        &keys::approval_requested(&request.idempotency_key),
    )
    .await
}

async fn fail_phase_in(
    tx: &mut Tx,
    phase: &Phase,
    attempt: u32,
    reason: &str,
) -> Result<(), Error> {
    tx.set_phase_state(
        phase.run_id(),
        phase.phase_id(),
        devflow_core::PhaseState::Failed,
    )
    .await?;
    let payload = json!({ "phaseKey": phase.spec.phase_key, "attempt": attempt, "reason": reason });
    append(
        tx,
        phase,
        keys::PHASE_FAILED,
        &payload,
        &keys::phase_failed(phase.phase_id(), attempt),
    )
    .await
}

/// Every session of the run `-> FAILED_NEEDS_HUMAN`; returns them for disposal. A session
/// already there gets no second `session.failed`.
async fn fail_all_sessions_in(tx: &mut Tx, run_id: &str) -> Result<Vec<SessionRow>, Error> {
    let sessions = tx.sessions(run_id).await?;
    for row in &sessions {
        row.state
            .assert_assignment(SessionState::FailedNeedsHuman)?;
    }
    for row in sessions
        .iter()
        .filter(|row| row.state != SessionState::FailedNeedsHuman)
    {
        tx.update_session(
            &row.id,
            &SessionUpdate {
                state: Some(SessionState::FailedNeedsHuman),
                ..Default::default()
            },
        )
        .await?;
        let payload = json!({ "sessionId": row.id, "roleId": row.role_id });
        tx.record_event(&NewEvent {
            run_id,
            phase_id: None,
            kind: keys::SESSION_FAILED,
            payload: &payload,
            idempotency_key: &keys::session_failed(&row.id, row.recovery_attempts),
        })
        .await?;
    }
    Ok(sessions)
}

pub(crate) async fn append_run_event(
    tx: &mut Tx,
    phase: &Phase,
    kind: &str,
    payload: &Value,
    key: &str,
) -> Result<(), Error> {
    tx.record_event(&NewEvent {
        run_id: phase.run_id(),
        phase_id: None,
        kind,
        payload,
        idempotency_key: key,
    })
    .await?;
    Ok(())
}
