//! Starting an attempt of a phase, and moving it between its waiting states.

use devflow_core::{Error, PhaseState};
use serde_json::{Value, json};

use crate::context::Ctx;
use crate::crash::crash_point;
use crate::keys;

impl Ctx {
    /// `allowed -> running` with a new attempt and `phase.started`; `None` if the phase was in
    /// none of the allowed states (re-entry then reads what it is in).
    pub async fn try_start_attempt(
        &self,
        allowed: &'static [PhaseState],
        extra: Value,
    ) -> Result<Option<u32>, Error> {
        let phase = &self.phase;
        let attempt = self
            .db
            .mutate_phase(self.run_id(), move |tx, _run| {
                Box::pin(async move {
                    let Some(attempt) = tx
                        .try_start_phase(phase.run_id(), phase.phase_id(), allowed)
                        .await?
                    else {
                        if tx.phase(phase.phase_id()).await?.is_none() {
                            return Err(Error::corruption("run phase does not exist"));
                        }
                        return Ok(None);
                    };
                    let mut payload =
                        json!({ "phaseKey": phase.spec.phase_key, "attempt": attempt });
                    if let (Some(into), Value::Object(extra)) = (payload.as_object_mut(), extra) {
                        into.extend(extra);
                    }
                    tx.record_event(&devflow_db::NewEvent {
                        run_id: phase.run_id(),
                        phase_id: Some(phase.phase_id()),
                        kind: keys::PHASE_STARTED,
                        payload: &payload,
                        idempotency_key: &keys::phase_started(phase.phase_id(), attempt),
                    })
                    .await?;
                    Ok(Some(attempt))
                })
            })
            .await
            .map_err(|error| error.in_phase(self.run_id(), self.phase_id()))?;
        crash_point!("after_phase_started");
        Ok(attempt)
    }

    /// A repair attempt from `from` (the reference's `startPhaseAndRecord`): any other state
    /// is corruption, with the phase state as hint.
    pub async fn start_repair_attempt(
        &self,
        from: &'static [PhaseState],
        extra: Value,
    ) -> Result<u32, Error> {
        if let Some(attempt) = self.try_start_attempt(from, extra).await? {
            return Ok(attempt);
        }
        let state = self.phase_state().await?;
        Err(
            Error::corruption("cannot start a phase attempt from the current phase state")
                .with_hint(format!("phase_state={state}"))
                .in_phase(self.run_id(), self.phase_id()),
        )
    }

    pub async fn phase_state(&self) -> Result<PhaseState, Error> {
        let phase_id = self.phase_id();
        let row = self
            .db
            .read(move |tx| Box::pin(async move { tx.phase(phase_id).await }))
            .await?;
        row.map(|row| row.state).ok_or_else(|| {
            Error::corruption("run phase does not exist").in_phase(self.run_id(), self.phase_id())
        })
    }

    /// `awaiting_artifact` and `artifact.expected` for this attempt.
    pub async fn start_artifact_wait(&self, attempt: u32) -> Result<(), Error> {
        let phase = &self.phase;
        self.db
            .mutate_phase(self.run_id(), move |tx, _run| {
                Box::pin(async move {
                    let payload = json!({ "path": phase.artifact, "schemaId": phase.schema_id(), "attempt": attempt });
                    // Recorded first, so that on PostgreSQL it travels with the update.
                    tx.record_event(&devflow_db::NewEvent {
                        run_id: phase.run_id(),
                        phase_id: Some(phase.phase_id()),
                        kind: keys::ARTIFACT_EXPECTED,
                        payload: &payload,
                        idempotency_key: &keys::artifact_expected(phase.phase_id(), attempt, &phase.artifact),
                    })
                    .await?;
                    tx.set_phase_state(phase.run_id(), phase.phase_id(), PhaseState::AwaitingArtifact).await
                })
            })
            .await?;
        crash_point!("after_artifact_expected");
        Ok(())
    }

    pub async fn set_phase_validating(&self) -> Result<(), Error> {
        let phase = &self.phase;
        self.db
            .mutate_phase(self.run_id(), move |tx, _run| {
                Box::pin(async move {
                    tx.set_phase_state(phase.run_id(), phase.phase_id(), PhaseState::Validating)
                        .await
                })
            })
            .await?;
        crash_point!("after_phase_validating");
        Ok(())
    }

    /// Whether an event with this idempotency key exists for this phase.
    pub async fn event_exists(&self, key: String) -> Result<bool, Error> {
        let phase_id = self.phase_id();
        let row = self
            .db
            .read(move |tx| Box::pin(async move { tx.event_by_key(&key).await }))
            .await?;
        Ok(row.is_some_and(|row| row.phase_id.as_deref() == Some(phase_id)))
    }
}
