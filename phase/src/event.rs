//! The event log's vocabulary, in one place: every kind devflow appends, its idempotency key
//! and its typed payload (`event/payload.rs`), for the runner and the driver alike. A step
//! appends an event with `Event::emit`; a reader, here or in another crate, gets a payload
//! back as its struct with [`read`] and matches kinds by their names in [`kind`].
//!
//! The keys are the reference runner's, with one rule added: a key that can recur within a run
//! (a role's session is reused by later phases; a session can fail, be replaced, and fail
//! again) carries what makes the occurrence unique, because appending an existing key with a
//! different phase or payload is refused as corruption rather than silently accepted.

pub mod kind;
mod payload;

use devflow_core::{Error, Result, RunState, SessionState, StateMachine, Validation};
use devflow_db::{
    ApprovalRow, ApprovalState, ArtifactRow, EventRow, Lease, NewEvent, NewNotification, PhaseRow,
    SessionRow, Tx,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use payload::*;

use crate::runner::{Phase, Restart};

/// One event of a phase, or of a run as a whole.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    run_id: String,
    /// `None` for an event of the run as a whole.
    phase_id: Option<String>,
    kind: &'static str,
    pub key: String,
    payload: Value,
}

impl Event {
    fn of_phase(phase: &Phase, kind: &'static str, key: String, payload: impl Serialize) -> Event {
        let phase_id = Some(phase.phase_id().to_owned());
        Event { run_id: phase.run_id().to_owned(), phase_id, kind, key, payload: json(payload) }
    }

    fn of_run(run_id: &str, kind: &'static str, key: String, payload: impl Serialize) -> Event {
        Event { run_id: run_id.to_owned(), phase_id: None, kind, key, payload: json(payload) }
    }

    /// Appends the event inside a step; replaying a step appends nothing new. An event that
    /// tells a person something ([`Topic::of_event`](crate::notify::Topic::of_event)) also
    /// writes its notification into the outbox, in the same step and under the event's key, so
    /// the two are committed together or not at all and a replay adds neither.
    pub async fn emit(self, tx: &mut Tx) -> Result<()> {
        tx.record_event(&NewEvent {
            run_id: &self.run_id,
            phase_id: self.phase_id.as_deref(),
            kind: self.kind,
            payload: &self.payload,
            idempotency_key: &self.key,
        })
        .await?;
        let Some(topic) = crate::notify::Topic::of_event(self.kind, &self.payload) else {
            return Ok(());
        };
        let notification =
            NewNotification { run_id: &self.run_id, event_key: &self.key, topic: topic.as_str() };
        tx.record_notification(&notification).await
    }
}

/// A stored event's payload, read back as its struct (the one its kind's constructor writes):
/// how every reader, in this crate or another, looks into a payload.
pub fn read<P: DeserializeOwned>(row: &EventRow) -> Result<P> {
    P::deserialize(&row.payload).map_err(|error| {
        let message =
            format!("event {} ({}) has a payload of another shape: {error}", row.id, row.kind);
        Error::corruption(message)
    })
}

fn json(payload: impl Serialize) -> Value {
    serde_json::to_value(payload).expect("an event payload serializes")
}

/// The events of managed worktrees, written by the driver (a phase's own ones name it by id).
impl Event {
    /// A managed worktree is ready: the run's (`phase_id` `None`) or a phase's own.
    pub fn worktree_ready(run_id: &str, phase_id: Option<&str>, ready: WorktreeReady) -> Event {
        Event {
            run_id: run_id.to_owned(),
            phase_id: phase_id.map(str::to_owned),
            kind: kind::WORKTREE_READY,
            key: worktree_ready_key(run_id, phase_id),
            payload: json(ready),
        }
    }

    /// A completed phase's work (of its attempt `attempt`) is committed on its branch.
    pub fn worktree_committed(
        run_id: &str,
        phase_id: &str,
        attempt: u32,
        committed: WorktreeCommitted,
    ) -> Event {
        Event {
            run_id: run_id.to_owned(),
            phase_id: Some(phase_id.to_owned()),
            kind: kind::WORKTREE_COMMITTED,
            key: worktree_committed_key(run_id, phase_id, attempt),
            payload: json(committed),
        }
    }

