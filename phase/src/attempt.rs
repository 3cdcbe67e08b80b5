//! The attempt in progress: what its prompt says, and how the phase's one repair attempt
//! starts.

use devflow_core::{PhaseState, PromptEnvelope, Result, Validation};
use devflow_session::SessionHandle;
use serde_json::json;

use crate::context::Ctx;
use crate::repair::{repair_instructions, timeout_problem, validation_problems};
use crate::steps::wrong_phase_state;

/// The attempt in progress, built once where the runner enters the phase or starts the repair.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub number: u32,
    /// Whether this is the phase's one repair attempt.
    pub repair: bool,
    /// What the repair prompt says was wrong (from the attempt's `phase.started`).
    pub problems: Vec<String>,
    /// Whether this is the first wait of this invocation: its failures and timeouts are
    /// handled as the reference handles a phase's first wait, later ones as repair waits.
    pub first: bool,
}

impl Attempt {
    pub fn fresh(number: u32) -> Attempt {
        Attempt { number, repair: false, problems: Vec::new(), first: true }
    }
}

impl Ctx {
    /// The prompt of an attempt; rebuilt identically on re-entry, so its dedup key is too.
    pub(crate) fn envelope(&self, attempt: &Attempt) -> PromptEnvelope {
        let spec = &self.phase.spec;
        let instructions = if attempt.repair {
            repair_instructions(&spec.instructions, &attempt.problems)
        } else {
            spec.instructions.clone()
        };
        PromptEnvelope::new(
            uuid::Uuid::new_v4().to_string(),
            &spec.run_id,
            &spec.role_id,
            &spec.phase_key,
            attempt.number,
            &self.phase.artifact,
            self.phase.schema_id(),
            &instructions,
        )
    }

    /// Starts the phase's one repair attempt — of an artifact that stayed invalid, or of one
    /// that never came (`None`) — and clears the way for its prompt. The phase must still be
    /// where that left it (the reference's `startPhaseAndRecord`): any other state is
    /// corruption, with the phase state as hint.
    pub(crate) async fn start_repair(
        &self,
        invalid: Option<&Validation>,
        running: Option<&SessionHandle>,
    ) -> Result<Attempt> {
        let (from, problems) = match invalid {
            Some(validation) => (PhaseState::Validating, validation_problems(validation)),
            None => {
                let timeout_ms = self.phase.spec.wait.timeout_ms;
                let problem = timeout_problem(&self.phase.artifact, timeout_ms);
                (PhaseState::AwaitingArtifact, vec![problem])
            }
        };
        let mut extra = json!({ "repair": true, "problems": problems });
        if invalid.is_none() {
            extra["reason"] = json!("artifact_timeout");
        }
        let Some(number) = self.try_start_attempt(from, extra).await? else {
            let message = "cannot start a phase attempt from the current phase state";
            return Err(wrong_phase_state(message, self.phase_row().await?.state));
        };
        self.remove_stale_artifact(number, running).await?;
        Ok(Attempt { number, repair: true, problems, first: false })
    }
}
