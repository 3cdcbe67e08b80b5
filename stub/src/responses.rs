//! The OpenAI Responses API, streamed, as Codex CLI calls it (`POST /v1/responses`, its
//! `model_providers` entry with `wire_api = "responses"`).
//!
//! Codex writes files with its shell tool; the stub finds that tool in the request's `tools`
//! and calls it with a heredoc, in the argument shape the tool declares.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::journal::{Action, Call, CallKind, PromptAt, Turn};
use crate::{Stub, sse};

pub const API: &str = "openai.responses";

/// The names Codex has given its shell tool over its versions.
const SHELL_TOOLS: [&str; 4] = ["exec_command", "shell_command", "shell", "container.exec"];
/// User messages Codex adds of its own; they are context, not prompts.
const CONTEXT_PREFIXES: [&str; 4] =
    ["<environment_context>", "<user_instructions>", "# AGENTS.md", "<permissions"];

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub async fn responses(State(stub): State<Arc<Stub>>, Json(body): Json<Value>) -> Response {
    let shell = shell_tool(&body);
    let action = match (&shell, read_turn(&body)) {
        (Some(_), Some(turn)) => stub.journal.answer(API, turn),
        // A side request with a JSON answer format (Codex's thread title).
        _ if body["text"]["format"]["type"] == "json_schema" => {
            Action::Say(crate::fill::fill(&body["text"]["format"]["schema"]).to_string())
        }
        _ => Action::Say("Stub.".to_owned()),
    };
    let item = output_item(shell.as_ref(), &action);
    if body["stream"].as_bool().unwrap_or(false) {
        stream(item)
    } else {
        let id = next_id("resp");
        Json(json!({ "id": id, "object": "response", "status": "completed", "output": [item], "usage": usage() }))
            .into_response()
    }
}

/// The shell tool the request offers: its name and its parameters' schema.
pub fn shell_tool(body: &Value) -> Option<(String, Value)> {
    body["tools"].as_array()?.iter().find_map(|tool| {
        let name = tool["name"].as_str()?;
        SHELL_TOOLS.contains(&name).then(|| (name.to_owned(), tool["parameters"].clone()))
    })
}

/// Where the request stands: after the last user prompt, or after the tool calls that followed.
pub fn read_turn(body: &Value) -> Option<Turn> {
    let input = body["input"].as_array()?;
    let prompts: Vec<usize> =
        (0..input.len()).filter(|&i| prompt_of(&input[i]).is_some()).collect();
    let &last = prompts.last()?;
    let prompt = PromptAt {
        text: prompt_of(&input[last])?,
        ordinal: prompts.len() - 1,
        conversation: body["prompt_cache_key"].as_str().map(str::to_owned),
    };
    if input[last + 1..].iter().all(|item| item["type"] != "function_call_output") {
        return Some(Turn::Prompt(prompt));
    }
    Some(Turn::AfterTools { prompt, calls: calls(&input[last + 1..]) })
}

/// The text of a user message that is a prompt (not Codex's own context).
fn prompt_of(item: &Value) -> Option<String> {
    if item["role"] != "user" || item["type"].as_str().is_some_and(|t| t != "message") {
        return None;
    }
    let text = match &item["content"] {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|part| part["type"] == "input_text")
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => return None,
    };
    let context = CONTEXT_PREFIXES.iter().any(|prefix| text.trim_start().starts_with(prefix));
    (!context).then_some(text)
}

fn calls(after_prompt: &[Value]) -> Vec<Call> {
    let mut calls = Vec::new();
    for call in after_prompt.iter().filter(|item| item["type"] == "function_call") {
        let output = after_prompt
            .iter()
            .find(|item| {
                item["type"] == "function_call_output" && item["call_id"] == call["call_id"]
            })
            .map(|item| output_text(&item["output"]));
        let failed = output.as_deref().is_none_or(exit_failed);
        let kind = if SHELL_TOOLS.contains(&call["name"].as_str().unwrap_or("")) {
            CallKind::Write
        } else {
            CallKind::Other
        };
        calls.push(Call { kind, failed, output: output.unwrap_or_default() });
    }
    calls
}

fn output_text(output: &Value) -> String {
    match output {
        Value::String(text) => text.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|part| part["text"].as_str()).collect::<Vec<_>>().join("\n")
        }
        other => other.to_string(),
    }
}

/// Codex reports a command's end as "Process exited with code N" or "Exit code: N".
fn exit_failed(output: &str) -> bool {
    let code = ["exited with code ", "Exit code: "]
        .iter()
        .find_map(|prefix| output.split(prefix).nth(1))
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect::<String>());
    code.is_some_and(|code| code != "0")
}

/// The shell script that writes `content` to `path`.
pub fn write_script(path: &str, content: &str) -> String {
    let quoted = format!("'{}'", path.replace('\'', r"'\''"));
    format!(
        "mkdir -p \"$(dirname {quoted})\" && cat > {quoted} <<'DEVFLOW_STUB_EOF'\n{content}DEVFLOW_STUB_EOF"
    )
}

/// The arguments for the shell tool, in the shape its parameters declare.
fn shell_arguments(parameters: &Value, script: &str) -> Value {
    let properties = &parameters["properties"];
    if properties.get("cmd").is_some() {
        json!({ "cmd": script })
    } else if properties["command"]["type"] == "string" {
        json!({ "command": script })
    } else {
        json!({ "command": ["bash", "-lc", script] })
    }
}

fn output_item(shell: Option<&(String, Value)>, action: &Action) -> Value {
    let script = match action {
        Action::Write { path, content } => write_script(path, content),
        Action::Read { path } => format!("cat '{}'", path.replace('\'', r"'\''")),
        Action::Say(text) => {
            return json!({
                "type": "message", "id": next_id("msg"), "role": "assistant", "status": "completed",
                "content": [{ "type": "output_text", "text": text, "annotations": [] }],
            });
        }
    };
    let (name, parameters) =
        shell.expect("a tool call is only chosen when the shell tool is offered");
    json!({
        "type": "function_call", "id": next_id("fc"), "call_id": next_id("call"), "status": "completed",
        "name": name, "arguments": shell_arguments(parameters, &script).to_string(),
    })
}

fn usage() -> Value {
    json!({
        "input_tokens": 10, "input_tokens_details": { "cached_tokens": 0 },
        "output_tokens": 10, "output_tokens_details": { "reasoning_tokens": 0 }, "total_tokens": 20,
    })
}

fn next_id(prefix: &str) -> String {
    format!("{prefix}_stub{:08}", NEXT_ID.fetch_add(1, Ordering::SeqCst))
}

fn stream(item: Value) -> Response {
    let id = next_id("resp");
    let mut events = vec![
        (
            Some("response.created"),
            json!({ "type": "response.created", "response": { "id": id, "status": "in_progress" } }),
        ),
        (
            Some("response.output_item.added"),
            json!({ "type": "response.output_item.added", "output_index": 0, "item": item }),
        ),
    ];
    if let Some(text) = item["content"][0]["text"].as_str() {
        events.push((
            Some("response.output_text.delta"),
            json!({ "type": "response.output_text.delta", "item_id": item["id"], "output_index": 0, "content_index": 0, "delta": text }),
        ));
    }
    events.push((
        Some("response.output_item.done"),
        json!({ "type": "response.output_item.done", "output_index": 0, "item": item }),
    ));
    events.push((
        Some("response.completed"),
        json!({ "type": "response.completed", "response": { "id": id, "status": "completed", "output": [item], "usage": usage() } }),
    ));
    sse::stream(&events)
}
