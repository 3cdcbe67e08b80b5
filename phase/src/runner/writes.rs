//! The step bodies several durable steps share: writes inside a transaction (`*_in`), and the
//! session fields a step sets. They open no transaction of their own.

use devflow_core::{PhaseState, Result, SessionState, StateMachine};
use devflow_db::{ApprovalRow, NewApproval, SessionRow, SessionUpdate, Tx};
use devflow_session::SessionHandle;
use serde_json::Value;

use super::spec::Phase;
use crate::event::{Event, approval_request_key};

/// `-> FAILED_NEEDS_HUMAN` and `session.failed`, inside a step (the reference's
/// `assertSessionTransition`). The session has a row: it gets one before its agent starts.
pub(crate) async fn fail_session_in(tx: &mut Tx, phase: &Phase, sid: &str) -> Result<()> {
    let row = tx.require_session(sid).await?;
    row.state.assert_transition(SessionState::FailedNeedsHuman)?;
    tx.update_session(sid, &SessionUpdate::to(SessionState::FailedNeedsHuman)).await?;
    Event::session_failed(phase, sid, row.recovery_attempts).emit(tx).await
}

/// `CRASHED` with its recovery count and `session.crashed`.
pub(crate) async fn mark_crashed_in(
    tx: &mut Tx,
    phase: &Phase,
    sid: &str,
    recovery_attempts: u32,
) -> Result<()> {
    let crashed = SessionUpdate::to(SessionState::Crashed);
    let update = SessionUpdate { recovery_attempts: Some(recovery_attempts), ..crashed };
    tx.update_session(sid, &update).await?;
    Event::session_crashed(phase, sid, recovery_attempts).emit(tx).await
}

/// The session fields that say where the agent lives and what it is expected to write.
pub(crate) fn located(phase: &Phase, handle: &SessionHandle) -> SessionUpdate {
    SessionUpdate {
        tmux_session: handle.tmux_session.clone(),
        tmux_window: handle.tmux_window.clone(),
        tmux_pane: handle.tmux_pane.clone(),
        last_known_pane_pid: handle.pane_pid,
        ..expecting(phase)
    }
}

/// The session fields that say what the agent works in and is expected to write.
pub(crate) fn expecting(phase: &Phase) -> SessionUpdate {
    SessionUpdate {
        cwd: Some(phase.worktree.to_string_lossy().into_owned()),
        expected_artifact_path: Some(phase.artifact.clone()),
        expected_schema: Some(phase.schema_id().to_owned()),
        ..SessionUpdate::default()
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
    let request_key = approval_request_key(run_id, gate_key, phase_id, attempt);
    tx.insert_or_get_approval(&NewApproval {
        run_id,
        phase_id,
        gate_key,
        idempotency_key: &request_key,
        payload,
    })
    .await
}

pub(crate) async fn fail_phase_in(
    tx: &mut Tx,
    phase: &Phase,
    attempt: u32,
    reason: &str,
) -> Result<()> {
    tx.set_phase_state(phase.run_id(), phase.phase_id(), PhaseState::Failed).await?;
    Event::phase_failed(phase, attempt, reason).emit(tx).await
}

/// Every session of the run `-> FAILED_NEEDS_HUMAN`; returns them for disposal. A session
/// already there gets no second `session.failed`.
pub(crate) async fn fail_all_sessions_in(tx: &mut Tx, phase: &Phase) -> Result<Vec<SessionRow>> {
    let failed = SessionState::FailedNeedsHuman;
    let sessions = tx.sessions(phase.run_id()).await?;
    for row in &sessions {
        row.state.assert_assignment(failed)?;
    }
    for row in sessions.iter().filter(|row| row.state != failed) {
        tx.update_session(&row.id, &SessionUpdate::to(failed)).await?;
        Event::run_session_failed(row).emit(tx).await?;
    }
    Ok(sessions)
}