    /// A merge phase's merge conflicted, and the phase of the branch was sent back to its agent.
    pub fn merge_conflicted(phase: &Phase, conflicted: MergeConflicted) -> Event {
        Event::of_phase(phase, kind::MERGE_CONFLICTED, merge_conflicted_key(phase), conflicted)
    }

    /// A merge phase merged its branches into the run's branch.
    pub fn merge_completed(phase: &Phase, merged: MergeCompleted) -> Event {
        let key = format!("merge.completed:{}:{}", phase.run_id(), phase.phase_id());
        Event::of_phase(phase, kind::MERGE_COMPLETED, key, merged)
    }
}

/// The key of the one `merge.conflicted` of a merge phase: a second conflict is a human gate.
pub(crate) fn merge_conflicted_key(phase: &Phase) -> String {
    format!("merge.conflicted:{}:{}", phase.run_id(), phase.phase_id())
}

/// The key of `worktree.ready` for the run's worktree (`None`) or a phase's own.
pub(crate) fn worktree_ready_key(run_id: &str, phase_id: Option<&str>) -> String {
    format!("worktree.ready:{run_id}:{}", phase_id.unwrap_or("run"))
}

/// Per attempt: a phase sent back after a conflict commits again.
pub(crate) fn worktree_committed_key(run_id: &str, phase_id: &str, attempt: u32) -> String {
    format!("worktree.committed:{run_id}:{phase_id}:{attempt}")
}

/// How an attempt begins, for its `phase.started`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Start {
    pub repair: bool,
    pub problems: Option<Vec<String>>,
    pub reason: Option<&'static str>,
    pub restart: Option<Restart>,
}

/// The phase's events.
impl Event {
    pub fn phase_started(phase: &Phase, attempt: u32, start: Start) -> Event {
        let key = phase_started_key(phase.phase_id(), attempt);
        let payload = PhaseStarted {
            phase_key: phase.spec.phase_key.clone(),
            attempt,
            repair: start.repair.then_some(true),
            problems: start.problems,
            reason: start.reason.map(str::to_owned),
            restart: start.restart,
        };
        Event::of_phase(phase, kind::PHASE_STARTED, key, payload)
    }

    pub fn phase_failed(phase: &Phase, attempt: u32, reason: &str) -> Event {
        let key = format!("phase.failed:{}:{attempt}", phase.phase_id());
        let payload = PhaseFailed {
            phase_key: phase.spec.phase_key.clone(),
            attempt,
            reason: reason.to_owned(),
        };
        Event::of_phase(phase, kind::PHASE_FAILED, key, payload)
    }

    /// `phase.failed` of the driver's own step, which has the phase's row rather than its
    /// resolved spec (whose worktree might not be reachable here): the same key and payload.
    pub fn phase_row_failed(row: &PhaseRow, reason: &str) -> Event {
        let key = format!("phase.failed:{}:{}", row.id, row.attempts);
        let payload = PhaseFailed {
            phase_key: row.phase_key.clone(),
            attempt: row.attempts,
            reason: reason.to_owned(),
        };
        let (run_id, phase_id) = (row.run_id.clone(), Some(row.id.clone()));
        Event { run_id, phase_id, kind: kind::PHASE_FAILED, key, payload: json(payload) }
    }

    /// `approved_by`: the person whose approval completed the phase.
    pub fn phase_completed(phase: &Phase, attempt: u32, approved_by: Option<&str>) -> Event {
        let key = format!("phase.completed:{}:{attempt}", phase.phase_id());
        let payload = PhaseCompleted {
            phase_key: phase.spec.phase_key.clone(),
            attempt,
            approved_by: approved_by.map(str::to_owned),
        };
        Event::of_phase(phase, kind::PHASE_COMPLETED, key, payload)
    }

