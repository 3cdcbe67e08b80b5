//! The instructions a phase's agent receives: the workflow's text verbatim, then the schema.

use serde_json::{Map, Value};

use super::PhaseDef;

/// The phase's instructions, then its JSON Schema in a ```json-schema block (not ```json: agents
/// scripted by `Scenario:` lines take the first ```json block as the artifact to write), then,
/// after a rejection, the reviewer's note. The schema is printed with its keys sorted, so the
/// text (and so the prompt's dedup key) is the same whichever way the JSON was loaded.
pub fn phase_instructions(phase: &PhaseDef, rejection_note: Option<&str>) -> String {
    let schema = serde_json::to_string_pretty(&sorted(&phase.schema)).expect("JSON prints");
    let mut text = format!(
        "{}\n\nThe artifact must validate against this JSON Schema ({}):\n\n```json-schema\n{schema}\n```",
        phase.instructions.trim_end(),
        phase.schema_id
    );
    if let Some(note) = rejection_note {
        text.push_str(&format!("\n\nA reviewer rejected the previous artifact: {note}"));
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
