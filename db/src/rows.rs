//! The rows callers read and the records they write: the public vocabulary of the repositories.

use devflow_core::{Error, PhaseState, Result, RunState, SessionState};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub id: String,
    pub workflow: String,
    pub state: RunState,
    pub worktree: String,
    pub definition: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub id: String,
    pub workflow: String,
    pub state: RunState,
    pub current_phase_id: Option<String>,
    pub paused_from_state: Option<RunState>,
    pub worktree: String,
    pub definition: Value,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub ended_at: Option<i64>,
    /// How many times the run's lease was claimed: the fence a driver's steps check.
    pub lease_epoch: i64,
    /// When `devflow submit` queued it: such a run is driven by workers only.
    pub submitted_at: Option<i64>,
    /// The host its agents live on (that of the first driver that claimed it).
    pub agent_host: Option<String>,
    /// Claims of its lease from a driver that died, since the last clean release.
    pub lease_takeovers: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewPhase {
    pub id: String,
    pub run_id: String,
    pub phase_key: String,
    pub ordinal: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PhaseRow {
    pub id: String,
    pub run_id: String,
    pub phase_key: String,
    pub ordinal: i32,
    pub state: PhaseState,
    pub attempts: u32,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// The artifact recorded in the current attempt; cleared when an attempt starts.
    pub artifact_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewEvent<'a> {
    pub run_id: &'a str,
    pub phase_id: Option<&'a str>,
    pub kind: &'a str,
    pub payload: &'a Value,
    pub idempotency_key: &'a str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub id: i64,
    pub run_id: String,
    pub phase_id: Option<String>,
    pub kind: String,
    pub payload: Value,
    pub idempotency_key: String,
    pub created_at: i64,
}

/// What `append_event` did: stored a new row, or found the same event already stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Appended {
    Inserted(EventRow),
    Replayed(EventRow),
}

impl Appended {
    pub fn row(&self) -> &EventRow {
        match self {
            Appended::Inserted(row) | Appended::Replayed(row) => row,
        }
    }

    pub fn into_row(self) -> EventRow {
        match self {
            Appended::Inserted(row) | Appended::Replayed(row) => row,
        }
    }

    pub fn is_replayed(&self) -> bool {
        matches!(self, Appended::Replayed(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewArtifact<'a> {
    pub run_id: &'a str,
    pub phase_id: &'a str,
    pub path: &'a str,
    pub schema_id: &'a str,
    pub hash: &'a str,
    pub valid: bool,
    pub validation_error: &'a Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactRow {
    pub id: String,
    pub run_id: String,
    pub phase_id: String,
    pub path: String,
    pub schema_id: String,
    pub hash: String,
    pub valid: bool,
    pub validation_error: Value,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalState {
    Pending,
    Approved,
    Rejected,
}

impl ApprovalState {
    pub const ALL: &'static [ApprovalState] =
        &[ApprovalState::Pending, ApprovalState::Approved, ApprovalState::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
        }
    }

    /// An unknown name is stored state we cannot read: `InternalStateCorruption`.
    pub fn parse(text: &str) -> Result<ApprovalState> {
        ApprovalState::ALL
            .iter()
            .copied()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| Error::corruption(format!("unknown approval state {text:?}")))
    }
}

impl std::fmt::Display for ApprovalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewApproval<'a> {
    pub run_id: &'a str,
    pub phase_id: &'a str,
    pub gate_key: &'a str,
    pub idempotency_key: &'a str,
    pub payload: &'a Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRow {
    pub id: String,
    pub run_id: String,
    pub phase_id: String,
    pub gate_key: String,
    pub state: ApprovalState,
    pub idempotency_key: String,
    pub payload: Value,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub run_id: &'a str,
    pub role_id: &'a str,
    pub backend: &'a str,
    pub cwd: &'a str,
    pub expected_artifact_path: &'a str,
    pub expected_schema: &'a str,
    pub state: SessionState,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub id: String,
    pub run_id: String,
    pub role_id: String,
    pub backend: String,
    pub cwd: String,
    pub expected_artifact_path: String,
    pub expected_schema: String,
    pub state: SessionState,
    pub last_prompt_hash: Option<String>,
    pub last_prompt_at: Option<i64>,
    pub recovery_attempts: u32,
    pub last_capture_seq: i64,
    pub last_known_pane_pid: Option<i64>,
    pub tmux_session: Option<String>,
    pub tmux_window: Option<String>,
    pub tmux_pane: Option<String>,
    pub created_at: i64,
    /// What the artifact path held when the last prompt went out (its signature, as text):
    /// the wait for that prompt's artifact ignores a file still like this.
    pub artifact_baseline: Option<String>,
}

/// A partial update of a session: only the fields that are `Some` change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionUpdate {
    pub state: Option<SessionState>,
    pub cwd: Option<String>,
    pub expected_artifact_path: Option<String>,
    pub expected_schema: Option<String>,
    pub last_prompt_hash: Option<String>,
    pub last_prompt_at: Option<i64>,
    pub recovery_attempts: Option<u32>,
    pub last_capture_seq: Option<i64>,
    pub last_known_pane_pid: Option<i64>,
    pub tmux_session: Option<String>,
    pub tmux_window: Option<String>,
    pub tmux_pane: Option<String>,
    pub artifact_baseline: Option<String>,
}

impl SessionUpdate {
    /// An update that changes only the session's state.
    pub fn to(state: SessionState) -> SessionUpdate {
        SessionUpdate { state: Some(state), ..SessionUpdate::default() }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptRow {
    pub session_id: String,
    pub seq: i64,
    pub captured_at: i64,
    pub text: String,
}

/// A notification to write in the step of the event that causes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewNotification<'a> {
    pub run_id: &'a str,
    /// The causing event's idempotency key: one notification per event, however often the
    /// step is replayed.
    pub event_key: &'a str,
    /// What it tells: `gate_opened`, `agent_needs_input`, `run_failed`, `run_completed`.
    pub topic: &'a str,
}

/// Where a notification is: waiting to be sent (or retried), sent to every sink, or given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationState {
    Pending,
    Sent,
    Failed,
}

impl NotificationState {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationState::Pending => "pending",
            NotificationState::Sent => "sent",
            NotificationState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Result<NotificationState> {
        match text {
            "pending" => Ok(NotificationState::Pending),
            "sent" => Ok(NotificationState::Sent),
            "failed" => Ok(NotificationState::Failed),
            other => Err(Error::corruption(format!("unknown notification state {other:?}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRow {
    pub id: i64,
    pub run_id: String,
    pub event_key: String,
    pub topic: String,
    pub state: NotificationState,
    /// Failed sends so far.
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<i64>,
    /// The sinks that have it.
    pub delivered: Vec<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}