    /// Reference: `session.created:{session}`; a fresh agent started for a session that failed
    /// to a person is a new creation, told apart by its recovery count.
    pub fn session_created(
        phase: &Phase,
        sid: &str,
        recovery_attempts: u32,
        backend: &str,
    ) -> Event {
        let key = match recovery_attempts {
            0 => format!("session.created:{sid}"),
            n => format!("session.created:{sid}:{n}"),
        };
        let payload = SessionCreated {
            session_id: sid.to_owned(),
            role_id: phase.role_id().to_owned(),
            backend: backend.to_owned(),
        };
        Event::of_phase(phase, kind::SESSION_CREATED, key, payload)
    }

    /// Reference: `session.ready:{session}:{recoveryAttempts}`; scoped by phase because every
    /// phase that reuses the session makes it ready again.
    pub fn session_ready(phase: &Phase, sid: &str, n: u32) -> Event {
        let key = format!("session.ready:{sid}:{n}:{}", phase.phase_id());
        Event::of_phase(phase, kind::SESSION_READY, key, recovery(phase, sid, n))
    }

    pub fn session_crashed(phase: &Phase, sid: &str, n: u32) -> Event {
        let key = format!("session.crashed:{sid}:{n}");
        Event::of_phase(phase, kind::SESSION_CRASHED, key, recovery(phase, sid, n))
    }

    pub fn session_recovered(phase: &Phase, sid: &str, n: u32) -> Event {
        let key = format!("session.recovered:{sid}:{n}");
        Event::of_phase(phase, kind::SESSION_RECOVERED, key, recovery(phase, sid, n))
    }

    pub fn session_busy(phase: &Phase, sid: &str, dedup_key: &str) -> Event {
        let key = format!("session.busy:{sid}:{dedup_key}");
        Event::of_phase(phase, kind::SESSION_BUSY, key, with_prompt(phase, sid, dedup_key))
    }

    pub fn session_idle(phase: &Phase, sid: &str, dedup_key: &str) -> Event {
        let key = format!("session.idle:{sid}:{dedup_key}");
        Event::of_phase(phase, kind::SESSION_IDLE, key, with_prompt(phase, sid, dedup_key))
    }

    /// Reference: `session.failed:{session}`; a session replaced by a fresh agent after a gate
    /// can fail again, so the recovery count is part of the key.
    pub fn session_failed(phase: &Phase, sid: &str, n: u32) -> Event {
        let key = format!("session.failed:{sid}:{n}");
        let payload =
            SessionFailed { session_id: sid.to_owned(), role_id: phase.role_id().to_owned() };
        Event::of_phase(phase, kind::SESSION_FAILED, key, payload)
    }

    /// `prompt.sent`, or `prompt.repaired` for the repair attempt's prompt, with the marker the
    /// prompt carries (what a person or a test finds it by in a transcript or a model's log).
    pub fn prompt(phase: &Phase, repair: bool, dedup_key: &str, marker: &str) -> Event {
        let kind = prompt_kind(repair);
        let key = prompt_key(repair, dedup_key);
        let payload = PromptSent {
            role_id: phase.role_id().to_owned(),
            dedup_key: dedup_key.to_owned(),
            marker: Some(marker.to_owned()),
        };
        Event::of_phase(phase, kind, key, payload)
    }

    /// A first-run dialog devflow answered before delivering a prompt (the workflow allowed it).
    pub fn dialog_answered(phase: &Phase, sid: &str, dedup_key: &str, dialog: &str) -> Event {
        let key = format!("agent.dialog_answered:{sid}:{dedup_key}:{dialog}");
        let payload = DialogAnswered {
            session_id: sid.to_owned(),
            role_id: phase.role_id().to_owned(),
            dialog: dialog.to_owned(),
        };
        Event::of_phase(phase, kind::AGENT_DIALOG_ANSWERED, key, payload)
    }

    pub fn artifact_expected(phase: &Phase, attempt: u32) -> Event {
        let key = format!("artifact.expected:{}:{attempt}:{}", phase.phase_id(), phase.artifact);
        let payload = ArtifactExpected {
            path: phase.artifact.clone(),
            schema_id: phase.schema_id().to_owned(),
            attempt,
        };
        Event::of_phase(phase, kind::ARTIFACT_EXPECTED, key, payload)
    }

