//! The runner's events: one constructor per event gives its kind, its idempotency key and its
//! payload together, and `emit` is the one way a step appends it.
//!
//! The keys are the reference runner's, with one rule added: a key that can recur within a run
//! (a role's session is reused by later phases; a session can fail, be replaced, and fail
//! again) carries what makes the occurrence unique, because appending an existing key with a
//! different phase or payload is refused as corruption rather than silently accepted.

use devflow_core::{Result, RunState, SessionState, StateMachine, Validation};
use devflow_db::{ApprovalRow, ArtifactRow, NewEvent, SessionRow, Tx};
use serde_json::{Value, json};

use crate::keys::{self, *};
use crate::spec::Phase;

/// One event of a phase, or of its run.
#[derive(Debug, Clone)]
pub(crate) struct Event<'a> {
    phase: &'a Phase,
    kind: &'static str,
    pub key: String,
    payload: Value,
    /// Whether the event belongs to the run as a whole and carries no phase.
    of_run: bool,
}

impl<'a> Event<'a> {
    /// A new attempt; `extra`, an object, is merged into the payload.
    pub fn phase_started(phase: &'a Phase, attempt: u32, extra: Value) -> Self {
        let payload = json!({ "phaseKey": phase.spec.phase_key, "attempt": attempt });
        let key = format!("{PHASE_STARTED}:{}:{attempt}", phase.phase_id());
        Event::new(phase, PHASE_STARTED, key, merged(payload, &extra))
    }

    pub fn phase_failed(phase: &'a Phase, attempt: u32, reason: &str) -> Self {
        let payload =
            json!({ "phaseKey": phase.spec.phase_key, "attempt": attempt, "reason": reason });
        let key = format!("{PHASE_FAILED}:{}:{attempt}", phase.phase_id());
        Event::new(phase, PHASE_FAILED, key, payload)
    }

    pub fn phase_completed(phase: &'a Phase, attempt: u32) -> Self {
        let payload = json!({ "phaseKey": phase.spec.phase_key, "attempt": attempt });
        let key = keys::phase_completed(phase.phase_id(), attempt);
        Event::new(phase, PHASE_COMPLETED, key, payload)
    }

    /// The run paused at a human gate (`cause`) from the state it was in.
    pub fn run_paused(phase: &'a Phase, cause: &str, from: RunState) -> Self {
        let payload = json!({ "cause": cause, "pausedFromState": from.as_str() });
        let key = format!("{RUN_PAUSED}:{}:{cause}", phase.run_id());
        Event::new(phase, RUN_PAUSED, key, payload).of_run()
    }

    pub fn run_failed(phase: &'a Phase, reason: &str) -> Self {
        let key = format!("{RUN_FAILED}:{}", phase.run_id());
        Event::new(phase, RUN_FAILED, key, json!({ "reason": reason })).of_run()
    }

    pub fn run_completed(phase: &'a Phase) -> Self {
        let payload = json!({ "phaseKey": phase.spec.phase_key });
        let key = keys::run_completed(phase.run_id());
        Event::new(phase, RUN_COMPLETED, key, payload).of_run()
    }

    /// Reference: `session.created:{session}`; a fresh agent started for a session that failed
    /// to a human (`devflow resume`) is a new creation, told apart by its recovery count.
    pub fn session_created(
        phase: &'a Phase,
        sid: &str,
        recovery_attempts: u32,
        backend: &str,
    ) -> Self {
        let payload = json!({ "sessionId": sid, "roleId": phase.role_id(), "backend": backend });
        let key = match recovery_attempts {
            0 => format!("{SESSION_CREATED}:{sid}"),
            n => format!("{SESSION_CREATED}:{sid}:{n}"),
        };
        Event::new(phase, SESSION_CREATED, key, payload)
    }

    pub fn session_ready(phase: &'a Phase, sid: &str, recovery_attempts: u32) -> Self {
        let key = keys::session_ready(phase.phase_id(), sid, recovery_attempts);
        Event::recovery_count(phase, SESSION_READY, key, sid, recovery_attempts)
    }

    pub fn session_crashed(phase: &'a Phase, sid: &str, recovery_attempts: u32) -> Self {
        let key = format!("{SESSION_CRASHED}:{sid}:{recovery_attempts}");
        Event::recovery_count(phase, SESSION_CRASHED, key, sid, recovery_attempts)
    }

    pub fn session_recovered(phase: &'a Phase, sid: &str, recovery_attempts: u32) -> Self {
        let key = format!("{SESSION_RECOVERED}:{sid}:{recovery_attempts}");
        Event::recovery_count(phase, SESSION_RECOVERED, key, sid, recovery_attempts)
    }

    pub fn session_busy(phase: &'a Phase, sid: &str, dedup_key: &str) -> Self {
        Event::prompted(phase, SESSION_BUSY, sid, dedup_key)
    }

    pub fn session_idle(phase: &'a Phase, sid: &str, dedup_key: &str) -> Self {
        Event::prompted(phase, SESSION_IDLE, sid, dedup_key)
    }

