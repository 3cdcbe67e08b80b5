//! OpenAI chat completions, as Aider calls them through litellm (`--openai-api-base`), streamed
//! or not as asked. Aider (`--edit-format whole`) writes a file from a whole-file block in the
//! reply: the file's path on a line, then the complete content in a fence.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::journal::{Action, PromptAt, Turn};
use crate::{Stub, sse};

pub const API: &str = "openai.chat_completions";

/// How the reminder starts that Aider appends to the user's message (edit format `whole`).
const REMINDER_START: &str = "\n\nTo suggest changes to a file you MUST return";

/// Aider's own side requests (a chat summary, a commit message) are no prompts.
const SIDE_REQUEST_MARKS: [&str; 2] = ["summariz", "commit message"];

pub async fn completions(State(stub): State<Arc<Stub>>, Json(body): Json<Value>) -> Response {
    let text = match read_turn(&body) {
        Some(turn) => reply(&stub.journal.answer(API, turn)),
        None => "Stub.".to_owned(),
    };
    let model = body["model"].as_str().unwrap_or("stub-model").to_owned();
    if body["stream"].as_bool().unwrap_or(false) {
        stream(&model, &text)
    } else {
        Json(json!({
            "id": "chatcmpl-stub", "object": "chat.completion", "created": now_s(), "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": text }, "finish_reason": "stop" }],
            "usage": { "prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20 },
        }))
        .into_response()
    }
}

/// Every user message is a prompt (Aider has no tool turns): the last one, unless the request is
/// one of Aider's side requests.
pub fn read_turn(body: &Value) -> Option<Turn> {
    let messages = body["messages"].as_array()?;
    let system = messages
        .iter()
        .filter(|m| m["role"] == "system")
        .map(|m| text_of(&m["content"]).to_lowercase())
        .collect::<String>();
    if SIDE_REQUEST_MARKS.iter().any(|mark| system.contains(mark)) {
        return None;
    }
    let last = messages.last()?;
    if last["role"] != "user" {
        return None;
    }
    let ordinal = messages.iter().filter(|m| m["role"] == "user").count() - 1;
    let mut text = text_of(&last["content"]);
    if let Some(at) = text.find(REMINDER_START) {
        text.truncate(at);
    }
    Some(Turn::Prompt(PromptAt { text, ordinal, conversation: None }))
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|part| part["text"].as_str()).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

/// A whole-file edit block in Aider's format, or the text.
pub fn reply(action: &Action) -> String {
    match action {
        Action::Write { path, content } => {
            format!("I am writing the artifact.\n\n{path}\n```\n{content}```\n")
        }
        Action::Read { path } => format!("Please add {path} to the chat."),
        Action::Say(text) => text.clone(),
    }
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn stream(model: &str, text: &str) -> Response {
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": now_s(), "model": model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        })
    };
    let mut body = String::new();
    for data in [
        chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
        chunk(json!({ "content": text }), Value::Null),
        chunk(json!({}), json!("stop")),
    ] {
        body.push_str(&format!("data: {data}\n\n"));
    }
    body.push_str("data: [DONE]\n\n");
    sse::raw(body)
}
