//! Starting an attempt of a phase, and moving it between its waiting states.

use devflow_core::{Error, PhaseState, Result};
use devflow_db::{EventRow, PhaseRow};
use serde_json::Value;

use crate::context::{Ctx, mutate, read};
use crate::event::Event;

impl Ctx {
    /// `from -> running` with a new attempt and `phase.started`; `None` if the phase was not
    /// in `from` (re-entry then reads what it is in).
    pub async fn try_start_attempt(&self, from: PhaseState, extra: Value) -> Result<Option<u32>> {
        mutate!(self, "after_phase_started", |tx, phase| {
            let Some(attempt) =
                tx.try_start_phase(phase.run_id(), phase.phase_id(), &[from]).await?
            else {
                if tx.phase(phase.phase_id()).await?.is_none() {
                    return Err(Error::corruption("run phase does not exist"));
                }
                return Ok(None);
            };
            Event::phase_started(phase, attempt, extra).emit(tx).await?;
            Ok(Some(attempt))
        })
    }

    pub async fn phase_row(&self) -> Result<PhaseRow> {
        let row = read!(self, |tx, phase| { tx.phase(phase.phase_id()).await })?;
        row.ok_or_else(|| Error::corruption("run phase does not exist"))
    }

    /// `awaiting_artifact` and `artifact.expected` for this attempt.
    pub async fn start_artifact_wait(&self, attempt: u32) -> Result<()> {
        mutate!(self, "after_artifact_expected", |tx, phase| {
            // Recorded first, so that on PostgreSQL it travels with the update.
            Event::artifact_expected(phase, attempt).emit(tx).await?;
            let awaiting = PhaseState::AwaitingArtifact;
            tx.set_phase_state(phase.run_id(), phase.phase_id(), awaiting).await
        })
    }

    pub async fn set_phase_validating(&self) -> Result<()> {
        mutate!(self, "after_phase_validating", |tx, phase| {
            tx.set_phase_state(phase.run_id(), phase.phase_id(), PhaseState::Validating).await
        })
    }

    /// The event with this idempotency key, whichever phase it belongs to.
    pub async fn event(&self, event: Event<'_>) -> Result<Option<EventRow>> {
        let key = event.key;
        read!(self, |tx, _| { tx.event_by_key(&key).await })
    }

    /// Whether this event was appended for this phase.
    pub async fn event_exists(&self, event: Event<'_>) -> Result<bool> {
        let row = self.event(event).await?;
        Ok(row.is_some_and(|row| row.phase_id.as_deref() == Some(self.phase.phase_id())))
    }
}

/// Corruption: the phase is in `state`, which `message` says it cannot be in.
pub(crate) fn wrong_phase_state(message: &str, state: PhaseState) -> Error {
    Error::corruption(message).with_hint(format!("phase_state={state}"))
}
