//! The role's session: the leaves that get its agent ready for a phase — start one, or re-adopt
//! the one it has (the reference's `startSessionAndRecord` and
//! `resumeExistingSessionAndRecord`) — and the durable steps that move it through the session
//! machine.

use devflow_core::{Error, Move, Result, SessionState, StateMachine};
use devflow_db::{NewSession, SessionUpdate};
use devflow_session::{SessionHandle, SessionSpec};

use super::context::{Ctx, mutate};
use super::crash::crash_point;
use super::facts::Known;
use super::policy::Site;
use super::writes::located;
use crate::event::Event;

impl Ctx {
    /// The role's agent, started: a new session, or the one whose start a crash interrupted
    /// (its row is written `CREATED` before the agent starts, so the adapter adopts the agent
    /// the first start made), or a fresh agent under the same id for a session that failed to
    /// a person — the run only got back to executing because a person resumed or approved it.
    /// (The reference, which has no resume, refuses to reuse such a session.)
    pub(crate) async fn start_session(&self, known: &Known) -> Result<SessionHandle> {
        let session_id = match &known.session {
            Some(row) => {
                if row.state == SessionState::FailedNeedsHuman
                    && let Err(error) = self.adapter.dispose(&self.handle(row)).await
                {
                    tracing::warn!(%error, "the failed agent was not disposed; starting a fresh one");
                }
                row.id.clone()
            }
            None => self.reserve_session().await?,
        };
        crash_point!("before_session_start");
        let handle = self.adapter.start(&self.session_spec(&session_id)).await?;
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
            return Err(self.adapter.dispose(&handle).await.err().unwrap_or(error));
        }
        Ok(handle)
    }

    /// A session row (`CREATED`) for the role, before its agent starts.
    async fn reserve_session(&self) -> Result<String> {
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
        if existing.is_none() {
            crash_point!("after_session_reserved");
        }
        Ok(existing.map_or(fresh_id, |row| row.id))
    }

    /// Re-adopts the role's agent for this phase: `READY`, with `session.ready`.
    pub(crate) async fn resume_session(&self, known: &Known) -> Result<()> {
        let row = known.session();
        let recorded = self.handle(row);
        let handle = self.retrying(Site::SessionResume, || self.adapter.resume(&recorded)).await?;
        let (sid, recovery_attempts, resumed) = (row.id.as_str(), row.recovery_attempts, &handle);
        mutate!(self, "after_session_resumed", |tx, phase| {
            // The event first, so that on PostgreSQL it travels with the move.
            Event::session_ready(phase, sid, recovery_attempts).emit(tx).await?;
            let located = located(phase, resumed);
            tx.move_session(sid, SessionState::Ready, Move::Assign, located).await
        })
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
            preset: phase.spec.agent.preset.clone(),
            answer_dialogs: phase.spec.agent.answer_dialogs.clone(),
            fence: self.fence(),
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
}
