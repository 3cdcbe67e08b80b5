//! Event types and the idempotency keys that make each durable step replay-safe.
//!
//! The keys are the reference runner's, with one rule added: a key that can recur within a run
//! (a role's session is reused by later phases; a session can fail, be replaced, and fail
//! again) carries what makes the occurrence unique, because appending an existing key with a
//! different phase or payload is refused as corruption rather than silently accepted.

pub const PHASE_STARTED: &str = "phase.started";
pub const PHASE_FAILED: &str = "phase.failed";
pub const PHASE_COMPLETED: &str = "phase.completed";
pub const RUN_PAUSED: &str = "run.paused";
pub const RUN_FAILED: &str = "run.failed";
pub const RUN_COMPLETED: &str = "run.completed";
pub const SESSION_CREATED: &str = "session.created";
pub const SESSION_READY: &str = "session.ready";
pub const SESSION_BUSY: &str = "session.busy";
pub const SESSION_IDLE: &str = "session.idle";
pub const SESSION_CRASHED: &str = "session.crashed";
pub const SESSION_RECOVERED: &str = "session.recovered";
pub const SESSION_FAILED: &str = "session.failed";
pub const PROMPT_SENT: &str = "prompt.sent";
pub const PROMPT_REPAIRED: &str = "prompt.repaired";
pub const ARTIFACT_EXPECTED: &str = "artifact.expected";
pub const ARTIFACT_TIMEOUT: &str = "artifact.timeout";
pub const ARTIFACT_VALIDATED: &str = "artifact.validated";
pub const ARTIFACT_INVALID: &str = "artifact.invalid";
pub const APPROVAL_REQUESTED: &str = "approval.requested";

pub fn phase_started(phase_id: &str, attempt: u32) -> String {
    format!("{PHASE_STARTED}:{phase_id}:{attempt}")
}

pub fn phase_failed(phase_id: &str, attempt: u32) -> String {
    format!("{PHASE_FAILED}:{phase_id}:{attempt}")
}

pub fn phase_completed(phase_id: &str, attempt: u32) -> String {
    format!("{PHASE_COMPLETED}:{phase_id}:{attempt}")
}

pub fn run_paused(run_id: &str, cause: &str) -> String {
    format!("{RUN_PAUSED}:{run_id}:{cause}")
}

pub fn run_failed(run_id: &str) -> String {
    format!("{RUN_FAILED}:{run_id}")
}

pub fn run_completed(run_id: &str) -> String {
    format!("{RUN_COMPLETED}:{run_id}")
}

/// Reference: `session.created:{session}`; a fresh agent started for a session that failed
/// to a human (`devflow resume`) is a new creation, told apart by its recovery count.
pub fn session_created(session_id: &str, recovery_attempts: u32) -> String {
    match recovery_attempts {
        0 => format!("{SESSION_CREATED}:{session_id}"),
        n => format!("{SESSION_CREATED}:{session_id}:{n}"),
    }
}

/// Reference: `session.ready:{session}:{recoveryAttempts}`; scoped by phase because every
/// phase that reuses the session makes it ready again.
pub fn session_ready(phase_id: &str, session_id: &str, recovery_attempts: u32) -> String {
    format!("{SESSION_READY}:{session_id}:{recovery_attempts}:{phase_id}")
}

pub fn session_busy(session_id: &str, dedup_key: &str) -> String {
    format!("{SESSION_BUSY}:{session_id}:{dedup_key}")
}

pub fn session_idle(session_id: &str, dedup_key: &str) -> String {
    format!("{SESSION_IDLE}:{session_id}:{dedup_key}")
}

pub fn session_crashed(session_id: &str, recovery_attempts: u32) -> String {
    format!("{SESSION_CRASHED}:{session_id}:{recovery_attempts}")
}

pub fn session_recovered(session_id: &str, recovery_attempts: u32) -> String {
    format!("{SESSION_RECOVERED}:{session_id}:{recovery_attempts}")
}

/// Reference: `session.failed:{session}`; a session replaced by a fresh agent after a gate can
/// fail again, so the recovery count is part of the key.
pub fn session_failed(session_id: &str, recovery_attempts: u32) -> String {
    format!("{SESSION_FAILED}:{session_id}:{recovery_attempts}")
}

pub fn prompt(kind: &str, dedup_key: &str) -> String {
    format!("{kind}:{dedup_key}")
}

pub fn artifact_expected(phase_id: &str, attempt: u32, path: &str) -> String {
    format!("{ARTIFACT_EXPECTED}:{phase_id}:{attempt}:{path}")
}

pub fn artifact_timeout(phase_id: &str, attempt: u32, path: &str) -> String {
    format!("{ARTIFACT_TIMEOUT}:{phase_id}:{attempt}:{path}")
}

pub fn artifact_checked(kind: &str, phase_id: &str, path: &str, hash: &str) -> String {
    format!("{kind}:{phase_id}:{path}:{hash}")
}

/// The approval request's own idempotency key, for workflow and human gates alike.
pub fn approval_request(run_id: &str, gate_key: &str, phase_id: &str, attempt: u32) -> String {
    format!("{run_id}:{gate_key}:{phase_id}:{attempt}")
}

pub fn approval_requested(request_key: &str) -> String {
    format!("{APPROVAL_REQUESTED}:{request_key}")
}

/// The `run.paused` cause of a human gate.
pub fn human_gate_cause(gate_key: &str, phase_id: &str, attempt: u32) -> String {
    format!("human_required:{gate_key}:{phase_id}:{attempt}")
}
