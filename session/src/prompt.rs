//! The text an agent receives for an envelope: one layout, used by every adapter.

use devflow_core::PromptEnvelope;

/// The line that names the artifact path in a rendered prompt; agent-sim reads the last one.
pub const ARTIFACT_LINE: &str = "Artifact: ";
/// The line that names the schema id in a rendered prompt.
pub const SCHEMA_LINE: &str = "Schema: ";

/// The instructions verbatim, a blank line, then the artifact path and the schema id:
///
/// ```text
/// <instructions>
///
/// Write the result as JSON to the artifact path below.
/// Artifact: <expected_artifact>
/// Schema: <expected_schema>
/// ```
///
/// The text has no trailing newline: the adapter submits it with a separate Enter.
pub fn render_prompt(envelope: &PromptEnvelope) -> String {
    format!(
        "{}\n\nWrite the result as JSON to the artifact path below.\n{ARTIFACT_LINE}{}\n{SCHEMA_LINE}{}",
        envelope.instructions, envelope.expected_artifact, envelope.expected_schema
    )
}

/// The artifact path of a rendered prompt: the value of its last `Artifact:` line.
pub fn artifact_path_of(prompt: &str) -> Option<&str> {
    prompt
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(ARTIFACT_LINE))
        .map(str::trim)
        .filter(|path| !path.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_instructions_then_artifact_and_schema() {
        let envelope = PromptEnvelope::new(
            "u",
            "run",
            "planner",
            "plan",
            1,
            "/w/out/plan.json",
            "plan.v1",
            "Plan it.\nArtifact: decoy\n\n",
        );
        let prompt = render_prompt(&envelope);
        assert_eq!(
            prompt,
            "Plan it.\nArtifact: decoy\n\n\n\nWrite the result as JSON to the artifact path below.\nArtifact: /w/out/plan.json\nSchema: plan.v1"
        );
        assert_eq!(artifact_path_of(&prompt), Some("/w/out/plan.json"));
    }
}
