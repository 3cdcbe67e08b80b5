//! A JSON value that satisfies a response schema, for the CLIs' JSON-mode side requests (Gemini
//! CLI's routing and next-speaker checks, Codex CLI's thread title).

use serde_json::{Map, Value, json};

/// A value that satisfies the schema: the user speaks next, routing picks the flash model.
pub fn fill(schema: &Value) -> Value {
    if let Some(choices) = schema["enum"].as_array()
        && let Some(first) = choices.first()
    {
        return first.clone();
    }
    match schema["type"].as_str().map(str::to_lowercase).as_deref() {
        Some("object") | None => {
            let mut object = Map::new();
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                let value = match name.as_str() {
                    "next_speaker" => json!("user"),
                    "model_choice" => json!("flash"),
                    _ => fill(property),
                };
                object.insert(name.clone(), value);
            }
            Value::Object(object)
        }
        Some("array") => json!([]),
        Some("boolean") => json!(false),
        Some("number") | Some("integer") => json!(1),
        _ => json!("stub"),
    }
}
