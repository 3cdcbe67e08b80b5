//! devflow-session: the agents, each in its terminal — one trait, a scripted fake, tmux.
//!
//! A phase starts, prompts, probes, recovers and disposes an agent through [`SessionAdapter`].
//! This crate does not know the database: [`SessionAdapter::capture`] returns transcript chunks,
//! and the phase crate stores them. Every error is a [`devflow_core::Error`]: recoverable adapter
//! failures are `session_unavailable`, fatal ones `session_backend_failed`, a missing tmux
//! `tmux_missing`, a session that no longer exists `session_not_found`.
//!
//! Two ways to run an agent, and the program that plays one:
//!
//! - [`fake::FakeAdapter`]: in-process, scripted by the vocabulary below, its sessions and a
//!   delivery log persisted in a directory so that a restarted process finds them again and
//!   tests can prove "exactly once" ([`fake::FakeAdapter::deliveries`]).
//! - [`tmux::TmuxAdapter`]: the real backend, on devflow's private tmux server (own socket, own
//!   config); the only code of devflow that starts tmux. What it knows of each agent CLI — when
//!   its input is ready, its dialogs, how a paste shows — is a [`preset`].
//! - agent-sim (the `devflow-agent-sim` crate, `devflow agent-sim`): not an adapter but the
//!   program an adapter can run in a pane — a terminal app that behaves like an agent and
//!   follows the same vocabulary ([`scenario`] is what the two share).
//!
//! # The scenario vocabulary
//!
//! The fake adapter and `devflow agent-sim` both play agents scripted by lines of the prompt
//! (or, for session-wide directives of the fake, of [`SessionSpec::instructions`]). They read
//! only the workflow's own instructions ([`scenario::directions`]): the text before the first
//! line that opens with [`SCHEMA_INTRO`], where devflow's runner begins the paragraph that gives
//! the schema in a ```` ```json ```` block — the runner's prompt is written for real agents and
//! knows nothing of the doubles; finding their directions in it is the doubles' business. A
//! line is a directive when it starts (after leading blanks) with one of the keys below; the
//! first line of each kind wins; lines inside fenced code blocks are not directives; names
//! outside the vocabulary are ignored.
//!
//! | line | meaning |
//! | --- | --- |
//! | `Scenario: ok` (default) | writes the valid artifact: the first fenced block whose info string is exactly `json`, or `{}` |
//! | `Scenario: invalid` | writes `{"devflowFakeInvalid": true}`, or the first block fenced as `json invalid` |
//! | `Scenario: malformed` | writes `{"truncated": ` (not JSON) |
//! | `Scenario: none` | writes nothing, stays alive and keeps producing output |
//! | `Scenario: hang` | writes nothing and goes silent (alive, last output far in the past) |
//! | `Scenario: crash` | writes nothing and dies (agent-sim exits with status 3) |
//! | `Scenario: slow` | writes the valid artifact in at least 3 chunks, in place, over `Slow-Ms` |
//! | `Slow-Ms: N` | how long slow takes (default 300) |
//! | `Repair-Scenario: <name>` | the scenario a repair prompt plays (one whose first line is devflow's repair line, `REPAIR_LINE`); `ok` when absent. devflow repeats the instructions unchanged: the doubles tell a repair themselves |
//! | `Fail-Start:`, `Fail-Send:`, `Fail-Resume:`, `Fail-Rebootstrap:`, `Fail-Probe:` followed by `recoverable N` / `fatal` | fake only: the operation fails N times (counted per session and operation) with `session_unavailable` and then succeeds, or always fails with `session_backend_failed` |
//! | `Fail-Send: unverified` | fake only: the first send of each prompt pastes it and never submits it (`prompt_delivery_unverified`); `locate_prompt` finds it `Pending`, `submit_pending` delivers it |
//! | `Fail-Send: unknowable` | fake only: the first send of each prompt pastes it and cannot tell what came of it (`prompt_delivery_unverified`); `locate_prompt` answers `Unknown` |
//! | `Fail-Send: needs-input N` | fake only: the first N sends of the session (default 1) find a dialog instead of the input box: `agent_needs_input`, nothing pasted |
//! | `Probe: readiness-unknown` | fake only: probes carry the hint `tmux_liveness_only` |
//!
//! Artifacts go to the envelope's expected artifact path (for agent-sim: the prompt's last
//! `Artifact:` line, see [`render_prompt`]), relative paths against the session's working
//! directory. ok, invalid and malformed write atomically (temporary file, then rename).
//!
//! The fake reads `Fail-Start:` from the spec's instructions; `Fail-Resume:`,
//! `Fail-Rebootstrap:`, `Fail-Probe:` and `Probe:` from the latest prompt delivered, falling back
//! to the spec's instructions; `Fail-Send:` and the scenario from the prompt being sent.

mod adapter;
mod ansi;
pub mod cli_version;
pub mod fake;
pub mod preset;
mod prompt;
pub mod scenario;
pub mod tmux;
mod transcript;

pub use adapter::{
    AgentCommand, HINT_LIVENESS_ONLY, ProbeResult, PromptLocation, PromptReceipt, SessionAdapter,
    SessionHandle, SessionSpec, is_session_hung, now_ms,
};
pub use ansi::strip_ansi;
pub use devflow_core::{Error, Result};
pub use prompt::{
    ARTIFACT_LINE, MARKER_PREFIX, REPAIR_LINE, SCHEMA_INTRO, SCHEMA_LINE, artifact_path_of,
    is_repair, prompt_marker, render_prompt,
};
pub use transcript::{CAPTURE_BYTES_MAX, Capture, TranscriptChunk};
