//! The Anthropic Messages API, as Claude Code calls it: `POST /v1/messages` (streamed as
//! server-sent events when it asks), `POST /v1/messages/count_tokens`.
//!
//! A request that offers the `Write` tool is the agent's turn; any other (a title, a topic
//! check) is answered with a short text and is not a prompt.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::journal::{Action, Call, CallKind, PromptAt, Turn};
use crate::{Stub, sse};

pub const API: &str = "anthropic.messages";

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub async fn messages(State(stub): State<Arc<Stub>>, Json(body): Json<Value>) -> Response {
    let action = match read_turn(&body) {
        Some(turn) => stub.journal.answer(API, turn),
        None => Action::Say("Stub.".to_owned()),
    };
    let model = body["model"].as_str().unwrap_or("stub-model").to_owned();
    if body["stream"].as_bool().unwrap_or(false) {
        stream(&model, &action)
    } else {
        Json(message(&model, &action)).into_response()
    }
}

pub async fn count_tokens(Json(body): Json<Value>) -> Json<Value> {
    Json(json!({ "input_tokens": body.to_string().len() / 4 }))
}

/// The agent's turn, or `None` for a request without the `Write` tool.
pub fn read_turn(body: &Value) -> Option<Turn> {
    let tools = body["tools"].as_array()?;
    if !tools.iter().any(|tool| tool["name"] == "Write") {
        return None;
    }
    // Claude Code puts `system` messages of its own among the conversation's turns.
    let messages: Vec<&Value> = body["messages"]
        .as_array()?
        .iter()
        .filter(|message| message["role"] == "user" || message["role"] == "assistant")
        .collect();
    let prompts: Vec<usize> = (0..messages.len()).filter(|&i| is_prompt(messages[i])).collect();
    let &last_prompt = prompts.last()?;
    let prompt = PromptAt {
        text: prompt_text(messages[last_prompt]),
        ordinal: prompts.len() - 1,
        conversation: body["metadata"]["user_id"].as_str().map(str::to_owned),
    };
    if last_prompt == messages.len() - 1 {
        return Some(Turn::Prompt(prompt));
    }
    Some(Turn::AfterTools { prompt, calls: calls(&messages[last_prompt + 1..]) })
}

/// A user message with text and no tool result.
fn is_prompt(message: &Value) -> bool {
    if message["role"] != "user" {
        return false;
    }
    match &message["content"] {
        Value::String(_) => true,
        Value::Array(blocks) => !blocks.iter().any(|block| block["type"] == "tool_result"),
        _ => false,
    }
}

/// The user's text: its text blocks, without the `<system-reminder>` blocks Claude Code adds
/// and without the `<pasted_content id="N">` wrapper it puts around a paste.
fn prompt_text(message: &Value) -> String {
    let text = match &message["content"] {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|block| block["type"] == "text")
            .filter_map(|block| block["text"].as_str())
            .filter(|text| !text.trim_start().starts_with("<system-reminder>"))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    unwrap_paste(&text).unwrap_or(text)
}

/// The text inside `<pasted_content id="N">\n…\n</pasted_content id="N">`, when that is all.
fn unwrap_paste(text: &str) -> Option<String> {
    const OPEN: &str = "<pasted_content id=\"";
    let trimmed = text.trim_matches('\n');
    let after_open = trimmed.strip_prefix(OPEN)?;
    let (id, rest) = after_open.split_once("\">")?;
    let inner = rest.strip_suffix(&format!("</pasted_content id=\"{id}\">"))?;
    let inner = inner.strip_prefix('\n').unwrap_or(inner);
    Some(inner.strip_suffix('\n').unwrap_or(inner).to_owned())
}

/// The model's tool calls after the prompt, each with its result.
fn calls(after_prompt: &[&Value]) -> Vec<Call> {
    let blocks = || after_prompt.iter().filter_map(|m| m["content"].as_array()).flatten();
    let mut calls = Vec::new();
    for tool_use in blocks().filter(|block| block["type"] == "tool_use") {
        let result = blocks()
            .find(|block| block["type"] == "tool_result" && block["tool_use_id"] == tool_use["id"]);
        let kind = match tool_use["name"].as_str() {
            Some("Write") => CallKind::Write,
            Some("Read") => CallKind::Read,
            _ => CallKind::Other,
        };
        let failed = result.is_none_or(|r| r["is_error"].as_bool().unwrap_or(false));
        let output = result.map(|r| result_text(&r["content"])).unwrap_or_default();
        calls.push(Call { kind, failed, output });
    }
    calls
}

fn result_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|part| part["text"].as_str()).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

/// The content block of an action: a `tool_use` of `Write` or `Read`, or text.
fn block(action: &Action) -> Value {
    let id = format!("toolu_stub{:08}", NEXT_ID.fetch_add(1, Ordering::SeqCst));
    match action {
        Action::Write { path, content } => json!({
            "type": "tool_use", "id": id, "name": "Write",
            "input": { "file_path": path, "content": content },
        }),
        Action::Read { path } => json!({
            "type": "tool_use", "id": id, "name": "Read", "input": { "file_path": path },
        }),
        Action::Say(text) => json!({ "type": "text", "text": text }),
    }
}

fn stop_reason(action: &Action) -> &'static str {
    if matches!(action, Action::Say(_)) { "end_turn" } else { "tool_use" }
}

fn usage() -> Value {
    json!({ "input_tokens": 10, "output_tokens": 10, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0 })
}

fn message_id() -> String {
    format!("msg_stub{:08}", NEXT_ID.fetch_add(1, Ordering::SeqCst))
}

/// The whole message, for a request that did not ask for a stream.
pub fn message(model: &str, action: &Action) -> Value {
    json!({
        "id": message_id(), "type": "message", "role": "assistant", "model": model,
        "content": [block(action)], "stop_reason": stop_reason(action), "stop_sequence": null,
        "usage": usage(),
    })
}

/// The same message as Messages API stream events.
pub fn stream(model: &str, action: &Action) -> Response {
    let block = block(action);
    let (start, delta) = match &block["type"] {
        t if t == "tool_use" => {
            let mut start = block.clone();
            start["input"] = json!({});
            let partial = block["input"].to_string();
            (start, json!({ "type": "input_json_delta", "partial_json": partial }))
        }
        _ => (
            json!({ "type": "text", "text": "" }),
            json!({ "type": "text_delta", "text": block["text"] }),
        ),
    };
    let started = json!({
        "id": message_id(), "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "stop_sequence": null, "usage": usage(),
    });
    sse::stream(&[
        (Some("message_start"), json!({ "type": "message_start", "message": started })),
        (
            Some("content_block_start"),
            json!({ "type": "content_block_start", "index": 0, "content_block": start }),
        ),
        (
            Some("content_block_delta"),
            json!({ "type": "content_block_delta", "index": 0, "delta": delta }),
        ),
        (Some("content_block_stop"), json!({ "type": "content_block_stop", "index": 0 })),
        (
            Some("message_delta"),
            json!({
                "type": "message_delta",
                "delta": { "stop_reason": stop_reason(action), "stop_sequence": null },
                "usage": { "output_tokens": 10 },
            }),
        ),
        (Some("message_stop"), json!({ "type": "message_stop" })),
    ])
}
