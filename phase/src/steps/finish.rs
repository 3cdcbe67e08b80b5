//! The two good endings of a phase: completed (and the run with it, if last), or waiting for a
//! person to approve its artifact.

use devflow_core::{Code, Error, PhaseState, RunState, SessionState, StateMachine};
use devflow_db::{NewApproval, SessionRow, SessionUpdate};
use serde_json::{Value, json};

use crate::context::Ctx;
use crate::crash::crash_point;
use crate::keys;
use crate::steps::gate::{append_requested, append_run_event};
use crate::steps::session::{Move, append};

impl Ctx {
    /// `completed`, `phase.completed`, the session `READY` again; and, for the last phase, the
    /// run `completed` with `run.completed`. Returns the session's row if it moved.
    pub async fn complete_phase(
        &self,
        attempt: u32,
        session_id: &str,
    ) -> Result<Option<SessionRow>, Error> {
        let (phase, sid) = (&self.phase, session_id);
        let moved = self
            .db
            .step(self.run_id(), move |tx, run| {
                Box::pin(async move {
                    if run.state.is_terminal() {
                        return Ok(None);
                    }
                    if !run.state.allows_phase_mutation() {
                        return Err(run_state_changed(run.state));
                    }
                    tx.set_phase_state(phase.run_id(), phase.phase_id(), PhaseState::Completed).await?;
                    let payload = json!({ "phaseKey": phase.spec.phase_key, "attempt": attempt });
                    append(tx, phase, keys::PHASE_COMPLETED, &payload, &keys::phase_completed(phase.phase_id(), attempt)).await?;
                    // An agent that failed to a person stays failed when the person supplied
                    // the artifact (`adopt_present_artifact`); a later phase starts a fresh one.
                    let ready = SessionUpdate { state: Some(SessionState::Ready), ..Default::default() };
                    let moved = tx.update_session_from(sid, &Move::Assign.from(SessionState::Ready), &ready).await?;
                    if moved.is_none()
                        && let Some(row) = tx.session(sid).await?
                        && row.state != SessionState::FailedNeedsHuman
                    {
                        row.state.assert_assignment(SessionState::Ready)?;
                    }
                    if let Some(row) = &moved {
                        let recovery_attempts = row.recovery_attempts;
                        let payload = json!({ "sessionId": sid, "roleId": phase.role_id(), "recoveryAttempts": recovery_attempts });
                        let key = keys::session_ready(phase.phase_id(), sid, recovery_attempts);
                        append(tx, phase, keys::SESSION_READY, &payload, &key).await?;
                    }
                    if phase.spec.terminal {
                        tx.set_run_state(phase.run_id(), RunState::Completed, None, None).await?;
                        let payload = json!({ "phaseKey": phase.spec.phase_key });
                        append_run_event(tx, phase, keys::RUN_COMPLETED, &payload, &keys::run_completed(phase.run_id())).await?;
                    }
                    Ok(moved)
                })
            })
            .await?;
        crash_point!("after_phase_completed");
        Ok(moved)
    }

    /// A pending approval request for the workflow's gate: the phase `awaiting_approval`, the
    /// session `WAITING_FOR_APPROVAL`, the run `awaiting_approval`, and `approval.requested`.
    pub async fn request_workflow_approval(
        &self,
        attempt: u32,
        session_id: &str,
        gate_key: &str,
        payload: Value,
    ) -> Result<(), Error> {
        let (phase, sid) = (&self.phase, session_id);
        self.db
            .mutate_phase(self.run_id(), move |tx, run| {
                Box::pin(async move {
                    let request_key =
                        keys::approval_request(phase.run_id(), gate_key, phase.phase_id(), attempt);
                    let request = tx
                        .insert_or_get_approval(&NewApproval {
                            run_id: phase.run_id(),
                            phase_id: phase.phase_id(),
                            gate_key,
                            idempotency_key: &request_key,
                            payload: &payload,
                        })
                        .await?;
                    if request.state != devflow_db::ApprovalState::Pending {
                        return Err(Error::corruption(
                            "approval request replay did not match a pending request",
                        )
                        .with_hint(format!("approval_state={}", request.state.as_str())));
                    }
                    tx.set_phase_state(
                        phase.run_id(),
                        phase.phase_id(),
                        PhaseState::AwaitingApproval,
                    )
                    .await?;
                    if let Some(row) = tx.session(sid).await?
                        && row.state != SessionState::FailedNeedsHuman
                    {
                        row.state
                            .assert_assignment(SessionState::WaitingForApproval)?;
                        let update = SessionUpdate {
                            state: Some(SessionState::WaitingForApproval),
                            ..Default::default()
                        };
                        tx.update_session(sid, &update).await?;
                    }
                    tx.set_run_state(
                        phase.run_id(),
                        RunState::AwaitingApproval,
                        Some(phase.phase_id()),
                        None,
                    )
                    .await?;
                    let _ = run;
                    append_requested(tx, phase, &request, gate_key).await
                })
            })
            .await?;
        crash_point!("after_approval_requested");
        Ok(())
    }
}

pub(crate) fn run_state_changed(state: RunState) -> Error {
    Error::new(
        Code::RunStateChanged,
        "the run left its active state while the phase was running",
    )
    .with_hint(format!("run_state={state}"))
}
