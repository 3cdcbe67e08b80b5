//! What the columns hold, in `table!` order, and their conversion into the public rows.
//!
//! Stored states are their `as_str()` names and JSON is canonical text; reading them back parses
//! both, and a value that does not parse is `InternalStateCorruption`, never a default.

use devflow_core::{Code, Error, PhaseState, Result, RunState, SessionState, StateMachine};
use diesel::Queryable;
use serde_json::Value;

use crate::rows::{
    ApprovalRow, ApprovalState, ArtifactRow, EventRow, NotificationRow, NotificationState,
    PhaseRow, RunRow, SessionRow, TranscriptRow,
};

#[derive(Queryable)]
pub(crate) struct RunRecord {
    id: String,
    workflow: String,
    state: String,
    current_phase_id: Option<String>,
    paused_from_state: Option<String>,
    worktree: String,
    definition: String,
    lease_owner: Option<String>,
    lease_expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    ended_at: Option<i64>,
    lease_epoch: i64,
    submitted_at: Option<i64>,
    agent_host: Option<String>,
    lease_takeovers: i64,
}

impl TryFrom<RunRecord> for RunRow {
    type Error = Error;
    fn try_from(r: RunRecord) -> Result<RunRow> {
        Ok(RunRow {
            state: RunState::parse(&r.state)?,
            paused_from_state: r.paused_from_state.as_deref().map(RunState::parse).transpose()?,
            definition: parse_json("runs.definition", &r.definition)?,
            id: r.id,
            workflow: r.workflow,
            current_phase_id: r.current_phase_id,
            worktree: r.worktree,
            lease_owner: r.lease_owner,
            lease_expires_at: r.lease_expires_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            ended_at: r.ended_at,
            lease_epoch: r.lease_epoch,
            submitted_at: r.submitted_at,
            agent_host: r.agent_host,
            lease_takeovers: r.lease_takeovers,
        })
    }
}

#[derive(Queryable)]
pub(crate) struct PhaseRecord {
    id: String,
    run_id: String,
    phase_key: String,
    ordinal: i32,
    state: String,
    attempts: i32,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    artifact_id: Option<String>,
}

impl TryFrom<PhaseRecord> for PhaseRow {
    type Error = Error;
    fn try_from(r: PhaseRecord) -> Result<PhaseRow> {
        Ok(PhaseRow {
            state: PhaseState::parse(&r.state)?,
            attempts: to_count("run_phases.attempts", r.attempts)?,
            id: r.id,
            run_id: r.run_id,
            phase_key: r.phase_key,
            ordinal: r.ordinal,
            started_at: r.started_at,
            ended_at: r.ended_at,
            artifact_id: r.artifact_id,
        })
    }
}

#[derive(Queryable)]
pub(crate) struct EventRecord {
    id: i64,
    run_id: String,
    phase_id: Option<String>,
    kind: String,
    payload: String,
    idempotency_key: String,
    created_at: i64,
}

impl TryFrom<EventRecord> for EventRow {
    type Error = Error;
    fn try_from(r: EventRecord) -> Result<EventRow> {
        Ok(EventRow {
            payload: parse_json("run_events.payload", &r.payload)?,
            id: r.id,
            run_id: r.run_id,
            phase_id: r.phase_id,
            kind: r.kind,
            idempotency_key: r.idempotency_key,
            created_at: r.created_at,
        })
    }
}

#[derive(Queryable)]
pub(crate) struct ArtifactRecord {
    id: String,
    run_id: String,
    phase_id: String,
    path: String,
    schema_id: String,
    hash: String,
    valid: bool,
    validation_error: String,
    created_at: i64,
}

impl TryFrom<ArtifactRecord> for ArtifactRow {
    type Error = Error;
    fn try_from(r: ArtifactRecord) -> Result<ArtifactRow> {
        Ok(ArtifactRow {
            validation_error: parse_json("artifacts.validation_error", &r.validation_error)?,
            id: r.id,
            run_id: r.run_id,
            phase_id: r.phase_id,
            path: r.path,
            schema_id: r.schema_id,
            hash: r.hash,
            valid: r.valid,
            created_at: r.created_at,
        })
    }
}

#[derive(Queryable)]
pub(crate) struct ApprovalRecord {
    id: String,
    run_id: String,
    phase_id: String,
    gate_key: String,
    state: String,
    idempotency_key: String,
    payload: String,
    decided_by: Option<String>,
    decision_note: Option<String>,
    created_at: i64,
    decided_at: Option<i64>,
}

