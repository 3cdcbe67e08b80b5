//! The role's session: getting its agent ready for a phase — re-adopt the session it already
//! has, or start one (the reference's `startSessionAndRecord` and
//! `resumeExistingSessionAndRecord`) — and the durable steps that move it through the session
//! machine.

use devflow_core::{Error, Move, Result, SessionState, StateMachine};
use devflow_db::{NewSession, SessionRow, SessionUpdate, Tx};
use devflow_session::{SessionHandle, SessionSpec, retry_recoverable};

use super::context::{Ctx, handle_from_row, mutate};
use super::crash::crash_point;
use super::event::Event;
use super::policy::{At, Site};
use super::spec::Phase;

impl Ctx {
    /// The role's agent, ready for the phase's prompt: its session re-adopted, or a new one
    /// started. A session's row is written (`CREATED`) before its agent starts, so a crash
    /// between the start and its record is started again under the same id, and the adapter
    /// adopts the agent the first start made.
    pub(crate) async fn start_session(&self, attempt: u32) -> Result<SessionHandle> {
        let (fresh_id, backend) = (self.adapter.reserve_session_id(), self.adapter.backend());
        let fresh = fresh_id.as_str();
        let existing = mutate!(self, |tx, phase| {
            tx.claim_role_session(&NewSession {
                id: fresh,
                run_id: phase.run_id(),
                role_id: phase.role_id(),
                backend,
                cwd: phase.worktree.to_str().unwrap_or_default(),
                expected_artifact_path: &phase.artifact,
                expected_schema: phase.schema_id(),
                state: SessionState::Created,
            })
            .await
        })?;
        match &existing {
            None => {
                crash_point!("after_session_reserved");
            }
            Some(row)
                if matches!(row.state, SessionState::Created | SessionState::Bootstrapping) => {}
            // A session that failed to a person is replaced by a fresh agent under the same id:
            // the run only got back to executing because a person resumed or approved it. (The
            // reference, which has no resume, refuses to reuse it and fails the run.) The
            // failed agent may still be on screen.
            Some(row) if row.state == SessionState::FailedNeedsHuman => {
                if let Err(error) = self.adapter.dispose(&handle_from_row(row)).await {
                    tracing::warn!(%error, "the failed agent was not disposed; starting a fresh one");
                }
            }
            Some(row) => return self.resume_session(attempt, row).await,
        }
        let session_id = existing.map_or(fresh_id, |row| row.id);
        let at = At::session(attempt, &session_id);
        crash_point!("before_session_start");
        let started = self.adapter.start(&self.session_spec(&session_id)).await;
        let handle = self.on_error(Site::SessionStart, at, started).await?;
        crash_point!("after_session_start");
        let recorded = match handle.session_id == session_id {
            true => self.record_session_started(&handle).await,
            false => {
                let message = "the session adapter did not honor the reserved session id";
                let hint = format!("expected={session_id};actual={}", handle.session_id);
                Err(Error::corruption(message).with_hint(hint))
            }
        };
        if let Err(error) = recorded {
            let disposed = self.adapter.dispose(&handle).await;
            let error = self.fail_at(Site::SessionStart, error, at).await;
            return Err(disposed.err().unwrap_or(error));
        }
        Ok(handle)
    }

    async fn resume_session(&self, attempt: u32, row: &SessionRow) -> Result<SessionHandle> {
        let recorded = handle_from_row(row);
        let resumed = retry_recoverable("resume", &self.retry, || self.adapter.resume(&recorded));
        let handle = self
            .on_error(Site::SessionResume, At::session(attempt, &row.id), resumed.await)
            .await?;
        let (sid, recovery_attempts, resumed) = (row.id.as_str(), row.recovery_attempts, &handle);
        mutate!(self, "after_session_resumed", |tx, phase| {
            // The event first, so that on PostgreSQL it travels with the move.
            Event::session_ready(phase, sid, recovery_attempts).emit(tx).await?;
            let located = located(phase, resumed);
            tx.move_session(sid, SessionState::Ready, Move::Assign, located).await
        })?;
        Ok(handle)
    }

