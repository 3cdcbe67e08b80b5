//! The two ways a phase stops short, carried out: a human gate (the run pauses for a person)
//! and a failed run. What leads to either is the policy's to say (`policy.rs`).

use devflow_core::{Error, Result, RunState, SessionState, StateMachine};
use devflow_db::SessionRow;
use devflow_session::SessionHandle;
use serde_json::json;

use super::context::{Ctx, step};
use super::crash::crash_point;
use super::policy::{Disposition, HumanGate, Site, decide};
use super::writes::{
    fail_all_sessions_in, fail_phase_in, fail_session_in, insert_approval_in, mark_crashed_in,
};
use crate::event::{Event, human_gate_cause};

/// Where in the phase a gate or a failure happens: the attempt, the session (possibly a
/// reserved id without a row yet), and the agent whose transcript is captured and which a
/// failed run disposes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub attempt: u32,
    pub session_id: Option<&'a str>,
    pub running: Option<&'a SessionHandle>,
}

impl Ctx {
    /// Stops at `gate` in one step: the phase fails, the run pauses, the session goes
    /// `FAILED_NEEDS_HUMAN` and the approval request is written. The running agent's transcript
    /// is captured then. Returns the gate's error, or the error that stopped either; if the step
    /// itself fails, the policy says what follows (`Site::HumanGateStep`): taken again while the
    /// database is busy, the error handed on where nothing more can be written (the lease lost,
    /// the database gone), otherwise the run fails.
    pub(crate) async fn human_gate(&self, at: At<'_>, gate: HumanGate) -> Error {
        let HumanGate { reason, error, mut payload, mark_crashed, with_path, keeps_agent } = gate;
        payload["recoveryHint"] = json!(error.recovery_hint().unwrap_or_default());
        if with_path {
            payload["expectedArtifactPath"] = json!(self.phase.artifact);
        }
        let (gate_key, payload) = (error.code().as_str(), &payload);
        let mut retries = 0;
        while let Err(secondary) = step!(self, |tx, run, phase| {
            if run.state.is_terminal() {
                return Ok(());
            }
            let (run_id, phase_id, attempt) = (phase.run_id(), phase.phase_id(), at.attempt);
            let request = insert_approval_in(tx, phase, gate_key, attempt, payload).await?;
            fail_phase_in(tx, phase, attempt, reason).await?;
            if run.state != RunState::Paused {
                let cause = &human_gate_cause(gate_key, phase_id, attempt);
                tx.set_run_state(run_id, RunState::Paused, None, Some(run.state)).await?;
                Event::run_paused(phase, cause, run.state).emit(tx).await?;
            }
            if let Some(sid) = at.session_id.filter(|_| !keeps_agent) {
                if mark_crashed
                    && let Some(row) = tx.session(sid).await?
                    && row.state.can_transition(SessionState::Crashed)
                {
                    mark_crashed_in(tx, phase, sid, row.recovery_attempts + 1).await?;
                }
                fail_session_in(tx, phase, sid).await?;
            }
            Event::approval_requested(phase, &request, gate_key).emit(tx).await
        }) {
            // The gate's own step failed: what that leads to is the policy's to say too.
            match decide(Site::HumanGateStep, &secondary, retries, &self.retry) {
                Disposition::Retry { wait_ms } => {
                    tracing::warn!(retries, wait_ms, %secondary, "taking the gate's step again");
                    tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
                    retries += 1;
                }
                Disposition::Propagate => return secondary,
                Disposition::FailRun { reason } => {
                    let failed = self.fail_run(at.attempt, reason, None);
                    return failed.await.err().unwrap_or(secondary);
                }
                Disposition::Gate(_) => unreachable!("the site table never gates the gate's step"),
            }
        }
        crash_point!("after_human_gate");
        self.capture_running(at.running).await.err().unwrap_or(error)
    }

    /// Fails the phase and the run, every session of the run `FAILED_NEEDS_HUMAN`, and disposes
    /// them. The `running` agent's transcript is captured first, and the agent disposed even if
    /// the run has no row for it; a capture error wins over a dispose error.
    pub async fn fail_run(
        &self,
        attempt: u32,
        reason: &'static str,
        running: Option<&SessionHandle>,
    ) -> Result<()> {
        let sessions = step!(self, "after_run_failed", |tx, run, phase| {
            if run.state.is_terminal() {
                return Ok(Vec::new());
            }
            fail_phase_in(tx, phase, attempt, reason).await?;
            tx.set_run_state(phase.run_id(), RunState::Failed, None, None).await?;
            Event::run_failed(phase, reason).emit(tx).await?;
            fail_all_sessions_in(tx, phase).await
        })?;
        let captured = self.capture_running(running).await;
        let mut disposed = self.dispose_all(&sessions).await;
        if let Some(handle) = running
            && disposed.is_ok()
            && !sessions.iter().any(|row| row.id == handle.session_id)
        {
            let sid = handle.session_id.as_str();
            let row =
                self.db.read(move |tx| Box::pin(async move { tx.session(sid).await })).await?;
            disposed = self
                .adapter
                .dispose(&row.as_ref().map_or_else(|| handle.clone(), |row| self.handle(row)))
                .await;
        }
        captured.and(disposed)
    }

    async fn dispose_all(&self, sessions: &[SessionRow]) -> Result<()> {
        crash_point!("before_dispose");
        let mut first_error = None;
        for row in sessions {
            if let Err(error) = self.adapter.dispose(&self.handle(row)).await {
                first_error.get_or_insert(error);
            }
        }
        crash_point!("after_dispose");
        first_error.map_or(Ok(()), Err)
    }
}
