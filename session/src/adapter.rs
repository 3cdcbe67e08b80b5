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
    /// What devflow knows about the agent CLI ([`crate::preset`]): a preset name such as
    /// `"claude-code"`, or `None` to choose one by the command's program name (`generic` when
    /// none fits). An unknown name is `invalid_input` at start.
    pub preset: Option<String>,
    /// The names of the preset's dialogs devflow may answer for this role (the workflow opts
    /// in); only dialogs the preset marks safe are ever answered, and each answer is reported
    /// in [`PromptReceipt::dialogs_answered`].
    pub answer_dialogs: Vec<String>,
    /// The lease epoch of the driver starting the session: the pane is claimed for it
    /// ([`SessionHandle::fence`]).
    pub fence: Option<i64>,
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
    /// The lease epoch of the driver acting through this handle. Input (a prompt, Enter, a
    /// dialog's answer, a restart) reaches the session only while no driver with a newer epoch
    /// has acted on it, and `lease_lost` says so otherwise; `None` sends unconditionally.
    pub fence: Option<i64>,
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

/// Proof that a prompt was delivered and taken; `prompt_id` is the envelope's dedup key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptReceipt {
    pub prompt_id: String,
    /// The dialogs devflow answered before the paste (their preset names), in order; the
    /// runner records each as an event.
    pub dialogs_answered: Vec<String>,
}

impl PromptReceipt {
    /// A receipt for a prompt delivered without answering anything.
    pub fn new(prompt_id: impl Into<String>) -> PromptReceipt {
        PromptReceipt { prompt_id: prompt_id.into(), dialogs_answered: Vec::new() }
    }
}

/// Where a prompt is, as the terminal tells it after a crash
/// ([`SessionAdapter::locate_prompt`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptLocation {
    /// The agent took it: it is in the pane's history above the input, or the agent has been
    /// working on it. Record it as sent.
    Taken,
    /// It was pasted and is in the input box, not submitted: [`SessionAdapter::submit_pending`].
    Pending,
    /// Its delivery never started: sending it is safe.
    Absent,
    /// The terminal cannot tell; what was seen, for a person.
    Unknown(String),
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

    /// Delivers the prompt text (rendered by [`crate::render_prompt`]) once, and returns only
    /// when the agent visibly took it. Errors say whether anything reached the agent:
    /// `agent_needs_input`, `agent_not_ready`, `session_unavailable` and `session_not_found`
    /// mean nothing was pasted (sending again is safe); `prompt_delivery_unverified` means
    /// something was pasted and may or may not have been taken (never send it again).
    async fn send_prompt(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
    ) -> Result<PromptReceipt>;

    /// Where the envelope's prompt is, asked of the terminal: for re-entry after devflow was
    /// killed between marking the session `BUSY` and recording the prompt as sent.
    async fn locate_prompt(
        &self,
        handle: &SessionHandle,
        envelope: &PromptEnvelope,
    ) -> Result<PromptLocation>;

    /// Submits a prompt that [`SessionAdapter::locate_prompt`] found [`PromptLocation::Pending`]
    /// (Enter, verified as in `send_prompt`); `prompt_delivery_unverified` when it is not
    /// pending any more or the agent does not take it.
    async fn submit_pending(
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

    /// Ends the session: the agent's whole process tree (and what it started in sessions of
    /// its own, where they can be found), then its pane. A session that is gone already is
    /// not an error.
    async fn dispose(&self, handle: &SessionHandle) -> Result<()>;

    /// Ends every agent of a run, those whose handles the caller has lost too (for when a run
    /// ends); returns how many sessions were disposed.
    async fn dispose_run(&self, run_id: &str) -> Result<usize>;
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
