//! The leaf after an artifact timeout: bringing the agent back before its repair.

use devflow_core::{Code, Move, Result, SessionState};
use devflow_db::SessionUpdate;
use devflow_session::{HINT_LIVENESS_ONLY, SessionHandle};

use super::context::{Ctx, mutate};
use super::crash::crash_point;
use super::facts::Known;
use super::policy::Site;
use super::writes::located;
use crate::event::Event;

impl Ctx {
    /// The reference's `recoverFromArtifactTimeout`: a session whose readiness tmux cannot know
    /// is left for a person (returning the hint that says so); otherwise its transcript is
    /// captured and the agent restarted in place (`RESUMING -> REBOOTSTRAPPED -> READY`,
    /// `session.recovered`). Each state is written before the next side effect, so a crash
    /// continues where recovery stopped. (The reference captures nothing here, and loses what
    /// the agent showed since the last capture: a restart clears it.)
    pub(crate) async fn recover(&self, known: &Known) -> Result<Option<String>> {
        let row = known.session().clone();
        let mut handle = self.handle(&row);
        if matches!(row.state, SessionState::ArtifactTimeout | SessionState::Hung) {
            let probe = self.adapter.probe(&handle).await?;
            if probe.hint.as_deref() == Some(HINT_LIVENESS_ONLY) {
                return Ok(Some(HINT_LIVENESS_ONLY.to_owned()));
            }
        }
        if row.state != SessionState::Resuming && row.state != SessionState::Rebootstrapped {
            // A restart clears the agent's screen: what it showed until now is kept first —
            // unless its pane is gone with it (a killed tmux server), when there is nothing
            // left to keep.
            match self.capture_transcript(&row.id, Some(row.clone())).await {
                Err(error) if error.is(Code::SessionNotFound) => {
                    tracing::warn!(%error, "the timed-out agent's pane is gone: nothing to capture");
                }
                captured => drop(captured?),
            }
            self.relocate_session(&handle, SessionState::Resuming).await?;
        }
        if row.state != SessionState::Rebootstrapped {
            crash_point!("before_rebootstrap");
            let rebootstrap = || self.adapter.rebootstrap(&handle);
            handle = self.retrying(Site::TimeoutRecovery, rebootstrap).await?;
            crash_point!("after_rebootstrap");
            self.relocate_session(&handle, SessionState::Rebootstrapped).await?;
        }
        self.record_session_recovered(&row.id).await?;
        Ok(None)
    }

    /// Records where the agent lives now, its session moved to `state` (`RESUMING` or
    /// `REBOOTSTRAPPED`) while it is restarted after a timeout.
    async fn relocate_session(&self, handle: &SessionHandle, state: SessionState) -> Result<()> {
        let sid = handle.session_id.as_str();
        mutate!(self, |tx, phase| {
            tx.move_session(sid, state, Move::Assign, located(phase, handle)).await
        })
    }

    /// `REBOOTSTRAPPED -> READY` with one more recovery attempt and `session.recovered`.
    async fn record_session_recovered(&self, sid: &str) -> Result<()> {
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
