//! devflow-model-stub: a local model service that the real agent CLIs talk to in devflow's tests.
//!
//! It speaks four wire protocols, each the way its CLI asks for it — the Anthropic Messages API
//! (Claude Code), the OpenAI Responses API (Codex CLI), Gemini's `generateContent` family (Gemini
//! CLI) and OpenAI chat completions (Aider) — and answers every prompt with that CLI's own
//! file-writing tool call, then, once the tool's result comes back, with a short final text.
//!
//! # What the model does: the script in the prompt
//!
//! The stub decides from the prompt text alone, never from anything devflow adds for it. It
//! reads its script only in the workflow's instructions: the text before the first line that
//! opens with "The artifact must validate against this JSON Schema" ([`script::SCHEMA_INTRO`],
//! where devflow's prompt goes on with the schema in a ```` ```json ```` block of its own).
//!
//! - `Artifact: /abs/path` — the file to write (the last such line of the whole prompt;
//!   devflow's prompt layout).
//! - the first fenced block of the instructions opened by exactly ```` ```json ```` — the valid
//!   artifact, written verbatim. Without one, `{}` is written.
//! - `Model-Script: STEP, STEP, …` — what the n-th prompt naming that artifact path gets, counted
//!   by the stub per path across every API and conversation; the last step repeats. Steps: `ok`
//!   (the json block), `invalid` (text that is not JSON, so invalid under any schema), `none`
//!   (write nothing, answer only with text). Without the line every prompt gets `ok`. A repair
//!   prompt needs neither the line nor the block: the directions of the first prompt that named
//!   the path are remembered.
//!
//! So `Model-Script: invalid, ok` makes the first prompt for a path write an invalid artifact
//! and the repair prompt a valid one.
//!
//! # The ground truth: what the model received
//!
//! Every *new* user prompt — the last message of a request that offers the file-writing tool,
//! when it is the user's text (not a tool result, not the history repeated in later requests) —
//! is appended to the log as one JSON line: `at_ms`, `api`, `prompt`, `marker` (the first
//! `devflow-prompt <16 hex digits>` in the text, or null), `artifact`, `conversation` (the CLI's
//! session id where its requests carry one) and `ordinal` (how many user prompts came before it
//! in that request). A request repeated by its client (same api, conversation, ordinal and
//! text, where the conversation is known) is not logged twice.

#![allow(clippy::disallowed_methods)] // A test double of the model service, not devflow: it keeps its own clock.

pub mod anthropic;
pub mod capture;
pub mod chat;
pub mod fill;
pub mod gemini;
pub mod journal;
pub mod responses;
pub mod script;
pub mod sse;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{any, post};

pub use journal::{Action, Journal, Turn};

/// What every handler shares.
#[derive(Debug)]
pub struct Stub {
    pub journal: Journal,
    /// `--capture DIR`: every request, as received, one JSON file each.
    pub capture: Option<capture::Capture>,
}

impl Stub {
    pub fn new(log: Option<PathBuf>, capture_dir: Option<PathBuf>) -> Stub {
        Stub { journal: Journal::new(log), capture: capture_dir.map(capture::Capture::new) }
    }
}

/// Every route the four CLIs use; anything else is answered minimally (see [`capture::fallback`]).
pub fn router(stub: Arc<Stub>) -> Router {
    Router::new()
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/models", any(capture::models))
        .route("/v1/responses", post(responses::responses))
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1beta/models/{call}", post(gemini::call))
        .fallback(capture::fallback)
        // A CLI's request carries its whole conversation: more than axum's default 2 MB.
        .layer(axum::extract::DefaultBodyLimit::max(capture::BODY_MAX_BYTES))
        .layer(axum::middleware::from_fn_with_state(stub.clone(), capture::record))
        .with_state(stub)
}
