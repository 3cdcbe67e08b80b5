//! Recording what the wait found: a timeout with the session's classification, or an
//! artifact with its hash and validation.

use devflow_core::{Result, SessionState, StateMachine, Validation};
use devflow_db::{ArtifactRow, NewArtifact};

use crate::context::{Ctx, mutate};
use crate::event::Event;
use crate::steps::session::{mark_crashed_in, to_state};

/// A validated (or invalid) artifact of one attempt.
#[derive(Debug, Clone)]
pub(crate) struct ArtifactOutcome {
    pub attempt: u32,
    pub artifact_id: String,
    pub hash: String,
    pub validation: Validation,
}

impl Ctx {
    /// `artifact.timeout` with how the session looked, and the session moved to that state
    /// (`CRASHED` counts a recovery attempt and appends `session.crashed`).
    pub async fn record_artifact_timeout(
        &self,
        attempt: u32,
        sid: &str,
        state: SessionState,
    ) -> Result<()> {
        mutate!(self, "after_artifact_timeout", |tx, phase| {
            let timeout = Event::artifact_timeout(phase, attempt, state);
            timeout.emit(tx).await?;
            let row = tx.session(sid).await?;
            let current = row.as_ref().map_or(SessionState::Busy, |row| row.state);
            current.assert_assignment(state)?;
            if current == state {
                return Ok(());
            }
            if state != SessionState::Crashed {
                return tx.update_session(sid, &to_state(state)).await;
            }
            let recovery_attempts = row.map_or(0, |row| row.recovery_attempts) + 1;
            mark_crashed_in(tx, phase, sid, recovery_attempts).await
        })
    }

    /// Inserts (or finds) the artifact row and appends `artifact.validated` / `artifact.invalid`.
    pub async fn record_artifact(
        &self,
        attempt: u32,
        hash: String,
        validation: Validation,
    ) -> Result<ArtifactOutcome> {
        mutate!(self, "after_artifact_recorded", |tx, phase| {
            let stored = validation.to_json();
            let row = tx
                .insert_or_get_artifact(&NewArtifact {
                    run_id: phase.run_id(),
                    phase_id: phase.phase_id(),
                    path: &phase.artifact,
                    schema_id: phase.schema_id(),
                    hash: &hash,
                    valid: validation.is_valid(),
                    validation_error: &stored,
                })
                .await?;
            let checked = Event::artifact_checked(phase, &row, &validation);
            checked.emit(tx).await?;
            Ok(ArtifactOutcome { attempt, artifact_id: row.id, hash, validation })
        })
    }

    /// Re-appends the check event of an artifact recorded before a crash (a no-op replay if it
    /// made it), for re-entry in `validating`.
    pub async fn replay_artifact_event(
        &self,
        row: &ArtifactRow,
        validation: &Validation,
    ) -> Result<()> {
        mutate!(self, |tx, phase| {
            let checked = Event::artifact_checked(phase, row, validation);
            checked.emit(tx).await
        })
    }
}
