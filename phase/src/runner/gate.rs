//! The two ways a phase stops short — a human gate (the run pauses for a person) and a failed
//! run — and the gates the flow itself raises: an artifact that never came, or that stayed
//! invalid after its repair.

use devflow_core::{Code, Error, PhaseState, Result, RunState, SessionState, StateMachine};
use devflow_db::{ApprovalRow, NewApproval, SessionRow, SessionUpdate, Tx};
use devflow_session::SessionHandle;
use serde_json::{Value, json};

use super::context::{Ctx, handle_from_row, step};
use super::crash::crash_point;
use super::event::Event;
use super::policy::At;
use super::session::{fail_session_in, mark_crashed_in};
use super::spec::Phase;
use crate::keys;

/// A human gate: the phase fails with `reason`, and a pending approval request keyed by
/// `error`'s code carries `payload`, the error's recovery hint and, `with_path`, the expected
/// artifact path. `mark_crashed`: the session is marked `CRASHED` first (a failed send or
/// resume). The caller gets `error`.
#[derive(Debug)]
pub(crate) struct HumanGate {
    pub reason: &'static str,
    pub error: Error,
    pub payload: Value,
    pub mark_crashed: bool,
    pub with_path: bool,
}

impl HumanGate {
    /// No artifact came, even after recovery, or the agent's readiness cannot be known.
    pub fn timed_out(hint: String) -> HumanGate {
        let message = "no valid artifact appeared in time, even after recovery";
        let error = Error::new(Code::ArtifactTimeoutExhausted, message).with_hint(hint);
        HumanGate::of_flow("artifact_timeout", error, json!({}))
    }

    /// The artifact stayed invalid after its one repair.
    pub fn invalid(artifact_id: &str, path: &str) -> HumanGate {
        let message = "the artifact remained invalid after its repair";
        let hint = format!("artifact={artifact_id};path={path}");
        let error = Error::new(Code::ArtifactInvalidAfterRepair, message).with_hint(hint);
        HumanGate::of_flow("artifact_invalid", error, json!({ "artifactId": artifact_id }))
    }

    /// A gate of the flow itself: its session is not marked crashed, its request names the path.
    fn of_flow(reason: &'static str, error: Error, payload: Value) -> HumanGate {
        HumanGate { reason, error, payload, mark_crashed: false, with_path: true }
    }
}

impl Ctx {
    /// Stops at `gate` in one step: the phase fails, the run pauses, the session goes
    /// `FAILED_NEEDS_HUMAN` and the approval request is written. The running agent's transcript
    /// is captured then. Returns the gate's error, or the error that stopped either; if the step
    /// itself fails, the run fails.
    pub(crate) async fn human_gate(&self, at: At<'_>, gate: HumanGate) -> Error {
        let HumanGate { reason, error, mut payload, mark_crashed, with_path } = gate;
        payload["recoveryHint"] = json!(error.recovery_hint().unwrap_or_default());
        if with_path {
            payload["expectedArtifactPath"] = json!(self.phase.artifact);
        }
        let (gate_key, payload) = (error.code().as_str(), &payload);
        let stepped = step!(self, |tx, run, phase| {
            if run.state.is_terminal() {
                return Ok(());
            }
            let (run_id, phase_id, attempt) = (phase.run_id(), phase.phase_id(), at.attempt);
            let request = insert_approval_in(tx, phase, gate_key, attempt, payload).await?;
            fail_phase_in(tx, phase, attempt, reason).await?;
            if run.state != RunState::Paused {
                let cause = &keys::human_gate_cause(gate_key, phase_id, attempt);
                tx.set_run_state(run_id, RunState::Paused, None, Some(run.state)).await?;
                Event::run_paused(phase, cause, run.state).emit(tx).await?;
            }
            if let Some(sid) = at.session_id {
                if mark_crashed
                    && let Some(row) = tx.session(sid).await?
                    && row.state.can_transition(SessionState::Crashed)
                {
                    mark_crashed_in(tx, phase, sid, row.recovery_attempts + 1).await?;
                }
                fail_session_in(tx, phase, sid).await?;
            }
            Event::approval_requested(phase, &request, gate_key).emit(tx).await
        });
        if let Err(secondary) = stepped {
            let failed = self.fail_run(at.attempt, "approval_request_failed", None);
            return failed.await.err().unwrap_or(secondary);
        }
        crash_point!("after_human_gate");
        self.capture_running(at.running).await.err().unwrap_or(error)
    }

    /// Fails the phase and the run, every session of the run `FAILED_NEEDS_HUMAN`, and disposes
    /// them. The `running` agent's transcript is captured first, and the agent disposed even if
    /// the run has no row for it; a capture error wins over a dispose error.
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
            tx.set_run_state(phase.run_id(), RunState::Failed, None, None).await?;
            Event::run_failed(phase, reason).emit(tx).await?;
            fail_all_sessions_in(tx, phase).await
        })?;
        let captured = self.capture_running(running).await;
        let mut disposed = self.dispose_all(&sessions).await;
        if let Some(handle) = running
            && disposed.is_ok()
            && !sessions.iter().any(|row| row.id == handle.session_id)
        {
            let row = self.session_row(&handle.session_id).await?;
            disposed = self
                .adapter
                .dispose(&row.as_ref().map_or_else(|| handle.clone(), handle_from_row))
                .await;
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
    tx.set_phase_state(phase.run_id(), phase.phase_id(), PhaseState::Failed).await?;
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
        tx.update_session(&row.id, &SessionUpdate::to(failed)).await?;
        Event::run_session_failed(phase, row).emit(tx).await?;
    }
    Ok(sessions)
}
