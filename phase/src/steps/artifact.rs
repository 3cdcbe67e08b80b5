//! Recording what the wait found: a timeout with the session's classification, or an
//! artifact with its hash and validation.

use devflow_core::{Error, SessionState, StateMachine, Validation};
use devflow_db::{ArtifactRow, NewArtifact, SessionUpdate, Tx};
use serde_json::{Value, json};

use crate::context::Ctx;
use crate::crash::crash_point;
use crate::keys;
use crate::spec::Phase;
use crate::steps::session::append;

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
        session_id: &str,
        state: SessionState,
    ) -> Result<(), Error> {
        let (phase, sid) = (&self.phase, session_id);
        self.db
            .mutate_phase(self.run_id(), move |tx, _run| {
                Box::pin(async move {
                    let payload = json!({
                        "path": phase.artifact, "schemaId": phase.schema_id(), "attempt": attempt, "sessionState": state.as_str(),
                    });
                    let key = keys::artifact_timeout(phase.phase_id(), attempt, &phase.artifact);
                    append(tx, phase, keys::ARTIFACT_TIMEOUT, &payload, &key).await?;
                    let row = tx.session(sid).await?;
                    let current = row.as_ref().map_or(SessionState::Busy, |row| row.state);
                    current.assert_assignment(state)?;
                    if current == state {
                        return Ok(());
                    }
                    if state != SessionState::Crashed {
                        return tx.update_session(sid, &SessionUpdate { state: Some(state), ..Default::default() }).await;
                    }
                    let recovery_attempts = row.map_or(0, |row| row.recovery_attempts) + 1;
                    mark_crashed(tx, phase, sid, recovery_attempts).await
                })
            })
            .await?;
        crash_point!("after_artifact_timeout");
        Ok(())
    }

    /// Inserts (or finds) the artifact row and appends `artifact.validated` / `artifact.invalid`.
    pub async fn record_artifact(
        &self,
        attempt: u32,
        hash: String,
        validation: Validation,
    ) -> Result<ArtifactOutcome, Error> {
        let phase = &self.phase;
        let outcome = self
            .db
            .mutate_phase(self.run_id(), move |tx, _run| {
                Box::pin(async move {
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
                    append_checked_event(tx, phase, &row, &validation).await?;
                    Ok(ArtifactOutcome {
                        attempt,
                        artifact_id: row.id,
                        hash,
                        validation,
                    })
                })
            })
            .await
            .map_err(|error| error.in_phase(self.run_id(), self.phase_id()))?;
        crash_point!("after_artifact_recorded");
        Ok(outcome)
    }

    /// Re-appends the check event of an artifact recorded before a crash (a no-op replay if it
    /// made it), for re-entry in `validating`.
    pub async fn replay_artifact_event(
        &self,
        row: ArtifactRow,
        validation: Validation,
    ) -> Result<(), Error> {
        let phase = &self.phase;
        self.db
            .mutate_phase(self.run_id(), move |tx, _run| {
                Box::pin(async move { append_checked_event(tx, phase, &row, &validation).await })
            })
            .await
    }
}

/// `CRASHED` with its recovery count and `session.crashed`.
pub(crate) async fn mark_crashed(
    tx: &mut Tx,
    phase: &Phase,
    sid: &str,
    recovery_attempts: u32,
) -> Result<(), Error> {
    let update = SessionUpdate {
        state: Some(SessionState::Crashed),
        recovery_attempts: Some(recovery_attempts),
        ..Default::default()
    };
    tx.update_session(sid, &update).await?;
    let payload = json!({ "sessionId": sid, "roleId": phase.role_id(), "recoveryAttempts": recovery_attempts });
    append(
        tx,
        phase,
        keys::SESSION_CRASHED,
        &payload,
        &keys::session_crashed(sid, recovery_attempts),
    )
    .await
}

async fn append_checked_event(
    tx: &mut Tx,
    phase: &Phase,
    row: &ArtifactRow,
    validation: &Validation,
) -> Result<(), Error> {
    let kind = if validation.is_valid() {
        keys::ARTIFACT_VALIDATED
    } else {
        keys::ARTIFACT_INVALID
    };
    let mut payload = json!({
        "artifactId": row.id, "hash": row.hash, "path": row.path, "schemaId": phase.schema_id(),
    });
    if let (Some(object), Value::Object(stored)) = (payload.as_object_mut(), validation.to_json()) {
        object.extend(stored);
    }
    append(
        tx,
        phase,
        kind,
        &payload,
        &keys::artifact_checked(kind, phase.phase_id(), &row.path, &row.hash),
    )
    .await
}
