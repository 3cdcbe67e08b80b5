//! The leaves that end a phase well: the agent idle again, then the phase completed (and the
//! run, after its last phase), or held for a person's approval; and the same two endings for
//! an artifact a person wrote.

use devflow_core::{Code, Error, Move, PhaseState, Result, RunState, SessionState, StateMachine};
use devflow_db::{ApprovalState, RunRow, SessionRow, SessionUpdate, Tx};
use serde_json::{Value, json};

use super::context::{Ctx, mutate, step};
use super::facts::Known;
use super::report::{Ending, PhaseReport};
use super::spec::{Phase, RunEnd};
use super::writes::insert_approval_in;
use crate::event::Event;

impl Ctx {
    /// `BUSY -> READY` once the prompt's artifact is in, with `session.idle`.
    pub(crate) async fn mark_idle(&self, known: &Known) -> Result<()> {
        let (sid, dedup) = (known.session().id.as_str(), known.attempt().dedup_key());
        mutate!(self, "after_session_idle", |tx, phase| {
            // The event first, so that on PostgreSQL it travels with the move.
            Event::session_idle(phase, sid, dedup).emit(tx).await?;
            let update = SessionUpdate::default();
            tx.move_session(sid, SessionState::Ready, Move::Assign, update).await
        })
    }

    /// The phase completed with its agent's artifact; then what the agent showed is captured,
    /// as the reference does.
    pub(crate) async fn complete(&self, known: &Known) -> Result<PhaseReport> {
        let (attempt, sid) = (known.attempt(), known.session().id.as_str());
        let moved = self.complete_phase(attempt.number, sid).await?;
        let transcript_seq = self.capture_transcript(sid, moved).await?;
        Ok(self.report(known, Ending::Completed, attempt.dedup_key(), transcript_seq))
    }

    /// Held for the workflow's approval gate: what the agent showed is captured first, then the
    /// approval request written.
    pub(crate) async fn request_approval(&self, known: &Known) -> Result<PhaseReport> {
        let (attempt, sid) = (known.attempt(), known.session().id.as_str());
        let transcript_seq = self.capture_transcript(sid, None).await?;
        self.request_workflow_approval(known, sid).await?;
        Ok(self.report(known, Ending::AwaitingApproval, attempt.dedup_key(), transcript_seq))
    }

    /// The phase ends with the valid artifact a person wrote while it stood at a gate: no agent
    /// was asked, and none is captured. An agent that failed to the person stays failed; a
    /// later phase starts a fresh one.
    pub(crate) async fn finish_adopted(&self, known: &Known) -> Result<PhaseReport> {
        let sid = known.session.as_ref().map(|row| row.id.as_str()).unwrap_or_default();
        let ending = match self.phase.spec.approval_gate {
            Some(_) => {
                self.request_workflow_approval(known, sid).await?;
                Ending::AwaitingApproval
            }
            None => {
                self.complete_phase(known.attempt().number, sid).await?;
                Ending::Completed
            }
        };
        Ok(self.report(known, ending, "", 0))
    }

    fn report(&self, known: &Known, ending: Ending, prompt_id: &str, seq: i64) -> PhaseReport {
        let artifact = known.artifact.as_ref().expect("a phase ends with its artifact recorded");
        PhaseReport {
            ending,
            session_id: known.session.as_ref().map(|row| row.id.clone()).unwrap_or_default(),
            prompt_id: prompt_id.to_owned(),
            artifact_id: artifact.id.clone(),
            artifact_hash: artifact.hash.clone(),
            transcript_seq: seq,
        }
    }

    /// `completed`, `phase.completed`, the session `READY` again; and, for the last phase, the
    /// run `completed` with `run.completed`. Returns the session's row if it moved.
    async fn complete_phase(&self, attempt: u32, sid: &str) -> Result<Option<SessionRow>> {
        step!(self, "after_phase_completed", |tx, run, phase| {
            complete_in(tx, &run, phase, attempt, sid, None).await
        })
    }

