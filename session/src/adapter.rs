//! The session adapter trait and the values that cross it: spec, handle, probe result, receipt.

use std::path::PathBuf;

use async_trait::async_trait;
use devflow_core::{PromptEnvelope, Result};

use crate::Capture;

/// What a session is started with.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// Reserved by the caller with [`SessionAdapter::reserve_session_id`].
    pub session_id: String,
    pub run_id: String,
    pub role_id: String,
    /// The worktree; the agent's working directory and the base of relative artifact paths.
    pub cwd: PathBuf,
    /// What to launch in the pane (ignored by the fake).
    pub command: AgentCommand,
    pub env: Vec<(String, String)>,
    pub expected_artifact_path: String,
    pub expected_schema: String,
    /// The first instructions the session is started for. The fake reads its `Fail-Start:`
    /// line (and the other session-wide directives) from it; tmux ignores it.
    pub instructions: String,
}

/// The agent program of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentCommand {
    /// Executed directly, no shell involved.
    Argv(Vec<String>),
    /// Runs via `sh -c`.
    Shell(String),
}

impl AgentCommand {
    /// The argv that runs this command: `Shell` goes through `sh -c`.
    pub fn to_argv(&self) -> Vec<String> {
        match self {
            AgentCommand::Argv(argv) => argv.clone(),
            AgentCommand::Shell(script) => vec!["sh".into(), "-c".into(), script.clone()],
        }
    }
}

/// Where a session lives. Built by `start`, persisted by the phase runner (tmux session, window,
/// pane, last known pane pid), and rebuilt from that row after a restart to `resume` it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionHandle {
    pub session_id: String,
    pub tmux_session: Option<String>,
    /// Window id `@N`.
    pub tmux_window: Option<String>,
    /// Pane id `%N`.
    pub tmux_pane: Option<String>,
    pub pane_pid: Option<i64>,
}

impl SessionHandle {
    /// A handle that knows only the session id (the fake needs no more).
    pub fn for_session(session_id: impl Into<String>) -> SessionHandle {
        SessionHandle { session_id: session_id.into(), ..SessionHandle::default() }
    }
}

/// What a probe saw.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    /// The agent process runs.
    pub alive: bool,
    /// The pane (or the fake's session) still exists and can take input or be respawned.
    pub pane_active: bool,
    /// Epoch ms of the last screen change seen; `None` when unknown.
    pub last_output_at_ms: Option<i64>,
    /// [`HINT_LIVENESS_ONLY`] means readiness is unknown; anything else is a note for a person.
    pub hint: Option<String>,
}

/// The probe hint that says the backend knows liveness but not readiness.
pub const HINT_LIVENESS_ONLY: &str = "tmux_liveness_only";

/// Proof that a prompt was delivered; `prompt_id` is the envelope's dedup key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptReceipt {
    pub prompt_id: String,
}

/// One backend that runs agents: start, prompt, probe, recover, capture, dispose.
#[async_trait]
pub trait SessionAdapter: Send + Sync {
    /// `"fake"` or `"tmux"`.
    fn backend(&self) -> &'static str;

    /// A fresh session id (uuid v7), reserved before `start` so the caller can record it first.
    fn reserve_session_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }

    async fn start(&self, spec: &SessionSpec) -> Result<SessionHandle>;

    /// Delivers the prompt text (rendered by [`crate::render_prompt`]) once.
    async fn send_prompt(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
    ) -> Result<PromptReceipt>;

    async fn probe(&self, handle: &SessionHandle) -> Result<ProbeResult>;

    /// Re-adopts an existing session (after a devflow restart): the handle, possibly refreshed,
    /// or `session_not_found`.
    async fn resume(&self, handle: &SessionHandle) -> Result<SessionHandle>;

    /// Restarts the agent in place (tmux: `respawn-pane -k` with the role's command).
    async fn rebootstrap(&self, handle: &SessionHandle) -> Result<SessionHandle>;

    /// Transcript text new since `from_seq` (exclusive); bounded; ANSI stripped.
    async fn capture(&self, handle: &SessionHandle, from_seq: i64) -> Result<Capture>;

    async fn dispose(&self, handle: &SessionHandle) -> Result<()>;
}

/// Whether a session that last changed its output at `last_output_at_ms` counts as hung at
/// `now_ms`. Unknown output time is not a hang: only evidence of silence is.
pub fn is_session_hung(last_output_at_ms: Option<i64>, now_ms: i64, max_hung_ms: i64) -> bool {
    match last_output_at_ms {
        None => false,
        Some(last_ms) => now_ms.saturating_sub(last_ms) > max_hung_ms,
    }
}

pub use devflow_core::clock::now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hung_needs_known_silence_longer_than_the_limit() {
        assert!(!is_session_hung(None, 10_000, 100));
        assert!(!is_session_hung(Some(9_950), 10_000, 100));
        assert!(!is_session_hung(Some(9_900), 10_000, 100));
        assert!(is_session_hung(Some(9_899), 10_000, 100));
    }

    #[test]
    fn shell_commands_run_through_sh() {
        let argv = AgentCommand::Shell("echo hi".into()).to_argv();
        assert_eq!(argv, ["sh", "-c", "echo hi"]);
    }
}