    /// Reference: `session.failed:{session}`; a session replaced by a fresh agent after a gate
    /// can fail again, so the recovery count is part of the key.
    pub fn session_failed(phase: &'a Phase, sid: &str, recovery_attempts: u32) -> Self {
        let payload = json!({ "sessionId": sid, "roleId": phase.role_id() });
        let key = format!("{SESSION_FAILED}:{sid}:{recovery_attempts}");
        Event::new(phase, SESSION_FAILED, key, payload)
    }

    /// A session of any role that failed with its run: an event of the run.
    pub fn run_session_failed(phase: &'a Phase, row: &SessionRow) -> Self {
        let payload = json!({ "sessionId": row.id, "roleId": row.role_id });
        let key = format!("{SESSION_FAILED}:{}:{}", row.id, row.recovery_attempts);
        Event::new(phase, SESSION_FAILED, key, payload).of_run()
    }

    /// `prompt.sent`, or `prompt.repaired` for the repair attempt's prompt.
    pub fn prompt(phase: &'a Phase, repair: bool, dedup_key: &str) -> Self {
        let kind = if repair { PROMPT_REPAIRED } else { PROMPT_SENT };
        let payload = json!({ "roleId": phase.role_id(), "dedupKey": dedup_key });
        Event::new(phase, kind, format!("{kind}:{dedup_key}"), payload)
    }

    pub fn artifact_expected(phase: &'a Phase, attempt: u32) -> Self {
        let payload =
            json!({ "path": phase.artifact, "schemaId": phase.schema_id(), "attempt": attempt });
        let key = format!(
            "{ARTIFACT_EXPECTED}:{}:{attempt}:{}",
            phase.phase_id(),
            phase.artifact
        );
        Event::new(phase, ARTIFACT_EXPECTED, key, payload)
    }

    /// The wait timed out, with how the session looked.
    pub fn artifact_timeout(phase: &'a Phase, attempt: u32, state: SessionState) -> Self {
        let payload = json!({
            "path": phase.artifact, "schemaId": phase.schema_id(), "attempt": attempt, "sessionState": state.as_str(),
        });
        let key = format!(
            "{ARTIFACT_TIMEOUT}:{}:{attempt}:{}",
            phase.phase_id(),
            phase.artifact
        );
        Event::new(phase, ARTIFACT_TIMEOUT, key, payload)
    }

    /// `artifact.validated` or `artifact.invalid`, with the validation's findings.
    pub fn artifact_checked(phase: &'a Phase, row: &ArtifactRow, validation: &Validation) -> Self {
        let kind = if validation.is_valid() {
            ARTIFACT_VALIDATED
        } else {
            ARTIFACT_INVALID
        };
        let payload = json!({
            "artifactId": row.id, "hash": row.hash, "path": row.path, "schemaId": phase.schema_id(),
        });
        let key = format!("{kind}:{}:{}:{}", phase.phase_id(), row.path, row.hash);
        Event::new(phase, kind, key, merged(payload, &validation.to_json()))
    }

    /// For a request of a human or a workflow gate alike.
    pub fn approval_requested(phase: &'a Phase, request: &ApprovalRow, gate_key: &str) -> Self {
        let payload = json!({
            "approvalRequestId": request.id, "approvalIdempotencyKey": request.idempotency_key, "gateKey": gate_key,
        });
        let key = format!("{APPROVAL_REQUESTED}:{}", request.idempotency_key);
        Event::new(phase, APPROVAL_REQUESTED, key, payload)
    }

    /// Appends the event inside a step; replaying a step appends nothing new.
    pub async fn emit(self, tx: &mut Tx) -> Result<()> {
        tx.record_event(&NewEvent {
            run_id: self.phase.run_id(),
            phase_id: (!self.of_run).then(|| self.phase.phase_id()),
            kind: self.kind,
            payload: &self.payload,
            idempotency_key: &self.key,
        })
        .await
    }

    fn new(phase: &'a Phase, kind: &'static str, key: String, payload: Value) -> Self {
        let of_run = false;
        Event {
            phase,
            kind,
            key,
            payload,
            of_run,
        }
    }

    fn of_run(self) -> Self {
        Event {
            of_run: true,
            ..self
        }
    }

    fn recovery_count(
        phase: &'a Phase,
        kind: &'static str,
        key: String,
        sid: &str,
        n: u32,
    ) -> Self {
        let payload = json!({ "sessionId": sid, "roleId": phase.role_id(), "recoveryAttempts": n });
        Event::new(phase, kind, key, payload)
    }

    fn prompted(phase: &'a Phase, kind: &'static str, sid: &str, dedup_key: &str) -> Self {
        let payload = json!({ "sessionId": sid, "roleId": phase.role_id(), "dedupKey": dedup_key });
        Event::new(phase, kind, format!("{kind}:{sid}:{dedup_key}"), payload)
    }
}

fn merged(mut payload: Value, extra: &Value) -> Value {
    if let (Some(into), Value::Object(extra)) = (payload.as_object_mut(), extra) {
        into.extend(extra.clone());
    }
    payload
}
