//! After an artifact timeout: what state the agent is in, and bringing it back.

use devflow_core::{Class, Result, SessionState};
use devflow_session::{
    HINT_LIVENESS_ONLY, ProbeResult, SessionHandle, is_session_hung, retry_recoverable,
};

use super::attempt::Attempt;
use super::context::{Ctx, handle_from_row, read};
use super::crash::crash_point;
use super::gate::HumanGate;
use super::policy::{At, Site};

impl Ctx {
    /// `CRASHED` when the pane is dead or inactive, `HUNG` when its screen has been still too
    /// long, `ARTIFACT_TIMEOUT` otherwise. A recoverable probe failure is no evidence of a
    /// crash and classifies as `ARTIFACT_TIMEOUT`; any other probe failure is returned.
    pub async fn classify_timed_out_session(&self, session_id: &str) -> Result<SessionState> {
        let probe = match self.probe(session_id).await {
            Err(error) if error.class() == Class::Recoverable => {
                return Ok(SessionState::ArtifactTimeout);
            }
            probed => probed?,
        };
        if !probe.alive || !probe.pane_active {
            return Ok(SessionState::Crashed);
        }
        let max_hung_ms = i64::try_from(self.phase.spec.wait.max_hung_ms).unwrap_or(i64::MAX);
        if is_session_hung(probe.last_output_at_ms, devflow_db::now_ms(), max_hung_ms) {
            return Ok(SessionState::Hung);
        }
        Ok(SessionState::ArtifactTimeout)
    }

    /// The reference's `recoverFromArtifactTimeout`: a `READY` session needs nothing; a session
    /// whose readiness tmux cannot know is left for a person (returning the hint that says
    /// so); otherwise its transcript is captured and the agent restarted in place (`RESUMING ->
    /// REBOOTSTRAPPED -> READY`, `session.recovered`). Each state is written before the next side
    /// effect, so re-entry continues where recovery stopped. (The reference captures nothing
    /// here, and loses what the agent showed since the last capture: a restart clears it.)
    pub async fn recover_from_timeout(&self, session_id: &str) -> Result<Option<String>> {
        let row = read!(self, |tx, _| { tx.require_session(session_id).await })?;
        if row.state == SessionState::Ready {
            return Ok(None);
        }
        let restarting = matches!(
            row.state,
            SessionState::Crashed | SessionState::Resuming | SessionState::Rebootstrapped
        );
        if !restarting && self.probe(session_id).await?.hint.as_deref() == Some(HINT_LIVENESS_ONLY)
        {
            return Ok(Some(HINT_LIVENESS_ONLY.to_owned()));
        }
        if row.state != SessionState::Rebootstrapped {
            let handle = handle_from_row(&row);
            // A restart clears the agent's screen: what it showed until now is kept first.
            self.capture_transcript(session_id, Some(row)).await?;
            self.relocate_session(&handle, SessionState::Resuming).await?;
            crash_point!("before_rebootstrap");
            let fresh =
                retry_recoverable("rebootstrap", &self.retry, || self.adapter.rebootstrap(&handle))
                    .await?;
            crash_point!("after_rebootstrap");
            self.relocate_session(&fresh, SessionState::Rebootstrapped).await?;
        }
        self.record_session_recovered(session_id).await?;
        Ok(None)
    }

    async fn probe(&self, session_id: &str) -> Result<ProbeResult> {
        let handle = self.handle_for(session_id).await?;
        self.adapter.probe(&handle).await
    }

    /// After an artifact timeout, the agent must be brought back before the phase's repair
    /// attempt: a repair wait's timeout (`!first`), an agent that cannot be recovered or whose
    /// readiness cannot be known, and a repair attempt that timed out stop at a human gate.
    /// `running` is the agent this invocation runs; re-entry has none, and no transcript is
    /// captured then, as in the reference (`recoverAwaitingArtifactReplay`).
    pub(crate) async fn recover_or_gate(
        &self,
        attempt: &Attempt,
        session_id: &str,
        running: Option<&SessionHandle>,
    ) -> Result<()> {
        let at = At { session_id: Some(session_id), ..At::running(attempt.number, running) };
        let hint = if attempt.first {
            let recovered = self.recover_from_timeout(session_id).await;
            let unrecovered = self.on_error(Site::TimeoutRecovery, at, recovered).await?;
            unrecovered.or_else(|| attempt.repair.then(|| self.phase.artifact.clone()))
        } else {
            Some(self.phase.artifact.clone())
        };
        match hint {
            None => Ok(()),
            Some(hint) => Err(self.human_gate(at, HumanGate::timed_out(hint)).await),
        }
    }
}
