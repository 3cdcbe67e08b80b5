//! The event kinds named beyond the runner's event table (`runner/event.rs`, where every other
//! kind is written once), and the idempotency keys that are more than a kind and its parts
//! joined: the driver completes a phase approved by a person with the same kinds and keys the
//! runner uses, and re-entry looks for `session.recovered`.

pub const PHASE_COMPLETED: &str = "phase.completed";
pub const RUN_COMPLETED: &str = "run.completed";
pub const SESSION_CREATED: &str = "session.created";
pub const SESSION_READY: &str = "session.ready";
pub const SESSION_RECOVERED: &str = "session.recovered";

/// Reference: `session.created:{session}`; a fresh agent started for a session that failed to a
/// human (`devflow resume`) is a new creation, told apart by its recovery count.
pub fn session_created(session_id: &str, recovery_attempts: u32) -> String {
    match recovery_attempts {
        0 => format!("{SESSION_CREATED}:{session_id}"),
        n => format!("{SESSION_CREATED}:{session_id}:{n}"),
    }
}

pub fn phase_completed(phase_id: &str, attempt: u32) -> String {
    format!("{PHASE_COMPLETED}:{phase_id}:{attempt}")
}

pub fn run_completed(run_id: &str) -> String {
    format!("{RUN_COMPLETED}:{run_id}")
}

/// Reference: `session.ready:{session}:{recoveryAttempts}`; scoped by phase because every
/// phase that reuses the session makes it ready again.
pub fn session_ready(phase_id: &str, session_id: &str, recovery_attempts: u32) -> String {
    format!("{SESSION_READY}:{session_id}:{recovery_attempts}:{phase_id}")
}

/// The approval request's own idempotency key, for workflow and human gates alike.
pub fn approval_request(run_id: &str, gate_key: &str, phase_id: &str, attempt: u32) -> String {
    format!("{run_id}:{gate_key}:{phase_id}:{attempt}")
}

/// The `run.paused` cause of a human gate.
pub fn human_gate_cause(gate_key: &str, phase_id: &str, attempt: u32) -> String {
    format!("human_required:{gate_key}:{phase_id}:{attempt}")
}
