//! The attempt in progress: what its prompt says, rebuilt from its `phase.started`.

use devflow_core::PromptEnvelope;
use serde_json::{Value, json};

use super::repair::repair_instructions;
use super::spec::Phase;

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
    /// The attempt as its `phase.started` payload describes it.
    pub fn started(phase: &Phase, number: u32, payload: &Value) -> Attempt {
        let problems = payload.get("problems").and_then(Value::as_array).into_iter().flatten();
        let problems: Vec<String> = problems.filter_map(Value::as_str).map(str::to_owned).collect();
        let repair = payload.get("repair") == Some(&json!(true));
        let adopting = payload.get("restart") == Some(&json!("after_gate"));
        let spec = &phase.spec;
        let text = match repair {
            true => repair_instructions(&spec.instructions, &problems),
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
