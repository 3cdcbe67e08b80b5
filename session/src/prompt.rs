//! The text an agent receives for an envelope: one layout, used by every adapter.

use devflow_core::PromptEnvelope;

/// The line that names the artifact path in a rendered prompt; agent-sim reads the last one.
pub const ARTIFACT_LINE: &str = "Artifact: ";
/// The line that names the schema id in a rendered prompt.
pub const SCHEMA_LINE: &str = "Schema: ";
/// The first word of every prompt's first line: `devflow-prompt <16 hex digits>`.
pub const MARKER_PREFIX: &str = "devflow-prompt ";
/// The first line of a repair attempt's instructions (`devflow_phase::repair_instructions`):
/// what a model reads to know it is asked again, and what the simulated agents read too.
pub const REPAIR_LINE: &str = "Repair the artifact so it conforms to the expected schema.";
/// The words that open the paragraph devflow's phase runner puts after a phase's own
/// instructions to give the artifact's JSON Schema (`devflow_phase`'s `phase_instructions`):
/// everything before it is the workflow's text. The simulated agents read their directions
/// there only (`scenario::directions`), so that the runner's schema block — a ```` ```json ````
/// fence like any other — is never taken for theirs.
pub const SCHEMA_INTRO: &str = "The artifact must validate against this JSON Schema";
/// How many hex digits of the dedup key the marker carries.
const MARKER_HEX_DIGITS: usize = 16;

/// The marker line of an envelope's prompt: `devflow-prompt ` and the first 16 hex digits of its
/// dedup key. It lets devflow find the prompt again in a pane's history after a crash, and
/// whoever reads what a model received (a model stub's log) key on it.
pub fn prompt_marker(envelope: &PromptEnvelope) -> String {
    let hex: String = envelope.dedup_key.chars().take(MARKER_HEX_DIGITS).collect();
    format!("{MARKER_PREFIX}{hex}")
}

/// The marker line, then the instructions verbatim, a blank line, the artifact path and the
/// schema id:
///
/// ```text
/// devflow-prompt <16 hex>
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
        "{}\n{}\n\nWrite the result as JSON to the artifact path below.\n{ARTIFACT_LINE}{}\n{SCHEMA_LINE}{}",
        prompt_marker(envelope),
        envelope.instructions,
        envelope.expected_artifact,
        envelope.expected_schema
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

/// Whether `text` (a rendered prompt, or the instructions alone) asks for a repair: its first
/// line, after the marker line if there is one, is [`REPAIR_LINE`].
pub fn is_repair(text: &str) -> bool {
    let mut lines = text.lines().skip_while(|line| line.starts_with(MARKER_PREFIX));
    lines.next().is_some_and(|line| line.trim_end() == REPAIR_LINE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_marker_instructions_then_artifact_and_schema() {
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
        let marker = format!("devflow-prompt {}", &envelope.dedup_key[..16]);
        assert_eq!(prompt_marker(&envelope), marker);
        assert_eq!(
            prompt,
            format!(
                "{marker}\nPlan it.\nArtifact: decoy\n\n\n\nWrite the result as JSON to the artifact path below.\nArtifact: /w/out/plan.json\nSchema: plan.v1"
            )
        );
        assert_eq!(artifact_path_of(&prompt), Some("/w/out/plan.json"));
    }

    #[test]
    fn a_repair_is_told_by_its_first_line_only() {
        assert!(is_repair(&format!("devflow-prompt 0123456789abcdef\n{REPAIR_LINE}\nPlan it.")));
        assert!(is_repair(&format!("{REPAIR_LINE}\nPlan it.")));
        assert!(!is_repair(&format!("Plan it.\n{REPAIR_LINE}")));
        assert!(!is_repair("devflow-prompt 0123456789abcdef\nPlan it."));
    }
}