impl TryFrom<ApprovalRecord> for ApprovalRow {
    type Error = Error;
    fn try_from(r: ApprovalRecord) -> Result<ApprovalRow> {
        Ok(ApprovalRow {
            state: ApprovalState::parse(&r.state)?,
            payload: parse_json("approval_requests.payload", &r.payload)?,
            id: r.id,
            run_id: r.run_id,
            phase_id: r.phase_id,
            gate_key: r.gate_key,
            idempotency_key: r.idempotency_key,
            decided_by: r.decided_by,
            decision_note: r.decision_note,
            created_at: r.created_at,
            decided_at: r.decided_at,
        })
    }
}

#[derive(Queryable)]
pub(crate) struct SessionRecord {
    id: String,
    run_id: String,
    role_id: String,
    backend: String,
    cwd: String,
    expected_artifact_path: String,
    expected_schema: String,
    state: String,
    last_prompt_hash: Option<String>,
    last_prompt_at: Option<i64>,
    recovery_attempts: i32,
    last_capture_seq: i64,
    last_known_pane_pid: Option<i64>,
    tmux_session: Option<String>,
    tmux_window: Option<String>,
    tmux_pane: Option<String>,
    created_at: i64,
    artifact_baseline: Option<String>,
}

impl TryFrom<SessionRecord> for SessionRow {
    type Error = Error;
    fn try_from(r: SessionRecord) -> Result<SessionRow> {
        Ok(SessionRow {
            state: SessionState::parse(&r.state)?,
            recovery_attempts: to_count("tui_sessions.recovery_attempts", r.recovery_attempts)?,
            id: r.id,
            run_id: r.run_id,
            role_id: r.role_id,
            backend: r.backend,
            cwd: r.cwd,
            expected_artifact_path: r.expected_artifact_path,
            expected_schema: r.expected_schema,
            last_prompt_hash: r.last_prompt_hash,
            last_prompt_at: r.last_prompt_at,
            last_capture_seq: r.last_capture_seq,
            last_known_pane_pid: r.last_known_pane_pid,
            tmux_session: r.tmux_session,
            tmux_window: r.tmux_window,
            tmux_pane: r.tmux_pane,
            created_at: r.created_at,
            artifact_baseline: r.artifact_baseline,
        })
    }
}

#[derive(Queryable)]
pub(crate) struct TranscriptRecord {
    session_id: String,
    seq: i64,
    captured_at: i64,
    text: String,
}

impl From<TranscriptRecord> for TranscriptRow {
    fn from(r: TranscriptRecord) -> TranscriptRow {
        TranscriptRow {
            session_id: r.session_id,
            seq: r.seq,
            captured_at: r.captured_at,
            text: r.text,
        }
    }
}

#[derive(Queryable)]
pub(crate) struct NotificationRecord {
    id: i64,
    run_id: String,
    event_key: String,
    topic: String,
    state: String,
    attempts: i32,
    next_attempt_at: i64,
    claimed_by: Option<String>,
    claimed_until: Option<i64>,
    delivered: String,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

impl TryFrom<NotificationRecord> for NotificationRow {
    type Error = Error;
    fn try_from(r: NotificationRecord) -> Result<NotificationRow> {
        let delivered = parse_json("notifications.delivered", &r.delivered)?;
        let delivered: Vec<String> = serde_json::from_value(delivered).map_err(|error| {
            Error::corruption(format!("notifications.delivered is not a list of names: {error}"))
        })?;
        Ok(NotificationRow {
            state: NotificationState::parse(&r.state)?,
            attempts: to_count("notifications.attempts", r.attempts)?,
            delivered,
            id: r.id,
            run_id: r.run_id,
            event_key: r.event_key,
            topic: r.topic,
            next_attempt_at: r.next_attempt_at,
            claimed_by: r.claimed_by,
            claimed_until: r.claimed_until,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
        })
    }
}

/// Converts every record of a query, failing on the first that does not parse.
pub(crate) fn convert_all<R, T>(records: Vec<R>) -> Result<Vec<T>>
where
    T: TryFrom<R, Error = Error>,
{
    records.into_iter().map(T::try_from).collect()
}

fn parse_json(column: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|error| {
        Error::corruption(format!("{column} holds text that is not JSON: {error}"))
    })
}

fn to_count(column: &str, stored: i32) -> Result<u32> {
    u32::try_from(stored).map_err(|_| {
        Error::new(Code::InternalStateCorruption, format!("{column} is negative: {stored}"))
    })
}

/// The stored form of a count the caller hands us as `u32`.
pub(crate) fn from_count(what: &str, count: u32) -> Result<i32> {
    i32::try_from(count).map_err(|_| {
        Error::new(Code::InvalidInput, format!("{what} {count} is too large to store"))
    })
}