    /// The wait timed out, with how the session looked.
    pub fn artifact_timeout(phase: &Phase, attempt: u32, state: SessionState) -> Event {
        let key = artifact_timeout_key(phase, attempt);
        let payload = ArtifactTimeout {
            path: phase.artifact.clone(),
            schema_id: phase.schema_id().to_owned(),
            attempt,
            session_state: state.as_str().to_owned(),
        };
        Event::of_phase(phase, kind::ARTIFACT_TIMEOUT, key, payload)
    }

    /// `artifact.validated` or `artifact.invalid`, with the validation's findings.
    pub fn artifact_checked(phase: &Phase, row: &ArtifactRow, validation: &Validation) -> Event {
        let checked =
            if validation.is_valid() { kind::ARTIFACT_VALIDATED } else { kind::ARTIFACT_INVALID };
        let key = format!("{checked}:{}:{}:{}", phase.phase_id(), row.path, row.hash);
        let errors = validation.to_json().get("errors").and_then(Value::as_array).cloned();
        let payload = ArtifactChecked {
            artifact_id: row.id.clone(),
            hash: row.hash.clone(),
            path: row.path.clone(),
            schema_id: phase.schema_id().to_owned(),
            errors,
        };
        Event::of_phase(phase, checked, key, payload)
    }

    /// For a request of a human or a workflow gate alike.
    pub fn approval_requested(phase: &Phase, request: &ApprovalRow, gate_key: &str) -> Event {
        let key = format!("approval.requested:{}", request.idempotency_key);
        let payload = ApprovalRequested {
            approval_request_id: request.id.clone(),
            approval_idempotency_key: request.idempotency_key.clone(),
            gate_key: gate_key.to_owned(),
        };
        Event::of_phase(phase, kind::APPROVAL_REQUESTED, key, payload)
    }
}

/// The run's events.
impl Event {
    pub fn run_created(run_id: &str, workflow: &str, phases: Vec<String>, worktree: &str) -> Event {
        let payload =
            RunCreated { workflow: workflow.to_owned(), phases, worktree: worktree.to_owned() };
        Event::of_run(run_id, kind::RUN_CREATED, format!("run.created:{run_id}"), payload)
    }

    /// The run paused at a human gate (`cause`) from the state it was in.
    pub fn run_paused(phase: &Phase, cause: &str, from: RunState) -> Event {
        let run_id = phase.run_id();
        let payload =
            RunPaused { cause: cause.to_owned(), paused_from_state: from.as_str().to_owned() };
        Event::of_run(run_id, kind::RUN_PAUSED, format!("run.paused:{run_id}:{cause}"), payload)
    }

    pub fn run_failed(phase: &Phase, reason: &str) -> Event {
        let run_id = phase.run_id();
        let payload = RunFailed { reason: reason.to_owned() };
        Event::of_run(run_id, kind::RUN_FAILED, format!("run.failed:{run_id}"), payload)
    }

    pub fn run_completed(phase: &Phase) -> Event {
        Event::run_completed_after(phase.run_id(), &phase.spec.phase_key)
    }

    /// The run completed, `phase_key` the last of its phases to.
    pub fn run_completed_after(run_id: &str, phase_key: &str) -> Event {
        let payload = RunCompleted { phase_key: phase_key.to_owned() };
        Event::of_run(run_id, kind::RUN_COMPLETED, format!("run.completed:{run_id}"), payload)
    }

    /// The run's `n`th resume.
    pub fn run_resumed(run_id: &str, n: u64, resumed_by: &str, to: RunState) -> Event {
        let payload = RunResumed { resumed_by: resumed_by.to_owned(), to: to.as_str().to_owned() };
        Event::of_run(
            run_id,
            kind::RUN_RESUMED,
            format!("{}:{run_id}:{n}", kind::RUN_RESUMED),
            payload,
        )
    }

