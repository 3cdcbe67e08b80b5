//! Each CLI's requests, as captured from the real CLI, answered with its own file-writing tool
//! call, then with a final text; the log holds each prompt once.

use serde_json::{Value, json};

use crate::support::{World, fixture};

const INVALID: &str = "{\"devflow_model_stub\": \"an invalid artifact\"\n";
const MARKER: &str = "devflow-prompt 0123456789abcdef";

/// The one logged prompt of a first exchange: the marker, the text as pasted, nothing added.
fn assert_logged_once(world: &World, api: &str) {
    let log = world.log();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["api"], api);
    assert_eq!(log[0]["marker"], MARKER);
    let prompt = log[0]["prompt"].as_str().unwrap();
    assert!(prompt.starts_with(MARKER), "the prompt as pasted, nothing before it: {prompt:?}");
    assert!(prompt.ends_with("Schema: plan.schema.json"), "nothing after it: {prompt:?}");
    assert!(log[0]["at_ms"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn claude_code_gets_a_write_tool_use_then_a_final_text() {
    let world = World::new();
    let answer =
        world.post("/v1/messages?beta=true", &fixture("claude", "request-1-prompt.json")).await;
    let events = answer.events();
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(events[1].1["content_block"]["name"], "Write");
    let input: Value =
        serde_json::from_str(events[2].1["delta"]["partial_json"].as_str().unwrap()).unwrap();
    assert_eq!(
        input,
        json!({ "file_path": "/tmp/agx/claude1/wt/out/plan.json", "content": INVALID })
    );
    assert_eq!(events[4].1["delta"]["stop_reason"], "tool_use");

    let done = world
        .post("/v1/messages?beta=true", &fixture("claude", "request-2-after-write.json"))
        .await;
    let events = done.events();
    assert!(events[2].1["delta"]["text"].as_str().unwrap().starts_with("Done"), "{events:?}");
    assert_eq!(events[4].1["delta"]["stop_reason"], "end_turn");
    assert_logged_once(&world, "anthropic.messages");
}

#[tokio::test]
async fn claude_code_retrying_a_request_is_one_prompt_and_an_empty_turn_is_another() {
    let world = World::new();
    let prompt = fixture("claude", "request-1-prompt.json");
    world.post("/v1/messages", &prompt).await;
    world.post("/v1/messages", &prompt).await;
    assert_eq!(world.log().len(), 1, "same conversation, ordinal and text: a retry");
    // Enter pressed while the tool ran: Claude Code sent an empty user turn, which the model saw.
    world.post("/v1/messages", &fixture("claude", "request-3-empty-after-interrupt.json")).await;
    let log = world.log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1]["prompt"], "(no content)");
    assert_eq!(log[1]["marker"], Value::Null);
}

#[tokio::test]
async fn claude_code_side_requests_without_the_write_tool_are_no_prompts() {
    let world = World::new();
    let mut body = fixture("claude", "request-1-prompt.json");
    body["tools"] = json!([]);
    body["stream"] = json!(false);
    let answer = world.post("/v1/messages", &body).await.json();
    assert_eq!(answer["content"][0]["type"], "text");
    let tokens = world.post("/v1/messages/count_tokens", &body).await.json();
    assert!(tokens["input_tokens"].as_u64().unwrap() > 0);
    assert!(world.log().is_empty());
}

#[tokio::test]
async fn codex_gets_an_exec_command_heredoc_then_a_final_text() {
    let world = World::new();
    let answer = world.post("/v1/responses", &fixture("codex", "request-1-prompt.json")).await;
    let events = answer.events();
    let done = events
        .iter()
        .find(|(name, _)| name.as_deref() == Some("response.output_item.done"))
        .unwrap();
    let item = &done.1["item"];
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["name"], "exec_command");
    let arguments: Value = serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
    let script = arguments["cmd"].as_str().unwrap();
    assert!(
        script.contains("cat > '/tmp/agx/codex1/wt/out/plan.json' <<'DEVFLOW_STUB_EOF'\n"),
        "{script}"
    );
    assert!(script.ends_with(&format!("\n{INVALID}DEVFLOW_STUB_EOF")), "{script}");
    assert_eq!(events.last().unwrap().0.as_deref(), Some("response.completed"));

    let title = world.post("/v1/responses", &fixture("codex", "request-2-title.json")).await;
    let text = title.events()[2].1["delta"].as_str().unwrap().to_owned();
    let title: Value = serde_json::from_str(&text).unwrap();
    assert!(title["title"].is_string(), "the thread title fills its schema: {text}");

    let after = world.post("/v1/responses", &fixture("codex", "request-3-after-exec.json")).await;
    let events = after.events();
    let done = events
        .iter()
        .find(|(name, _)| name.as_deref() == Some("response.output_item.done"))
        .unwrap();
    assert!(done.1["item"]["content"][0]["text"].as_str().unwrap().starts_with("Done"));
    assert_logged_once(&world, "openai.responses");
}

#[tokio::test]
async fn codex_a_failed_command_is_reported_not_retried() {
    let world = World::new();
    world.post("/v1/responses", &fixture("codex", "request-1-prompt.json")).await;
    let mut after = fixture("codex", "request-3-after-exec.json");
    let output = after["input"].as_array_mut().unwrap().last_mut().unwrap();
    output["output"] = json!(
        "Chunk ID: 1\nWall time: 0.0 seconds\nProcess exited with code 1\nOutput:\nread-only file system\n"
    );
    let events = world.post("/v1/responses", &after).await.events();
    let text = events[2].1["delta"].as_str().unwrap();
    assert!(text.contains("read-only file system"), "{text}");
}

