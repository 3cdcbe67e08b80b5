//! The leaves that begin an attempt: a new attempt, the phase's one repair attempt, and
//! clearing away a stale artifact before an attempt's prompt.

use devflow_core::{Error, PhaseState, Result, Validation};

use super::context::{Ctx, mutate};
use super::crash::crash_point;
use super::facts::Known;
use super::repair::{timeout_problem, validation_problems};
use super::spec::Restart;
use crate::event::{Event, Start};

/// What the one repair attempt repairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RepairOf {
    Invalid,
    Timeout,
}

/// How a new attempt that is not a repair begins: the restart its `phase.started` records.
fn restart_of(from: PhaseState) -> Option<Restart> {
    match from {
        PhaseState::Failed => Some(Restart::AfterGate),
        PhaseState::AwaitingApproval => Some(Restart::Rejected),
        _ => None,
    }
}

impl Ctx {
    /// A new attempt from `from` (`pending`, or the gate a person restarts the phase from):
    /// `running`, one attempt more, `phase.started`.
    pub(crate) async fn start_attempt(&self, from: PhaseState) -> Result<()> {
        self.try_start_attempt(from, Start { restart: restart_of(from), ..Start::default() }).await
    }

    /// The phase's one repair attempt — of an artifact that stayed invalid, or of one that never
    /// came — with what was wrong in its `phase.started`, so re-entry rebuilds the same prompt.
    pub(crate) async fn start_repair(&self, known: &Known, of: RepairOf) -> Result<()> {
        let (from, problems, reason) = match of {
            RepairOf::Invalid => {
                let artifact = known.artifact.as_ref().expect("an invalid artifact is recorded");
                let validation = Validation::from_stored(false, &artifact.validation_error)
                    .ok_or_else(|| Error::corruption("an invalid artifact has no errors stored"))?;
                (PhaseState::Validating, validation_problems(&validation), None)
            }
            RepairOf::Timeout => {
                let problem =
                    timeout_problem(&self.phase.artifact, self.phase.spec.wait.timeout_ms);
                (PhaseState::AwaitingArtifact, vec![problem], Some("artifact_timeout"))
            }
        };
        let start = Start { repair: true, problems: Some(problems), reason, restart: None };
        self.try_start_attempt(from, start).await
    }

    /// `from -> running` with a new attempt and `phase.started`. The table chose this step from
    /// the phase's state a moment ago; a phase in another state now was changed behind the
    /// runner's back.
    async fn try_start_attempt(&self, from: PhaseState, start: Start) -> Result<()> {
        mutate!(self, "after_phase_started", |tx, phase| {
            let started = tx.try_start_phase(phase.run_id(), phase.phase_id(), &[from]).await?;
            let Some(attempt) = started else {
                let state = tx.phase(phase.phase_id()).await?.map(|row| row.state);
                let message = format!("cannot start a phase attempt from {from}");
                let hint =
                    state.map_or("phase_state=missing".into(), |s| format!("phase_state={s}"));
                return Err(Error::corruption(message).with_hint(hint));
            };
            Event::phase_started(phase, attempt, start).emit(tx).await
        })
    }

    /// Deletes an artifact left by an earlier attempt or run, so the wait sees only the new one.
    /// Contained (`ArtifactFile::remove_stale`): a symbolic link on the way is
    /// `artifact_outside_worktree`, and nothing is removed.
    pub(crate) async fn remove_stale_artifact(&self) -> Result<()> {
        crash_point!("before_stale_artifact_removed");
        let removed = self.phase.file.remove_stale();
        crash_point!("after_stale_artifact_removed");
        removed
    }
}