    /// What a new agent for this phase's role is started with.
    fn session_spec(&self, session_id: &str) -> SessionSpec {
        let phase = &self.phase;
        SessionSpec {
            session_id: session_id.to_owned(),
            run_id: phase.run_id().to_owned(),
            role_id: phase.role_id().to_owned(),
            cwd: phase.worktree.clone(),
            command: phase.spec.agent.command.clone(),
            env: phase.spec.agent.env.clone(),
            expected_artifact_path: phase.artifact.clone(),
            expected_schema: phase.schema_id().to_owned(),
            instructions: phase.spec.instructions.clone(),
            // The lead wires these from the workflow (`preset`, the dialogs it may answer).
            preset: None,
            answer_dialogs: Vec::new(),
        }
    }

    /// Records a freshly started agent: `CREATED -> BOOTSTRAPPING -> READY` with
    /// `session.created` and `session.ready`.
    async fn record_session_started(&self, handle: &SessionHandle) -> Result<()> {
        let (sid, backend) = (handle.session_id.as_str(), self.adapter.backend());
        mutate!(self, "after_session_ready", |tx, phase| {
            let mut ready =
                SessionUpdate { state: Some(SessionState::Ready), ..located(phase, handle) };
            let recovery_attempts =
                match tx.update_session_from(sid, &[SessionState::Created], &ready).await? {
                    Some(row) => row.recovery_attempts,
                    None => {
                        // A fresh agent replacing one that failed to a human counts as a recovery,
                        // which keeps its `session.created` and `session.ready` keys unique.
                        let row = tx.require_session(sid).await?;
                        if row.state != SessionState::FailedNeedsHuman {
                            row.state.assert_assignment(SessionState::Created)?;
                        }
                        row.state.assert_transition(SessionState::Bootstrapping)?;
                        ready.recovery_attempts = Some(row.recovery_attempts + 1);
                        tx.update_session(sid, &ready).await?;
                        row.recovery_attempts + 1
                    }
                };
            Event::session_created(phase, sid, recovery_attempts, backend).emit(tx).await?;
            Event::session_ready(phase, sid, recovery_attempts).emit(tx).await
        })
    }

    /// `BUSY -> READY` once the prompt's artifact is in, with `session.idle`.
    pub async fn mark_session_idle(&self, sid: &str, dedup: &str) -> Result<()> {
        mutate!(self, "after_session_idle", |tx, phase| {
            // The event first, so that on PostgreSQL it travels with the move.
            Event::session_idle(phase, sid, dedup).emit(tx).await?;
            let update = SessionUpdate::default();
            tx.move_session(sid, SessionState::Ready, Move::Assign, update).await
        })
    }

    /// Records where the agent lives now, its session moved to `state` (`RESUMING` or
    /// `REBOOTSTRAPPED`) while it is restarted after a timeout.
    pub async fn relocate_session(
        &self,
        handle: &SessionHandle,
        state: SessionState,
    ) -> Result<()> {
        let sid = handle.session_id.as_str();
        mutate!(self, |tx, phase| {
            tx.move_session(sid, state, Move::Assign, located(phase, handle)).await
        })
    }

    /// `REBOOTSTRAPPED -> READY` with one more recovery attempt and `session.recovered`.
    pub async fn record_session_recovered(&self, sid: &str) -> Result<()> {
        mutate!(self, "after_session_recovered", |tx, phase| {
            let row = tx.require_session(sid).await?;
            let recovery_attempts = row.recovery_attempts + 1;
            let update = SessionUpdate {
                recovery_attempts: Some(recovery_attempts),
                ..SessionUpdate::default()
            };
            // The event first, so that on PostgreSQL it travels with the move.
            Event::session_recovered(phase, sid, recovery_attempts).emit(tx).await?;
            tx.move_session(sid, SessionState::Ready, Move::Transition, update).await
        })
    }
}

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
