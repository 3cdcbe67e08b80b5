//! The phase runner: carries one phase from `pending` (or from where a crash left it) to
//! `completed`, to `awaiting_approval`, or to a human gate, as the reference runner does.
//!
//! It reads as a small state machine. `entry` decides where an invocation picks up; the loop
//! below is *prompt → wait → validate → (repair once) → finish* over one [`Attempt`]; `steps`,
//! `session` and `gate` are its durable steps, one transaction each, appending the events of
//! `event`; `policy` decides what an error leads to.

mod artifact;
mod attempt;
mod context;
mod crash;
mod entry;
mod event;
mod gate;
mod policy;
mod recovery;
mod repair;
mod session;
mod spec;
mod steps;
mod transcript;

use std::sync::Arc;

use devflow_core::Result;
use devflow_db::Db;
use devflow_session::{RetryPolicy, SessionAdapter, SessionHandle};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use attempt::Attempt;
use context::Ctx;
use entry::{Entry, Next};
use gate::HumanGate;
use policy::{At, Site};
use steps::ArtifactOutcome;

pub(crate) use context::handle_from_row;
pub use repair::repair_instructions;
pub use spec::{AgentLaunch, ApprovalGate, PhaseSpec, Restart};

/// How a phase that did not stop at a gate ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Completed,
    AwaitingApproval,
}

/// What `run` reports for a phase that ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseReport {
    pub ending: Ending,
    pub session_id: String,
    /// The dedup key of the prompt that got the artifact (empty for one a person wrote).
    pub prompt_id: String,
    pub artifact_id: String,
    pub artifact_hash: String,
    /// The transcript's last captured sequence number.
    pub transcript_seq: i64,
}

/// Runs phases against one database with one session backend.
#[derive(Clone)]
pub struct PhaseRunner {
    db: Db,
    adapter: Arc<dyn SessionAdapter>,
    retry: RetryPolicy,
}

impl PhaseRunner {
    pub fn new(db: Db, adapter: Arc<dyn SessionAdapter>) -> PhaseRunner {
        PhaseRunner { db, adapter, retry: RetryPolicy::default() }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> PhaseRunner {
        self.retry = retry;
        self
    }

    /// Runs (or re-enters) one phase. `Err` carries a `human_required` error when the run
    /// waits at a human gate or left its active state, and a `fatal` one when the run failed.
    pub async fn run(&self, spec: PhaseSpec, cancel: CancellationToken) -> Result<PhaseReport> {
        let phase = Arc::new(spec::Phase::resolve(spec)?);
        let (db, adapter, retry) = (self.db.clone(), Arc::clone(&self.adapter), self.retry.clone());
        let ctx = Ctx { db, adapter, retry, phase, cancel };
        ctx.run().await.map_err(|error| error.in_phase(ctx.phase.run_id(), ctx.phase.phase_id()))
    }
}

impl Ctx {
    async fn run(&self) -> Result<PhaseReport> {
        let Entry { mut attempt, session_id, mut next } = self.enter().await?;
        if matches!(next, Next::Send { adopt: true })
            && let Some(report) = self.adopt_present_artifact(attempt.number).await?
        {
            return Ok(report);
        }
        let mut handle = match &session_id {
            Some(session_id) => self.handle_for(session_id).await?,
            None => {
                // A repair attempt re-entered here keeps the invalid artifact for its agent.
                if !attempt.repair {
                    self.remove_stale_artifact(attempt.number, None).await?;
                }
                self.start_session(attempt.number).await?
            }
        };
        // The session is the same for every attempt; only where its agent lives may change.
        let sid = handle.session_id.clone();
        loop {
            let Some(outcome) = self.obtain(&handle, &attempt, next).await? else {
                self.recover_or_gate(&attempt, &sid, Some(&handle)).await?;
                handle = self.handle_for(&sid).await?;
                attempt = self.start_repair(None).await?;
                next = Next::Send { adopt: false };
                continue;
            };
            let valid = outcome.validation.is_valid();
            // An artifact held for approval keeps its agent waiting, not idle.
            if !valid || self.phase.spec.approval_gate.is_none() {
                self.mark_session_idle(&sid, attempt.dedup_key()).await?;
            }
            if valid {
                return self.finish(outcome, attempt.dedup_key(), &sid, true).await;
            }
            if attempt.repair {
                let gate = HumanGate::invalid(&outcome.artifact_id, &self.phase.artifact);
                return Err(self
                    .human_gate(At::running(attempt.number, Some(&handle)), gate)
                    .await);
            }
            attempt = self.start_repair(Some(&outcome.validation)).await?;
            next = Next::Send { adopt: false };
        }
    }