    /// A pending approval request for the workflow's gate: the phase `awaiting_approval`, the
    /// session `WAITING_FOR_APPROVAL`, the run `awaiting_approval`, and `approval.requested`.
    async fn request_workflow_approval(&self, known: &Known, sid: &str) -> Result<()> {
        let gate = self.phase.spec.approval_gate.as_ref().expect("a gated phase has its gate");
        let attempt = known.attempt().number;
        let artifact_id = known.artifact.as_ref().map(|artifact| artifact.id.as_str());
        let phase = &self.phase;
        let payload = gate.payload.clone().unwrap_or_else(|| {
            json!({ "artifactId": artifact_id, "expectedArtifactPath": phase.artifact, "schemaId": phase.schema_id() })
        });
        let (gate_key, payload) = (gate.key.as_str(), &payload);
        mutate!(self, "after_approval_requested", |tx, phase| {
            request_approval_in(tx, phase, gate_key, attempt, sid, payload).await
        })
    }
}

/// The body of [`Ctx::complete_phase`]: a run that has ended is left alone; one that left its
/// active state meanwhile is `run_state_changed`.
pub(crate) async fn complete_in(
    tx: &mut Tx,
    run: &RunRow,
    phase: &Phase,
    attempt: u32,
    sid: &str,
    approved_by: Option<&str>,
) -> Result<Option<SessionRow>> {
    if run.state.is_terminal() {
        return Ok(None);
    }
    if !run.state.allows_phase_mutation() {
        let message = "the run left its active state while the phase was running";
        let error = Error::new(Code::RunStateChanged, message);
        return Err(error.with_hint(format!("run_state={}", run.state)));
    }
    let completed = PhaseState::Completed;
    tx.set_phase_state(phase.run_id(), phase.phase_id(), completed).await?;
    Event::phase_completed(phase, attempt, approved_by).emit(tx).await?;
    // An agent that failed to a person stays failed when the person supplied the artifact
    // (`finish_adopted`); a later phase starts a fresh one.
    let ready = SessionState::Ready;
    let moved = tx
        .update_session_from(sid, &Move::Assign.sources(ready), &SessionUpdate::to(ready))
        .await?;
    if let Some(row) = &moved {
        Event::session_ready(phase, sid, row.recovery_attempts).emit(tx).await?;
    } else if let Some(row) = tx.session(sid).await?
        && row.state != SessionState::FailedNeedsHuman
    {
        row.state.assert_assignment(ready)?;
    }
    let completes = match phase.spec.run_end {
        RunEnd::WithThisPhase => true,
        RunEnd::WithTheLastPhase => every_other_phase_completed(tx, phase).await?,
        RunEnd::ByTheDriver => false,
    };
    if completes {
        tx.set_run_state(phase.run_id(), RunState::Completed, None, None).await?;
        Event::run_completed(phase).emit(tx).await?;
    }
    Ok(moved)
}

/// Whether every phase of the run but `phase` has completed (read in the completing step).
async fn every_other_phase_completed(tx: &mut Tx, phase: &Phase) -> Result<bool> {
    let phases = tx.phases(phase.run_id()).await?;
    Ok(phases.iter().all(|row| row.id == phase.phase_id() || row.state == PhaseState::Completed))
}

async fn request_approval_in(
    tx: &mut Tx,
    phase: &Phase,
    gate_key: &str,
    attempt: u32,
    sid: &str,
    payload: &Value,
) -> Result<()> {
    let (run_id, phase_id) = (phase.run_id(), phase.phase_id());
    let request = insert_approval_in(tx, phase, gate_key, attempt, payload).await?;
    if request.state != ApprovalState::Pending {
        let message = "approval request replay did not match a pending request";
        let hint = format!("approval_state={}", request.state.as_str());
        return Err(Error::corruption(message).with_hint(hint));
    }
    tx.set_phase_state(run_id, phase_id, PhaseState::AwaitingApproval).await?;
    let waiting = SessionState::WaitingForApproval;
    if let Some(row) = tx.session(sid).await?
        && row.state != SessionState::FailedNeedsHuman
    {
        row.state.assert_assignment(waiting)?;
        tx.update_session(sid, &SessionUpdate::to(waiting)).await?;
    }
    tx.set_run_state(run_id, RunState::AwaitingApproval, Some(phase_id), None).await?;
    Event::approval_requested(phase, &request, gate_key).emit(tx).await
}
