//! The payload of every event kind, as a struct: what a step writes and what a reader gets
//! back. Field names are the log's (camelCase); a field that an occurrence may lack is left
//! out of its JSON rather than written as `null`, unless the log has always written it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::runner::Restart;

/// `phase.started`: a new attempt, and for the repair attempt what was wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseStarted {
    pub phase_key: String,
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair: Option<bool>,
    /// What the repair prompt says was wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problems: Option<Vec<String>>,
    /// `artifact_timeout` for the repair of an artifact that never came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How a person sent the phase round again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
}

/// `phase.failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseFailed {
    pub phase_key: String,
    pub attempt: u32,
    pub reason: String,
}

/// `phase.completed`; `approvedBy` when a person's approval completed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseCompleted {
    pub phase_key: String,
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

/// `run.created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunCreated {
    pub workflow: String,
    pub phases: Vec<String>,
    pub worktree: String,
}

/// `run.paused`: at a human gate (`cause`), from the state the run was in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunPaused {
    pub cause: String,
    pub paused_from_state: String,
}

/// `run.failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFailed {
    pub reason: String,
}

/// `run.completed`, with the phase that completed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunCompleted {
    pub phase_key: String,
}

/// `run.resumed`: who resumed it, and the state it went back to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResumed {
    pub resumed_by: String,
    pub to: String,
}

/// `run.claimed`: a driver took the run's lease over from one that died (`takeovers` in a row),
/// or a worker started a queued run (`takeovers` 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunClaimed {
    pub owner: String,
    pub epoch: i64,
    pub takeovers: i64,
    pub from: String,
}

/// `run.agents_moved`: the run's agents live on `to` from now on; the sessions that were on
/// `from` (failed here: a fresh agent replaces each) and who moved them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunAgentsMoved {
    pub from: String,
    pub to: String,
    pub sessions: Vec<String>,
    pub moved_by: String,
}

/// `run.aborted`: who aborted it, from which state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunAborted {
    pub aborted_by: String,
    pub from: String,
}

/// `session.created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCreated {
    pub session_id: String,
    pub role_id: String,
    pub backend: String,
}

/// `session.ready`, `session.crashed`, `session.recovered`: the session at a recovery count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecovery {
    pub session_id: String,
    pub role_id: String,
    pub recovery_attempts: u32,
}

/// `session.busy`, `session.idle`: the session with a prompt, or done with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionPrompt {
    pub session_id: String,
    pub role_id: String,
    pub dedup_key: String,
}

/// `session.failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionFailed {
    pub session_id: String,
    pub role_id: String,
}

/// `prompt.sent`, `prompt.repaired`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptSent {
    pub role_id: String,
    pub dedup_key: String,
    /// The marker line the prompt opens with (`devflow-prompt <16 hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// `agent.dialog_answered`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DialogAnswered {
    pub session_id: String,
    pub role_id: String,
    pub dialog: String,
}

/// `artifact.expected`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactExpected {
    pub path: String,
    pub schema_id: String,
    pub attempt: u32,
}

/// `artifact.timeout`, with how the session looked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactTimeout {
    pub path: String,
    pub schema_id: String,
    pub attempt: u32,
    pub session_state: String,
}

/// `artifact.validated`, `artifact.invalid` (with its validation errors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactChecked {
    pub artifact_id: String,
    pub hash: String,
    pub path: String,
    pub schema_id: String,
    /// Each error as `{instancePath, schemaPath, message}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<Value>>,
}

/// `approval.requested`, for a human or a workflow gate alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequested {
    pub approval_request_id: String,
    pub approval_idempotency_key: String,
    pub gate_key: String,
}

/// `approval.decided`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalDecided {
    pub approval_request_id: String,
    pub gate_key: String,
    pub decision: String,
    pub decided_by: String,
    pub note: Option<String>,
}

/// `worktree.ready`: devflow made (or found, after a crash) a managed worktree, copied the
/// included files in and ran its setup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorktreeReady {
    pub path: String,
    pub branch: String,
    /// What the branch was made from: the run's base commit, or the run's branch.
    pub base: String,
    /// `include` entries the repository did not have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// `worktree.committed`: a completed phase's work, committed on its branch (`commit` is the
/// branch's head; `committed` false when there was nothing to commit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorktreeCommitted {
    pub branch: String,
    pub commit: String,
    pub committed: bool,
}

/// `merge.completed`: a merge phase brought `branches` into the run's branch, whose head is
/// `commit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeCompleted {
    pub branches: Vec<String>,
    pub commit: String,
}

/// `merge.conflicted`: a merge phase's merge of `branch` conflicted in `files`, and the phase
/// that made the branch (`sentBackTo`) was sent back to its agent to resolve it: once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeConflicted {
    pub branch: String,
    pub files: Vec<String>,
    pub sent_back_to: String,
}