    /// A driver claimed the run from the queue, or took it over from a driver that died: one
    /// event per claim (its epoch).
    pub fn run_claimed(lease: &Lease, from: RunState) -> Event {
        let run_id = &lease.run_id;
        let payload = RunClaimed {
            owner: lease.owner.clone(),
            epoch: lease.epoch,
            takeovers: lease.takeovers,
            from: from.as_str().to_owned(),
        };
        Event::of_run(
            run_id,
            kind::RUN_CLAIMED,
            format!("run.claimed:{run_id}:{}", lease.epoch),
            payload,
        )
    }

    /// The run's agents were moved from host `from` to `to`: one event per move (a move to a
    /// host and back again are two).
    pub fn run_agents_moved(run_id: &str, moved: RunAgentsMoved, moves: u64) -> Event {
        let key = format!("run.agents_moved:{run_id}:{moves}");
        Event::of_run(run_id, kind::RUN_AGENTS_MOVED, key, moved)
    }

    pub fn run_aborted(run_id: &str, aborted_by: &str, from: RunState) -> Event {
        let payload =
            RunAborted { aborted_by: aborted_by.to_owned(), from: from.as_str().to_owned() };
        Event::of_run(run_id, kind::RUN_ABORTED, format!("run.aborted:{run_id}"), payload)
    }

    /// A session of any role that failed with its run: an event of the run.
    pub fn run_session_failed(row: &SessionRow) -> Event {
        let key = format!("session.failed:{}:{}", row.id, row.recovery_attempts);
        let payload = SessionFailed { session_id: row.id.clone(), role_id: row.role_id.clone() };
        Event::of_run(&row.run_id, kind::SESSION_FAILED, key, payload)
    }

    /// A person's decision on a request; an event of the request's phase.
    pub fn approval_decided(
        request: &ApprovalRow,
        state: ApprovalState,
        decided_by: &str,
        note: Option<&str>,
    ) -> Event {
        let payload = ApprovalDecided {
            approval_request_id: request.id.clone(),
            gate_key: request.gate_key.clone(),
            decision: state.as_str().to_owned(),
            decided_by: decided_by.to_owned(),
            note: note.map(str::to_owned),
        };
        let key = format!("approval.decided:{}", request.id);
        let run_id = request.run_id.clone();
        let phase_id = Some(request.phase_id.clone());
        Event { run_id, phase_id, kind: kind::APPROVAL_DECIDED, key, payload: json(payload) }
    }
}

fn prompt_kind(repair: bool) -> &'static str {
    if repair { kind::PROMPT_REPAIRED } else { kind::PROMPT_SENT }
}

/// The key of `prompt.sent` / `prompt.repaired`.
pub(crate) fn prompt_key(repair: bool, dedup_key: &str) -> String {
    format!("{}:{dedup_key}", prompt_kind(repair))
}

pub(crate) fn phase_started_key(phase_id: &str, attempt: u32) -> String {
    format!("{}:{phase_id}:{attempt}", kind::PHASE_STARTED)
}

pub(crate) fn artifact_timeout_key(phase: &Phase, attempt: u32) -> String {
    format!("artifact.timeout:{}:{attempt}:{}", phase.phase_id(), phase.artifact)
}

/// The approval request's own idempotency key, for workflow and human gates alike.
pub(crate) fn approval_request_key(
    run_id: &str,
    gate_key: &str,
    phase_id: &str,
    attempt: u32,
) -> String {
    format!("{run_id}:{gate_key}:{phase_id}:{attempt}")
}

/// The `run.paused` cause of a human gate.
pub(crate) fn human_gate_cause(gate_key: &str, phase_id: &str, attempt: u32) -> String {
    format!("human_required:{gate_key}:{phase_id}:{attempt}")
}

fn recovery(phase: &Phase, sid: &str, n: u32) -> SessionRecovery {
    SessionRecovery {
        session_id: sid.to_owned(),
        role_id: phase.role_id().to_owned(),
        recovery_attempts: n,
    }
}

fn with_prompt(phase: &Phase, sid: &str, dedup_key: &str) -> SessionPrompt {
    SessionPrompt {
        session_id: sid.to_owned(),
        role_id: phase.role_id().to_owned(),
        dedup_key: dedup_key.to_owned(),
    }
}

#[cfg(test)]
mod tests;
