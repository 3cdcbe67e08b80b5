//! The prompt envelope: what one agent is asked to do in one attempt of one phase.

use serde_json::json;

use crate::hash_json;

/// A prompt addressed to one role for one attempt of one phase.
///
/// `dedup_key` identifies the prompt across crashes: it is the hash of the canonical envelope
/// *without* its uuid, so rebuilding the envelope after a restart gives the same key, and a
/// prompt already recorded under that key is never delivered again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptEnvelope {
    pub uuid: String,
    pub run_id: String,
    pub role_id: String,
    pub phase_key: String,
    pub attempt: u32,
    pub expected_artifact: String,
    pub expected_schema: String,
    pub instructions: String,
    pub dedup_key: String,
}

impl PromptEnvelope {
    /// Builds an envelope and computes its dedup key. Field names in the hashed object are the
    /// reference runner's, so keys stay stable across implementations.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        uuid: impl Into<String>,
        run_id: &str,
        role_id: &str,
        phase_key: &str,
        attempt: u32,
        expected_artifact: &str,
        expected_schema: &str,
        instructions: &str,
    ) -> PromptEnvelope {
        let dedup_key = hash_json(&json!({
            "runId": run_id,
            "roleId": role_id,
            "phaseKey": phase_key,
            "expectedArtifact": expected_artifact,
            "expectedSchema": expected_schema,
            "instructions": instructions,
            "attempt": attempt,
        }));
        PromptEnvelope {
            uuid: uuid.into(),
            run_id: run_id.to_owned(),
            role_id: role_id.to_owned(),
            phase_key: phase_key.to_owned(),
            attempt,
            expected_artifact: expected_artifact.to_owned(),
            expected_schema: expected_schema.to_owned(),
            instructions: instructions.to_owned(),
            dedup_key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(uuid: &str, attempt: u32, instructions: &str) -> PromptEnvelope {
        PromptEnvelope::new(
            uuid,
            "run",
            "planner",
            "plan",
            attempt,
            "/w/a.json",
            "s.json",
            instructions,
        )
    }

    #[test]
    fn dedup_key_ignores_the_uuid_and_nothing_else() {
        let a = envelope("u1", 1, "do it");
        assert_eq!(a.dedup_key, envelope("u2", 1, "do it").dedup_key);
        assert_ne!(a.dedup_key, envelope("u1", 2, "do it").dedup_key);
        assert_ne!(a.dedup_key, envelope("u1", 1, "do it!").dedup_key);
        assert_eq!(a.dedup_key.len(), 64);
    }
}
