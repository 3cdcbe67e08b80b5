//! The runner's events: one table gives each event's kind, idempotency key and payload
//! together, and `emit` is the one way a step appends it.
//!
//! The keys are the reference runner's, with one rule added: a key that can recur within a run
//! (a role's session is reused by later phases; a session can fail, be replaced, and fail
//! again) carries what makes the occurrence unique, because appending an existing key with a
//! different phase or payload is refused as corruption rather than silently accepted.

use devflow_core::{Result, RunState, SessionState, StateMachine, Validation};
use devflow_db::{ApprovalRow, ArtifactRow, NewEvent, SessionRow, Tx};
use serde_json::{Value, json};

use super::spec::Phase;
use crate::keys::{
    self, PHASE_COMPLETED, RUN_COMPLETED, SESSION_CREATED, SESSION_READY, SESSION_RECOVERED,
};

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

/// Each row: the constructor and its arguments after the phase; the kind; `phase` or `run`
/// (an event of the run carries no phase); the key, as `[parts]` joined with `:` after the
/// kind, or as `(an expression)`; the payload's fields, and `+ extra` to merge an object in.
macro_rules! events {
    ($phase:ident; $($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) $kind:expr, $scope:ident
        $key:tt { $($field:tt)* } $(+ $extra:expr)?;)*) => {
        impl<'a> Event<'a> {$(
            $(#[$doc])*
            pub fn $name($phase: &'a Phase, $($arg: $ty),*) -> Self {
                let kind: &'static str = $kind;
                let payload = json!({ $($field)* });
                $(let payload = merged(payload, &$extra);)?
                let (key, of_run) = (events!(@key kind $key), events!(@of_run $scope));
                Event { phase: $phase, kind, key, payload, of_run }
            }
        )*}
    };
    (@key $kind:ident [$($part:expr),*]) => { [$kind.to_owned(), $($part.to_string()),*].join(":") };
    (@key $kind:ident ($key:expr)) => { $key };
    (@of_run phase) => { false };
    (@of_run run) => { true };
}

events! { phase;
    /// A new attempt; `extra`, an object, is merged into the payload.
    phase_started(attempt: u32, extra: Value) "phase.started", phase [phase.phase_id(), attempt]
        { "phaseKey": phase.spec.phase_key, "attempt": attempt } + extra;
    phase_failed(attempt: u32, reason: &str) "phase.failed", phase [phase.phase_id(), attempt]
        { "phaseKey": phase.spec.phase_key, "attempt": attempt, "reason": reason };
    phase_completed(attempt: u32) PHASE_COMPLETED, phase
        (keys::phase_completed(phase.phase_id(), attempt))
        { "phaseKey": phase.spec.phase_key, "attempt": attempt };
    /// The run paused at a human gate (`cause`) from the state it was in.
    run_paused(cause: &str, from: RunState) "run.paused", run [phase.run_id(), cause]
        { "cause": cause, "pausedFromState": from.as_str() };
    run_failed(reason: &str) "run.failed", run [phase.run_id()] { "reason": reason };
    run_completed() RUN_COMPLETED, run (keys::run_completed(phase.run_id()))
        { "phaseKey": phase.spec.phase_key };
    session_created(sid: &str, recovery_attempts: u32, backend: &str) SESSION_CREATED, phase
        (keys::session_created(sid, recovery_attempts))
        { "sessionId": sid, "roleId": phase.role_id(), "backend": backend };
    session_ready(sid: &str, n: u32) SESSION_READY, phase
        (keys::session_ready(phase.phase_id(), sid, n))
        { "sessionId": sid, "roleId": phase.role_id(), "recoveryAttempts": n };
    session_crashed(sid: &str, n: u32) "session.crashed", phase [sid, n]
        { "sessionId": sid, "roleId": phase.role_id(), "recoveryAttempts": n };
    session_recovered(sid: &str, n: u32) SESSION_RECOVERED, phase [sid, n]
        { "sessionId": sid, "roleId": phase.role_id(), "recoveryAttempts": n };
    session_busy(sid: &str, dedup_key: &str) "session.busy", phase [sid, dedup_key]
        { "sessionId": sid, "roleId": phase.role_id(), "dedupKey": dedup_key };
    session_idle(sid: &str, dedup_key: &str) "session.idle", phase [sid, dedup_key]
        { "sessionId": sid, "roleId": phase.role_id(), "dedupKey": dedup_key };
    /// Reference: `session.failed:{session}`; a session replaced by a fresh agent after a gate
    /// can fail again, so the recovery count is part of the key.
    session_failed(sid: &str, n: u32) "session.failed", phase [sid, n]
        { "sessionId": sid, "roleId": phase.role_id() };
    /// A session of any role that failed with its run: an event of the run.
    run_session_failed(row: &SessionRow) "session.failed", run [row.id, row.recovery_attempts]
        { "sessionId": row.id, "roleId": row.role_id };
    /// `prompt.sent`, or `prompt.repaired` for the repair attempt's prompt.
    prompt(repair: bool, dedup_key: &str) if repair { "prompt.repaired" } else { "prompt.sent" },
        phase [dedup_key] { "roleId": phase.role_id(), "dedupKey": dedup_key };
    artifact_expected(attempt: u32) "artifact.expected", phase
        [phase.phase_id(), attempt, phase.artifact]
        { "path": phase.artifact, "schemaId": phase.schema_id(), "attempt": attempt };
    /// The wait timed out, with how the session looked.
    artifact_timeout(attempt: u32, state: SessionState) "artifact.timeout", phase
        [phase.phase_id(), attempt, phase.artifact] {
            "path": phase.artifact, "schemaId": phase.schema_id(), "attempt": attempt,
            "sessionState": state.as_str(),
        };
    /// `artifact.validated` or `artifact.invalid`, with the validation's findings.
    artifact_checked(row: &ArtifactRow, validation: &Validation)
        if validation.is_valid() { "artifact.validated" } else { "artifact.invalid" },
        phase [phase.phase_id(), row.path, row.hash] {
            "artifactId": row.id, "hash": row.hash, "path": row.path,
            "schemaId": phase.schema_id(),
        } + validation.to_json();
    /// For a request of a human or a workflow gate alike.
    approval_requested(request: &ApprovalRow, gate_key: &str) "approval.requested", phase
        [request.idempotency_key] {
            "approvalRequestId": request.id, "approvalIdempotencyKey": request.idempotency_key,
            "gateKey": gate_key,
        };
}

impl Event<'_> {
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
}

fn merged(mut payload: Value, extra: &Value) -> Value {
    if let (Some(into), Value::Object(extra)) = (payload.as_object_mut(), extra) {
        into.extend(extra.clone());
    }
    payload
}
