//! Gemini's API as Gemini CLI calls it (`GOOGLE_GEMINI_BASE_URL`):
//! `POST /v1beta/models/{model}:streamGenerateContent?alt=sse`, `:generateContent` (its
//! JSON-mode side requests: which model to route to, who speaks next) and `:countTokens`.
//!
//! A request that offers `write_file` is the agent's turn; a JSON-mode request gets an object
//! that fills its response schema; anything else a short text.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::journal::{Action, Call, CallKind, PromptAt, Turn};
use crate::{Stub, sse};

pub const API: &str = "gemini.generate_content";

/// The context Gemini CLI sends of its own, before the prompt (a part of the same message in
/// 0.61, a message of its own before): not the prompt.
const CONTEXT_PREFIXES: [&str; 2] = ["<session_context>", "This is the Gemini CLI."];

/// `{model}:{method}`.
pub async fn call(
    State(stub): State<Arc<Stub>>,
    Path(call): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let method = call.rsplit(':').next().unwrap_or_default();
    if method == "countTokens" {
        return Json(json!({ "totalTokens": body.to_string().len() / 4 })).into_response();
    }
    let answer = answer(&stub, &body);
    if method == "streamGenerateContent" {
        sse::stream(&[(None, answer)])
    } else {
        Json(answer).into_response()
    }
}

/// One `GenerateContentResponse` for the request.
pub fn answer(stub: &Stub, body: &Value) -> Value {
    let part = if let Some(schema) = json_schema(body) {
        json!({ "text": crate::fill::fill(schema).to_string() })
    } else {
        let write_tool = declaration(body, "write_file");
        let action = match (&write_tool, read_turn(body)) {
            (Some(_), Some(turn)) => stub.journal.answer(API, turn),
            _ => Action::Say("Stub.".to_owned()),
        };
        part(body, &action)
    };
    json!({
        "candidates": [{ "content": { "role": "model", "parts": [part] }, "finishReason": "STOP", "index": 0 }],
        "usageMetadata": { "promptTokenCount": 10, "candidatesTokenCount": 10, "totalTokenCount": 20 },
        "modelVersion": "stub-model",
    })
}

/// The response schema of a JSON-mode request.
fn json_schema(body: &Value) -> Option<&Value> {
    let config = &body["generationConfig"];
    if config["responseMimeType"] != "application/json" {
        return None;
    }
    Some(config.get("responseJsonSchema").or(config.get("responseSchema")).unwrap_or(&Value::Null))
}

/// The declaration of the function `name` among the request's tools.
fn declaration<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body["tools"].as_array()?.iter().find_map(|tool| {
        tool["functionDeclarations"].as_array()?.iter().find(|decl| decl["name"] == name)
    })
}

pub fn read_turn(body: &Value) -> Option<Turn> {
    let contents = body["contents"].as_array()?;
    let prompts: Vec<usize> =
        (0..contents.len()).filter(|&i| prompt_of(&contents[i]).is_some()).collect();
    let &last = prompts.last()?;
    let prompt = PromptAt {
        text: prompt_of(&contents[last])?,
        ordinal: prompts.len() - 1,
        conversation: None,
    };
    if last == contents.len() - 1 {
        return Some(Turn::Prompt(prompt));
    }
    Some(Turn::AfterTools { prompt, calls: calls(&contents[last + 1..]) })
}

fn prompt_of(content: &Value) -> Option<String> {
    if content["role"] != "user" {
        return None;
    }
    let parts = content["parts"].as_array()?;
    if parts.iter().any(|part| part.get("functionResponse").is_some()) {
        return None;
    }
    let text: Vec<&str> = parts
        .iter()
        .filter_map(|part| part["text"].as_str())
        .filter(|text| !CONTEXT_PREFIXES.iter().any(|prefix| text.trim_start().starts_with(prefix)))
        .collect();
    let text = text.join("\n");
    (!text.is_empty()).then_some(text)
}

fn calls(after_prompt: &[Value]) -> Vec<Call> {
    let parts = || after_prompt.iter().filter_map(|c| c["parts"].as_array()).flatten();
    let mut responses = parts().filter_map(|part| part.get("functionResponse"));
    let mut calls = Vec::new();
    for call in parts().filter_map(|part| part.get("functionCall")) {
        let response = responses.next();
        let kind = match call["name"].as_str() {
            Some("write_file") => CallKind::Write,
            Some("read_file") => CallKind::Read,
            _ => CallKind::Other,
        };
        let failed = response.is_none_or(|r| r["response"].get("error").is_some());
        let output = response.map(|r| r["response"].to_string()).unwrap_or_default();
        calls.push(Call { kind, failed, output });
    }
    calls
}

/// The name of the declared path parameter of a file tool (`file_path` in Gemini CLI 0.61).
fn path_parameter(body: &Value, tool: &str) -> String {
    let properties = declaration(body, tool)
        .map(|decl| decl.get("parametersJsonSchema").unwrap_or(&decl["parameters"]))
        .map(|schema| &schema["properties"]);
    ["file_path", "absolute_path", "path"]
        .into_iter()
        .find(|name| properties.is_some_and(|p| p.get(*name).is_some()))
        .unwrap_or("file_path")
        .to_owned()
}

fn part(body: &Value, action: &Action) -> Value {
    match action {
        Action::Write { path, content } => {
            let mut args = Map::new();
            args.insert(path_parameter(body, "write_file"), json!(path));
            args.insert("content".into(), json!(content));
            json!({ "functionCall": { "name": "write_file", "args": args } })
        }
        Action::Read { path } => {
            let mut args = Map::new();
            args.insert(path_parameter(body, "read_file"), json!(path));
            json!({ "functionCall": { "name": "read_file", "args": args } })
        }
        Action::Say(text) => json!({ "text": text }),
    }
}
