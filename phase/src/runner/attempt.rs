//! The attempt in progress — what its prompt says — and how the phase's one repair attempt
//! starts.

use devflow_core::{PhaseState, PromptEnvelope, Result, Validation};
use devflow_session::SessionHandle;
use serde_json::{Value, json};

use super::context::Ctx;
use super::crash::crash_point;
use super::policy::{At, Site};
use super::repair::{repair_instructions, timeout_problem, validation_problems};
use super::spec::Phase;
use super::steps::wrong_phase_state;

/// One try at the phase, built where the runner enters the phase or starts the repair.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub number: u32,
    /// Whether this is the phase's one repair attempt.
    pub repair: bool,
    /// Whether this is the first wait of this invocation: its failures and timeouts are
    /// handled as the reference handles a phase's first wait, later ones as repair waits.
    pub first: bool,
    /// The attempt's prompt; rebuilt identically on re-entry, so its dedup key is too.
    pub envelope: PromptEnvelope,
}

impl Attempt {
    /// `problems`: what the repair prompt says was wrong (stored in its `phase.started`).
    pub fn new(phase: &Phase, number: u32, repair: bool, problems: &[String]) -> Attempt {
        let spec = &phase.spec;
        let text = match repair {
            true => repair_instructions(&spec.instructions, problems),
            false => spec.instructions.clone(),
        };
        let (id, run, role, key) =
            (uuid::Uuid::new_v4(), &spec.run_id, &spec.role_id, &spec.phase_key);
        let (artifact, schema) = (&phase.artifact, phase.schema_id());
        let envelope = PromptEnvelope::new(id, run, role, key, number, artifact, schema, &text);
        Attempt { number, repair, first: true, envelope }
    }

    /// The attempt as its `phase.started` payload describes it.
    pub fn started(phase: &Phase, number: u32, payload: &Value) -> Attempt {
        let problems = payload.get("problems").and_then(Value::as_array).into_iter().flatten();
        let problems: Vec<String> = problems.filter_map(Value::as_str).map(str::to_owned).collect();
        Attempt::new(phase, number, payload.get("repair") == Some(&json!(true)), &problems)
    }

    pub fn dedup_key(&self) -> &str {
        &self.envelope.dedup_key
    }
}

impl Ctx {
    /// Starts the phase's one repair attempt — of an artifact that stayed invalid, or of one
    /// that never came (`None`). The phase must still be where that left it (the reference's
    /// `startPhaseAndRecord`): any other state is corruption, with the phase state as hint.
    ///
    /// Unlike the reference, an invalid artifact is left where it is, for the agent to read and
    /// fix: the repair's wait ignores the file as it was when the prompt went out (`send_prompt`
    /// takes that baseline), so only a new write counts.
    pub(crate) async fn start_repair(&self, invalid: Option<&Validation>) -> Result<Attempt> {
        let (from, problems, mut extra) = match invalid {
            Some(validation) => {
                (PhaseState::Validating, validation_problems(validation), json!({}))
            }
            None => {
                let problem =
                    timeout_problem(&self.phase.artifact, self.phase.spec.wait.timeout_ms);
                (
                    PhaseState::AwaitingArtifact,
                    vec![problem],
                    json!({ "reason": "artifact_timeout" }),
                )
            }
        };
        extra["repair"] = json!(true);
        extra["problems"] = json!(problems);
        let Some(number) = self.try_start_attempt(from, extra).await? else {
            let message = "cannot start a phase attempt from the current phase state";
            return Err(wrong_phase_state(message, self.phase_row().await?.state));
        };
        Ok(Attempt { first: false, ..Attempt::new(&self.phase, number, true, &problems) })
    }

    /// Deletes an artifact left from before the phase's first prompt, so the wait sees only the
    /// new one. Contained (`ArtifactFile::remove_stale`): a symbolic link on the way is
    /// `artifact_outside_worktree`, and nothing is removed.
    pub(crate) async fn remove_stale_artifact(
        &self,
        attempt: u32,
        running: Option<&SessionHandle>,
    ) -> Result<()> {
        crash_point!("before_stale_artifact_removed");
        let removed = self.phase.file.remove_stale();
        crash_point!("after_stale_artifact_removed");
        self.on_error(Site::StaleArtifact, At::running(attempt, running), removed).await
    }
}
