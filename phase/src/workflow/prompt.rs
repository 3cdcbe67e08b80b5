//! The instructions a phase's agent receives: the workflow's text verbatim, then the schema.

use devflow_session::SCHEMA_INTRO;
use serde_json::{Map, Value};

use super::PhaseDef;

/// Why a completed phase's agent is asked again, for the paragraph that ends its prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentBack<'a> {
    /// A reviewer rejected the artifact, with this note.
    Rejected(&'a str),
    /// Merging the phase's branch conflicted; the note says where and what to do.
    MergeConflict(&'a str),
}

/// The phase's instructions, then a paragraph that gives its JSON Schema in a ```json block,
/// then, when the phase was sent back, why (a reviewer's note, or a merge's conflict). The schema is printed with its keys sorted, so
/// the text (and so the prompt's dedup key) is the same whichever way the JSON was loaded. The
/// paragraph opens with [`SCHEMA_INTRO`], the prompt layout's name for it.
pub fn phase_instructions(phase: &PhaseDef, sent_back: Option<SentBack<'_>>) -> String {
    let schema = serde_json::to_string_pretty(&sorted(&phase.schema)).expect("JSON prints");
    let mut text = format!(
        "{}\n\n{SCHEMA_INTRO} ({}):\n\n```json\n{schema}\n```",
        phase.instructions.trim_end(),
        phase.schema_id
    );
    match sent_back {
        Some(SentBack::Rejected(note)) => {
            text.push_str(&format!("\n\nA reviewer rejected the previous artifact: {note}"));
        }
        Some(SentBack::MergeConflict(note)) => {
            text.push_str(&format!("\n\nYour work was done, but {note}"));
        }
        None => {}
    }
    text
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), sorted(&map[key]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::workflow::Wait;

    fn phase(instructions: &str, schema: Value) -> PhaseDef {
        PhaseDef {
            key: "plan".into(),
            kind: crate::workflow::Kind::Agent,
            worktree: crate::workflow::PhaseWorktree::Run,
            role: "planner".into(),
            needs: Vec::new(),
            artifact: "out/plan.json".into(),
            schema_id: "plan.schema.json".into(),
            schema,
            instructions: instructions.into(),
            approval_gate: None,
            wait: Wait::default(),
        }
    }

    #[test]
    fn the_schema_follows_the_instructions_in_a_json_block_with_sorted_keys() {
        let schema =
            json!({ "type": "object", "required": ["title"], "additionalProperties": false });
        let text = phase_instructions(&phase("Plan it.\n\n", schema), None);
        assert_eq!(
            text,
            "Plan it.\n\nThe artifact must validate against this JSON Schema (plan.schema.json):\n\n\
             ```json\n{\n  \"additionalProperties\": false,\n  \"required\": [\n    \"title\"\n  ],\n  \"type\": \"object\"\n}\n```"
        );
    }

    #[test]
    fn a_rejection_note_comes_last() {
        let text = phase_instructions(
            &phase("Plan it.", json!({})),
            Some(SentBack::Rejected("add a step")),
        );
        assert!(text.ends_with("```\n\nA reviewer rejected the previous artifact: add a step"));
    }
}
