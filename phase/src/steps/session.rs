//! Durable steps on the role's session: start, re-adopt, idle, recovery states, failure.

use devflow_core::{Error, SessionState, StateMachine};
use devflow_db::{NewEvent, NewSession, SessionRow, SessionUpdate, Tx};
use devflow_session::{SessionHandle, SessionSpec};
use serde_json::json;

use crate::context::Ctx;
use crate::crash::crash_point;
use crate::keys;
use crate::spec::Phase;

impl Ctx {
    pub async fn session_for_role(&self) -> Result<Option<SessionRow>, Error> {
        let (run_id, role_id) = (self.run_id(), self.phase.role_id());
        self.db
            .read(move |tx| Box::pin(async move { tx.session_for_role(run_id, role_id).await }))
            .await
    }

    pub async fn session_row(&self, session_id: &str) -> Result<Option<SessionRow>, Error> {
        self.db
            .read(move |tx| Box::pin(async move { tx.session(session_id).await }))
            .await
    }

    /// What a new agent for this phase's role is started with.
    pub fn session_spec(&self, session_id: &str) -> SessionSpec {
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
        }
    }

    /// The role's session row; if the role has none, a `CREATED` row for `fresh_id` (no event
    /// yet). Named in a row before the agent starts, a session that a crash interrupts is
    /// started again under the same id, and the adapter adopts the agent the first start made.
    pub async fn claim_session_row(&self, fresh_id: &str) -> Result<Option<SessionRow>, Error> {
        let (phase, sid, backend) = (&self.phase, fresh_id, self.adapter.backend());
        let existing = self
            .db
            .mutate_phase(self.run_id(), move |tx, _run| {
                Box::pin(async move {
                    let session = new_session(phase, sid, backend, SessionState::Created);
                    tx.claim_role_session(&session).await
                })
            })
            .await?;
        if existing.is_none() {
            crash_point!("after_session_reserved");
        }
        Ok(existing)
    }

    /// Records a freshly started agent: `CREATED -> BOOTSTRAPPING -> READY` with
    /// `session.created` and `session.ready`.
    pub async fn record_session_started(
        &self,
        handle: &SessionHandle,
        backend: &'static str,
    ) -> Result<(), Error> {
        let phase = &self.phase;
        self.db
            .mutate_phase(self.run_id(), move |tx, _run| {
                Box::pin(async move {
                    let sid = handle.session_id.as_str();
                    let ready = SessionUpdate {
                        state: Some(SessionState::Ready),
                        ..located(phase, handle)
                    };
                    let recovery_attempts = match tx
                        .update_session_from(sid, &[SessionState::Created], &ready)
                        .await?
                    {
                        Some(row) => row.recovery_attempts,
                        None => {
                            // A fresh agent replacing one that failed to a human counts as a
                            // recovery, which keeps its `session.created` and `session.ready`
                            // keys unique.
                            let row = require_session(tx, sid).await?;
                            if row.state != SessionState::FailedNeedsHuman {
                                row.state.assert_assignment(SessionState::Created)?;
                            }
                            row.state.assert_transition(SessionState::Bootstrapping)?;
                            let recovery_attempts = row.recovery_attempts + 1;
                            let update = SessionUpdate {
                                recovery_attempts: Some(recovery_attempts),
                                ..ready
                            };
                            tx.update_session(sid, &update).await?;
                            recovery_attempts
                        }
                    };
                    let payload =
                        json!({ "sessionId": sid, "roleId": phase.role_id(), "backend": backend });
                    let key = keys::session_created(sid, recovery_attempts);
                    append(tx, phase, keys::SESSION_CREATED, &payload, &key).await?;
                    ready_event(tx, phase, sid, recovery_attempts).await
                })
            })
            .await?;
        crash_point!("after_session_ready");
        Ok(())
    }

    /// Re-adopts the role's session for this phase: `-> READY` and `session.ready`.
    pub async fn record_session_resumed(&self, handle: &SessionHandle) -> Result<(), Error> {
        let phase = &self.phase;
        self.db
            .mutate_phase(self.run_id(), move |tx, _run| {
                Box::pin(async move {
                    let sid = handle.session_id.as_str();
                    let located = located(phase, handle);
                    let row =
                        move_session(tx, sid, SessionState::Ready, Move::Assign, located).await?;
                    ready_event(tx, phase, sid, row.recovery_attempts).await
                })
            })
            .await?;
        crash_point!("after_session_resumed");
        Ok(())
    }

    /// `BUSY -> READY` once the prompt's artifact is in, with `session.idle`.
    pub async fn mark_session_idle(&self, session_id: &str, dedup_key: &str) -> Result<(), Error> {
        let phase = &self.phase;
        self.db
            .mutate_phase(self.run_id(), |tx, _run| {
                Box::pin(async move {
                    // The event first, so that on PostgreSQL it travels with the move.
                    let payload = json!({ "sessionId": session_id, "roleId": phase.role_id(), "dedupKey": dedup_key });
                    let key = keys::session_idle(session_id, dedup_key);
                    append(tx, phase, keys::SESSION_IDLE, &payload, &key).await?;
                    let update = SessionUpdate::default();
                    move_session_blind(tx, session_id, SessionState::Ready, Move::Assign, update).await
                })
            })
            .await?;
        crash_point!("after_session_idle");
        Ok(())
    }

    /// `RESUMING` / `REBOOTSTRAPPED` during recovery, recording where the agent now lives.
    pub async fn set_session_recovery_state(
        &self,
        handle: &SessionHandle,
        state: SessionState,
    ) -> Result<(), Error> {
        let phase = &self.phase;
        self.db
            .mutate_phase(self.run_id(), move |tx, _run| {
                Box::pin(async move {
                    let located = located(phase, handle);
                    move_session_blind(tx, &handle.session_id, state, Move::Assign, located).await
                })
            })
            .await
    }

    /// `REBOOTSTRAPPED -> READY` with one more recovery attempt and `session.recovered`.
    pub async fn record_session_recovered(&self, session_id: &str) -> Result<(), Error> {
        let (phase, sid) = (&self.phase, session_id);
        self.db
            .mutate_phase(self.run_id(), move |tx, _run| {
                Box::pin(async move {
                    let recovery_attempts = require_session(tx, sid).await?.recovery_attempts + 1;
                    let update = SessionUpdate { recovery_attempts: Some(recovery_attempts), ..Default::default() };
                    move_session(tx, sid, SessionState::Ready, Move::Transition, update).await?;
                    let payload = json!({ "sessionId": sid, "roleId": phase.role_id(), "recoveryAttempts": recovery_attempts });
                    append(tx, phase, keys::SESSION_RECOVERED, &payload, &keys::session_recovered(sid, recovery_attempts)).await
                })
            })
            .await?;
        crash_point!("after_session_recovered");
        Ok(())
    }

    /// Marks one session `FAILED_NEEDS_HUMAN` (the reference's `markSessionFailedNeedsHuman`),
    /// inserting its row if the agent never got one.
    pub async fn mark_session_failed(&self, session_id: &str) -> Result<(), Error> {
        let (phase, sid, backend) = (&self.phase, session_id, self.adapter.backend());
        self.db
            .step(self.run_id(), move |tx, _run| {
                Box::pin(async move { fail_session_in(tx, phase, sid, backend, false).await })
            })
            .await
    }
}