#[tokio::test]
async fn gemini_routes_then_gets_a_write_file_call_then_a_final_text() {
    let world = World::new();
    let routing = world
        .post(
            "/v1beta/models/gemini-3.5-flash-lite:generateContent",
            &fixture("gemini", "request-1-routing.json"),
        )
        .await
        .json();
    let text = routing["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap();
    let choice: Value = serde_json::from_str(text).unwrap();
    assert!(
        choice["complexity_score"].is_number() && choice["complexity_reasoning"].is_string(),
        "{text}"
    );
    assert!(world.log().is_empty(), "the routing request is no prompt");

    let uri = "/v1beta/models/gemini-3.1-pro-preview:streamGenerateContent?alt=sse";
    let events = world.post(uri, &fixture("gemini", "request-2-prompt.json")).await.events();
    assert_eq!(events.len(), 1);
    let call = &events[0].1["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(call["name"], "write_file");
    assert_eq!(
        call["args"],
        json!({ "file_path": "/tmp/agx/gemini1/wt/out/plan.json", "content": INVALID })
    );

    let events = world.post(uri, &fixture("gemini", "request-3-after-write.json")).await.events();
    let text = events[0].1["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Done"), "{text}");
    let tokens =
        world.post("/v1beta/models/x:countTokens", &json!({ "contents": [] })).await.json();
    assert!(tokens["totalTokens"].is_number());
    assert_logged_once(&world, "gemini.generate_content");
}

#[tokio::test]
async fn aider_gets_a_whole_file_listing_streamed_or_not() {
    let world = World::new();
    let answer =
        world.post("/v1/chat/completions", &fixture("aider", "request-1-prompt.json")).await;
    let events = answer.events();
    assert_eq!(events.last().unwrap().1, Value::Null, "the stream ends with [DONE]");
    let text: String = events
        .iter()
        .filter_map(|(_, data)| data["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(
        text.contains(&format!("\n/tmp/agx/aider1/wt/out/plan.json\n```\n{INVALID}```\n")),
        "{text}"
    );
    assert_logged_once(&world, "openai.chat_completions");

    // The second prompt names the same path and brings its own ```json block: written as is.
    let mut second = fixture("aider", "request-2-second-prompt.json");
    second["stream"] = json!(false);
    let answer = world.post("/v1/chat/completions", &second).await.json();
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.contains(
            "```\n{\"title\": \"plan 0\", \"steps\": [\"one\", \"two\", \"three\"]}\n```"
        ),
        "{content}"
    );
    assert_eq!(world.log().len(), 2);
}

#[tokio::test]
async fn two_phases_with_one_repair_across_apis() {
    // The planner's artifact is invalid once, then valid; the reviewer's valid at once.
    let world = World::new();
    let plan = "Plan it.\nModel-Script: invalid, ok\n```json\n{\"title\": \"p\"}\n```\nArtifact: /w/plan.json";
    let review = "Review it.\n```json\n{\"verdict\": \"ok\"}\n```\nArtifact: /w/review.json";
    let repair =
        "Repair the artifact so it conforms to the expected schema.\nArtifact: /w/plan.json";
    let chat =
        |text: &str| json!({ "model": "m", "messages": [{ "role": "user", "content": text }] });
    let content =
        |answer: Value| answer["choices"][0]["message"]["content"].as_str().unwrap().to_owned();
    assert!(
        content(world.post("/v1/chat/completions", &chat(plan)).await.json())
            .contains("an invalid artifact")
    );
    assert!(
        content(world.post("/v1/chat/completions", &chat(repair)).await.json())
            .contains("{\"title\": \"p\"}")
    );
    assert!(
        content(world.post("/v1/chat/completions", &chat(review)).await.json())
            .contains("{\"verdict\": \"ok\"}")
    );
    let artifacts: Vec<Value> = world.log().iter().map(|line| line["artifact"].clone()).collect();
    assert_eq!(artifacts, [json!("/w/plan.json"), json!("/w/plan.json"), json!("/w/review.json")]);
}

#[tokio::test]
async fn unknown_routes_get_a_minimal_answer() {
    let world = World::new();
    let request = axum::http::Request::head("/api/hello").body(axum::body::Body::empty()).unwrap();
    assert_eq!(world.send(request).await.status, 200, "Claude Code's HEAD check must not wait");
    let models = world
        .send(axum::http::Request::get("/v1/models").body(axum::body::Body::empty()).unwrap())
        .await;
    assert_eq!(models.json()["data"][0]["id"], "stub-model");
    assert_eq!(world.post("/v2/unknown", &json!({})).await.status, 404);
}

#[tokio::test]
async fn a_long_conversation_is_read_whole() {
    // Beyond axum's default limit of 2 MB: a CLI sends its whole history every turn.
    let world = World::new();
    let history = "x".repeat(3 * 1024 * 1024);
    let body = json!({ "model": "m", "messages": [
        { "role": "user", "content": history },
        { "role": "assistant", "content": "ok" },
        { "role": "user", "content": "Write it.\nArtifact: /w/a.json" },
    ]});
    let answer = world.post("/v1/chat/completions", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(world.log()[0]["ordinal"], 1);
}
