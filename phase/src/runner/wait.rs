//! The leaves between a delivered prompt and its artifact: the wait announced
//! (`artifact.expected`), the wait itself — ending `validating`, or with the timeout recorded
//! and the agent classified — and the artifact read, validated and recorded.

use devflow_core::{Class, Move, PhaseState, Result, SessionState, StateMachine};
use devflow_db::{NewArtifact, SessionUpdate};
use devflow_session::{ProbeResult, is_session_hung};

use super::context::{Ctx, mutate};
use super::facts::Known;
use super::writes::mark_crashed_in;
use crate::artifact::{self, WaitOutcome, wait_for_artifact};
use crate::event::Event;

impl Ctx {
    /// `awaiting_artifact` and `artifact.expected` for this attempt.
    pub(crate) async fn expect_artifact(&self, known: &Known) -> Result<()> {
        let attempt = known.attempt().number;
        mutate!(self, "after_artifact_expected", |tx, phase| {
            // Recorded first, so that on PostgreSQL it travels with the update.
            Event::artifact_expected(phase, attempt).emit(tx).await?;
            let awaiting = PhaseState::AwaitingArtifact;
            tx.set_phase_state(phase.run_id(), phase.phase_id(), awaiting).await
        })
    }

    /// Waits until a new artifact is on disk and stable: then `validating`. Or, once the wait
    /// times out, probes the agent and records `artifact.timeout` with what it found.
    pub(crate) async fn wait(&self, known: &Known) -> Result<()> {
        let (file, settings) = (&self.phase.file, &self.phase.spec.wait);
        let baseline = known.baseline();
        let waited = wait_for_artifact(file, settings, baseline.as_ref(), &self.cancel).await?;
        if waited == WaitOutcome::TimedOut {
            let state = self.classify_timed_out(known).await?;
            return self.record_artifact_timeout(known, state).await;
        }
        mutate!(self, "after_phase_validating", |tx, phase| {
            tx.set_phase_state(phase.run_id(), phase.phase_id(), PhaseState::Validating).await
        })
    }

    /// Reads, hashes and validates the artifact on disk, and records it as the attempt's: its
    /// row, `artifact.validated` / `artifact.invalid`, and the phase's current artifact.
    pub(crate) async fn validate(&self) -> Result<()> {
        let (phase, max_bytes) = (&self.phase, self.phase.spec.wait.max_artifact_bytes);
        let (hash, validation) = artifact::read(&phase.file, max_bytes, &phase.spec.schema).await?;
        mutate!(self, "after_artifact_recorded", |tx, phase| {
            let row = tx
                .insert_or_get_artifact(&NewArtifact {
                    run_id: phase.run_id(),
                    phase_id: phase.phase_id(),
                    path: &phase.artifact,
                    schema_id: phase.schema_id(),
                    hash: &hash,
                    valid: validation.is_valid(),
                    validation_error: &validation.to_json(),
                })
                .await?;
            Event::artifact_checked(phase, &row, &validation).emit(tx).await?;
            tx.set_phase_artifact(phase.run_id(), phase.phase_id(), Some(&row.id)).await
        })
    }

    /// `CRASHED` when the pane is dead or gone, `HUNG` when its screen has been still too long,
    /// `ARTIFACT_TIMEOUT` otherwise. A recoverable probe failure is no evidence of a crash and
    /// classifies as `ARTIFACT_TIMEOUT`; any other probe failure is returned.
    async fn classify_timed_out(&self, known: &Known) -> Result<SessionState> {
        let probe: ProbeResult = match self.adapter.probe(&self.handle(known.session())).await {
            Err(error) if error.class() == Class::Recoverable => {
                return Ok(SessionState::ArtifactTimeout);
            }
            probed => probed?,
        };
        if !probe.alive || !probe.pane_active {
            return Ok(SessionState::Crashed);
        }
        let max_hung_ms = i64::try_from(self.phase.spec.wait.max_hung_ms).unwrap_or(i64::MAX);
        if is_session_hung(probe.last_output_at_ms, self.clock.now_ms(), max_hung_ms) {
            return Ok(SessionState::Hung);
        }
        Ok(SessionState::ArtifactTimeout)
    }

    /// `artifact.timeout` with how the session looked, and the session moved to that state
    /// (`CRASHED` counts a recovery attempt and appends `session.crashed`).
    async fn record_artifact_timeout(&self, known: &Known, state: SessionState) -> Result<()> {
        let (attempt, sid) = (known.attempt().number, known.session().id.as_str());
        mutate!(self, "after_artifact_timeout", |tx, phase| {
            Event::artifact_timeout(phase, attempt, state).emit(tx).await?;
            if state != SessionState::Crashed {
                return tx.move_session(sid, state, Move::Assign, SessionUpdate::default()).await;
            }
            let row = tx.require_session(sid).await?;
            match row.state {
                SessionState::Crashed => Ok(()),
                from => {
                    from.assert_transition(SessionState::Crashed)?;
                    mark_crashed_in(tx, phase, sid, row.recovery_attempts + 1).await
                }
            }
        })
    }
}