    /// Sends the attempt's prompt (or continues a re-entered one) and waits for its artifact:
    /// the artifact recorded, or `None` once the wait timed out.
    async fn obtain(
        &self,
        handle: &SessionHandle,
        attempt: &Attempt,
        next: Next,
    ) -> Result<Option<ArtifactOutcome>> {
        let (at, sid, repair) =
            (At::running(attempt.number, Some(handle)), &handle.session_id, !attempt.first);
        let waited = match next {
            Next::Recorded(outcome) => return Ok(Some(outcome)),
            Next::Send { .. } => {
                let sent = self.send_prompt(handle, attempt).await;
                let baseline = self.on_error(Site::PromptSend { repair }, at, sent).await?;
                self.wait_and_validate(attempt.number, sid, baseline).await
            }
            Next::Wait { baseline } => self.wait_and_validate(attempt.number, sid, baseline).await,
            Next::Validate => {
                self.record_prompt(attempt).await?;
                self.validate_current(attempt.number).await.map(Some)
            }
        };
        self.on_error(Site::ArtifactWait { repair }, at, waited).await
    }

    /// The valid artifact's phase ends: awaiting approval where the workflow gates it,
    /// completed otherwise. The agent's transcript is captured once — before the approval
    /// request, or after completion, as the reference does; `by_agent` is false for an artifact
    /// a person wrote, which has no agent to capture.
    async fn finish(
        &self,
        outcome: ArtifactOutcome,
        prompt_id: &str,
        sid: &str,
        by_agent: bool,
    ) -> Result<PhaseReport> {
        let mut transcript_seq = 0;
        let ending = match &self.phase.spec.approval_gate {
            Some(gate) => {
                let (phase, artifact_id) = (&self.phase, &outcome.artifact_id);
                let payload = gate.payload.clone().unwrap_or_else(|| {
                    json!({ "artifactId": artifact_id, "expectedArtifactPath": phase.artifact, "schemaId": phase.schema_id() })
                });
                if by_agent {
                    transcript_seq = self.capture_transcript(sid, None).await?;
                }
                self.request_workflow_approval(outcome.attempt, sid, &gate.key, payload).await?;
                Ending::AwaitingApproval
            }
            None => {
                let moved = self.complete_phase(outcome.attempt, sid).await?;
                if by_agent {
                    transcript_seq = self.capture_transcript(sid, moved).await?;
                }
                Ending::Completed
            }
        };
        let (session_id, prompt_id) = (sid.to_owned(), prompt_id.to_owned());
        let (artifact_id, artifact_hash) = (outcome.artifact_id, outcome.hash);
        Ok(PhaseReport {
            ending,
            session_id,
            prompt_id,
            artifact_id,
            artifact_hash,
            transcript_seq,
        })
    }

    /// After a human gate, a person may have written the artifact themselves: if a valid one is
    /// at the path when the phase is resumed, the phase ends with it and no agent is asked.
    async fn adopt_present_artifact(&self, attempt: u32) -> Result<Option<PhaseReport>> {
        if self.phase.file.signature()?.is_none() {
            return Ok(None);
        }
        let outcome = self.validate_current(attempt).await?;
        if !outcome.validation.is_valid() {
            return Ok(None);
        }
        let session_id = self.role_session().await?.map(|row| row.id).unwrap_or_default();
        self.finish(outcome, "", &session_id, false).await.map(Some)
    }
}