/// `-> FAILED_NEEDS_HUMAN` and `session.failed`, inside a step. `strict` is the gate's
/// `assertSessionTransition`; otherwise an assignment.
pub(crate) async fn fail_session_in(
    tx: &mut Tx,
    phase: &Phase,
    sid: &str,
    backend: &str,
    strict: bool,
) -> Result<(), Error> {
    let existing = tx.session(sid).await?;
    if let Some(row) = &existing {
        if strict {
            row.state
                .assert_transition(SessionState::FailedNeedsHuman)?;
        } else if row.state == SessionState::FailedNeedsHuman {
            // Already failed (the failed run marked it): nothing changes, no second event.
            return Ok(());
        }
    }
    tx.insert_session_if_absent(&new_session(
        phase,
        sid,
        backend,
        SessionState::FailedNeedsHuman,
    ))
    .await?;
    tx.update_session(
        sid,
        &SessionUpdate {
            state: Some(SessionState::FailedNeedsHuman),
            ..Default::default()
        },
    )
    .await?;
    let recovery_attempts = existing.map_or(0, |row| row.recovery_attempts);
    let payload = json!({ "sessionId": sid, "roleId": phase.role_id() });
    append(
        tx,
        phase,
        keys::SESSION_FAILED,
        &payload,
        &keys::session_failed(sid, recovery_attempts),
    )
    .await
}

/// How a step may change a session's state: a move the session machine allows, or an
/// assignment (that move, or staying in the same state).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Move {
    Transition,
    Assign,
}

