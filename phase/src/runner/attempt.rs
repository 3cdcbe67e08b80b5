//! The attempt in progress: what its prompt says, rebuilt from its `phase.started`.

use devflow_core::PromptEnvelope;

use super::repair::repair_instructions;
use super::spec::{Phase, Restart};
use crate::event::PhaseStarted;

/// One try at the phase, as its `phase.started` describes it.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub number: u32,
    /// Whether this is the phase's one repair attempt.
    pub repair: bool,
    /// A restart after a human gate, which first takes a valid artifact a person wrote.
    pub adopting: bool,
    /// The attempt's prompt; rebuilt identically on re-entry, so its dedup key is too.
    pub envelope: PromptEnvelope,
}

impl Attempt {
    /// The attempt as its `phase.started` describes it.
    pub fn started(phase: &Phase, started: &PhaseStarted) -> Attempt {
        let (number, repair) = (started.attempt, started.repair == Some(true));
        let adopting = started.restart == Some(Restart::AfterGate);
        let spec = &phase.spec;
        let text = match repair {
            true => repair_instructions(
                &spec.instructions,
                started.problems.as_deref().unwrap_or_default(),
            ),
            false => spec.instructions.clone(),
        };
        let (id, run, role, key) =
            (uuid::Uuid::new_v4(), &spec.run_id, &spec.role_id, &spec.phase_key);
        let (artifact, schema) = (&phase.artifact, phase.schema_id());
        let envelope = PromptEnvelope::new(id, run, role, key, number, artifact, schema, &text);
        Attempt { number, repair, adopting, envelope }
    }

    pub fn dedup_key(&self) -> &str {
        &self.envelope.dedup_key
    }
}