impl Move {
    /// The states from which this rule lets a session get to `to`.
    pub(crate) fn from(self, to: SessionState) -> Vec<SessionState> {
        let stays = matches!(self, Move::Assign);
        SessionState::ALL
            .iter()
            .copied()
            .filter(|&state| state.can_transition(to) || stays && state == to)
            .collect()
    }
}

/// Moves the session to `to`, checked against the session machine, with the other fields of
/// `update`; returns the row as updated. One guarded `UPDATE` does it; only when it finds no
/// session in a state the rule allows does a read say why.
pub(crate) async fn move_session(
    tx: &mut Tx,
    sid: &str,
    to: SessionState,
    rule: Move,
    update: SessionUpdate,
) -> Result<SessionRow, Error> {
    let update = SessionUpdate {
        state: Some(to),
        ..update
    };
    if let Some(row) = tx.update_session_from(sid, &rule.from(to), &update).await? {
        return Ok(row);
    }
    let state = tx.session(sid).await?.map(|row| row.state);
    Err(refusal(sid, state, to, rule))
}

/// `move_session` for a step that needs no row back: on PostgreSQL the update travels with
/// the step's next statement or its commit, and a refusal fails the step there.
pub(crate) async fn move_session_blind(
    tx: &mut Tx,
    sid: &str,
    to: SessionState,
    rule: Move,
    update: SessionUpdate,
) -> Result<(), Error> {
    let update = SessionUpdate {
        state: Some(to),
        ..update
    };
    let session_id = sid.to_owned();
    tx.move_session_from(sid, &rule.from(to), &update, move |state| {
        refusal(&session_id, state, to, rule)
    })
    .await
}

/// Why the session (in `state`, `None` if it has no row) was not moved to `to`.
fn refusal(sid: &str, state: Option<SessionState>, to: SessionState, rule: Move) -> Error {
    let Some(state) = state else {
        return Error::new(
            devflow_core::Code::SessionNotFound,
            format!("session {sid} has no row"),
        );
    };
    let allowed = match rule {
        Move::Transition => state.assert_transition(to),
        Move::Assign => state.assert_assignment(to),
    };
    allowed.err().unwrap_or_else(|| {
        Error::corruption(format!(
            "session {sid} in state {state} was not moved to {to}"
        ))
    })
}

pub(crate) async fn require_session(tx: &mut Tx, sid: &str) -> Result<SessionRow, Error> {
    tx.session(sid).await?.ok_or_else(|| {
        Error::new(
            devflow_core::Code::SessionNotFound,
            format!("session {sid} has no row"),
        )
    })
}

pub(crate) async fn append(
    tx: &mut Tx,
    phase: &Phase,
    kind: &str,
    payload: &serde_json::Value,
    key: &str,
) -> Result<(), Error> {
    tx.record_event(&NewEvent {
        run_id: phase.run_id(),
        phase_id: Some(phase.phase_id()),
        kind,
        payload,
        idempotency_key: key,
    })
    .await?;
    Ok(())
}

async fn ready_event(
    tx: &mut Tx,
    phase: &Phase,
    sid: &str,
    recovery_attempts: u32,
) -> Result<(), Error> {
    let payload = json!({ "sessionId": sid, "roleId": phase.role_id(), "recoveryAttempts": recovery_attempts });
    append(
        tx,
        phase,
        keys::SESSION_READY,
        &payload,
        &keys::session_ready(phase.phase_id(), sid, recovery_attempts),
    )
    .await
}

fn new_session<'a>(
    phase: &'a Phase,
    sid: &'a str,
    backend: &'a str,
    state: SessionState,
) -> NewSession<'a> {
    NewSession {
        id: sid,
        run_id: phase.run_id(),
        role_id: phase.role_id(),
        backend,
        cwd: phase.worktree.to_str().unwrap_or_default(),
        expected_artifact_path: &phase.artifact,
        expected_schema: phase.schema_id(),
        state,
    }
}

/// The session fields that say where the agent lives and what it is expected to write.
fn located(phase: &Phase, handle: &SessionHandle) -> SessionUpdate {
    SessionUpdate {
        cwd: Some(phase.worktree.to_string_lossy().into_owned()),
        expected_artifact_path: Some(phase.artifact.clone()),
        expected_schema: Some(phase.schema_id().to_owned()),
        tmux_session: handle.tmux_session.clone(),
        tmux_window: handle.tmux_window.clone(),
        tmux_pane: handle.tmux_pane.clone(),
        last_known_pane_pid: handle.pane_pid,
        ..Default::default()
    }
}
